/**
 * Are the cloud grants `keyslot permissions` emits for keyslot's own identity enough, and each of
 * them needed? The real driver rotates each shipped stack that calls a cloud — and, separately,
 * rolls a rotation back after its first agent died at the gate — with keyslot's real Azure and AWS
 * adapters against emulators over the stack's simulated cloud that authorize every request as
 * Azure RBAC and IAM do (test/fixtures/cloudGrants.ts): with the emitted role or policy both go
 * through; with any one action (or, for Azure, any one assignment scope) taken out, the driver is
 * refused with the cloud's 403, and keyslot's error names what to grant, never a key. Which step
 * makes which call is the driver's business, not this file's.
 */
import assert from 'node:assert/strict';
import { awsPolicies, azureRoles } from '../../src/cli/commands/permissions.ts';
import { loadStack } from '../../src/config/load.ts';
import type { StackConfig } from '../../src/config/parse.ts';
import { stackPermissions } from '../../src/model/permissions.ts';
import { type ArmRoleAssignment, armAuthorized } from '../fixtures/armEmulator.ts';
import { iamDecision, type IamPolicy } from '../fixtures/awsQueryEmulator.ts';
import { armSubscriptionId, type CloudRun, keyslotIamKey, rotateUnderCloudGrants } from '../fixtures/cloudGrants.ts';

/** The message of what stopped a run, or undefined when it went through. */
const failure = (run: CloudRun): string | undefined => ('error' in run.outcome ? String((run.outcome.error as Error).message) : undefined);

/** The credentials of a stack whose keys live in one cloud. */
const cloudCredentials = (config: StackConfig, cloud: 'azure' | 'aws') =>
  config.credentials
    .filter((c) => (cloud === 'aws' ? c.source.type === 'aws-iam-access-key' : c.source.type.startsWith('azure-')))
    .map((c) => c.name);

/** The first refusal, with these grants, of a rotation, else of a rollback, of each of the stack's credentials in that cloud. */
async function firstRefusal(stack: string, grants: { azure: ArmRoleAssignment[] } | { aws: IamPolicy }) {
  for (const name of cloudCredentials(loadStack(stack), 'aws' in grants ? 'aws' : 'azure'))
    for (const rollBack of [false, true]) {
      const run = await rotateUnderCloudGrants(stack, name, grants, { rollBack });
      const message = failure(run);
      if (message) return { message, run };
    }
  return undefined;
}

