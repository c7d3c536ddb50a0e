/** A problem found in a spec, located in the file the user wrote. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  /** The spec's own keys, e.g. `services[1].slos[0].objective`; empty for the whole file. */
  path: string;
  /** Says what is wrong and ends with how to fix it. */
  message: string;
  /** Name of the cross-field rule that found it, for rule problems. */
  rule?: string;
}

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/**
 * One problem is one line whatever the spec's values hold: line breaks and other control
 * characters are printed as escapes (\n, \t, \u0007), as JSON would write them.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (char) => {
    const escaped = JSON.stringify(char).slice(1, -1);
    return escaped !== char ? escaped : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

export function formatProblem(problem: Problem): string {
  const where = oneLine(`${problem.file}:${problem.line}:${problem.col}`);
  const message = oneLine(problem.message);
  return problem.path ? `${where}: ${oneLine(problem.path)}: ${message}` : `${where}: ${message}`;
}

export function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path));
}

/** Maps a path in the loaded data back to where it was written. */
export interface Locator {
  /** Position of the value at `path`; of its key when `key` is set; nearest existing ancestor otherwise. */
  locate(path: readonly PathSegment[], options?: { key?: boolean }): { line: number; col: number };
}

export class SpecError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super(sortProblems(problems).map(formatProblem).join('\n'));
    this.name = 'SpecError';
    this.problems = sortProblems(problems);
  }
}

/** Closest candidate by edit distance, for "did you mean" hints on typos. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
