/**
 * The permissions one stack needs, and nothing more: per identity (the Pulumi deployer, keyslot's
 * own), the Kubernetes RBAC rules of each cluster, the Azure actions on each resource and the AWS
 * actions on each ARN. Derived from the stack's plan (./planner.ts) the way the adapters call the
 * APIs (src/adapters/clusters/kubernetes/*, src/adapters/cloud/*, src/program/*); a grant names
 * the README row it belongs to, and `permissionTable` renders that table (a test holds them equal).
 * Pure: `keyslot permissions` prints it.
 *
 * Upstream rules encoded here:
 * - RBAC `resourceNames`: kubernetes/website content/en/docs/reference/access-authn-authz/rbac.md,
 *   "Referring to resources": a top-level `create` and `deletecollection` cannot be limited by
 *   name, a subresource create on a named object can (`serviceaccounts/token` of `default`), and
 *   a `list` or `watch` can only when the request selects `metadata.name` — the API server takes
 *   that name as the request's (kubernetes/kubernetes v1.33.0,
 *   staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, GetRequestInfo). The
 *   rollout wait's watch does; every other list here selects by label or not at all.
 * - Azure actions: MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/
 *   databases.md (Microsoft.DocumentDB), storage.md (Microsoft.Storage), security.md
 *   (Microsoft.KeyVault: `vaults/secrets/read` returns no value, `vaults/secrets/write` sets it).
 * - AWS actions and ARNs: the Service Authorization Reference (docs.aws.amazon.com/
 *   service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html: access-key
 *   actions take the `user` resource; list_awssecretsmanager.html: `secret`, whose ARN ends in six
 *   random characters, hence `-??????` after a name); `sts:GetCallerIdentity` needs no grant
 *   (docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
 * - What Pulumi's providers call: hashicorp/terraform-provider-aws internal/service/iam/access_key.go
 *   (CreateAccessKey, DeleteAccessKey; its Read, a refresh only, ListAccessKeys) and internal/service/secretsmanager/secret_version.go
 *   (PutSecretValue, then GetSecretValue to read the version back; UpdateSecretVersionStage on delete).
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import type { Delivery } from '../config/schema.ts';
import { selects } from './clusters.ts';
import { deliveredSecrets } from './discovery.ts';
import { kopsHome } from './kops.ts';
import { isStage, planCredential, tokenReissueCheck, type RotationMode, type StageStep } from './planner.ts';

/** Who holds a grant: the providers inside `pulumi up`, or keyslot's own driver. */
export type Identity = 'keyslot' | 'deployer';
export const identityLabels: Record<Identity, string> = {
  keyslot: "keyslot's own identity",
  deployer: 'the Pulumi deployer identity',
};

/** One row of the README's permission table. */
export interface PermissionRow {
  readonly where: string;
  readonly neededFor: string;
  readonly permission: string;
}

