/**
 * Integers as the Pulumi CLI writes them, read back without losing a digit.
 *
 * `pulumi config set --path` stores a value that parses as a 64-bit integer (no leading zero) as a
 * YAML integer, `true`/`false` as booleans, anything else as a string (pulumi/pulumi v3.259.0,
 * sdk/go/common/resource/config/object.go `coerce`: strconv.ParseInt, then ParseUint, 64 bits).
 * The language host then hands the program that value inside a JSON text. A kOps keypair id can be
 * such an integer and be longer than a JavaScript number holds exactly (2^53): read as a number it
 * would come back as another id. So an integer past that range is read as its digits — a string,
 * which is what keyslot's schema takes for an id — and every other number as a number.
 */
import { parse as parseYaml } from 'yaml';

/** An integer read from a stack file or a config text: a number when exact, else its digits. */
function exact(digits: string, value: number | bigint): number | string {
  return Number.isSafeInteger(Number(value)) ? Number(value) : digits;
}

function unbig(value: unknown): unknown {
  if (typeof value === 'bigint') return exact(String(value), value);
  if (Array.isArray(value)) return value.map(unbig);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, unbig(v)]));
  return value;
}

/** A YAML text (a stack file) with integers read exactly. @throws YAMLParseError on bad YAML */
export function parseYamlExact(text: string): unknown {
  return unbig(parseYaml(text, { intAsBigInt: true }));
}

/**
 * A config value's JSON text, as Pulumi hands structured config to a program, with integers read
 * exactly (the reviver sees each number's source text). Undefined when the text is not JSON.
 */
export function parseJsonExact(text: string): unknown {
  try {
    return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^-?[0-9]+$/.test(context.source)
        ? context.source
        : value,
    );
  } catch {
    return undefined;
  }
}
