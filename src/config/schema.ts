/**
 * The one schema of a keyslot stack: the `keyslot:*` keys of `stacks/Pulumi.<stack>.yaml`.
 * The Pulumi program, `keyslot plan`, the driver and the policy pack all parse through here, so a
 * stack that one accepts, all accept. Everything downstream trusts the parsed types.
 */
import { z } from 'zod';
import { projectPath } from './projectRoot.ts';

/** A DNS-1123 label: what keyslot's own names and Kubernetes namespaces must both be. */
const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const name = z.string().regex(dnsLabel, 'a lowercase DNS label (a-z, 0-9, "-")');
/** An object name: a DNS-1123 subdomain, at most 253 characters (also the name part of a workload reference). */
const objectName = '[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?';
export const k8sName = z
  .string()
  .regex(new RegExp(`^${objectName}$`), 'a Kubernetes object name (lowercase letters, digits, "-" and ".", at most 253 characters)');
/** A namespace: a DNS-1123 label (no dots), at most 63 characters, as the API server requires. */
export const k8sNamespace = z
  .string()
  .regex(dnsLabel, 'a Kubernetes namespace (a DNS-1123 label: lowercase letters, digits and "-", at most 63 characters)');
const timestamp = z.iso.datetime({ offset: true });
/** `pulumi config set --path` may store a number as a string; both mean the same generation. */
const generationNumber = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .transform(Number),
]);

/** A cluster selector: every cluster, the one marked `primary`, or a list of cluster names. */
export const clusterSelector = z.union([z.literal('all'), z.literal('primary'), z.array(name).min(1)]);
export type ClusterSelector = z.infer<typeof clusterSelector>;

export const cluster = z.strictObject({
  name,
  /** kubeconfig context; @default the current context of the kubeconfig. */
  context: z.string().min(1).optional(),
  /**
   * Path of a kubeconfig file, made absolute once here: relative to the project folder (where
   * Pulumi.yaml is, as the Kubernetes provider reads it), `~/` the home folder.
   * @default `$KUBECONFIG` or `~/.kube/config`
   */
  kubeconfigPath: z.string().min(1).transform(projectPath).optional(),
  /** Name of a secret `keyslot:` config key holding a whole kubeconfig. */
  kubeconfigSecret: z.string().min(1).optional(),
  /** The cluster that hosts singletons such as `thanos-store`. @default false */
  primary: z.boolean().default(false),
});
export type Cluster = z.infer<typeof cluster>;

// ---- sources: where a credential's keys come from ------------------------------------------

export const sourceSchemes = {
  random: 'dual',
  'aws-iam-access-key': 'dual',
  'azure-cosmosdb-keys': 'dual',
  'azure-storage-keys': 'dual',
  'tls-signing-key': 'triple',
  'kops-keyset': 'triple',
  'gardener-kubeconfig': 'managed',
} as const;
export type SourceType = keyof typeof sourceSchemes;
export type Scheme = (typeof sourceSchemes)[SourceType];

/** The template variables each source provides to deliveries, besides `slot` and `generation`. */
export const sourceVars: Record<SourceType, readonly string[]> = {
  random: ['value'],
  'aws-iam-access-key': ['accessKeyId', 'secretAccessKey'],
  'azure-cosmosdb-keys': ['key', 'accountName', 'accountEndpoint', 'connectionString'],
  'azure-storage-keys': ['key', 'accountName', 'connectionString'],
  'tls-signing-key': ['privateKeyPem', 'publicKeyPem', 'trustBundle'],
  'kops-keyset': [],
  'gardener-kubeconfig': [],
};
export const commonVars = ['slot', 'generation'] as const;

