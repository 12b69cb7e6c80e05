import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { createRegistry, extensionOf } from "../lib/registry.ts";
import type { FileHandler } from "../lib/types.ts";

const named = (name: string): FileHandler => () =>
  Promise.resolve(new Response(name));

async function nameOf(handler: FileHandler): Promise<string> {
  const target = {
    file: { path: "/x", isDirectory: false, size: 0, mtime: null },
    url: new URL("http://x/"),
    query: new URLSearchParams(),
    scriptName: "/x",
    pathInfo: "",
    connection: undefined,
  };
  return await (await handler(new Request("http://x/"), target)).text();
}

Deno.test("createRegistry() picks handlers by extension, case-insensitively", async () => {
  const registry = createRegistry({
    "*": named("static"),
    ".ts": named("page"),
  });
  assertEquals(await nameOf(registry.handlerFor("/site/a.ts")), "page");
  assertEquals(await nameOf(registry.handlerFor("/site/A.TS")), "page");
  assertEquals(await nameOf(registry.handlerFor("/site/a.Ts")), "page");
  assertEquals(await nameOf(registry.handlerFor("/site/a.txt")), "static");
  assertEquals(await nameOf(registry.handlerFor("/site/noext")), "static");
  assertEquals(await nameOf(registry.handlerFor("/site/.ts")), "static");
});

Deno.test("createRegistry() lets later maps add and replace handlers", async () => {
  const registry = createRegistry(
    { "*": named("static"), ".ts": named("page") },
    { ".MD": named("markdown"), ".ts": named("other pages") },
  );
  assertEquals(await nameOf(registry.handlerFor("/a.md")), "markdown");
  assertEquals(await nameOf(registry.handlerFor("/a.ts")), "other pages");
  assert(registry.isScript("README.md"));
  assert(!registry.isScript("notes.txt"));
});

Deno.test("createRegistry() refuses keys that are not extensions", () => {
  for (const key of ["md", ".a/b", "..md", "", "."]) {
    assertThrows(
      () => createRegistry({ "*": named("s"), [key]: named("x") }),
      TypeError,
      "Cannot register",
    );
  }
  assertThrows(() => createRegistry({ ".ts": named("p") }), TypeError, '"*"');
});

Deno.test("extensionOf() agrees with std's extname, lower-cased", () => {
  for (
    const [path, extension] of <[string, string][]> [
      ["a.ts", ".ts"],
      ["PAGE.TS", ".ts"],
      ["/srv/site/x.tar.gz", ".gz"],
      [".bashrc", ""],
      ["dir.d/file", ""],
      ["a.", "."],
      ["..", ""],
      ["x/..", ""],
      ["noext", ""],
      ["C:\\site\\page.Mjs", ".mjs"],
    ]
  ) {
    assertEquals(extensionOf(path), extension, path);
  }
});
