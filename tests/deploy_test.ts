/**
 * Hosting without a proxy: the site's own error pages, `--no-listing`,
 * `--header` and compression, against real server processes.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import {
  eventually,
  LIB_DIR,
  rawGet,
  runMain,
  spawnServer,
  tempTree,
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
    const { code, stderr } = await runMain(
      ["--allow-net=127.0.0.1", "--allow-read"],
      ["--port", "0", "--header", value],
    );
    assertEquals(code, 2, value);
    assertStringIncludes(stderr, `Cannot use --header "${value}"`);
  }
});

/** Text that compresses, as sites' text does. */
function prose(bytes: number): string {
  const words = ["page", "server", "script", "deno", "template", "session"];
  let text = "";
  for (let i = 0; text.length < bytes; i++) {
    text += words[(i * 7 + (i >> 3)) % words.length] + " ";
  }
  return text.slice(0, bytes);
}

async function compressed(text: string, format: string): Promise<Uint8Array> {
  return await new Response(
    new Blob([text]).stream().pipeThrough(
      new CompressionStream(format as CompressionFormat),
    ),
  ).bytes();
}

Deno.test("text files go out brotli or gzip as accepted, with an ETag per encoding; ranges and images as they are", async () => {
  const text = prose(20_000);
  const png = new Uint8Array(4096).fill(7);
  await using dir = await tempTree({ "t.txt": text, "i.png": png });
  const server = await spawnServer({ root: dir.path });
  const get = (path: string, headers: Record<string, string>) =>
    fetch(`${server.url}${path}`, { headers });
  try {
    const br = await get("t.txt", { "accept-encoding": "gzip, br" });
    assertEquals(br.headers.get("content-encoding"), "br");
    assertEquals(br.headers.get("vary"), "Accept-Encoding");
    assert(Number(br.headers.get("content-length")) < 10_000);
    const brTag = br.headers.get("etag")!;
    assert(brTag.endsWith(`-br"`), brTag);
    // fetch decodes it: the bytes are the file's.
    assertEquals(await br.text(), text);

    const gzip = await get("t.txt", { "accept-encoding": "gzip" });
    assertEquals(gzip.headers.get("content-encoding"), "gzip");
    assertEquals(await gzip.text(), text);

    const refused = await get("t.txt", {
      "accept-encoding": "br;q=0, gzip;q=0",
    });
    assertEquals(refused.headers.get("content-encoding"), null);
    assertEquals(refused.headers.get("content-length"), "20000");
    assertEquals(refused.headers.get("vary"), "Accept-Encoding");
    await refused.body?.cancel();

    // The br ETag validates the br representation only.
    const same = await get("t.txt", {
      "accept-encoding": "br",
      "if-none-match": brTag,
    });
    assertEquals(same.status, 304);
    assertEquals(same.headers.get("vary"), "Accept-Encoding");
    await same.body?.cancel();
    const other = await get("t.txt", {
      "accept-encoding": "gzip",
      "if-none-match": brTag,
    });
    assertEquals(other.status, 200);
    await other.body?.cancel();

    const range = await get("t.txt", {
      "accept-encoding": "gzip, br",
      range: "bytes=0-9",
    });
    assertEquals(range.status, 206);
    assertEquals(range.headers.get("content-encoding"), null);
    assertEquals(await range.text(), text.slice(0, 10));

    const image = await get("i.png", { "accept-encoding": "gzip, br" });
    assertEquals(image.headers.get("content-encoding"), null);
    assertEquals((await image.bytes()).length, 4096);

    // HEAD says what GET sends.
    const head = await fetch(`${server.url}t.txt`, {
      method: "HEAD",
      headers: { "accept-encoding": "gzip, br" },
    });
    assertEquals(head.headers.get("content-encoding"), "br");
    assertEquals(
      head.headers.get("content-length"),
      br.headers.get("content-length"),
    );
  } finally {
    await server.stop();
  }
});

Deno.test("a large text file is compressed off the request path: sent as it is until its variant is ready", async () => {
  const text = prose(400 * 1024);
  await using dir = await tempTree({ "big.txt": text });
  const server = await spawnServer({ root: dir.path });
  const get = () =>
    fetch(`${server.url}big.txt`, { headers: { "accept-encoding": "br" } });
  try {
    const first = await get();
    assertEquals(first.headers.get("content-encoding"), null);
    assertEquals(first.headers.get("vary"), "Accept-Encoding");
    assertEquals(await first.text(), text);
    const later = await eventually(
      async () => {
        const response = await get();
        await response.body?.cancel();
        return response.headers.get("content-encoding");
      },
      (encoding) => encoding === "br",
      5000,
    );
    assertEquals(later, "br");
    const packed = await get();
    assert(Number(packed.headers.get("content-length")) < text.length / 4);
    assertEquals(await packed.text(), text);
  } finally {
    await server.stop();
  }
});