export const source = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('random'),
    /** @default 40 */
    length: z.number().int().min(16).max(256).default(40),
  }),
  z.strictObject({
    type: z.literal('aws-iam-access-key'),
    /** An existing IAM user; keyslot manages its two access keys, not the user. */
    userName: z.string().min(1),
    /** @default the provider's region */
    region: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('azure-cosmosdb-keys'),
    /** The account's subscription, for the driver's key operations. @default $AZURE_SUBSCRIPTION_ID */
    subscriptionId: z.uuid().optional(),
    resourceGroupName: z.string().min(1),
    accountName: z.string().min(1),
    /** Rotate the read-only key pair instead of the read-write one. @default false */
    readOnly: z.boolean().default(false),
  }),
  z.strictObject({
    type: z.literal('azure-storage-keys'),
    /** The account's subscription, for the driver's key operations. @default $AZURE_SUBSCRIPTION_ID */
    subscriptionId: z.uuid().optional(),
    resourceGroupName: z.string().min(1),
    accountName: z.string().min(1),
  }),
  z.strictObject({
    type: z.literal('tls-signing-key'),
    /** @default RSA */
    algorithm: z.enum(['RSA', 'ECDSA', 'ED25519']).default('RSA'),
  }),
  z.strictObject({
    /**
     * A keyset kOps keeps in its state store (the service-account token signing keys of a kOps
     * cluster). kOps owns the keys; keyslot drives `kops` (promote, distrust, create keypair, update
     * cluster) and mirrors the keypair ids of previous/primary/next in `keyslot:generations`.
     */
    type: z.literal('kops-keyset'),
    /** The kOps cluster name (`kops --name`). */
    clusterName: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'a kOps cluster name (a DNS name)'),
    /** The kOps state store (`kops --state`), e.g. `s3://example-kops-state`. */
    stateStore: z.string().regex(/^(s3|gs|azureblob|swift|do|scw|memfs|file):\/\/\S+$/, 'a kOps state store URL such as s3://bucket'),
    /** @default service-account */
    keyset: z.literal('service-account').default('service-account'),
    /** The keyslot cluster whose API servers use the keyset. @default the primary cluster */
    cluster: name.optional(),
    /**
     * How long after a control-plane rolling update every projected service-account token has been
     * reissued with the new primary key: the kubelet refreshes a token at 80 % of its lifetime and
     * at the latest after 24 hours. The next rotation, which distrusts the previous key, is refused
     * sooner — `--force` or not. @default 24
     */
    tokenRefreshHours: z.number().positive().max(8760).default(24),
  }),
  z.strictObject({
    type: z.literal('gardener-kubeconfig'),
  }),
]);
export type Source = z.infer<typeof source>;

// ---- deliveries: where the active slot's value goes -----------------------------------------

/** Template strings such as `${accessKeyId}`; the variables must be ones the source provides. */
const template = z.string().min(1);

export const delivery = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('kubernetes-secret'),
    /** @default all */
    clusters: clusterSelector.default('all'),
    namespace: k8sNamespace,
    name: k8sName,
    /** Secret data keys (`cloud-integration.json`, `object-store.yaml`, ...) to templates. */
    data: z
      .record(z.string().regex(/^[-._a-zA-Z0-9]+$/, 'a Secret data key'), template)
      .refine((d) => Object.keys(d).length > 0, 'at least one data key'),
    /** `create` owns the Secret; `patch` only sets these keys on a Secret someone else owns. @default create */
    manage: z.enum(['create', 'patch']).default('create'),
  }),
  z.strictObject({
    type: z.literal('azure-keyvault-secret'),
    resourceGroupName: z.string().min(1),
    vaultName: z.string().min(1),
    secretName: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, 'a Key Vault secret name'),
    value: template,
    /**
     * Adopt a secret that already exists in the vault (Pulumi's `import` option with its ARM id)
     * instead of creating it: azure-native refuses to create a secret that exists. Needs
     * `subscriptionId`. Harmless once the secret is in the stack. @default false
     */
    adopt: z.boolean().default(false),
    /** The vault's subscription; required with `adopt`. */
    subscriptionId: z
      .string()
      .regex(/^[0-9a-fA-F-]{36}$/, 'a subscription id (a GUID)')
      .optional(),
    /**
     * The clusters whose pods read this vault (through the Secrets Store CSI driver): a stamp's
     * vault serves that stamp's cluster. `plan` warns about a stage on a cluster no delivery
     * serves, and a `wait-secret-sync` stage waits for this vault's version. @default unknown
     */
    clusters: clusterSelector.optional(),
  }),
  z.strictObject({
    type: z.literal('aws-secretsmanager-secret'),
    /** The ARN or name of an existing secret; keyslot writes its current version. */
    secretId: z.string().min(1),
    value: template,
  }),
]);
export type Delivery = z.infer<typeof delivery>;

