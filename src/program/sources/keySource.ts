import * as pulumi from '@pulumi/pulumi';
import { Static } from '@pulumiverse/time/static';
import type { Credential } from '../../config/parse.ts';
import type { Source, SourceType } from '../../config/schema.ts';
import { after } from '../staleGuard.ts';

/** One slot's key as the rest of the program sees it: never its value. */
export interface SlotKey {
  readonly generation: number;
  /** RFC 3339; recorded in state when the key was made, or taken from config for cloud keys. */
  readonly createdAt: pulumi.Output<string | undefined>;
  /** The resource holding the key, when the program declares it (policies read its own dates). */
  readonly resource?: pulumi.Resource;
  /** The key's public identifier where it has one (an IAM access key id); recorded in state. */
  readonly keyId?: pulumi.Output<string>;
  /**
   * What keyslot needs of this key in memory, exported only as a secret: material for preflight to
   * test it against the cloud (an IAM key pair), or a value it cannot read elsewhere (a random
   * password), so that it is masked wherever keyslot prints a command's or a consumer's output.
   */
  readonly testMaterial?: pulumi.Output<Readonly<Record<string, string>>>;
}

/**
 * What every source component offers: each slot's generation and creation time, and the template
 * variables of the active slot. Every variable is a Pulumi secret.
 */
export interface KeySource {
  readonly slots: Readonly<Record<string, SlotKey>>;
  readonly vars: Readonly<Record<string, pulumi.Output<string>>>;
}

export interface SourceArgs {
  readonly credential: Credential;
  /** Resolves when the stack file is known not to be stale; every key and value waits for it. */
  readonly ready: pulumi.Output<true>;
}

/**
 * Records when a key of the given generation was created, in Pulumi state: a `time.Static` is made
 * once and replaced only when the generation changes, so a hand-run `pulumi up` records it too.
 */
export function creationTime(name: string, generation: number, parent: pulumi.Resource): pulumi.Output<string | undefined> {
  return new Static(`${name}-created`, { triggers: { generation: String(generation) } }, { parent }).rfc3339;
}

/** The variables every source provides, plus its own, all as secrets. */
export function sourceVars(args: SourceArgs, own: Record<string, pulumi.Input<string>>): Record<string, pulumi.Output<string>> {
  const { credential, ready } = args;
  const generation = String(credential.generations[credential.active]!.generation);
  const vars: Record<string, pulumi.Output<string>> = {
    slot: pulumi.secret(after(ready, credential.active)),
    generation: pulumi.secret(after(ready, generation)),
  };
  for (const [k, v] of Object.entries(own)) vars[k] = pulumi.secret(after(ready, v));
  return vars;
}

/** Slot keys whose creation time a hook recorded in `keyslot:generations` (cloud-made keys). */
export function recordedSlots(credential: Credential): Record<string, SlotKey> {
  return Object.fromEntries(
    Object.entries(credential.generations).map(([slot, g]) => [slot, { generation: g.generation, createdAt: pulumi.output(g.createdAt) }]),
  );
}

/** The credential's source, narrowed to the type a component handles; a mismatch is a wiring bug. */
export function sourceOf<T extends SourceType>(credential: Credential, type: T): Extract<Source, { type: T }> {
  const source = credential.source;
  if (source.type !== type) throw new TypeError(`a ${type} source component was given a ${source.type} source`);
  return source as Extract<Source, { type: T }>;
}
