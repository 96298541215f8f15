import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { credentialStateType } from '../../src/model/state.ts';
import {
  analyzerPb,
  analyzerResource,
  bootPolicyPack,
  repoRoot,
  startEngine,
  unary,
  type PolicyPackProcess,
} from '../fixtures/pulumiHosts.ts';

const day = 86_400_000;

function credentialState(createdDaysAgo: number) {
  const createdAt = new Date(Date.now() - createdDaysAgo * day).toISOString();
  return {
    type: credentialStateType,
    name: 'cosmos-state',
    props: {
      state: {
        stack: 'alwayson-cosmos',
        credential: 'cosmos',
        scheme: 'dual',
        activeSlot: 'primary',
        slots: { primary: { generation: 1, createdAt }, secondary: { generation: 2, createdAt } },
        maxAgeDays: 90,
        minIntervalHours: 24,
        targets: [],
      },
    },
  };
}

describe("policy pack: started by Pulumi's own policy host entry point, judged over gRPC", function () {
  // ts-node and the pack's imports load in a fresh process: seconds, not milliseconds.
  this.timeout(120_000);
  let engine: Awaited<ReturnType<typeof startEngine>>;
  let pack: PolicyPackProcess;

  before(async () => {
    engine = await startEngine();
    pack = await bootPolicyPack(join(repoRoot, 'policy'), engine.address);
  });
  after(async () => {
    pack?.stop();
    await engine?.stop();
  });

  it('starts as `node run-policy-pack <nodeargs> <engine> <pack>` and describes every policy', async () => {
    const info: any = await unary(pack.client, 'getAnalyzerInfo', new (require('google-protobuf/google/protobuf/empty_pb.js').Empty)());
    assert.equal(info.getName(), 'keyslot');
    const names = info
      .getPoliciesList()
      .map((p: any) => p.getName())
      .sort();
    assert.deepEqual(names, [
      'deployer-least-privilege',
      'iam-two-key-limit',
      'key-rotation-due',
      'max-key-age',
      'min-rotation-interval',
      'secrets-stay-secret',
      'slots-distinct',
      'trust-bundle-complete',
    ]);
  });

  it('judges a stack: an over-age slot is a mandatory max-key-age violation, a fresh one is not', async () => {
    const request = (daysOld: number) => {
      const req = new analyzerPb.AnalyzeStackRequest();
      req.setResourcesList([analyzerResource(analyzerPb.AnalyzerResource, credentialState(daysOld))]);
      return req;
    };
    const old: any = await unary(pack.client, 'analyzeStack', request(200));
    const diagnostics = old
      .getDiagnosticsList()
      .map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage(), level: d.getEnforcementlevel() }));
    const maxAge = diagnostics.filter((d: any) => d.policy === 'max-key-age');
    assert.equal(maxAge.length, 2, JSON.stringify(diagnostics));
    assert.match(maxAge[0].message, /credential cosmos: slot primary \(generation 1\) is 200 days old, over the 90-day limit/);
    assert.equal(maxAge[0].level, analyzerPb.EnforcementLevel.MANDATORY);
    const fresh: any = await unary(pack.client, 'analyzeStack', request(1));
    assert.deepEqual(
      fresh.getDiagnosticsList().map((d: any) => d.getPolicyname()),
      [],
    );
  });

  it('judges a resource: a keyslot delivery into a ConfigMap is refused', async () => {
    const req = analyzerResource(analyzerPb.AnalyzeRequest, {
      type: 'kubernetes:core/v1:ConfigMap',
      name: 'leak',
      props: { metadata: { annotations: { 'keyslot.dev/slot': 'primary' } }, data: { k: 'v' } },
    });
    const res: any = await unary(pack.client, 'analyze', req);
    assert.deepEqual(
      res.getDiagnosticsList().map((d: any) => d.getPolicyname()),
      ['secrets-stay-secret'],
    );
  });

  it('judges a delivery by its provider, as the engine sends it: a system:masters kubeconfig is an advisory violation', async () => {
    const made = await generate([{ name: 'organizationName', value: 'system:masters' }], { keySize: 2048 });
    const kubeconfig = JSON.stringify({
      'current-context': 'admin',
      contexts: [{ name: 'admin', context: { user: 'kops-admin' } }],
      users: [{ name: 'kops-admin', user: { 'client-certificate-data': Buffer.from(made.cert).toString('base64') } }],
    });
    const req = analyzerResource(analyzerPb.AnalyzeRequest, {
      type: 'kubernetes:core/v1:Secret',
      name: 'token-signer-d0-kops',
      props: { metadata: { name: 'token-signer', namespace: 'platform', annotations: { 'keyslot.dev/slot': 'primary' } } },
      secretOutputs: ['data', 'stringData'],
      provider: { type: 'pulumi:providers:kubernetes', name: 'cluster-kops', props: { kubeconfig } },
    });
    const res: any = await unary(pack.client, 'analyze', req);
    const diagnostics = res
      .getDiagnosticsList()
      .map((d: any) => ({ policy: d.getPolicyname(), level: d.getEnforcementlevel(), message: d.getMessage() }));
    assert.deepEqual(
      diagnostics.map((d: any) => [d.policy, d.level]),
      [['deployer-least-privilege', analyzerPb.EnforcementLevel.ADVISORY]],
      JSON.stringify(diagnostics),
    );
    assert.match(
      diagnostics[0].message,
      /platform\/token-signer on cluster kops: the deployer's kubeconfig user kops-admin holds a system:masters/,
    );
  });
});
