/**
 * A world description: the deployment a stack rotates, as data. Who reads each Secret, Key Vault
 * secret or service-account token, how they take a new value, which Shoots use which binding, which
 * CSI driver runs where. It is the one format of a shipped reference world (`worlds/`), a world
 * file (`drill --world`) and `keyslot discover --out`; the simulated fleet is built from it alone,
 * never from the stack's stages, so that the drill can see a consumer the stack forgot.
 */
import { z } from 'zod';
import { k8sName, k8sNamespace } from '../config/schema.ts';

const workload = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  kind: z.enum(['deployment', 'statefulset', 'daemonset']),
  name: k8sName,
  /** @default 2 */
  replicas: z.number().int().min(1).max(100).default(2),
  /** @default 5 */
  podStartSeconds: z.number().positive().default(5),
  /** The pods' containers, as a `verify-logs` stage names them. @default [name] */
  containers: z.array(k8sName).min(1).optional(),
  /**
   * What the pods read: Secret names in their namespace; `store:<vault>/<secret>` for a Key Vault
   * secret (mounted through the Secrets Store CSI driver with `secretProviderClass`, or read at start
   * by an SDK); or `token` alone, for pods that authenticate with projected service-account tokens.
   */
  reads: z
    .array(z.string().min(1))
    .min(1)
    .refine((r) => !r.includes('token') || r.length === 1, { message: 'token alone: a token reader reads nothing else here' }),
  /**
   * How the pods take a new value: `restart` (read once, at start: env vars, subPath mounts, a
   * config file read at start) or `reload` (they watch a mounted Secret file, which the kubelet
   * updates up to a minute or two after the Secret changes). @default restart
   */
  takesNewValueBy: z.enum(['restart', 'reload']).default('restart'),
  /** With `reload`: the kubelet's sync delay. @default 90 */
  reloadSeconds: z.number().positive().default(90),
  /** Mounts its `store:` reads through this SecretProviderClass (the cluster's `csiDrivers` entry). */
  secretProviderClass: k8sName.optional(),
  /** The rolling update's limits, as pod counts. @default Kubernetes' defaults for the kind */
  maxSurge: z.number().int().nonnegative().optional(),
  maxUnavailable: z.number().int().nonnegative().optional(),
});

/**
 * The Secrets Store CSI driver on a cluster. Rotation is off unless enabled: the driver's
 * `--enable-secret-rotation` defaults to false and so does the AKS add-on's; when on, it polls every
 * `--rotation-poll-interval` (2 minutes by default).
 */
const csiDriver = z.strictObject({
  cluster: z.string().min(1),
  /** @default false */
  rotation: z.boolean().default(false),
  /** @default 120 */
  pollSeconds: z.number().int().positive().default(120),
});

/**
 * A SecretProviderClass whose `secretObjects` sync mounted objects into Kubernetes Secrets: the CSI
 * driver creates each synced Secret at a pod's first mount if it is missing and updates it only on a
 * rotation pass (secrets-store-csi-driver v1.5.6, controllers/secretproviderclasspodstatus_controller.go,
 * pkg/rotation/reconciler.go). `syncs` maps each synced Secret to the store object it holds.
 */
const providerClass = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  name: k8sName,
  syncs: z.array(z.strictObject({ secret: k8sName, from: z.string().regex(/^store:.+\/.+$/, 'store:<vault>/<secret>') })).min(1),
});

/** A Key Vault secret that exists before keyslot (created with the stamp): a delivery adopts it. */
const vaultSecret = z.strictObject({ vault: z.string().min(1), secret: z.string().min(1) });

/** A Secret the stack does not manage (a license, a CA bundle): it exists, with nothing to rotate in it. */
const otherSecret = z.strictObject({ cluster: z.string().min(1), namespace: k8sNamespace, name: k8sName });

/** A Gardener landscape on a (garden) cluster: its version and the gardenlet's periodic reconcile. */
const gardener = z.strictObject({
  cluster: z.string().min(1),
  /** Gardener's version, `major.minor[.patch]`: which operations its API server accepts. */
  version: z.string().regex(/^v?\d+\.\d+(\.\d+)?$/, 'a version such as 1.110 or v1.110.2'),
  /** The gardenlet's shoot sync period (upstream default 1h). @default 60 */
  syncPeriodMinutes: z.number().positive().default(60),
});

/** A SecretBinding (core.gardener.cloud) or CredentialsBinding (security.gardener.cloud): its name need not be the Secret's. */
const binding = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  kind: z.enum(['SecretBinding', 'CredentialsBinding']).default('SecretBinding'),
  name: k8sName,
  /** The Secret it refers to (same namespace). */
  secret: k8sName,
});

const shoot = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  name: k8sName,
  /** `spec.secretBindingName` or `spec.credentialsBindingName`: a binding of this world. */
  binding: k8sName.optional(),
  /** `spec.hibernation.enabled`. @default false */
  hibernated: z.boolean().default(false),
});

/** A legacy `kubernetes.io/service-account-token` Secret, signed at boot by the primary key. */
const legacyToken = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  name: k8sName,
  /** @default default */
  serviceAccount: k8sName.default('default'),
});

/** A cluster's API servers: how many, and whether they answer anonymous requests. */
const apiServers = z.strictObject({
  cluster: z.string().min(1),
  /** @default 3 */
  count: z.number().int().min(1).max(9).default(3),
  /** kOps sets kube-apiserver `--anonymous-auth=false`. @default false */
  anonymousAuth: z.boolean().default(false),
});

export const worldDescription = z.strictObject({
  /** What the world describes, and where its facts come from. */
  description: z.string().optional(),
  workloads: z.array(workload).default([]),
  csiDrivers: z.array(csiDriver).default([]),
  secretProviderClasses: z.array(providerClass).default([]),
  vaultSecrets: z.array(vaultSecret).default([]),
  otherSecrets: z.array(otherSecret).default([]),
  gardener: z.array(gardener).default([]),
  bindings: z.array(binding).default([]),
  shoots: z.array(shoot).default([]),
  legacyTokens: z.array(legacyToken).default([]),
  apiServers: z.array(apiServers).default([]),
});

export type WorldDescription = z.infer<typeof worldDescription>;
export type WorldWorkload = WorldDescription['workloads'][number];

/** A world with nothing in it yet, described as `description`. */
export function emptyWorld(description: string): WorldDescription {
  return {
    description,
    workloads: [],
    csiDrivers: [],
    secretProviderClasses: [],
    vaultSecrets: [],
    otherSecrets: [],
    gardener: [],
    bindings: [],
    shoots: [],
    legacyTokens: [],
    apiServers: [],
  };
}
