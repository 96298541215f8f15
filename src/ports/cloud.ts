/**
 * Cloud-side key operations for sources whose keys the cloud makes. Real adapters: Azure and AWS
 * SDKs (hooks issue); tests use fakes. Values never cross this port.
 */
import type { Source } from '../config/schema.ts';

export interface CloudKeys {
  /** Proves the slot's key is accepted (AWS: STS GetCallerIdentity; Azure: a read). Throws KeyRejectedError. */
  testKey(source: Source, slot: string): Promise<void>;
  /** Makes a new key for the slot (Cosmos/Storage regenerate); resolves to its creation time. */
  regenerate(source: Source, slot: string): Promise<Date>;
  /** When the cloud made the slot's current key, if it says. */
  keyCreatedAt(source: Source, slot: string): Promise<Date | undefined>;
}
