/**
 * Correct by the book: HTTP conditional requests (RFC 9110 §13), Expect,
 * and what the README promises page authors, against a real server.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import {
  rawGet,
  rawHead,
  rawRequest,
  REPO,
  spawnServer,
  tempTree,
} from "./_helpers.ts";

/** A raw GET or HEAD with extra header lines. */
function rawWith(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = "GET",
) {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return rawRequest(
    port,
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`,
  );
}

Deno.test("static files evaluate If-Match, If-Unmodified-Since and If-Range as RFC 9110 says", async () => {
  await using dir = await tempTree({ "f.txt": "0123456789" });
  const mtime = new Date("2026-11-21T08:22:10Z");
  await Deno.utime(`${dir.path}/f.txt`, mtime, mtime);
  const server = await spawnServer({ root: dir.path });
  try {
    const plain = await rawGet(server.port, "/f.txt");
    const etag = plain.headers.get("etag")!;
    assertEquals(plain.headers.get("last-modified"), mtime.toUTCString());
    const status = async (headers: Record<string, string>, method = "GET") =>
      (await rawWith(server.port, "/f.txt", headers, method)).status;
    for (const method of ["GET", "HEAD"]) {
      // Measured at 59d8833: all three answered 200.
      assertEquals(await status({ "if-match": '"B"' }, method), 412, method);
      assertEquals(await status({ "if-match": `W/${etag}` }, method), 412);
      assertEquals(
        await status({
          "if-unmodified-since": new Date(mtime.getTime() - 2000)
            .toUTCString(),
        }, method),
        412,
      );
      assertEquals(await status({ "if-match": etag }, method), 200);
      assertEquals(await status({ "if-match": "*" }, method), 200);
      assertEquals(
        await status({ "if-unmodified-since": mtime.toUTCString() }, method),
        200,
      );
      assertEquals(await status({ "if-none-match": etag }, method), 304);
    }
    // A stale If-Range: the whole file, 200.
    const stale = await rawWith(server.port, "/f.txt", {
      range: "bytes=0-3",
      "if-range": '"old"',
    });
    assertEquals([stale.status, stale.body], [200, "0123456789"]);
    const weak = await rawWith(server.port, "/f.txt", {
      range: "bytes=0-3",
      "if-range": `W/${etag}`,
    });
    assertEquals(weak.status, 200);
    const current = await rawWith(server.port, "/f.txt", {
      range: "bytes=0-3",
      "if-range": etag,
    });
    assertEquals([current.status, current.body], [206, "0123"]);
    const byDate = await rawWith(server.port, "/f.txt", {
      range: "bytes=0-3",
      "if-range": mtime.toUTCString(),
    });
    assertEquals(byDate.status, 206);
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a file whose mtime is the Unix epoch gets no Last-Modified", async () => {
  await using dir = await tempTree({ "old.txt": "old" });
  await Deno.utime(`${dir.path}/old.txt`, 0, 0);
  const server = await spawnServer({ root: dir.path });
  try {
    for (
      const response of [
        await rawGet(server.port, "/old.txt"),
        await rawHead(server.port, "/old.txt"),
      ]
    ) {
      assertEquals(response.status, 200);
      assertEquals(response.headers.get("last-modified"), null);
      assert(response.headers.get("etag"));
    }
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("pages answer 304 and 412 for a version they compute, with ctx.conditional()", async () => {
  await using dir = await tempTree({
    "post.ts": `export default async (ctx) => {
      const early = await ctx.conditional({ etag: '"v7"' });
      if (early) return early;
      return "post v7";
    };`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    const plain = await rawGet(server.port, "/post.ts");
    assertEquals(plain.body, "post v7");
    assertEquals(plain.headers.get("etag"), '"v7"');
    const cached = await rawWith(server.port, "/post.ts", {
      "if-none-match": '"v7"',
    });
    assertEquals([cached.status, cached.body], [304, ""]);
    assertEquals(cached.headers.get("etag"), '"v7"');
    const stale = await rawWith(server.port, "/post.ts", {
      "if-match": '"v6"',
    }, "PUT");
    assertEquals(stale.status, 412);
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("Expect: 100-continue over --max-body: Deno sends the 100 before any handler runs; the 413 follows and the connection closes", async () => {
  // A bare Deno.serve whose handler never touches the body sends the 100
  // just the same: it is sent before the handler runs, and nothing in the
  // handler can stop it (the README says so).
  const bare = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("too large", { status: 413 }),
  );
  const head =
    "POST /form.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n";
  try {
    const first = await firstBytes(bare.addr.port, head, "too large");
    assert(
      first.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413"),
      first,
    );
  } finally {
    await bare.shutdown();
  }
  await using dir = await tempTree({
    "form.ts": `export default (ctx) => "got " + ctx.form.get("a");`,
  });
  const server = await spawnServer({
    root: dir.path,
    args: ["--max-body", "1m"],
  });
  try {
    const answer = await firstBytes(server.port, head);
    assertStringIncludes(answer, "HTTP/1.1 413");
    // The client was told 100, but the body is never read: closed.
    assertStringIncludes(answer, "[closed]");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

/**
 * What a server sends for `head` (no body sent) within 2 s, or until it
 * sends `until`; "[closed]" marks its close.
 */
async function firstBytes(
  port: number,
  head: string,
  until?: string,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  let text = "";
  const timer = setTimeout(() => conn.close(), 2000);
  try {
    const buffer = new Uint8Array(16 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) {
        text += "[closed]";
        break;
      }
      text += new TextDecoder().decode(buffer.subarray(0, n));
      if (until !== undefined && text.includes(until)) break;
    }
  } catch {
    text += "[closed]";
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  return text;
}

Deno.test("a listing links a name with a backslash to the file", async () => {
  await using dir = await tempTree({ "back\\slash.txt": "slashed" });
  const server = await spawnServer({ root: dir.path });
  try {
    const listing = await rawGet(server.port, "/");
    assertStringIncludes(listing.body, 'href="./back%5Cslash.txt"');
    const file = await rawGet(server.port, "/back%5Cslash.txt");
    assertEquals([file.status, file.body], [200, "slashed"]);
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("the example's request inspector links its stylesheet and index from below PATH_INFO", async () => {
  const server = await spawnServer({ root: `${REPO}/scripts` });
  try {
    const page = await rawGet(server.port, "/inspect.ts/some/path?x=1");
    assertStringIncludes(page.body, 'href="/style.css"');
    assertStringIncludes(page.body, '<a href="/">Index</a>');
    const css = await rawGet(server.port, "/style.css");
    assertEquals(css.headers.get("content-type"), "text/css; charset=UTF-8");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("pages that fail to load show their file, line and source, never raw colour codes", async () => {
  await using dir = await tempTree({
    "site/missing.ts":
      'import { x } from "./_nope.ts";\nexport default () => x;\n',
    "site/outside.ts":
      'import { y } from "../y.ts";\nexport default () => y;\n',
    "y.ts": "export const y = 1;",
    "site/syntax.ts":
      "export default () => {\n  const a = 1;\n  return a +;\n};\n",
    "site/deep.ts":
      'import { helper } from "./_helper.ts";\nexport default () => helper();\n',
    "site/_helper.ts":
      'export function helper() {\n  throw new Error("deep failure");\n}\n',
  });
  const root = `${dir.path}/site`;
  // Colours on, as in a terminal: Deno colours module-load errors then.
  const server = await spawnServer({ root, env: { NO_COLOR: "" } });
  try {
    const cases: [string, string, string][] = [
      [
        "/missing.ts",
        "missing.ts</code>, line 1",
        "import { x } from &quot;./_nope.ts&quot;",
      ],
      ["/outside.ts", "outside.ts</code>, line 1", "../y.ts"],
      ["/syntax.ts", "syntax.ts</code>, line 3", "return a +;"],
    ];
    for (const [path, where, source] of cases) {
      const page = await rawGet(server.port, path);
      assertEquals(page.status, 500, path);
      assert(!page.body.includes("\x1b"), `${path}: raw ANSI codes`);
      assert(!page.body.includes("[0m"), path);
      assertStringIncludes(page.body, where, path);
      assertStringIncludes(page.body, `<mark>`, path);
      assertStringIncludes(page.body, source, path);
    }
    const syntax = await rawGet(server.port, "/syntax.ts");
    // Named for what it is; its frame kept line by line.
    assertStringIncludes(
      syntax.body,
      "<strong>SyntaxError</strong>: Expression expected</p>",
    );
    assertStringIncludes(syntax.body, '<pre class="message">  |\n3 |');
    assert(!syntax.body.includes("TypeError: SyntaxError"));
    const deep = await rawGet(server.port, "/deep.ts");
    // The page's frames first; scriptserver's folded away below them.
    assertStringIncludes(deep.body, "at helper (_helper.ts:2:9)");
    assertStringIncludes(deep.body, "inside scriptserver and Deno</summary>");
    const visible = deep.body.slice(0, deep.body.indexOf('class="frames"'));
    assert(
      !visible.includes("lib/pages/page.ts"),
      "server frames are not folded",
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});
