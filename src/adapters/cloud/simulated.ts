/** CloudKeys over the simulated cloud (the drill and the driver's tests). */
import { KeyRejectedError } from '../../errors.ts';
import type { CloudKeys, KeyRef } from '../../ports/cloud.ts';
import { keyOwner, type SimCloud } from '../../sim/cloud.ts';

export class SimulatedCloudKeys implements CloudKeys {
  /** Slots whose key tests fail, as `${owner}/${slot}`: a standby key the cloud would reject. */
  readonly rejected = new Set<string>();

  constructor(private readonly cloud: SimCloud) {}

  private owner(key: KeyRef): string {
    return keyOwner(key.source as { type: string }, key.credential);
  }

  async testKey(key: KeyRef, slot: string): Promise<void> {
    const id = `${this.owner(key)}/${slot}`;
    if (this.rejected.has(id)) throw new KeyRejectedError(`the ${slot} key of ${this.owner(key)} was rejected by the cloud`);
  }

  async regenerate(key: KeyRef, slot: string): Promise<Date> {
    return this.cloud.regenerate(this.owner(key), slot).createdAt;
  }

  async keyCreatedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    return this.cloud.key(this.owner(key), slot).createdAt;
  }

  async keyLastUsedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    return this.cloud.lastUsed.get(`${this.owner(key)}/${slot}`);
  }
}
