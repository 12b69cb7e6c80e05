import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { createHandler } from "../lib/mod.ts";
import { memoryResponse } from "../lib/compression.ts";
import {
  changeKind,
  createLiveReload,
  cspAllowsLiveReload,
  isDocumentRequest,
  LIVE_RELOAD_EVENTS,
  LIVE_RELOAD_SCRIPT,
} from "../lib/live_reload.ts";
import {
  eventually,
  isolatesUp,
  isolateThreads,
  openEventStream,
  rawRequest,
  spawnServer,
  tempTree,
  waitExit,
} from "./_helpers.ts";

/** What a browser sends when it loads a page into a tab. */
const TAB = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
const TAG = `<script src="${LIVE_RELOAD_SCRIPT}"></script>\n`;
/** "<p>é" in ISO-8859-1 (not UTF-8), and the same with the script after it. */
const LATIN1 = new Uint8Array([0x3c, 0x70, 0x3e, 0xe9]);
const LATIN1_TAGGED = new Uint8Array([
  ...LATIN1,
  ...new TextEncoder().encode(TAG),
]);

Deno.test("changeKind() tells stylesheet-only changes from others, and ignores scratch files", () => {
  const root = "/site";
  assertEquals(changeKind(root, ["/site/a.css", "/site/b/c.css"]), "css");
  assertEquals(changeKind(root, ["/site/a.css", "/site/x.ts"]), "reload");
  assertEquals(changeKind(root, ["/site/_db.ts"]), "reload");
  for (
    const scratch of [
      "/site/.git/index",
      "/site/.index.ts.swp",
      "/site/a.ts~",
      "/site/#index.ts#",
      "/site/page.ts.bak",
      "/site/.page.ts.swx",
      "/site/x.tmp",
      "/site/4913",
      "/site/x.tpl___jb_tmp___",
      "/elsewhere/a.ts",
      "/site2/a.ts",
      "/site",
    ]
  ) {
    assertEquals(changeKind(root, [scratch]), undefined, scratch);
  }
});

Deno.test("cspAllowsLiveReload() follows the page's policy, reusing its nonce", () => {
  assertEquals(cspAllowsLiveReload(null), { nonce: undefined });
  assertEquals(cspAllowsLiveReload("img-src 'none'"), { nonce: undefined });
  assertEquals(cspAllowsLiveReload("default-src 'self'"), {
    nonce: undefined,
  });
  assertEquals(
    cspAllowsLiveReload("script-src 'self' https://cdn.example"),
    { nonce: undefined },
  );
  assertEquals(
    cspAllowsLiveReload("script-src 'nonce-abc123' 'strict-dynamic'"),
    {
      nonce: "abc123",
    },
  );
  // Two policies (two headers, joined): both must allow it.
  assertEquals(
    cspAllowsLiveReload("script-src 'self', script-src 'nonce-n1'"),
    { nonce: "n1" },
  );
  for (
    const forbidding of [
      "default-src 'none'",
      "script-src 'none'",
      "script-src https://cdn.example",
      "script-src 'self' 'strict-dynamic'",
      "script-src 'unsafe-inline'",
      "default-src 'self'; connect-src 'none'",
      "script-src 'nonce-a', script-src 'nonce-b'",
      `script-src 'nonce-"><x'`,
    ]
  ) {
    assertEquals(cspAllowsLiveReload(forbidding), false, forbidding);
  }
});

Deno.test("isDocumentRequest() is true for a tab's navigation, false for fetch() and curl", () => {
  const request = (headers: Record<string, string>, method = "GET") =>
    new Request("http://x/", { method, headers });
  assert(isDocumentRequest(request({ "sec-fetch-dest": "document" })));
  assert(isDocumentRequest(request({ "sec-fetch-dest": "iframe" })));
  assert(isDocumentRequest(request(TAB)));
  assert(isDocumentRequest(request(TAB, "POST")));
  assert(!isDocumentRequest(request({ "sec-fetch-dest": "empty", ...TAB })));
  assert(!isDocumentRequest(request({ accept: "*/*" })));
  assert(!isDocumentRequest(request({ ...TAB, "hx-request": "true" })));
  assert(!isDocumentRequest(request({})));
  assert(!isDocumentRequest(request(TAB, "PUT")));
});

