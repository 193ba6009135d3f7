// The shape of the code: no import cycle in src/, nothing in src/ imports the offline code of lab/,
// and the service's path loads no TensorFlow.js.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)|new URL\(\s*['"](\.[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? sourceFiles(path) : /\.(ts|mts|mjs)$/.test(name) ? [path] : [];
  });
}

/** Each file's imports: repo-relative paths for relative specifiers, package names otherwise. */
function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (/^import\s+type\s/.test(m[0].trim())) continue; // types vanish at run time, but see the cycle check below
      targets.push(spec.startsWith('.') ? normalize(relative(ROOT, join(ROOT, dirname(file), spec))) : spec);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Every import, type-only ones included (a cycle of types is still a knot to untie). */
function fullGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    graph.set(
      file,
      [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]).filter((s) => s.startsWith('.')).map((s) => normalize(relative(ROOT, join(ROOT, dirname(file), s)))),
    );
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

function reachable(graph: Map<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length) {
    const node = todo.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    todo.push(...(graph.get(node) ?? []));
  }
  return seen;
}

describe('imports', () => {
  it('src/ has no import cycle, type-only imports included', () => {
    expect(cycles(fullGraph(['src'])).map((c) => c.join(' → '))).toEqual([]);
  });

  it('nothing in src/ imports lab/', () => {
    const offenders = [...fullGraph(['src'])].flatMap(([file, targets]) => targets.filter((t) => t.startsWith('lab/')).map((t) => `${file} → ${t}`));
    expect(offenders).toEqual([]);
  });

  it("the service's path loads no TensorFlow.js or Human", () => {
    const loaded = [...reachable(importGraph(['src']), 'src/service.ts')];
    expect(loaded.filter((m) => /^@tensorflow\/|^@vladmandic\/human/.test(m))).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c', 'a']]);
  });
});
