/**
 * `keyslot permissions`: what one stack needs of each identity, as objects to apply — per cluster
 * the Kubernetes Roles, ClusterRoles and their bindings (YAML `kubectl apply -f` takes), the Azure
 * custom role definitions and the AWS policy documents (JSON; commented in the YAML) — with the
 * grants that can read, write or mint a credential called out. The grants are src/model/permissions.ts.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Document, type YAMLSeq } from 'yaml';
import { openStack } from '../../config/load.ts';
import type { StackConfig } from '../../config/parse.ts';
import { k8sName, k8sNamespace } from '../../config/schema.ts';
import {
  type CloudGrant,
  type Identity,
  identityLabels,
  type KubernetesGrant,
  covers,
  type PolicyRule,
  ruleText,
  type StackPermissions,
  stackPermissions,
} from '../../model/permissions.ts';
import { jsonDocument } from '../json.ts';
import { required, type Io } from '../shared.ts';

/** An RBAC subject (rbac.authorization.k8s.io/v1 Subject). */
export interface Subject {
  readonly kind: 'User' | 'Group' | 'ServiceAccount';
  readonly name: string;
  readonly namespace?: string;
}

/** Who the bindings name unless `--subject` says: a ServiceAccount per identity, in namespace `keyslot`. */
export const defaultSubjects: Record<Identity, Subject> = {
  keyslot: { kind: 'ServiceAccount', name: 'keyslot', namespace: 'keyslot' },
  deployer: { kind: 'ServiceAccount', name: 'pulumi-deployer', namespace: 'keyslot' },
};

const subjectFix = 'fix: use User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME, e.g. --subject User:ci@example';

/** `--subject KIND:NAME` (ServiceAccount: `NAMESPACE/NAME`), refused in one line naming what was found. */
export function subjectOption(value: string): Subject {
  const m = /^([^:]*):(.*)$/.exec(value);
  const kind = m?.[1];
  const name = m?.[2] ?? '';
  if (kind !== 'User' && kind !== 'Group' && kind !== 'ServiceAccount')
    throw new InvalidArgumentError(`found kind ${JSON.stringify(kind ?? value)}, not User, Group or ServiceAccount; ${subjectFix}`);
  if (kind !== 'ServiceAccount') {
    if (!/^\S+$/.test(name)) throw new InvalidArgumentError(`found the ${kind} name ${JSON.stringify(name)}; ${subjectFix}`);
    return { kind, name };
  }
  const [namespace, account, ...rest] = name.split('/');
  if (rest.length || !k8sNamespace.safeParse(namespace).success || !k8sName.safeParse(account).success)
    throw new InvalidArgumentError(`found ${JSON.stringify(name)}, not NAMESPACE/NAME of a ServiceAccount; ${subjectFix}`);
  return { kind, name: account!, namespace: namespace! };
}

export function formatOption(value: string): 'yaml' | 'json' {
  if (value !== 'yaml' && value !== 'json') throw new InvalidArgumentError(`found ${JSON.stringify(value)}; fix: use yaml or json`);
  return value;
}

const rbac = 'rbac.authorization.k8s.io';
const identities: readonly Identity[] = ['keyslot', 'deployer'];

function bindingSubject(s: Subject) {
  return s.kind === 'ServiceAccount'
    ? { kind: s.kind, name: s.name, namespace: s.namespace }
    : { kind: s.kind, apiGroup: rbac, name: s.name };
}

/** The Role's (and ClusterRole's) name for an identity of a stack. */
export function roleName(stack: string, identity: Identity): string {
  return identity === 'keyslot' ? `keyslot-${stack}` : `keyslot-${stack}-deployer`;
}

/** A rule as printed, with why it is there (and why a sensitive one is needed). */
interface NotedRule {
  readonly rule: PolicyRule;
  readonly why: string[];
  readonly sensitive: string[];
}

/**
 * The grants' rules, in the order first seen: identical ones once, and one another rule already
 * grants folded into that rule — its reasons (and why it is sensitive) joined there — so that a
 * reviewer reads each permission once, next to everything that needs it.
 */