Deno.test("inject() adds the script to HTML for tabs only, keeping lengths right", async () => {
  const live = createLiveReload({ root: "/site", log: () => {} });
  try {
    const tab = new Request("http://x/", { headers: TAB });
    const html = { "content-type": "text/html; charset=utf-8" };
    // A body in memory stays in memory, with the script at its end.
    const memory = await live.inject(
      tab,
      memoryResponse("<p>hi</p>", { headers: html }),
    );
    assertEquals(await memory.text(), `<p>hi</p>${TAG}`);
    // Bytes in another charset are not decoded.
    const latin1 = await live.inject(
      tab,
      memoryResponse(LATIN1.slice(), {
        headers: { "content-type": "text/html; charset=iso-8859-1" },
      }),
    );
    assertEquals(new Uint8Array(await latin1.arrayBuffer()), LATIN1_TAGGED);
    // A static file's body of known length.
    const sized = await live.inject(
      tab,
      new Response(new Blob(["<p>é</p>"]).stream(), {
        headers: { ...html, "content-length": "9", vary: "Accept-Encoding" },
      }),
    );
    assertEquals(await sized.text(), `<p>é</p>${TAG}`);
    // Read as bytes, not text: a body in another charset keeps its bytes.
    const latin1Stream = await live.inject(
      tab,
      new Response(
        new Blob([LATIN1]).stream(),
        {
          headers: {
            "content-type": "text/html; charset=iso-8859-1",
            "content-length": "4",
          },
        },
      ),
    );
    assertEquals(
      new Uint8Array(await latin1Stream.arrayBuffer()),
      LATIN1_TAGGED,
    );
    assertEquals(sized.headers.get("vary"), null);
    // HEAD: no body, the length GET would send.
    const head = await live.inject(
      new Request("http://x/", { method: "HEAD", headers: TAB }),
      new Response(null, { headers: { ...html, "content-length": "9" } }),
    );
    assertEquals(
      head.headers.get("content-length"),
      String(9 + new TextEncoder().encode(TAG).byteLength),
    );
    // A stream of unknown length gets the script after its last chunk.
    const streamed = await live.inject(
      tab,
      new Response(
        ReadableStream.from(["<p>", "1</p>"]).pipeThrough(
          new TextEncoderStream(),
        ),
        { headers: html },
      ),
    );
    assertEquals(await streamed.text(), `<p>1</p>${TAG}`);
    // A nonce from the page's policy.
    const nonced = await live.inject(
      tab,
      memoryResponse("x", {
        headers: {
          ...html,
          "content-security-policy": "script-src 'nonce-q1'",
        },
      }),
    );
    assertStringIncludes(await nonced.text(), `nonce="q1"`);

    // Left as they are:
    const untouched: [Request, Response][] = [
      [new Request("http://x/"), memoryResponse("<p>", { headers: html })],
      [
        new Request("http://x/", { headers: { "sec-fetch-dest": "empty" } }),
        memoryResponse("<p>", { headers: html }),
      ],
      [
        tab,
        memoryResponse("{}", {
          headers: { "content-type": "application/json" },
        }),
      ],
      [tab, memoryResponse("<p>", { status: 206, headers: html })],
      [tab, new Response(null, { status: 304, headers: html })],
      [
        tab,
        memoryResponse("<p>", {
          headers: { ...html, "content-security-policy": "script-src 'none'" },
        }),
      ],
      [
        tab,
        new Response("x", { headers: { ...html, "content-encoding": "br" } }),
      ],
    ];
    for (const [request, response] of untouched) {
      assert(await live.inject(request, response) === response);
      await response.body?.cancel();
    }
  } finally {
    live.close();
  }
});

async function liveSite() {
  return await tempTree({
    "index.html": "<h1>one</h1>",
    "big.html": `<p>${"lorem ipsum ".repeat(200)}</p>`,
    "style.css": "h1 { color: red }",
    "page.ts": `export default () => "<p>page</p>";`,
    "_helper.ts": "export const x = 1;",
    "strict.ts": `export default () => new Response("<p>strict</p>", {
      headers: { "content-type": "text/html", "content-security-policy": "default-src 'none'" },
    });`,
    "broken.ts": "export default () => { throw new Error('broken'); };",
  });
}