// ---- stages: what happens after `up`, in order ----------------------------------------------

const workload = z
  .string()
  .regex(
    new RegExp(`^(deployment|statefulset|daemonset)/${objectName}$`),
    'kind/name with kind deployment, statefulset or daemonset and a name of at most 253 characters',
  );
export type WorkloadRef = `${'deployment' | 'statefulset' | 'daemonset'}/${string}`;

/**
 * What every stage may say about its place in the schedule: an `id` other stages name, and the
 * stages it waits for. Without `after` a stage waits for the one before it (the runbook's order);
 * `after: []` starts it with the first stage; `after: [ids]` waits for those (earlier) stages only.
 */
const ordering = {
  id: name.optional(),
  after: z.array(name).optional(),
};

const stageBase = {
  /** @default all */
  clusters: clusterSelector.default('all'),
  ...ordering,
};

export const stage = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('restart'),
    ...stageBase,
    namespace: k8sNamespace,
    /** The workload to restart. Exactly one of `workload` and `firstExisting`. */
    workload: workload.optional(),
    /** Restart the first of these that exists on the cluster. */
    firstExisting: z.array(workload).min(2).optional(),
    /** Skip a cluster where the workload does not exist instead of failing. @default false */
    optional: z.boolean().default(false),
    /** How long the rollout may take. @default 600 */
    timeoutSeconds: z.number().int().positive().default(600),
  }),
  z.strictObject({
    kind: z.literal('verify-logs'),
    ...stageBase,
    namespace: k8sNamespace,
    /** The workload whose pods' logs are read. Exactly one of `workload` and `firstExisting`. */
    workload: workload.optional(),
    firstExisting: z.array(workload).min(2).optional(),
    /** Skip a cluster where the workload does not exist. @default false */
    optional: z.boolean().default(false),
    container: z.string().min(1).optional(),
    /** Regular expressions (matched case-insensitively) that mean the new key was rejected. @default the source's auth errors (see `src/model/logPatterns.ts`) */
    patterns: z.array(z.string().min(1)).min(1).optional(),
    /** How much log since the restart to read. @default 120 */
    windowSeconds: z.number().int().positive().default(120),
  }),
  z.strictObject({
    kind: z.literal('verify-http'),
    ...ordering,
    /** No default: without `clusters` the probe runs once. `${cluster}` in the URL is substituted. */
    clusters: clusterSelector.optional(),
    url: z.url({ protocol: /^https?$/ }).or(z.string().regex(/^https?:\/\/\S*\$\{cluster\}\S*$/, 'an http(s) URL')),
    /** @default 200 */
    expectStatus: z.number().int().min(100).max(599).default(200),
    /** A field of the JSON answer that must have this value, e.g. `{ path: status.cloudIntegration, equals: ok }`. */
    expectJson: z
      .strictObject({
        path: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a dotted path such as status.healthy'),
        equals: z.union([z.string(), z.number(), z.boolean()]),
      })
      .optional(),
    /** @default 60 */
    timeoutSeconds: z.number().int().positive().default(60),
  }),
  z.strictObject({
    kind: z.literal('wait-reconciled'),
    ...stageBase,
    /** The Gardener project namespace. */
    namespace: k8sNamespace,
    /** Every Shoot using this SecretBinding must reconcile after the credential changed. */
    secretBinding: k8sName,
    /** @default 3600 */
    timeoutSeconds: z.number().int().positive().default(3600),
  }),
  z.strictObject({
    kind: z.literal('annotate'),
    ...stageBase,
    namespace: k8sNamespace,
    /** Shoots to annotate; or every Shoot using `secretBinding`. */
    shoots: z.array(k8sName).min(1).optional(),
    secretBinding: k8sName.optional(),
    /** @default rotate-kubeconfig-credentials */
    operation: z
      .string()
      .regex(/^[a-z-]+$/)
      .default('rotate-kubeconfig-credentials'),
    /** How long to wait for `.status.credentials.rotation` to report completion. @default 1800 */
    timeoutSeconds: z.number().int().positive().default(1800),
  }),
  z.strictObject({
    /**
     * Waits until the Secrets Store CSI driver has synced the new Key Vault version into every pod
     * of a SecretProviderClass: each `SecretProviderClassPodStatus` of the class in the namespace
     * reports, for the delivered secret, the version the vault holds now. The driver syncs on its
     * rotation poll (`--rotation-poll-interval`, 2 minutes by default); a pod restarted before it
     * would start with the old value.
     */
    kind: z.literal('wait-secret-sync'),
    ...stageBase,
    namespace: k8sNamespace,
    secretProviderClass: k8sName,
    /** @default 600 */
    timeoutSeconds: z.number().int().positive().default(600),
  }),
  z.strictObject({
    kind: z.literal('exec'),
    ...ordering,
    /** No default: without `clusters` the command runs once. */
    clusters: clusterSelector.optional(),
    /** argv; no shell. `${cluster}` is substituted. */
    command: z.array(z.string().min(1)).min(1),
    /** @default 300 */
    timeoutSeconds: z.number().int().positive().default(300),
  }),
]);
export type Stage = z.infer<typeof stage>;
export type StageKind = Stage['kind'];

