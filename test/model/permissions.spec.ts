/**
 * The permissions a stack needs. Expected rules are written out from what the adapters call
 * (src/adapters/clusters/kubernetes/*, src/adapters/cloud/*) for the shipped stacks' stages, not
 * copied from the function's output; the README's table must be the catalogue's.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { listStacks, loadStack, readStackFile } from '../../src/config/load.ts';
import { parseStackConfig, type StackConfig } from '../../src/config/parse.ts';
import { stackLock } from '../../src/driver/lock.ts';
import {
  deliveredSecretRules,
  type KubernetesGrant,
  mergeGrants,
  type PolicyRule,
  ruleText,
  type StackPermissions,
  lockLeaseName,
  permissionRows,
  permissionTable,
  secretArn,
  stackPermissions,
} from '../../src/model/permissions.ts';

const root = join(__dirname, '..', '..');

/** The rules of one identity on one cluster, as `namespace rule` strings (`*` for cluster-wide), sorted and once each. */
function rulesOn(p: StackPermissions, cluster: string, identity: 'keyslot' | 'deployer'): string[] {
  const seen = p.kubernetes.filter((g) => g.cluster === cluster && g.identity === identity).map(show);
  return [...new Set(seen)].sort();
}
const show = (g: Pick<KubernetesGrant, 'namespace' | 'rule'>) => `${g.namespace ?? '*'} ${JSON.stringify(g.rule)}`;
const at = (namespace: string | undefined, rule: PolicyRule) => show({ ...(namespace ? { namespace } : {}), rule });
const r = (group: string, resource: string, verbs: string[], resourceNames?: string[]): PolicyRule => ({
  apiGroups: [group],
  resources: [resource],
  verbs,
  ...(resourceNames ? { resourceNames } : {}),
});
const workloads = (verbs: string[]): PolicyRule => ({
  apiGroups: ['apps'],
  resources: ['deployments', 'statefulsets', 'daemonsets'],
  verbs,
});
const version: PolicyRule = { nonResourceURLs: ['/version'], verbs: ['get'] };

