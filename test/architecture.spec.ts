/**
 * The layering, checked on the source itself (issue: the driver as modules): config → model →
 * program / driver → ports → adapters and the simulated world → drill → cli. A file imports only
 * from its own layer or the ones before it; no two files import each other, however indirectly;
 * no source file grows past 600 lines, and the one holding the Driver class stays under 450.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { globSync } from 'node:fs';

const src = resolve(__dirname, '..', 'src');
const files = globSync('**/*.ts', { cwd: src }).map((f) => join(src, f));

/** Layers, earliest first: a file may import from its own rank or a lower one. */
const rank: Record<string, number> = {
  'errors.ts': 0,
  config: 1,
  model: 2,
  ports: 3,
  program: 4,
  driver: 4,
  adapters: 5,
  sim: 5,
  drill: 6,
  cli: 7,
};
/**
 * The parser applies the model's slot rules and redaction while it reads a stack (both take only
 * config's schema types): the one place config looks at the model.
 */
const allowed = new Set(['config/parse.ts -> model/slots.ts', 'config/parse.ts -> model/redact.ts']);

/** Every relative import, re-export and lazy require of a file, resolved to a file under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|require\('(\.[^']+)'\)/g)) {
    const target = resolve(dirname(file), (m[1] ?? m[2])!);
    if (existsSync(target) && target.startsWith(src) && target.endsWith('.ts')) out.push(target);
  }
  return out;
}

/** Each circle of a graph once, as the path from its first file back to it. */
function circlesIn(g: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[][] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      circles.push([...path.slice(path.indexOf(file)), file]);
      return;
    }
    state.set(file, 'open');
    for (const dep of g.get(file) ?? []) visit(dep, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of g.keys()) visit(file, []);
  return circles;
}

const layerOf = (file: string) => relative(src, file).split('/')[0]!;
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('architecture: layers, no circles, small files', () => {
  it('every file under src/ belongs to a layer', () => {
    assert.deepEqual(
      files.map(layerOf).filter((l) => rank[l] === undefined),
      [],
    );
  });

  it('a file imports only from its own layer or an earlier one (program and driver never import each other)', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        const [a, b] = [layerOf(file), layerOf(dep)];
        const edge = `${relative(src, file)} -> ${relative(src, dep)}`;
        const sideways = (a === 'program' && b === 'driver') || (a === 'driver' && b === 'program');
        if ((rank[b]! > rank[a]! || sideways) && !allowed.has(edge)) wrong.push(edge);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('no import circle, however long', () => {
    assert.deepEqual(
      circlesIn(graph).map((c) => c.map((f) => relative(src, f)).join(' -> ')),
      [],
    );
  });

  it('the circle check finds a circle through several files', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
    ]);
    assert.deepEqual(circlesIn(g), [['a', 'b', 'c', 'a']]);
  });

  it('no source file over 600 lines; the Driver class file under 450', () => {
    const lines = (f: string) => readFileSync(f, 'utf8').split('\n').length;
    assert.deepEqual(
      files.filter((f) => lines(f) > 600).map((f) => `${relative(src, f)}: ${lines(f)}`),
      [],
    );
    assert.ok(lines(join(src, 'driver', 'driver.ts')) < 450);
  });

  it('the checks see a circle and a layer break when there is one', () => {
    // The same reading applied to a known edge: the drill imports the driver, never the reverse.
    const drill = join(src, 'drill', 'drill.ts');
    assert.ok(graph.get(drill)!.some((d) => layerOf(d) === 'driver'));
    assert.ok(![...graph].some(([f, deps]) => layerOf(f) === 'driver' && deps.some((d) => layerOf(d) === 'drill')));
  });
});
