/**
 * Masks key material in text keyslot did not write itself (a command's output, an API's error
 * body) before it goes into an event, a log line, a report or an error message: by value wherever
 * the value is known (`Redactor`: every secret value the process has seen), and by shape as a
 * second net for values it never saw.
 */
/** A shape of key material and what it becomes: the name of a `name=value` pair survives, its value does not. */
const shapes: readonly { readonly pattern: RegExp; readonly mask: (match: string, ...groups: string[]) => string }[] = [
  { pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, mask: () => '[redacted]' },
  { pattern: /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, mask: () => '[redacted]' },
  {
    pattern: /\b(AccountKey|SharedAccessSignature|sig|password|secret|token|key)=([^;&\s]+)/gi,
    mask: (_match, name) => `${name}=[redacted]`,
  },
  // YAML-style `name: value`, plain or quoted either way (a space after the colon, so type tokens like
  // `kind:Secret::name` are not names).
  {
    pattern:
      /\b(AccountKey|password|passwd|secret|secret_key|access_key|token|api_key|apikey|client-key-data)(:[ \t]+)(["']?)([^\s"',;]+)\3/gi,
    mask: (_match, name, sep) => `${name}${sep}[redacted]`,
  },
  { pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, mask: () => '[redacted]' },
  { pattern: /[A-Za-z0-9+/]{32,}={0,2}/g, mask: () => '[redacted]' },
  { pattern: /\b[0-9a-f]{32,}\b/gi, mask: () => '[redacted]' },
];

export function redact(text: string): string {
  let out = text;
  for (const { pattern, mask } of shapes) out = out.replace(pattern, mask);
  return out;
}

/**
 * The secret values this process has seen (key material read for a standby-key test, kubeconfigs
 * held as stack secrets), masked wherever they appear, whatever their shape; then the shapes.
 */
export class Redactor {
  private readonly values = new Set<string>();

  /** Remembers a secret value; values under 8 characters are too likely to be ordinary text. */
  remember(value: string | undefined): void {
    if (value && value.length >= 8) this.values.add(value);
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a value that contains another is masked whole.
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(value).join('[redacted]');
    return redact(out);
  }
}
