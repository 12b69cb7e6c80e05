/** The tables and the chart of bench/RESULTS.md. */
import { fmt } from "./_common.ts";
import type { Run } from "./_load.ts";

/** One workload's medians: scriptserver, its reference, and beside them. */
export interface Result {
  workload: string;
  /** The share of the bare server's requests/s to reach. */
  target: number;
  /** The p99 latency to stay within, in ms. */
  p99?: number;
  ours: Run;
  bare: Run;
  /** The bare server that also reads the Host header and the URL. */
  reads?: Run;
  nginx?: Run;
}

/** One row of a table of figures that are not load runs. */
export interface Row {
  what: string;
  ours: string;
  reference: string;
  target: string;
}

/** A row of figures with a target that holds or not. */
export interface FigureRow extends Row {
  /** Whether the target holds. */
  ok: boolean;
}

const mark = (ok: boolean) => (ok ? "✅" : "❌");

/** The load results, one row per workload. */
export function resultsTable(results: Result[]): string {
  const rows = results.map((r) => {
    const ratio = r.ours.rps / r.bare.rps;
    const p99 = r.p99 === undefined
      ? fmt(r.ours.p99ms, 2)
      : `${fmt(r.ours.p99ms, 2)} (≤ ${r.p99}) ${mark(r.ours.p99ms <= r.p99)}`;
    const reads = r.reads
      ? `${fmt(r.reads.rps)} (${fmt(r.reads.rps / r.bare.rps, 2)}×; ours: ${
        fmt(r.ours.rps / r.reads.rps, 2)
      }× of it)`
      : "–";
    return `| ${r.workload} | ${fmt(r.ours.rps)} | ${fmt(r.bare.rps)} | **${
      fmt(ratio, 2)
    }×** (≥ ${r.target}) ${mark(ratio >= r.target)} | ${p99} | ${
      fmt(r.bare.p99ms, 2)
    } | ${fmt(r.ours.cpuUs, 1)} | ${fmt(r.bare.cpuUs, 1)} | ${reads} | ${
      r.nginx ? fmt(r.nginx.rps) : "–"
    } |`;
  });
  return [
    "| workload | scriptserver req/s | bare Deno.serve req/s | ratio | p99 ms | bare p99 ms | CPU µs/req | bare CPU µs/req | bare that reads Host and URL, req/s | nginx req/s |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** A table of figures under a heading. */
export function rowsTable(heading: string, rows: Row[]): string {
  return [
    `| ${heading} | scriptserver | reference | target |`,
    "|---|---|---|---|",
    ...rows.map((row) =>
      `| ${row.what} | ${row.ours} | ${row.reference} | ${row.target} |`
    ),
  ].join("\n");
}

/** The ratios as bars against their targets, as SVG. */
export function chart(results: Result[]): string {
  const width = 720;
  const row = 46;
  const left = 190;
  const scale = (width - left - 60) / 1.2;
  const height = results.length * row + 70;
  const bars = results.map((r, i) => {
    const ratio = r.ours.rps / r.bare.rps;
    const y = 40 + i * row;
    const color = ratio >= r.target ? "#30a46c" : "#e5484d";
    const end = left + Math.min(ratio, 1.2) * scale;
    const target = (left + r.target * scale).toFixed(1);
    return `<text x="${left - 10}" y="${
      y + 19
    }" text-anchor="end">${r.workload}</text>
<rect x="${left}" y="${y + 4}" width="${
      (end - left).toFixed(1)
    }" height="22" fill="${color}" rx="3"/>
<line x1="${target}" x2="${target}" y1="${y}" y2="${
      y + 30
    }" stroke="#111" stroke-dasharray="3 2"/>
<text x="${(end + 6).toFixed(1)}" y="${y + 20}">${ratio.toFixed(2)}×</text>`;
  }).join("\n");
  const one = left + scale;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui,sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="24" font-size="14" font-weight="600">scriptserver's requests/s as a share of a bare Deno.serve sending the same response</text>
<line x1="${one}" x2="${one}" y1="34" y2="${height - 24}" stroke="#888"/>
<text x="${left}" y="${
    height - 8
  }" fill="#555">1.0× (grey line): Deno's own limit for that response. Dashes: targets.</text>
${bars}
</svg>
`;
}