/** The README's table, row by row; every grant names its row. Rows "through Pulumi" are the deployer's. */
export const permissionRows = {
  version: {
    where: 'Kubernetes (each cluster a preflight reaches)',
    neededFor: 'every rotation: the preflight asks each cluster for its version',
    permission: '`get` on the `/version` non-resource URL',
  },
  restart: {
    where: 'Kubernetes',
    neededFor: "`restart` (and the preflight check that it would roll, and a rollback's restart)",
    permission:
      "`get`, `patch`, `watch` on the stage's `deployments`, `statefulsets`, `daemonsets` (apps) by name (the wait watches the one object, selected by `metadata.name`), and `list` on `pods` in the stage's namespace (the wait for old pods, Terminating ones included)",
  },
  'verify-logs': {
    where: 'Kubernetes',
    neededFor: '`verify-logs`',
    permission:
      '`get` on the workload (`deployments`, `statefulsets`, `daemonsets`) by name, `list` on `pods`, `get` on `pods/log` in the namespace (every container is read when none is named)',
  },
  discovery: {
    where: 'Kubernetes',
    neededFor: 'discovery (preflight, `plan --discover`, `discover`)',
    permission: "`list` on `deployments`, `statefulsets`, `daemonsets` (apps) in each `kubernetes-secret` delivery's namespace",
  },
  'wait-secret-sync': {
    where: 'Kubernetes',
    neededFor: '`wait-secret-sync`',
    permission:
      "`get` on the stage's `secretproviderclasses` by name, `list` on `secretproviderclasspodstatuses` (both `secrets-store.csi.x-k8s.io`) and on `pods` in the namespace, and `list` on `daemonsets` in `kube-system` (the CSI driver's rotation flags)",
  },
  'csi-discovery': {
    where: 'Kubernetes',
    neededFor: '`discover` (`azure-keyvault-secret` deliveries with `clusters`)',
    permission:
      "`list` on `deployments`, `statefulsets`, `daemonsets` in the namespaces of the credential's stages on those clusters (the workloads that mount a SecretProviderClass), and on `daemonsets` in `kube-system`",
  },
  helm: {
    where: 'Kubernetes',
    neededFor: "preflight's Helm check (`kubernetes-secret` deliveries)",
    permission:
      "`get` on the delivered `secrets` by name in the delivery's namespace (only labels and annotations are kept: a Secret a Helm release owns is refused, since the next `helm upgrade` writes the chart's value back)",
  },
  'kops-jwks': {
    where: 'Kubernetes (kOps keysets)',
    neededFor: 'the trust check before a rotation',
    permission:
      '`get` on the `/openid/v1/jwks` non-resource URL (the default `system:service-account-issuer-discovery` binding grants it to authenticated users)',
  },
  'kops-tokens': {
    where: 'Kubernetes (kOps keysets)',
    neededFor: 'the token check before a rotation, and `discover`',
    permission:
      "`list` on `secrets` in all namespaces (only `type=kubernetes.io/service-account-token` is asked for, and only each token's header is read, but RBAC cannot narrow a list by type) and `create` on `serviceaccounts/token` named `default` in `kube-system`",
  },
  'kops-discovery': {
    where: 'Kubernetes (kOps keysets)',
    neededFor: '`discover`',
    permission: '`list` on `deployments`, `statefulsets`, `daemonsets` in all namespaces (every pod reads a projected token)',
  },
  'kops-disruptive': {
    where: 'Kubernetes (kOps keysets)',
    neededFor: '`rotate --disruptive` (listed by `permissions --disruptive`)',
    permission:
      '`patch` on `secrets` (each legacy token reissued), `list`, `get`, `patch`, `watch` on `deployments`, `statefulsets`, `daemonsets` and `list` on `pods` (every workload restarted), in all namespaces',
  },
  'kops-state': {
    where: 'kOps state store',
    neededFor: '`kops-keyset`',
    permission:
      'what `kops get keypairs`, `promote`/`distrust`/`create keypair` and `update cluster --yes` need: read and write on the state store bucket, and the cloud permissions of `kops update cluster`',
  },
  exec: {
    where: 'Kubernetes',
    neededFor: '`exec` stages',
    permission: "nothing of keyslot's own: the command runs with the cluster's kubeconfig and needs what it does",
  },
  gardener: {
    where: 'Kubernetes',
    neededFor: '`annotate` / `wait-reconciled`',
    permission:
      "`list`, `patch` on `shoots.core.gardener.cloud` in the project namespace (`patch` by name when an `annotate` stage names its `shoots`); `list` on `secretbindings.core.gardener.cloud` there for `wait-reconciled`'s preflight and for `discover`",
  },
  lock: {
    where: 'Kubernetes (primary cluster)',
    neededFor: 'the lock',
    permission:
      "`get`, `update` on the Lease `keyslot-rotation-<stack>` and `create` on `leases.coordination.k8s.io` (a create cannot be limited to a name) in `kube-system` (written and judged as client-go's leader election does: MicroTime `renewTime`/`acquireTime`, `leaseTransitions`, every write a compare-and-swap on the `resourceVersion` read, another holder's lease free only once this driver has seen it unchanged for its duration, released by emptying the holder)",
  },
  'secret-delivery': {
    where: 'Kubernetes (through Pulumi)',
    neededFor: '`kubernetes-secret` deliveries',
    permission:
      "`get`, `patch`, `delete` on the delivered `secrets` by name, and `create`, `list`, `watch` on `secrets` in the delivery's namespace (pulumi-kubernetes creates a Secret by a plain POST, and waits for a deleted one by watching all of the namespace's Secrets: without `list` and `watch` a delete never returns); `manage: patch`: `get`, `patch` by name only (a SecretPatch is applied, and relinquished by one more apply)",
  },
  'account-keys-read': {
    where: 'Azure (through Pulumi)',
    neededFor: '`azure-cosmosdb-keys`, `azure-storage-keys`',
    permission:
      '`Microsoft.DocumentDB/databaseAccounts/read` and `Microsoft.DocumentDB/databaseAccounts/listKeys/action`, or `Microsoft.Storage/storageAccounts/listKeys/action`, on the account (the invokes that read the keys at every preview and up)',
  },
  'cosmos-keys': {
    where: 'Azure',
    neededFor: '`azure-cosmosdb-keys`',
    permission:
      "`Microsoft.DocumentDB/databaseAccounts/read` (a key's generation time), `Microsoft.DocumentDB/databaseAccounts/listKeys/action` (the standby key test), `Microsoft.DocumentDB/databaseAccounts/regenerateKey/action` on the account",
  },
  'storage-keys': {
    where: 'Azure',
    neededFor: '`azure-storage-keys`',
    permission:
      "`Microsoft.Storage/storageAccounts/listKeys/action` (the standby key test, a key's creation time), `Microsoft.Storage/storageAccounts/regenerateKey/action` on the account",
  },
  'vault-delivery': {
    where: 'Azure (through Pulumi)',
    neededFor: '`azure-keyvault-secret` deliveries',
    permission:
      'management plane: `Microsoft.KeyVault/vaults/secrets/read` and `Microsoft.KeyVault/vaults/secrets/write` on the vault (azure-native writes `properties.value` through Azure Resource Manager: a custom role with these two actions, or *Key Vault Contributor* (`Microsoft.KeyVault/*`) scoped to the vault; a data-plane role such as *Key Vault Secrets Officer* does not grant them)',
  },
  'vault-version': {
    where: 'Azure',
    neededFor: '`wait-secret-sync`',
    permission:
      "`Microsoft.KeyVault/vaults/secrets/read` on the vault serving each of the stage's clusters (the current version's id; ARM returns no value)",
  },
  'iam-key-replace': {
    where: 'AWS (through Pulumi)',
    neededFor: '`aws-iam-access-key`',
    permission:
      '`iam:CreateAccessKey`, `iam:DeleteAccessKey` on the user (a generation bump replaces its key; a `pulumi refresh`, which keyslot never runs, also reads the keys with `iam:ListAccessKeys`)',
  },
  'iam-key-watch': {
    where: 'AWS',
    neededFor: '`aws-iam-access-key`',
    permission:
      '`iam:ListAccessKeys`, `iam:GetAccessKeyLastUsed` (was the freed key used after the gate?) and `iam:UpdateAccessKey` (switched off for a `soakMinutes`, on again by a rollback) on the user; the standby key itself needs nothing: `sts:GetCallerIdentity` is always allowed',
  },
  'secretsmanager-delivery': {
    where: 'AWS (through Pulumi)',
    neededFor: '`aws-secretsmanager-secret` deliveries',
    permission:
      "`secretsmanager:PutSecretValue`, `secretsmanager:GetSecretValue` (the provider reads the new version back) and `secretsmanager:UpdateSecretVersionStage` (a replaced version's labels) on the secret; with a customer managed KMS key, `kms:GenerateDataKey` and `kms:Decrypt` on it too",
  },
} as const satisfies Record<string, PermissionRow>;
export type RowId = keyof typeof permissionRows;