describe('cloud permissions: what `keyslot permissions` emits for Azure, judged by ARM-style RBAC', () => {
  const stacks = ['alwayson-cosmos', 'kubecost-federated-etl'];

  /** The emitted custom role of keyslot's own identity, assigned at each scope of assignAt. */
  function emitted(config: StackConfig) {
    const perms = stackPermissions(config, { azureSubscriptionId: armSubscriptionId });
    const roles = azureRoles(config.stack, perms.azure).filter((r) => r.identity === 'keyslot');
    assert.equal(roles.length, 1, 'one custom role for keyslot');
    return roles[0]!;
  }

  const assign = (role: { Actions: readonly string[] }, scopes: readonly string[]): ArmRoleAssignment[] =>
    scopes.map((scope) => ({ scope, role: { Actions: role.Actions, NotActions: [] } }));

  const denied = (run: CloudRun) => run.arm!.denials;

  for (const stack of stacks) {
    describe(stack, () => {
      const config = loadStack(stack);
      const { roleDefinition, assignAt } = emitted(config);
      const credentials = cloudCredentials(config, 'azure');

      it('is sufficient: the real driver rotates, and rolls back, with only the emitted role', async () => {
        for (const name of credentials) {
          const rotated = await rotateUnderCloudGrants(stack, name, { azure: assign(roleDefinition, assignAt) });
          assert.equal(failure(rotated), undefined);
          assert.equal('result' in rotated.outcome && rotated.outcome.result.outcome, 'rotated');
          assert.ok(rotated.world.cloud.regenerations.length > 0, 'the freed key was regenerated through ARM');
          assert.deepEqual(denied(rotated), []);
          assert.ok(
            rotated.arm!.requests.every((r) => !r.includes('{subscriptionId}')),
            'every call names the subscription the grants were emitted for',
          );
          const rolledBack = await rotateUnderCloudGrants(stack, name, { azure: assign(roleDefinition, assignAt) }, { rollBack: true });
          assert.equal(failure(rolledBack), undefined);
          assert.equal('result' in rolledBack.outcome && rolledBack.outcome.result.outcome, 'rolled-back');
          assert.deepEqual(denied(rolledBack), []);
        }
      });

      it('denies everything without the role: the check is live', async () => {
        const run = await rotateUnderCloudGrants(stack, credentials[0]!, { azure: [] });
        assert.match(failure(run) ?? 'it went through', /HTTP 403|grant Microsoft\./);
        assert.ok(denied(run).length > 0);
      });

      for (const action of roleDefinition.Actions)
        it(`is minimal: without ${action}, the driver is refused and names ${action} and its scope`, async () => {
          const less = { Actions: roleDefinition.Actions.filter((a) => a !== action) };
          const refused = await firstRefusal(stack, { azure: assign(less, assignAt) });
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
          const refused = await firstRefusal(stack, {
            azure: assign(
              roleDefinition,
              assignAt.filter((s) => s !== scope),
            ),
          });
          assert.ok(refused, `every rotation and rollback went through without the assignment at ${scope}`);
          assert.match(refused.message, new RegExp(` on ${scope.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} to keyslot's identity`));
        });
    });
  }

  it('wildcards and NotActions as Azure RBAC reads them: Microsoft.DocumentDB/* less regenerateKey still lists, no longer regenerates', async () => {
    const config = loadStack('alwayson-cosmos');
    const { assignAt } = emitted(config);
    const role = {
      Actions: ['Microsoft.DocumentDB/*', 'Microsoft.KeyVault/vaults/secrets/read'],
      NotActions: ['*/regenerateKey/action'],
    };
    const run = await rotateUnderCloudGrants('alwayson-cosmos', 'cosmos', { azure: assignAt.map((scope) => ({ scope, role })) });
    assert.match(
      failure(run) ?? 'it went through',
      /grant Microsoft\.DocumentDB\/databaseAccounts\/regenerateKey\/action on \/subscriptions\//,
    );
    assert.deepEqual(
      denied(run).map((d) => d.split(' over ')[0]),
      ['Microsoft.DocumentDB/databaseAccounts/regenerateKey/action'],
      'everything else the wildcard grants went through',
    );
    // A role at the resource group reaches the account under it; at a sibling group it does not.
    const account = assignAt.find((s) => s.includes('/databaseAccounts/'))!;
    const group = account.split('/providers/')[0]!;
    const read = { Actions: ['Microsoft.DocumentDB/databaseAccounts/read'] };
    assert.equal(armAuthorized([{ scope: group, role: read }], read.Actions[0]!, account), true);
    assert.equal(armAuthorized([{ scope: `${group}-other`, role: { Actions: ['*'] } }], read.Actions[0]!, account), false);
  });
});

