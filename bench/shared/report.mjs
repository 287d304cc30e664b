// What every benchmark prints its results with: numbers and Markdown tables.

/** A number with thousands separators and `digits` decimals; `n/a` when missing. */
export const fmt = (n, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? 'n/a'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A Markdown table; columns are [header, align ('l' | 'r'), cell(row)]. */
export function table(columns, rows) {
  const cells = rows.map((row) => columns.map(([, , cell]) => cell(row)));
  const widths = columns.map(([header], i) =>
    Math.max(header.length, ...cells.map((line) => line[i].length)),
  );
  const pad = (value, i) =>
    columns[i][1] === 'l' ? value.padEnd(widths[i]) : value.padStart(widths[i]);
  const line = (values) => `| ${values.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => '-'.repeat(w - 1) + (columns[i][1] === 'l' ? '-' : ':')).join(' | ')} |`;
  return [line(columns.map(([header]) => header)), rule, ...cells.map(line)].join('\n');
}
