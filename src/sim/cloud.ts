/**
 * The simulated cloud: which keys exist for each key pair (a Cosmos account, a storage account,
 * an IAM user, a random secret's consumers' backend) and whether a presented key is accepted.
 * Values are opaque tokens naming the key (`sim:<owner>/<slot>#<n>`), never real secrets.
 */
import type { Clock } from '../ports/clock.ts';

export interface SimKey {
  readonly token: string;
  readonly createdAt: Date;
}

export class SimCloud {
  private readonly keys = new Map<string, SimKey>();
  private serial = 0;
  /** Every regeneration, in order: `${owner}/${slot}`. */
  readonly regenerations: string[] = [];
  /** Every key token ever issued: what must never appear in a log, event or report. */
  readonly issued: string[] = [];
  /** Values in external stores (Key Vault secrets, Secrets Manager secrets) by id. */
  readonly stores = new Map<string, string>();
  /** When each key (`${owner}/${slot}`) was last presented and accepted; the drill's traffic records it. */
  readonly lastUsed = new Map<string, Date>();
  /** Called with the token a regeneration just invalidated. */
  onInvalidate?: (token: string) => void;

  constructor(private readonly clock: Clock) {}

  /** The current key of a slot, made on first use. */
  key(owner: string, slot: string): SimKey {
    const id = `${owner}/${slot}`;
    let key = this.keys.get(id);
    if (!key) {
      key = { token: `sim:${id}#${++this.serial}`, createdAt: this.clock.now() };
      this.keys.set(id, key);
      this.issued.push(key.token);
    }
    return key;
  }

  /** Replaces a slot's key; the old token stops working at once. */
  regenerate(owner: string, slot: string): SimKey {
    const old = this.keys.get(`${owner}/${slot}`);
    const key = { token: `sim:${owner}/${slot}#${++this.serial}`, createdAt: this.clock.now() };
    this.keys.set(`${owner}/${slot}`, key);
    this.issued.push(key.token);
    if (old) this.onInvalidate?.(old.token);
    this.regenerations.push(`${owner}/${slot}`);
    return key;
  }

  /** Makes a key with a known identity (a Pulumi-managed key, replaced when its generation changes). */
  ensure(owner: string, slot: string, generation: number): SimKey {
    const id = `${owner}/${slot}`;
    const current = this.keys.get(id);
    const token = `sim:${id}@g${generation}`;
    if (current?.token === token) return current;
    const key = { token, createdAt: this.clock.now() };
    this.keys.set(id, key);
    this.issued.push(token);
    if (current) {
      this.regenerations.push(id);
      this.onInvalidate?.(current.token);
    }
    return key;
  }

  /** True when `text` contains a token of a current key. Answers are cached until a key changes. */
  accepts(text: string): boolean {
    // Every change of a key issues a new token, so the count of issued tokens versions the cache.
    if (this.acceptsCache.version !== this.issued.length) this.acceptsCache = { version: this.issued.length, answers: new Map() };
    let answer = this.acceptsCache.answers.get(text);
    if (answer === undefined) {
      answer = [...this.keys.values()].some((k) => text.includes(k.token));
      this.acceptsCache.answers.set(text, answer);
    }
    return answer;
  }

  private acceptsCache: { version: number; answers: Map<string, boolean> } = { version: -1, answers: new Map() };
}

/** Who owns a source's keys in the simulated cloud. */
export function keyOwner(source: { type: string; accountName?: string; userName?: string }, credential: string): string {
  switch (source.type) {
    case 'azure-cosmosdb-keys':
      return `cosmos:${source.accountName}`;
    case 'azure-storage-keys':
      return `storage:${source.accountName}`;
    case 'aws-iam-access-key':
      return `iam:${source.userName}`;
    default:
      return `${source.type}:${credential}`;
  }
}
