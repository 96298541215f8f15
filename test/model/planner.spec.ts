import assert from 'node:assert/strict';
import { loadStack } from '../../src/config/load.ts';
import { UnknownCredentialError } from '../../src/errors.ts';
import { planRotation, sameClusters, stageDependencies, tokenReissueCheck, type StageStep, type Step } from '../../src/model/planner.ts';

type Row = { kind: string; workload?: string; clusters?: readonly string[] };
function rows(steps: readonly Step[]): Row[] {
  return steps.map((s) => ({
    kind: s.kind,
    ...('workload' in s && s.workload ? { workload: s.workload } : {}),
    ...('clusters' in s && s.kind !== 'preflight' && s.kind !== 'up' ? { clusters: s.clusters } : {}),
  }));
}

describe('model: planner', () => {
  it('kubecost-thanos: prometheus on all three clusters, then thanos-store on the primary only, then the log checks', () => {
    const [plan] = planRotation(loadStack('kubecost-thanos')).credentials;
    const all = ['primary', 'secondary-eu', 'secondary-us'];
    assert.deepEqual(rows(plan!.steps), [
      { kind: 'preflight' },
      { kind: 'flip' },
      { kind: 'up' },
      { kind: 'restart', workload: 'deployment/kubecost-prometheus-server', clusters: all },
      { kind: 'restart', workload: 'deployment/kubecost-thanos-store', clusters: ['primary'] },
      // The consumers the chart adds to the runbook's (worlds/kubecost-thanos.yaml).
      { kind: 'restart', workload: 'deployment/kubecost-thanos-compact', clusters: ['primary'] },
      { kind: 'restart', workload: 'deployment/kubecost-cost-analyzer', clusters: all },
      { kind: 'restart', workload: 'deployment/kubecost-diagnostics', clusters: all },
      { kind: 'verify-logs', workload: 'deployment/kubecost-prometheus-server', clusters: all },
      { kind: 'verify-logs', workload: 'deployment/kubecost-thanos-store', clusters: ['primary'] },
      { kind: 'gate' },
      { kind: 'regenerate' },
      { kind: 'record' },
    ]);
    const sidecar = plan!.steps[8]!;
    assert.equal(sidecar.kind === 'verify-logs' && sidecar.container, 'thanos-sidecar');
  });

  it('alwayson-cosmos: the three workload deployments on both stamps, then the freed slot regenerated through Azure', () => {
    const [plan] = planRotation(loadStack('alwayson-cosmos')).credentials;
    const stamps = ['stamp-eastus2', 'stamp-westeurope'];
    const restarts = plan!.steps.filter((s) => s.kind === 'restart');
    assert.deepEqual(
      restarts.map((s) => [s.kind === 'restart' && s.namespace, s.kind === 'restart' && s.workload, s.clusters]),
      ['catalogservice-deploy', 'backgroundprocessor-deploy', 'healthservice-deploy'].map((d) => ['workload', `deployment/${d}`, stamps]),
    );
    const kinds = plan!.steps.map((s) => s.kind);
    assert.ok(kinds.indexOf('gate') > kinds.lastIndexOf('restart'), 'gate after every restart');
    assert.deepEqual(kinds.slice(-3), ['gate', 'regenerate', 'record']);
    assert.deepEqual(plan!.steps.at(-2), {
      kind: 'regenerate',
      slot: 'primary',
      generation: 3,
      via: 'azure-cosmosdb',
      soakMinutes: 0,
      set: { 'keyslot:generations.cosmos.primary.generation': 3 },
    });
    assert.deepEqual(plan!.steps.at(-1), {
      kind: 'record',
      set: [
        'keyslot:generations.cosmos.previousRotatedAt',
        'keyslot:generations.cosmos.lastRotatedAt',
        'keyslot:generations.cosmos.primary.createdAt',
      ],
    });
    assert.equal(plan!.from, 'primary');
    assert.equal(plan!.to, 'secondary');
  });

  it('flips back and regenerates the other slot on the next rotation', () => {
    const config = loadStack('alwayson-cosmos');
    const flipped = {
      ...config,
      credentials: config.credentials.map((c) => ({
        ...c,
        active: 'secondary' as const,
        generations: { primary: { generation: 3 }, secondary: { generation: 2 } },
      })),
    };
    const [plan] = planRotation(flipped).credentials;
    assert.equal(plan!.to, 'primary');
    const regen = plan!.steps.find((s) => s.kind === 'regenerate');
    assert.ok(regen?.kind === 'regenerate' && regen.slot === 'secondary' && regen.generation === 4);
  });

  it('kops-service-account: advances the keyset instead of flipping, and regenerates nothing after the gate', () => {
    const [plan] = planRotation(loadStack('kops-service-account')).credentials;
    const flip = plan!.steps.find((s) => s.kind === 'flip');
    assert.ok(flip?.kind === 'flip' && flip.mode === 'advance');
    assert.deepEqual(flip.set, {
      'keyslot:generations.service-account.previous.generation': 2,
      'keyslot:generations.service-account.primary.generation': 3,
      'keyslot:generations.service-account.next.generation': 4,
    });
    assert.ok(!plan!.steps.some((s) => s.kind === 'regenerate'));
    // kops moves the keyset (after the up deploys the record); the plan names the target.
    assert.deepEqual(flip.kops, {
      clusterName: 'kops-example.k8s.local',
      stateStore: 's3://example-kops-state',
      keyset: 'service-account',
    });
    const preflight = plan!.steps[0]!;
    assert.ok(preflight.kind === 'preflight' && preflight.checks.some((c) => c.startsWith(tokenReissueCheck)));
    // Disruptive: every keypair replaced, then every token reissued and every workload restarted, then kops validate.
    const [disruptive] = planRotation(loadStack('kops-service-account'), undefined, 'disruptive').credentials;
    assert.deepEqual(
      disruptive!.steps.map((s) => s.kind),
      ['preflight', 'flip', 'up', 'exec', 'exec', 'reissue', 'exec', 'gate', 'record'],
    );
    const replace = disruptive!.steps[1]!;
    assert.ok(replace.kind === 'flip' && replace.replaceAll === true);
    const validate = disruptive!.steps[6]!;
    assert.ok(validate.kind === 'exec' && validate.command.slice(0, 3).join(' ') === 'kops validate cluster');
  });

  it('gardener-kubeconfig: no flip and no up, the annotation is the rotation', () => {
    const [plan] = planRotation(loadStack('gardener-kubeconfig')).credentials;
    assert.deepEqual(
      plan!.steps.map((s) => s.kind),
      ['preflight', 'annotate', 'gate', 'record'],
    );
  });

  it('gardener-provider-secret: waits for every Shoot to reconcile before the old key goes', () => {
    const [plan] = planRotation(loadStack('gardener-provider-secret')).credentials;
    assert.deepEqual(
      plan!.steps.map((s) => s.kind),
      ['preflight', 'flip', 'up', 'wait-reconciled', 'gate', 'regenerate', 'record'],
    );
  });

  it('kubecost-cloud-billing: restarts cloud-cost if it exists, otherwise cost-analyzer', () => {
    const [plan] = planRotation(loadStack('kubecost-cloud-billing')).credentials;
    const restart = plan!.steps.find((s) => s.kind === 'restart');
    assert.ok(restart?.kind === 'restart');
    assert.deepEqual(restart.firstExisting, ['deployment/kubecost-cloud-cost', 'deployment/kubecost-cost-analyzer']);
  });

  it('refuses a credential the stack does not declare', () => {
    assert.throws(() => planRotation(loadStack('local'), ['nope']), UnknownCredentialError);
  });
});

