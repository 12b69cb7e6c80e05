import { assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { createHandler } from "../lib/mod.ts";
import { relativeName } from "../lib/files/files.ts";
import { SETTLE_MS } from "../lib/files/source_cache.ts";
import { eventually, tempTree } from "./_helpers.ts";

async function body(handle: (r: Request) => Promise<Response>, path: string) {
  return await (await handle(new Request(`http://x${path}`))).text();
}

Deno.test("the module runner sees an edit that keeps size and mtime", async () => {
  await using dir = await tempTree({ "p.ts": `export default () => "AAA";` });
  using handle = createHandler({ root: dir.path });
  const file = join(dir.path, "p.ts");
  const { mtime } = await Deno.stat(file);
  assertEquals(await body(handle, "/p.ts"), "AAA");
  // A second save within the file system's mtime resolution.
  await Deno.writeTextFile(file, `export default () => "BBB";`);
  await Deno.utime(file, mtime!, mtime!);
  assertEquals(
    await eventually(() => body(handle, "/p.ts"), (b) => b === "BBB"),
    "BBB",
  );
});

Deno.test("the module runner trusts (mtime, size) once a file has settled", async () => {
  await using dir = await tempTree({ "p.ts": `export default () => "AAA";` });
  // In-process: page isolates start afresh on any change the watcher sees.
  using handle = createHandler({ root: dir.path, pages: "in-process" });
  const file = join(dir.path, "p.ts");
  const old = new Date(Date.now() - SETTLE_MS - 10_000);
  await Deno.utime(file, old, old);
  assertEquals(await body(handle, "/p.ts"), "AAA");
  // Same size and mtime long after the fact: only a tool that forges
  // mtimes can do this, and the settled module is kept.
  await Deno.writeTextFile(file, `export default () => "BBB";`);
  await Deno.utime(file, old, old);
  assertEquals(await body(handle, "/p.ts"), "AAA");
  // Any real edit moves the mtime.
  await Deno.utime(file, new Date(), new Date());
  assertEquals(
    await eventually(() => body(handle, "/p.ts"), (b) => b === "BBB"),
    "BBB",
  );
});

Deno.test("the module runner re-imports a page whose load failed only after an edit", async () => {
  await using dir = await tempTree({
    "p.ts": `export default () => { return "a" +; };`,
  });
  using handle = createHandler({ root: dir.path, onError: () => {} });
  const first = await handle(new Request("http://x/p.ts"));
  assertEquals(first.status, 500);
  assertStringIncludes(await first.text(), "Expression expected");
  await Deno.writeTextFile(
    join(dir.path, "p.ts"),
    `export default () => "repaired";`,
  );
  assertEquals(
    await eventually(() => body(handle, "/p.ts"), (b) => b === "repaired"),
    "repaired",
  );
});

Deno.test("relativeName() names a file relative to the root with / separators", () => {
  assertEquals(
    relativeName("/srv/site", "/srv/site/shop/cart.ts"),
    "shop/cart.ts",
  );
  assertEquals(relativeName("/", "/cart.ts"), "cart.ts");
});
