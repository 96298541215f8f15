/**
 * The stack file against the deployed stack: a checkout behind what is deployed (a rotation whose
 * commit never landed) is brought up to it; the rotation in flight is found from the deployed record.
 */
import { parseStackConfig, type Credential, type StackConfig } from '../config/parse.ts';
import type { RotationRecord } from '../config/schema.ts';
import { ConfigError, NothingInFlightError, StaleStackError } from '../errors.ts';
import { driftOf } from '../model/index.ts';
import type { CredentialState } from '../model/state.ts';
import type { DriverContext } from './context.ts';
import { setRecord } from './record.ts';

/** The stack config as the program will read it, through the one parser. */
export async function loadConfig(ctx: DriverContext): Promise<StackConfig> {
  const stack = ctx.ports.engine.stack;
  return parseStackConfig(stack, await ctx.ports.engine.readConfig(), `stack ${stack}`, ctx.ports.clock.now());
}

export function credential(config: StackConfig, name: string): Credential {
  const cred = config.credentials.find((c) => c.name === name);
  if (!cred)
    throw new ConfigError(
      `stack ${config.stack}`,
      '--credential',
      JSON.stringify(name),
      `use one of ${config.credentials.map((c) => c.name).join(', ')}`,
    );
  return cred;
}

export function refuseStale(config: StackConfig, cred: Credential, deployed: CredentialState | undefined) {
  const stale = driftOf(cred, deployed).find((d) => d.stale);
  if (stale) {
    throw new StaleStackError(
      `stack ${config.stack}`,
      stale.path,
      `${stale.file} but ${stale.deployed} is deployed`,
      `pull the current stacks/Pulumi.${config.stack}.yaml (the file is older than the stack), or run keyslot resume`,
    );
  }
}

/**
 * The deployed stack is the source of truth: every credential whose deployed state is ahead of
 * this checkout (a rotation finished by an agent whose commit never landed) is brought up to it
 * — active slot, generations, creation times, last rotations — so that a fresh checkout can
 * finish a multi-credential run without the program refusing the file as stale.
 */
export async function adoptDeployed(
  ctx: DriverContext,
  config: StackConfig,
  deployedAll: Record<string, CredentialState>,
): Promise<boolean> {
  return (await adoptBehind(ctx, config, deployedAll)).length > 0;
}

export async function adoptBehind(
  ctx: DriverContext,
  config: StackConfig,
  deployedAll: Record<string, CredentialState>,
  underLock = false,
): Promise<string[]> {
  const changed: string[] = [];
  for (const cred of config.credentials) {
    const deployed = deployedAll[cred.name];
    if (!deployed) continue;
    // Only while holding the lock may another credential's rotation be taken for settled: before
    // it, an agent may still be running it.
    if (underLock && cred.rotation && !deployed.rotation && (deployed.lastRotatedAt ?? '') > (cred.lastRotatedAt ?? '')) {
      // This checkout records a rotation the deployed stack shows finished: drop the record and
      // take the finished state below.
      await ctx.ports.engine.removeConfig(`rotations.${cred.name}`);
    } else if (cred.rotation) continue;
    // A rotation in flight that this checkout does not know (flipped and recorded by an agent whose
    // commit never landed): adopt its record, slot and generations. Deploying this checkout as it
    // is would flip the credential back and erase its record while its pods run on the new slot.
    if (deployed.rotation) {
      if (!underLock) continue;
      changed.push(cred.name);
      await adoptInFlight(ctx, cred, deployed);
      continue;
    }
    const fileNewest = Math.max(0, ...Object.values(cred.generations).map((g) => g.generation));
    const deployedNewest = Math.max(0, ...Object.values(deployed.slots).map((s) => s.generation));
    const behind = deployedNewest > fileNewest || (deployed.lastRotatedAt ?? '') > (cred.lastRotatedAt ?? '');
    if (!behind) continue;
    changed.push(cred.name);
    const gens = `generations.${cred.name}`;
    if (deployed.scheme === 'dual') await ctx.ports.engine.setConfig(`slots.${cred.name}`, deployed.activeSlot);
    for (const [slot, s] of Object.entries(deployed.slots)) {
      await ctx.ports.engine.setConfig(`${gens}.${slot}.generation`, String(s.generation));
      if (s.createdAt) await ctx.ports.engine.setConfig(`${gens}.${slot}.createdAt`, s.createdAt);
      // Only a kOps keyset's ids are config; other sources' key ids are what the cloud reports.
      if (s.keyId && cred.source.type === 'kops-keyset') await ctx.ports.engine.setConfig(`${gens}.${slot}.keyId`, s.keyId);
    }
    if (deployed.lastRotatedAt) await ctx.ports.engine.setConfig(`${gens}.lastRotatedAt`, deployed.lastRotatedAt);
    if (deployed.previousRotatedAt) await ctx.ports.engine.setConfig(`${gens}.previousRotatedAt`, deployed.previousRotatedAt);
  }
  return changed;
}

/** Brings this checkout to a deployed rotation in flight: its record, active slot and newer generations. */
export async function adoptInFlight(ctx: DriverContext, cred: Credential, deployed: CredentialState) {
  if (!deployed.rotation) return;
  await setRecord(ctx, cred.name, deployed.rotation);
  if (deployed.scheme === 'dual') await ctx.ports.engine.setConfig(`slots.${cred.name}`, deployed.activeSlot);
  for (const [slot, s] of Object.entries(deployed.slots)) {
    if ((cred.generations[slot]?.generation ?? 0) < s.generation)
      await ctx.ports.engine.setConfig(`generations.${cred.name}.${slot}.generation`, String(s.generation));
    // A keyset's ids are config: the flip moved them.
    if (s.keyId && cred.source.type === 'kops-keyset') await ctx.ports.engine.setConfig(`generations.${cred.name}.${slot}.keyId`, s.keyId);
  }
}

/**
 * The rotation in flight, with the stack file brought up to what is deployed: a fresh checkout
 * may predate the flip, and the deployed record is the truth.
 */
export async function inFlight(
  ctx: DriverContext,
  name: string,
): Promise<{ config: StackConfig; cred: Credential; record: RotationRecord }> {
  let config = await loadConfig(ctx);
  let cred = credential(config, name);
  const deployedAll = await ctx.ports.engine.deployed();
  if (await adoptDeployed(ctx, config, deployedAll)) {
    config = await loadConfig(ctx);
    cred = credential(config, name);
  }
  const deployed = deployedAll[cred.name];
  if (!cred.rotation && deployed?.rotation) {
    await adoptInFlight(ctx, cred, deployed);
    config = await loadConfig(ctx);
    cred = credential(config, name);
  }
  if (!cred.rotation)
    throw new NothingInFlightError(
      `credential ${name} has no rotation in flight in stack ${config.stack}; start one: keyslot rotate --stack ${config.stack} --credential ${name}`,
    );
  return { config, cred, record: cred.rotation };
}

/** The credential as it was when the recorded rotation started. */
export function beforeRotation(cred: Credential, record: RotationRecord): Credential {
  const generations = Object.fromEntries(
    Object.entries(record.generations).map(([slot, g]) => [
      slot,
      {
        generation: g,
        ...(cred.generations[slot]?.generation === g && cred.generations[slot]?.createdAt
          ? { createdAt: cred.generations[slot]!.createdAt }
          : {}),
      },
    ]),
  );
  const { rotation: _rotation, ...rest } = cred;
  return { ...rest, active: record.from as Credential['active'], generations };
}
