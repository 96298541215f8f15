/**
 * Reads `stacks/Pulumi.<stack>.yaml` directly, without the Pulumi CLI, for `keyslot plan`, the
 * driver's preflight and tests. Inside `pulumi up` the program reads the same keys through
 * `pulumi.Config` (see src/program/main.ts) and hands them to the same parser.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { YAMLParseError } from 'yaml';
import { ConfigError, StackNotFoundError } from '../errors.ts';
import { parseYamlExact } from './exactNumbers.ts';
import { parseStackConfig, type StackConfig } from './parse.ts';

import { projectRoot } from './projectRoot.ts';

export { projectRoot } from './projectRoot.ts';
export const defaultStacksDir = join(projectRoot, 'stacks');

export function stackFile(stack: string, stacksDir = defaultStacksDir): string {
  return join(stacksDir, `Pulumi.${stack}.yaml`);
}

/** Stack names that have a file in `stacksDir`, sorted. */
export function listStacks(stacksDir = defaultStacksDir): string[] {
  return readdirSync(stacksDir)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/** The `keyslot:` keys of a stack file, un-namespaced. */
export function readStackFile(stack: string, stacksDir = defaultStacksDir): { origin: string; raw: Record<string, unknown> } {
  if (!/^[\w.-]+$/.test(stack)) {
    throw new StackNotFoundError(
      `--stack ${stack}`,
      'stack',
      JSON.stringify(stack),
      'use a stack name such as local (letters, digits, "-", "_", ".")',
    );
  }
  const file = stackFile(stack, stacksDir);
  const origin = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const known = safeList(stacksDir);
    const code = (cause as NodeJS.ErrnoException).code;
    const found = code === 'EISDIR' ? 'a folder, not a file' : code === 'EACCES' ? 'a file this user may not read' : 'no such file';
    throw new StackNotFoundError(origin, 'stack', found, `use one of ${known.join(', ') || '(none)'} or create ${origin}`, { cause });
  }
  return { origin, raw: readStackFileText(text, origin) };
}

/** The `keyslot:` keys of a stack file's text, un-namespaced. @throws ConfigError naming `origin` */
export function readStackFileText(text: string, origin = 'the stack file'): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYamlExact(text);
  } catch (cause) {
    const where = cause instanceof YAMLParseError && cause.linePos ? `line ${cause.linePos[0].line}` : 'the file';
    throw new ConfigError(origin, 'config', `invalid YAML at ${where}`, 'fix the YAML syntax', { cause });
  }
  const config = doc && typeof doc === 'object' && 'config' in doc ? (doc as { config: unknown }).config : undefined;
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    const found = Array.isArray(config) ? 'a list' : config === undefined || config === null ? 'no config: map' : `a ${typeof config}`;
    throw new ConfigError(
      origin,
      'config',
      found,
      'make config: a map of keys such as keyslot:credentials (Pulumi stack files hold config as a map)',
    );
  }
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith('keyslot:')) raw[key.slice('keyslot:'.length)] = value;
  }
  return raw;
}

function safeList(stacksDir: string): string[] {
  try {
    return listStacks(stacksDir);
  } catch {
    return [];
  }
}

/** Reads and parses one stack, keeping the raw values too (a simulated checkout starts from them). @throws ConfigError (exit code 2) */
export function openStack(stack: string, stacksDir = defaultStacksDir): { config: StackConfig; raw: Record<string, unknown> } {
  const { origin, raw } = readStackFile(stack, stacksDir);
  return { config: parseStackConfig(stack, raw, origin, new Date()), raw };
}

/** Reads and parses one stack. @throws ConfigError (exit code 2) */
export function loadStack(stack: string, stacksDir = defaultStacksDir): StackConfig {
  return openStack(stack, stacksDir).config;
}