/** The README's table, as Markdown. */
export function permissionTable(): string {
  const rows = Object.values(permissionRows).map((r: PermissionRow) => `| ${r.where} | ${r.neededFor} | ${r.permission} |`);
  return ['| where | needed for | permission |', '| --- | --- | --- |', ...rows].join('\n');
}

/** A Kubernetes RBAC PolicyRule (rbac.authorization.k8s.io/v1), fields as the API names them. */
export interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

interface Grant {
  readonly identity: Identity;
  readonly row: RowId;
  /** Which stage, delivery or check calls it. */
  readonly why: string;
  /** Why a grant that can read, write or mint a credential is needed; absent for the others. */
  readonly sensitive?: string;
}

export interface KubernetesGrant extends Grant {
  readonly cluster: string;
  /** Undefined: cluster-wide (a ClusterRole), as are non-resource URLs. */
  readonly namespace?: string;
  readonly rule: PolicyRule;
}

/** An Azure action on an ARM id, or an AWS action on an ARN. */
export interface CloudGrant extends Grant {
  /** The ARM id (Azure: the role's assignment scope) or the ARN (AWS: the statement's resource). */
  readonly resource: string;
  readonly action: string;
  /** The credential it is for. */
  readonly credential: string;
}

export interface StackPermissions {
  readonly stack: string;
  readonly kubernetes: readonly KubernetesGrant[];
  readonly azure: readonly CloudGrant[];
  readonly aws: readonly CloudGrant[];
}

