import { X509Certificate } from 'node:crypto';
import type { ResourceValidationPolicy } from '@pulumi/policy';
import { parse } from 'yaml';
import { clusterOfProvider } from '../../src/model/clusters.ts';
import { deliveredSecretRules, ruleText } from '../../src/model/permissions.ts';
import { declaredByKeyslot, deliveryMarks } from './common.ts';

/**
 * The group the API server allows everything, before any authorizer is asked: "Any user who is a
 * member of this group bypasses all RBAC rights checks and will always have unrestricted
 * superuser access, which cannot be revoked by removing RoleBindings or ClusterRoleBindings"
 * (kubernetes/website content/en/docs/concepts/security/rbac-good-practices.md). A client
 * certificate's organizations are the user's groups (kubernetes/website content/en/docs/reference/
 * access-authn-authz/authentication.md, "X509 client certificates"). Admin kubeconfigs carry such
 * a certificate: `kops export kubeconfig --admin` issues one with O=system:masters
 * (kubernetes/kops v1.30.0 pkg/kubeconfig/create_kubecfg.go, its `admin` branch).
 */
const privilegedGroup = 'system:masters';

const deliveries: Record<string, 'create' | 'patch'> = {
  'kubernetes:core/v1:Secret': 'create',
  'kubernetes:core/v1:SecretPatch': 'patch',
};

interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name?: string; context?: { user?: string } }[];
  users?: { name?: string; user?: { 'client-certificate-data'?: string } }[];
}

/**
 * The user a Kubernetes provider authenticates as, and its client certificate's organizations, where
 * the provider's settings show them: `kubeconfig` given as contents (the provider also takes a
 * path, pulumi/pulumi-kubernetes v4.32.0 provider/pkg/provider/util.go parseKubeconfigString,
 * which a policy does not read) with an embedded certificate, and `context` or the file's current
 * context choosing the user. Undefined where they do not show (a path, a token, an exec plugin).
 * Only the certificate, which is public, is read; nothing of the file leaves this function but the
 * user's name and groups.
 */
export function kubeconfigUser(providerProps: Record<string, unknown>): { user: string; groups: string[] } | undefined {
  const text = providerProps.kubeconfig;
  if (typeof text !== 'string') return undefined;
  let config: Kubeconfig | null;
  try {
    config = parse(text) as Kubeconfig | null;
  } catch {
    return undefined;
  }
  const contextName = typeof providerProps.context === 'string' ? providerProps.context : config?.['current-context'];
  const user = config?.contexts?.find((c) => c.name === contextName)?.context?.user;
  const cert = config?.users?.find((u) => u.name === user)?.user?.['client-certificate-data'];
  if (user === undefined || typeof cert !== 'string') return undefined;
  let subject: string;
  try {
    subject = new X509Certificate(Buffer.from(cert, 'base64')).subject;
  } catch {
    return undefined;
  }
  // X509Certificate#subject: one `KEY=value` per line; each O (organization) is a group.
  return { user, groups: subject.split('\n').flatMap((line) => (line.startsWith('O=') ? [line.slice(2)] : [])) };
}

/**
 * A delivery keyslot deploys into a cluster whose provider authenticates as a member of
 * system:masters: the deployer identity can do anything there, and nothing can take it back, where
 * a delivery needs a few verbs on one Secret (src/model/permissions.ts, `keyslot permissions`).
 * Judged per delivery, through the resource's provider, which the engine sends with every resource
 * it analyzes (pulumi/pulumi v3.259.0 pkg/resource/deploy/step_generator.go: AnalyzerResource.Provider).
 * Azure's and AWS's providers name an identity (a client id, a role ARN) but not what it may do,
 * so there is nothing for a policy to judge there.
 */
export const deployerLeastPrivilege: ResourceValidationPolicy = {
  name: 'deployer-least-privilege',
  description:
    "The deployer identity is no broader than the stack's deliveries need where its provider shows it: a Kubernetes delivery is not deployed with a system:masters kubeconfig.",
  enforcementLevel: 'advisory',
  validateResource: (args, reportViolation) => {
    const manage = deliveries[args.type];
    const provider = args.provider;
    if (!manage || provider?.type !== 'pulumi:providers:kubernetes') return;
    if (!declaredByKeyslot(args.urn, deliveryMarks(args.props))) return;
    const who = kubeconfigUser(provider.props);
    if (!who?.groups.includes(privilegedGroup)) return;
    const { name = args.name, namespace = 'default' } = (args.props.metadata ?? {}) as { name?: string; namespace?: string };
    const cluster = clusterOfProvider(provider.name);
    const [, , stack] = args.urn.split(':');
    const needs = deliveredSecretRules(manage, name)
      .map((r) => ruleText(r.rule))
      .join('; ');
    reportViolation(
      `${namespace}/${name} on cluster ${cluster}: the deployer's kubeconfig user ${who.user} holds a ${privilegedGroup} client certificate, which the API server allows everything and no RBAC can narrow; this delivery needs ${needs} in ${namespace}; fix: deploy as an identity bound to what \`keyslot permissions --stack ${stack} --cluster ${cluster}\` prints for the Pulumi deployer`,
    );
  },
};
