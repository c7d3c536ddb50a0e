import type { z } from 'zod';
import type { PathSegment } from './diagnostics.ts';
import { specErrorMap } from './issues.ts';
import { checkRules, type RuleProblem } from './rules.ts';
import { specSchema } from './schema.ts';

/**
 * The cross-field rules, run on a spec the schema rejected: every value the schema rejected is
 * taken out (optional keys fall back to their defaults; a list item that cannot stand without the
 * value is taken out whole), and the rules run on what is left. The problems they find are
 * reported with the schema's in the same run, so fixing an objective of 101 does not reveal two
 * more problems on the next run. Paths are mapped back to the spec as written, and problems that
 * name a removed item are dropped (the item is not gone, it is only wrong).
 */

const ROUNDS = 6;

interface Removal {
  /** The list the item was taken out of, and the item's index there at the time. */
  list: PathSegment[];
  index: number;
  name?: string;
}

type Container = Record<string, unknown> | unknown[];

function at(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment as PropertyKey];
  }
  return node;
}

/** Takes the value at `path` out; false when nothing could be taken (the root, or already absent). */
function takeOut(root: Container, path: readonly PathSegment[], removals: Removal[]): boolean {
  if (path.length === 0) return false;
  const parent = at(root, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent) && typeof last === 'number') {
    if (last >= parent.length) return false;
    const item = parent[last] as { name?: unknown } | undefined;
    parent.splice(last, 1);
    removals.push({
      list: path.slice(0, -1),
      index: last,
      name: typeof item?.name === 'string' ? item.name : undefined,
    });
    return true;
  }
  if (parent === null || typeof parent !== 'object') return false;
  const record = parent as Record<string, unknown>;
  if (!(String(last) in record)) {
    // a required key that is missing: the container cannot stand without it
    return takeOut(root, path.slice(0, -1), removals);
  }
  delete record[String(last)];
  return true;
}

/** A path of the pruned spec as a path of the spec as written. */
function mapBack(path: readonly PathSegment[], removals: readonly Removal[]): PathSegment[] {
  const mapped = [...path];
  for (const removal of [...removals].reverse()) {
    const depth = removal.list.length;
    if (mapped.length <= depth) continue;
    if (!removal.list.every((segment, i) => mapped[i] === segment)) continue;
    const index = mapped[depth];
    if (typeof index === 'number' && index >= removal.index) mapped[depth] = index + 1;
  }
  return mapped;
}

export function rulesDespiteSchemaProblems(
  data: unknown,
  issues: readonly z.core.$ZodIssue[],
): RuleProblem[] {
  if (data === null || typeof data !== 'object') return [];
  let pruned: Container;
  try {
    pruned = structuredClone(data) as Container;
  } catch {
    // a TypeScript spec may hold values that cannot be copied (functions): its rules wait for a clean schema
    return [];
  }
  const removals: Removal[] = [];
  let pending = issues;
  for (let round = 0; round < ROUNDS; round++) {
    // deepest first, and list items from the highest index down, so earlier paths stay valid
    const paths = [...new Set(pending.flatMap(issuePaths).map((path) => JSON.stringify(path)))]
      .map((text) => JSON.parse(text) as PathSegment[])
      .sort((a, b) => b.length - a.length || compareDescending(a, b));
    let progressed = false;
    for (const path of paths) progressed = takeOut(pruned, path, removals) || progressed;
    if (!progressed) return [];
    const result = specSchema.safeParse(pruned, { error: specErrorMap });
    if (result.success) {
      const removedNames = removals.flatMap((r) => (r.name ? [`"${r.name}"`] : []));
      return checkRules(result.data)
        .map((problem) => ({ ...problem, path: mapBack(problem.path, removals) }))
        .filter((problem) => !removedNames.some((name) => problem.message.includes(name)));
    }
    pending = result.error.issues;
  }
  return [];
}

/** An unknown key is taken out on its own, not with the mapping it sits in. */
function issuePaths(issue: z.core.$ZodIssue): PathSegment[][] {
  const path = issue.path as PathSegment[];
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => [...path, key]);
  return [path];
}

function compareDescending(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return y - x;
    return String(y).localeCompare(String(x));
  }
  return 0;
}