export interface PermissionOptions {
  /** Also what `rotate --disruptive` calls. @default false */
  readonly disruptive?: boolean;
  /** For sources and deliveries that name none (keyslot reads $AZURE_SUBSCRIPTION_ID). @default `{subscriptionId}` */
  readonly azureSubscriptionId?: string;
}

/** The lock's Lease, as src/driver/lock.ts names it. */
export function lockLeaseName(stack: string): string {
  return `keyslot-rotation-${stack}`.slice(0, 63);
}

const apps = 'apps';
const plurals = { deployment: 'deployments', statefulset: 'statefulsets', daemonset: 'daemonsets' } as const;
const workloadPlurals = Object.values(plurals);

/** The rules for named workloads, one per kind (a name in a rule applies to every resource of it). */
function workloadRules(refs: readonly string[], verbs: string): PolicyRule[] {
  const byKind = new Map<string, string[]>();
  for (const ref of refs) {
    const [kind, name] = ref.split('/') as [keyof typeof plurals, string];
    byKind.set(plurals[kind], [...(byKind.get(plurals[kind]) ?? []), name]);
  }
  return [...byKind].map(([plural, names]) => rule(apps, plural, verbs, names));
}

const stageRefs = (s: { workload?: string; firstExisting?: readonly string[] }) =>
  s.workload ? [s.workload] : [...(s.firstExisting ?? [])];

/** Every plan of the stack a command can run: rotate (which calls all emergency calls and more), and disruptive on request. */
function plansOf(config: StackConfig, cred: Credential, options: PermissionOptions) {
  const modes: RotationMode[] = options.disruptive ? ['rotate', 'disruptive'] : ['rotate'];
  return modes.map((mode) => planCredential(config, cred, mode));
}

/** A PolicyRule in short: one API group, space-separated resources and verbs, names if any. */
function rule(group: string, resources: string, verbs: string, names?: readonly string[]): PolicyRule {
  const named = names ? { resourceNames: [...names] } : {};
  return { apiGroups: [group], resources: resources.split(' '), verbs: verbs.split(' '), ...named };
}
const url = (path: string): PolicyRule => ({ nonResourceURLs: [path], verbs: ['get'] });
const workloads = workloadPlurals.join(' ');

/** Adds rules of one row for one identity on a cluster (`namespace` undefined: cluster-wide). */
type Add = (row: RowId, cluster: string, namespace: string | undefined, why: string, rules: PolicyRule[], sensitive?: string) => void;

