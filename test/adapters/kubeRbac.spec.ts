import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesClusterFleet } from '../../src/adapters/clusters/kubernetes.ts';
import { ForbiddenError } from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, type SimCluster } from '../../src/sim/cluster.ts';
import {
  anonymous,
  type Attributes,
  bootstrapRoles,
  forbiddenStatus,
  type Identity,
  type PolicyRule,
  RbacGate,
  RbacPolicy,
  requestAttributes,
  ruleAllows,
  serviceAccountIdentity,
} from '../fixtures/kubeApi/rbac.ts';
import type { Json } from '../fixtures/kubeApi/render.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';
import { Kubectl, kubectlBinaries } from '../fixtures/kubectl.ts';

const rbacV1 = 'rbac.authorization.k8s.io/v1';
const alice: Identity = { name: 'alice', groups: ['dev', 'system:authenticated'] };

const role = (namespace: string, name: string, rules: PolicyRule[]): Json => ({
  apiVersion: rbacV1,
  kind: 'Role',
  metadata: { name, namespace },
  rules,
});
const clusterRole = (name: string, rules: PolicyRule[]): Json => ({ apiVersion: rbacV1, kind: 'ClusterRole', metadata: { name }, rules });
const roleBinding = (namespace: string, name: string, roleRef: { kind: string; name: string }, subjects: Json[]): Json => ({
  apiVersion: rbacV1,
  kind: 'RoleBinding',
  metadata: { name, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects,
});
const clusterRoleBinding = (name: string, roleRef: { kind: string; name: string }, subjects: Json[]): Json => ({
  apiVersion: rbacV1,
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects,
});
const user = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name });

/** The attributes of `METHOD path?query` from `who`. */
const asked = (request: string, who: Identity = alice): Attributes => {
  const [method, target] = request.split(' ') as [string, string];
  return requestAttributes(method, new URL(target, 'https://127.0.0.1'), who);
};