function notedRules(grants: readonly KubernetesGrant[]): NotedRule[] {
  const byRule = new Map<string, NotedRule>();
  const note = (into: NotedRule, why: readonly string[], sensitive: readonly string[]) => {
    for (const w of why) if (!into.why.includes(w)) into.why.push(w);
    for (const x of sensitive) if (!into.sensitive.includes(x)) into.sensitive.push(x);
  };
  for (const g of grants) {
    const key = JSON.stringify(g.rule);
    const noted = byRule.get(key) ?? { rule: g.rule, why: [], sensitive: [] };
    note(noted, g.why.split('; '), g.sensitive ? [g.sensitive] : []);
    byRule.set(key, noted);
  }
  const all = [...byRule.values()];
  const folded = new Set<NotedRule>();
  for (const n of all) {
    const into = all.find((o) => o !== n && !folded.has(o) && covers(o.rule, n.rule));
    if (!into) continue;
    note(into, n.why, n.sensitive);
    folded.add(n);
  }
  return all.filter((n) => !folded.has(n));
}

/** One RBAC object to print: the object, a comment above it, a note per rule. */
export interface RbacDocument {
  readonly comment: string;
  readonly object: Record<string, unknown>;
  readonly notes?: readonly NotedRule[];
}

/** The Roles (per namespace), the ClusterRole (cluster-wide and non-resource rules) and the bindings of one cluster. */
export function rbacDocuments(
  config: StackConfig,
  perms: StackPermissions,
  cluster: string,
  subjects: Record<Identity, Subject>,
): RbacDocument[] {
  const out: RbacDocument[] = [];
  const context = config.clusters.find((c) => c.name === cluster)?.context;
  for (const identity of identities) {
    const mine = perms.kubernetes.filter((g) => g.cluster === cluster && g.identity === identity);
    const name = roleName(config.stack, identity);
    const scopes = [...new Set(mine.map((g) => g.namespace))];
    for (const namespace of scopes) {
      const notes = notedRules(mine.filter((g) => g.namespace === namespace));
      const sensitive = notes.flatMap((n) => n.sensitive.map((s) => `${ruleText(n.rule)}: ${s}`));
      const kind = namespace === undefined ? 'ClusterRole' : 'Role';
      const annotations = {
        'keyslot.dev/identity': identityLabels[identity],
        'keyslot.dev/cluster': cluster,
        ...(sensitive.length ? { 'keyslot.dev/sensitive': sensitive.join('; ') } : {}),
      };
      const metadata = {
        name,
        ...(namespace !== undefined ? { namespace } : {}),
        labels: { 'app.kubernetes.io/managed-by': 'keyslot' },
        annotations,
      };
      const where = namespace === undefined ? 'cluster-wide' : `namespace ${namespace}`;
      const comment = ` cluster ${cluster}${context ? ` (context ${context})` : ''}, ${where}: ${identityLabels[identity]}`;
      out.push({ comment, object: { apiVersion: `${rbac}/v1`, kind, metadata, rules: notes.map((n) => n.rule) }, notes });
      out.push({
        comment,
        object: {
          apiVersion: `${rbac}/v1`,
          kind: `${kind}Binding`,
          metadata: { name, ...(namespace !== undefined ? { namespace } : {}), labels: { 'app.kubernetes.io/managed-by': 'keyslot' } },
          roleRef: { apiGroup: rbac, kind, name },
          subjects: [bindingSubject(subjects[identity])],
        },
      });
    }
  }
  return out;
}

/** The resource group an ARM id is in: a custom role's assignable scope (it is assigned at the resource). */
function resourceGroupOf(id: string): string {
  return id.split('/providers/')[0]!;
}

/** Per identity, an Azure custom role definition (as `az role definition create` takes it) and where to assign it. */
export function azureRoles(stack: string, grants: readonly CloudGrant[]) {
  return identities.flatMap((identity) => {
    const mine = grants.filter((g) => g.identity === identity);
    if (!mine.length) return [];
    const scopes = [...new Set(mine.map((g) => g.resource))];
    const roleDefinition = {
      Name: `keyslot ${stack} (${identity})`,
      IsCustom: true,
      Description: `What ${identityLabels[identity]} needs to rotate the credentials of stack ${stack} (keyslot permissions): assign it at each scope of assignAt`,
      Actions: [...new Set(mine.map((g) => g.action))],
      NotActions: [],
      DataActions: [],
      NotDataActions: [],
      AssignableScopes: [...new Set(scopes.map(resourceGroupOf))],
    };
    return [{ identity, label: identityLabels[identity], roleDefinition, assignAt: scopes }];
  });
}

