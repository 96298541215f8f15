/**
 * StackEngine over the Automation API: `LocalWorkspace` on the repository's own Pulumi.yaml, so
 * the driver and a hand-run `pulumi up` deploy the same program with the same `stacks/` files.
 * Every CLI call goes through `call`, which classifies failures once.
 *
 * Config is read from the stack file itself (the same reader as `keyslot plan`); the one secret
 * keyslot needs in clear (a `kubeconfigSecret`) is read by key with `pulumi config get`, never the
 * whole stack with `--show-secrets`. Writes go through `pulumi config set --path`, which keeps the
 * file's comments and secrets.
 */
import { CommandError, LocalWorkspace, PulumiCommand, type Stack } from '@pulumi/pulumi/automation';
import { join, resolve } from 'node:path';
import { projectRoot, readStackFile } from '../../config/load.ts';
import { packageRoot } from '../../config/projectRoot.ts';
import { existsSync } from 'node:fs';
import { EngineError, PolicyViolationError, PulumiCliMissingError } from '../../errors.ts';
import { readCredentialState, type CredentialState } from '../../model/state.ts';
import type { EngineEvent, StackEngine, UpOptions, UpResult } from '../../ports/engine.ts';
import { minimumPulumiVersion, olderThan } from '../../model/imports.ts';
import { interrupted, onInterrupt } from '../probes/interrupt.ts';

export interface LocalWorkspaceOptions {
  readonly stack: string;
  /** Folder holding Pulumi.yaml. @default the repository root */
  readonly workDir?: string;
  /** Install root of the Pulumi CLI (`<root>/bin/pulumi`); @default `pulumi` on PATH */
  readonly pulumiRoot?: string;
  /** Extra environment for the CLI (PULUMI_CONFIG_PASSPHRASE, backend URL, ...). */
  readonly envVars?: Record<string, string>;
  /**
   * Interrupted (SIGTERM, SIGINT) during a preview or an up, how long to wait for `pulumi` to
   * cancel it — the steps in flight finish, the checkpoint is written, the backend's lock released
   * — before keyslot releases its own lock and exits. @default 120
   */
  readonly cancelTimeoutSeconds?: number;
}

const installHint =
  'install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/) or point KEYSLOT_PULUMI_ROOT at its install folder';

/**
 * The oldest CLI keyslot runs with (`minimumPulumiVersion`, model/imports.ts). The engine honours
 * `replacementTrigger` from 3.208 (fixed in 3.226: before, a generation bump could leave an IAM
 * key in place while the recorded createdAt moved on); DIY backends keep stack tags from 3.211;
 * policy packs run through the language host from 3.221. A stack that adopts with `import` needs
 * 3.252 (checked by the driver, which knows the stack: `cliTooOldFor`).
 */
export { minimumPulumiVersion } from '../../model/imports.ts';

/**
 * The engine's colour tags (`<{%reset%}>`, `<{%fg 1%}>`: pulumi/pulumi v3.259.0,
 * sdk/go/common/diag/colors/colors.go, `colorLeft`/`colorRight`). `--color never` removes them
 * from the event log, but a policy message is built with them (pkg/engine/events.go
 * policyViolationEvent) and an older CLI, a `raw` colour setting or a message quoted inside an
 * error keeps them: keyslot never shows one.
 */
export function stripColorTags(text: string): string {
  return text.replace(/<\{%[^%]*%\}>/g, '');
}

/** One line of what the CLI said, without its progress noise. */
function firstLine(error: unknown): string {
  const raw = error instanceof CommandError ? error.message : error instanceof Error ? error.message : String(error);
  const text = stripColorTags(raw);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(code|stdout|stderr|err\?):/.test(l));
  return lines.find((l) => /^error:/i.test(l)) ?? lines[0] ?? 'unknown failure';
}

/**
 * What a policy reported: the policy server sends the policy's description, then the violation
 * on the next line(s); the violation is what names the credential and the fix.
 */
function violationOf(message: unknown): string {
  const lines = stripColorTags(String(message)).trim().split('\n');
  return (lines.length > 1 ? lines.slice(1).join(' ') : lines[0]!).trim();
}

function describeEvent(event: Record<string, any>): EngineEvent | undefined {
  if (event.resOutputsEvent?.metadata) {
    const m = event.resOutputsEvent.metadata;
    return { kind: 'resource', message: `${m.op} ${m.type} ${String(m.urn).split('::').pop()}` };
  }
  if (event.diagnosticEvent && ['error', 'warning'].includes(event.diagnosticEvent.severity)) {
    return {
      kind: 'diagnostic',
      message: `${event.diagnosticEvent.severity}: ${stripColorTags(String(event.diagnosticEvent.message)).trim().split('\n')[0]}`,
    };
  }
  if (event.policyEvent) {
    return {
      kind: 'diagnostic',
      message: `policy ${event.policyEvent.policyName} (${event.policyEvent.enforcementLevel}): ${violationOf(event.policyEvent.message)}`,
    };
  }
  if (event.summaryEvent) {
    return {
      kind: 'summary',
      message: Object.entries(event.summaryEvent.resourceChanges ?? {})
        .map(([op, n]) => `${n} ${op}`)
        .join(', '),
    };
  }
  return undefined;
}

