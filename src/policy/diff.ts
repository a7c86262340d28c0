/** One line of a diff: kept (` `), removed (`-`) or added (`+`). */
export interface DiffLine {
  readonly op: ' ' | '-' | '+';
  readonly text: string;
}

/** Past this many cells the middle of a diff is shown as one removal and one addition. */
const MAX_CELLS = 4_000_000;

/**
 * A line diff of `before` → `after` (longest common subsequence after trimming the common head
 * and tail), rendered as unified-diff text without hunk headers: every line, marked.
 *
 * @example
 * diffLines('a\nb', 'a\nc'); // " a\n-b\n+c"
 */
export function diffLines(before: string, after: string): string {
  return diff(before.split('\n'), after.split('\n'))
    .map((line) => `${line.op}${line.text}`)
    .join('\n');
}

function diff(a: readonly string[], b: readonly string[]): DiffLine[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const keep = (lines: readonly string[]): DiffLine[] => lines.map((text) => ({ op: ' ', text }));
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const middle: DiffLine[] = [];
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_CELLS) {
    middle.push(...midA.map((text): DiffLine => ({ op: '-', text })));
    middle.push(...midB.map((text): DiffLine => ({ op: '+', text })));
  } else {
    // lengths[i * (m + 1) + j]: LCS length of midA[i..] and midB[j..].
    const lengths = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i * (m + 1) + j] =
          midA[i] === midB[j]
            ? (lengths[(i + 1) * (m + 1) + j + 1] ?? 0) + 1
            : Math.max(lengths[(i + 1) * (m + 1) + j] ?? 0, lengths[i * (m + 1) + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        middle.push({ op: ' ', text: midA[i] ?? '' });
        i++;
        j++;
      } else if (
        j < m &&
        (i >= n || (lengths[i * (m + 1) + j + 1] ?? 0) >= (lengths[(i + 1) * (m + 1) + j] ?? 0))
      ) {
        middle.push({ op: '+', text: midB[j] ?? '' });
        j++;
      } else {
        middle.push({ op: '-', text: midA[i] ?? '' });
        i++;
      }
    }
  }
  return [...keep(a.slice(0, head)), ...middle, ...keep(a.slice(a.length - tail))];
}