const pascal = (text: string) => text.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_m, _s, c: string) => c.toUpperCase());

/** Per identity, an IAM policy document: a statement per credential, purpose and resource. */
export function awsPolicies(grants: readonly CloudGrant[]) {
  return identities.flatMap((identity) => {
    const mine = grants.filter((g) => g.identity === identity);
    if (!mine.length) return [];
    const statements = new Map<string, { Sid: string; Effect: 'Allow'; Action: string[]; Resource: string }>();
    for (const g of mine) {
      const key = `${g.credential} ${g.row} ${g.resource}`;
      const sid = pascal(`${g.credential}-${g.row}`);
      const found = statements.get(key) ?? { Sid: sid, Effect: 'Allow' as const, Action: [], Resource: g.resource };
      found.Action.push(g.action);
      statements.set(key, found);
    }
    // Two statements of one purpose (two delivered secrets, say) get numbered Sids.
    const all = [...statements.values()];
    const count = new Map<string, number>();
    for (const st of all) count.set(st.Sid, (count.get(st.Sid) ?? 0) + 1);
    const seen = new Map<string, number>();
    for (const st of all) {
      if (count.get(st.Sid)! < 2) continue;
      const n = (seen.get(st.Sid) ?? 0) + 1;
      seen.set(st.Sid, n);
      st.Sid = `${st.Sid}${n}`;
    }
    return [{ identity, label: identityLabels[identity], policy: { Version: '2012-10-17', Statement: all } }];
  });
}

/** Every grant that can read, write or mint a credential, and why keyslot needs it anyway. */
export function sensitiveGrants(perms: StackPermissions) {
  return [
    ...perms.kubernetes.flatMap((g) =>
      g.sensitive
        ? [
            {
              identity: g.identity,
              where: `kubernetes cluster ${g.cluster}, ${g.namespace === undefined ? 'cluster-wide' : `namespace ${g.namespace}`}`,
              grant: ruleText(g.rule),
              why: g.sensitive,
            },
          ]
        : [],
    ),
    ...[...perms.azure.map((g) => ({ g, cloud: 'azure' })), ...perms.aws.map((g) => ({ g, cloud: 'aws' }))].flatMap(({ g, cloud }) =>
      g.sensitive ? [{ identity: g.identity, where: `${cloud} ${g.resource}`, grant: g.action, why: g.sensitive }] : [],
    ),
  ];
}

/** Reasons as read: `c: stage 1 (restart)`, `c: stage 4 (restart)` become `c: stages 1, 4 (restart)`. */
export function reasons(why: readonly string[]): string[] {
  const out: string[] = [];
  const stages = new Map<string, string[]>();
  for (const w of why) {
    const m = /^(.*): stage (\d+) \((.+)\)$/.exec(w);
    if (!m) out.push(w);
    else if (stages.has(`${m[1]}: ${m[3]}`)) stages.get(`${m[1]}: ${m[3]}`)!.push(m[2]!);
    else {
      stages.set(`${m[1]}: ${m[3]}`, [m[2]!]);
      out.push(`${m[1]}: ${m[3]}`);
    }
  }
  return out.map((w) => {
    const n = stages.get(w);
    if (!n) return w;
    const [who, kind] = [w.slice(0, w.lastIndexOf(': ')), w.slice(w.lastIndexOf(': ') + 2)];
    return `${who}: ${n.length > 1 ? 'stages' : 'stage'} ${n.join(', ')} (${kind})`;
  });
}

function yamlOf(doc: RbacDocument): string {
  const d = new Document(doc.object);
  d.commentBefore = doc.comment;
  const rules = d.get('rules') as YAMLSeq | undefined;
  doc.notes?.forEach((n, i) => {
    const lines = [...reasons(n.why).map((w) => ` for ${w}`), ...n.sensitive.map((s) => ` SENSITIVE: ${s}`)];
    if (rules?.items[i]) (rules.items[i] as { commentBefore?: string }).commentBefore = lines.join('\n');
  });
  return d.toString({ lineWidth: 0 });
}

