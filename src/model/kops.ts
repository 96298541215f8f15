/**
 * kOps keysets as keyslot's previous/primary/next slots. Pure: reads what `kops get keypairs -o
 * json` prints and decides which `kops` commands move a keyset one rotation on.
 *
 * kOps (1.22+) keeps each keyset's keypairs in its state store, one of them primary (it signs),
 * the others trusted or distrusted; keypair ids are certificate serial numbers, larger for newer
 * keys. `kops promote keypair KEYSET ID` makes a trusted keypair primary, `kops distrust keypair
 * KEYSET ID` stops trusting one, `kops create keypair KEYSET` adds a new trusted secondary, and
 * `kops update cluster --yes` + a rolling update of the control plane make the API servers use
 * what the state store holds. As slots: `primary` is the primary, `next` the one trusted keypair
 * newer than it (staged by the last rotation), `previous` the one trusted keypair older than it.
 */

export interface KopsKeypair {
  readonly id: string;
  readonly primary: boolean;
  readonly distrusted: boolean;
  /** The certificate's notBefore (RFC 3339), when kOps printed it. */
  readonly issued?: string;
}

export interface KopsTarget {
  readonly clusterName: string;
  readonly stateStore: string;
  readonly keyset: string;
}

/** The keypair id in each slot; `next` and `previous` may be missing from a keyset keyslot has not rotated yet. */
export type KopsSlots = { readonly primary: string; readonly next?: string; readonly previous?: string };

/** The keyslot cluster whose API servers use a kOps keyset: the source's `cluster`, else the primary, else the first. */
export function kopsHome(clusters: readonly { readonly name: string; readonly primary: boolean }[], named?: string): string {
  return named ?? clusters.find((c) => c.primary)?.name ?? clusters[0]?.name ?? '';
}

/** The global flags every kops command of a target takes. */
function scope(target: KopsTarget): string[] {
  return ['--name', target.clusterName, '--state', target.stateStore];
}

export const kopsCommands = {
  validate: (t: KopsTarget) => ['kops', 'validate', 'cluster', ...scope(t), '--wait', '10m'],
  getKeypairs: (t: KopsTarget) => ['kops', 'get', 'keypairs', t.keyset, '-o', 'json', ...scope(t)],
  promote: (t: KopsTarget, id: string) => ['kops', 'promote', 'keypair', t.keyset, id, ...scope(t)],
  distrust: (t: KopsTarget, id: string) => ['kops', 'distrust', 'keypair', t.keyset, id, ...scope(t)],
  create: (t: KopsTarget) => ['kops', 'create', 'keypair', t.keyset, ...scope(t)],
  update: (t: KopsTarget) => ['kops', 'update', 'cluster', ...scope(t), '--yes'],
};

/** Compares two keypair ids (decimal serial numbers of any length) numerically. */
export function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Reads `kops get keypairs KEYSET -o json`: a JSON array of `{name, id, isPrimary?,
 * distrustTimestamp?, notBefore?, ...}`. Throws with what was wrong, never echoing the text (it is
 * only ids and dates, but a wrapper could print anything).
 */
export function parseKeypairs(text: string, keyset: string): KopsKeypair[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    throw new Error(`kops get keypairs ${keyset} -o json did not print JSON`);
  }
  if (!Array.isArray(items)) throw new Error(`kops get keypairs ${keyset} -o json did not print a list`);
  return items
    .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null && (i as { name?: unknown }).name === keyset)
    .map((i) => {
      if (typeof i.id !== 'string' || !/^[0-9]+$/.test(i.id)) throw new Error(`kops listed a ${keyset} keypair without a numeric id`);
      return {
        id: i.id,
        primary: i.isPrimary === true,
        distrusted: typeof i.distrustTimestamp === 'string',
        ...(typeof i.notBefore === 'string' ? { issued: i.notBefore } : {}),
      };
    });
}

/**
 * The slots of a keyset: throws, naming the fix, when it is not one keyslot can rotate (no
 * primary, or several keypairs older or newer than the primary still trusted).
 */
