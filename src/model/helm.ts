/**
 * Whether Helm owns an object, from its metadata alone. Helm stamps every object a release applies
 * with the label `app.kubernetes.io/managed-by: Helm` and the annotations
 * `meta.helm.sh/release-name` / `meta.helm.sh/release-namespace` (helm/helm v3, pkg/action/validate.go,
 * setMetadataVisitor). A Secret Helm owns is rewritten from the chart's values at the next
 * `helm upgrade`: a key keyslot delivered there would be replaced by whatever the values hold.
 */
export interface ObjectMeta {
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** `namespace/release` of the Helm release that owns the object, `(unnamed release)` when only the label says Helm; undefined when Helm does not own it. */
export function helmRelease(meta: ObjectMeta): string | undefined {
  const name = meta.annotations?.['meta.helm.sh/release-name'];
  const namespace = meta.annotations?.['meta.helm.sh/release-namespace'];
  if (name) return namespace ? `${namespace}/${name}` : name;
  return meta.labels?.['app.kubernetes.io/managed-by'] === 'Helm' ? '(unnamed release)' : undefined;
}