function kubernetesGrants(config: StackConfig, options: PermissionOptions): KubernetesGrant[] {
  const out: KubernetesGrant[] = [];
  const adder =
    (identity: Identity): Add =>
    (row, cluster, namespace, why, rules, sensitive) => {
      for (const r of rules) {
        const where = namespace !== undefined ? { namespace } : {};
        out.push({ identity, row, cluster, ...where, rule: r, why, ...(sensitive ? { sensitive } : {}) });
      }
    };
  const k = adder('keyslot');
  const deployer = adder('deployer');
  for (const cred of config.credentials) {
    for (const plan of plansOf(config, cred, options)) {
      const preflight = plan.steps.find((s) => s.kind === 'preflight');
      // rollouts.ts ping: GET /version on every cluster the credential's preflight reaches.
      for (const c of preflight?.clusters ?? []) k('version', c, undefined, `${cred.name}: preflight`, [url('/version')]);
      for (const step of plan.steps.filter(isStage)) stageGrants(cred, step, k);
      if (cred.source.type !== 'kops-keyset') continue;
      const home = kopsHome(config.clusters, cred.source.cluster);
      const what = `${cred.name} (kOps keyset ${cred.source.keyset})`;
      // tokens.ts verificationKeyIds: the issuer's JWKS, before promoting next.
      if (plan.mode !== 'disruptive') k('kops-jwks', home, undefined, `${what}: the trust check`, [url('/openid/v1/jwks')]);
      if (preflight?.checks.some((c) => c.startsWith(tokenReissueCheck))) {
        // tokens.ts signingKeyId: a TokenRequest, a subresource create on a named object.
        const minted = 'mints a 10-minute token of kube-system/default (read for its key id, then dropped)';
        k(
          'kops-tokens',
          home,
          'kube-system',
          `${what}: the token check`,
          [rule('', 'serviceaccounts/token', 'create', ['default'])],
          minted,
        );
        // tokens.ts tokenSecrets: every namespace, by a field selector on type, which RBAC cannot narrow.
        const listed = 'the answer holds every legacy service-account token Secret of the cluster, data included';
        k('kops-tokens', home, undefined, `${what}: the token check, and discover`, [rule('', 'secrets', 'list')], listed);
      }
      if (plan.mode === 'disruptive') {
        // kops.ts reissueEverything: every legacy token reissued, every workload restarted and rolled out.
        const why = `${what}: rotate --disruptive reissues every legacy token and restarts every workload`;
        k('kops-disruptive', home, undefined, why, [rule('', 'secrets', 'list patch')], 'patch rewrites any Secret of the cluster');
        const podTemplates = "patch changes any workload's pod template, and so what its pods run and mount";
        k('kops-disruptive', home, undefined, why, [rule(apps, workloads, 'list get patch watch')], podTemplates);
        k('kops-disruptive', home, undefined, why, [rule('', 'pods', 'list')]);
      }
    }
    // driver/discover.ts discoverWorld (`keyslot discover`), beyond what the preflight lists.
    if (cred.source.type === 'kops-keyset') {
      const home = kopsHome(config.clusters, cred.source.cluster);
      k('kops-discovery', home, undefined, `${cred.name}: discover lists every workload`, [rule(apps, workloads, 'list')]);
    }
    for (const d of cred.deliver) {
      if (d.type !== 'azure-keyvault-secret' || d.clusters === undefined) continue;
      for (const c of config.clusters.filter((c) => selects(config.clusters, d.clusters, c.name))) {
        const here = cred.stages.filter((s) => selects(config.clusters, s.clusters, c.name));
        const namespaces = new Set(here.flatMap((s) => ('namespace' in s ? [s.namespace] : [])));
        const why = `${cred.name}: discover finds the workloads that mount a SecretProviderClass`;
        for (const ns of namespaces) k('csi-discovery', c.name, ns, why, [rule(apps, workloads, 'list')]);
        const flags = `${cred.name}: discover reads the CSI driver's rotation flags`;
        if (namespaces.size) k('csi-discovery', c.name, 'kube-system', flags, [rule(apps, 'daemonsets', 'list')]);
      }
    }
    for (const [cluster, secrets] of deliveredSecrets(config, cred)) {
      for (const s of secrets) {
        const why = `${cred.name}: kubernetes-secret ${s.namespace}/${s.name}`;
        // discovery.ts secretMetadata, the preflight's Helm check.
        const held = 'the answer holds the delivered credential (keyslot keeps only its labels and annotations)';
        k('helm', cluster, s.namespace, `${why}: the Helm check`, [rule('', 'secrets', 'get', [s.name])], held);
        // discovery.ts listConsumers: the preflight, plan --discover and discover.
        k('discovery', cluster, s.namespace, `${why}: consumer discovery`, [rule(apps, workloads, 'list')]);
      }
    }
    for (const d of cred.deliver) {
      if (d.type !== 'kubernetes-secret') continue;
      // program/deliveries.ts: a Secret (create) or a SecretPatch (patch), server-side applied by the provider.
      const why = `${cred.name}: kubernetes-secret ${d.namespace}/${d.name} (manage: ${d.manage})`;
      for (const c of config.clusters.filter((c) => selects(config.clusters, d.clusters, c.name))) {
        for (const r of deliveredSecretRules(d.manage, d.name))
          deployer('secret-delivery', c.name, d.namespace, why, [r.rule], r.sensitive);
      }
    }
  }
  // lock.ts on the primary cluster (else the first), for every rotate, resume and rollback.
  const primary = config.clusters.find((c) => c.primary) ?? config.clusters[0];
  if (primary) {
    const lease = (verbs: string, names?: string[]) => [rule('coordination.k8s.io', 'leases', verbs, names)];
    k('lock', primary.name, 'kube-system', 'the lock', lease('get update', [lockLeaseName(config.stack)]));
    k('lock', primary.name, 'kube-system', 'the lock, the first time it is taken', lease('create'));
  }
  return mergeGrants(out);
}

/** One rule the deployer's provider needs for a delivered Secret, and why it is sensitive, if it is. */
export interface DeliveryRule {
  readonly rule: PolicyRule;
  readonly sensitive: string;
}

