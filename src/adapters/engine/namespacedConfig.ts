/** How Pulumi hands a stack's config to a program: each `keyslot:` key namespaced, every value a string. */

/** A stack's `keyslot:` values (un-namespaced) as Pulumi hands them to a program. */
export function namespacedConfig(raw: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [`keyslot:${k}`, typeof v === 'string' ? v : JSON.stringify(v)]));
}
