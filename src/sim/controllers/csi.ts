/**
 * The Secrets Store CSI driver: mounts made at NodePublishVolume, the rotation poll that refreshes
 * them (off by default upstream), the synced Secrets of `secretObjects`, and the
 * SecretProviderClassPodStatus objects a reader sees (kubernetes-sigs/secrets-store-csi-driver v1.5.6).
 */
import { WorkloadControllers } from './workloads.ts';
import type { SimWorkload } from '../model.ts';

export abstract class CsiDriver extends WorkloadControllers {
  /** Installs the Secrets Store CSI driver; with `rotation`, it refreshes every mount every `pollMs`. */
  enableCsi(pollMs: number, versionOf: (id: string) => string | undefined, rotation = true): void {
    this.csi = { pollMs, rotation, versionOf, lastPollAt: Math.floor(this.now() / pollMs) * pollMs };
    // The driver's DaemonSet, as the chart renders its flags: what a reader of the cluster sees of it.
    this.workloads.delete(CsiDriver.key('kube-system', 'daemonset', 'secrets-store-csi-driver'));
    this.addWorkload({
      kind: 'daemonset',
      namespace: 'kube-system',
      name: 'secrets-store-csi-driver',
      replicas: 2,
      containers: ['node-driver-registrar', 'secrets-store'],
      containerArgs: {
        'secrets-store': [
          '--endpoint=$(CSI_ENDPOINT)',
          `--enable-secret-rotation=${rotation}`,
          ...(rotation ? [`--rotation-poll-interval=${pollMs / 1000}s`] : []),
        ],
      },
    });
  }

  /**
   * What a CSI mount of the workload's store objects holds when made now: the provider fetches each
   * object's current value and version at NodePublishVolume, so a pod started after the vault changed
   * mounts the new version whether or not rotation is on.
   */
  protected mountNow(w: SimWorkload): Record<string, { value: string; version: string }> {
    const mounts: Record<string, { value: string; version: string }> = {};
    for (const s of w.secrets)
      if (s.startsWith('store:')) {
        const id = s.slice('store:'.length);
        mounts[id] = { value: this.readStore?.(id) ?? '', version: this.csi?.versionOf(id) ?? '' };
      }
    return mounts;
  }

  /** The CSI driver's rotation poll: every running pod's mount is fetched afresh, and the synced Secrets with it (rotation on only). */
  protected pollCsi(): void {
    const mounted = new Set<string>();
    for (const w of this.workloads.values())
      if (w.secretProviderClass) {
        for (const pod of w.pods) if (pod.mounts) pod.mounts = this.mountNow(w);
        if (w.pods.length) mounted.add(CsiDriver.key(w.namespace, w.secretProviderClass));
      }
    for (const key of mounted) this.syncSecrets(key, true);
  }

  /**
   * The synced Secrets of a class (`namespace/name`): created when missing; with `update`, rewritten
   * from the store as a rotation pass does (the controller alone never updates one).
   */
  protected syncSecrets(classKey: string, update: boolean): void {
    const namespace = classKey.split('/')[0]!;
    for (const { secret, from } of this.providerClassSyncs.get(classKey) ?? []) {
      const current = this.secrets.get(CsiDriver.key(namespace, secret));
      if (current && !update) continue;
      const value = this.readStore?.(from.slice('store:'.length)) ?? '';
      if (current?.data.value === value) continue;
      // Written directly: this runs inside a pod's start and a poll, where the model is mid-sync.
      this.secrets.set(CsiDriver.key(namespace, secret), {
        data: { value },
        annotations: { 'secrets-store.csi.k8s.io/managed': 'true' },
        updatedAt: this.now(),
        resourceVersion: (current?.resourceVersion ?? 0) + 1,
      });
    }
  }

  /** The next CSI rotation poll after `t`, when a driver with rotation on is installed. */
  nextCsiPollAfter(t: number): number | undefined {
    if (!this.csi?.rotation) return undefined;
    return (Math.floor(t / this.csi.pollMs) + 1) * this.csi.pollMs;
  }

  /**
   * SecretProviderClassPodStatus as the CSI driver keeps it: one per running pod of a workload
   * mounting the class, with each object's id (`secret/<name>`) and the version its mount holds.
   */
  secretProviderClassPodStatuses(
    namespace?: string,
  ): { namespace: string; pod: string; secretProviderClass: string; objects: { id: string; version: string }[] }[] {
    this.sync();
    if (!this.csi) return [];
    return [...this.workloads.values()]
      .filter((w) => w.secretProviderClass && (namespace === undefined || w.namespace === namespace))
      .flatMap((w) =>
        w.pods.map((pod) => ({
          namespace: w.namespace,
          pod: pod.name,
          secretProviderClass: w.secretProviderClass!,
          objects: w.secrets
            .filter((s) => s.startsWith('store:'))
            .map((s) => ({ id: `secret/${s.split('/').at(-1)}`, version: pod.mounts?.[s.slice('store:'.length)]?.version ?? '' })),
        })),
      );
  }

  /** The rotation poll, when one is due at `now` (rotation on only). */
  protected pollCsiIfDue(now: number): void {
    if (this.csi?.rotation && now >= this.csi.lastPollAt + this.csi.pollMs) {
      this.csi.lastPollAt = Math.floor(now / this.csi.pollMs) * this.csi.pollMs;
      this.pollCsi();
    }
  }
}