const commented = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n');

export function registerPermissions(program: Command, io: Io): void {
  program
    .command('permissions')
    .description('print the exact permissions a stack needs, per identity: Kubernetes RBAC per cluster, Azure roles, AWS policies')
    .addOption(required('-s, --stack <name>', 'stack name (stacks/Pulumi.<name>.yaml)'))
    .addOption(
      new Option('--format <format>', 'yaml (RBAC objects kubectl apply -f takes; cloud parts as comments) or json')
        .argParser(formatOption)
        .default('yaml'),
    )
    .addOption(
      new Option(
        '--subject <kind:name>',
        'bind both identities to this subject: User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME (default: ServiceAccounts keyslot/keyslot and keyslot/pulumi-deployer)',
      ).argParser(subjectOption),
    )
    .option('--cluster <name>', "only this cluster's RBAC objects (apply each cluster's with its own context)")
    .option('--disruptive', 'also what rotate --disruptive calls (kOps keysets: every token reissued, every workload restarted)')
    .option('--stacks-dir <dir>', 'folder of stack files (default: stacks/ of this project)')
    .action(
      (opts: { stack: string; format: 'yaml' | 'json'; subject?: Subject; cluster?: string; disruptive?: boolean; stacksDir?: string }) => {
        const { config } = openStack(opts.stack, opts.stacksDir);
        const names = config.clusters.map((c) => c.name);
        if (opts.cluster !== undefined && !names.includes(opts.cluster))
          throw new InvalidArgumentError(
            `--cluster ${opts.cluster}: found ${JSON.stringify(opts.cluster)}, which is not a cluster of stack ${config.stack}; fix: use one of ${names.join(', ') || '(none)'}`,
          );
        const subscription = process.env.AZURE_SUBSCRIPTION_ID;
        const perms = stackPermissions(config, {
          ...(opts.disruptive ? { disruptive: true } : {}),
          ...(subscription ? { azureSubscriptionId: subscription } : {}),
        });
        const subjects = opts.subject ? { keyslot: opts.subject, deployer: opts.subject } : defaultSubjects;
        const clusters = names.filter((c) => opts.cluster === undefined || c === opts.cluster);
        const rbacByCluster = clusters.map((cluster) => ({ cluster, documents: rbacDocuments(config, perms, cluster, subjects) }));
        const azure = azureRoles(config.stack, perms.azure);
        const aws = awsPolicies(perms.aws);
        const sensitive = sensitiveGrants(perms);
        if (opts.format === 'json') {
          const kubernetes = rbacByCluster.map(({ cluster, documents }) => ({ cluster, objects: documents.map((d) => d.object) }));
          io.out(jsonDocument({ stack: config.stack, kubernetes, azure, aws, sensitive }));
          return;
        }
        const header = [
          `# keyslot permissions for stack ${config.stack}: only what its rotations call (src/model/permissions.ts).`,
          "# Kubernetes: apply each cluster's documents with that cluster's context (--cluster NAME prints one cluster).",
        ];
        const docs = rbacByCluster.flatMap(({ documents }) => documents.map(yamlOf));
        /** The cloud grants of an identity that read, write or mint a credential, one line each, with why. */
        const flagged = (grants: readonly CloudGrant[], identity: Identity) =>
          grants
            .filter((g) => g.identity === identity && g.sensitive)
            .map((g) => `\nSENSITIVE: ${g.action} on ${g.resource}: ${g.sensitive}`)
            .join('');
        const cloud = [
          ...azure.map(
            (r) =>
              `Azure custom role for ${r.label} (az role definition create --role-definition, then assign it at each scope of assignAt):\n${JSON.stringify({ roleDefinition: r.roleDefinition, assignAt: r.assignAt }, null, 2)}${flagged(perms.azure, r.identity)}`,
          ),
          ...aws.map((p) => `AWS IAM policy for ${p.label}:\n${JSON.stringify(p.policy, null, 2)}${flagged(perms.aws, p.identity)}`),
        ].map(commented);
        const none = docs.length ? [] : ['# no Kubernetes permissions'];
        io.out(`${[...header, ...none].join('\n')}\n${docs.join('---\n')}${cloud.map((c) => `\n${c}\n`).join('')}`);
      },
    );
}
