import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "./_assert.ts";
import {
  createHandler,
  DEFAULT_HANDLER,
  type FileHandler,
  type PageRunner,
} from "../lib/mod.ts";
import type { SiteFiles } from "../lib/files/files.ts";
import { eventually, tempTree } from "./_helpers.ts";

async function site() {
  return await tempTree({
    "hello.txt": "Hello world !",
    "docs/a.txt": "a",
    "docs/.hidden": "h",
    "html/index.html": "<h1>index.html</h1>",
    "html/index.htm": "<h1>index.htm</h1>",
    "htm/index.htm": "<h1>index.htm</h1>",
    "javascript:alert(1)/x.txt": "x",
  });
}

Deno.test("createHandler() serves a file and a listing", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const file = await handle(new Request("http://x/hello.txt"));
  assertEquals(await file.text(), "Hello world !");
  const listing = await handle(new Request("http://x/docs/"));
  assertEquals(listing.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await listing.text();
  assertStringIncludes(html, 'href="./a.txt"');
  assert(!html.includes(".hidden"));
});

Deno.test("createHandler() prefers index.html, then index.htm, to a listing", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  assertEquals(
    await (await handle(new Request("http://x/html/"))).text(),
    "<h1>index.html</h1>",
  );
  assertEquals(
    await (await handle(new Request("http://x/htm/"))).text(),
    "<h1>index.htm</h1>",
  );
});

Deno.test("createHandler() redirects a directory to its trailing slash with a relative Location", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const response = await handle(new Request("http://x/docs?sort=name"));
  assertEquals(response.status, 301);
  assertEquals(response.headers.get("location"), "./docs/?sort=name");
  const odd = await handle(new Request("http://x//javascript:alert(1)"));
  assertEquals(odd.status, 301);
  assertEquals(odd.headers.get("location"), "./javascript%3Aalert(1)/");
  assert(!odd.headers.get("location")!.startsWith("//"));
});

Deno.test("createHandler() answers 404 for a file asked as a directory", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const response = await handle(new Request("http://x/hello.txt/"));
  assertEquals(response.status, 404);
  await response.body?.cancel();
});

Deno.test("createHandler() answers 405 with Allow for POST to a listing", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const response = await handle(
    new Request("http://x/docs/", { method: "POST", body: "x=1" }),
  );
  assertEquals(response.status, 405);
  assertEquals(response.headers.get("allow"), "GET, HEAD");
  await response.body?.cancel();
});

Deno.test("createHandler() answers HEAD as GET, leaving the body to Deno.serve", async () => {
  // Deno.serve sends a HEAD response's headers only, with the length of the
  // body: a null body would declare Content-Length: 0 (tests/http_test.ts).
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  for (const [path, status] of [["/docs/", 200], ["/nope", 404]] as const) {
    const get = await handle(new Request(`http://x${path}`));
    const head = await handle(
      new Request(`http://x${path}`, { method: "HEAD" }),
    );
    assertEquals(head.status, status, path);
    assertEquals([...head.headers], [...get.headers], path);
    assertEquals(await head.text(), await get.text(), path);
  }
});

Deno.test("createHandler() error pages never reflect the path unescaped", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const response = await handle(
    new Request("http://x/%3Cscript%3Ealert(1)%3C/script%3E"),
  );
  assertEquals(response.status, 404);
  assertEquals(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assert(!(await response.text()).includes("<script>"));
});

Deno.test("createHandler() cancels request bodies it does not read, once the response is out", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  let cancelled = false;
  const body = new ReadableStream({
    cancel() {
      cancelled = true;
    },
  });
  const response = await handle(
    new Request("http://x/hello.txt", { method: "PUT", body }),
  );
  assertEquals(response.status, 405);
  await response.body?.cancel();
  // A task after the response: cancelled earlier, Deno would drain it.
  assert(await eventually(() => Promise.resolve(cancelled), (done) => done));
});

const failingFiles: SiteFiles = {
  root: "/nowhere",
  stat() {
    return Promise.reject(new Error("disk on fire at /secret/path"));
  },
  list: () => Promise.resolve([]),
  read: () => Promise.resolve(new ReadableStream()),
  readText: () => Promise.resolve(""),
  body: () => Promise.resolve(""),
};

Deno.test("createHandler() answers unexpected errors with 500 and details in development", async () => {
  const logged: [unknown, string][] = [];
  using handle = createHandler({
    root: "/nowhere",
    files: failingFiles,
    onError: (error, id) => logged.push([error, id]),
  });
  const response = await handle(new Request("http://x/a"));
  assertEquals(response.status, 500);
  const html = await response.text();
  assertStringIncludes(html, "disk on fire");
  assertEquals(logged.length, 1);
  assertStringIncludes(html, logged[0]![1]);
});

Deno.test("createHandler() answers unexpected errors with a plain 500 and an id in production", async () => {
  const logged: string[] = [];
  using handle = createHandler({
    root: "/nowhere",
    files: failingFiles,
    prod: true,
    onError: (_error, id) => logged.push(id),
  });
  const response = await handle(new Request("http://x/a"));
  assertEquals(response.status, 500);
  const html = await response.text();
  assert(!html.includes("disk on fire"));
  assert(!html.includes("/secret/path"));
  assertMatch(logged[0]!, /^[0-9a-f]{8}$/);
  assertStringIncludes(html, `error id ${logged[0]}`);
});

