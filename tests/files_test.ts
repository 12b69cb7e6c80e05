import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { join } from "@std/path";
import { createDiskFiles, isInside } from "../lib/files/files.ts";
import { tempTree } from "./_helpers.ts";

Deno.test("isInside() matches the root and paths below it only", () => {
  assert(isInside("/srv/site", "/srv/site"));
  assert(isInside("/srv/site", "/srv/site/a/b"));
  assert(!isInside("/srv/site", "/srv/site2/a"));
  assert(!isInside("/srv/site", "/srv"));
  assert(!isInside("/srv/site", "/etc/passwd"));
  assert(isInside("/", "/etc"));
});

async function fixture() {
  const dir = await tempTree({
    "outside/secret.txt": "secret",
    "outside/dir/file.txt": "outside dir",
    "site/hello.txt": "Hello world !",
    "site/sub/inner.txt": "inner",
    "site/.env": "TOKEN=1",
    "site/_private/x.txt": "private",
    "site/link-in.txt": { symlink: "hello.txt" },
    "site/link-out.txt": { symlink: "../outside/secret.txt" },
    "site/link-abs-out.txt": { symlink: "/etc/hostname" },
    "site/link-dir-out": { symlink: "../outside/dir" },
    "site/link-private.txt": { symlink: ".env" },
    "site/link-private-dir": { symlink: "_private" },
    "site/link-loop": { symlink: "link-loop" },
    "site/link-broken": { symlink: "missing" },
  });
  return { dir, files: createDiskFiles(join(dir.path, "site")) };
}

Deno.test("SiteFiles.stat() finds files and directories by segments", async () => {
  const { dir, files } = await fixture();
  await using _ = dir;
  const hello = await files.stat(["hello.txt"]);
  assertEquals(hello?.path, join(dir.path, "site", "hello.txt"));
  assertEquals(hello?.isDirectory, false);
  assertEquals(hello?.size, 13);
  assert(hello?.mtime instanceof Date);
  assertEquals((await files.stat([]))?.isDirectory, true);
  assertEquals((await files.stat(["sub"]))?.isDirectory, true);
  assertEquals(await files.stat(["missing.txt"]), undefined);
  assertEquals(await files.stat(["hello.txt", "x"]), undefined);
  assertEquals(await files.stat(["x".repeat(300)]), undefined);
});

Deno.test("SiteFiles.stat() follows symlinks only to visible places inside the root", async () => {
  const { dir, files } = await fixture();
  await using _ = dir;
  assertEquals(
    (await files.stat(["link-in.txt"]))?.path,
    join(dir.path, "site", "hello.txt"),
  );
  for (
    const name of [
      "link-out.txt",
      "link-abs-out.txt",
      "link-dir-out",
      "link-private.txt",
      "link-private-dir",
      "link-loop",
      "link-broken",
    ]
  ) {
    assertEquals(await files.stat([name]), undefined, name);
  }
  assertEquals(await files.stat(["link-dir-out", "file.txt"]), undefined);
  assertEquals(await files.stat(["link-private-dir", "x.txt"]), undefined);
});

Deno.test("SiteFiles.stat() keeps a symlinked root working", async () => {
  const { dir } = await fixture();
  await using _ = dir;
  await Deno.symlink(join(dir.path, "site"), join(dir.path, "root-link"));
  const files = createDiskFiles(join(dir.path, "root-link"));
  assertEquals(files.root, join(dir.path, "site"));
  assertEquals((await files.stat(["hello.txt"]))?.size, 13);
  assertEquals(await files.stat(["link-out.txt"]), undefined);
});

Deno.test("SiteFiles.list() leaves out private names and links out of the root", async () => {
  const { dir, files } = await fixture();
  await using _ = dir;
  const root = await files.stat([]);
  assert(root);
  const names = (await files.list(root)).map((e) => e.name).sort();
  assertEquals(names, ["hello.txt", "link-in.txt", "sub"]);
});

Deno.test("SiteFiles.read() streams the whole file or a byte range", async () => {
  const { dir, files } = await fixture();
  await using _ = dir;
  const hello = await files.stat(["hello.txt"]);
  assert(hello);
  assertEquals(
    await new Response(await files.read(hello)).text(),
    "Hello world !",
  );
  assertEquals(
    await new Response(await files.read(hello, { start: 6, end: 10 })).text(),
    "world",
  );
  await Deno.remove(hello.path);
  await assertRejects(() => files.read(hello), Deno.errors.NotFound);
});