// ---- credentials -----------------------------------------------------------------------------

export const credential = z.strictObject({
  name,
  /** Must match the source's scheme; @default derived from the source. */
  scheme: z.enum(['dual', 'triple', 'managed']).optional(),
  source,
  deliver: z.array(delivery).default([]),
  stages: z.array(stage).default([]),
  /** Oldest a key may get; rotation is due at 80 % of it. @default the policy pack's `maxAgeDays` (90) */
  maxAgeDays: z.number().int().positive().max(3650).optional(),
  /** Refuse a new rotation sooner than this after the last one. @default 24 */
  minIntervalHours: z.number().nonnegative().default(24),
  /** Minutes to wait after the gate before the freed key is regenerated. @default 0 */
  soakMinutes: z.number().int().nonnegative().default(0),
});
export type CredentialInput = z.infer<typeof credential>;

/**
 * A kOps keypair id (a serial number). `pulumi config set --path` writes one that fits in 64 bits
 * as a YAML integer; it is read back exactly (config/exactNumbers.ts) and held as its digits.
 */
const keypairId = z.union([z.string().regex(/^[0-9]+$/), z.number().int().nonnegative().transform(String)]);

const slotGeneration = z.strictObject({
  generation: generationNumber,
  createdAt: timestamp.optional(),
  /** kOps keysets: the keypair id (a serial number) in this slot, as `kops get keypairs` shows it. */
  keyId: keypairId.optional(),
});
const credentialGenerations = z
  .object({
    /** When the last rotation of this credential finished (written by the record step). */
    lastRotatedAt: timestamp.optional(),
    /** When the rotation before it finished; with lastRotatedAt, what min-rotation-interval checks. */
    previousRotatedAt: timestamp.optional(),
  })
  .catchall(slotGeneration);

/**
 * A rotation in flight, written by the driver before the flip and removed by the record step.
 * Deployed with the stack, so `keyslot resume` on a fresh checkout knows what was started.
 */
export const rotationRecord = z.strictObject({
  id: z.string().regex(/^r-[0-9a-z-]+$/, 'a keyslot rotation id (r-<time>-<credential>)'),
  startedAt: timestamp,
  /** The active slot before the rotation. */
  from: z.string(),
  to: z.string(),
  /** `emergency`: a key was exposed; `disruptive`: both slots are replaced. */
  mode: z.enum(['rotate', 'emergency', 'disruptive']).default('rotate'),
  /** Each slot's generation before the rotation, to re-plan exactly what was started. */
  generations: z.record(z.string(), generationNumber),
  /** kOps keysets: each slot's keypair id before the rotation, so a resumed flip knows what it was moving. */
  keyIds: z.record(z.string(), keypairId).optional(),
});
export type RotationRecord = z.infer<typeof rotationRecord>;

export const stackConfig = z.strictObject({
  clusters: z.array(cluster).default([]),
  credentials: z.array(credential).min(1),
  slots: z.record(z.string(), z.string()).default({}),
  generations: z.record(z.string(), credentialGenerations).default({}),
  /** Rotations in flight, per credential (driver-maintained). */
  rotations: z.record(z.string(), rotationRecord).default({}),
});
export type StackConfigInput = z.input<typeof stackConfig>;
export type StackConfigParsed = z.infer<typeof stackConfig>;