/**
 * What the deployer's Kubernetes provider calls for one delivered Secret (program/deliveries.ts: a
 * Secret for `manage: create`, a SecretPatch for `manage: patch`), read in pulumi/pulumi-kubernetes
 * v4.32.0 provider/pkg/await/await.go:
 * - a Secret: created by a plain POST (Creation; a preview's is a dry run), so `create` takes no
 *   name; read by name (Read; Update reads the live object first), updated by server-side apply
 *   (ssaUpdate: patch), deleted by name (Deletion). Deletion then waits for the Secret to go through
 *   an informer on the namespace's Secrets with no selector (await/informers/factory.go ForNamespace:
 *   a namespace-wide list and watch, so no name can narrow it), and without `list` and `watch` the
 *   delete never returns (pulumi/pulumi-kubernetes issue #4580).
 * - a SecretPatch: applied by name (Creation's server-side apply branch; Update), read by name, and
 *   on delete its fields relinquished by one more apply (ssa/actions.go Relinquish): no delete, no wait.
 * Both also watch the namespace's core `events` to show warnings while they wait
 * (await/watchers.go NewEventAggregator); refused, the operation goes on without them, so that is
 * not emitted. The policy pack's deployer-least-privilege names these for a delivery it judges.
 */
export function deliveredSecretRules(manage: 'create' | 'patch', name: string): DeliveryRule[] {
  const rw = 'reads and writes the delivered credential';
  if (manage === 'patch') return [{ rule: rule('', 'secrets', 'get patch', [name]), sensitive: rw }];
  return [
    { rule: rule('', 'secrets', 'get patch delete', [name]), sensitive: rw },
    { rule: rule('', 'secrets', 'create'), sensitive: 'creates Secrets in the namespace (a create cannot be limited to a name)' },
    {
      rule: rule('', 'secrets', 'list watch'),
      sensitive:
        "the answer holds every Secret of the namespace, data included: pulumi-kubernetes waits for a deleted Secret to go by watching all of the namespace's Secrets, and without it the delete never returns",
    },
  ];
}

/** A rule in one line: `get, patch deployments.apps kubecost-thanos-store`, `get /version`. */
export function ruleText(r: PolicyRule): string {
  const what = r.nonResourceURLs
    ? r.nonResourceURLs.join(', ')
    : (r.resources ?? []).map((res) => (r.apiGroups?.[0] ? `${res}.${r.apiGroups[0]}` : res)).join(', ');
  return `${r.verbs.join(', ')} ${what}${r.resourceNames ? ` ${r.resourceNames.join(', ')}` : ''}`;
}

const within = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x));

/** Whether rule `o` grants everything rule `n` grants (RBAC rules only add up: a rule is a union of its atoms). */
export function covers(o: PolicyRule, n: PolicyRule): boolean {
  if (!within(n.verbs, o.verbs)) return false;
  if (n.nonResourceURLs || o.nonResourceURLs)
    return Boolean(n.nonResourceURLs && o.nonResourceURLs) && within(n.nonResourceURLs, o.nonResourceURLs);
  if (!within(n.apiGroups, o.apiGroups) || !within(n.resources, o.resources)) return false;
  return o.resourceNames === undefined || (n.resourceNames !== undefined && within(n.resourceNames, o.resourceNames));
}

/** What one stage calls on each of its clusters (src/driver/stages/*, src/driver/preflight.ts). */
function stageGrants(cred: Credential, step: StageStep, k: Add): void {
  const why = `${cred.name}: stage ${step.stage + 1} (${step.kind})`;
  const pods = rule('', 'pods', 'list');
  for (const c of step.clusters) {
    switch (step.kind) {
      case 'restart':
        // rollouts.ts: read (preflight, exists, restartStamp), merge patch, a watch by metadata.name, pods by label.
        k('restart', c, step.namespace, why, [...workloadRules(stageRefs(step), 'get patch watch'), pods]);
        break;
      case 'verify-logs':
        // logs.ts checkLogs: read, pods by label, each container's log (pod names are not known in advance).
        k('verify-logs', c, step.namespace, why, [...workloadRules(stageRefs(step), 'get'), pods, rule('', 'pods/log', 'get')]);
        break;
      case 'wait-secret-sync': {
        // csi.ts: the class, its pods' statuses, the running pods; the driver's DaemonSet flags.
        const csi = 'secrets-store.csi.x-k8s.io';
        const spc = rule(csi, 'secretproviderclasses', 'get', [step.secretProviderClass]);
        k('wait-secret-sync', c, step.namespace, why, [spc, rule(csi, 'secretproviderclasspodstatuses', 'list'), pods]);
        k('wait-secret-sync', c, 'kube-system', `${why}: the CSI driver's rotation flags`, [rule(apps, 'daemonsets', 'list')]);
        break;
      }
      case 'annotate':
      case 'wait-reconciled': {
        // gardener.ts: Shoots listed (the preflight, the wait) and merge-patched; SecretBindings listed.
        const g = 'core.gardener.cloud';
        const named = step.kind === 'annotate' ? step.shoots : undefined;
        k('gardener', c, step.namespace, why, [
          rule(g, 'shoots', 'list'),
          rule(g, 'shoots', 'patch', named),
          rule(g, 'secretbindings', 'list'),
        ]);
        break;
      }
      case 'verify-http':
      case 'exec':
        break;
    }
  }
}