describe('model: planner, what each stage waits for', () => {
  /** A stage as the planner writes it, with only what the dependencies read. */
  const stage = (clusters: string[], id?: string, after?: string[]) =>
    ({ clusters, ...(id ? { id } : {}), ...(after ? { after } : {}) }) as unknown as StageStep;

  it('waits for the stage before it by default, the stages its `after` names, or nothing for `after: []`', () => {
    assert.deepEqual(stageDependencies([stage(['a'], 'x'), stage(['a'], 'y'), stage(['a'], 'z')]), [[], [0], [1]]);
    assert.deepEqual(stageDependencies([stage(['a'], 'x'), stage(['a'], 'y'), stage(['a'], 'z', ['x'])]), [[], [0], [0]]);
    assert.deepEqual(stageDependencies([stage(['a'], 'x'), stage(['a'], 'y'), stage(['a'], 'z', ['y', 'x'])]), [[], [0], [1, 0]]);
    assert.deepEqual(stageDependencies([stage(['a'], 'x'), stage(['a'], 'y', [])]), [[], []]);
  });

  it('ignores an `after` naming no stage, the stage itself, or a later one (the graph stays acyclic)', () => {
    const stages = [stage(['a'], 'x'), stage(['a'], 'y', ['nope', 'y', 'z', 'x']), stage(['a'], 'z')];
    assert.deepEqual(stageDependencies(stages), [[], [0], [1]]);
    assert.deepEqual(stageDependencies([stage(['a'], 'x', ['x'])]), [[]]);
  });

  it('waits cluster by cluster only for a stage on the very same clusters, in the same order', () => {
    assert.equal(sameClusters(stage(['a', 'b']), stage(['a', 'b'])), true);
    assert.equal(sameClusters(stage(['a', 'b']), stage(['a'])), false);
    assert.equal(sameClusters(stage(['a']), stage(['a', 'b'])), false);
    assert.equal(sameClusters(stage(['a', 'b']), stage(['a', 'c'])), false);
    assert.equal(sameClusters(stage(['a', 'b']), stage(['b', 'a'])), false);
    // A stage that runs once for the fleet (no clusters) is waited for as a whole.
    assert.equal(sameClusters(stage([]), stage([])), false);
  });
});