export function kopsSlots(keypairs: readonly KopsKeypair[], target: KopsTarget): KopsSlots {
  const trusted = keypairs.filter((k) => !k.distrusted);
  const primary = trusted.find((k) => k.primary);
  if (!primary) throw new Error(`kOps keyset ${target.keyset} of ${target.clusterName} has no primary keypair`);
  const older = trusted.filter((k) => compareIds(k.id, primary.id) < 0);
  const newer = trusted.filter((k) => compareIds(k.id, primary.id) > 0);
  const many = (what: string, ks: readonly KopsKeypair[]) =>
    new Error(
      `kOps keyset ${target.keyset} of ${target.clusterName} trusts ${ks.length} keypairs ${what} than the primary (${ks.map((k) => k.id).join(', ')}); keyslot rotates a keyset of previous, primary and next: distrust the extra ones (kops distrust keypair ${target.keyset} ID), then kops update cluster --yes and a rolling update`,
    );
  if (older.length > 1) throw many('older', older);
  if (newer.length > 1) throw many('newer', newer);
  return { primary: primary.id, ...(newer[0] ? { next: newer[0].id } : {}), ...(older[0] ? { previous: older[0].id } : {}) };
}

/**
 * The commands that move a keyset from `before` (the slots when the rotation started) one rotation
 * on — previous distrusted, next promoted, a new next created — skipping what the state store shows
 * done already, so a resumed flip repeats nothing. `update cluster --yes` is the caller's last step.
 */
export function kopsAdvance(before: KopsSlots, now: readonly KopsKeypair[], target: KopsTarget): string[][] {
  assertStagedNext(before, target);
  // A promoted next is still trusted: kops refuses to distrust the primary (kubernetes/kops
  // v1.30.0, cmd/kops/distrust_keypair.go: "cannot distrust the primary keypair").
  const trusted = new Set(now.filter((k) => !k.distrusted).map((k) => k.id));
  if (!trusted.has(before.next))
    throw new Error(`kOps keyset ${target.keyset}: keypair ${before.next}, the next key this rotation promotes, is gone or distrusted`);
  const out: string[][] = [];
  if (before.previous && trusted.has(before.previous)) out.push(kopsCommands.distrust(target, before.previous));
  if (!now.some((k) => k.id === before.next && k.primary)) out.push(kopsCommands.promote(target, before.next));
  const staged = now.some((k) => !k.distrusted && compareIds(k.id, before.next!) > 0);
  if (!staged) out.push(kopsCommands.create(target));
  return out;
}

/**
 * The next commands of a disruptive replacement (a signing key exposed): three new keypairs (a
 * previous that never signs, the primary, a next), the middle one promoted, every keypair there
 * was before distrusted. Called again after each batch until it returns nothing: new ids are only
 * known once kops made them, and a resumed run picks up where the state store stands.
 */
export function kopsReplaceAll(before: KopsSlots, now: readonly KopsKeypair[], target: KopsTarget): string[][] {
  const old = new Set([before.previous, before.primary, before.next]);
  const fresh = now
    .filter((k) => !k.distrusted && !old.has(k.id))
    .map((k) => k.id)
    .sort(compareIds);
  if (fresh.length < 3) return [kopsCommands.create(target)];
  const primary = fresh[fresh.length - 2]!;
  if (!now.some((k) => k.id === primary && k.primary)) return [kopsCommands.promote(target, primary)];
  return now.filter((k) => !k.distrusted && old.has(k.id)).map((k) => kopsCommands.distrust(target, k.id));
}

/** A keyset can advance only with a staged next keypair, which every API server already trusts; throws naming how to stage one. */
export function assertStagedNext(slots: KopsSlots, target: KopsTarget): asserts slots is KopsSlots & { readonly next: string } {
  if (!slots.next)
    throw new Error(
      `kOps keyset ${target.keyset} of ${target.clusterName} has no staged next keypair to promote; stage one first (kops create keypair ${target.keyset}, kops update cluster --yes, then a rolling update of the control plane) so every API server trusts it before it signs`,
    );
}

/** The slots after a rotation from `before`, read off the keyset once the flip's commands ran. */
export function kopsAfter(before: KopsSlots, now: readonly KopsKeypair[], target: KopsTarget, replaced = false): Required<KopsSlots> {
  const slots = kopsSlots(now, target);
  const old = [before.previous, before.primary, before.next];
  const moved = replaced
    ? !old.includes(slots.primary) && slots.previous !== undefined && !old.includes(slots.previous) && !!slots.next
    : slots.primary === before.next && slots.previous === before.primary && !!slots.next;
  if (!moved)
    throw new Error(
      `kOps keyset ${target.keyset} of ${target.clusterName} is not where the rotation left it (primary ${slots.primary}, previous ${slots.previous ?? 'none'}, next ${slots.next ?? 'none'}); it changed outside keyslot`,
    );
  return slots as Required<KopsSlots>;
}

/** Decodes a JWT's header (never its claims or signature) and returns its `kid`, if any. */
export function jwtKeyId(token: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown };
    return typeof parsed.kid === 'string' ? parsed.kid : undefined;
  } catch {
    return undefined;
  }
}
