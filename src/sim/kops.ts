/**
 * A simulated `kops` for one cluster: the state store's keysets, and what `kops update cluster
 * --yes` last applied, which the cluster's API servers read when a rolling update restarts them.
 * Answers the commands keyslot runs, with kops' arguments and output shapes
 * (`get keypairs -o json`, `promote`/`distrust`/`create keypair`, `update cluster`); anything
 * else, or another cluster's `--name`/`--state`, fails as kops would.
 */
import { CommandFailedError } from '../errors.ts';
import type { SimClock } from './clock.ts';

interface SimKeypair {
  readonly id: string;
  readonly issuedAt: number;
  distrustedAt?: number;
}

export class SimKops {
  readonly keysets = new Map<string, { items: SimKeypair[]; primary: string }>();
  /** Per keyset, what the last `update cluster --yes` applied: the primary and the trusted ids. */
  readonly applied = new Map<string, { primary: string; trusted: string[] }>();
  private serial: bigint;
  /** What `kops validate cluster` finds wrong with the cluster, if anything (set by the world). */
  validate?: () => string | undefined;

  constructor(
    readonly clusterName: string,
    readonly stateStore: string,
    private readonly clock: SimClock,
    firstSerial = 7_000_000_000_000_000_000n,
  ) {
    this.serial = firstSerial;
  }

  /** A keyset as a cluster keyslot has not rotated yet: `count` keypairs, the middle one primary (previous, primary, next). */
  seed(keyset: string, count = 3): void {
    const items = Array.from({ length: count }, () => this.newKeypair());
    this.keysets.set(keyset, { items, primary: items[Math.min(1, count - 1)]!.id });
    this.apply();
  }

  /** The key strings the simulated API servers use: the primary signs, every trusted one verifies. */
  keys(keyset: string): { signer: string; trusted: string } {
    const a = this.applied.get(keyset);
    if (!a) return { signer: '', trusted: '' };
    return {
      signer: `sim:kops:${this.clusterName}/private@${a.primary}`,
      trusted: a.trusted.map((id) => `sim:kops:${this.clusterName}/public@${id}`).join('\n'),
    };
  }

  private newKeypair(): SimKeypair {
    this.serial += 1n;
    return { id: String(this.serial), issuedAt: this.clock.nowMs() };
  }

  private apply(): void {
    for (const [name, k] of this.keysets)
      this.applied.set(name, { primary: k.primary, trusted: k.items.filter((i) => i.distrustedAt === undefined).map((i) => i.id) });
  }

  private keyset(name: string) {
    const k = this.keysets.get(name);
    if (!k) throw new CommandFailedError(`kops: keyset not found`);
    return k;
  }

  /** Runs a kops command, or returns undefined when argv is not kops. */
  run(argv: readonly string[]): Promise<string> | undefined {
    if (argv[0] !== 'kops') return undefined;
    return (async () => this.answer(argv))();
  }

  private answer(argv: readonly string[]): string {
    const flag = (name: string) => {
      const i = argv.indexOf(name);
      return i < 0 ? undefined : argv[i + 1];
    };
    const positional = argv.slice(1).filter((a, i, all) => !a.startsWith('-') && !['--name', '--state', '-o'].includes(all[i - 1] ?? ''));
    const [verb, noun, keysetName, id] = positional;
    if (verb === 'rolling-update') return ''; // the world's control-plane handler restarts the API servers
    if (flag('--name') !== this.clusterName) throw new CommandFailedError(`kops: cluster "${flag('--name') ?? ''}" not found`);
    if (flag('--state') !== this.stateStore)
      throw new CommandFailedError(`kops: cluster "${this.clusterName}" not found in ${flag('--state') ?? 'no state store'}`);
    if (verb === 'get' && noun === 'keypairs') {
      const k = this.keyset(keysetName!);
      if (flag('-o') !== 'json') throw new CommandFailedError('kops (simulated): only -o json is answered');
      const items = k.items
        .filter((i) => i.distrustedAt === undefined || argv.includes('--distrusted'))
        .map((i) => ({
          name: keysetName,
          id: i.id,
          ...(i.distrustedAt !== undefined ? { distrustTimestamp: new Date(i.distrustedAt).toISOString() } : {}),
          ...(i.id === k.primary ? { isPrimary: true } : {}),
          subject: `CN=${keysetName}`,
          issuer: `CN=${keysetName}`,
          isCA: true,
          notBefore: new Date(i.issuedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          notAfter: new Date(i.issuedAt + 10 * 365 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          keyLength: 2048,
          hasPrivateKey: true,
        }));
      if (items.length === 0) throw new CommandFailedError('kops: no keypairs found');
      return JSON.stringify(items);
    }
    if (noun === 'keypair' && verb === 'promote') {
      const k = this.keyset(keysetName!);
      const item = k.items.find((i) => i.id === id);
      if (!item) throw new CommandFailedError('kops: keypair not found');
      if (item.distrustedAt !== undefined) throw new CommandFailedError('kops: keypair is distrusted');
      k.primary = item.id;
      return `Promoted ${keysetName} ${id}\n`;
    }
    if (noun === 'keypair' && verb === 'distrust') {
      const k = this.keyset(keysetName!);
      if (id === k.primary) throw new CommandFailedError('kops: cannot distrust the primary keypair');
      const item = k.items.find((i) => i.id === id);
      if (!item) throw new CommandFailedError('kops: keypair not found');
      item.distrustedAt ??= this.clock.nowMs();
      return `Distrusted ${keysetName} ${id}\n`;
    }
    if (noun === 'keypair' && verb === 'create') {
      this.keyset(keysetName!).items.push(this.newKeypair());
      return '';
    }
    if (verb === 'update' && noun === 'cluster') {
      if (!argv.includes('--yes')) return 'Must specify --yes to apply changes\n';
      this.apply();
      return `Cluster changes have been applied to the cloud.\n`;
    }
    if (verb === 'validate' && noun === 'cluster') {
      const problem = this.validate?.();
      if (problem) throw new CommandFailedError(`kops: validation failed: ${problem}`);
      return `Your cluster ${this.clusterName} is ready\n`;
    }
    throw new CommandFailedError(`kops (simulated): ${argv.slice(1, 3).join(' ')} is not a command keyslot runs`);
  }
}
