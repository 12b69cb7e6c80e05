/**
 * Hosting without a proxy: the site's own error pages, `--no-listing`
 * and `--header`, against real server processes.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import {
  rawGet,
  spawnRaw,
  spawnServer,
  tempTree,
  waitExit,
} from "./_helpers.ts";

Deno.test("_404.html answers every 404 with status 404 and stays private", async () => {
  await using dir = await tempTree({
    "_404.html": "<h1>Lost? Our own page.</h1>",
    "page.ts": `import { HttpError } from "${
      new URL("../lib/mod.ts", import.meta.url).href
    }";
       export default () => { throw new HttpError(404, "No such item"); };`,
    "sub/file.txt": "x",
  });
  const server = await spawnServer({ root: dir.path });
  try {
    for (
      const path of ["/missing", "/sub/missing.txt", "/page.ts", "/_404.html"]
    ) {
      const response = await fetch(`${server.url}${path.slice(1)}`);
      assertEquals(response.status, 404, path);
      assertEquals(await response.text(), "<h1>Lost? Our own page.</h1>", path);
      assertEquals(response.headers.get("etag"), null, path);
      assertEquals(response.headers.get("cache-control"), "no-store", path);
    }
    // A HEAD gets the same status and no body.
    const head = await fetch(`${server.url}missing`, { method: "HEAD" });
    assertEquals(head.status, 404);
    assertEquals(await head.text(), "");
  } finally {
    await server.stop();
  }
});

Deno.test("_404.tpl and _404.ts get the requested path, escaped, as a value", async () => {
  await using dir = await tempTree({
    "a/_404.tpl": "not this one",
    "_404.tpl": "<p>No page at $path ($status)</p>",
  });
  const server = await spawnServer({ root: dir.path });
  try {
    const response = await rawGet(server.port, "/%3Cb%3Ex%3C/b%3E");
    assertEquals(response.status, 404);
    assertEquals(
      response.body,
      "<p>No page at /&lt;b&gt;x&lt;/b&gt; (404)</p>",
    );
    assertEquals(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
  } finally {
    await server.stop();
  }
  await Deno.remove(`${dir.path}/_404.tpl`);
  await Deno.writeTextFile(
    `${dir.path}/_404.ts`,
    `export default (ctx) => "<p>Page " + ctx.escape(ctx.query.get("path")) + " not found</p>";`,
  );
  const paged = await spawnServer({ root: dir.path });
  try {
    const response = await rawGet(paged.port, "/a/%3Cscript%3E?x=1");
    assertEquals(response.status, 404);
    assertEquals(response.body, "<p>Page /a/&lt;script&gt; not found</p>");
  } finally {
    await paged.stop();
  }
});

Deno.test("_500.tpl answers unexpected errors in --prod; dev keeps the detailed page", async () => {
  await using dir = await tempTree({
    "_500.tpl": "<p>Sorry: $message</p>",
    "boom.ts": `export default () => { throw new Error("secret detail"); };`,
  });
  const prod = await spawnServer({
    root: dir.path,
    args: ["--prod", "--quiet"],
  });
  try {
    const response = await rawGet(prod.port, "/boom.ts");
    assertEquals(response.status, 500);
    assert(
      response.body.startsWith("<p>Sorry: The server failed"),
      response.body,
    );
    assert(!response.body.includes("secret detail"));
  } finally {
    await prod.stop();
  }
  const dev = await spawnServer({ root: dir.path, args: ["--quiet"] });
  try {
    const response = await rawGet(dev.port, "/boom.ts");
    assertEquals(response.status, 500);
    assertStringIncludes(response.body, "secret detail");
    assert(!response.body.includes("<p>Sorry"));
  } finally {
    await dev.stop();
  }
});

Deno.test("a failing custom error page falls back to the built-in one, which links home", async () => {
  await using dir = await tempTree({
    "_404.ts":
      `export default () => { throw new Error("the 404 page broke"); };`,
  });
  const server = await spawnServer({ root: dir.path, args: ["--quiet"] });
  try {
    const response = await rawGet(server.port, "/missing");
    assertEquals(response.status, 404);
    assertStringIncludes(response.body, "There is nothing at this address.");
    assertStringIncludes(response.body, `<a href="/">`);
    await server.stderr.waitFor((line) =>
      line.includes(`error page "/_404.ts" failed`)
    );
    // The server keeps answering.
    assertEquals((await rawGet(server.port, "/missing")).status, 404);
  } finally {
    await server.stop();
  }
});

Deno.test("--no-listing answers 404 for a folder without an index; an index still serves", async () => {
  await using dir = await tempTree({
    "files/a.txt": "a",
    "site/index.html": "home",
  });
  const server = await spawnServer({ root: dir.path, args: ["--no-listing"] });
  try {
    assertEquals((await rawGet(server.port, "/files/")).status, 404);
    assertEquals((await rawGet(server.port, "/")).status, 404);
    assertEquals((await rawGet(server.port, "/files/a.txt")).body, "a");
    assertEquals((await rawGet(server.port, "/site/")).body, "home");
  } finally {
    await server.stop();
  }
});

Deno.test("--header adds headers to every response, unless it sets them itself", async () => {
  await using dir = await tempTree({
    "a.txt": "a",
    "own.ts":
      `export default (ctx) => { ctx.responseHeaders.set("x-frame-options", "SAMEORIGIN"); return "own"; };`,
    "go.ts": `export default (ctx) => ctx.redirect("/a.txt");`,
  });
  const server = await spawnServer({
    root: dir.path,
    args: [
      "--header",
      "Strict-Transport-Security: max-age=31536000",
      "--header",
      "X-Frame-Options: DENY",
    ],
  });
  try {
    for (const path of ["/a.txt", "/", "/missing", "/go.ts"]) {
      const response = await rawGet(server.port, path);
      assertEquals(
        response.headers.get("strict-transport-security"),
        "max-age=31536000",
        path,
      );
      assertEquals(response.headers.get("x-frame-options"), "DENY", path);
    }
    const own = await rawGet(server.port, "/own.ts");
    assertEquals(own.headers.get("x-frame-options"), "SAMEORIGIN");
  } finally {
    await server.stop();
  }
});

Deno.test("a malformed --header is refused at startup with one line", async () => {
  for (const value of ["NoColon", "Bad Name: x", "Content-Length: 5"]) {
    const child = spawnRaw(["--allow-net=127.0.0.1", "--allow-read"], [
      "--port",
      "0",
      "--header",
      value,
    ]);
    const status = await waitExit(child.process);
    await Promise.all([child.stdout.done, child.stderr.done]);
    assertEquals(status.code, 2, value);
    assertStringIncludes(child.stderr.text, `Cannot use --header "${value}"`);
  }
});
