/**
 * How the CLI prints: a readable table for people, `--json` for scripts. Tables show the columns
 * that matter; `--json` shows everything the API returned.
 */
export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => unknown;
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** One record as aligned `key: value` lines. */
export function renderRecord(record: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(record);
  const width = Math.max(...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(width)}  ${cellText(record[k])}`).join('\n');
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.map(cellText).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  // Terminal control characters in data must not reach the terminal.
  return (typeof value === 'string' ? value : JSON.stringify(value)).replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    '?',
  );
}
