/**
 * Issue #28, point 3 (Kubernetes): what `keyslot permissions` emits for keyslot's own identity is
 * sufficient and minimal. Every shipped stack whose rotations call Kubernetes is deployed in its
 * simulated world and rotated by the real driver through keyslot's real Kubernetes adapter, each
 * cluster behind an API emulator that authorizes every request as the API server's RBAC
 * authorizer does (test/fixtures/leastPrivilege.ts), after `keyslot discover` over the same fleet.
 *
 * - Sufficient: with only the emitted Roles and ClusterRoles bound to keyslot's token, discover
 *   and the whole rotation go through, and no request is denied.
 * - Minimal: for each permission an emitted rule grants (one verb on one resource, one name at a
 *   time), generated from the emitted rules, the same run without it fails with a 403, and
 *   keyslot's error names the verb, the resource, the namespace and the cluster to grant it on.
 *   Two kinds of grant are documented exceptions, and asserted as such: a rollout wait's `watch`,
 *   refused, degrades to polling (src/adapters/clusters/kubernetes/watch.ts), and a workload a stage
 *   names that this world does not hold (an `optional` stage, a later `firstExisting`) is never
 *   asked for beyond the `get` that finds it absent.
 */
import assert from 'node:assert/strict';
import { listStacks, readStackFile } from '../../src/config/load.ts';
import { parseStackConfig, type StackConfig } from '../../src/config/parse.ts';
import { ForbiddenError } from '../../src/errors.ts';
import {
  type Atom,
  type GuardedRun,
  atomsIn,
  atomsOf,
  atomText,
  keyslotObjects,
  keyslotUser,
  objectsWithout,
  rotateUnderRbac,
} from '../fixtures/leastPrivilege.ts';

const configOf = (stack: string): StackConfig => parseStackConfig(stack, readStackFile(stack).raw, stack);
/** The stacks whose rotations call Kubernetes as keyslot: those with an emitted grant for its identity. */
const kubernetesStacks = listStacks().filter((s) => atomsOf(configOf(s)).length > 0);

/**
 * npm test runs this file as shards side by side: KEYSLOT_LEAST_PRIVILEGE_SHARD=k/n takes every n-th
 * run (sufficiency and minimality alike) from the k-th. About 200 runs of ~0.2–1 s each.
 */
const [shard, shards] = (process.env.KEYSLOT_LEAST_PRIVILEGE_SHARD ?? '1/1').split('/').map(Number) as [number, number];
let runs = 0;
/** Whether the next run generated belongs to this shard. */
const mine = () => runs++ % shards === shard - 1;

/**
 * Whether the emulator's record of a request (`verb resource[/sub][.group][ name][ -n ns]`, or
 * `verb /path`) is one the atom grants: the same verb and resource, its name (any, for an atom
 * without one), its namespace (any, for a cluster-wide atom).
 */
const grants = (a: Atom, request: string): boolean => {
  if (a.url) return request === `${a.verb} ${a.url}`;
  const m = /^(\S+) (\S+)(?: (?!-n )(\S+))?(?: -n (\S+))?$/.exec(request);
  if (!m) return false;
  const [, verb, what, name, namespace] = m;
  return (
    verb === a.verb &&
    what === `${a.resource}${a.group ? `.${a.group}` : ''}` &&
    (a.name === undefined || name === a.name) &&
    (a.namespace === undefined || namespace === a.namespace)
  );
};

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/**
 * The grant keyslot's ForbiddenError asks for (src/adapters/clusters/kubernetes/api.ts `needs`):
 * the verb (others may come along), the resource, and where — the namespace, `all namespaces`, or
 * for a cluster-wide grant the namespace the refused request was in; a TokenRequest names its
 * ServiceAccount (`for NAMESPACE/NAME`).
 */
const grantOf = (a: Atom, refusedIn: string | undefined): RegExp => {
  if (a.url) return new RegExp(escaped(`grant ${a.verb} on the ${a.url} non-resource URL`));
  const where =
    a.namespace !== undefined
      ? `(?:in namespace ${escaped(a.namespace)}|for ${escaped(a.namespace)}/${escaped(a.name ?? '')})`
      : `in (?:all namespaces|namespace ${escaped(refusedIn ?? '')})`;
  const what = `${escaped(`${a.resource}${a.group ? `.${a.group}` : ''}`)} ${where}`;
  return new RegExp(`grant (?:[a-z]+, )*${a.verb}(?:, [a-z]+)* ${what} to keyslot's identity`);
};

