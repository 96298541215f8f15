/**
 * Delivery templates: `${var}` placeholders filled from the source's variables. Pure; the program
 * applies it inside an Output so the rendered value stays a Pulumi secret.
 */
export type TemplatePart = { literal: string } | { variable: string };

export function templateParts(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of template.matchAll(/\$\{([^}]*)\}/g)) {
    if (m.index > last) parts.push({ literal: template.slice(last, m.index) });
    parts.push({ variable: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ literal: template.slice(last) });
  return parts;
}

export function templateVariables(template: string): string[] {
  return [...new Set(templateParts(template).flatMap((p) => ('variable' in p ? [p.variable] : [])))];
}

/** @throws RangeError for a variable missing from `vars` (the parser rules that out for stacks). */
export function renderTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return templateParts(template)
    .map((p) => {
      if ('literal' in p) return p.literal;
      const value = vars[p.variable];
      if (value === undefined) throw new RangeError(`template variable \${${p.variable}} has no value`);
      return value;
    })
    .join('');
}
