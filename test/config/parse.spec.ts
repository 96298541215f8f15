import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, StackNotFoundError } from '../../src/errors.ts';
import { listStacks, loadStack, parseStackConfig } from '../../src/config/index.ts';
import { projectRoot } from '../../src/config/load.ts';

/** A valid stack; each case below changes one thing. */
function valid(): Record<string, any> {
  return {
    clusters: [{ name: 'eu', primary: true }, { name: 'us' }],
    credentials: [
      {
        name: 'store',
        source: { type: 'random' },
        deliver: [{ type: 'kubernetes-secret', namespace: 'app', name: 'store', data: { 'object-store.yaml': 'key: ${value}' } }],
        stages: [
          { kind: 'restart', namespace: 'app', workload: 'deployment/api' },
          { kind: 'restart', clusters: 'primary', namespace: 'app', workload: 'statefulset/store' },
        ],
      },
    ],
  };
}

const cases: { name: string; change: (c: Record<string, any>) => void; path: string; found: RegExp; fix: RegExp }[] = [
  {
    name: 'unknown source type',
    change: (c) => (c.credentials[0].source = { type: 'vault' }),
    path: 'keyslot:credentials[0].source.type',
    found: /"vault"/,
    fix: /use one of random, aws-iam-access-key/,
  },
  {
    name: 'a stage waiting for a stage no stage has as its id',
    change: (c) => (c.credentials[0].stages[1].after = ['api']),
    path: 'keyslot:credentials[0].stages[1].after[0]',
    found: /"api", which no stage of store has as its id/,
    fix: /name a stage before this one by its id/,
  },
  {
    name: 'a stage waiting for a later stage',
    change: (c) => {
      c.credentials[0].stages[1].id = 'store';
      c.credentials[0].stages[0].after = ['store'];
    },
    path: 'keyslot:credentials[0].stages[0].after[0]',
    found: /"store", a stage at or after this one/,
    fix: /waits only for stages before it/,
  },
  {
    name: 'two stages with one id',
    change: (c) => {
      c.credentials[0].stages[0].id = 'roll';
      c.credentials[0].stages[1].id = 'roll';
    },
    path: 'keyslot:credentials[0].stages[1].id',
    found: /"roll" a second time/,
    fix: /unique id/,
  },
  {
    name: 'duplicate credential names',
    change: (c) => c.credentials.push(structuredClone(c.credentials[0])),
    path: 'keyslot:credentials[1].name',
    found: /"store" a second time/,
    fix: /unique name/,
  },
  {
    name: 'duplicate cluster names',
    change: (c) => (c.clusters[1].name = 'eu'),
    path: 'keyslot:clusters[1].name',
    found: /"eu" a second time/,
    fix: /unique name/,
  },
  {
    name: 'two primary clusters',
    change: (c) => (c.clusters[1].primary = true),
    path: 'keyslot:clusters[1].primary',
    found: /"eu" is already primary/,
    fix: /at most one/,
  },
  {
    name: 'a stage naming an undefined cluster',
    change: (c) => (c.credentials[0].stages[0].clusters = ['eu', 'asia']),
    path: 'keyslot:credentials[0].stages[0].clusters[1]',
    found: /"asia", which is not a declared cluster/,
    fix: /use one of eu, us/,
  },
  {
    name: 'a delivery naming an undefined cluster',
    change: (c) => (c.credentials[0].deliver[0].clusters = ['asia']),
    path: 'keyslot:credentials[0].deliver[0].clusters[0]',
    found: /"asia"/,
    fix: /declare it in keyslot:clusters/,
  },
  {
    name: '"primary" with no primary cluster',
    change: (c) => delete c.clusters[0].primary,
    path: 'keyslot:credentials[0].stages[1].clusters',
    found: /no cluster is marked primary/,
    fix: /primary: true/,
  },
  {
    name: 'an active slot the scheme has not',
    change: (c) => (c.slots = { store: 'next' }),
    path: 'keyslot:slots.store',
    found: /"next", a slot the dual scheme does not have/,
    fix: /use one of primary, secondary/,
  },
  {
    name: 'a slot for an unknown credential',
    change: (c) => (c.slots = { stor: 'secondary' }),
    path: 'keyslot:slots.stor',
    found: /not a credential/,
    fix: /use one of store/,
  },
  {
    name: 'a triple keyset signing with next',
    change: (c) => {
      c.credentials[0].source = { type: 'tls-signing-key' };
      c.credentials[0].deliver[0].data = { k: '${privateKeyPem}' };
      c.slots = { store: 'next' };
    },
    path: 'keyslot:slots.store',
    found: /always signs with "primary"/,
    fix: /keyslot rotate --credential store/,
  },
  {
    name: 'a template variable the source does not provide',
    change: (c) => (c.credentials[0].deliver[0].data['object-store.yaml'] = 'key: ${secretAccessKey}'),
    path: 'keyslot:credentials[0].deliver[0].data["object-store.yaml"]',
    found: /\$\{secretAccessKey\}, which source random does not provide/,
    fix: /\$\{value\}/,
  },
  {
    name: 'a scheme that contradicts the source',
    change: (c) => (c.credentials[0].scheme = 'triple'),
    path: 'keyslot:credentials[0].scheme',
    found: /"triple" for source random/,
    fix: /use "dual"/,
  },
  {
    name: 'an unknown stage kind',
    change: (c) => (c.credentials[0].stages[0] = { kind: 'reboot' }),
    path: 'keyslot:credentials[0].stages[0].kind',
    found: /"reboot"/,
    fix: /use one of restart, verify-logs/,
  },
  {
    name: 'a restart with no workload',
    change: (c) => delete c.credentials[0].stages[0].workload,
    path: 'keyslot:credentials[0].stages[0].workload',
    found: /neither workload nor firstExisting/,
    fix: /exactly one/,
  },
  {
    name: 'a workload of an unknown kind',
    change: (c) => (c.credentials[0].stages[0].workload = 'pod/api'),
    path: 'keyslot:credentials[0].stages[0].workload',
    found: /"pod\/api"/,
    fix: /deployment, statefulset or daemonset/,
  },
  {
    name: 'a misspelt option',
    change: (c) => (c.credentials[0].maxAgeDay = 30),
    path: 'keyslot:credentials[0].maxAgeDay',
    found: /a number/,
    fix: /remove maxAgeDay/,
  },
  {
    name: 'a wrong value type',
    change: (c) => (c.credentials[0].maxAgeDays = 'ninety'),
    path: 'keyslot:credentials[0].maxAgeDays',
    found: /"ninety"/,
    fix: /use a number/,
  },
  { name: 'no credentials', change: (c) => delete c.credentials, path: 'keyslot:credentials', found: /nothing/, fix: /set it to an array/ },
  {
    name: 'an unknown top-level key',
    change: (c) => (c.slot = { store: 'secondary' }),
    path: 'keyslot:slot',
    found: /an object with keys store/,
    fix: /keyslot:slots/,
  },
  {
    name: 'a kubeconfig secret that is not set',
    change: (c) => (c.clusters[0].kubeconfigSecret = 'euKubeconfig'),
    path: 'keyslot:clusters[0].kubeconfigSecret',
    found: /not set/,
    fix: /pulumi config set --secret keyslot:euKubeconfig/,
  },
  {
    name: 'a namespace with a dot (namespaces are DNS labels)',
    change: (c) => (c.credentials[0].stages[0].namespace = 'team.apps'),
    path: 'keyslot:credentials[0].stages[0].namespace',
    found: /"team\.apps"/,
    fix: /DNS-1123 label/,
  },
  {
    name: 'a namespace over 63 characters',
    change: (c) => (c.credentials[0].deliver[0].namespace = 'n'.repeat(64)),
    path: 'keyslot:credentials[0].deliver[0].namespace',
    found: /a string of 64 characters/,
    fix: /at most 63 characters/,
  },
  {
    name: 'a workload name over 253 characters',
    change: (c) => (c.credentials[0].stages[0].workload = `deployment/${'a'.repeat(254)}`),
    path: 'keyslot:credentials[0].stages[0].workload',
    found: /a string of 265 characters/,
    fix: /at most 253 characters/,
  },
  {
    name: "a generation that collides with another slot's default",
    change: (c) => (c.generations = { store: { secondary: { generation: 1 } } }),
    path: 'keyslot:generations.store.secondary.generation',
    found: /1, also the generation of primary \(by default\)/,
    fix: /its own generation/,
  },
  {
    name: 'a value that must be positive, at 0',
    change: (c) => (c.credentials[0].maxAgeDays = 0),
    path: 'keyslot:credentials[0].maxAgeDays',
    found: /^0$/,
    fix: /^use a number greater than 0$/,
  },
  {
    name: 'a fractional generation',
    change: (c) => (c.generations = { store: { primary: { generation: 1.5 }, secondary: { generation: 2 } } }),
    path: 'keyslot:generations.store.primary.generation',
    found: /1\.5/,
    fix: /whole number from 1, such as 3/,
  },
  {
    name: 'a verify-http URL that is not http(s)',
    change: (c) => c.credentials[0].stages.push({ kind: 'verify-http', url: 'ftp://cost.example/diag' }),
    path: 'keyslot:credentials[0].stages[2].url',
    found: /ftp:/,
    fix: /http:\/\/ or https:\/\/ URL/,
  },
  {
    name: 'generations sharing a number',
    change: (c) => (c.generations = { store: { primary: { generation: 4 }, secondary: { generation: 4 } } }),
    path: 'keyslot:generations.store.secondary.generation',
    found: /4, also the generation of primary/,
    fix: /its own generation/,
  },
  {
    name: 'deliveries for a key its owner manages',
    change: (c) => (c.credentials[0].source = { type: 'gardener-kubeconfig' }),
    path: 'keyslot:credentials[0].deliver',
    found: /1 deliveries/,
    fix: /remove deliver/,
  },
  {
    name: 'a verify-logs pattern that is not a regex',
    change: (c) =>
      c.credentials[0].stages.push({ kind: 'verify-logs', namespace: 'app', workload: 'deployment/api', patterns: ['(unclosed'] }),
    path: 'keyslot:credentials[0].stages[2].patterns[0]',
    found: /"\(unclosed"/,
    fix: /regular expression/,
  },
];

