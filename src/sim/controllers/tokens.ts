/**
 * The control plane's service-account tokens: API servers that sign with one key and verify with a
 * bundle read at their restart, projected tokens refreshed by the kubelet, TokenRequest, legacy
 * token Secrets, and the issuer's JWKS.
 */
import { jwtKeyId } from '../../model/kops.ts';
import { GardenerControllers } from './gardener.ts';
import { serviceAccountTokenType, simJwt, simKeyId, tokenRefreshMs, type SimControlPlane, type SimWorkload } from '../model.ts';

export abstract class TokenControllers extends GardenerControllers {
  protected refreshTokens(w: SimWorkload, now: number): void {
    for (const pod of w.pods) {
      if (pod.tokenIssuedAt !== undefined && now - pod.tokenIssuedAt >= tokenRefreshMs) {
        pod.tokenIssuedAt += Math.floor((now - pod.tokenIssuedAt) / tokenRefreshMs) * tokenRefreshMs;
        pod.loaded = this.issueToken();
        this.version += 1;
      }
    }
  }

  /** A projected token as a pod holds it: signed by the API server that restarted last (it answers the kubelet's TokenRequest). */
  protected issueToken(): string {
    return `token:${this.newestSigner()}`;
  }

  /** Adds API servers that sign and verify service-account tokens with keys from two Secrets. */
  addControlPlane(namespace: string, signerSecret: string, bundleSecret: string, servers = 3): SimControlPlane {
    const read = (name: string) => Object.values(this.secrets.get(TokenControllers.key(namespace, name))?.data ?? {}).join('\n');
    return this.addControlPlaneReading(() => ({ signer: read(signerSecret), trusted: read(bundleSecret) }), servers);
  }

  /** Adds API servers that read their signing key and trusted keys from `read` at every restart (kOps: the applied state store). */
  addControlPlaneReading(read: SimControlPlane['read'], servers = 3): SimControlPlane {
    this.controlPlane = { read, servers: Array.from({ length: servers }, () => ({ signer: '', trusted: '', restartedAt: this.now() })) };
    this.restartApiServers();
    return this.controlPlane;
  }

  /** Every API server restarts now and reads its keys again (a cluster booting; a rolling update without its pace). */
  restartApiServers(): void {
    for (const i of this.controlPlane?.servers.keys() ?? []) this.restartApiServer(i);
  }

  /** One API server restarts (a control-plane rolling update) and reads its key and trust bundle again. */
  restartApiServer(index: number): void {
    const cp = this.controlPlane;
    if (!cp) return;
    cp.servers[index] = { ...cp.read(), restartedAt: this.now() };
    this.version += 1;
  }

  /**
   * Every API server must accept a token: a request may land on any of them. A token is either
   * `token:<signer>` (a projected token as a pod holds it) or `token:<JWT>` (a legacy token Secret),
   * whose header names the key that signed it.
   */
  verifiesToken(loaded: string): boolean {
    const token = loaded.slice('token:'.length);
    if (!this.controlPlane) return false;
    if (token.includes('/private@')) {
      const publicKey = token.replace('/private@', '/public@');
      return this.controlPlane.servers.every((s) => s.trusted.split('\n').includes(publicKey));
    }
    const kid = jwtKeyId(token);
    return kid !== undefined && this.controlPlane.servers.every((s) => s.trusted.split('\n').some((p) => simKeyId(p) === kid));
  }

  /** The key the API servers sign new tokens with: the server that restarted last answers a TokenRequest. */
  protected newestSigner(): string {
    const servers = this.controlPlane?.servers ?? [];
    return (
      servers.reduce<(typeof servers)[number] | undefined>((a, s) => (!a || s.restartedAt >= a.restartedAt ? s : a), undefined)?.signer ??
      ''
    );
  }

  /** A TokenRequest: a short-lived JWT for the service account, signed by the primary key. */
  requestToken(namespace: string, serviceAccount: string, expirationSeconds: number): { token: string; expiresAt: number } {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + expirationSeconds;
    return {
      token: simJwt(this.newestSigner(), {
        iss: 'https://kubernetes.default.svc',
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
        iat,
        exp,
      }),
      expiresAt: exp * 1000,
    };
  }

  /**
   * A legacy token Secret (`kubernetes.io/service-account-token`) for the service account, its token
   * signed now by the primary key; the token controller never reissues it while it holds a token.
   */
  addLegacyToken(namespace: string, name: string, serviceAccount = 'default', signer = this.newestSigner()): void {
    const token = simJwt(signer, { iss: 'kubernetes/serviceaccount', sub: `system:serviceaccount:${namespace}:${serviceAccount}` });
    this.applySecret(namespace, name, { token }, { 'kubernetes.io/service-account.name': serviceAccount });
    this.secrets.get(TokenControllers.key(namespace, name))!.type = serviceAccountTokenType;
  }

  /**
   * What the token controller does for a legacy token Secret whose `data.token` was removed: signs
   * a new token with the primary key.
   */
  reissueLegacyToken(namespace: string, name: string): void {
    const s = this.secrets.get(TokenControllers.key(namespace, name));
    if (s?.type !== serviceAccountTokenType) throw new Error(`${namespace}/${name} is not a service-account token Secret`);
    const sa = s.annotations['kubernetes.io/service-account.name'] ?? 'default';
    this.addLegacyToken(namespace, name, sa);
  }

  /** Legacy token Secrets with the kid of the key that signed each. */
  serviceAccountTokenSecrets(): { namespace: string; name: string; keyId?: string }[] {
    return [...this.secrets.entries()]
      .filter(([, s]) => s.type === serviceAccountTokenType)
      .map(([key, s]) => {
        const [namespace, name] = key.split('/') as [string, string];
        const keyId = jwtKeyId(s.data.token ?? '');
        return { namespace, name, ...(keyId ? { keyId } : {}) };
      });
  }

  /**
   * The key ids the API servers verify tokens with, as the service account issuer's JWKS
   * (`/openid/v1/jwks`) lists them: every key of `--service-account-key-file`. A request lands on
   * one server: this is the one that restarted first (the stalest view a reader may get).
   */
  verificationKeyIds(): string[] {
    const servers = this.controlPlane?.servers ?? [];
    const oldest = servers.reduce<(typeof servers)[number] | undefined>((a, s) => (!a || s.restartedAt < a.restartedAt ? s : a), undefined);
    return (oldest?.trusted ?? '')
      .split('\n')
      .filter(Boolean)
      .map((p) => simKeyId(p));
  }

  /** The kid of the key new tokens are signed with. */
  signingKeyId(): string | undefined {
    const signer = this.newestSigner();
    return signer ? simKeyId(signer.replace('/private@', '/public@')) : undefined;
  }

  /** Projected tokens of every pod that reads one, refreshed as the kubelet does. */
  protected refreshAllTokens(now: number): void {
    if (this.controlPlane) for (const w of this.workloads.values()) if (w.reads === 'token') this.refreshTokens(w, now);
  }
}