/**
 * A `--policy-pack` folder: relative to the project; `policy`, keyslot's own pack, is the project's
 * `policy/` when it has one (this repository) and else the installed package's.
 */
export function packFolder(workDir: string, pack: string): string {
  const local = resolve(workDir, pack);
  if (pack !== 'policy' || existsSync(join(local, 'PulumiPolicy.yaml'))) return local;
  return join(packageRoot, 'policy');
}

export class LocalWorkspaceEngine implements StackEngine {
  private constructor(
    readonly stack: string,
    /** The CLI's version, e.g. `3.252.0`. */
    readonly cliVersion: string,
    private readonly workDir: string,
    private readonly pulumiStack: Stack,
    private readonly cancelTimeoutMs: number,
  ) {}

  /** @throws PulumiCliMissingError when no CLI is found; EngineError when the stack cannot be selected. */
  static async open(options: LocalWorkspaceOptions): Promise<LocalWorkspaceEngine> {
    const workDir = options.workDir ?? projectRoot;
    let pulumiCommand: PulumiCommand;
    try {
      pulumiCommand = await PulumiCommand.get({ ...(options.pulumiRoot ? { root: options.pulumiRoot } : {}) });
    } catch (cause) {
      throw new PulumiCliMissingError(`the Pulumi CLI was not found (${firstLine(cause)}); ${installHint}`, { cause });
    }
    const installed = pulumiCommand.version?.toString() ?? 'unknown';
    if (installed === 'unknown' || olderThan(installed, minimumPulumiVersion)) {
      throw new PulumiCliMissingError(
        `the Pulumi CLI is ${installed === 'unknown' ? 'of an unknown version' : `v${installed.replace(/^v/, '')}`}; keyslot needs v${minimumPulumiVersion} or newer; upgrade it (https://www.pulumi.com/docs/iac/download-install/)`,
      );
    }
    try {
      const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: options.stack, workDir },
        { pulumiCommand, ...(options.envVars ? { envVars: options.envVars } : {}) },
      );
      return new LocalWorkspaceEngine(
        options.stack,
        installed.replace(/^v/, ''),
        workDir,
        stack,
        (options.cancelTimeoutSeconds ?? 120) * 1000,
      );
    } catch (cause) {
      throw new EngineError(`cannot select stack ${options.stack}: ${firstLine(cause)}`, { cause });
    }
  }

  private async call<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (cause) {
      throw new EngineError(`pulumi ${what} failed for stack ${this.stack}: ${firstLine(cause)}`, { cause });
    }
  }

  async getConfig(path: string): Promise<string | undefined> {
    const raw = await this.readConfig();
    const value = path
      .split('.')
      .reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), raw);
    return value === undefined ? undefined : String(value);
  }

  async readSecretConfig(key: string): Promise<string | undefined> {
    // `pulumi config get <key>` decrypts that one value with the stack's secrets provider; it stays in this process.
    try {
      return (await this.pulumiStack.getConfig(`keyslot:${key}`)).value;
    } catch (cause) {
      if (/configuration key '[^']*' not found/.test(firstLine(cause))) return undefined;
      throw new EngineError(`pulumi config get keyslot:${key} failed for stack ${this.stack}: ${firstLine(cause)}`, { cause });
    }
  }

  /** Interrupted, keyslot starts no new change: what the driver does next (a rollback, say) is for `keyslot resume`. */
  private refuseInterrupted(what: string): void {
    if (interrupted()) throw new EngineError(`pulumi ${what} not run for stack ${this.stack}: keyslot was interrupted`);
  }

  async setConfig(path: string, value: string): Promise<void> {
    this.refuseInterrupted('config set');
    await this.call('config set', () => this.pulumiStack.setConfig(`keyslot:${path}`, { value, secret: false }, true));
  }

  async removeConfig(path: string): Promise<void> {
    this.refuseInterrupted('config rm');
    await this.call('config rm', () => this.pulumiStack.removeConfig(`keyslot:${path}`, true));
  }

  async readConfig(): Promise<Record<string, unknown>> {
    return readStackFile(this.stack, join(this.workDir, 'stacks')).raw;
  }

  /** The arguments of an up or preview, and the mandatory policy violations its events reported. */
  private upArgs(options: UpOptions) {
    const mandatory: string[] = [];
    const args = {
      policyPacks: options.policyPacks.map((p) => packFolder(this.workDir, p)),
      ...(options.policyPackConfigs?.length ? { policyPackConfigs: options.policyPackConfigs.map((p) => resolve(p)) } : {}),
      color: 'never' as const,
      onEvent: (e: Record<string, any>) => {
        if (e.policyEvent?.enforcementLevel === 'mandatory')
          mandatory.push(`policy ${e.policyEvent.policyName} (mandatory): ${violationOf(e.policyEvent.message)}`);
        const d = describeEvent(e);
        if (d) options.onEvent?.(d);
      },
    };
    return { args, mandatory };
  }

  /** Runs an up or preview; a failure the pack caused is a PolicyViolationError naming the policy. */
  private async deploy<T>(
    what: 'up' | 'preview',
    options: UpOptions,
    body: (args: ReturnType<LocalWorkspaceEngine['upArgs']>['args'] & { signal: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    this.refuseInterrupted(what);
    const { args, mandatory } = this.upArgs(options);
    // An interrupted keyslot cancels the operation as Ctrl-C would (the Automation API sends the
    // CLI one SIGINT: @pulumi/pulumi automation/cmd.js exec), and waits for the CLI to finish
    // cancelling (pulumi/pulumi pkg/backend/cancellation_scope.go: steps in flight complete, no new
    // one starts, the checkpoint and the backend's lock are written and released) before the
    // cleanups after it release keyslot's own lock.
    const cancel = new AbortController();
    const running = body({ ...args, signal: cancel.signal });
    const graceMs = this.cancelTimeoutMs;
    const forget = onInterrupt(async () => {
      cancel.abort();
      const settled = await Promise.race([
        running.then(
          () => true,
          () => true,
        ),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), graceMs).unref()),
      ]);
      return settled
        ? `pulumi ${what} of stack ${this.stack} cancelled`
        : `pulumi ${what} of stack ${this.stack} did not finish cancelling within ${graceMs / 1000} s; if it is killed, its backend lock may stay: pulumi cancel --stack ${this.stack}`;
    }, graceMs + 1000);
    try {
      return await running;
    } catch (cause) {
      if (mandatory.length)
        throw new PolicyViolationError(
          `pulumi ${what} failed: ${mandatory[0]}${mandatory.length > 1 ? ` (and ${mandatory.length - 1} more)` : ''}`,
          { cause },
        );
      throw new EngineError(`pulumi ${what} failed for stack ${this.stack}: ${firstLine(cause)}`, { cause });
    } finally {
      forget();
    }
  }

  async up(options: UpOptions): Promise<UpResult> {
    const result = await this.deploy('up', options, (args) => this.pulumiStack.up(args));
    return { changes: { ...(result.summary?.resourceChanges ?? {}) } };
  }

  async preview(options: UpOptions): Promise<UpResult> {
    const result = await this.deploy('preview', options, (args) => this.pulumiStack.preview(args));
    return { changes: { ...result.changeSummary } };
  }

  async keyMaterial(credential: string, slot: string): Promise<Readonly<Record<string, string>> | undefined> {
    const outputs = await this.call('stack output', () => this.pulumiStack.outputs());
    const all = outputs.keyMaterial?.value as Record<string, Record<string, Record<string, string>>> | undefined;
    return all?.[credential]?.[slot];
  }

  async deployed(): Promise<Record<string, CredentialState>> {
    const outputs = await this.call('stack output', () => this.pulumiStack.outputs());
    const credentials = (outputs.credentials?.value ?? {}) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(credentials).flatMap(([name, state]) => {
        const parsed = readCredentialState({ state });
        return parsed ? [[name, parsed]] : [];
      }),
    );
  }

  async getTag(name: string): Promise<string | undefined> {
    try {
      return await this.pulumiStack.getTag(name);
    } catch (cause) {
      // The CLI says "stack tag '<name>' not found for stack '<ref>'" for a tag that is not set:
      // that is "no tag". Anything else (a backend without tags, no network) is a failure, never
      // "not locked".
      if (/stack tag '[^']*' not found/.test(firstLine(cause))) return undefined;
      throw new EngineError(`pulumi stack tag get ${name} failed for stack ${this.stack}: ${firstLine(cause)}`, { cause });
    }
  }

  async setTag(name: string, value: string): Promise<void> {
    await this.call('stack tag set', () => this.pulumiStack.setTag(name, value));
  }

  async removeTag(name: string): Promise<void> {
    await this.call('stack tag rm', () => this.pulumiStack.removeTag(name));
  }
}
