/**
 * Workloads and their pods, as the Deployment, StatefulSet and DaemonSet controllers and the
 * kubelet move them: rollouts within maxSurge/maxUnavailable over simulated time, pods that read
 * their Secrets when they start and log whether the backend accepted the key, pods that reload a
 * watched Secret.
 */
import { ClusterState } from './state.ts';
import { nextReadyAfter, type RolloutStatus, type SimPod, type SimWorkload, type WorkloadSpec, defaultStrategy } from '../model.ts';

export abstract class WorkloadControllers extends ClusterState {
  /**
   * When the workload's rollout status next changes by itself (a pod starts or becomes ready, or
   * the progress deadline passes); undefined when nothing will. What a watch would wake on.
   */
  nextChangeAt(w: SimWorkload): number | undefined {
    this.sync();
    const now = this.now();
    // A rollout acts the moment a pod becomes ready; nothing else moves it.
    const deadline = w.rolloutStartedAt + w.progressDeadlineSeconds * 1000;
    const observedAt = w.rolloutStartedAt + this.controllerLagMs;
    const later = (at: number) => (at > now ? at : Number.POSITIVE_INFINITY);
    const next = Math.min(
      nextReadyAfter(w, now),
      later(deadline),
      w.observedGeneration < w.generation ? later(observedAt) : Number.POSITIVE_INFINITY,
    );
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  addWorkload(spec: WorkloadSpec): SimWorkload {
    const w: SimWorkload = {
      kind: spec.kind,
      namespace: spec.namespace,
      name: spec.name,
      replicas: spec.replicas ?? 2,
      containers: spec.containers ?? [spec.name],
      ...(spec.containerArgs ? { containerArgs: spec.containerArgs } : {}),
      secrets: spec.secrets ?? [],
      reads: spec.reads ?? 'secrets',
      ...(spec.reloadAfterMs !== undefined ? { reloadAfterMs: spec.reloadAfterMs } : {}),
      ...(spec.secretProviderClass !== undefined ? { secretProviderClass: spec.secretProviderClass } : {}),
      templateAnnotations: {},
      generation: 1,
      observedGeneration: 1,
      revision: 1,
      rolloutStartedAt: this.now(),
      pods: [],
      terminating: [],
      paused: spec.paused ?? false,
      updateStrategy: spec.updateStrategy ?? 'RollingUpdate',
      partition: spec.partition ?? 0,
      failRollout: false,
      podStartMs: spec.podStartMs ?? 5000,
      podStopMs: spec.podStopMs ?? 2000,
      progressDeadlineSeconds: spec.progressDeadlineSeconds ?? 600,
      ...(spec.strategy ?? defaultStrategy(spec.kind, spec.replicas ?? 2)),
      progressedTo: this.now(),
    };
    for (let i = 0; i < w.replicas; i++) w.pods.push(this.startPod(w, this.now() - w.podStartMs));
    this.workloads.set(ClusterState.key(spec.namespace, spec.kind, spec.name), w);
    if (w.reloadAfterMs !== undefined) this.reloaders.add(w);
    this.dirty = true;
    return w;
  }

  workload(namespace: string, kind: string, name: string): SimWorkload | undefined {
    this.sync();
    return this.workloads.get(ClusterState.key(namespace, kind, name));
  }

  /** Creates or updates a Secret; Shoots using it through a binding start reconciling. */
  applySecret(namespace: string, name: string, data: Record<string, string>, annotations: Record<string, string> = {}): void {
    this.sync();
    const key = ClusterState.key(namespace, name);
    const current = this.secrets.get(key);
    const changed = JSON.stringify(current?.data) !== JSON.stringify(data);
    this.secrets.set(key, {
      ...(current?.type ? { type: current.type } : {}),
      ...(current?.labels ? { labels: current.labels } : {}),
      data: { ...data },
      annotations: { ...annotations },
      updatedAt: changed ? this.now() : (current?.updatedAt ?? this.now()),
      resourceVersion: (current?.resourceVersion ?? 0) + 1,
    });
    // No Shoot reconciles because its provider Secret changed: gardenlet's shoot controller watches
    // Shoots only, through a GenerationChangedPredicate (gardener/gardener v1.149.3,
    // pkg/gardenlet/controller/shoot/shoot/add.go); docs/usage/shoot-operations/shoot_credentials_rotation.md
    // says to annotate gardener.cloud/operation=reconcile after updating the Secret.
  }

  deleteSecret(namespace: string, name: string): void {
    this.sync();
    this.secrets.delete(ClusterState.key(namespace, name));
  }

  /** `kubectl rollout restart`: patch the pod template's annotations and roll a new revision. */
  restart(w: SimWorkload, annotations: Record<string, string>): void {
    this.sync();
    // Until the controller observes the new generation, readers see what it reported last.
    const failed = this.rolloutStatus(w).failed;
    if (failed) w.reportedFailure = failed;
    else delete w.reportedFailure;
    w.templateHistory ??= new Map([[w.revision, { ...w.templateAnnotations }]]);
    Object.assign(w.templateAnnotations, annotations);
    w.generation += 1;
    w.revision += 1;
    w.templateHistory.set(w.revision, { ...w.templateAnnotations });
    w.templateHistory.delete(w.revision - 10);
    w.rolloutStartedAt = this.now();
    this.rolling.add(w);
    this.dirty = true;
  }

  /** The next moment after `t` a rollout here acts (a pod becomes ready); undefined when none will. */
  nextEventAfter(t: number): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.rolling) next = Math.min(next, nextReadyAfter(w, t));
    // A pod that starts after a CSI poll mounts what it synced: the poll is an event of its own.
    const poll = this.nextCsiPollAfter(t);
    if (poll !== undefined && next !== Number.POSITIVE_INFINITY) next = Math.min(next, poll);
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  /** True while some workload is mid-rollout (its pods' readiness changes with time alone). */
  get rollingOut(): boolean {
    return this.rolling.size > 0;
  }