Deno.test("a real server tells open tabs of each save: reload, or css for stylesheets", async () => {
  await using dir = await liveSite();
  const server = await spawnServer({ root: dir.path });
  const events = await openEventStream(
    `${server.url}${LIVE_RELOAD_EVENTS.slice(1)}`,
  );
  try {
    assertEquals((await events.next())?.[0], "hello");
    await Deno.writeTextFile(join(dir.path, "style.css"), "h1 { color: blue }");
    assertEquals(await events.next(), ["change", "css"]);
    await Deno.writeTextFile(
      join(dir.path, "_helper.ts"),
      "export const x = 2;",
    );
    assertEquals(await events.next(), ["change", "reload"]);
    // An editor's swap file and a hidden folder are not changes.
    await Deno.writeTextFile(join(dir.path, ".index.html.swp"), "x");
    await Deno.mkdir(join(dir.path, ".git"));
    await Deno.writeTextFile(join(dir.path, ".git", "HEAD"), "x");
    assertEquals(await events.next(300), undefined);
    // After a save, the page a reloaded tab gets is the new one.
    await Deno.writeTextFile(join(dir.path, "index.html"), "<h1>two</h1>");
    assertEquals(await events.next(), ["change", "reload"]);
    const page = await fetch(server.url, { headers: TAB });
    assertEquals(await page.text(), `<h1>two</h1>${TAG}`);
  } finally {
    events.close();
    await server.stop();
  }
});

Deno.test({
  name:
    "a save that reloads open tabs starts the new code's page isolate before their requests come",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using dir = await liveSite();
    const server = await spawnServer({ root: dir.path });
    const pid = server.process.pid;
    const events = await openEventStream(
      `${server.url}${LIVE_RELOAD_EVENTS.slice(1)}`,
    );
    try {
      assertEquals((await events.next())?.[0], "hello");
      assertEquals(
        await (await fetch(`${server.url}page.ts`)).text(),
        `<p>page</p>`,
      );
      // The page's isolate, the spawner and its spare.
      const before = await isolatesUp(pid);
      assertEquals(before.length, 3, before.join(" "));
      await Deno.writeTextFile(
        join(dir.path, "_helper.ts"),
        "export const x = 2;",
      );
      assertEquals(await events.next(), ["change", "reload"]);
      // No request has come since the save: the new isolate is warm()'s
      // (the spare, replaced by a new one, or one the server started).
      const started = (ids: string[]) => ids.some((id) => !before.includes(id));
      const after = await eventually(
        () => Promise.resolve(isolateThreads(pid)),
        started,
        5_000,
      );
      assert(started(after), `no new page isolate: ${after.join(" ")}`);
    } finally {
      events.close();
      await server.stop();
    }
  },
});

