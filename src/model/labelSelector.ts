/**
 * A workload's `spec.selector` (a metav1.LabelSelector) as the label-selector query a list request
 * takes, converted as the API's own `LabelSelectorAsSelector` does (kubernetes/apimachinery
 * v0.33.13, pkg/apis/meta/v1/helpers.go; rendering per pkg/labels/selector.go `String()`):
 * matchLabels and matchExpressions are ANDed; each matchLabels entry is `k=v`; `In` is `k in (a,b)`,
 * `NotIn` is `k notin (a,b)` (values sorted), `Exists` is `k`, `DoesNotExist` is `!k`; requirements
 * in key order, joined by commas. `In`/`NotIn` need values, `Exists`/`DoesNotExist` none
 * (`NewRequirement`). Pure.
 *
 * A null selector matches nothing and an empty one everything (`Nothing()`/`Everything()`), both
 * rendered as "": apps/v1 requires a non-empty selector on a workload, so either is refused here
 * rather than listing a whole namespace's pods as the workload's.
 */

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | null;
  readonly matchExpressions?:
    | readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] | null }[]
    | null;
}

export function labelSelectorQuery(selector: LabelSelector | null | undefined): { query: string } | { error: string } {
  if (!selector) return { error: 'it has no selector (a null selector matches no pod)' };
  const requirements: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) requirements.push({ key, text: `${key}=${value}` });
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort();
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return { error: `matchExpressions ${e.key} ${e.operator} has no values (the API requires some)` };
        requirements.push({ key: e.key, text: `${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${values.join(',')})` });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return { error: `matchExpressions ${e.key} ${e.operator} has values (the API allows none)` };
        requirements.push({ key: e.key, text: e.operator === 'Exists' ? e.key : `!${e.key}` });
        break;
      default:
        return { error: `matchExpressions ${e.key}: "${e.operator}" is not a valid label selector operator` };
    }
  }
  if (requirements.length === 0) return { error: 'its selector is empty (it would match every pod of the namespace)' };
  // Sorted by key as labels.Selector.Add sorts them; a stable sort keeps one key's requirements in order.
  requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { query: requirements.map((r) => r.text).join(',') };
}