  /** Spec changes that roll nothing (`spec.paused`): a new generation for the controller to observe. */
  setPaused(w: SimWorkload, paused: boolean): void {
    this.sync();
    if (w.paused === paused) return;
    w.paused = paused;
    w.generation += 1;
    if (!paused) w.rolloutStartedAt = this.now();
    this.rolling.add(w);
    this.dirty = true;
  }

  rolloutStatus(w: SimWorkload): RolloutStatus {
    this.sync();
    const updated = w.pods.filter((p) => p.revision === w.revision);
    const ready = updated.filter((p) => p.readyAt <= this.now());
    const oldPods = w.pods.length - updated.length;
    const observed = w.observedGeneration === w.generation;
    const oldTerminating = w.terminating.some((p) => p.revision !== w.revision);
    const complete = observed && ready.length === w.replicas && oldPods === 0 && !oldTerminating;
    const base = {
      desired: w.replicas,
      updated: updated.length,
      ready: ready.length,
      oldPods,
      terminating: w.terminating.length,
      observed,
    };
    if (!observed) return { ...base, complete, ...(w.reportedFailure ? { failed: w.reportedFailure } : {}) };
    // A paused rollout has no deadline (the controller reports DeploymentPaused instead).
    const stuck = !w.paused && (w.failRollout || updated.some((p) => p.readyAt === Infinity));
    const overdue = !complete && stuck && this.now() - w.rolloutStartedAt >= w.progressDeadlineSeconds * 1000;
    return { ...base, complete, ...(overdue ? { failed: 'ProgressDeadlineExceeded' } : {}) };
  }

  /** Log lines of the workload's running pods (not Terminating) since `since` (ms), optionally of one container. */
  logs(w: SimWorkload, since: number, container?: string): string[] {
    this.sync();
    return w.pods.flatMap((p) => p.logs.filter((l) => l.at >= since && (!container || l.container === container)).map((l) => l.line));
  }

  /** A pod of this cluster by name, active or Terminating, with its workload. */
  pod(namespace: string, name: string): { workload: SimWorkload; pod: SimPod } | undefined {
    this.sync();
    for (const workload of this.workloads.values()) {
      if (workload.namespace !== namespace) continue;
      const pod = workload.pods.find((p) => p.name === name) ?? workload.terminating.find((p) => p.name === name);
      if (pod) return { workload, pod };
    }
    return undefined;
  }

  /** Pods that watch their mounted Secret load its new value once the kubelet has synced it. */
  protected reload(w: SimWorkload, now: number): void {
    const synced = w.secrets.every(
      (s) => s.startsWith('store:') || (this.secrets.get(ClusterState.key(w.namespace, s))?.updatedAt ?? 0) + w.reloadAfterMs! <= now,
    );
    if (!synced) return;
    const current = this.read(w);
    for (const pod of w.pods) {
      if (pod.loaded !== current && pod.readyAt <= now) {
        pod.loaded = current;
        this.version += 1;
      }
    }
  }

  /** Plays the rollout forward to `now`, acting at each moment a pod became ready or went away. */
  protected progress(w: SimWorkload, now: number): void {
    const observedAt = w.rolloutStartedAt + this.controllerLagMs;
    if (w.observedGeneration < w.generation) {
      if (now < observedAt) return;
      w.observedGeneration = w.generation;
      delete w.reportedFailure;
    }
    let t = Math.max(w.progressedTo, observedAt);
    for (;;) {
      this.reap(w, t);
      this.rollStep(w, t);
      const next = nextReadyAfter(w, t);
      if (next > now) break;
      t = next;
    }
    this.reap(w, now);
    w.progressedTo = now;
  }

  /** Terminating pods whose process has exited are gone. */
  protected reap(w: SimWorkload, t: number): void {
    if (w.terminating.length === 0) return;
    const left = w.terminating.filter((p) => p.goneAt! > t);
    if (left.length !== w.terminating.length) {
      w.terminating = left;
      this.version += 1;
    }
  }