Deno.test("a real server injects the script into tabs' HTML: static, pages, listings, error pages, compressed", async () => {
  await using dir = await liveSite();
  const server = await spawnServer({ root: dir.path });
  try {
    for (const path of ["", "page.ts", "page", "broken.ts", "missing", "?x"]) {
      const response = await fetch(`${server.url}${path}`, { headers: TAB });
      const body = await response.text();
      assert(body.endsWith(TAG), `${path}: ${body.slice(-80)}`);
    }
    // A small file: as it is, with the Content-Length of what is sent.
    const raw = await rawRequest(
      server.port,
      `GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`,
    );
    assertEquals(raw.headers.get("content-encoding"), null);
    assertEquals(raw.body, `<h1>one</h1>${TAG}`);
    assertEquals(
      Number(raw.headers.get("content-length")),
      new TextEncoder().encode(raw.body).byteLength,
    );
    // A larger one is compressed after the script went in.
    const big = await fetch(`${server.url}big.html`, {
      headers: { ...TAB, "accept-encoding": "gzip" },
    });
    assertEquals(big.headers.get("content-encoding"), "gzip");
    assertStringIncludes(big.headers.get("vary") ?? "", "Accept-Encoding");
    assert((await big.text()).endsWith(`</p>${TAG}`));
    // Not for fetch(), not for CSS, not for a page that forbids scripts.
    const plain = await fetch(server.url);
    assertEquals(await plain.text(), "<h1>one</h1>");
    const css = await fetch(`${server.url}style.css`, { headers: TAB });
    assertEquals(await css.text(), "h1 { color: red }");
    const strict = await fetch(`${server.url}strict.ts`, { headers: TAB });
    assertEquals(await strict.text(), "<p>strict</p>");
    // The script itself.
    const script = await fetch(`${server.url}${LIVE_RELOAD_SCRIPT.slice(1)}`);
    assertStringIncludes(await script.text(), "new EventSource");
    assertEquals(
      script.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
  } finally {
    await server.stop();
  }
  assertStringIncludes(server.stderr.text, "live reload is off for /strict.ts");
});

Deno.test("SIGTERM stops a server with open live reload streams at once", async () => {
  await using dir = await liveSite();
  const server = await spawnServer({ root: dir.path });
  const events = await Promise.all(
    [1, 2, 3].map(() =>
      openEventStream(`${server.url}${LIVE_RELOAD_EVENTS.slice(1)}`)
    ),
  );
  try {
    for (const stream of events) {
      assertEquals((await stream.next())?.[0], "hello");
    }
    server.process.kill("SIGTERM");
    // A graceful shutdown waits for responses: the streams must end, not
    // hold it for the 10 s grace (waitExit fails past 5 s).
    const status = await waitExit(server.process, 5_000);
    assertEquals(status.code, 0);
    for (const stream of events) {
      assertEquals(await stream.next(1000), undefined);
    }
  } finally {
    for (const stream of events) stream.close();
    await server.stop();
  }
});

Deno.test("--no-live-reload and --prod serve no script and no reserved path", async () => {
  await using dir = await liveSite();
  for (const flag of ["--no-live-reload", "--prod"]) {
    const server = await spawnServer({ root: dir.path, args: [flag] });
    try {
      const page = await fetch(server.url, { headers: TAB });
      assertEquals(await page.text(), "<h1>one</h1>", flag);
      const events = await fetch(`${server.url}${LIVE_RELOAD_EVENTS.slice(1)}`);
      await events.body?.cancel();
      assertEquals(events.status, 404, flag);
    } finally {
      await server.stop();
    }
  }
});

Deno.test("createHandler() has no live reload unless asked, and never with prod", async () => {
  await using dir = await liveSite();
  for (
    const options of [{}, { liveReload: true, prod: true }, {
      liveReload: false,
    }]
  ) {
    using handle = createHandler({ root: dir.path, ...options });
    const page = await handle(new Request("http://x/", { headers: TAB }));
    assertEquals(await page.text(), "<h1>one</h1>");
    await handle.shutdown(0);
  }
  using live = createHandler({ root: dir.path, liveReload: true });
  const page = await live(new Request("http://x/", { headers: TAB }));
  assertEquals(await page.text(), `<h1>one</h1>${TAG}`);
  const other = await live(
    new Request(`http://x${LIVE_RELOAD_EVENTS}`, {
      method: "POST",
    }),
  );
  assertEquals(other.status, 405);
  await other.body?.cancel();
  await live.shutdown(0);
});

Deno.test("a live reload allows at most maxTabs streams, and close() ends them", async () => {
  const live = createLiveReload({ root: "/site", maxTabs: 2 });
  const request = new Request(`http://x${LIVE_RELOAD_EVENTS}`);
  const open = [
    live.serve(request, LIVE_RELOAD_EVENTS),
    live.serve(request, LIVE_RELOAD_EVENTS),
  ];
  assertEquals(live.tabs, 2);
  const refused = live.serve(request, LIVE_RELOAD_EVENTS);
  assertEquals(refused.status, 503);
  await refused.body?.cancel();
  // A tab that leaves frees its place.
  await open[0]!.body!.cancel();
  assertEquals(live.tabs, 1);
  live.close();
  assertEquals(live.tabs, 0);
  // The remaining stream ends (after its first frames).
  assertStringIncludes(await open[1]!.text(), "event: hello");
  const missing = live.serve(request, "/_scriptserver/nothing");
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("a tab that stops reading is dropped once its unread events pass maxUnreadBytes; one that reads stays", async () => {
  const live = createLiveReload({
    root: "/site",
    settleMs: 0,
    maxUnreadBytes: 200,
  });
  const request = new Request(`http://x${LIVE_RELOAD_EVENTS}`);
  const stalled = live.serve(request, LIVE_RELOAD_EVENTS);
  const reading = live.serve(request, LIVE_RELOAD_EVENTS);
  const read = reading.text();
  try {
    for (let i = 0; i < 20 && live.tabs === 2; i++) {
      live.changed(["/site/a.ts"]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(live.tabs, 1);
    // What it had unread is still there, then the stream ends.
    assertStringIncludes(await stalled.text(), "event: change");
  } finally {
    live.close();
  }
  assertStringIncludes(await read, "event: change");
});
