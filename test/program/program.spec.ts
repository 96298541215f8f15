import assert from 'node:assert/strict';
import { listStacks, loadStack } from '../../src/config/load.ts';
import type { Credential } from '../../src/config/parse.ts';
import { selectClusters, standbySlot } from '../../src/model/index.ts';
import { isSecretValue, reveal, runProgram, stackConfigValues, type ProgramRun, type Registered } from '../fixtures/mockRuntime.ts';

const deliveryTypes = [':core/v1:Secret', ':core/v1:SecretPatch', ':Secret', ':SecretVersion'];
const keyTypes = [':RandomPassword', ':AccessKey', ':PrivateKey'];

function deliveriesOf(run: ProgramRun, cred: string): Registered[] {
  return run.resources.filter((r) => r.custom && r.name.startsWith(`${cred}-d`) && deliveryTypes.some((t) => r.type.endsWith(t)));
}

/** The delivered values of a delivery resource as the engine got them; a secret map makes each entry secret. */
function deliveredValues(r: Registered): unknown[] {
  const container = r.inputs.stringData ?? r.inputs.properties;
  if (r.inputs.secretString !== undefined) return [r.inputs.secretString];
  if (isSecretValue(container)) return Object.values(container.value as Record<string, unknown>).map((value) => ({ ...container, value }));
  if (r.inputs.stringData) return Object.values(container as Record<string, unknown>);
  return [(container as Record<string, unknown>).value];
}

/** The mock marker of a slot's key value: which resource or account it came from. */
function marker(cred: Credential, slot: string): string {
  const s = cred.source;
  if (s.type === 'azure-cosmosdb-keys' || s.type === 'azure-storage-keys') return `value-of-${s.accountName}-${slot}`;
  if (s.type === 'tls-signing-key') return `private-of-${cred.name}-g${cred.generations[slot]!.generation}`;
  return `value-of-${cred.name}-${slot}`;
}

function withSlots(stack: string, slots: Record<string, string>) {
  return stackConfigValues(stack, (raw) => {
    raw.slots = { ...(raw.slots as object | undefined), ...slots };
  });
}

