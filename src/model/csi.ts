/**
 * What keyslot decides about the Secrets Store CSI driver, from what a cluster shows of it: the
 * driver's DaemonSet (its `secrets-store` container's flags) and the SecretProviderClassPodStatus
 * objects it keeps per pod. Pure.
 */

/** The driver's container in its DaemonSet (kubernetes-sigs/secrets-store-csi-driver v1.5.6, charts/secrets-store-csi-driver/templates/secrets-store-csi-driver.yaml). */
export const csiDriverContainer = 'secrets-store';

export interface CsiRotation {
  /** `--enable-secret-rotation`: false unless set (cmd/secrets-store-csi-driver/main.go). */
  readonly enabled: boolean;
  /** `--rotation-poll-interval`: 2 minutes unless set. */
  readonly pollSeconds: number;
}

/** A Go duration as flags take it (`2m`, `90s`, `1h30m`, `1.5m`), in seconds; undefined when it is not one. */
export function goDurationSeconds(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) return undefined;
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 } as const;
  return parts.reduce((total, p) => total + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

/** The rotation settings a `secrets-store` container's args give, with the binary's defaults for what they leave out. */
export function csiRotationOf(args: readonly string[]): CsiRotation {
  let enabled = false;
  let pollSeconds = 120;
  for (const arg of args) {
    const [flag, value] = arg.replace(/^--?/, '').split('=', 2) as [string, string | undefined];
    if (flag === 'enable-secret-rotation') enabled = value === undefined || value === 'true';
    if (flag === 'rotation-poll-interval' && value !== undefined) pollSeconds = goDurationSeconds(value) ?? pollSeconds;
  }
  return { enabled, pollSeconds };
}

/**
 * The version a pod's mount holds of a vault secret, from its SecretProviderClassPodStatus objects.
 * The Azure provider names an object `secret/<name>`, and `secret/<name>/<n>` when the class keeps
 * several versions (objectVersionHistory > 1), where `/0` is the newest
 * (Azure/secrets-store-csi-driver-provider-azure v1.8.2, pkg/provider/types/parameters.go GetObjectUID).
 */
export function mountedVersion(objects: readonly { id: string; version: string }[], secretName: string): string | undefined {
  const id = `secret/${secretName}`;
  return (objects.find((o) => o.id === id) ?? objects.find((o) => o.id === `${id}/0`))?.version;
}
