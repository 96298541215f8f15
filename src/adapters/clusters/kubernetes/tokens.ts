/**
 * The control plane's service-account tokens: the issuer's JWKS, legacy token Secrets and their
 * reissue, the key new tokens are signed with.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { jwtKeyId } from '../../../model/kops.ts';
import type { KubeApi } from './api.ts';

export async function verificationKeyIds(api: KubeApi, cluster: string): Promise<string[]> {
  const text = await api.call(
    cluster,
    "reading the service account issuer's keys",
    { needs: 'get on the /openid/v1/jwks non-resource URL (system:service-account-issuer-discovery)' },
    ({ openid }) => openid.getServiceAccountIssuerOpenIDKeyset(),
  );
  const jwks = (typeof text === 'string' ? JSON.parse(text) : text) as { keys?: { kid?: string }[] };
  return (jwks.keys ?? []).flatMap((k) => (k.kid ? [k.kid] : []));
}

/** Every legacy service-account token Secret of the cluster, in pages. */
function tokenSecrets(api: KubeApi, cluster: string) {
  return api.listAll(cluster, 'listing service-account token Secrets', { needs: 'list secrets in all namespaces' }, ({ core }, page) =>
    core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/service-account-token', ...page }),
  );
}

export async function serviceAccountTokenSecrets(
  api: KubeApi,
  cluster: string,
): Promise<{ namespace: string; name: string; keyId?: string }[]> {
  const list = { items: await tokenSecrets(api, cluster) };
  return list.items.map((s) => {
    const token = s.data?.token ? Buffer.from(s.data.token, 'base64').toString('utf8') : '';
    const keyId = jwtKeyId(token);
    return { namespace: s.metadata?.namespace ?? '', name: s.metadata?.name ?? '', ...(keyId ? { keyId } : {}) };
  });
}

export async function reissueServiceAccountTokens(api: KubeApi, cluster: string): Promise<number> {
  const list = { items: await tokenSecrets(api, cluster) };
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  for (const s of list.items) {
    const namespace = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    // A JSON merge patch that removes the token: the token controller signs a new one.
    await api.call(cluster, `reissuing ${namespace}/${name}`, { needs: `patch secrets in namespace ${namespace}` }, ({ core }) =>
      core.patchNamespacedSecret({ name, namespace, body: { data: { token: null } } }, options),
    );
  }
  return list.items.length;
}

export async function signingKeyId(api: KubeApi, cluster: string): Promise<string | undefined> {
  const request = await api.call(
    cluster,
    'requesting a service-account token to read its signing key id',
    { needs: 'create serviceaccounts/token for kube-system/default' },
    ({ core }) =>
      core.createNamespacedServiceAccountToken({
        name: 'default',
        namespace: 'kube-system',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } },
      }),
  );
  return jwtKeyId(request.status?.token ?? '');
}

// ---- discovery and exec ----------------------------------------------------------------------