Deno.test("a precompressed sibling is served when not older than the file", async () => {
  const text = prose(8_000);
  // The sibling holds other words, so the test sees which was sent.
  const sibling = await compressed(`from the sibling ${text}`, "gzip");
  await using dir = await tempTree({ "app.css": text });
  await Deno.writeFile(`${dir.path}/app.css.gz`, sibling);
  const server = await spawnServer({ root: dir.path });
  try {
    const response = await fetch(`${server.url}app.css`, {
      headers: { "accept-encoding": "gzip" },
    });
    assertEquals(response.headers.get("content-encoding"), "gzip");
    assertEquals(
      response.headers.get("content-length"),
      String(sibling.length),
    );
    assertEquals(await response.text(), `from the sibling ${text}`);
    assertEquals(
      response.headers.get("content-type"),
      "text/css; charset=UTF-8",
    );
    // An older sibling is stale: the file itself is compressed instead.
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(`${dir.path}/app.css.gz`, past, past);
    const fresh = await eventually(
      () =>
        fetch(`${server.url}app.css`, {
          headers: { "accept-encoding": "gzip" },
        }).then((r) => r.text()),
      (body) => body === text,
    );
    assertEquals(fresh, text);
  } finally {
    await server.stop();
  }
});

Deno.test("pages' and templates' output is compressed; small answers are not", async () => {
  const text = prose(5_000);
  await using dir = await tempTree({
    "big.ts": `export default () => ${JSON.stringify(text)};`,
    "small.ts": `export default () => "small";`,
    "stream.ts": `export default () => new Response(${
      JSON.stringify(text)
    }, { headers: { "content-type": "text/plain" } });`,
    "t.tpl": `${text} $name`,
  });
  const server = await spawnServer({ root: dir.path });
  const get = (path: string) =>
    fetch(`${server.url}${path}`, {
      headers: { "accept-encoding": "br, gzip" },
    });
  try {
    const big = await get("big.ts");
    assertEquals(big.headers.get("content-encoding"), "br");
    assert(Number(big.headers.get("content-length")) < 2_500);
    assertEquals(await big.text(), text);
    const small = await get("small.ts");
    assertEquals(small.headers.get("content-encoding"), null);
    assertEquals(small.headers.get("vary"), "Accept-Encoding");
    assertEquals(await small.text(), "small");
    const own = await get("stream.ts");
    assertEquals(own.headers.get("content-encoding"), "br");
    assertEquals(await own.text(), text);
    const template = await get("t.tpl?name=%3Cb%3E");
    assertEquals(template.headers.get("content-encoding"), "br");
    assertEquals(await template.text(), `${text} &lt;b&gt;`);
  } finally {
    await server.stop();
  }
});

/** Runs openssl; fails the test with its message when it fails. */
async function openssl(args: string[]): Promise<void> {
  const made = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert(made.success, new TextDecoder().decode(made.stderr));
}

/**
 * A test CA and a certificate it signed for 127.0.0.1, with its key, made
 * by openssl (a CA's own certificate is refused as a server's by rustls).
 */
