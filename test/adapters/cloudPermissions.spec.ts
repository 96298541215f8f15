/**
 * Are the cloud grants `keyslot permissions` emits for keyslot's own identity enough, and each of
 * them needed? keyslot's real Azure and AWS adapters make a shipped stack's cloud calls against
 * emulators that authorize every request as Azure RBAC and IAM do (test/fixtures/armEmulator.ts,
 * test/fixtures/awsQueryEmulator.ts): with the emitted role or policy the calls succeed; with any
 * one action (or, for Azure, any one assignment scope) taken out, one of them fails with the
 * cloud's 403, and keyslot's error names what to grant, never a key.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { AwsIamKeys } from '../../src/adapters/cloud/aws.ts';
import { AzureAccountKeys } from '../../src/adapters/cloud/azure.ts';
import { awsPolicies, azureRoles } from '../../src/cli/commands/permissions.ts';
import { loadStack } from '../../src/config/load.ts';
import type { Credential, StackConfig } from '../../src/config/parse.ts';
import type { Delivery } from '../../src/config/schema.ts';
import { ForbiddenError } from '../../src/errors.ts';
import { selects } from '../../src/model/clusters.ts';
import { stackPermissions } from '../../src/model/permissions.ts';
import { isStage, planCredential } from '../../src/model/planner.ts';
import type { CloudKeys, KeyRef } from '../../src/ports/cloud.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimCloud } from '../../src/sim/cloud.ts';
import { type ArmRoleAssignment, ArmEmulator } from '../fixtures/armEmulator.ts';
import { type ArmRun, rotateUnderArm } from '../fixtures/cloudGrants.ts';
import { AwsQueryEmulator, type IamPolicy } from '../fixtures/awsQueryEmulator.ts';

const subscriptionId = '00000000-0000-4000-8000-0000000000aa';
const armToken = 'keyslot-test-arm-token';
const credential = { getToken: async () => ({ token: armToken, expiresOnTimestamp: Date.now() + 3600_000 }) };

interface Call {
  readonly what: string;
  readonly run: (cloud: CloudKeys) => Promise<unknown>;
}

type Vault = Extract<Delivery, { type: 'azure-keyvault-secret' }>;

/**
 * The cloud calls of one rotation of `cred`, then of its rollback, made as the driver makes them:
 * src/driver/preflight.ts (the standby key test), src/driver/stages/csi.ts (awaitMounts: the
 * version of the vault serving each cluster of a wait-secret-sync stage), src/driver/record.ts
 * (regenerate: the freed key's last use after the gate; a soak's deactivation, or its creation time
 * and the regeneration), src/driver/rollback.ts (assertRollbackPossible, then the old key on again).
 */
function cloudCalls(config: StackConfig, cred: Credential): Call[] {
  const key: KeyRef = { credential: cred.name, source: cred.source };
  const plan = planCredential(config, cred);
  const calls: Call[] = [];
  const call = (what: string, run: Call['run']) => calls.push({ what, run });
  for (const step of plan.steps) {
    if (step.kind === 'preflight' && step.checks.includes('standby key accepted by the cloud'))
      call(`preflight: testKey ${plan.to}`, (c) => c.testKey(key, plan.to));
    if (isStage(step) && step.kind === 'wait-secret-sync')
      for (const cluster of step.clusters) {
        const vault = cred.deliver.find(
          (d): d is Vault =>
            d.type === 'azure-keyvault-secret' && d.clusters !== undefined && selects(config.clusters, d.clusters, cluster),
        );
        assert.ok(vault, `a vault serves ${cluster}`);
        call(`wait-secret-sync on ${cluster}: vaultSecretVersion`, (c) => c.vaultSecretVersion(vault));
      }
    if (step.kind === 'regenerate') {
      call(`regenerate: keyLastUsedAt ${step.slot}`, (c) => c.keyLastUsedAt(key, step.slot));
      if (step.via === 'pulumi-up') {
        if (step.soakMinutes > 0) call(`regenerate: setActive ${step.slot} off`, (c) => c.setActive(key, step.slot, false));
      } else {
        call(`regenerate: keyCreatedAt ${step.slot}`, (c) => c.keyCreatedAt(key, step.slot));
        call(`regenerate: regenerate ${step.slot}`, (c) => c.regenerate(key, step.slot));
      }
    }
  }
  for (const step of plan.steps)
    if (step.kind === 'regenerate' && step.via !== 'pulumi-up')
      call(`rollback check: keyCreatedAt ${step.slot}`, (c) => c.keyCreatedAt(key, step.slot));
  call(`rollback: setActive ${plan.from} on`, (c) => c.setActive(key, plan.from, true));
  return calls;
}

