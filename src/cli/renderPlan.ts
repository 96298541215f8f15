import { isStage, type CredentialPlan, type Plan, type Step } from '../model/planner.ts';
import { jsonDocument, stepNumber } from './json.ts';

function on(clusters: readonly string[]): string {
  return clusters.length ? ` on ${clusters.join(', ')}` : ' (once)';
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'preflight':
      return `${step.checks.join('; ')}${step.clusters.length ? ` [${step.clusters.join(', ')}]` : ''}`;
    case 'reissue':
      return `every legacy service-account token Secret reissued (data.token removed; the token controller signs anew), then every Deployment, StatefulSet and DaemonSet restarted${on(step.clusters)}`;
    case 'flip':
      if (step.kops && step.replaceAll)
        return `kOps keyset ${step.kops.keyset} of ${step.kops.clusterName} replaced at once (DISRUPTIVE: tokens signed by the old keys fail until their pods restart); once the up below has deployed the rotation: kops create keypair (×3), kops promote keypair (the middle one), kops distrust keypair (every old one), kops update cluster --yes; ${Object.entries(
          step.set,
        )
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`;
      if (step.kops)
        return `kOps keyset ${step.kops.keyset} of ${step.kops.clusterName} advances ${step.from} → ${step.to}; once the up below has deployed the rotation: kops distrust keypair (the previous), kops promote keypair (the next), kops create keypair (a new next), kops update cluster --yes; keypair ids recorded with ${Object.entries(
          step.set,
        )
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`;
      return step.mode === 'flip'
        ? `consumers move ${step.from} → ${step.to}: ${Object.entries(step.set)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`
        : `keyset advances ${step.from} → ${step.to} (primary→previous, next→primary, new next): ${Object.entries(step.set)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`;
    case 'up':
      return step.targets.length ? `deploy; deliver to ${step.targets.join(', ')}` : 'deploy';
    case 'restart':
      return `rollout restart ${step.namespace}/${step.workload ?? `first existing of ${step.firstExisting?.join(', ')}`}${step.optional ? ' if it exists' : ''}${on(step.clusters)}`;
    case 'verify-logs':
      return `no auth errors in ${step.namespace}/${step.workload ?? `first existing of ${step.firstExisting?.join(', ')}`}${step.container ? ` [${step.container}]` : ''} logs${step.optional ? ' if it exists' : ''}${on(step.clusters)}`;
    case 'verify-http':
      return `GET ${step.url} answers ${step.expectStatus}${on(step.clusters)}`;
    case 'wait-reconciled':
      return `every Shoot using ${step.namespace}/${step.secretBinding} reconciled${on(step.clusters)}`;
    case 'wait-secret-sync':
      return `every pod of SecretProviderClass ${step.namespace}/${step.secretProviderClass} mounts the vault's new version (the CSI driver's sync)${on(step.clusters)}`;
    case 'annotate':
      return `annotate ${step.shoots ? `shoots ${step.shoots.join(', ')}` : `shoots using ${step.secretBinding}`} in ${step.namespace} with gardener.cloud/operation=${step.operation}, wait for completion${on(step.clusters)}`;
    case 'exec':
      return `run ${step.command.join(' ')}${on(step.clusters)}`;
    case 'gate':
      return step.requires.length ? `nothing is invalidated until: ${step.requires.join('; ')}` : 'nothing to confirm';
    case 'regenerate': {
      const how = step.via === 'pulumi-up' ? 'pulumi up replaces the key' : `${step.via} regenerateKey`;
      return `${step.slot} gets generation ${step.generation} (${how})${step.soakMinutes ? ` after ${step.soakMinutes} min soak` : ''}`;
    }
    case 'record':
      return `write ${step.set.join(', ')}`;
  }
}

export function renderCredentialPlan(plan: CredentialPlan): string {
  const flip = plan.steps.find((s) => s.kind === 'flip');
  const move = flip?.kind === 'flip' && flip.mode === 'advance' ? `${flip.from} → ${flip.to}` : `${plan.from} → ${plan.to}`;
  const head =
    plan.scheme === 'managed' || !flip
      ? `credential ${plan.name} (${plan.scheme}${plan.mode === 'rotate' ? '' : `, ${plan.mode}`})`
      : `credential ${plan.name} (${plan.scheme}${plan.mode === 'rotate' ? '' : `, ${plan.mode}`}): ${move}`;
  const width = String(plan.steps.length).length;
  // The schedule's graph: what a stage waits for, when it is not simply the stage before it.
  const numberOf = (id: string) => plan.steps.findIndex((t) => isStage(t) && t.id === id) + 1;
  const order = (s: Step) =>
    !isStage(s) || s.after === undefined
      ? ''
      : s.after.length === 0
        ? ' [starts with the first stage]'
        : ` [after ${s.after.map((id) => `${numberOf(id)} (${id})`).join(', ')}]`;
  const lines = plan.steps.map(
    (s, i) => `  ${String(i + 1).padStart(width)}. ${s.kind.padEnd(15)} ${isStage(s) && s.id ? `${s.id}: ` : ''}${describe(s)}${order(s)}`,
  );
  return [head, ...lines].join('\n');
}

export function renderPlan(plan: Plan): string {
  return `${[`stack ${plan.stack}`, ...plan.credentials.map(renderCredentialPlan)].join('\n\n')}\n`;
}

/** The `--json` form: steps exactly as the planner made them. */
export function planJson(plan: Plan): string {
  return jsonDocument({
    stack: plan.stack,
    credentials: plan.credentials.map((c) => ({
      name: c.name,
      scheme: c.scheme,
      from: c.from,
      to: c.to,
      // Numbered as the text plan, the events and the reports number them.
      steps: c.steps.map((step, i) => ({ number: stepNumber(i), ...step })),
    })),
  });
}
