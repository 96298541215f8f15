/** CloudKeys over the simulated cloud (the drill and the driver's tests). */
import type { Source } from '../../config/schema.ts';
import { KeyRejectedError } from '../../errors.ts';
import type { CloudKeys } from '../../ports/cloud.ts';
import { keyOwner, type SimCloud } from '../../sim/cloud.ts';

export class SimulatedCloudKeys implements CloudKeys {
  /** Slots whose key tests fail, as `${owner}/${slot}`: a standby key the cloud would reject. */
  readonly rejected = new Set<string>();

  constructor(private readonly cloud: SimCloud) {}

  private owner(source: Source): string {
    return keyOwner(source as { type: string }, 'credential');
  }

  async testKey(source: Source, slot: string): Promise<void> {
    const id = `${this.owner(source)}/${slot}`;
    if (this.rejected.has(id)) throw new KeyRejectedError(`the ${slot} key of ${this.owner(source)} was rejected by the cloud`);
  }

  async regenerate(source: Source, slot: string): Promise<Date> {
    return this.cloud.regenerate(this.owner(source), slot).createdAt;
  }

  async keyCreatedAt(source: Source, slot: string): Promise<Date | undefined> {
    return this.cloud.key(this.owner(source), slot).createdAt;
  }
}