const sameList = (a?: readonly string[], b?: readonly string[]) => (a ?? []).join(',') === (b ?? []).join(',');

/** Rules that differ only in their names merge (names unioned); identical rules keep one, their reasons joined. */
export function mergeGrants(grants: readonly KubernetesGrant[]): KubernetesGrant[] {
  const out: KubernetesGrant[] = [];
  for (const g of grants) {
    const same = out.findIndex(
      (o) =>
        o.identity === g.identity &&
        o.row === g.row &&
        o.cluster === g.cluster &&
        o.namespace === g.namespace &&
        sameList(o.rule.apiGroups, g.rule.apiGroups) &&
        sameList(o.rule.resources, g.rule.resources) &&
        sameList(o.rule.verbs, g.rule.verbs) &&
        sameList(o.rule.nonResourceURLs, g.rule.nonResourceURLs) &&
        (o.rule.resourceNames === undefined) === (g.rule.resourceNames === undefined),
    );
    if (same < 0) {
      out.push(g);
      continue;
    }
    const o = out[same]!;
    const names = o.rule.resourceNames && [...new Set([...o.rule.resourceNames, ...(g.rule.resourceNames ?? [])])];
    const why = o.why.split('; ').includes(g.why) ? o.why : `${o.why}; ${g.why}`;
    out[same] = { ...o, rule: { ...o.rule, ...(names ? { resourceNames: names } : {}) }, why };
  }
  return out;
}

/** An ARM id, with the subscription keyslot falls back to when the config names none. */
function armId(sub: string | undefined, options: PermissionOptions, rg: string, type: string, name: string): string {
  return `/subscriptions/${sub ?? options.azureSubscriptionId ?? '{subscriptionId}'}/resourceGroups/${rg}/providers/${type}/${name}`;
}

/** Cloud actions that read, write or mint a credential, and why each is needed anyway. */
const sensitiveActions: Record<string, string> = {
  'Microsoft.DocumentDB/databaseAccounts/listKeys/action': "the answer holds the account's keys",
  'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action': 'mints a new key in place of the freed one, after the gate',
  'Microsoft.Storage/storageAccounts/listKeys/action': "the answer holds the account's keys",
  'Microsoft.Storage/storageAccounts/regenerateKey/action':
    'mints a new key in place of the freed one, after the gate; the answer holds the keys',
  'Microsoft.KeyVault/vaults/secrets/write': "sets the secret's value: the credential every reader of the vault gets",
  'iam:CreateAccessKey': 'mints an access key of the user; the answer holds its secret',
  'secretsmanager:PutSecretValue': "writes the secret's value: the credential its readers get",
  'secretsmanager:GetSecretValue': "the answer holds the secret's value",
};

type Vault = Extract<Delivery, { type: 'azure-keyvault-secret' }>;