async function makeCertificate(
  dir: string,
  name = "server",
): Promise<{ ca: string; cert: string; key: string }> {
  const [ca, caKey, csr, cert, key, ext] = [
    "ca.pem",
    "ca-key.pem",
    "csr.pem",
    "cert.pem",
    "key.pem",
    "ext.txt",
  ].map((file) => `${dir}/${name}-${file}`) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    ca,
    "-days",
    "2",
    "-subj",
    "/CN=scriptserver test CA",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await Deno.writeTextFile(
    ext,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { ca, cert, key };
}

/** curl's answer over HTTP/2: the HTTP version, status and body. */
async function curlHttp2(
  url: string,
  ca: string,
  extra: string[] = [],
): Promise<string> {
  const result = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--http2",
      "--max-time",
      "10",
      "--cacert",
      ca,
      "--write-out",
      "\n%{http_version} %{http_code}",
      ...extra,
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(result.success, new TextDecoder().decode(result.stderr));
  return new TextDecoder().decode(result.stdout);
}

Deno.test("--cert and --key serve HTTPS over HTTP/2: a page, a range of a file, a Secure session", async () => {
  await using dir = await tempTree({
    "site/hello.ts": `export default (ctx) => "Hello " + ctx.url.protocol;`,
    "site/file.txt": "0123456789",
    "site/count.ts": `export default (ctx) => {
      ctx.session.count = (ctx.session.count ?? 0) + 1;
      return "visit " + ctx.session.count;
    };`,
  });
  const { ca, cert, key } = await makeCertificate(dir.path);
  const root = `${dir.path}/site`;
  const server = await spawnServer({
    root,
    args: ["--cert", cert, "--key", key],
    permissions: [`--allow-read=${root},${LIB_DIR},${cert},${key}`],
    netPermission: true,
  });
  try {
    assert(server.url.startsWith("https://127.0.0.1:"), server.url);
    assertEquals(
      await curlHttp2(`${server.url}hello.ts`, ca),
      "Hello https:\n2 200",
    );
    assertEquals(
      await curlHttp2(`${server.url}file.txt`, ca, ["--range", "2-4"]),
      "234\n2 206",
    );
    // Deno's fetch, trusting the test's certificate.
    using client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(ca)],
    });
    const first = await fetch(`${server.url}count.ts`, { client });
    assertEquals(await first.text(), "visit 1");
    const cookie = first.headers.get("set-cookie")!;
    assertStringIncludes(cookie, "Secure");
    const second = await fetch(`${server.url}count.ts`, {
      client,
      headers: { cookie: cookie.split(";")[0]! },
    });
    assertEquals(await second.text(), "visit 2");
  } finally {
    await server.stop();
  }
});

Deno.test("a missing, unreadable or mismatched --cert/--key pair is one line and exit 1", async () => {
  await using dir = await tempTree({ "site/a.txt": "a" });
  const one = await makeCertificate(dir.path, "one");
  const two = await makeCertificate(dir.path, "two");
  const root = `${dir.path}/site`;
  const cases: [string[], string][] = [
    [
      ["--cert", `${dir.path}/none.pem`, "--key", one.key],
      "Cannot read --cert",
    ],
    [["--cert", `${root}/a.txt`, "--key", one.key], "holds no PEM"],
    [["--cert", one.cert, "--key", two.key], "Cannot serve HTTPS"],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runMain(
      ["--allow-net=127.0.0.1", "--allow-read"],
      [root, "--port", "0", ...args],
    );
    assertEquals(code, 1, message);
    const lines = stderr.trim().split("\n");
    assertEquals(lines.length, 1, stderr);
    assertStringIncludes(lines[0]!, message);
  }
  // Without read permission for them, the line says which flag to add.
  const { code, stderr } = await runMain(
    ["--allow-net=127.0.0.1", `--allow-read=${root},${LIB_DIR}`],
    [root, "--port", "0", "--cert", one.cert, "--key", one.key],
  );
  assertEquals(code, 1);
  assertStringIncludes(stderr, `--allow-read=${one.cert},${one.key}`);
});

Deno.test("a client that leaves during a compressed stream ends the page's stream", async () => {
  await using dir = await tempTree({
    "_state.ts": "export const state = { cancelled: 0 };",
    "stream.ts": `import { state } from "./_state.ts";
      const tick = new TextEncoder().encode("<p>tick</p>".repeat(100));
      export default () => new Response(new ReadableStream({
        async pull(controller) {
          controller.enqueue(tick);
          await new Promise((resolve) => setTimeout(resolve, 5));
        },
        cancel() { state.cancelled++; },
      }), { headers: { "content-type": "text/html" } });`,
    "cancelled.ts":
      `import { state } from "./_state.ts"; export default () => String(state.cancelled);`,
  });
  // One isolate: both pages share the module state.
  const server = await spawnServer({
    root: dir.path,
    args: ["--isolates", "1"],
  });
  try {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    await conn.write(
      new TextEncoder().encode(
        "GET /stream.ts HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n",
      ),
    );
    // Some compressed bytes arrive, then the client is gone.
    const buffer = new Uint8Array(4096);
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      assert(n !== null, "the server closed before answering");
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    assertStringIncludes(head.toLowerCase(), "content-encoding: br");
    conn.close();
    const cancelled = await eventually(
      () => rawGet(server.port, "/cancelled.ts").then((r) => r.body),
      (body) => body === "1",
      5000,
    );
    assertEquals(cancelled, "1");
  } finally {
    await server.stop();
  }
});
