/**
 * The log lines that mean a consumer's key was rejected, per source: what the SDKs and services
 * behind each source print when they refuse a credential. A `verify-logs` stage without
 * `patterns` uses its credential's list; matching is case-insensitive.
 */
import type { SourceType } from '../config/schema.ts';

const generic = ['authentication failed', 'unauthori[sz]ed', 'access denied'];

const bySource: Readonly<Record<SourceType, readonly string[]>> = {
  'aws-iam-access-key': ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidClientTokenId', ...generic],
  'azure-cosmosdb-keys': ['\\b401\\b', 'Unauthorized', "authorization token can't serve", ...generic],
  'azure-storage-keys': ['\\b403\\b', 'AuthenticationFailed', 'Server failed to authenticate the request', ...generic],
  random: [...generic, 'invalid.{0,40}(key|token|password|credential)'],
  'tls-signing-key': [
    ...generic,
    'invalid.{0,40}(token|signature)',
    'token is expired|signature is invalid|crypto/rsa: verification error',
  ],
  'kops-keyset': [...generic, 'invalid.{0,40}(token|signature)', 'token is expired|signature is invalid|crypto/rsa: verification error'],
  'gardener-kubeconfig': [...generic, 'x509: certificate signed by unknown authority'],
};

export function defaultLogPatterns(source: SourceType): readonly string[] {
  return bySource[source];
}