describe('cloud permissions: what `keyslot permissions` emits for AWS, judged by IAM policy evaluation', () => {
  const stacks = ['kubecost-thanos', 'kubecost-cloud-billing', 'gardener-provider-secret'];

  function emitted(config: StackConfig): IamPolicy {
    const policies = awsPolicies(stackPermissions(config).aws).filter((p) => p.identity === 'keyslot');
    assert.equal(policies.length, 1, 'one policy for keyslot');
    return policies[0]!.policy as IamPolicy;
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

      it('is sufficient: the real driver rotates, and rolls back, with only the emitted policy', async () => {
        for (const name of cloudCredentials(config, 'aws')) {
          const rotated = await rotateUnderCloudGrants(stack, name, { aws: policy });
          assert.equal(failure(rotated), undefined);
          assert.equal('result' in rotated.outcome && rotated.outcome.result.outcome, 'rotated');
          assert.ok(rotated.iam!.actions.includes('GetCallerIdentity'), 'the standby key was tested with its own key');
          assert.ok(rotated.iam!.actions.includes('GetAccessKeyLastUsed'), "the gate asked IAM about the freed key's use");
          const rolledBack = await rotateUnderCloudGrants(stack, name, { aws: policy }, { rollBack: true });
          assert.equal(failure(rolledBack), undefined);
          assert.equal('result' in rolledBack.outcome && rolledBack.outcome.result.outcome, 'rolled-back');
          assert.ok(rolledBack.iam!.actions.includes('UpdateAccessKey'), "the rollback's reactivation was made");
        }
      });

      it('is refused without a policy, though the standby key test needs none: the check is live', async () => {
        const run = await rotateUnderCloudGrants(stack, cloudCredentials(config, 'aws')[0]!, {
          aws: { Version: '2012-10-17', Statement: [] },
        });
        assert.match(failure(run) ?? 'it went through', /grant iam:\w+ on arn:aws:iam::/);
        assert.ok(run.iam!.actions.includes('GetCallerIdentity'));
      });

      for (const action of actions)
        it(`is minimal: without ${action}, the driver is refused and names ${action} on the user`, async () => {
          const refused = await firstRefusal(stack, { aws: without(policy, action) });
          assert.ok(refused, `every rotation and rollback went through without ${action}: it is not needed`);
          const cause = (refused.run.outcome as { error: Error }).error;
          const resources = policy.Statement.filter((st) => st.Action.includes(action)).flatMap((st) => st.Resource);
          assert.ok(
            resources.some((r) => refused.message.includes(`grant ${action} on ${r} `)),
            `"${refused.message}" names ${action} on ${resources.join(', ')}`,
          );
          assert.ok(cause instanceof Error);
          for (const secret of [keyslotIamKey.secret, ...refused.run.world.cloud.issued])
            assert.ok(!refused.message.includes(secret), 'no secret in the message');
        });
    });
  }

  it('an explicit Deny wins over an Allow; `*` in an action or a resource matches as IAM matches it', async () => {
    const wide: IamPolicy = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iam:*AccessKey*', Resource: 'arn:aws:iam::*:user/*' }],
    };
    assert.equal(failure(await rotateUnderCloudGrants('kubecost-thanos', 'thanos-store', { aws: wide }, { rollBack: true })), undefined);
    const denied: IamPolicy = {
      ...wide,
      Statement: [...wide.Statement, { Effect: 'Deny', Action: 'iam:UpdateAccessKey', Resource: '*' }],
    };
    const refused = await firstRefusal('kubecost-thanos', { aws: denied });
    assert.ok(refused);
    assert.match(refused.message, /grant iam:UpdateAccessKey on arn:aws:iam::\*:user\/kubecost-thanos-example /);
    assert.match(
      String(((refused.run.outcome as { error: Error }).error.cause as Error | undefined)?.message ?? refused.message),
      /iam:UpdateAccessKey/,
    );
    const otherUser: IamPolicy = { ...wide, Statement: [{ ...wide.Statement[0]!, Resource: 'arn:aws:iam::*:user/someone-else' }] };
    const elsewhere = await firstRefusal('kubecost-thanos', { aws: otherUser });
    assert.ok(elsewhere);
    assert.match(elsewhere.message, /grant iam:\w+ on arn:aws:iam::\*:user\/kubecost-thanos-example /);
    assert.equal(iamDecision([denied], 'iam:UpdateAccessKey', 'arn:aws:iam::000000000000:user/kubecost-thanos-example'), 'explicit-deny');
    assert.equal(iamDecision([otherUser], 'iam:ListAccessKeys', 'arn:aws:iam::000000000000:user/kubecost-thanos-example'), 'implicit-deny');
  });
});