describe('config: parseStackConfig', () => {
  it('makes kubeconfigPath absolute once: relative to the project folder (as the Kubernetes provider reads it), ~ the home folder', () => {
    const paths = (p: string) => {
      const c = valid();
      c.clusters[0].kubeconfigPath = p;
      return parseStackConfig('s', c, 'stacks/Pulumi.s.yaml').clusters[0]!.kubeconfigPath;
    };
    assert.equal(paths('kube/eu.yaml'), join(projectRoot, 'kube', 'eu.yaml'));
    assert.equal(paths('~/.kube/eu'), join(homedir(), '.kube', 'eu'));
    assert.equal(paths('/etc/kube/eu'), '/etc/kube/eu');
  });

  it('accepts the valid base case and fills defaults', () => {
    const config = parseStackConfig('s', valid(), 'stacks/Pulumi.s.yaml');
    const cred = config.credentials[0]!;
    assert.equal(cred.scheme, 'dual');
    assert.equal(cred.active, 'primary');
    assert.deepEqual(cred.generations, { primary: { generation: 1 }, secondary: { generation: 2 } });
    assert.equal(cred.maxAgeDays, undefined, 'left to the policy pack');
    assert.equal(cred.minIntervalHours, 24);
  });

  for (const c of cases) {
    it(`rejects ${c.name} with one line naming path, finding and fix`, () => {
      const raw = valid();
      c.change(raw);
      assert.throws(
        () => parseStackConfig('s', raw, 'stacks/Pulumi.s.yaml'),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.equal(e.path, c.path);
          assert.match(e.found, c.found);
          assert.match(e.fix, c.fix);
          assert.ok(e.message.startsWith(`stacks/Pulumi.s.yaml: ${c.path}: found `));
          assert.ok(!e.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  }

  it('never echoes a plain-text value under a key it does not know, nor one shaped like a key', () => {
    const raw = valid();
    raw.credentials[0].awsSecretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    assert.throws(
      () => parseStackConfig('s', raw, 'o'),
      (e: ConfigError) => !e.message.includes('wJalrX') && /found a string of 40 characters/.test(e.message),
    );
    const bad = valid();
    bad.credentials[0].maxAgeDays = 'AKIAIOSFODNN7EXAMPLE';
    assert.throws(
      () => parseStackConfig('s', bad, 'o'),
      (e: ConfigError) => !e.message.includes('AKIAIOSFODNN7EXAMPLE') && /found a string of 20 characters/.test(e.message),
    );
  });

  it('refuses a kubeconfig secret stored in plain text, naming pulumi config set --secret, without echoing it', () => {
    const raw = valid();
    raw.clusters[0].kubeconfigSecret = 'euKubeconfig';
    raw.euKubeconfig = 'apiVersion: v1\nusers: [{name: u, user: {token: plain-token-value}}]';
    assert.throws(
      () => parseStackConfig('s', raw, 'o'),
      (e: ConfigError) =>
        e.path === 'keyslot:euKubeconfig' &&
        /in plain text/.test(e.message) &&
        /pulumi config set --secret keyslot:euKubeconfig/.test(e.message) &&
        !e.message.includes('plain-token-value'),
    );
    raw.euKubeconfig = { secure: 'v1:ciphertext' };
    assert.doesNotThrow(() => parseStackConfig('s', raw, 'o'));
  });

  it("refuses recorded times in the future by the caller's clock (the driver and the CLI pass theirs)", () => {
    const raw = valid();
    raw.generations = {
      store: {
        primary: { generation: 1, createdAt: '2027-06-01T00:00:00Z' },
        secondary: { generation: 2 },
        lastRotatedAt: '2026-11-01T00:00:00Z',
      },
    };
    const now = new Date('2026-12-01T00:00:00Z');
    assert.throws(
      () => parseStackConfig('s', raw, 'o', now),
      (e: ConfigError) =>
        e.path === 'keyslot:generations.store.primary.createdAt' &&
        /found 2027-06-01T00:00:00Z, after now \(2026-12-01T00:00:00\.000Z\)/.test(e.message),
    );
    raw.generations.store.primary.createdAt = '2026-12-01T00:03:00Z';
    assert.doesNotThrow(() => parseStackConfig('s', raw, 'o', now), 'a few minutes of clock skew is tolerated');
    raw.generations.store.lastRotatedAt = '2027-01-01T00:00:00Z';
    assert.throws(
      () => parseStackConfig('s', raw, 'o', now),
      (e: ConfigError) => e.path === 'keyslot:generations.store.lastRotatedAt',
    );
    assert.doesNotThrow(() => parseStackConfig('s', raw, 'o'), 'without a clock (inside pulumi up) times are not judged');
  });

  it('never echoes a secret config value', () => {
    const raw = valid();
    raw.credentials[0].source = { secure: 'v1:AAAAsecretciphertext' };
    assert.throws(
      () => parseStackConfig('s', raw, 'o'),
      (e: ConfigError) => !e.message.includes('AAAAsecret'),
    );
  });
});

describe('config: loadStack', () => {
  it('says what is wrong with a stack path that is a folder, and with a config: that is a list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-stacks-'));
    try {
      mkdirSync(join(dir, 'Pulumi.folder.yaml'));
      assert.throws(
        () => loadStack('folder', dir),
        (e: ConfigError) => /found a folder, not a file/.test(e.message),
      );
      writeFileSync(join(dir, 'Pulumi.list.yaml'), 'config:\n  - keyslot:credentials\n');
      assert.throws(
        () => loadStack('list', dir),
        (e: ConfigError) => e.path === 'config' && /found a list; fix: make config: a map/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses every stack in stacks/', () => {
    const stacks = listStacks();
    for (const s of [
      'local',
      'kubecost-cloud-billing',
      'kubecost-federated-etl',
      'kubecost-thanos',
      'alwayson-cosmos',
      'kops-service-account',
      'gardener-provider-secret',
      'gardener-kubeconfig',
    ]) {
      assert.ok(stacks.includes(s), `stacks/Pulumi.${s}.yaml exists`);
      assert.equal(loadStack(s).stack, s);
    }
  });

  it('names the missing file and the stacks that exist', () => {
    assert.throws(
      () => loadStack('nope'),
      (e: unknown) =>
        e instanceof StackNotFoundError && /Pulumi\.nope\.yaml: stack: found no such file; fix: use one of .*local/.test(e.message),
    );
  });

  it('reports invalid YAML with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-stacks-'));
    writeFileSync(join(dir, 'Pulumi.bad.yaml'), 'config:\n  keyslot:credentials: [\n    - name: x\n');
    assert.throws(
      () => loadStack('bad', dir),
      (e: unknown) => e instanceof ConfigError && /invalid YAML at line \d+/.test(e.message),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the slot a hand-run `pulumi config set --path` wrote', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-stacks-'));
    writeFileSync(
      join(dir, 'Pulumi.s.yaml'),
      'config:\n  aws:region: eu-west-1\n  keyslot:credentials:\n    - name: k\n      source: {type: random}\n  keyslot:slots:\n    k: secondary\n',
    );
    const cred = loadStack('s', dir).credentials[0]!;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(cred.active, 'secondary');
  });
});
