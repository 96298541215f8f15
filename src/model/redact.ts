/**
 * Masks what looks like key material in text keyslot did not write itself (a command's output,
 * an API's error body) before it goes into an event, a log line or an error message. keyslot
 * never holds the values it rotates, so it cannot mask them by value; it masks by shape instead.
 */
const shapes: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g,
  /\b(AccountKey|SharedAccessSignature|sig|password|secret|token|key)=([^;&\s]+)/gi,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g,
  /[A-Za-z0-9+/]{32,}={0,2}/g,
  /\b[0-9a-f]{32,}\b/gi,
];

export function redact(text: string): string {
  let out = text;
  for (const shape of shapes) {
    out = out.replace(shape, (match, name?: string) => (typeof name === 'string' && match.includes('=') && !match.startsWith('-----') ? `${name}=[redacted]` : '[redacted]'));
  }
  return out;
}
