/**
 * StackEngine over the Automation API: `LocalWorkspace` on the repository's own Pulumi.yaml, so
 * the driver and a hand-run `pulumi up` deploy the same program with the same `stacks/` files.
 * Every CLI call goes through `call`, which classifies failures once.
 *
 * Config is read from the stack file itself (the same reader as `keyslot plan`), never with
 * `pulumi config --show-secrets`: secret values (kubeconfigs) stay ciphertext in this process.
 * Writes go through `pulumi config set --path`, which keeps the file's comments and secrets.
 */
import { CommandError, LocalWorkspace, PulumiCommand, type Stack } from '@pulumi/pulumi/automation';
import { join } from 'node:path';
import { projectRoot, readStackFile } from '../../config/load.ts';
import { EngineError, PulumiCliMissingError } from '../../errors.ts';
import { readCredentialState, type CredentialState } from '../../model/state.ts';
import type { EngineEvent, StackEngine, UpOptions, UpResult } from '../../ports/engine.ts';

export interface LocalWorkspaceOptions {
  readonly stack: string;
  /** Folder holding Pulumi.yaml. @default the repository root */
  readonly workDir?: string;
  /** Install root of the Pulumi CLI (`<root>/bin/pulumi`); @default `pulumi` on PATH */
  readonly pulumiRoot?: string;
  /** Skip the CLI's minimum version check (test fixtures). @default false */
  readonly skipVersionCheck?: boolean;
  /** Extra environment for the CLI (PULUMI_CONFIG_PASSPHRASE, backend URL, ...). */
  readonly envVars?: Record<string, string>;
}

const installHint = 'install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/) or point KEYSLOT_PULUMI_ROOT at its install folder';

/** One line of what the CLI said, without its progress noise. */
function firstLine(error: unknown): string {
  const text = error instanceof CommandError ? error.message : error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^(code|stdout|stderr|err\?):/.test(l));
  return lines.find((l) => /^error:/i.test(l)) ?? lines[0] ?? 'unknown failure';
}

function describeEvent(event: Record<string, any>): EngineEvent | undefined {
  if (event.resOutputsEvent?.metadata) {
    const m = event.resOutputsEvent.metadata;
    return { kind: 'resource', message: `${m.op} ${m.type} ${String(m.urn).split('::').pop()}` };
  }
  if (event.diagnosticEvent && ['error', 'warning'].includes(event.diagnosticEvent.severity)) {
    return { kind: 'diagnostic', message: `${event.diagnosticEvent.severity}: ${String(event.diagnosticEvent.message).trim().split('\n')[0]}` };
  }
  if (event.policyEvent) {
    return { kind: 'diagnostic', message: `policy ${event.policyEvent.policyName} (${event.policyEvent.enforcementLevel}): ${String(event.policyEvent.message).split('\n')[0]}` };
  }
  if (event.summaryEvent) {
    return { kind: 'summary', message: Object.entries(event.summaryEvent.resourceChanges ?? {}).map(([op, n]) => `${n} ${op}`).join(', ') };
  }
  return undefined;
}

export class LocalWorkspaceEngine implements StackEngine {
  private constructor(
    readonly stack: string,
    private readonly workDir: string,
    private readonly pulumiStack: Stack,
  ) {}

  /** @throws PulumiCliMissingError when no CLI is found; EngineError when the stack cannot be selected. */
  static async open(options: LocalWorkspaceOptions): Promise<LocalWorkspaceEngine> {
    const workDir = options.workDir ?? projectRoot;
    let pulumiCommand: PulumiCommand;
    try {
      pulumiCommand = await PulumiCommand.get({ ...(options.pulumiRoot ? { root: options.pulumiRoot } : {}), skipVersionCheck: options.skipVersionCheck ?? false });
    } catch (cause) {
      throw new PulumiCliMissingError(`the Pulumi CLI was not found (${firstLine(cause)}); ${installHint}`, { cause });
    }
    try {
      const stack = await LocalWorkspace.createOrSelectStack({ stackName: options.stack, workDir }, { pulumiCommand, ...(options.envVars ? { envVars: options.envVars } : {}) });
      return new LocalWorkspaceEngine(options.stack, workDir, stack);
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
    const value = path.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), raw);
    return value === undefined ? undefined : String(value);
  }

  async readSecretConfig(key: string): Promise<string | undefined> {
    // `pulumi config get` decrypts with the stack's secrets provider; the value stays in this process.
    const all = await this.call(`config get keyslot:${key}`, () => this.pulumiStack.getAllConfig());
    return all[`keyslot:${key}`]?.value;
  }

  async setConfig(path: string, value: string): Promise<void> {
    await this.call('config set', () => this.pulumiStack.setConfig(`keyslot:${path}`, { value, secret: false }, true));
  }

  async removeConfig(path: string): Promise<void> {
    await this.call('config rm', () => this.pulumiStack.removeConfig(`keyslot:${path}`, true));
  }

  async readConfig(): Promise<Record<string, unknown>> {
    return readStackFile(this.stack, join(this.workDir, 'stacks')).raw;
  }

  private upArgs(options: UpOptions) {
    return {
      policyPacks: options.policyPacks.map((p) => join(this.workDir, p)),
      color: 'never' as const,
      ...(options.onEvent ? { onEvent: (e: Record<string, any>) => { const d = describeEvent(e); if (d) options.onEvent!(d); } } : {}),
    };
  }

  async up(options: UpOptions): Promise<UpResult> {
    const result = await this.call('up', () => this.pulumiStack.up(this.upArgs(options)));
    return { changes: { ...(result.summary?.resourceChanges ?? {}) } };
  }

  async preview(options: UpOptions): Promise<UpResult> {
    const result = await this.call('preview', () => this.pulumiStack.preview(this.upArgs(options)));
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
    return Object.fromEntries(Object.entries(credentials).flatMap(([name, state]) => {
      const parsed = readCredentialState({ state });
      return parsed ? [[name, parsed]] : [];
    }));
  }

  async getTag(name: string): Promise<string | undefined> {
    try {
      return await this.pulumiStack.getTag(name);
    } catch {
      // `stack tag get` fails for a tag that is not set; that is "no tag", not an error.
      return undefined;
    }
  }

  async setTag(name: string, value: string): Promise<void> {
    await this.call('stack tag set', () => this.pulumiStack.setTag(name, value));
  }

  async removeTag(name: string): Promise<void> {
    await this.call('stack tag rm', () => this.pulumiStack.removeTag(name));
  }
}