describe('model: the permissions a stack needs', () => {
  describe('kubecost-thanos (AWS IAM key, a Secret on three clusters, restarts and log checks)', () => {
    const p = stackPermissions(loadStack('kubecost-thanos'));

    it("keyslot's identity on a secondary cluster: its three restarts, one log check, the Helm check and discovery, no lock", () => {
      assert.deepEqual(
        rulesOn(p, 'secondary-eu', 'keyslot'),
        [
          at(undefined, version),
          // restart stages 1, 4, 5 (all clusters): read, merge patch, watch by name; pods by label.
          at(
            'kubecost',
            r(
              'apps',
              'deployments',
              ['get', 'patch', 'watch'],
              ['kubecost-prometheus-server', 'kubecost-cost-analyzer', 'kubecost-diagnostics'],
            ),
          ),
          at('kubecost', r('', 'pods', ['list'])),
          // verify-logs stage 6 (all clusters), the thanos-sidecar container.
          at('kubecost', r('apps', 'deployments', ['get'], ['kubecost-prometheus-server'])),
          at('kubecost', r('', 'pods/log', ['get'])),
          // the Helm check reads the delivered Secret; discovery lists the namespace's workloads.
          at('kubecost', r('', 'secrets', ['get'], ['kubecost-thanos'])),
          at('kubecost', workloads(['list'])),
        ].sort(),
      );
    });

    it('on the primary: also the thanos-store and -compact restarts, the store log check and the lock Lease', () => {
      const restarted = [
        'kubecost-prometheus-server',
        'kubecost-thanos-store',
        'kubecost-thanos-compact',
        'kubecost-cost-analyzer',
        'kubecost-diagnostics',
      ];
      assert.deepEqual(
        rulesOn(p, 'primary', 'keyslot'),
        [
          at(undefined, version),
          at('kubecost', r('apps', 'deployments', ['get', 'patch', 'watch'], restarted)),
          at('kubecost', r('', 'pods', ['list'])),
          at('kubecost', r('apps', 'deployments', ['get'], ['kubecost-prometheus-server', 'kubecost-thanos-store'])),
          at('kubecost', r('', 'pods/log', ['get'])),
          at('kubecost', r('', 'secrets', ['get'], ['kubecost-thanos'])),
          at('kubecost', workloads(['list'])),
          // lock.ts: read and compare-and-swap the stack's Lease; create it the first time.
          at('kube-system', r('coordination.k8s.io', 'leases', ['get', 'update'], ['keyslot-rotation-kubecost-thanos'])),
          at('kube-system', r('coordination.k8s.io', 'leases', ['create'])),
        ].sort(),
      );
    });

    it('the deployer writes the Secret on each cluster (create unnamed: the API cannot name a create), and watches the namespace to see a delete through', () => {
      for (const cluster of ['primary', 'secondary-eu', 'secondary-us'])
        assert.deepEqual(rulesOn(p, cluster, 'deployer'), [
          at('kubecost', r('', 'secrets', ['create'])),
          at('kubecost', r('', 'secrets', ['get', 'patch', 'delete'], ['kubecost-thanos'])),
          // pulumi-kubernetes v4.32.0 await.go Deletion: an unfiltered informer on the namespace's Secrets.
          at('kubecost', r('', 'secrets', ['list', 'watch'])),
        ]);
      const listing = stackPermissions(loadStack('kubecost-thanos')).kubernetes.find(
        (g) => g.identity === 'deployer' && g.rule.verbs.includes('watch'),
      );
      assert.match(listing?.sensitive ?? '', /every Secret of the namespace, data included/);
    });

    it('AWS: the deployer replaces keys, keyslot watches them and switches them off and on; no Azure', () => {
      const user = 'arn:aws:iam::*:user/kubecost-thanos-example';
      const aws = p.aws.map((g) => `${g.identity} ${g.action} ${g.resource}`).sort();
      assert.deepEqual(
        aws,
        [
          `deployer iam:CreateAccessKey ${user}`,
          `deployer iam:DeleteAccessKey ${user}`,
          `keyslot iam:GetAccessKeyLastUsed ${user}`,
          `keyslot iam:ListAccessKeys ${user}`,
          // rollback.ts reactivates the old key whatever soakMinutes says.
          `keyslot iam:UpdateAccessKey ${user}`,
        ].sort(),
      );
      assert.deepEqual(p.azure, []);
      assert.ok(!p.aws.some((g) => g.action.startsWith('sts:')), 'GetCallerIdentity needs no grant');
    });
  });

  describe('alwayson-cosmos (Cosmos DB keys, Key Vault per stamp, CSI sync, restarts)', () => {
    const sub = '11111111-1111-1111-1111-111111111111';
    const p = stackPermissions(loadStack('alwayson-cosmos'), { azureSubscriptionId: sub });

    it("keyslot's identity on the second stamp: the CSI wait, three restarts, discover's listing; no Secrets, no lock", () => {
      const csi = 'secrets-store.csi.x-k8s.io';
      assert.deepEqual(
        rulesOn(p, 'stamp-westeurope', 'keyslot'),
        [
          at(undefined, version),
          at('workload', r(csi, 'secretproviderclasses', ['get'], ['azure-kv'])),
          at('workload', r(csi, 'secretproviderclasspodstatuses', ['list'])),
          at('workload', r('', 'pods', ['list'])),
          at('kube-system', r('apps', 'daemonsets', ['list'])),
          at(
            'workload',
            r(
              'apps',
              'deployments',
              ['get', 'patch', 'watch'],
              ['catalogservice-deploy', 'backgroundprocessor-deploy', 'healthservice-deploy'],
            ),
          ),
          at('workload', workloads(['list'])),
        ].sort(),
      );
      assert.deepEqual(rulesOn(p, 'stamp-westeurope', 'deployer'), []);
    });

    it('Azure: each identity on the account and on each stamp vault, from the stack ids', () => {
      const account =
        '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-example-global/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-example-global';
      const vault = (stamp: string) =>
        `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-example-${stamp}/providers/Microsoft.KeyVault/vaults/kv-example-${stamp}`;
      const got = p.azure.map((g) => `${g.identity} ${g.action} ${g.resource}`).sort();
      assert.deepEqual(
        got,
        [
          `deployer Microsoft.DocumentDB/databaseAccounts/read ${account}`,
          `deployer Microsoft.DocumentDB/databaseAccounts/listKeys/action ${account}`,
          `deployer Microsoft.KeyVault/vaults/secrets/read ${vault('eastus2')}`,
          `deployer Microsoft.KeyVault/vaults/secrets/write ${vault('eastus2')}`,
          `deployer Microsoft.KeyVault/vaults/secrets/read ${vault('westeurope')}`,
          `deployer Microsoft.KeyVault/vaults/secrets/write ${vault('westeurope')}`,
          `keyslot Microsoft.DocumentDB/databaseAccounts/read ${account}`,
          `keyslot Microsoft.DocumentDB/databaseAccounts/listKeys/action ${account}`,
          `keyslot Microsoft.DocumentDB/databaseAccounts/regenerateKey/action ${account}`,
          `keyslot Microsoft.KeyVault/vaults/secrets/read ${vault('eastus2')}`,
          `keyslot Microsoft.KeyVault/vaults/secrets/read ${vault('westeurope')}`,
        ].sort(),
      );
      assert.deepEqual(p.aws, []);
    });

    it('without a subscription in the config or the options, the ARM id says where it goes', () => {
      const bare = stackPermissions(loadStack('alwayson-cosmos'));
      assert.ok(bare.azure.some((g) => g.resource.startsWith('/subscriptions/{subscriptionId}/resourceGroups/rg-example-global/')));
    });
  });

  describe('kops-service-account (a kOps keyset, exec stages only)', () => {
    const p = stackPermissions(loadStack('kops-service-account'));

    it('the trust and token checks, discover and the lock; no /version (no cluster in its preflight)', () => {
      assert.deepEqual(
        rulesOn(p, 'kops', 'keyslot'),
        [
          at(undefined, { nonResourceURLs: ['/openid/v1/jwks'], verbs: ['get'] }),
          at(undefined, r('', 'secrets', ['list'])),
          at(undefined, workloads(['list'])),
          // a subresource create on a named object may be limited by name.
          at('kube-system', r('', 'serviceaccounts/token', ['create'], ['default'])),
          at('kube-system', r('coordination.k8s.io', 'leases', ['get', 'update'], ['keyslot-rotation-kops-service-account'])),
          at('kube-system', r('coordination.k8s.io', 'leases', ['create'])),
        ].sort(),
      );
      assert.deepEqual([p.azure, p.aws, rulesOn(p, 'kops', 'deployer')], [[], [], []]);
    });

    it('--disruptive adds the cluster-wide token reissue and restart of every workload, each write flagged', () => {
      const d = stackPermissions(loadStack('kops-service-account'), { disruptive: true });
      const added = rulesOn(d, 'kops', 'keyslot').filter((x) => !rulesOn(p, 'kops', 'keyslot').includes(x));
      assert.deepEqual(
        added,
        [
          at(undefined, r('', 'secrets', ['list', 'patch'])),
          at(undefined, workloads(['list', 'get', 'patch', 'watch'])),
          at(undefined, r('', 'pods', ['list'])),
        ].sort(),
      );
      for (const g of d.kubernetes.filter((g) => g.rule.verbs.includes('patch'))) assert.ok(g.sensitive, show(g));
    });
  });

  describe('over every shipped stack', () => {
    const all = listStacks().map((s) => ({ config: loadStack(s), p: stackPermissions(loadStack(s), { disruptive: true }) }));
    const rules = (p: StackPermissions) => p.kubernetes.map((g) => g.rule);

    it('a stack without a stage kind, delivery or source gets none of its rules', () => {
      for (const { config, p } of all) {
        const kinds = new Set(config.credentials.flatMap((c) => c.stages.map((s) => s.kind)));
        const sources = new Set(config.credentials.map((c) => c.source.type));
        const deliveries = new Set(config.credentials.flatMap((c) => c.deliver.map((d) => d.type)));
        const has = (resource: string) => rules(p).some((x) => x.resources?.includes(resource));
        const why = config.stack;
        assert.equal(has('serviceaccounts/token'), sources.has('kops-keyset'), why);
        assert.equal(
          p.kubernetes.some((g) => g.namespace === undefined && g.rule.resources?.includes('secrets')),
          sources.has('kops-keyset'),
          why,
        );
        assert.equal(has('secretproviderclasspodstatuses'), kinds.has('wait-secret-sync'), why);
        assert.equal(has('shoots'), kinds.has('annotate') || kinds.has('wait-reconciled'), why);
        assert.equal(has('pods/log'), kinds.has('verify-logs'), why);
        assert.equal(
          p.kubernetes.some((g) => g.identity === 'deployer'),
          deliveries.has('kubernetes-secret'),
          why,
        );
        assert.equal(
          p.aws.some((g) => g.action.startsWith('iam:')),
          sources.has('aws-iam-access-key'),
          why,
        );
        assert.equal(
          p.azure.some((g) => g.action.includes('KeyVault')),
          deliveries.has('azure-keyvault-secret'),
          why,
        );
        assert.equal(
          p.azure.some((g) => g.action.includes('DocumentDB')),
          sources.has('azure-cosmosdb-keys'),
          why,
        );
        assert.equal(
          p.azure.some((g) => g.action.includes('Storage')),
          sources.has('azure-storage-keys'),
          why,
        );
        // Only the stack's own clusters.
        for (const g of p.kubernetes)
          assert.ok(
            config.clusters.some((c) => c.name === g.cluster),
            `${why}: ${g.cluster}`,
          );
      }
    });

    it('names appear only where RBAC honours them: never on list, deletecollection or a top-level create', () => {
      // kubernetes/website rbac.md "Referring to resources". A watch by name is honoured because the
      // rollout wait selects metadata.name (requestinfo.go); the adapter must keep doing so.
      assert.match(
        readFileSync(join(root, 'src/adapters/clusters/kubernetes/watch.ts'), 'utf8'),
        /fieldSelector: `metadata\.name=\$\{this\.name\}`/,
      );
      for (const { p } of all)
        for (const x of rules(p).filter((x) => x.resourceNames)) {
          assert.ok(!x.verbs.includes('list') && !x.verbs.includes('deletecollection'), JSON.stringify(x));
          if (x.verbs.includes('create'))
            assert.ok(
              x.resources!.every((res) => res.includes('/')),
              JSON.stringify(x),
            );
        }
    });

    it('every grant that can read, write or mint a credential is flagged, and says why', () => {
      // A Secret, a token, or (cluster-wide) any pod template, which can mount any Secret.
      const credentialBearing = (g: KubernetesGrant) =>
        g.rule.resources?.some((res) => res === 'secrets' || res === 'serviceaccounts/token') ||
        (g.namespace === undefined && g.rule.resources?.includes('deployments') && g.rule.verbs.includes('patch'));
      for (const { p } of all) {
        for (const g of p.kubernetes) assert.equal(Boolean(g.sensitive), Boolean(credentialBearing(g)), show(g));
        for (const g of [...p.azure, ...p.aws])
          assert.equal(
            Boolean(g.sensitive),
            /listKeys|regenerateKey|secrets\/write|CreateAccessKey|PutSecretValue|GetSecretValue/.test(g.action),
            g.action,
          );
      }
      const kops = all.find(({ config }) => config.stack === 'kops-service-account')!.p;
      assert.match(kops.kubernetes.find((g) => g.rule.resources?.includes('serviceaccounts/token'))!.sensitive!, /mints/);
    });

    it('covers every call the Kubernetes adapter makes, by the permission each call names for a 403', () => {
      const dir = join(root, 'src/adapters/clusters/kubernetes');
      const needs = readdirSync(dir).flatMap((f) =>
        [...readFileSync(join(dir, f), 'utf8').matchAll(/needs: [`'](.*?)[`']/g)].map((m) => m[1]!),
      );
      assert.ok(needs.length >= 15, needs.join('\n'));
      const granted = all.flatMap(({ p }) => rules(p));
      for (const need of needs.filter((n) => !n.startsWith('${'))) {
        const m = /^((?:[a-z]+, )*[a-z]+) (?:on the (\S+) non-resource URL|(\S+))/.exec(need)!;
        const verbs = m[1]!.split(', ');
        const resources = m[2]
          ? [m[2]]
          : m[3]!.includes('${plurals[kind]}')
            ? ['deployments', 'statefulsets', 'daemonsets'].map((x) => m[3]!.replace('${plurals[kind]}', x))
            : [m[3]!];
        for (const verb of verbs)
          for (const res of resources) {
            const [resource, ...group] = res.split('.');
            const ok = granted.some((x) =>
              m[2]
                ? x.nonResourceURLs?.includes(res) && x.verbs.includes(verb)
                : x.verbs.includes(verb) && x.resources?.includes(resource!) && (x.apiGroups?.[0] ?? '') === group.join('.'),
            );
            assert.ok(ok, `no shipped stack grants ${verb} ${res} (${need})`);
          }
      }
    });

    it('the lock Lease is the one the driver takes', () => {
      const ports = { engine: {}, clusters: {}, clock: {} } as never;
      for (const stack of ['kubecost-thanos', 'x'.repeat(70)]) {
        const where = stackLock({ stack, clusters: [{ name: 'c', primary: true }], credentials: [] } as never, ports, 'me', 60).where;
        assert.equal(where, `Lease kube-system/${lockLeaseName(stack)} on cluster c`);
      }
    });

    it('a secret named, not an ARN, matches any region and account and the six characters AWS appends', () => {
      assert.equal(secretArn('kubecost/aws'), 'arn:aws:secretsmanager:*:*:secret:kubecost/aws-??????');
      assert.equal(secretArn('arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf'), 'arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf');
    });
  });

  describe("the README's table", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');

    it('is the catalogue, rendered', () => {
      const section = readme.slice(readme.indexOf('### Permissions'));
      const start = section.indexOf('| where | needed for | permission |');
      const table = section.slice(start, section.indexOf('\n\n', start));
      assert.equal(table, permissionTable(), 'README.md: replace the table under "### Permissions" with permissionTable()');
    });

    it('names every verb, resource and action its rows grant, and "through Pulumi" rows are the deployer\'s', () => {
      for (const { p } of listStacks().map((s) => ({ p: stackPermissions(loadStack(s), { disruptive: true }) }))) {
        for (const g of p.kubernetes) {
          const row = permissionRows[g.row];
          for (const verb of g.rule.verbs) assert.ok(row.permission.includes(`\`${verb}\``), `${g.row}: ${verb}`);
          for (const res of [...(g.rule.resources ?? []), ...(g.rule.nonResourceURLs ?? [])])
            assert.ok(row.permission.includes(res), `${g.row}: ${res}`);
          assert.equal(row.where.includes('through Pulumi'), g.identity === 'deployer', g.row);
        }
        for (const g of [...p.azure, ...p.aws]) {
          assert.ok(permissionRows[g.row].permission.includes(`\`${g.action}\``), `${g.row}: ${g.action}`);
          assert.equal(permissionRows[g.row].where.includes('through Pulumi'), g.identity === 'deployer', g.row);
        }
      }
    });
  });
});

describe('model: the permissions a stack needs, case by case', () => {
  /** A shipped stack's config, edited first (the raw stack file, as `keyslot` would read it). */
  function edited(stack: string, edit: (raw: any) => void): StackConfig {
    const raw = structuredClone(readStackFile(stack).raw) as any;
    edit(raw);
    return parseStackConfig(stack, raw, stack);
  }
  const cosmos = (raw: any) => raw.credentials[0];

  it('every grant says which credential needs it and what for (or that the lock does), with and without --disruptive', () => {
    for (const stack of listStacks())
      for (const disruptive of [false, true]) {
        const config = loadStack(stack);
        const p = stackPermissions(config, { disruptive });
        const names = config.credentials.map((c) => c.name);
        const credentialFirst = new RegExp(`^(${names.join('|')})( \\([^)]*\\))?: \\S`);
        for (const g of p.kubernetes) assert.ok(credentialFirst.test(g.why) || /^the lock/.test(g.why), `${stack}: "${g.why}"`);
        for (const g of [...p.azure, ...p.aws]) assert.match(g.why, new RegExp(`^${g.credential}: \\S`), `${stack}: "${g.why}"`);
      }
    const vault = stackPermissions(loadStack('alwayson-cosmos')).azure.filter((g) => g.row === 'vault-version');
    assert.deepEqual(
      vault.map((g) => g.why),
      ['cosmos: stage 1 (wait-secret-sync) on stamp-eastus2', 'cosmos: stage 1 (wait-secret-sync) on stamp-westeurope'],
    );
  });

  it('names the workloads of a firstExisting stage, each candidate', () => {
    const p = stackPermissions(loadStack('kubecost-cloud-billing'));
    const restart = p.kubernetes.find((g) => g.row === 'restart' && g.rule.resources?.includes('deployments'));
    assert.deepEqual(restart?.rule.resourceNames, ['kubecost-cloud-cost', 'kubecost-cost-analyzer']);
  });

  it('restart grants no log reading: only a verify-logs stage reads pods/log', () => {
    const p = stackPermissions(loadStack('alwayson-cosmos'));
    assert.ok(!p.kubernetes.some((g) => g.rule.resources?.includes('pods/log')));
    assert.ok(stackPermissions(loadStack('kubecost-thanos')).kubernetes.some((g) => g.rule.resources?.includes('pods/log')));
  });

  it("wait-secret-sync reads the CSI driver's DaemonSets in kube-system, and discover finds only the workloads of the stages on a vault's own clusters", () => {
    const flags = (p: StackPermissions, row: string, cluster: string) =>
      p.kubernetes.filter((g) => g.row === row && g.cluster === cluster && g.namespace === 'kube-system').map((g) => ruleText(g.rule));
    const base = stackPermissions(loadStack('alwayson-cosmos'));
    assert.deepEqual(flags(base, 'wait-secret-sync', 'stamp-eastus2'), ['list daemonsets.apps']);
    assert.deepEqual(flags(base, 'csi-discovery', 'stamp-eastus2'), ['list daemonsets.apps']);
    // One vault, serving stamp-eastus2 only; a restart on the other stamp in another namespace; an exec stage.
    const config = edited('alwayson-cosmos', (raw) => {
      const c = cosmos(raw);
      c.deliver = [c.deliver[0]];
      c.stages.push({ kind: 'restart', namespace: 'other', workload: 'deployment/x', clusters: ['stamp-westeurope'] });
      c.stages.push({ kind: 'exec', command: ['true'], clusters: ['stamp-eastus2'] });
    });
    const p = stackPermissions(config);
    const discovery = (cluster: string) =>
      p.kubernetes
        .filter((g) => g.row === 'csi-discovery' && g.cluster === cluster)
        .map((g) => `${g.namespace} ${ruleText(g.rule)}`)
        .sort();
    assert.deepEqual(discovery('stamp-eastus2'), [
      'kube-system list daemonsets.apps',
      'workload list deployments.apps, statefulsets.apps, daemonsets.apps',
    ]);
    assert.deepEqual(discovery('stamp-westeurope'), [], 'no vault serves stamp-westeurope');
    // A vault delivery that names no clusters serves none through the CSI driver: nothing to discover.
    const unscoped = edited('alwayson-cosmos', (raw) => {
      for (const d of cosmos(raw).deliver) delete d.clusters;
    });
    assert.deepEqual(
      stackPermissions(unscoped).kubernetes.filter((g) => g.row === 'csi-discovery'),
      [],
    );
  });

  it('a stage on a vault cluster with no namespaced stage there discovers nothing, not even the driver flags', () => {
    const config = edited('alwayson-cosmos', (raw) => {
      cosmos(raw).stages = [{ kind: 'exec', command: ['true'] }];
    });
    assert.deepEqual(
      stackPermissions(config).kubernetes.filter((g) => g.row === 'csi-discovery'),
      [],
    );
  });

  it("delivers a Secret only on its delivery's clusters; a patched Secret needs get and patch on its name, nothing more", () => {
    const config = edited('kubecost-thanos', (raw) => {
      const d = raw.credentials[0].deliver.find((x: any) => x.type === 'kubernetes-secret');
      d.clusters = ['primary'];
      d.manage = 'patch';
    });
    const p = stackPermissions(config);
    assert.deepEqual(rulesOn(p, 'secondary-eu', 'deployer'), []);
    assert.deepEqual(rulesOn(p, 'primary', 'deployer'), [at('kubecost', r('', 'secrets', ['get', 'patch'], ['kubecost-thanos']))]);
    assert.deepEqual(deliveredSecretRules('patch', 'a'), [
      { rule: r('', 'secrets', ['get', 'patch'], ['a']), sensitive: 'reads and writes the delivered credential' },
    ]);
  });

  it('takes the lock on the primary cluster, and needs no lock without clusters', () => {
    const config = edited('alwayson-cosmos', (raw) => {
      const [a, b] = raw.clusters;
      delete a.primary;
      b.primary = true;
    });
    const locks = stackPermissions(config).kubernetes.filter((g) => g.row === 'lock');
    assert.deepEqual([...new Set(locks.map((g) => g.cluster))], ['stamp-westeurope']);
    assert.deepEqual(
      locks.map((g) => g.why),
      ['the lock', 'the lock, the first time it is taken'],
    );
    const none = edited('kubecost-cloud-billing', (raw) => {
      raw.clusters = [];
      const c = raw.credentials[0];
      c.deliver = [{ type: 'aws-secretsmanager-secret', secretId: 'billing/key', value: '${secretAccessKey}' }];
      c.stages = [];
    });
    const p = stackPermissions(none);
    assert.deepEqual(p.kubernetes, []);
    // Secrets Manager: what the provider writes and reads back, the value-bearing actions marked.
    const sm = p.aws.filter((g) => g.resource === secretArn('billing/key'));
    assert.deepEqual(
      sm.map((g) => [g.identity, g.action, Boolean(g.sensitive)]),
      [
        ['deployer', 'secretsmanager:PutSecretValue', true],
        ['deployer', 'secretsmanager:GetSecretValue', true],
        ['deployer', 'secretsmanager:UpdateSecretVersionStage', false],
      ],
    );
    assert.ok(
      sm.every((g) => g.why === 'cloud-billing: aws-secretsmanager-secret billing/key'),
      sm.map((g) => g.why).join('\n'),
    );
    assert.match(sm[0]!.sensitive!, /writes the secret's value/);
    assert.match(sm[1]!.sensitive!, /holds the secret's value/);
  });

  it("reads a vault's secret version only for a wait-secret-sync stage: restarts alone need no vault", () => {
    const config = edited('alwayson-cosmos', (raw) => {
      const c = cosmos(raw);
      c.stages = c.stages.filter((s: any) => s.kind !== 'wait-secret-sync').map(({ after, ...s }: any) => s);
    });
    const keyslot = stackPermissions(config).azure.filter((g) => g.identity === 'keyslot');
    assert.deepEqual(
      keyslot.filter((g) => g.action.startsWith('Microsoft.KeyVault/')),
      [],
    );
  });

  it('asks each cloud action once per identity and resource, however many stages need it', () => {
    const config = edited('alwayson-cosmos', (raw) => {
      const c = cosmos(raw);
      c.stages.push({ ...c.stages[0], id: 'vault-sync-again' });
    });
    const vault = stackPermissions(config).azure.filter((g) => g.identity === 'keyslot' && g.action.startsWith('Microsoft.KeyVault/'));
    assert.equal(vault.length, 2, vault.map((g) => `${g.resource} ${g.action}`).join('\n'));
  });

  it('storage keys: the deployer lists them at every preview, keyslot lists and regenerates', () => {
    const p = stackPermissions(loadStack('kubecost-federated-etl'));
    const actions = (identity: string) => p.azure.filter((g) => g.identity === identity).map((g) => g.action);
    assert.deepEqual(actions('deployer'), ['Microsoft.Storage/storageAccounts/listKeys/action']);
    assert.deepEqual(actions('keyslot'), [
      'Microsoft.Storage/storageAccounts/listKeys/action',
      'Microsoft.Storage/storageAccounts/regenerateKey/action',
    ]);
  });

  it('merges only grants that differ in names: identity, row, cluster, namespace and named-ness keep grants apart', () => {
    const g = (over: Partial<KubernetesGrant>, rule: Partial<PolicyRule> = {}): KubernetesGrant => ({
      identity: 'keyslot',
      row: 'restart',
      cluster: 'c',
      namespace: 'n',
      why: 'a: one',
      rule: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'], resourceNames: ['x'], ...rule },
      ...over,
    });
    const merged = mergeGrants([g({}), g({ why: 'a: two' }, { resourceNames: ['y'] }), g({ why: 'a: one' })]);
    assert.equal(merged.length, 1);
    assert.deepEqual(merged[0]!.rule.resourceNames, ['x', 'y']);
    assert.equal(merged[0]!.why, 'a: one; a: two', 'each reason once');
    for (const other of [{ identity: 'deployer' as const }, { row: 'verify-logs' as const }, { cluster: 'd' }, { namespace: 'm' }])
      assert.equal(mergeGrants([g({}), g(other)]).length, 2, JSON.stringify(other));
    const unnamed = g({}, { resourceNames: undefined });
    delete (unnamed.rule as { resourceNames?: string[] }).resourceNames;
    assert.equal(mergeGrants([g({}), unnamed]).length, 2, 'a named rule and the whole collection stay apart');
    assert.equal(mergeGrants([unnamed, g({})]).length, 2);
  });

  it('ruleText: verbs, resources with their group, names; URLs as they are', () => {
    assert.equal(
      ruleText({ apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'patch'], resourceNames: ['a', 'b'] }),
      'get, patch deployments.apps, statefulsets.apps a, b',
    );
    assert.equal(ruleText({ apiGroups: [''], resources: ['pods'], verbs: ['list'] }), 'list pods');
    assert.equal(ruleText({ nonResourceURLs: ['/version', '/healthz'], verbs: ['get'] }), 'get /version, /healthz');
  });
});