describe('the keyslot program under the mock runtime', () => {
  for (const stack of listStacks()) {
    describe(`stack ${stack}`, () => {
      const config = loadStack(stack);
      let run: ProgramRun;
      before(async () => {
        run = await runProgram(stack, stackConfigValues(stack));
      });

      it("delivers the active slot's value, and only it, to every selected cluster and store", () => {
        for (const cred of config.credentials) {
          const deliveries = deliveriesOf(run, cred.name);
          const expected = cred.deliver.flatMap((d) =>
            d.type === 'kubernetes-secret' ? selectClusters(config.clusters, d.clusters) : ['store'],
          );
          assert.equal(deliveries.length, expected.length, `${cred.name}: one object per selected cluster or store`);
          for (const d of cred.deliver) {
            if (d.type !== 'kubernetes-secret') continue;
            for (const cluster of selectClusters(config.clusters, d.clusters)) {
              const r = deliveries.find((x) => x.name.endsWith(`-${cluster}`) && (x.inputs.metadata as { name: string }).name === d.name);
              assert.ok(r, `${cred.name}: ${d.namespace}/${d.name} on ${cluster}`);
              assert.match(
                r.provider ?? '',
                new RegExp(`::cluster-${cluster}::`),
                `${cred.name}: delivered through the ${cluster} provider`,
              );
            }
          }
          const text = JSON.stringify(deliveries.map((r) => reveal(deliveredValues(r))));
          if (cred.scheme === 'dual') {
            assert.ok(text.includes(marker(cred, cred.active)), `${cred.name}: active slot delivered`);
            assert.ok(!text.includes(`${marker(cred, standbySlot(cred.active as 'primary'))}"`), `${cred.name}: standby never delivered`);
          }
          if (cred.source.type === 'tls-signing-key') {
            assert.ok(text.includes(marker(cred, 'primary')), `${cred.name}: signer gets primary`);
            for (const slot of ['previous', 'next'])
              assert.ok(!text.includes(marker(cred, slot)), `${cred.name}: ${slot} private key never delivered`);
            for (const g of Object.values(cred.generations))
              assert.ok(text.includes(`public-of-${cred.name}-g${g.generation}`), `${cred.name}: verifiers trust g${g.generation}`);
          }
        }
      });

      it('keeps every slot alive', () => {
        for (const cred of config.credentials) {
          const keys = run.resources.filter((r) => r.name.startsWith(`${cred.name}-`) && keyTypes.some((t) => r.type.endsWith(t)));
          if (cred.source.type === 'azure-cosmosdb-keys' || cred.source.type === 'azure-storage-keys') {
            assert.ok(
              run.invokes.some((i) => 'accountName' in cred.source && i.inputs.accountName === cred.source.accountName),
              `${cred.name}: keys read, never declared`,
            );
            assert.equal(keys.length, 0);
          } else if (cred.scheme === 'managed' || cred.source.type === 'kops-keyset') {
            assert.equal(keys.length, 0, `${cred.name}: ${cred.source.type} owns the key`);
          } else {
            assert.equal(keys.length, Object.keys(cred.generations).length, `${cred.name}: one key per slot`);
          }
        }
      });

      it('marks every delivered value secret and never annotates a value', () => {
        for (const cred of config.credentials) {
          for (const r of deliveriesOf(run, cred.name)) {
            for (const v of deliveredValues(r)) assert.ok(isSecretValue(v), `${r.name}: value is a secret`);
            const marks = JSON.stringify(reveal({ m: r.inputs.metadata, t: r.inputs.tags }));
            assert.doesNotMatch(marks, /value-of|private-of/);
            assert.match(marks, new RegExp(`"${cred.active}"`), `${r.name}: carries its slot`);
          }
        }
        assert.doesNotMatch(JSON.stringify(run.credentials), /value-of|private-of|public-of/, 'stack outputs hold no value');
      });

      it('exports scheme, active slot, generations, createdAt and targets per credential', () => {
        for (const cred of config.credentials) {
          const state = run.credentials[cred.name]!;
          assert.equal(state.scheme, cred.scheme);
          assert.equal(state.activeSlot, cred.active);
          for (const [slot, g] of Object.entries(cred.generations)) {
            assert.equal(state.slots[slot]?.generation, g.generation);
            // Keys the program makes record their creation; kOps' keypairs get theirs from kops when keyslot moves the keyset.
            if (cred.scheme !== 'managed' && cred.source.type !== 'kops-keyset')
              assert.ok(state.slots[slot]?.createdAt, `${cred.name}.${slot}: createdAt recorded`);
            if (g.keyId) assert.equal(state.slots[slot]?.keyId, g.keyId, `${cred.name}.${slot}: keypair id recorded`);
          }
          assert.equal(state.targets.length, deliveriesOf(run, cred.name).length);
        }
      });

      const dual = config.credentials.filter((c) => c.scheme === 'dual');
      if (dual.length) {
        it('flipping keyslot:slots changes exactly the deliveries', async () => {
          const flipped = await runProgram(
            stack,
            withSlots(stack, Object.fromEntries(dual.map((c) => [c.name, standbySlot(c.active as 'primary')]))),
          );
          const key = (r: Registered) => `${r.type} ${r.name}`;
          const before = new Map(run.resources.map((r) => [key(r), r]));
          const after = new Map(flipped.resources.map((r) => [key(r), r]));
          assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'same resources');
          const changed = [...after]
            .filter(([k, r]) => JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(before.get(k)!.inputs)))
            .map(([k]) => k);
          // The deliveries, and the record of which slot is active; no key, no provider.
          const deliveries = dual.flatMap((c) => deliveriesOf(flipped, c.name)).map(key);
          const records = dual.map((c) => `keyslot:index:CredentialState ${c.name}-state`);
          assert.deepEqual(changed.sort(), [...deliveries, ...records].sort());
          for (const c of dual) {
            const text = JSON.stringify(deliveriesOf(flipped, c.name).map((r) => reveal(deliveredValues(r))));
            assert.ok(text.includes(marker(c, standbySlot(c.active as 'primary'))), `${c.name}: now delivers the other slot`);
          }
        });
      }
    });
  }

  it('replaces only the regenerated slot when its generation is bumped', async () => {
    const before = await runProgram('local', stackConfigValues('local'));
    const after = await runProgram(
      'local',
      stackConfigValues('local', (raw) => {
        raw.generations = { demo: { primary: { generation: 1 }, secondary: { generation: 3 } } };
      }),
    );
    const keepers = (run: ProgramRun, slot: string) =>
      reveal(run.resources.find((r) => r.name === `demo-${slot}` && r.type.endsWith(':RandomPassword'))!.inputs.keepers);
    assert.deepEqual(keepers(after, 'primary'), keepers(before, 'primary'));
    assert.deepEqual(keepers(after, 'secondary'), { generation: '3' });
  });

  it('refuses a stack file older than what is deployed (a StackReference to itself)', async () => {
    const deployed = {
      demo: {
        stack: 'local',
        credential: 'demo',
        scheme: 'dual',
        activeSlot: 'secondary',
        slots: { primary: { generation: 3 }, secondary: { generation: 2 } },
        minIntervalHours: 0,
        targets: [],
      },
    };
    await assert.rejects(runProgram('local', stackConfigValues('local'), deployed), (e: unknown) =>
      /stack local: keyslot:generations\.demo: found newest generation 2 but newest generation 3 is deployed; fix: pull the current stacks\/Pulumi\.local\.yaml/.test(
        String((e as Error).message),
      ),
    );
  });

  it('deploys a stack file that is current with what is deployed', async () => {
    const deployed = {
      demo: {
        stack: 'local',
        credential: 'demo',
        scheme: 'dual',
        activeSlot: 'primary',
        slots: { primary: { generation: 1 }, secondary: { generation: 2 } },
        minIntervalHours: 0,
        targets: [],
      },
    };
    const run = await runProgram('local', stackConfigValues('local'), deployed);
    assert.equal(run.credentials.demo?.activeSlot, 'primary');
  });

  it('stops on an invalid stack config with the one-line parser message', async () => {
    const bad = stackConfigValues('local', (raw) => {
      raw.slots = { demo: 'tertiary' };
    });
    await assert.rejects(runProgram('local', bad), {
      name: 'ConfigError',
      message:
        'stack local: keyslot:slots.demo: found "tertiary", a slot the dual scheme does not have; fix: use one of primary, secondary',
    });
  });
});
