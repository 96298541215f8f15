/**
 * The simulated cloud: the keys each key owner has (a Cosmos account, a storage account, an IAM
 * user, a random secret's backend, a signing keyset) and whether a presented credential is
 * accepted. Providers keep their real rules: an IAM user has at most two access keys, each Active
 * or Inactive; a Cosmos regeneration takes minutes, during which the slot has no valid key; a
 * deleted or regenerated key stops working at once. Values are opaque tokens naming the key
 * (`sim:<owner>/<slot>...`), never real secrets.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../ports/clock.ts';

export type KeyStatus = 'Active' | 'Inactive';

export interface SimKey {
  readonly token: string;
  readonly owner: string;
  readonly slot: string;
  readonly createdAt: Date;
  /** When a slow regeneration finishes; the key is not accepted before. */
  readonly readyAt: number;
  status: KeyStatus;
}

/** IAM refuses a third access key for a user: `LimitExceeded` (AccessKeysPerUser quota of 2). */
export class SimLimitExceededError extends Error {}

/** A provider refused an operation (a create of something that exists, an import of something that does not). */
export class SimProviderError extends Error {}

/** AWS's quota of access keys per IAM user. */
export const iamKeysPerUser = 2;

export class SimCloud {
  /** The current key of each `${owner}/${slot}`. */
  private readonly slots = new Map<string, SimKey>();
  /** Every key that exists, by token (removed keys are gone). */
  private readonly live = new Map<string, SimKey>();
  private serial = 0;
  /** Every `${owner}/${slot}` that ever had a key: a new key there is a regeneration. */
  private readonly everSlots = new Set<string>();
  /** Bumped on every change of the key set, so that `accepts` answers can be cached. */
  private version = 0;
  private pending = 0;
  /** Every regeneration, in order: `${owner}/${slot}`. */
  readonly regenerations: string[] = [];
  /** Every key token ever issued: what must never appear in a log, event or report. */
  readonly issued: string[] = [];
  /** Values in external stores (Key Vault secrets, Secrets Manager secrets) by id. */
  readonly stores = new Map<string, string>();
  /** Every deactivation (IAM UpdateAccessKey Status=Inactive), in order: `${owner}/${slot}`. */
  readonly deactivations: string[] = [];
  /** Called with the token of a key that just stopped working (deleted, regenerated, deactivated). */
  onInvalidate?: (token: string) => void;
  /** How long a cloud-side regeneration takes, by owner. @default 0 (Cosmos accounts: set by the world) */
  regenerationMs: (owner: string) => number = () => 0;

  constructor(private readonly clock: Clock) {}

  /**
   * The version id of a store's current value (Key Vault: a 32-hex version per write), derived
   * from the value so that every copy of the world agrees; undefined if the store has no such entry.
   */
  storeVersion(id: string): string | undefined {
    const value = this.stores.get(id);
    return value === undefined ? undefined : createHash('sha256').update(`${id}\0${value}`).digest('hex').slice(0, 32);
  }

  private add(owner: string, slot: string, token: string, readyAt = this.clock.now().getTime()): SimKey {
    if (owner.startsWith('iam:') && this.keysOf(owner).length >= iamKeysPerUser) {
      throw new SimLimitExceededError(
        `LimitExceeded: Cannot exceed quota for AccessKeysPerUser: ${iamKeysPerUser} (user ${owner.slice(4)})`,
      );
    }
    const key: SimKey = { token, owner, slot, createdAt: this.clock.now(), readyAt, status: 'Active' };
    this.slots.set(`${owner}/${slot}`, key);
    this.everSlots.add(`${owner}/${slot}`);
    this.live.set(token, key);
    this.issued.push(token);
    if (readyAt > this.clock.now().getTime()) this.pending += 1;
    this.version += 1;
    return key;
  }

  /** The current key of a slot, made on first use (keys the cloud makes: Cosmos, Storage). */
  key(owner: string, slot: string): SimKey {
    return this.slots.get(`${owner}/${slot}`) ?? this.add(owner, slot, `sim:${owner}/${slot}#${++this.serial}`);
  }

  /** The slot's current key, if it has one (a deleted key leaves its slot empty). */
  current(owner: string, slot: string): SimKey | undefined {
    return this.slots.get(`${owner}/${slot}`);
  }

  /** The keys an owner has now (IAM: ListAccessKeys). */
  keysOf(owner: string): SimKey[] {
    return [...this.live.values()].filter((k) => k.owner === owner);
  }

  /** Deletes a key; it stops working at once. */
  remove(token: string): void {
    const key = this.live.get(token);
    if (!key) return;
    this.live.delete(token);
    if (this.slots.get(`${key.owner}/${key.slot}`) === key) this.slots.delete(`${key.owner}/${key.slot}`);
    this.version += 1;
    if (key.status === 'Active') this.onInvalidate?.(token);
  }

