import assert from 'node:assert/strict';
import { keyslotPolicies } from '../../../policy/policies/index.ts';
import { listStacks, loadStack } from '../../../src/config/load.ts';
import { runProgram, stackConfigValues, type ProgramRun } from '../../fixtures/mockRuntime.ts';
import { runPolicy, type ResourceInput } from '../harness.ts';

/** What the policy server would see for each registration of a program run. */
function asPolicyInputs(run: ProgramRun): ResourceInput[] {
  return run.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    // Custom resources: inputs with the provider's outputs; components: their inputs (= outputs).
    props: r.custom ? { ...r.inputs, ...r.outputs } : r.inputs,
    opts: { deleteBeforeReplace: r.deleteBeforeReplace, additionalSecretOutputs: [...r.additionalSecretOutputs] },
    ...(r.parent ? { parent: r.parent } : {}),
  }));
}

async function violations(run: ProgramRun, now: Date) {
  const found: string[] = [];
  for (const policy of keyslotPolicies({ now: () => now })) {
    for (const v of await runPolicy(policy, asPolicyInputs(run))) found.push(`${policy.name}: ${v.message}`);
  }
  return found;
}

describe('the policy pack over every stack the program registers', () => {
  for (const stack of listStacks()) {
    describe(`stack ${stack}`, () => {
      let run: ProgramRun;
      before(async () => {
        // Keys made "now" in the mocks (2026-11-01), cloud keys recorded in the stack file.
        run = await runProgram(stack, stackConfigValues(stack));
      });

      it('passes with fresh keys', async () => {
        assert.deepEqual(await violations(run, new Date('2026-11-02T00:00:00Z')), []);
      });

      it('fails max-key-age once the clock passes the limit', async () => {
        const config = loadStack(stack);
        const limit = Math.max(...config.credentials.map((c) => c.maxAgeDays ?? 90));
        const late = new Date(Date.parse('2026-11-01T00:00:00Z') + (limit + 1) * 86_400_000);
        const found = await violations(run, late);
        const aged = config.credentials.filter((c) => Object.values(c.generations).some((g) => g.createdAt) || c.scheme !== 'managed');
        for (const cred of aged) {
          assert.ok(
            found.some(
              (v) =>
                v.startsWith(`max-key-age: credential ${cred.name}: slot `) &&
                v.includes(`keyslot rotate --stack ${stack} --credential ${cred.name}`),
            ),
            `${cred.name}: ${found.join('\n')}`,
          );
        }
        assert.ok(
          found.every((v) => v.startsWith('max-key-age') || v.startsWith('key-rotation-due')),
          found.join('\n'),
        );
      });
    });
  }
});