function cloudGrants(config: StackConfig, options: PermissionOptions): { azure: CloudGrant[]; aws: CloudGrant[] } {
  const azure: CloudGrant[] = [];
  const aws: CloudGrant[] = [];
  const adder =
    (out: CloudGrant[], credential: string) =>
    (identity: Identity, row: RowId, resource: string, actions: readonly string[], why: string) => {
      for (const action of actions) {
        if (out.some((g) => g.identity === identity && g.resource === resource && g.action === action)) continue;
        const sensitive = sensitiveActions[action];
        out.push({ identity, row, credential, resource, action, why: `${credential}: ${why}`, ...(sensitive ? { sensitive } : {}) });
      }
    };
  const vaultId = (d: Vault) => armId(d.subscriptionId, options, d.resourceGroupName, 'Microsoft.KeyVault/vaults', d.vaultName);
  for (const cred of config.credentials) {
    const s = cred.source;
    const az = adder(azure, cred.name);
    const keysRead = 'the keys read at every preview and up';
    const keyOps = 'the standby key test, key times, the regeneration';
    if (s.type === 'azure-cosmosdb-keys') {
      const type = 'Microsoft.DocumentDB/databaseAccounts';
      const id = armId(s.subscriptionId, options, s.resourceGroupName, type, s.accountName);
      // program/sources/azureCosmosDbKeys.ts: getDatabaseAccount, listDatabaseAccountKeys.
      az('deployer', 'account-keys-read', id, [`${type}/read`, `${type}/listKeys/action`], keysRead);
      // adapters/cloud/azure.ts: testKey (listKeys), keyCreatedAt (read), regenerate.
      az('keyslot', 'cosmos-keys', id, [`${type}/read`, `${type}/listKeys/action`, `${type}/regenerateKey/action`], keyOps);
    }
    if (s.type === 'azure-storage-keys') {
      const type = 'Microsoft.Storage/storageAccounts';
      const id = armId(s.subscriptionId, options, s.resourceGroupName, type, s.accountName);
      // program/sources/azureStorageKeys.ts: listStorageAccountKeys; adapters/cloud/azure.ts as for Cosmos DB.
      az('deployer', 'account-keys-read', id, [`${type}/listKeys/action`], keysRead);
      az('keyslot', 'storage-keys', id, [`${type}/listKeys/action`, `${type}/regenerateKey/action`], keyOps);
    }
    // program/deliveries.ts: azure-native keyvault.Secret (ARM), adopted by import where asked.
    const kv = 'Microsoft.KeyVault/vaults/secrets';
    for (const d of cred.deliver)
      if (d.type === 'azure-keyvault-secret')
        az('deployer', 'vault-delivery', vaultId(d), [`${kv}/read`, `${kv}/write`], `azure-keyvault-secret ${d.vaultName}/${d.secretName}`);
    // driver/stages/csi.ts vaultServing, awaitMounts: the current version of the vault serving each cluster.
    for (const stage of planCredential(config, cred).steps.filter(isStage)) {
      if (stage.kind !== 'wait-secret-sync') continue;
      for (const c of stage.clusters) {
        const d = cred.deliver.find((x): x is Vault => x.type === 'azure-keyvault-secret' && selects(config.clusters, x.clusters, c));
        if (d) az('keyslot', 'vault-version', vaultId(d), [`${kv}/read`], `stage ${stage.stage + 1} (wait-secret-sync) on ${c}`);
      }
    }
    const aw = adder(aws, cred.name);
    if (s.type === 'aws-iam-access-key') {
      // The account is the caller's own: an IAM user takes no resource policy, so `*` reaches no other account.
      const user = `arn:aws:iam::*:user/${s.userName}`;
      // program/sources/awsIamAccessKey.ts: aws.iam.AccessKey per slot, replaced on a generation bump.
      aw('deployer', 'iam-key-replace', user, ['iam:CreateAccessKey', 'iam:DeleteAccessKey'], 'the access key of each slot');
      // adapters/cloud/aws.ts: metadata (ListAccessKeys), keyLastUsedAt, setActive (the soak; a rollback's reactivation).
      const watch = ['iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:UpdateAccessKey'];
      aw('keyslot', 'iam-key-watch', user, watch, 'key use after the gate, the soak, a rollback');
    }
    const sm = ['secretsmanager:PutSecretValue', 'secretsmanager:GetSecretValue', 'secretsmanager:UpdateSecretVersionStage'];
    for (const d of cred.deliver)
      if (d.type === 'aws-secretsmanager-secret')
        aw('deployer', 'secretsmanager-delivery', secretArn(d.secretId), sm, `aws-secretsmanager-secret ${d.secretId}`);
  }
  return { azure, aws };
}

/** A Secrets Manager secret's ARN: as given, or any region and account for a name (its ARN ends in `-` and six random characters). */
export function secretArn(secretId: string): string {
  return secretId.startsWith('arn:') ? secretId : `arn:aws:secretsmanager:*:*:secret:${secretId}-??????`;
}

/** Everything the stack needs, per identity: only what its plans, deliveries and sources can call. */
export function stackPermissions(config: StackConfig, options: PermissionOptions = {}): StackPermissions {
  return { stack: config.stack, kubernetes: kubernetesGrants(config, options), ...cloudGrants(config, options) };
}