Deno.test("createHandler() shows development detail only to this machine", async () => {
  using handle = createHandler({
    root: "/nowhere",
    files: failingFiles,
    onError: () => {},
  });
  const from = (hostname: string) => ({
    remoteAddr: { transport: "tcp" as const, hostname, port: 40000 },
  });
  for (const hostname of ["203.0.113.5", "192.168.1.20", "2001:db8::1"]) {
    const response = await handle(new Request("http://x/a"), from(hostname));
    const html = await response.text();
    assertEquals(response.status, 500);
    assert(!html.includes("disk on fire"), hostname);
  }
  for (const hostname of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
    const response = await handle(new Request("http://x/a"), from(hostname));
    assertStringIncludes(await response.text(), "disk on fire", hostname);
  }
  const proxied = await handle(
    new Request("http://x/a", {
      headers: { "x-forwarded-for": "203.0.113.5" },
    }),
    from("127.0.0.1"),
  );
  assert(!(await proxied.text()).includes("disk on fire"));
});

/** Serves `handler` on 127.0.0.1 (ephemeral port) for the length of `run`. */
async function serving(
  handler: (request: Request) => Promise<Response>,
  run: (base: string) => Promise<void>,
) {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
  }, handler);
  try {
    await run(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    controller.abort();
    await server.finished;
  }
}

Deno.test("createHandler({ handlers }) adds a handler for a custom extension", async () => {
  await using dir = await tempTree({
    "notes.md": "# Title\nbody",
    "docs/index.md": "# ignored: not an index name",
    "UPPER.MD": "# Shout",
  });
  const markdown: FileHandler = async (_request, target) => {
    const text = await Deno.readTextFile(target.file.path);
    const html = text.replace(/^# (.*)$/m, "<h1>$1</h1>");
    return new Response(`${html}|${target.scriptName}|${target.pathInfo}`, {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  };
  using handle = createHandler({
    root: dir.path,
    handlers: { ".md": markdown },
  });
  await serving(handle, async (base) => {
    const page = await fetch(`${base}/notes.md`);
    assertEquals(await page.text(), "<h1>Title</h1>\nbody|/notes.md|");
    const upper = await fetch(`${base}/UPPER.MD`);
    assertEquals(await upper.text(), "<h1>Shout</h1>|/UPPER.MD|");
    const info = await fetch(`${base}/notes.md/more`);
    assertEquals(await info.text(), "<h1>Title</h1>\nbody|/notes.md|/more");
  });
});

Deno.test("createHandler({ handlers }) can replace the static handler", async () => {
  await using dir = await tempTree({ "a.txt": "a" });
  using handle = createHandler({
    root: dir.path,
    handlers: {
      [DEFAULT_HANDLER]: (_request, target) =>
        Promise.resolve(new Response(`custom ${target.scriptName}`)),
    },
  });
  assertEquals(
    await (await handle(new Request("http://x/a.txt"))).text(),
    "custom /a.txt",
  );
});

Deno.test("createHandler({ pageRunner }) replaces how pages run", async () => {
  await using dir = await tempTree({ "page.ts": "this is never imported" });
  const seen: string[] = [];
  const pageRunner: PageRunner = {
    run(request, target) {
      seen.push(`${request.method} ${target.scriptName}`);
      return Promise.resolve(new Response("from another runner"));
    },
  };
  using handle = createHandler({ root: dir.path, pageRunner });
  const response = await handle(new Request("http://x/page.ts"));
  assertEquals(await response.text(), "from another runner");
  assertEquals(seen, ["GET /page.ts"]);
});

Deno.test("createHandler() error pages are HTML with nosniff, whatever the error", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const notFound = await handle(new Request("http://x/nope"));
  const notAllowed = await handle(
    new Request("http://x/hello.txt", { method: "POST", body: "x" }),
  );
  using failing = createHandler({
    root: "/nowhere",
    files: failingFiles,
    prod: true,
    onError: () => {},
  });
  const failed = await failing(new Request("http://x/a"));
  for (const response of [notFound, notAllowed, failed]) {
    assertEquals(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assertEquals(response.headers.get("x-content-type-options"), "nosniff");
    await response.body?.cancel();
  }
  assertEquals(notAllowed.headers.get("allow"), "GET, HEAD");
});

Deno.test("createHandler({ headers }) adds them to immutable responses too (Response.redirect)", async () => {
  await using dir = await tempTree({ "away.go": "", "a.txt": "a" });
  using handle = createHandler({
    root: dir.path,
    handlers: { ".go": () => Response.redirect("http://x/a.txt", 302) },
    headers: { "x-frame-options": "DENY" },
  });
  const redirect = await handle(new Request("http://x/away.go"));
  assertEquals(redirect.status, 302);
  assertEquals(redirect.headers.get("location"), "http://x/a.txt");
  assertEquals(redirect.headers.get("x-frame-options"), "DENY");
  const file = await handle(new Request("http://x/a.txt"));
  assertEquals(file.headers.get("x-frame-options"), "DENY");
  assertEquals(await file.text(), "a");
});
