import { assert, assertEquals } from "./_assert.ts";
import type { DirEntry, FileInfo, SiteFiles } from "../lib/files/files.ts";
import { createRegistry } from "../lib/registry.ts";
import { createRouter, type Route } from "../lib/routes.ts";
import type { FileHandler } from "../lib/types.ts";

/**
 * Files in memory: names ending in "/" are directories. Counts look-ups,
 * and has a generation to bump.
 */
function memoryFiles(names: string[]) {
  const root = "/site";
  const infos = new Map<string, FileInfo>([[
    "",
    { path: root, isDirectory: true, size: 0, mtime: null },
  ]]);
  for (const name of names) {
    const directory = name.endsWith("/");
    const key = directory ? name.slice(0, -1) : name;
    infos.set(key, {
      path: `${root}/${key}`,
      isDirectory: directory,
      size: 1,
      mtime: null,
    });
  }
  let generation = 0;
  let lookUps = 0;
  const files: SiteFiles & { bump(): void; readonly lookUps: number } = {
    root,
    stat(segments) {
      lookUps++;
      return Promise.resolve(infos.get(segments.join("/")));
    },
    list(directory) {
      const prefix = directory.path === root
        ? ""
        : `${directory.path.slice(root.length + 1)}/`;
      const entries: DirEntry[] = [...infos.entries()]
        .filter(([key]) =>
          key !== "" && key.startsWith(prefix) &&
          !key.slice(prefix.length).includes("/")
        )
        .map(([key, info]) => ({ ...info, name: key.slice(prefix.length) }));
      return Promise.resolve(entries);
    },
    read: () => Promise.resolve(new ReadableStream()),
    readText: () => Promise.resolve(""),
    body: () => Promise.resolve(""),
    generation: () => generation,
    bump() {
      generation++;
    },
    get lookUps() {
      return lookUps;
    },
  };
  return files;
}

const page: FileHandler = () => new Response("page");
const file: FileHandler = () => new Response("file");
const handlers = createRegistry({ "*": file }, { ".ts": page });

function describe(route: Route): string {
  switch (route.kind) {
    case "missing":
      return "missing";
    case "slash":
      return `slash ${route.name}`;
    case "listing":
      return `listing ${route.displayPath}`;
    case "file":
      return `file ${route.file.path} ${route.scriptName} [${route.pathInfo}] ${
        route.handler === page ? "page" : "file"
      }`;
  }
}

Deno.test("createRouter() finds files, indexes, listings, PATH_INFO and nothing", async () => {
  const files = memoryFiles([
    "about.html",
    "app.ts",
    "docs/",
    "docs/guide.txt",
    "shop/",
    "shop/index.ts",
    "shop/index.html",
  ]);
  const router = createRouter({ files, handlers });
  const find = async (path: string) => describe(await router.find(path));
  assertEquals(
    await find("/about.html"),
    "file /site/about.html /about.html [] file",
  );
  assertEquals(await find("/docs"), "slash docs");
  assertEquals(await find("/docs/"), "listing /docs/");
  assertEquals(await find("/"), "listing /");
  // index.html comes before index.ts.
  assertEquals(
    await find("/shop/"),
    "file /site/shop/index.html /shop/index.html [] file",
  );
  assertEquals(
    await find("/app.ts/extra/path/"),
    "file /site/app.ts /app.ts [/extra/path/] page",
  );
  assertEquals(await find("/app.ts/"), "file /site/app.ts /app.ts [/] page");
  assertEquals(await find("/about.html/"), "missing");
  assertEquals(await find("/nothing.txt"), "missing");
  // Dot segments are resolved, doubled slashes dropped, never a host.
  assertEquals(
    await find("/docs/../about.html"),
    "file /site/about.html /about.html [] file",
  );
  assertEquals(
    await find("//docs//guide.txt"),
    "file /site/docs/guide.txt /docs/guide.txt [] file",
  );
});

Deno.test("createRouter() remembers routes until the files change", async () => {
  const files = memoryFiles(["a.txt"]);
  const router = createRouter({ files, handlers });
  await router.find("/a.txt");
  const after = files.lookUps;
  const again = router.find("/a.txt");
  assert(!(again instanceof Promise), "a remembered route is answered at once");
  assertEquals(files.lookUps, after);
  files.bump();
  const fresh = router.find("/a.txt");
  assert(fresh instanceof Promise, "a change forgets the routes");
  await fresh;
  assert(files.lookUps > after);
});

Deno.test("createRouter() renders a listing once per change", async () => {
  const files = memoryFiles(["dir/", "dir/x.txt", "dir/y.txt"]);
  const router = createRouter({ files, handlers });
  const route = await router.find("/dir/");
  assert(route.kind === "listing");
  const html = await router.listing(route);
  assert(html.includes("x.txt") && html.includes("y.txt"));
  assertEquals(router.listing(route), html);
});
