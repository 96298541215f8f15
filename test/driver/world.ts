import { readStackFile } from '../../src/config/load.ts';
import { parseStackConfig } from '../../src/config/parse.ts';
import { Driver, type DriverOptions, type RotationEvent } from '../../src/driver/index.ts';
import { buildWorld, type World } from '../../src/sim/world.ts';
import { ProgramTranscripts } from '../../src/adapters/engine/transcripts.ts';

/**
 * Program runs recorded for the tests that rotate the same stack again and again (killed at every
 * call, then resumed): a run whose every answer matches a recorded one is replayed, as the drill
 * does (src/adapters/engine/transcripts.ts; test/drill/drill.spec.ts shows a replayed run is the
 * run the program would make). What they judge is the driver's resumption, not the program.
 */
const replays = new ProgramTranscripts();

export interface Scenario {
  readonly stack: string;
  readonly world: World;
  /** The stack file as the repository holds it (a fresh checkout). */
  readonly checkout: Record<string, unknown>;
  readonly events: RotationEvent[];
  driver(
    checkout?: Record<string, unknown>,
    options?: Partial<DriverOptions>,
  ): { driver: Driver; engine: ReturnType<World['ports']>['engine'] };
}

/** A deployed stack in a simulated world, ready to rotate. */
export async function scenario(
  stack: string,
  edit: (raw: Record<string, unknown>) => void = () => {},
  options: { readonly replay?: boolean } = {},
): Promise<Scenario> {
  const checkout = structuredClone(readStackFile(stack).raw);
  edit(checkout);
  const config = parseStackConfig(stack, checkout, stack);
  const world = buildWorld(config);
  if (options.replay) world.backend.transcripts = replays;
  const events: RotationEvent[] = [];
  const make = (file: Record<string, unknown> = checkout, options: Partial<DriverOptions> = {}) => {
    const ports = world.ports(file);
    return {
      driver: new Driver(ports, { policyPacks: ['policy'], holder: 'test@runner', onEvent: (e) => events.push(e), ...options }),
      engine: ports.engine,
    };
  };
  // The stack as it is before anyone rotates: deployed once.
  await world.ports(checkout).engine.up({ policyPacks: [] });
  world.boot();
  world.clock.advance(2 * 24 * 3600_000);
  return { stack, world, checkout, events, driver: make };
}

/**
 * The kops stack as a keyset keyslot generates itself (`tls-signing-key`): the signer and the trust
 * bundle delivered as Secrets that the API servers read, the control plane rolled by an exec stage.
 */
export function selfManagedKeyset(raw: Record<string, unknown>): void {
  const cred = (raw.credentials as Record<string, unknown>[])[0]!;
  cred.source = { type: 'tls-signing-key', algorithm: 'RSA' };
  cred.deliver = [
    {
      type: 'kubernetes-secret',
      namespace: 'kube-system',
      name: 'service-account-signer',
      data: { 'service-account.key': '${privateKeyPem}' },
    },
    {
      type: 'kubernetes-secret',
      namespace: 'kube-system',
      name: 'service-account-verifiers',
      data: { 'service-account.pub': '${trustBundle}' },
    },
  ];
  delete (raw.generations as Record<string, unknown> | undefined)?.['service-account'];
  // No kOps behind it to validate: readiness is probed on the API server (anonymous auth on here).
  cred.stages = (cred.stages as { command?: string[] }[]).map((s) =>
    s.command?.[1] === 'validate' ? { kind: 'verify-http', url: 'https://api.kops-example.k8s.local/readyz' } : s,
  );
}

/** kubecost-thanos with a second IAM credential (its own user and Secret) that every consumer also reads. */
export function twoCredentials(raw: Record<string, unknown>): void {
  const creds = raw.credentials as Record<string, any>[];
  const second = structuredClone(creds[0]!);
  second.name = 'thanos-store-b';
  second.source.userName = 'kubecost-thanos-b';
  second.deliver[0].name = 'kubecost-thanos-b';
  creds.push(second);
}
