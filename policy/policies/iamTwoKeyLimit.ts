import type { StackValidationPolicy } from '@pulumi/policy';

const accessKeyType = 'aws:iam/accessKey:AccessKey';

/**
 * AWS allows two access keys per IAM user. A third would fail mid-rotation, and a slot replaced
 * create-before-delete would briefly need one.
 */
export const iamTwoKeyLimit: StackValidationPolicy = {
  name: 'iam-two-key-limit',
  description: 'At most two access keys per IAM user in the stack, each replaced delete-before-create.',
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    const byUser = new Map<string, string[]>();
    for (const r of args.resources) {
      if (r.type !== accessKeyType) continue;
      const user = String(r.props.user);
      byUser.set(user, [...(byUser.get(user) ?? []), r.name]);
      if (!r.opts.deleteBeforeReplace) {
        reportViolation(
          `${r.name}: access key of ${user} is replaced create-before-delete, which needs a third key; fix: set deleteBeforeReplace`,
          r.urn,
        );
      }
    }
    for (const [user, keys] of byUser) {
      if (keys.length > 2)
        reportViolation(
          `IAM user ${user} has ${keys.length} access keys in this stack (${keys.join(', ')}); AWS allows two; fix: one aws-iam-access-key credential per user`,
        );
    }
  },
};
