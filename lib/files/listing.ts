/**
 * Directory listings: directories first, names escaped, hrefs encoded.
 *
 * @module
 */
import { escapeHtml, formatBytes } from "../_std.ts";
import type { DirEntry } from "./files.ts";
import { renderDocument } from "../html.ts";

// Made on first use: building a collator loads ICU data, about 10 ms that
// start-up need not pay.
let collator: Intl.Collator | undefined;

/** Orders entries directories first, then by name ("file2" before "file10"). */
export function sortEntries(entries: readonly DirEntry[]): DirEntry[] {
  collator ??= new Intl.Collator("en", { numeric: true });
  const { compare } = collator;
  return entries.toSorted((a, b) =>
    Number(b.isDirectory) - Number(a.isDirectory) ||
    compare(a.name, b.name)
  );
}

/** "2026-11-21 08:22" in UTC. */
function formatTime(date: Date): string {
  return date.toISOString().slice(0, 16).replace("T", " ");
}

function renderRow(entry: DirEntry): string {
  // encodeURIComponent keeps a name one path segment (no "/", "?" or "#")
  // and stops "javascript:" and other schemes; escapeHtml keeps it inside
  // the attribute and the text.
  const suffix = entry.isDirectory ? "/" : "";
  const href = escapeHtml(`./${encodeURIComponent(entry.name)}${suffix}`);
  const name = escapeHtml(entry.name) + suffix;
  const size = entry.isDirectory ? "—" : formatBytes(entry.size, {
    binary: true,
  });
  const time = entry.mtime
    ? `<time datetime="${entry.mtime.toISOString()}">${
      formatTime(entry.mtime)
    }</time>`
    : "";
  const kind = entry.isDirectory ? "dir" : "file";
  return `<tr class="${kind}"><td><a href="${href}">${name}</a></td>` +
    `<td class="size">${size}</td><td class="time">${time}</td></tr>`;
}

/**
 * Links to every ancestor of a directory: "/ › a › b /", each a relative
 * href (so it works behind any prefix), names escaped.
 */
export function renderBreadcrumbs(displayPath: string): string {
  const names = displayPath.split("/").filter(Boolean);
  const crumbs = [
    names.length === 0
      ? `<span aria-current="page">/</span>`
      : `<a href="${"../".repeat(names.length)}">/</a>`,
  ];
  names.forEach((name, i) => {
    const up = names.length - 1 - i;
    const label = escapeHtml(name);
    crumbs.push(
      up === 0
        ? `<span aria-current="page">${label}</span>`
        : `<a href="${"../".repeat(up)}">${label}</a>`,
    );
  });
  return `<nav class="crumbs" aria-label="Folders">${
    crumbs.join('<span class="sep"> › </span>')
  }${names.length === 0 ? "" : '<span class="sep"> /</span>'}</nav>`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#6e6e73;--line:#e5e5ea;--link:#0a58ca;--hover:#f5f5f7}
@media (prefers-color-scheme:dark){:root{--fg:#f5f5f7;--muted:#a1a1a6;--line:#38383a;--link:#6ea8fe;--hover:#2c2c2e}}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);max-width:56rem;margin:2.5rem auto;padding:0 1rem}
h1{font-size:1.35rem;font-weight:600;margin:0 0 .4rem;overflow-wrap:anywhere}
.crumbs{margin:0 0 1rem;color:var(--muted);overflow-wrap:anywhere}.crumbs a::before{display:none}
td:first-child{overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-weight:500;color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
th,td{padding:.45rem .6rem;border-bottom:1px solid var(--line)}
tr:hover td{background:var(--hover)}
td.size{white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums}
th.size{text-align:right}
td:last-child{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
tr.dir a{font-weight:600}
a::before{content:"";display:inline-block;width:1em;height:1em;margin-right:.5em;vertical-align:-.125em;background:center/contain no-repeat}
tr.dir a::before{background-image:url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath fill='%23e0a030' d='M1 3h5l2 2h7v8H1z'/%3E%3C/svg%3E")}
tr.file a::before{background-image:url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath fill='none' stroke='%238e8e93' d='M3.5 1.5h6l3 3v10h-9z'/%3E%3C/svg%3E")}
tr.up a::before{background-image:url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath fill='none' stroke='%238e8e93' stroke-width='1.5' d='M6 4 2 8l4 4M2 8h9a3 3 0 0 0 3-3V2'/%3E%3C/svg%3E")}
footer{margin-top:1.5rem;color:var(--muted);font-size:.8rem}
@media (max-width:30rem){body{margin:1rem auto;padding:0 .5rem}th,td{padding:.4rem .3rem}.time{display:none}}
`;

/**
 * Renders the HTML listing of a directory.
 *
 * @param displayPath The decoded URL path of the directory, ending in "/".
 * @param entries The directory's visible entries, in any order.
 */
export function renderListing(
  displayPath: string,
  entries: readonly DirEntry[],
): string {
  const title = `Index of ${escapeHtml(displayPath)}`;
  const parent = displayPath === "/"
    ? ""
    : `<tr class="up"><td><a href="../">Parent directory</a></td><td class="size"></td><td class="time"></td></tr>`;
  const rows = sortEntries(entries).map(renderRow).join("\n");
  const count = entries.length === 1 ? "1 entry" : `${entries.length} entries`;
  return renderDocument({
    title,
    style: STYLE,
    body: `<h1>${title}</h1>
${renderBreadcrumbs(displayPath)}
<table>
<thead><tr><th>Name</th><th class="size">Size</th><th class="time">Modified (UTC)</th></tr></thead>
<tbody>
${parent}
${rows}
</tbody>
</table>
<footer>${count} · scriptserver</footer>`,
  });
}
