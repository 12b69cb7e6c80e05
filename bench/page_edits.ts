/**
 * How much memory each edit of a page costs the server. Deno cannot unload
 * modules, so every edited version of a page stays in memory.
 *
 * Runs the real server (under its minimal permissions), edits one page N
 * times and requests it after each edit, and compares the RSS growth per
 * edit with that of a bare Deno process importing the same N versions.
 *
 * Usage: deno run -A bench/page_edits.ts [N]
 */
import { fromFileUrl } from "@std/path";
import { pageSource } from "./_page_source.ts";
import { freePort, rssOf, serverCommand, startProcess } from "./_common.ts";

const EDITS = import.meta.main ? Number(Deno.args[0] ?? 300) : 300;
const REFERENCE: string = fromFileUrl(
  new URL("./_import_versions.ts", import.meta.url),
);

/** RSS growth per page edit of the real server, in bytes. */
export async function measureServer(root: string): Promise<number> {
  const page = `${root}/page.ts`;
  await Deno.writeTextFile(page, pageSource(-1));
  const port = freePort();
  const server = await startProcess(
    "scriptserver",
    serverCommand(root, port),
    port,
    { path: "/page.ts" },
  );
  const url = `${server.url}page.ts`;
  try {
    for (let i = 0; i < 20; i++) {
      await Deno.writeTextFile(page, pageSource(-i - 2));
      await (await fetch(url)).text();
    }
    const before = rssOf(server.pid);
    for (let version = 0; version < EDITS; version++) {
      await Deno.writeTextFile(page, pageSource(version));
      // The file watcher reports an edit within milliseconds: poll, for a
      // second at most, as a person would reload.
      const deadline = Date.now() + 1000;
      let body = "";
      while (!body.includes(`version ${version}<`) && Date.now() < deadline) {
        body = await (await fetch(url)).text();
      }
      if (!body.includes(`version ${version}<`)) {
        throw new Error(`Edit ${version} was not served: ${body.slice(0, 80)}`);
      }
    }
    return (rssOf(server.pid) - before) / EDITS;
  } finally {
    await server.stop();
  }
}

/** RSS growth per imported version in a bare Deno process, in bytes. */
export async function measureReference(root: string): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${root}`,
      `--allow-write=${root}`,
      REFERENCE,
      root,
      String(EDITS),
    ],
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("The reference run failed");
  return JSON.parse(new TextDecoder().decode(output.stdout)).perVersion;
}

if (import.meta.main) {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "edits_" }),
  );
  try {
    const server = await measureServer(root);
    const reference = await measureReference(root);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    console.log(
      `| RSS growth per page edit (${EDITS} edits) | scriptserver | bare import() | ratio |`,
    );
    console.log("|---|---|---|---|");
    console.log(
      `| ~2 KB page | ${kib(server)} | ${kib(reference)} | ${
        (server / reference).toFixed(2)
      } |`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