describe('RBAC in the Kubernetes API emulator: the rules (test/fixtures/kubeApi/rbac.ts)', () => {
  describe('request attributes, as RequestInfoFactory.NewRequestInfo reads the URL and method', () => {
    const cases: [string, Partial<Attributes>][] = [
      ['GET /api/v1/namespaces/x/pods', { verb: 'list', apiGroup: '', namespace: 'x', resource: 'pods', name: '' }],
      ['GET /api/v1/namespaces/x/pods?labelSelector=app%3Dweb', { verb: 'list', resource: 'pods' }],
      ['GET /api/v1/namespaces/x/pods?watch=true', { verb: 'watch', resource: 'pods' }],
      ['GET /api/v1/namespaces/x/pods?watch=1', { verb: 'watch' }],
      ['GET /api/v1/namespaces/x/pods?watch=false', { verb: 'list' }],
      ['GET /api/v1/namespaces/x/pods?watch=0', { verb: 'list' }],
      ['GET /api/v1/watch/namespaces/x/pods', { verb: 'watch', namespace: 'x', resource: 'pods' }],
      ['GET /api/v1/watch/namespaces/x/pods/p', { verb: 'watch', resource: 'pods', name: 'p' }],
      ['GET /api/v1/namespaces/x/pods?fieldSelector=metadata.name%3Dp', { verb: 'list', name: 'p' }],
      ['GET /api/v1/namespaces/x/pods?watch=true&fieldSelector=metadata.name%3D%3Dp', { verb: 'watch', name: 'p' }],
      ['GET /api/v1/namespaces/x/pods?fieldSelector=metadata.name!%3Dp', { verb: 'list', name: '' }],
      ['GET /api/v1/namespaces/x/pods/p', { verb: 'get', name: 'p', subresource: '' }],
      ['GET /api/v1/namespaces/x/pods/p/log', { verb: 'get', resource: 'pods', subresource: 'log', name: 'p' }],
      [
        'POST /api/v1/namespaces/kube-system/serviceaccounts/default/token',
        { verb: 'create', resource: 'serviceaccounts', subresource: 'token' },
      ],
      ['PATCH /apis/apps/v1/namespaces/x/deployments/web', { verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments' }],
      ['PUT /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l', { verb: 'update', apiGroup: 'coordination.k8s.io' }],
      ['POST /apis/coordination.k8s.io/v1/namespaces/kube-system/leases', { verb: 'create', name: '' }],
      ['DELETE /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l', { verb: 'delete', name: 'l' }],
      ['DELETE /apis/coordination.k8s.io/v1/namespaces/kube-system/leases', { verb: 'deletecollection' }],
      ['GET /api/v1/secrets', { verb: 'list', namespace: '', resource: 'secrets' }],
      ['GET /api/v1/namespaces', { verb: 'list', namespace: '', resource: 'namespaces' }],
      // The Namespace object itself is asked for in its own namespace.
      ['GET /api/v1/namespaces/x', { verb: 'get', namespace: 'x', resource: 'namespaces', name: 'x' }],
      ['PUT /api/v1/namespaces/x/finalize', { verb: 'update', namespace: 'x', resource: 'namespaces', name: 'x', subresource: 'finalize' }],
    ];
    for (const [request, expected] of cases)
      it(`${request} → ${Object.entries(expected)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}`, () => {
        const a = asked(request);
        assert.equal(a.resourceRequest, true);
        for (const [k, v] of Object.entries(expected)) assert.equal(a[k as keyof Attributes], v, k);
      });

    for (const request of [
      'GET /version',
      'GET /openid/v1/jwks',
      'GET /api',
      'GET /api/v1',
      'GET /apis',
      'GET /apis/apps/v1',
      'GET /openapi/v3/apis/apps/v1',
      'POST /healthz',
    ])
      it(`${request} is a non-resource request for the path, with the lower-cased method as its verb`, () => {
        const a = asked(request);
        assert.equal(a.resourceRequest, false);
        assert.equal(a.path, request.split(' ')[1]!.split('?')[0]);
        assert.equal(a.verb, request.split(' ')[0]!.toLowerCase());
      });
  });

  describe('one rule against one request (rbac.go RuleAllows)', () => {
    const allows = (rule: PolicyRule, request: string) => ruleAllows(asked(request), rule);
    const podsGet: PolicyRule = { verbs: ['get'], apiGroups: [''], resources: ['pods'] };

    it('matches a listed verb, or any verb for `*`; list and watch are verbs of their own', () => {
      assert.equal(allows(podsGet, 'GET /api/v1/namespaces/x/pods/p'), true);
      assert.equal(allows(podsGet, 'GET /api/v1/namespaces/x/pods'), false, 'get does not grant list');
      assert.equal(allows({ ...podsGet, verbs: ['list'] }, 'GET /api/v1/namespaces/x/pods?watch=true'), false, 'list does not grant watch');
      assert.equal(allows({ ...podsGet, verbs: ['*'] }, 'DELETE /api/v1/namespaces/x/pods'), true);
    });

    it('matches the API group exactly ("" is the core group), or any group for `*`', () => {
      const deployments: PolicyRule = { verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'] };
      assert.equal(allows(deployments, 'GET /apis/apps/v1/namespaces/x/deployments/web'), true);
      assert.equal(allows({ ...deployments, apiGroups: [''] }, 'GET /apis/apps/v1/namespaces/x/deployments/web'), false);
      assert.equal(allows({ ...podsGet, apiGroups: ['apps'] }, 'GET /api/v1/namespaces/x/pods/p'), false);
      assert.equal(allows({ ...deployments, apiGroups: ['*'] }, 'GET /apis/apps/v1/namespaces/x/deployments/web'), true);
      assert.equal(allows({ ...deployments, apiGroups: [] }, 'GET /apis/apps/v1/namespaces/x/deployments/web'), false);
    });

    it('keeps a subresource apart: `pods` does not grant `pods/log`; `pods/log`, `*/log` and `*` do', () => {
      const log = 'GET /api/v1/namespaces/x/pods/p/log';
      assert.equal(allows(podsGet, log), false);
      assert.equal(allows({ ...podsGet, resources: ['pods/log'] }, log), true);
      assert.equal(allows({ ...podsGet, resources: ['pods/log'] }, 'GET /api/v1/namespaces/x/pods/p'), false);
      assert.equal(allows({ ...podsGet, resources: ['*/log'] }, log), true);
      assert.equal(allows({ ...podsGet, resources: ['*/status'] }, log), false);
      assert.equal(allows({ ...podsGet, resources: ['*/log'] }, 'GET /api/v1/namespaces/x/pods/p'), false);
      assert.equal(allows({ ...podsGet, resources: ['*'] }, log), true);
    });

    it('grants every name without resourceNames; with them only those names, so never a list or a create', () => {
      const named: PolicyRule = { verbs: ['get', 'list', 'create'], apiGroups: [''], resources: ['pods'], resourceNames: ['p'] };
      assert.equal(allows(named, 'GET /api/v1/namespaces/x/pods/p'), true);
      assert.equal(allows(named, 'GET /api/v1/namespaces/x/pods/q'), false);
      assert.equal(allows(named, 'GET /api/v1/namespaces/x/pods'), false);
      assert.equal(allows(named, 'POST /api/v1/namespaces/x/pods'), false);
      // A list pinned to the name by its field selector is authorized for that name.
      assert.equal(allows(named, 'GET /api/v1/namespaces/x/pods?fieldSelector=metadata.name%3Dp'), true);
    });

    it('matches a non-resource URL exactly, by prefix for a trailing `*`, or any for `*`; never a resource', () => {
      const urls = (nonResourceURLs: string[]): PolicyRule => ({ verbs: ['get'], nonResourceURLs });
      assert.equal(allows(urls(['/version']), 'GET /version'), true);
      assert.equal(allows(urls(['/version']), 'GET /version/'), false);
      assert.equal(allows(urls(['/apis/*']), 'GET /apis/apps/v1'), true);
      assert.equal(allows(urls(['/apis/*']), 'GET /apis'), false);
      assert.equal(allows(urls(['/openid/*']), 'GET /openid/v1/jwks'), true);
      assert.equal(allows(urls(['/open*']), 'GET /openapi/v3'), true, 'the prefix is a string prefix, not a path segment');
      assert.equal(allows(urls(['*']), 'GET /healthz'), true);
      assert.equal(allows(urls(['/version']), 'POST /version'), false);
      assert.equal(allows(urls(['*']), 'GET /api/v1/namespaces/x/pods'), false, 'a URL rule grants no resource');
      assert.equal(allows({ verbs: ['get'], apiGroups: ['*'], resources: ['*'] }, 'GET /version'), false, 'a resource rule grants no path');
    });
  });

  describe('bindings (rule.go VisitRulesFor, appliesToUser)', () => {
    const reader = { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] };
    const allowed = (policy: RbacPolicy, request: string, who: Identity = alice) => policy.authorize(asked(request, who)).allowed;

    it('a RoleBinding grants its Role in its own namespace only', () => {
      const policy = new RbacPolicy([
        role('x', 'reader', [reader]),
        roleBinding('x', 'alice', { kind: 'Role', name: 'reader' }, [user('alice')]),
      ]);
      assert.equal(allowed(policy, 'GET /api/v1/namespaces/x/pods'), true);
      assert.equal(allowed(policy, 'GET /api/v1/namespaces/other/pods'), false);
      assert.equal(allowed(policy, 'GET /api/v1/pods'), false, 'nor across namespaces');
      assert.equal(allowed(policy, 'GET /api/v1/namespaces/x/pods', { name: 'bob', groups: ['system:authenticated'] }), false);
    });

    it('a RoleBinding to a ClusterRole grants it in the binding namespace only; a ClusterRoleBinding everywhere, cluster scope included', () => {
      const local = new RbacPolicy([
        clusterRole('pod-reader', [reader]),
        roleBinding('x', 'alice', { kind: 'ClusterRole', name: 'pod-reader' }, [user('alice')]),
      ]);
      assert.equal(allowed(local, 'GET /api/v1/namespaces/x/pods'), true);
      assert.equal(allowed(local, 'GET /api/v1/namespaces/other/pods'), false);
      assert.equal(allowed(local, 'GET /api/v1/pods'), false);
      const everywhere = new RbacPolicy([
        clusterRole('pod-reader', [reader]),
        clusterRoleBinding('alice', { kind: 'ClusterRole', name: 'pod-reader' }, [user('alice')]),
      ]);
      assert.equal(allowed(everywhere, 'GET /api/v1/namespaces/other/pods'), true);
      assert.equal(allowed(everywhere, 'GET /api/v1/pods'), true);
    });

    it('a RoleBinding looks its Role up in its own namespace: a Role of the same name elsewhere does not count', () => {
      const policy = new RbacPolicy([
        role('other', 'reader', [reader]),
        roleBinding('x', 'alice', { kind: 'Role', name: 'reader' }, [user('alice')]),
      ]);
      const denied = policy.authorize(asked('GET /api/v1/namespaces/x/pods'));
      assert.deepEqual(denied, { allowed: false, reason: 'RBAC: role.rbac.authorization.k8s.io "reader" not found' });
    });

    it('binds groups, and a service account as its user name or through its groups', () => {
      const robot = serviceAccountIdentity('ci', 'deployer');
      assert.deepEqual(robot, {
        name: 'system:serviceaccount:ci:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'],
      });
      const via = (subject: Json, binding: 'RoleBinding' | 'ClusterRoleBinding' = 'RoleBinding') =>
        allowed(
          new RbacPolicy([
            clusterRole('pod-reader', [reader]),
            binding === 'RoleBinding'
              ? roleBinding('x', 'b', { kind: 'ClusterRole', name: 'pod-reader' }, [subject])
              : clusterRoleBinding('b', { kind: 'ClusterRole', name: 'pod-reader' }, [subject]),
          ]),
          'GET /api/v1/namespaces/x/pods',
          robot,
        );
      assert.equal(via({ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }), true);
      assert.equal(via({ kind: 'ServiceAccount', name: 'deployer', namespace: 'x' }), false);
      // Without a namespace, a RoleBinding's subject is the account of the binding's namespace...
      assert.equal(via({ kind: 'ServiceAccount', name: 'deployer' }), false);
      // ...and a ClusterRoleBinding's is nobody.
      assert.equal(via({ kind: 'ServiceAccount', name: 'deployer' }, 'ClusterRoleBinding'), false);
      assert.equal(via({ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }, 'ClusterRoleBinding'), true);
      assert.equal(via({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:serviceaccounts:ci' }), true);
      assert.equal(via({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:serviceaccounts' }), true);
      assert.equal(via({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:serviceaccounts:x' }), false);
      assert.equal(via(user('system:serviceaccount:ci:deployer')), true);
    });

    it('says which binding allowed a request, as the SelfSubjectAccessReview reason shows it', () => {
      const robot = serviceAccountIdentity('ci', 'deployer');
      const policy = new RbacPolicy([
        clusterRole('pod-reader', [reader]),
        roleBinding('x', 'ci-reads', { kind: 'ClusterRole', name: 'pod-reader' }, [
          { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' },
        ]),
        clusterRoleBinding('missing', { kind: 'ClusterRole', name: 'gone' }, [{ kind: 'Group', name: 'system:authenticated' }]),
      ]);
      assert.deepEqual(policy.authorize(asked('GET /api/v1/namespaces/x/pods', robot)), {
        allowed: true,
        reason: 'RBAC: allowed by RoleBinding "ci-reads/x" of ClusterRole "pod-reader" to ServiceAccount "deployer/ci"',
      });
      // A denial carries the bindings whose roles could not be read.
      assert.deepEqual(policy.authorize(asked('GET /api/v1/namespaces/other/pods', robot)), {
        allowed: false,
        reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
      });
    });

    it('lets the system:masters group do anything, before RBAC is asked', () => {
      const root: Identity = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
      assert.equal(allowed(new RbacPolicy([]), 'DELETE /api/v1/namespaces/x/pods', root), true);
      assert.equal(allowed(new RbacPolicy([]), 'GET /version', root), true);
    });

    it('takes the objects as YAML, as `kubectl apply -f` would, and refuses what is not RBAC', () => {
      const policy = new RbacPolicy(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: x}
rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice, namespace: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
`);
      assert.equal(allowed(policy, 'GET /api/v1/namespaces/x/pods'), true);
      assert.throws(
        () => new RbacPolicy([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }]),
        /not an rbac\.authorization\.k8s\.io object/,
      );
    });
  });

  describe('the 403 (responsewriters ForbiddenStatusError) and who asks (bearer tokens)', () => {
    const message = (request: string, who: Identity = alice, reason = '') => forbiddenStatus(asked(request, who), reason).message;

    it('names the user, verb, resource, API group and namespace, or the cluster scope, or the path', () => {
      assert.equal(
        message('GET /api/v1/namespaces/x/pods/p'),
        'pods "p" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "x"',
      );
      assert.equal(
        message('GET /api/v1/namespaces/x/pods'),
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "x"',
      );
      assert.equal(
        message('GET /api/v1/namespaces/x/pods/p/log'),
        'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "x"',
      );
      assert.equal(
        message('GET /apis/apps/v1/deployments'),
        'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope',
      );
      assert.equal(message('GET /version'), 'forbidden: User "alice" cannot get path "/version"');
      assert.equal(
        message('GET /api/v1/namespaces/x/pods', alice, 'RBAC: role.rbac.authorization.k8s.io "r" not found'),
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "x": RBAC: role.rbac.authorization.k8s.io "r" not found',
      );
      const status = forbiddenStatus(asked('PATCH /apis/apps/v1/namespaces/x/deployments/web'), '');
      assert.deepEqual(
        { ...status, message: undefined },
        {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: undefined,
          reason: 'Forbidden',
          details: { name: 'web', group: 'apps', kind: 'deployments' },
          code: 403,
        },
      );
      assert.deepEqual(forbiddenStatus(asked('GET /version'), '').details, {});
    });

    it('knows a bearer token, calls no token anonymous, and refuses an unknown token', () => {
      const gate = new RbacGate({ objects: [], tokens: { 'alice-token': { name: 'alice', groups: ['dev'] } } });
      assert.deepEqual(gate.authenticate('Bearer alice-token'), { name: 'alice', groups: ['dev', 'system:authenticated'] });
      assert.deepEqual(gate.authenticate(undefined), anonymous);
      assert.deepEqual(gate.authenticate('Basic YWxpY2U6eA=='), anonymous);
      assert.equal(gate.authenticate('Bearer nobody'), undefined);
    });
  });
});

/** A cluster with pods in `x` and `other`. */
function twoNamespaces(): { clock: SimClock; cluster: SimCluster } {
  const clock = new SimClock('2026-11-24T00:00:00Z');
  const cluster = new SimFleet(clock).cluster('eu');
  for (const namespace of ['x', 'other']) {
    cluster.applySecret(namespace, 'api-key', { key: 'k1' });
    cluster.addWorkload({
      kind: 'deployment',
      namespace,
      name: 'web',
      replicas: 1,
      podStartMs: 0,
      containers: ['web'],
      secrets: ['api-key'],
    });
  }
  return { clock, cluster };
}

const newest = kubectlBinaries().at(-1)!;

describe(`RBAC in the Kubernetes API emulator, judged by kubectl${newest.minor ? ` 1.${newest.minor}` : ''}`, function () {
  this.timeout(60_000);
  let emulator: KubeApiEmulator;
  let kubectl: Kubectl;
  let ca: string;
  // alice may read pods in x, and nothing else but discovery (no /version) and the reviews.
  const policy = () => [
    ...bootstrapRoles({ version: false }),
    role('x', 'pod-reader', [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }]),
    roleBinding('x', 'alice-reads-pods', { kind: 'Role', name: 'pod-reader' }, [user('alice')]),
  ];
  const as = (token: string, ...args: string[]) => kubectl.run('--certificate-authority', ca, '--token', token, ...args);

  before(async () => {
    const { clock, cluster } = twoNamespaces();
    emulator = new KubeApiEmulator(cluster, clock, {
      rbac: { objects: policy(), tokens: { 'alice-token': { name: 'alice', groups: [] } } },
    });
    const server = await emulator.start();
    assert.match(server, /^https:/, 'with authentication the emulator serves HTTPS, or kubectl sends no token');
    kubectl = new Kubectl(server, newest.binary);
    ca = kubectl.file('ca.crt', emulator.rbac!.ca);
  });
  beforeEach(() => emulator.rbac!.policy.reset(policy()));
  after(async () => {
    kubectl.dispose();
    await emulator.stop();
  });

  it('`kubectl auth can-i` answers from the same rules: yes in x, no in other', async () => {
    const yes = await as('alice-token', 'auth', 'can-i', 'get', 'pods', '-n', 'x');
    assert.deepEqual([yes.code, yes.stdout.trim()], [0, 'yes'], yes.stderr);
    const no = await as('alice-token', 'auth', 'can-i', 'get', 'pods', '-n', 'other');
    assert.deepEqual([no.code, no.stdout.trim()], [1, 'no'], no.stderr);
    const log = await as('alice-token', 'auth', 'can-i', 'get', 'pods', '--subresource=log', '-n', 'x');
    assert.deepEqual([log.code, log.stdout.trim()], [1, 'no'], 'pods does not grant pods/log');
    // The reviews went to the server (as protobuf from kubectl 1.32 on), not decided by kubectl.
    assert.ok(emulator.rbac!.decisions.includes('ALLOW alice create selfsubjectaccessreviews.authorization.k8s.io'));
  });

  it('`kubectl auth can-i --list` shows the rules of the namespace (a SelfSubjectRulesReview)', async () => {
    const r = await as('alice-token', 'auth', 'can-i', '--list', '-n', 'x');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list\]$/m);
    const other = await as('alice-token', 'auth', 'can-i', '--list', '-n', 'other');
    assert.doesNotMatch(other.stdout, /^pods\s/m);
  });

  it('a denied `kubectl get pods -n other` prints the server message', async () => {
    const allowed = await as('alice-token', 'get', 'pods', '-n', 'x');
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^web-/m);
    const denied = await as('alice-token', 'get', 'pods', '-n', 'other');
    assert.equal(denied.code, 1);
    assert.equal(
      denied.stderr.trim(),
      'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "other"',
    );
    const byLabel = await as('alice-token', 'get', 'pods', '-n', 'other', '-l', 'app=web');
    assert.match(byLabel.stderr, /cannot list resource "pods" in API group "" in the namespace "other"/);
    const workload = await as('alice-token', 'get', 'deployment', 'web', '-n', 'x');
    assert.equal(
      workload.stderr.trim(),
      'Error from server (Forbidden): deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "x"',
    );
  });

  it('a watch is authorized as `watch`: list alone lets `get -w` list, then refuses the watch', async () => {
    const r = await as('alice-token', 'get', 'pods', '-n', 'x', '-w');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^web-/m, 'the list was allowed');
    assert.match(r.stderr, /pods is forbidden: User "alice" cannot watch resource "pods" in API group "" in the namespace "x"/);
  });

  it('`kubectl get --raw /version` is denied without the non-resource rule, and allowed with it', async () => {
    const denied = await as('alice-token', 'get', '--raw', '/version');
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr.trim(), 'Error from server (Forbidden): forbidden: User "alice" cannot get path "/version"');
    emulator.rbac!.policy.apply([
      clusterRole('version-reader', [{ verbs: ['get'], nonResourceURLs: ['/version'] }]),
      clusterRoleBinding('alice-version', { kind: 'ClusterRole', name: 'version-reader' }, [user('alice')]),
    ]);
    const allowed = await as('alice-token', 'get', '--raw', '/version');
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).gitVersion, 'v1.31.0');
  });

  it('an unknown token is not anonymous: 401, and kubectl says to log in', async () => {
    const r = await as('stolen-token', 'get', 'pods', '-n', 'x');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/);
  });
});

describe("RBAC in the Kubernetes API emulator: keyslot's adapter (client-node) meets a 403", () => {
  const prom = { namespace: 'kubecost', workload: 'deployment/prometheus' };
  const keyslot = serviceAccountIdentity('keyslot', 'keyslot');
  const sa = [{ kind: 'ServiceAccount', name: 'keyslot', namespace: 'keyslot' }];
  /** One grant: a verb on a resource (in a namespace, or cluster-wide), or on a non-resource URL. */
  type Grant = { verb: string; resource?: string; group?: string; namespace?: string; url?: string };
  /**
   * The Kubernetes rows of the README's Permissions table (the runbook, not the adapter), for a
   * stage in `kubecost`, a Gardener project `garden` and the lock in `kube-system`.
   */
  const readme: Grant[] = [
    { verb: 'get', url: '/version' },
    { verb: 'get', group: 'apps', resource: 'deployments', namespace: 'kubecost' },
    { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'kubecost' },
    { verb: 'list', resource: 'pods', namespace: 'kubecost' },
    { verb: 'get', resource: 'pods/log', namespace: 'kubecost' },
    { verb: 'list', group: 'secrets-store.csi.x-k8s.io', resource: 'secretproviderclasspodstatuses', namespace: 'kubecost' },
    { verb: 'list', group: 'apps', resource: 'daemonsets', namespace: 'kube-system' },
    { verb: 'get', resource: 'secrets', namespace: 'kubecost' },
    { verb: 'list', resource: 'secrets' },
    { verb: 'list', group: 'core.gardener.cloud', resource: 'shoots', namespace: 'garden' },
    { verb: 'list', group: 'core.gardener.cloud', resource: 'secretbindings', namespace: 'garden' },
    { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
    { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
    { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
  ];
  const objects = (grants: Grant[]): Json[] =>
    grants.flatMap((g, i) => {
      const rule: PolicyRule = g.url
        ? { verbs: [g.verb], nonResourceURLs: [g.url] }
        : { verbs: [g.verb], apiGroups: [g.group ?? ''], resources: [g.resource!] };
      const ref = { kind: g.namespace ? 'Role' : 'ClusterRole', name: `keyslot-${i}` };
      return g.namespace
        ? [role(g.namespace, ref.name, [rule]), roleBinding(g.namespace, ref.name, ref, sa)]
        : [clusterRole(ref.name, [rule]), clusterRoleBinding(ref.name, ref, sa)];
    });

  let emulator: KubeApiEmulator;
  let fleet: KubernetesClusterFleet;
  let clock: SimClock;
  let rotations = 0;

  beforeEach(async () => {
    clock = new SimClock('2026-11-24T00:00:00Z');
    const cluster = new SimFleet(clock).cluster('eu');
    cluster.applySecret('kubecost', 'thanos', { key: 'k1' });
    cluster.addWorkload({
      kind: 'deployment',
      namespace: 'kubecost',
      name: 'prometheus',
      replicas: 2,
      podStartMs: 3000,
      containers: ['prometheus'],
      secrets: ['thanos'],
    });
    emulator = new KubeApiEmulator(cluster, clock, {
      rbac: { objects: [...bootstrapRoles({ version: false }), ...objects(readme)], tokens: { 'keyslot-token': keyslot } },
    });
    const server = await emulator.start();
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'eu', server, caData: Buffer.from(emulator.rbac!.ca).toString('base64') }],
      users: [{ name: 'keyslot', token: 'keyslot-token' }],
      contexts: [{ name: 'eu', cluster: 'eu', user: 'keyslot' }],
      currentContext: 'eu',
    });
    fleet = new KubernetesClusterFleet(new Map([['eu', config]]), clock, 1000, { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 2 });
  });
  afterEach(() => emulator.stop());

  /** What the server refused, from its Status, in the words keyslot grants in: `verb resource[.group] in namespace NS`. */
  const serverRefused = (error: unknown): string => {
    const body = (error as { cause?: { body?: unknown } }).cause?.body;
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { code: number; message: string };
    assert.equal(status.code, 403);
    const m = /cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope)/.exec(
      status.message,
    );
    if (m) return `${m[1]} ${m[2]}${m[3] ? `.${m[3]}` : ''} in ${m[4] ? `namespace ${m[4]}` : 'all namespaces'}`;
    const path = /cannot (\S+) path "([^"]+)"/.exec(status.message)!;
    return `${path[1]} on the ${path[2]} non-resource URL`;
  };

  // Each case: the README grant taken away, and the adapter call that needs it.
  const cases: [number, string, () => Promise<unknown>][] = [
    [0, 'ping', () => fleet.ping('eu')],
    [1, 'exists', () => fleet.exists('eu', prom)],
    // A new rotation id each time, so that the second call has a patch to make.
    [2, 'restart', () => fleet.restart('eu', prom, `r-${++rotations}`)],
    [3, 'checkLogs', () => fleet.checkLogs('eu', { ...prom, patterns: ['denied'], since: new Date(0), windowSeconds: 60 })],
    [5, 'secretSyncStatus', () => fleet.secretSyncStatus('eu', 'kubecost', 'azure-kv')],
    [6, 'csiRotation', () => fleet.csiRotation('eu')],
    [7, 'secretMetadata', () => fleet.secretMetadata('eu', 'kubecost', 'thanos')],
    [8, 'serviceAccountTokenSecrets', () => fleet.serviceAccountTokenSecrets('eu')],
    [9, 'listShoots', () => fleet.listShoots('eu', 'garden')],
    [10, 'listSecretBindings', () => fleet.listSecretBindings('eu', 'garden')],
    [11, 'acquireLease', () => fleet.acquireLease('eu', { name: 'keyslot', holder: 'run-1', ttlSeconds: 60, now: clock.now() })],
  ];
  for (const [dropped, call, run] of cases) {
    const g = readme[dropped]!;
    it(`without ${g.verb} ${g.url ?? `${g.resource}${g.group ? `.${g.group}` : ''}`}, ${call} fails with a ForbiddenError naming that permission`, async () => {
      // GIVEN the README's grants, the call goes through.
      await run();
      // WHEN one grant is taken away, THEN the server refuses exactly it, and keyslot says to grant it.
      emulator.rbac!.policy.reset([...bootstrapRoles({ version: false }), ...objects(readme.filter((_, i) => i !== dropped))]);
      const error = await run().then(
        () => assert.fail(`${call} went through without ${JSON.stringify(g)}`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ForbiddenError, String(error));
      const refused = serverRefused(error);
      assert.ok(refused.startsWith(`${g.verb} `), refused);
      assert.ok(error.message.includes(`grant ${refused}`), `keyslot says "${error.message}"; the server refused ${refused}`);
    });
  }

  it('names the update a lock release needs, once the lock is held', async () => {
    await fleet.acquireLease('eu', { name: 'keyslot', holder: 'run-1', ttlSeconds: 60, now: clock.now() });
    emulator.rbac!.policy.reset([...bootstrapRoles({ version: false }), ...objects(readme.filter((g) => g.verb !== 'update'))]);
    const error = await fleet.releaseLease('eu', { name: 'keyslot', holder: 'run-1' }).then(
      () => assert.fail('released without update'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ForbiddenError);
    assert.equal(serverRefused(error), 'update leases.coordination.k8s.io in namespace kube-system');
    assert.match(error.message, /grant update leases\.coordination\.k8s\.io in namespace kube-system to keyslot's identity/);
  });
});