  /** IAM UpdateAccessKey: an Inactive key is refused but can be turned back on. */
  setStatus(token: string, status: KeyStatus): void {
    const key = this.live.get(token);
    if (!key || key.status === status) return;
    key.status = status;
    this.version += 1;
    if (status === 'Inactive') {
      this.deactivations.push(`${key.owner}/${key.slot}`);
      this.onInvalidate?.(token);
    }
  }

  /**
   * Replaces a slot's key the way the cloud's regenerate API does: the old key stops working at
   * once, the new one works when the regeneration finishes (`readyAt`).
   */
  regenerate(owner: string, slot: string): SimKey {
    const old = this.slots.get(`${owner}/${slot}`);
    if (old) this.remove(old.token);
    const readyAt = this.clock.now().getTime() + this.regenerationMs(owner);
    const key = this.add(owner, slot, `sim:${owner}/${slot}#${++this.serial}`, readyAt);
    this.regenerations.push(`${owner}/${slot}`);
    return key;
  }

  /**
   * Creates a key whose identity the caller chose (a Pulumi-managed key: `sim:<owner>/<slot>@g<n>`).
   * Does not remove the slot's previous key: the engine deletes that when its plan says.
   * @throws SimLimitExceededError for a third IAM access key.
   */
  create(owner: string, slot: string, token: string): SimKey {
    const existing = this.live.get(token);
    if (existing) return existing;
    const replacing = this.everSlots.has(`${owner}/${slot}`);
    const key = this.add(owner, slot, token);
    if (replacing) this.regenerations.push(`${owner}/${slot}`);
    return key;
  }

  /** The key with this token, if it exists. */
  find(token: string): SimKey | undefined {
    return this.live.get(token);
  }

  /** Changes whenever the set of accepted keys does (a key made, deleted, switched, or finished regenerating). */
  keysetVersion(): number {
    if (this.pending > 0) this.promote();
    return this.version;
  }

  /** True when `text` contains the token of a key that exists, is Active and has finished regenerating. Cached until the key set changes. */
  accepts(text: string): boolean {
    if (this.pending > 0) this.promote();
    if (this.acceptsCache.version !== this.version) this.acceptsCache = { version: this.version, answers: new Map() };
    let answer = this.acceptsCache.answers.get(text);
    if (answer === undefined) {
      // Live only if every key it holds is: a consumer of two credentials fails on either one.
      const tokens = tokensIn(text);
      answer = tokens.length > 0;
      for (const token of tokens) {
        const key = this.live.get(token);
        if (key?.status !== 'Active' || key.readyAt > this.clock.now().getTime()) answer = false;
      }
      this.acceptsCache.answers.set(text, answer);
    }
    return answer;
  }

  /** Counts keys whose regeneration finished as changes of the key set. */
  private promote(): void {
    const now = this.clock.now().getTime();
    const stillPending = [...this.live.values()].filter((k) => k.readyAt > now).length;
    if (stillPending !== this.pending) {
      this.pending = stillPending;
      this.version += 1;
    }
  }

  private acceptsCache: { version: number; answers: Map<string, boolean> } = { version: -1, answers: new Map() };
}

/** Every simulated key token in a text (a pod's loaded Secret, a template's output). */
export function tokensIn(text: string): string[] {
  // A key inside a connection string ends at its ";" (`AccountKey=…;EndpointSuffix=…`).
  return text.match(/sim:[^\s"'\\,;}]+/g) ?? [];
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

/**
 * The line a consumer logs when its credential is refused, worded as the service or client library
 * behind the key's owner words it, so that `verify-logs` is tested against realistic text.
 */
export function rejectionLine(loaded: string): string {
  if (loaded.startsWith('token:'))
    return 'E1124 authentication.go:73] "Unable to authenticate the request" err="[invalid bearer token, square/go-jose: error in cryptographic primitive]"';
  const owner = /^sim:([^:]+):/.exec(tokensIn(loaded)[0] ?? '')?.[1];
  switch (owner) {
    case 'iam':
      return 'level=error msg="bucket operation failed" err="Access Denied: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records. status code: 403"';
    case 'cosmos':
      return "Response status code does not indicate success: Unauthorized (401); Substatus: 0; Reason: (The input authorization token can't serve the request. The wrong key is being used or the expected payload is not built as per the protocol.)";
    case 'storage':
      return 'Status: 403 (Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.) ErrorCode: AuthenticationFailed';
    case 'gardener-kubeconfig':
      return 'Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority';
    default:
      return 'ERROR 401 Unauthorized: authentication failed for the configured password';
  }
}