/** Runs every call; the first failure, or undefined when all succeeded. */
async function firstFailure(cloud: CloudKeys, calls: readonly Call[]): Promise<{ what: string; error: unknown } | undefined> {
  for (const c of calls) {
    try {
      await c.run(cloud);
    } catch (error) {
      return { what: c.what, error };
    }
  }
  return undefined;
}

describe('cloud permissions: what `keyslot permissions` emits for Azure, judged by ARM-style RBAC', () => {
  const stacks = ['alwayson-cosmos', 'kubecost-federated-etl'];

  /** The emitted custom role of keyslot's own identity, assigned at each scope of assignAt. */
  function emitted(config: StackConfig) {
    const perms = stackPermissions(config, { azureSubscriptionId: subscriptionId });
    const roles = azureRoles(config.stack, perms.azure).filter((r) => r.identity === 'keyslot');
    assert.equal(roles.length, 1, 'one custom role for keyslot');
    return roles[0]!;
  }

  async function world(config: StackConfig) {
    const cloud = new SimCloud(new SimClock('2026-11-01T00:00:00Z'));
    const cosmos: string[] = [];
    const storage: string[] = [];
    for (const cred of config.credentials) {
      if (cred.source.type === 'azure-cosmosdb-keys') cosmos.push(cred.source.accountName);
      if (cred.source.type === 'azure-storage-keys') storage.push(cred.source.accountName);
      for (const d of cred.deliver)
        if (d.type === 'azure-keyvault-secret') cloud.stores.set(`${d.vaultName}/${d.secretName}`, `value of ${d.secretName}`);
    }
    const emulator = new ArmEmulator(cloud, armToken, { cosmos, storage });
    const endpoint = await emulator.start();
    const azure = new AzureAccountKeys({ credential, subscriptionId, endpoint, agent: new Agent({ ca: emulator.ca }), pollIntervalMs: 5 });
    const calls = config.credentials.filter((c) => c.source.type.startsWith('azure-')).flatMap((c) => cloudCalls(config, c));
    /** Every key value the emulator could have answered with, which no error may carry. */
    const secrets = () => [...cloud.issued, ...cloud.stores.values()];
    return { cloud, emulator, azure, calls, secrets };
  }

  const assign = (role: { Actions: readonly string[] }, scopes: readonly string[]): ArmRoleAssignment[] =>
    scopes.map((scope) => ({ scope, role: { Actions: role.Actions, NotActions: [] } }));

  /** The message of what stopped a run, or undefined when it went through. */
  const failure = (run: ArmRun): string | undefined => ('error' in run.outcome ? String((run.outcome.error as Error).message) : undefined);
  const denied = (run: ArmRun) => run.emulator.denials;

  for (const stack of stacks) {
    describe(stack, () => {
      const config = loadStack(stack);
      const { roleDefinition, assignAt } = emitted(config);
      const credentials = config.credentials.filter((c) => c.source.type.startsWith('azure-')).map((c) => c.name);

      it('is sufficient: the real driver rotates, and rolls back, with only the emitted role', async () => {
        for (const name of credentials) {
          const rotated = await rotateUnderArm(stack, name, assign(roleDefinition, assignAt));
          assert.equal(failure(rotated), undefined);
          assert.equal('result' in rotated.outcome && rotated.outcome.result.outcome, 'rotated');
          assert.ok(rotated.world.cloud.regenerations.length > 0, 'the freed key was regenerated through ARM');
          assert.deepEqual(denied(rotated), []);
          assert.ok(
            rotated.emulator.requests.every((r) => !r.includes('{subscriptionId}')),
            'every call names the subscription the grants were emitted for',
          );
          const rolledBack = await rotateUnderArm(stack, name, assign(roleDefinition, assignAt), { rollBack: true });
          assert.equal(failure(rolledBack), undefined);
          assert.equal('result' in rolledBack.outcome && rolledBack.outcome.result.outcome, 'rolled-back');
          assert.deepEqual(denied(rolledBack), []);
        }
      });

      it('denies everything without the role: the check is live', async () => {
        const run = await rotateUnderArm(stack, credentials[0]!, []);
        assert.match(failure(run) ?? 'it went through', /HTTP 403|grant Microsoft\./);
        assert.ok(denied(run).length > 0);
      });

      /** The first failure of a rotation, else of a rollback, with `assignments`: the message and the runs' secrets. */
      async function firstRefusal(assignments: ArmRoleAssignment[]) {
        for (const name of credentials)
          for (const rollBack of [false, true]) {
            const run = await rotateUnderArm(stack, name, assignments, { rollBack });
            const message = failure(run);
            if (message) return { message, run };
          }
        return undefined;
      }

      for (const action of roleDefinition.Actions)
        it(`is minimal: without ${action}, the driver is refused and names ${action} and its scope`, async () => {
          const less = { Actions: roleDefinition.Actions.filter((a) => a !== action) };
          const refused = await firstRefusal(assign(less, assignAt));
          assert.ok(refused, `every rotation and rollback went through without ${action}: it is not needed`);
          const scope = assignAt.find((s) => refused.message.includes(`grant ${action} on ${s} `));
          assert.ok(scope, `"${refused.message}" names ${action} on one of ${assignAt.join(', ')}`);
          assert.ok(
            denied(refused.run).every((r) => r.includes(action)),
            denied(refused.run).join('; '),
          );
          for (const secret of [...refused.run.world.cloud.issued, ...refused.run.world.cloud.stores.values()])
            assert.ok(!refused.message.includes(secret), 'no key value in the message');
        });

      for (const scope of assignAt)
        it(`is minimal: without the assignment at ${scope.split('/providers/')[1]}, the driver is refused naming that scope`, async () => {
          const refused = await firstRefusal(
            assign(
              roleDefinition,
              assignAt.filter((s) => s !== scope),
            ),
          );
          assert.ok(refused, `every rotation and rollback went through without the assignment at ${scope}`);
          assert.match(refused.message, new RegExp(` on ${scope.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} to keyslot's identity`));
        });
    });
  }

  it('wildcards and NotActions as Azure RBAC reads them: Microsoft.DocumentDB/* less regenerateKey still lists, no longer regenerates', async () => {
    const config = loadStack('alwayson-cosmos');
    const { assignAt } = emitted(config);
    const w = await world(config);
    try {
      const role = {
        Actions: ['Microsoft.DocumentDB/*', 'Microsoft.KeyVault/vaults/secrets/read'],
        NotActions: ['*/regenerateKey/action'],
      };
      w.emulator.roleAssignments = assignAt.map((scope) => ({ scope, role }));
      const failed = await firstFailure(w.azure, w.calls);
      assert.ok(failed?.error instanceof ForbiddenError);
      assert.match(failed.what, /regenerate: regenerate/);
      assert.match(failed.error.message, /grant Microsoft\.DocumentDB\/databaseAccounts\/regenerateKey\/action on \/subscriptions\//);
      // A role at the resource group reaches the account under it; at a sibling group it does not.
      const group = assignAt[0]!.split('/providers/')[0]!;
      w.emulator.roleAssignments = [{ scope: group, role: { Actions: ['Microsoft.DocumentDB/databaseAccounts/read'] } }];
      const cosmos = config.credentials[0]!;
      await cloudCalls(config, cosmos)
        .find((c) => c.what.startsWith('rollback check'))!
        .run(w.azure);
      w.emulator.roleAssignments = [{ scope: `${group}-other`, role: { Actions: ['*'] } }];
      await assert.rejects(
        cloudCalls(config, cosmos)
          .find((c) => c.what.startsWith('rollback check'))!
          .run(w.azure),
        ForbiddenError,
      );
    } finally {
      await w.emulator.stop();
    }
  });
});

describe('cloud permissions: what `keyslot permissions` emits for AWS, judged by IAM policy evaluation', () => {
  const stacks = ['kubecost-thanos', 'kubecost-cloud-billing', 'gardener-provider-secret'];
  // Fake identifiers in AWS's shapes; none is or was a real key.
  const keyslotKey = { id: 'AKIAKEYSLOTTEST00011', secret: 'keyslot-test-secret-not-real-000000000011', user: 'keyslot' };

  function emitted(config: StackConfig): IamPolicy {
    const policies = awsPolicies(stackPermissions(config).aws).filter((p) => p.identity === 'keyslot');
    assert.equal(policies.length, 1, 'one policy for keyslot');
    return policies[0]!.policy as IamPolicy;
  }

  async function world(config: StackConfig, policy: IamPolicy) {
    const emulator = new AwsQueryEmulator();
    emulator.addKey({ ...keyslotKey, createdAt: new Date('2026-01-01T00:00:00Z') });
    const material: Record<string, Record<string, { accessKeyId: string; secretAccessKey: string }>> = {};
    let n = 20;
    for (const cred of config.credentials) {
      if (cred.source.type !== 'aws-iam-access-key') continue;
      material[cred.name] = {};
      for (const slot of ['primary', 'secondary']) {
        n += 1;
        const key = { id: `AKIAKEYSLOTTEST000${n}`, secret: `keyslot-test-secret-not-real-0000000000${n}`, user: cred.source.userName };
        emulator.addKey({ ...key, createdAt: new Date('2026-08-01T00:00:00Z'), lastUsedAt: new Date('2026-11-01T00:00:00Z') });
        material[cred.name]![slot] = { accessKeyId: key.id, secretAccessKey: key.secret };
      }
    }
    emulator.policies = new Map([[keyslotKey.user, [policy]]]);
    const aws = new AwsIamKeys({
      endpoint: await emulator.start(),
      credentials: { accessKeyId: keyslotKey.id, secretAccessKey: keyslotKey.secret },
      material: async (c, slot) => material[c]?.[slot],
      keyId: async (c, slot) => material[c]?.[slot]?.accessKeyId,
      maxAttempts: 1,
    });
    const calls = config.credentials.filter((c) => c.source.type === 'aws-iam-access-key').flatMap((c) => cloudCalls(config, c));
    const secrets = [keyslotKey.secret, ...Object.values(material).flatMap((m) => Object.values(m).map((k) => k.secretAccessKey))];
    return { emulator, aws, calls, secrets };
  }

  /** The policy with one action taken out of every statement that allows it (a statement left empty goes). */
  const without = (policy: IamPolicy, action: string): IamPolicy => ({
    ...policy,
    Statement: policy.Statement.map((st) => ({
      ...st,
      Action: (typeof st.Action === 'string' ? [st.Action] : st.Action).filter((a) => a !== action),
    })).filter((st) => st.Action.length > 0),
  });

  for (const stack of stacks) {
    describe(stack, () => {
      const config = loadStack(stack);
      const policy = emitted(config);
      const actions = [...new Set(policy.Statement.flatMap((st) => (typeof st.Action === 'string' ? [st.Action] : st.Action)))];

      it('is sufficient: every cloud call of a rotation and its rollback succeeds with the emitted policy', async () => {
        const w = await world(config, policy);
        try {
          assert.equal(await firstFailure(w.aws, w.calls), undefined);
          assert.ok(w.emulator.actions.includes('GetCallerIdentity'), 'the standby key was tested');
          assert.ok(w.emulator.actions.includes('UpdateAccessKey'), "the rollback's reactivation was made");
        } finally {
          await w.emulator.stop();
        }
      });

      it('denies every IAM call without a policy, never GetCallerIdentity: the check is live', async () => {
        const w = await world(config, { Version: '2012-10-17', Statement: [] });
        try {
          const failed = await firstFailure(w.aws, w.calls);
          assert.ok(failed?.error instanceof ForbiddenError, String(failed?.error));
          assert.notEqual(failed.what.split(':')[0], 'preflight', 'the standby key test needs no grant');
        } finally {
          await w.emulator.stop();
        }
      });

      for (const action of actions)
        it(`is minimal: without ${action}, a call is denied and keyslot names ${action} on the user`, async () => {
          const w = await world(config, without(policy, action));
          try {
            const failed = await firstFailure(w.aws, w.calls);
            assert.ok(failed, `every call succeeded without ${action}: it is not needed`);
            const error = failed.error as Error;
            assert.ok(error instanceof ForbiddenError, `${failed.what}: ${error}`);
            const cause = (error as { cause?: { name?: string; $metadata?: { httpStatusCode?: number }; message?: string } }).cause;
            assert.equal(cause?.$metadata?.httpStatusCode, 403, 'the denial came from IAM');
            assert.equal(cause?.name, 'AccessDenied');
            assert.match(
              cause?.message ?? '',
              new RegExp(
                `not authorized to perform: ${action} on resource: user [\\w-]+ because no identity-based policy allows the ${action} action$`,
              ),
            );
            const resources = policy.Statement.filter((st) => st.Action.includes(action)).flatMap((st) => st.Resource);
            assert.ok(
              resources.some((r) => error.message.includes(`grant ${action} on ${r} `)),
              `${failed.what}: "${error.message}" names ${action} on ${resources.join(', ')}`,
            );
            for (const secret of w.secrets) assert.ok(!error.message.includes(secret), 'no secret in the message');
          } finally {
            await w.emulator.stop();
          }
        });
    });
  }

  it('an explicit Deny wins over an Allow; `*` in an action or a resource matches as IAM matches it', async () => {
    const config = loadStack('kubecost-thanos');
    const wide: IamPolicy = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iam:*AccessKey*', Resource: 'arn:aws:iam::*:user/*' }],
    };
    let w = await world(config, wide);
    try {
      assert.equal(await firstFailure(w.aws, w.calls), undefined);
    } finally {
      await w.emulator.stop();
    }
    const denied: IamPolicy = {
      ...wide,
      Statement: [...wide.Statement, { Effect: 'Deny', Action: 'iam:UpdateAccessKey', Resource: '*' }],
    };
    w = await world(config, denied);
    try {
      const failed = await firstFailure(w.aws, w.calls);
      assert.ok(failed?.error instanceof ForbiddenError);
      assert.match(
        String((failed.error.cause as Error).message),
        /iam:UpdateAccessKey on resource: .* with an explicit deny in an identity-based policy/,
      );
      assert.match(failed.error.message, /grant iam:UpdateAccessKey on arn:aws:iam::\*:user\/kubecost-thanos-example /);
    } finally {
      await w.emulator.stop();
    }
    const otherUser: IamPolicy = { ...wide, Statement: [{ ...wide.Statement[0]!, Resource: 'arn:aws:iam::*:user/someone-else' }] };
    w = await world(config, otherUser);
    try {
      const failed = await firstFailure(w.aws, w.calls);
      assert.ok(failed?.error instanceof ForbiddenError);
      assert.match(
        String((failed.error.cause as Error).message),
        /^User: arn:aws:iam::000000000000:user\/keyslot is not authorized to perform: iam:ListAccessKeys on resource: user kubecost-thanos-example because no identity-based policy allows the iam:ListAccessKeys action$/,
      );
    } finally {
      await w.emulator.stop();
    }
  });
});
