/**
 * Runs the keyslot program under Pulumi's mock runtime: the engine of the simulated stack adapter
 * (the drill) and of the program's tests. The mock runtime is global to a process, so runs are
 * serialised and suites that use it run in their own mocha process.
 */
import * as pulumi from '@pulumi/pulumi';
import { getMonitor } from '@pulumi/pulumi/runtime/settings';
import type { CredentialState } from '../../model/state.ts';
import { keyslotProgram } from '../../program/index.ts';

import { reveal } from './secretValues.ts';

export { isSecretValue, reveal } from './secretValues.ts';

export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly provider?: string;
  /** Inputs as the engine got them: secrets still wrapped (see `isSecretValue`). */
  readonly inputs: Record<string, unknown>;
  /** What the mock provider returned: inputs plus computed outputs. */
  readonly outputs: Record<string, unknown>;
  readonly urn: string;
  readonly parent?: string;
  readonly deleteBeforeReplace: boolean;
  readonly additionalSecretOutputs: readonly string[];
}

/** What the engine learns from a registration beyond `newResource`'s arguments. */
export interface EngineView {
  urn?: string;
  parent?: string;
  deleteBeforeReplace: boolean;
  additionalSecretOutputs: string[];
  /** The `replacementTrigger` option, serialised; a change replaces the resource. */
  replacementTrigger?: string;
  /** The `import` option: the id of an existing resource to adopt. */
  importId?: string;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDeletebeforereplace(): boolean;
  getAdditionalsecretoutputsList(): string[];
  getReplacementTrigger?(): { toJavaScript(): unknown } | undefined;
  getImportid(): string;
}

/**
 * Wraps the mock monitor so each registration's parent, URN and options are recorded as the
 * engine received them; `newResource` alone does not see those.
 */
function recordEngineView(): Map<string, EngineView> {
  const seen = new Map<string, EngineView>();
  const monitor = getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: (err: unknown, res?: { getUrn(): string }) => void): void;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const trigger = req.getReplacementTrigger?.()?.toJavaScript();
    const view: EngineView = {
      deleteBeforeReplace: req.getDeletebeforereplace(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      ...(req.getParent() ? { parent: req.getParent() } : {}),
      ...(trigger !== undefined && trigger !== null ? { replacementTrigger: JSON.stringify(trigger) } : {}),
      ...(req.getImportid() ? { importId: req.getImportid() } : {}),
    };
    seen.set(`${req.getType()}::${req.getName()}`, view);
    original(req, (err, res) => {
      if (res) view.urn = res.getUrn();
      cb(err, res);
    });
  };
  return seen;
}

export interface Invoked {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

/** The SDK's own "every outstanding RPC has finished" (internal, but what `pulumi` itself awaits on exit). */
const waitForRPCs: (() => Promise<void>) | undefined = (require('@pulumi/pulumi/runtime/settings') as { waitForRPCs?: () => Promise<void> })
  .waitForRPCs;

/** Resolves when the program has registered everything it will: no RPC in flight and no new registration. */
async function settle(count: () => number): Promise<void> {
  let last = -1;
  for (;;) {
    if (waitForRPCs) await waitForRPCs();
    await new Promise((r) => setImmediate(r));
    const now = count();
    if (now === last) return;
    last = now;
    if (!waitForRPCs) await new Promise((r) => setTimeout(r, 15));
  }
}

export interface MockRun {
  readonly resources: Registered[];
  readonly credentials: Record<string, CredentialState>;
  /** The program's secret `keyMaterial` output, unwrapped (the engine holds it in memory only). */
  readonly keyMaterial: Record<string, Record<string, Readonly<Record<string, string>>>>;
}

export interface MockProviders {
  /**
   * Returns the id and state (inputs plus outputs) of a registered resource. `view` has its
   * options as the engine got them, `plain` its inputs with the secret wrappers taken off.
   */
  newResource(
    args: pulumi.runtime.MockResourceArgs,
    view: Readonly<EngineView>,
    plain: Record<string, unknown>,
  ): MockResourceResult | Promise<MockResourceResult>;
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> | Promise<Record<string, unknown>>;
}

export interface MockResourceResult {
  readonly id: string;
  readonly state: Record<string, unknown>;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs the real program entry (`keyslotProgram`) for a stack's namespaced config values and waits
 * until every registration is in. Runs never overlap.
 */
export function runProgramUnderMocks(stack: string, config: Record<string, string>, providers: MockProviders): Promise<MockRun> {
  const run = queue.then(() => withoutPromiseStacks(() => runOnce(stack, config, providers)));
  queue = run.catch(() => undefined);
  return run;
}

/**
 * The SDK records a stack trace on every promise it makes, for its leak report; with source maps
 * on (tsx) formatting those is most of a simulated up's CPU. Nothing here reads them, and keyslot
 * never prints a stack, so the run goes without.
 */
async function withoutPromiseStacks<T>(body: () => Promise<T>): Promise<T> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return await body();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

async function runOnce(stack: string, config: Record<string, string>, providers: MockProviders): Promise<MockRun> {
  // As cmd/run does, an error the program leaves unhandled (an apply that throws, the stale-file
  // guard) fails the run: the engine then fails the update and changes nothing. Without this, the
  // resources that waited on the failed value would look removed from the program.
  const failures: unknown[] = [];
  const onRejection = (reason: unknown) => failures.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    const run = await runRegistered(stack, config, providers);
    if (failures.length) throw failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
    return run;
  } finally {
    process.off('unhandledRejection', onRejection);
  }
}

async function runRegistered(stack: string, config: Record<string, string>, providers: MockProviders): Promise<MockRun> {
  const registered: Omit<Registered, 'urn' | 'deleteBeforeReplace' | 'additionalSecretOutputs'>[] = [];
  let engine = new Map<string, EngineView>();
  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        // The monitor saw the registration first, so its options are known here (reads have none).
        const view = engine.get(`${args.type}::${args.name}`) ?? { deleteBeforeReplace: false, additionalSecretOutputs: [] };
        const result = await providers.newResource(args, view, reveal(args.inputs) as Record<string, unknown>);
        registered.push({
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          inputs: args.inputs,
          outputs: result.state,
          ...(args.provider ? { provider: args.provider } : {}),
        });
        return result;
      },
      call: (args) => providers.call(args),
    },
    'keyslot',
    stack,
    false,
    'organization',
  );
  engine = recordEngineView();
  pulumi.runtime.setAllConfig(config);
  const outputs = keyslotProgram();
  // Output.promise() rejects when the program failed (a stale file, a bad input), where apply would never run.
  const credentials = (await (outputs.credentials as unknown as { promise(): Promise<Record<string, CredentialState>> }).promise()) ?? {};
  const keyMaterial =
    (await (
      outputs.keyMaterial as unknown as { promise(): Promise<Record<string, Record<string, Readonly<Record<string, string>>>>> } | undefined
    )?.promise()) ?? {};
  await settle(() => registered.length);
  const resources = registered.map((r): Registered => {
    // Reads (the StackReference) do not pass through registerResource.
    const view = engine.get(`${r.type}::${r.name}`) ?? {
      urn: `urn:pulumi:${stack}::keyslot::${r.type}::${r.name}`,
      deleteBeforeReplace: false,
      additionalSecretOutputs: [],
    };
    return {
      ...r,
      urn: view.urn!,
      deleteBeforeReplace: view.deleteBeforeReplace,
      additionalSecretOutputs: view.additionalSecretOutputs,
      ...(view.parent ? { parent: view.parent } : {}),
    };
  });
  return { resources, credentials, keyMaterial };
}

export { namespacedConfig } from './namespacedConfig.ts';
