import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { ExitCode } from '../../src/errors.ts';
import { awsPolicies } from '../../src/cli/commands/permissions.ts';
import { covers, type PolicyRule } from '../../src/model/permissions.ts';
import { cli } from '../fixtures/cli.ts';
import { commandLines, readmeBlocks } from '../fixtures/readme.ts';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
} & Record<string, any>;

/** The documents of a YAML stream, refusing any the parser found an error in. */
function documents(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) assert.deepEqual(d.errors, [], String(d.errors));
  return docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

describe('cli: keyslot permissions', () => {
  it('prints RBAC objects a kubectl apply takes: each binding refers to a role of the same scope in the output', async () => {
    const { code, out, err } = await cli('permissions', '--stack', 'kubecost-thanos');
    assert.equal(code, ExitCode.ok, err);
    const objs = documents(out);
    assert.ok(objs.length >= 12, out);
    for (const o of objs) {
      assert.equal(o.apiVersion, 'rbac.authorization.k8s.io/v1');
      assert.ok(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind), o.kind);
      assert.equal(o.kind.startsWith('Cluster'), o.metadata.namespace === undefined, JSON.stringify(o.metadata));
      if (o.kind.endsWith('Binding')) {
        const role = objs.find(
          (x) => x.kind === o.roleRef.kind && x.metadata.name === o.roleRef.name && x.metadata.namespace === o.metadata.namespace,
        );
        assert.ok(role, JSON.stringify(o));
        assert.deepEqual(o.subjects.length, 1);
      } else for (const rule of o.rules) assert.ok(rule.verbs.length > 0 && (rule.resources || rule.nonResourceURLs));
    }
    // Non-resource URLs only in ClusterRoles; the deployer's writes in a Role of the delivery's namespace.
    for (const o of objs.filter((x) => x.kind === 'Role'))
      assert.ok(o.rules.every((x: { nonResourceURLs?: string[] }) => !x.nonResourceURLs));
    const deployer = objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'keyslot-kubecost-thanos-deployer');
    assert.deepEqual(
      deployer.map((o) => o.metadata.namespace),
      ['kubecost', 'kubecost', 'kubecost'],
    );
    assert.match(
      deployer[0]!.metadata.annotations!['keyslot.dev/sensitive']!,
      /secrets kubecost-thanos: reads and writes the delivered credential/,
    );
    // The AWS policies are comments, not documents kubectl would refuse.
    assert.match(out, /^# AWS IAM policy for keyslot's own identity:$/m);
    assert.match(out, /^# +"iam:UpdateAccessKey",?$/m);
  });

  it('prints each permission once: a rule another rule of its Role already grants is folded into that one, with its reasons', async () => {
    for (const stack of ['kubecost-thanos', 'alwayson-cosmos', 'kops-service-account']) {
      const roles = documents((await cli('permissions', '--stack', stack)).out).filter(
        (o) => o.kind === 'Role' || o.kind === 'ClusterRole',
      );
      for (const role of roles)
        for (const [i, n] of (role.rules as PolicyRule[]).entries())
          for (const [j, o] of (role.rules as PolicyRule[]).entries())
            assert.ok(
              i === j || !covers(o, n),
              `${stack} ${role.kind} ${role.metadata.namespace}/${role.metadata.name}: rule ${j} grants all of rule ${i}`,
            );
    }
    // secondary-eu: verify-logs reads the one workload it checks, which the restart rule names already.
    const eu = await cli('permissions', '--stack', 'kubecost-thanos', '--cluster', 'secondary-eu');
    assert.match(
      eu.out,
      /# for thanos-store: stages 1, 4, 5 \(restart\)\n {2}# for thanos-store: stage 6 \(verify-logs\)\n {2}- apiGroups:\n {6}- apps\n {4}resources:\n {6}- deployments\n {4}verbs:\n {6}- get\n {6}- patch\n {6}- watch/,
    );
  });

  it('flags the sensitive cloud grants in the YAML too, under the role or policy of the identity that holds them, with why', async () => {
    const { out } = await cli('permissions', '--stack', 'alwayson-cosmos');
    const deployerRole = out.slice(out.indexOf('# Azure custom role for the Pulumi deployer identity'));
    assert.match(
      deployerRole,
      /^# SENSITIVE: Microsoft\.KeyVault\/vaults\/secrets\/write on \/subscriptions\/.*\/vaults\/kv-example-eastus2: sets the secret's value/m,
    );
    const keyslotRole = out.slice(
      out.indexOf("# Azure custom role for keyslot's own identity"),
      out.indexOf('# Azure custom role for the Pulumi deployer identity'),
    );
    assert.match(keyslotRole, /^# SENSITIVE: Microsoft\.DocumentDB\/databaseAccounts\/regenerateKey\/action on .*: mints a new key/m);
    assert.doesNotMatch(keyslotRole, /secrets\/write/, "keyslot's own identity never writes a vault");
    const aws = (await cli('permissions', '--stack', 'kubecost-thanos')).out;
    assert.match(aws, /^# SENSITIVE: iam:CreateAccessKey on arn:aws:iam::\*:user\/kubecost-thanos-example: mints an access key/m);
  });

  it("covers: a rule grants another when its verbs, groups, resources (and names, unless it has none) include the other's", () => {
    const get = { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] };
    assert.ok(covers({ ...get, verbs: ['get', 'patch'] }, { ...get, resourceNames: ['a'] }));
    assert.ok(covers({ ...get, resourceNames: ['a', 'b'] }, { ...get, resourceNames: ['a'] }));
    assert.ok(!covers({ ...get, resourceNames: ['a'] }, get), 'a named rule never grants the whole collection');
    assert.ok(!covers(get, { ...get, verbs: ['list'] }));
    assert.ok(!covers(get, { ...get, resources: ['statefulsets'] }));
    assert.ok(!covers(get, { ...get, apiGroups: [''] }));
    assert.ok(covers({ nonResourceURLs: ['/version', '/healthz'], verbs: ['get'] }, { nonResourceURLs: ['/version'], verbs: ['get'] }));
    assert.ok(!covers(get, { nonResourceURLs: ['/version'], verbs: ['get'] }));
    assert.ok(!covers({ nonResourceURLs: ['/version'], verbs: ['get'] }, get), 'a URL rule grants no resource');
    assert.ok(!covers({ nonResourceURLs: ['/version'], verbs: ['get'] }, { nonResourceURLs: ['/healthz'], verbs: ['get'] }));
  });

  it('--cluster prints one cluster; the lock Lease is on the primary only', async () => {
    const eu = documents((await cli('permissions', '-s', 'kubecost-thanos', '--cluster', 'secondary-eu')).out);
    assert.ok(eu.every((o) => o.kind.endsWith('Binding') || o.metadata.annotations?.['keyslot.dev/cluster'] === 'secondary-eu'));
    assert.ok(!eu.some((o) => o.metadata.namespace === 'kube-system'));
    const primary = documents((await cli('permissions', '-s', 'kubecost-thanos', '--cluster', 'primary')).out);
    const lock = primary.find((o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system')!;
    assert.deepEqual(lock.rules[0], {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'update'],
      resourceNames: ['keyslot-rotation-kubecost-thanos'],
    });
  });

  it('--format json: the objects, the Azure role definitions, the AWS policies and the sensitive list, versioned', async () => {
    const { code, out } = await cli('permissions', '--stack', 'alwayson-cosmos', '--format', 'json');
    assert.equal(code, ExitCode.ok);
    const doc = JSON.parse(out);
    assert.equal(doc.schemaVersion, 1);
    assert.deepEqual(
      doc.kubernetes.map((k: { cluster: string }) => k.cluster),
      ['stamp-eastus2', 'stamp-westeurope'],
    );
    const [keyslot, deployer] = doc.azure;
    assert.deepEqual([keyslot.identity, deployer.identity], ['keyslot', 'deployer']);
    assert.equal(keyslot.roleDefinition.IsCustom, true);
    assert.deepEqual([keyslot.roleDefinition.NotActions, keyslot.roleDefinition.DataActions], [[], []]);
    assert.ok(deployer.roleDefinition.Actions.includes('Microsoft.KeyVault/vaults/secrets/write'));
    assert.ok(!keyslot.roleDefinition.Actions.includes('Microsoft.KeyVault/vaults/secrets/write'));
    assert.ok(
      keyslot.assignAt.every((s: string) => keyslot.roleDefinition.AssignableScopes.some((rg: string) => s.startsWith(`${rg}/providers/`))),
    );
    assert.deepEqual(doc.aws, []);
    const sensitive = doc.sensitive.map((s: { identity: string; grant: string }) => `${s.identity} ${s.grant}`);
    assert.ok(sensitive.includes('deployer Microsoft.KeyVault/vaults/secrets/write'), sensitive.join('\n'));
    assert.ok(sensitive.includes('keyslot Microsoft.DocumentDB/databaseAccounts/listKeys/action'));
    assert.ok(!sensitive.some((s: string) => s.endsWith('secrets/read')), 'ARM returns no value for secrets/read');
  });

  it('--subject binds both identities to that subject', async () => {
    for (const [flag, subject] of [
      ['User:ci@example', { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ci@example' }],
      ['Group:system:masters-not', { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:masters-not' }],
      ['ServiceAccount:ci/keyslot', { kind: 'ServiceAccount', name: 'keyslot', namespace: 'ci' }],
    ] as const) {
      const objs = documents((await cli('permissions', '-s', 'gardener-provider-secret', '--subject', flag)).out);
      const bindings = objs.filter((o) => o.kind.endsWith('Binding'));
      assert.ok(bindings.length >= 3);
      for (const b of bindings) assert.deepEqual(b.subjects, [subject]);
    }
    const byDefault = documents((await cli('permissions', '-s', 'gardener-provider-secret')).out).filter((o) => o.kind === 'RoleBinding');
    assert.deepEqual(
      new Set(byDefault.map((b) => `${b.subjects[0].namespace}/${b.subjects[0].name}`)),
      new Set(['keyslot/keyslot', 'keyslot/pulumi-deployer']),
    );
  });

  it('a kOps stack: the token grants flagged in YAML; --disruptive adds the cluster-wide writes', async () => {
    const plain = (await cli('permissions', '-s', 'kops-service-account')).out;
    assert.match(plain, /# SENSITIVE: mints a 10-minute token of kube-system\/default/);
    assert.doesNotMatch(plain, /- patch/);
    const disruptive = documents((await cli('permissions', '-s', 'kops-service-account', '--disruptive')).out);
    const cr = disruptive.find((o) => o.kind === 'ClusterRole')!;
    assert.ok(
      cr.rules.some((x: { resources?: string[]; verbs: string[] }) => x.resources?.includes('secrets') && x.verbs.includes('patch')),
    );
    assert.match(cr.metadata.annotations!['keyslot.dev/sensitive']!, /patch rewrites any Secret/);
  });

  it('an AWS policy has a statement per credential, purpose and resource, Sids unique', () => {
    const grant = (resource: string, action: string) =>
      ({ identity: 'deployer', row: 'secretsmanager-delivery', credential: 'cloud-billing', resource, action, why: 'w' }) as const;
    const [policy] = awsPolicies([
      grant('arn:a', 'secretsmanager:PutSecretValue'),
      grant('arn:b', 'secretsmanager:PutSecretValue'),
      grant('arn:a', 'secretsmanager:GetSecretValue'),
    ]);
    assert.deepEqual(policy!.policy.Statement, [
      {
        Sid: 'CloudBillingSecretsmanagerDelivery1',
        Effect: 'Allow',
        Action: ['secretsmanager:PutSecretValue', 'secretsmanager:GetSecretValue'],
        Resource: 'arn:a',
      },
      { Sid: 'CloudBillingSecretsmanagerDelivery2', Effect: 'Allow', Action: ['secretsmanager:PutSecretValue'], Resource: 'arn:b' },
    ]);
    assert.equal(policy!.policy.Version, '2012-10-17');
  });

  it('exits 2 with one line naming the flag, what was found and the fix', async () => {
    for (const [argv, says] of [
      [['permissions', '--stack', 'nope'], /stacks\/Pulumi\.nope\.yaml: stack: found no such file; fix: use one of /],
      [
        ['permissions', '-s', 'local', '--format', 'xml'],
        /--format <format>' argument 'xml' is invalid\. found "xml"; fix: use yaml or json/,
      ],
      [
        ['permissions', '-s', 'local', '--subject', 'Robot:x'],
        /--subject <kind:name>' .*found kind "Robot", not User, Group or ServiceAccount; fix: /,
      ],
      [
        ['permissions', '-s', 'local', '--subject', 'ServiceAccount:nonamespace'],
        /found "nonamespace", not NAMESPACE\/NAME of a ServiceAccount; fix: /,
      ],
      [['permissions', '-s', 'local', '--subject', 'User:'], /found the User name ""; fix: /],
      [
        ['permissions', '-s', 'kubecost-thanos', '--cluster', 'asia'],
        /--cluster asia: found "asia", which is not a cluster of stack kubecost-thanos; fix: use one of primary, secondary-eu, secondary-us/,
      ],
      [['permissions'], /required option '-s, --stack <name>' not specified/],
    ] as const) {
      const { code, out, err } = await cli(...argv);
      assert.equal(code, ExitCode.badInput, argv.join(' '));
      assert.equal(out, '');
      assert.equal(err.trim().split('\n').length, 1, err);
      assert.match(err, /^keyslot: /);
      assert.match(err, says, err);
    }
  });

  it("the README's excerpt is what the command prints, line for line where it shows lines", async () => {
    const blocks = readmeBlocks();
    const at = blocks.findIndex((b) => b.lang === 'sh' && /^npx keyslot permissions --stack \S+ --cluster \S+$/m.test(b.body));
    assert.ok(at >= 0);
    const argv = commandLines(blocks[at]!.body)[0]!.split(/\s+/).slice(2);
    const shown = blocks[at + 1]!;
    assert.equal(shown.lang, 'text');
    const { out } = await cli(...argv);
    const lines = out.split('\n');
    let from = 0;
    let gap = false;
    for (const want of shown.body.trimEnd().split('\n')) {
      if (want === '...') {
        gap = true;
        continue;
      }
      const found = gap ? lines.indexOf(want, from) : lines[from] === want ? from : -1;
      assert.ok(found >= 0, `README line ${shown.line}: not in the output${gap ? '' : ' next'}: ${want}`);
      from = found + 1;
      gap = false;
    }
  });
});
