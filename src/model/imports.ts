/**
 * Deliveries that adopt an existing object with Pulumi's `import` option, and what that asks of
 * the Pulumi CLI and of a change to the stack file. Pure.
 *
 * - Before CLI 3.252 an import whose id differs from the id the provider reports (a casing
 *   difference is enough) was kept in state without its import id when the same up also updated
 *   the object, and the next up replaced — deleted — it (pulumi/pulumi#23834, CHANGELOG 3.252.0;
 *   pkg/resource/deploy/step_generator.go continueStepsFromRefresh). keyslot builds the id from
 *   config and always updates the value it adopts, so a stack that adopts needs 3.252 or newer.
 * - The engine takes a resource as an import whenever its `import` id differs from the one in
 *   state (`isImport`: `oldImportID != goal.ID`, same file): an adopted delivery pointed at another
 *   vault or secret is an import replacement, which `up` refuses while `preview` only warns.
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import type { Delivery } from '../config/schema.ts';
import type { CredentialState } from './state.ts';

/** The oldest CLI keyslot runs with (see the engine adapter for why). */
export const minimumPulumiVersion = '3.226.0';
/** The oldest CLI that keeps an import's id through an update of the imported object. */
export const importPulumiVersion = '3.252.0';

/** True when version `installed` (`v3.240.1`, `3.252.0-alpha.x`) is older than `minimum`. */
export function olderThan(installed: string, minimum: string): boolean {
  const parts = (v: string) => v.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map(Number);
  const [a, b] = [parts(installed), parts(minimum)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** The ARM id of a Key Vault secret: what Pulumi's `import` option adopts. */
export function keyVaultSecretId(d: Extract<Delivery, { type: 'azure-keyvault-secret' }>): string {
  return `/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${d.vaultName}/secrets/${d.secretName}`;
}

/** The name the program gives a credential's delivery resource (one per delivery, by position). */
export function deliveryResourceName(credential: string, index: number): string {
  return `${credential}-d${index}`;
}

export interface ImportedDelivery {
  /** The delivery's resource name, as in the recorded state's `imports`. */
  readonly resource: string;
  /** The id the `import` option names. */
  readonly id: string;
  /** Its config path, for messages. */
  readonly path: string;
}

/** The credential's deliveries that adopt an existing object. */
export function importedDeliveries(config: StackConfig, cred: Credential): ImportedDelivery[] {
  const at = config.credentials.findIndex((c) => c.name === cred.name);
  return cred.deliver.flatMap((d, i) =>
    d.type === 'azure-keyvault-secret' && d.adopt
      ? [{ resource: deliveryResourceName(cred.name, i), id: keyVaultSecretId(d), path: `keyslot:credentials[${at}].deliver[${i}]` }]
      : [],
  );
}

/** What the recorded state keeps of a credential's imports: resource name → import id; undefined when none. */
export function recordedImports(config: StackConfig, cred: Credential): Record<string, string> | undefined {
  const found = importedDeliveries(config, cred);
  return found.length ? Object.fromEntries(found.map((d) => [d.resource, d.id])) : undefined;
}

/** Why this stack needs a newer CLI than `installed`, or undefined when it does not. */
export function cliTooOldFor(config: StackConfig, installed: string): string | undefined {
  if (!olderThan(installed, importPulumiVersion)) return undefined;
  const first = config.credentials.flatMap((c) => importedDeliveries(config, c))[0];
  if (!first) return undefined;
  return `the Pulumi CLI is v${installed.replace(/^v/, '')}; ${first.path} adopts an existing Key Vault secret (adopt: true), which needs v${importPulumiVersion} or newer: before it, an adopted secret whose id differs from Azure's by case alone is deleted by the up after the one that adopts it (pulumi/pulumi#23834); upgrade the CLI (https://www.pulumi.com/docs/iac/download-install/)`;
}

export interface Retarget {
  readonly path: string;
  readonly deployed: string;
  readonly file: string;
}

/** Adopted deliveries whose import id differs from the one deployed: Pulumi would import-replace them. */
export function retargetedImports(config: StackConfig, cred: Credential, deployed: CredentialState | undefined): Retarget[] {
  const recorded = deployed?.imports ?? {};
  return importedDeliveries(config, cred).flatMap((d) => {
    const before = recorded[d.resource];
    return before !== undefined && before !== d.id ? [{ path: d.path, deployed: before, file: d.id }] : [];
  });
}