/** The requests of keyslot's that a cluster's emulator refused, as it records them (`verb resource[ name][ -n ns]`). */
const refusedOn = (run: GuardedRun, cluster: string): string[] =>
  (run.decisions.get(cluster) ?? [])
    .filter((d) => d.startsWith(`DENY ${keyslotUser.name} `))
    .map((d) => d.slice(`DENY ${keyslotUser.name} `.length));

const workloadKinds: Record<string, string> = { deployments: 'deployment', statefulsets: 'statefulset', daemonsets: 'daemonset' };

describe("least privilege: keyslot's emitted Kubernetes permissions, judged by RBAC emulators through the real adapter", () => {
  it('covers the shipped stacks that call Kubernetes, kubecost-thanos and alwayson-cosmos among them', () => {
    assert.ok(kubernetesStacks.includes('kubecost-thanos') && kubernetesStacks.includes('alwayson-cosmos'), kubernetesStacks.join(', '));
    assert.ok(kubernetesStacks.length >= 8, `every shipped stack calls Kubernetes as keyslot: ${kubernetesStacks.join(', ')}`);
  });

  it('each variant takes away exactly one grant and keeps every other (the RBAC objects, split where a rule grants more)', () => {
    for (const stack of kubernetesStacks) {
      const config = configOf(stack);
      for (const c of config.clusters) {
        const all = atomsIn(c.name, keyslotObjects(config, c.name)).map((a) => JSON.stringify(a));
        for (const dropped of all) {
          const left = atomsIn(c.name, objectsWithout(config, c.name, JSON.parse(dropped) as Atom)).map((a) => JSON.stringify(a));
          assert.deepEqual(left.sort(), all.filter((a) => a !== dropped).sort(), `${stack}: without ${dropped}`);
        }
      }
    }
  });

  describe('sufficient: with only the emitted grants, discover and a whole rotation go through', () => {
    for (const stack of kubernetesStacks)
      for (const credential of configOf(stack).credentials.map((c) => c.name))
        if (mine())
          it(`${stack}: rotates ${credential}, no request denied`, async () => {
            const run = await rotateUnderRbac(stack, credential);
            if ('error' in run.outcome) throw run.outcome.error;
            assert.equal(run.outcome.result.outcome, 'rotated');
            assert.deepEqual(
              run.warnings.filter((w) => w.includes('refused')),
              [],
            );
            const all = [...run.decisions].flatMap(([cluster, d]) => d.map((x) => `${cluster}: ${x}`));
            assert.deepEqual(
              all.filter((d) => d.includes(' DENY ')),
              [],
            );
            // Every request carried keyslot's token: no other identity stood in for it.
            const user = keyslotUser.name;
            assert.ok(
              all.every((d) => d.includes(`ALLOW ${user} `)),
              "every request came with keyslot's token",
            );
            // Each cluster with an emitted grant served keyslot a request that an emitted rule allows: the adapter did the work there.
            const atoms = atomsOf(configOf(stack));
            for (const cluster of new Set(atoms.map((a) => a.cluster))) {
              const served = (run.decisions.get(cluster) ?? []).map((d) => d.slice(`ALLOW ${user} `.length));
              assert.ok(
                served.some((r) => atoms.some((a) => a.cluster === cluster && grants(a, r))),
                `cluster ${cluster}: ${served.join('; ')}`,
              );
            }
          });
  });

  describe('minimal: without any one emitted grant, the run fails with a 403 naming it', () => {
    for (const stack of kubernetesStacks) {
      const config = configOf(stack);
      const credential = config.credentials[0]!.name;
      for (const atom of atomsOf(config))
        if (mine())
          it(`${stack}: without ${atomText(atom)}`, async () => {
            const run = await rotateUnderRbac(stack, credential, atom);
            const refused = refusedOn(run, atom.cluster);
            if ('result' in run.outcome) {
              assert.equal(run.outcome.result.outcome, 'rotated');
              const kind = workloadKinds[atom.resource ?? ''];
              const held = [...run.world.fleet.cluster(atom.cluster).workloads.values()].some(
                (w) => w.kind === kind && w.namespace === atom.namespace && w.name === atom.name,
              );
              assert.ok(kind && (atom.verb === 'watch' || (atom.name && !held)), `${atomText(atom)} is emitted, but no step needed it`);
              if (held) {
                // The rollout wait asked to watch the workload, was refused, and read it every poll interval instead.
                assert.ok(
                  refused.length > 0 && refused.every((r) => grants(atom, r)),
                  `the watch was asked for and refused: ${refused.join('; ')}`,
                );
                // ... once (never asked again in that run), and keyslot said so, once, naming the grant.
                assert.equal(refused.length, 1, refused.join('; '));
                const said = run.warnings.filter((w) => w.includes('was refused (HTTP 403)'));
                assert.equal(said.length, 1, run.warnings.join('\n'));
                assert.ok(
                  said[0]!.startsWith(`cluster ${atom.cluster}: watch ${atom.resource}.apps in namespace ${atom.namespace} was refused`),
                  said[0],
                );
              } else {
                // A workload this world does not hold: the `get` found it absent, and nothing more was asked.
                assert.deepEqual(refused, []);
              }
              return;
            }
            const error = run.outcome.error;
            assert.ok(error instanceof ForbiddenError || (error instanceof Error && /HTTP 403; grant/.test(error.message)), String(error));
            const message = (error as Error).message;
            assert.ok(message.includes(`cluster ${atom.cluster}: `), message);
            // The server refused only requests the removed grant allowed, and keyslot names that grant.
            assert.ok(refused.length > 0 && refused.every((r) => grants(atom, r)), `${atomText(atom)}: ${refused.join('; ')}`);
            assert.match(message, grantOf(atom, / -n (\S+)$/.exec(refused[0]!)?.[1]));
          });
    }
  });

  describe('--disruptive: what `keyslot permissions --disruptive` adds is sufficient for a disruptive rotation, and each addition needed', () => {
    for (const stack of kubernetesStacks) {
      const config = configOf(stack);
      const credential = config.credentials[0]!.name;
      if (mine())
        it(`${stack}: a disruptive rotation of ${credential} goes through, no request denied`, async () => {
          const run = await rotateUnderRbac(stack, credential, undefined, 'disruptive');
          if ('error' in run.outcome) throw run.outcome.error;
          assert.equal(run.outcome.result.outcome, 'rotated');
          const denied = [...run.decisions].flatMap(([cluster, d]) => d.filter((x) => x.startsWith('DENY')).map((x) => `${cluster}: ${x}`));
          assert.deepEqual(denied, []);
        });
      const usual = new Set(atomsOf(config).map((a) => JSON.stringify(a)));
      for (const atom of atomsOf(config, { disruptive: true }).filter((a) => !usual.has(JSON.stringify(a))))
        if (mine())
          it(`${stack}: a disruptive rotation without ${atomText(atom)} is refused it, and says which grant`, async () => {
            const run = await rotateUnderRbac(stack, credential, atom, 'disruptive');
            const refused = refusedOn(run, atom.cluster);
            const kind = workloadKinds[atom.resource ?? ''];
            const heldKind = [...run.world.fleet.cluster(atom.cluster).workloads.values()].some((w) => w.kind === kind);
            if (kind && !heldKind) {
              // The grant covers every workload of a kind this world holds none of: nothing was asked.
              assert.deepEqual(refused, []);
              assert.ok('result' in run.outcome && run.outcome.result.outcome === 'rotated');
              return;
            }
            assert.ok(refused.length > 0 && refused.every((r) => grants(atom, r)), `${atomText(atom)}: ${refused.join('; ')}`);
            const grant = grantOf(atom, / -n (\S+)$/.exec(refused[0]!)?.[1]);
            if ('error' in run.outcome) {
              assert.match((run.outcome.error as Error).message, grant);
              return;
            }
            if (atom.verb === 'watch') {
              // Refused watches degrade to polling (see above): the rotation goes on, and says so once.
              const said = run.warnings.filter((w) => w.includes(`watch ${atom.resource}.apps`) && w.includes('was refused'));
              // Once per namespace the refused requests were in (each is a grant a namespaced Role could give).
              assert.equal(said.length, new Set(refused.map((r) => / -n (\S+)$/.exec(r)?.[1])).size, run.warnings.join('\n'));
              return;
            }
            // A workload that cannot be restarted does not stop the others (src/driver/kops.ts reissueEverything):
            // the rotation finishes with it unconfirmed, and the reason names the grant.
            const unconfirmed = run.outcome.result.unconfirmed;
            assert.ok(unconfirmed.length > 0, `${atomText(atom)}: nothing unconfirmed`);
            const gate = run.details.find((d) => d.includes('did not confirm'));
            assert.ok(gate && unconfirmed.every((u) => gate.includes(u)) && grant.test(gate), `${atomText(atom)}: ${gate}`);
          });
    }
  });
});