  /** The controller deletes a pod: it is Terminating until its process exits. */
  protected deletePod(w: SimWorkload, pod: SimPod, t: number): void {
    w.pods = w.pods.filter((p) => p !== pod);
    pod.deletedAt = t;
    // A pod that never started has nothing to shut down.
    pod.goneAt = pod.readyAt > t ? t : t + w.podStopMs;
    if (pod.goneAt > t) w.terminating.push(pod);
    this.version += 1;
  }

  /**
   * What the controller does at time `t`, until it can do nothing more: drop old pods that are not
   * ready, drop ready old pods while no more than maxUnavailable are missing, and start new pods
   * while no more than maxSurge are extra.
   */
  protected rollStep(w: SimWorkload, t: number): void {
    if (w.failRollout || w.paused || w.updateStrategy === 'OnDelete') return;
    // Deployments count only active pods against maxSurge; StatefulSets and DaemonSets replace a
    // pod in place, so its replacement waits until the Terminating one is gone.
    const inPlace = w.kind !== 'deployment';
    const target = w.kind === 'statefulset' ? w.replicas - Math.min(w.partition, w.replicas) : w.replicas;
    for (;;) {
      const old = w.pods.filter((p) => p.revision !== w.revision);
      const fresh = w.pods.length - old.length;
      const occupied = w.pods.length + (inPlace ? w.terminating.length : 0);
      const available = w.pods.filter((p) => p.readyAt <= t).length;
      // A partition keeps the lowest ordinals on the old revision.
      const replaceable = old.length > w.replicas - target;
      const victim = replaceable
        ? (old.find((p) => p.readyAt > t) ?? (available - 1 >= w.replicas - w.maxUnavailable ? old[0] : undefined))
        : undefined;
      if (victim) this.deletePod(w, victim, t);
      else if (fresh < target && occupied < w.replicas + w.maxSurge) w.pods.push(this.startPod(w, t));
      else return;
    }
  }

  protected startPod(w: SimWorkload, at: number): SimPod {
    this.version += 1;
    // Mounting the class creates its synced Secrets if they are missing (never updates them).
    if (w.secretProviderClass && this.csi) this.syncSecrets(ClusterState.key(w.namespace, w.secretProviderClass), false);
    // A pod that mounts a Secret that is not there does not start; it holds nothing.
    const missing =
      w.reads === 'secrets'
        ? w.secrets.find((s) => !s.startsWith('store:') && !this.secrets.has(ClusterState.key(w.namespace, s)))
        : undefined;
    if (missing !== undefined) {
      return {
        name: `${w.name}-${w.revision}-${++this.podSerial}`,
        revision: w.revision,
        startedAt: at,
        readyAt: Infinity,
        loaded: '',
        logs: [],
        waiting: 'CreateContainerConfigError',
      };
    }
    const loaded = w.reads === 'token' ? this.issueToken() : this.read(w);
    const ok = this.accepts ? this.accepts(loaded) : true;
    const crashes = w.crashesOn?.(loaded) ?? false;
    const line = crashes
      ? 'Error: failed to initialise the storage client; exiting (CrashLoopBackOff)'
      : ok
        ? 'started; backend accepted the credential'
        : this.rejectionLine(loaded);
    const logs = w.containers.map((container) => ({ at, container, line }));
    return {
      name: `${w.name}-${w.revision}-${++this.podSerial}`,
      revision: w.revision,
      startedAt: at,
      readyAt: crashes ? Infinity : at + w.podStartMs,
      loaded,
      logs,
      ...(w.reads === 'token' ? { tokenIssuedAt: at } : {}),
      ...(w.secretProviderClass && this.csi ? { mounts: this.mountNow(w) } : {}),
    };
  }

  /** What a pod of the workload reads from its Secrets now. */
  protected read(w: SimWorkload): string {
    return w.secrets
      .map((s) =>
        s.startsWith('store:')
          ? (this.readStore?.(s.slice('store:'.length)) ?? '')
          : JSON.stringify(this.secrets.get(ClusterState.key(w.namespace, s))?.data ?? {}),
      )
      .join('\n');
  }

  /** Adds a log line to a pod, as its process would write it. */
  log(pod: SimPod, container: string, line: string): void {
    pod.logs.push({ at: this.now(), container, line });
  }

  /** What every running pod holds now, Terminating ones included (for traffic in the drill). */
  presentedKeys(): { workload: SimWorkload; pod: SimPod }[] {
    this.sync();
    return [...this.workloads.values()].flatMap((workload) =>
      [...workload.pods, ...workload.terminating].map((pod) => ({ workload, pod })),
    );
  }

  /** Moves every rollout under way to `now`; a settled one leaves the set. */
  protected progressRollouts(now: number): void {
    for (const w of this.rolling) {
      this.progress(w, now);
      const settled = w.observedGeneration === w.generation && w.terminating.length === 0 && w.pods.length === w.replicas;
      if (!w.failRollout && settled && w.pods.every((p) => p.revision === w.revision && p.readyAt <= now)) this.rolling.delete(w);
    }
  }

  /** Pods that watch their mounted Secret load its new value once the kubelet synced it. */
  protected reloadAll(now: number): void {
    for (const w of this.reloaders) this.reload(w, now);
  }
}
