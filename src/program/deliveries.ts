import * as pulumi from '@pulumi/pulumi';
import { Secret as KubernetesSecret } from '@pulumi/kubernetes/core/v1/secret';
import { SecretPatch as KubernetesSecretPatch } from '@pulumi/kubernetes/core/v1/secretPatch';
import type { Provider } from '@pulumi/kubernetes/provider';
import { Secret as KeyVaultSecret } from '@pulumi/azure-native/keyvault/secret';
import { SecretVersion } from '@pulumi/aws/secretsmanager/secretVersion';
import type { Credential, StackConfig } from '../config/parse.ts';
import type { Delivery } from '../config/schema.ts';
import {
  annotations,
  deliveryResourceName,
  deliveryTargets,
  keyVaultSecretId,
  renderTemplate,
  selectClusters,
  templateVariables,
  trustedGenerations,
} from '../model/index.ts';

/** A template rendered from the source's variables, kept a Pulumi secret. */
export function render(template: string, vars: Readonly<Record<string, pulumi.Output<string>>>): pulumi.Output<string> {
  return pulumi.secret(pulumi.all(vars).apply((v) => renderTemplate(template, v)));
}

export interface DeliveryContext {
  readonly config: StackConfig;
  readonly credential: Credential;
  readonly vars: Readonly<Record<string, pulumi.Output<string>>>;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly parent: pulumi.Resource;
}

/** Declares one delivery (one object per selected cluster or store); returns its targets. */
export function deliver(d: Delivery, index: number, ctx: DeliveryContext): string[] {
  const { credential, vars, parent } = ctx;
  const marks: Record<string, string> = {
    [annotations.credential]: credential.name,
    [annotations.slot]: credential.active,
    [annotations.generation]: String(credential.generations[credential.active]!.generation),
  };
  const templates = d.type === 'kubernetes-secret' ? Object.values(d.data) : [d.value];
  if (templates.some((t) => templateVariables(t).includes('trustBundle'))) {
    marks[annotations.trusts] = trustedGenerations(credential.generations).join(',');
  }
  const base = deliveryResourceName(credential.name, index);
  switch (d.type) {
    case 'kubernetes-secret': {
      const stringData = Object.fromEntries(Object.entries(d.data).map(([k, t]) => [k, render(t, vars)]));
      for (const cluster of selectClusters(ctx.config.clusters, d.clusters)) {
        const metadata = {
          namespace: d.namespace,
          name: d.name,
          annotations: marks,
          labels: { 'app.kubernetes.io/managed-by': 'keyslot' },
        };
        const opts = { parent, provider: ctx.providers.get(cluster)!, additionalSecretOutputs: ['data', 'stringData'] };
        if (d.manage === 'create') new KubernetesSecret(`${base}-${cluster}`, { metadata, type: 'Opaque', stringData }, opts);
        else new KubernetesSecretPatch(`${base}-${cluster}`, { metadata, stringData }, opts);
      }
      break;
    }
    case 'azure-keyvault-secret':
      new KeyVaultSecret(
        base,
        {
          resourceGroupName: d.resourceGroupName,
          vaultName: d.vaultName,
          secretName: d.secretName,
          properties: { value: render(d.value, vars) },
          tags: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k.replace('keyslot.dev/', 'keyslot-'), v])),
        },
        { parent, additionalSecretOutputs: ['properties'], ...(d.adopt ? { import: keyVaultSecretId(d) } : {}) },
      );
      break;
    case 'aws-secretsmanager-secret':
      new SecretVersion(
        base,
        { secretId: d.secretId, secretString: render(d.value, vars) },
        { parent, additionalSecretOutputs: ['secretString'] },
      );
      break;
  }
  return deliveryTargets(ctx.config, d);
}
