/** CloudKeys over the simulated cloud (the drill and the driver's tests). */
import { KeyRejectedError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { CloudKeys, KeyRef, VaultSecretRef } from '../../ports/cloud.ts';
import { keyOwner, type SimCloud } from '../../sim/cloud.ts';

export class SimulatedCloudKeys implements CloudKeys {
  /** Slots whose key tests fail, as `${owner}/${slot}`: a standby key the cloud would reject. */
  readonly rejected = new Set<string>();

  constructor(
    private readonly cloud: SimCloud,
    private readonly clock: Clock,
  ) {}

  private owner(key: KeyRef): string {
    return keyOwner(key.source as { type: string }, key.credential);
  }

  /**
   * The cloud's key behind a slot: a Cosmos DB account has four (read-write and read-only, primary
   * and secondary), and a read-only credential's slots are the read-only ones.
   */
  private keyOf(key: KeyRef, slot: string): string {
    return key.source.type === 'azure-cosmosdb-keys' && (key.source as { readOnly?: boolean }).readOnly ? `${slot}-ro` : slot;
  }

  async vaultSecretVersion(secret: VaultSecretRef): Promise<string | undefined> {
    return this.cloud.storeVersion(`${secret.vaultName}/${secret.secretName}`);
  }

  async testKey(key: KeyRef, slot: string): Promise<void> {
    const id = `${this.owner(key)}/${slot}`;
    const current = this.cloud.current(this.owner(key), this.keyOf(key, slot));
    if (this.rejected.has(id) || current?.status === 'Inactive')
      throw new KeyRejectedError(`the ${slot} key of ${this.owner(key)} was rejected by the cloud`);
  }

  /** Starts the regeneration and, like the SDK's poller, resolves when the cloud reports it finished. */
  async regenerate(key: KeyRef, slot: string): Promise<Date> {
    const made = this.cloud.regenerate(this.owner(key), this.keyOf(key, slot));
    const wait = made.readyAt - this.clock.now().getTime();
    if (wait > 0) await this.clock.sleep(wait);
    return made.createdAt;
  }

  async keyCreatedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    // Cosmos and Storage accounts always have both keys; an IAM slot is empty between a delete and its replacement.
    const owner = this.owner(key);
    const kind = this.keyOf(key, slot);
    return (this.cloud.current(owner, kind) ?? (/^(cosmos|storage):/.test(owner) ? this.cloud.key(owner, kind) : undefined))?.createdAt;
  }

  /** Now, while a live consumer presents the slot's key (as traffic would stamp IAM's last use); else unknown. */
  async keyLastUsedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    return this.inUse?.(this.owner(key), this.keyOf(key, slot));
  }

  /** Set by the world: whether a live consumer is presenting the slot's key right now, as the time. */
  inUse?: (owner: string, slot: string) => Date | undefined;

  /** IAM keys only, as in AWS. */
  async setActive(key: KeyRef, slot: string, active: boolean): Promise<boolean> {
    if (key.source.type !== 'aws-iam-access-key') return false;
    const current = this.cloud.current(this.owner(key), slot);
    if (current) this.cloud.setStatus(current.token, active ? 'Active' : 'Inactive');
    return true;
  }
}
