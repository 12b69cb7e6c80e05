/**
 * The reference for bench/page_edits.ts: a bare Deno process that imports
 * N versions of the same module, the way a server must to pick up edits.
 * Prints its RSS growth per version in bytes.
 *
 * Usage: deno run --allow-read=DIR --allow-write=DIR _import_versions.ts DIR N
 */
import { pageSource } from "./_page_source.ts";

const [dir = "", count = "0"] = Deno.args;
const path = `${dir}/page.ts`;
const url = new URL(`file://${path}`);

async function load(version: number) {
  await Deno.writeTextFile(path, pageSource(version));
  const module = await import(`${url.href}?v=${version}`);
  return module.default() as string;
}

for (let i = 0; i < 20; i++) await load(-i - 1);
const before = Deno.memoryUsage().rss;
for (let i = 0; i < Number(count); i++) await load(i);
const after = Deno.memoryUsage().rss;
console.log(JSON.stringify({ perVersion: (after - before) / Number(count) }));
