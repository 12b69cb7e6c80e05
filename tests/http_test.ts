/**
 * Static serving over real HTTP: scriptserver runs as a child process under
 * exactly `--no-prompt --allow-net=127.0.0.1:PORT --allow-read=ROOT`.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "./_assert.ts";
import { join } from "@std/path";
import {
  assertHeadLikeGet,
  rawGet,
  rawHead,
  rawRequest,
  spawnServer,
  tempTree,
} from "./_helpers.ts";

/** Larger than the file cache takes: read from disk for each request. */
const BIG = 5 * 1024 * 1024;
/** Cached, and sent from memory in several chunks. */
const MEDIUM = 1024 * 1024 + 7;

function patterned(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
  return bytes;
}

function bigFile(): Uint8Array {
  return patterned(BIG);
}

Deno.test("scriptserver serves a folder safely over HTTP", async (t) => {
  await using dir = await tempTree({
    "outside/secret.txt": "TOP SECRET",
    "site/hello.txt": "Hello world !",
    "site/page.html": "<h1>page</h1>",
    "site/style.css": "body{}",
    "site/data.json": "{}",
    "site/big.bin": bigFile(),
    "site/medium.bin": patterned(MEDIUM),
    "site/docs/a.txt": "a",
    "site/docs/sub/b.txt": "b",
    "site/docs/<b>&'\".txt": "odd",
    "site/with-index/index.html": "<p>the index</p>",
    "site/.env": "TOKEN=1",
    "site/.git/config": "[core]",
    "site/_private.txt": "private",
    "site/.well-known/security.txt": "Contact: mailto:x@example.com",
    "site/.well-known/.hidden": "hidden",
    "site/link-in.txt": { symlink: "hello.txt" },
    "site/link-out.txt": { symlink: "../outside/secret.txt" },
    "site/link-dir-out": { symlink: "../outside" },
  });
  const root = join(dir.path, "site");
  const server = await spawnServer({ root });
  const url = (path: string) => new URL(path, server.url).href;

  try {
    await t.step(
      "a file comes with its type, length and validators",
      async () => {
        const response = await fetch(url("/hello.txt"));
        assertEquals(response.status, 200);
        assertEquals(
          response.headers.get("content-type"),
          "text/plain; charset=UTF-8",
        );
        assertEquals(response.headers.get("content-length"), "13");
        assertMatch(response.headers.get("etag")!, /^"[0-9a-f]+-[0-9a-f]+"$/);
        assert(response.headers.get("last-modified"));
        assertEquals(await response.text(), "Hello world !");
        for (
          const [path, type] of [
            ["/page.html", "text/html; charset=UTF-8"],
            ["/style.css", "text/css; charset=UTF-8"],
            ["/data.json", "application/json; charset=UTF-8"],
            ["/big.bin", "application/octet-stream"],
          ]
        ) {
          const r = await fetch(url(path!), { method: "HEAD" });
          assertEquals(r.headers.get("content-type"), type, path);
        }
      },
    );

    await t.step("If-None-Match and If-Modified-Since answer 304", async () => {
      const first = await fetch(url("/hello.txt"));
      await first.body?.cancel();
      const etag = first.headers.get("etag")!;
      const byEtag = await fetch(url("/hello.txt"), {
        headers: { "if-none-match": etag },
      });
      assertEquals(byEtag.status, 304);
      assertEquals(await byEtag.text(), "");
      const byDate = await fetch(url("/hello.txt"), {
        headers: { "if-modified-since": first.headers.get("last-modified")! },
      });
      assertEquals(byDate.status, 304);
      await byDate.body?.cancel();
    });

    await t.step(
      "a single byte Range answers 206, past the end 416",
      async () => {
        const part = await fetch(url("/hello.txt"), {
          headers: { range: "bytes=6-10" },
        });
        assertEquals(part.status, 206);
        assertEquals(part.headers.get("content-range"), "bytes 6-10/13");
        assertEquals(await part.text(), "world");
        const tail = await fetch(url("/big.bin"), {
          headers: { range: `bytes=${BIG - 3}-` },
        });
        assertEquals(tail.status, 206);
        const expected = bigFile().slice(BIG - 3);
        assertEquals([...new Uint8Array(await tail.arrayBuffer())], [
          ...expected,
        ]);
        const past = await fetch(url("/hello.txt"), {
          headers: { range: "bytes=13-" },
        });
        assertEquals(past.status, 416);
        assertEquals(past.headers.get("content-range"), "bytes */13");
        await past.body?.cancel();
      },
    );

    await t.step("HEAD sends headers and no body bytes", async () => {
      const response = await rawHead(server.port, "/hello.txt");
      assertEquals(response.status, 200);
      assertEquals(response.headers.get("content-length"), "13");
      assertEquals(response.body, "");
    });

    await t.step(
      "HEAD of a listing or an error page declares the length a GET gets",
      async () => {
        await assertHeadLikeGet(server.port, "/docs/");
        await assertHeadLikeGet(server.port, "/nope", 404);
      },
    );

    await t.step("other methods on a file answer 405 with Allow", async () => {
      for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
        const response = await fetch(url("/hello.txt"), {
          method,
          body: method === "OPTIONS" ? null : "x",
        });
        assertEquals(response.status, 405, method);
        assertEquals(response.headers.get("allow"), "GET, HEAD");
        await response.body?.cancel();
      }
    });

    await t.step(
      "TRACE and CONNECT are refused and never echo the request",
      async () => {
        const trace = await rawRequest(
          server.port,
          "TRACE /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sid=s3cr3t\r\nConnection: close\r\n\r\n",
        );
        assertEquals(trace.status, 501);
        assert(!trace.body.includes("s3cr3t"));
        const connect = await rawRequest(
          server.port,
          "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n",
        );
        assertEquals(connect.status, 501);
      },
    );

    await t.step("a large file is streamed whole", async () => {
      const response = await fetch(url("/big.bin"));
      assertEquals(response.headers.get("content-length"), String(BIG));
      const body = new Uint8Array(await response.arrayBuffer());
      assertEquals(body.length, BIG);
      assertEquals(body[BIG - 1], (BIG - 1) % 251);
    });

    await t.step(
      "a cached file larger than a chunk comes whole, every time",
      async () => {
        const expected = patterned(MEDIUM);
        const get = async (headers?: HeadersInit) => {
          const response = await fetch(url("/medium.bin"), { headers });
          assertEquals(response.status, 200);
          assertEquals(response.headers.get("content-length"), String(MEDIUM));
          return new Uint8Array(await response.arrayBuffer());
        };
        // In parallel, and after them a conditional GET that does not match:
        // each sends the same cached bytes.
        const bodies = await Promise.all([get(), get(), get()]);
        bodies.push(await get({ "if-none-match": '"other"' }));
        for (const body of bodies) assertEquals(body, expected);
      },
    );

    await t.step(
      "a directory redirects to its trailing slash, relatively",
      async () => {
        const response = await fetch(url("/docs?x=1"), { redirect: "manual" });
        assertEquals(response.status, 301);
        assertEquals(response.headers.get("location"), "./docs/?x=1");
        await response.body?.cancel();
        const raw = await rawGet(server.port, "//docs");
        assertEquals(raw.status, 301);
        assertEquals(raw.headers.get("location"), "./docs/");
      },
    );

    await t.step("index.html serves its directory", async () => {
      const response = await fetch(url("/with-index/"));
      assertEquals(await response.text(), "<p>the index</p>");
    });

    await t.step(
      "a listing shows directories first, escaped, without private names",
      async () => {
        const response = await fetch(url("/docs/"));
        assertEquals(response.status, 200);
        const html = await response.text();
        assertStringIncludes(html, 'href="../"');
        assert(html.indexOf('href="./sub/"') < html.indexOf('href="./a.txt"'));
        assertStringIncludes(html, "&lt;b&gt;&amp;&#39;&quot;.txt");
        assertStringIncludes(
          html,
          'href="./%3Cb%3E%26\'%22.txt"'.replace("'", "&#39;"),
        );
        const top = await (await fetch(url("/"))).text();
        for (
          const hidden of [
            ".env",
            ".git",
            "_private",
            ".well-known",
            "link-out",
            "link-dir-out",
          ]
        ) {
          assert(!top.includes(hidden), hidden);
        }
        assertStringIncludes(top, "link-in.txt");
      },
    );

    await t.step(
      "dotfiles and _private files answer 404; /.well-known/ stays reachable",
      async () => {
        for (
          const path of [
            "/.env",
            "/.git/config",
            "/.git/",
            "/_private.txt",
            "/%2eenv",
            "/.well-known/.hidden",
          ]
        ) {
          const response = await rawGet(server.port, path);
          assertEquals(response.status, 404, path);
        }
        const known = await fetch(url("/.well-known/security.txt"));
        assertEquals(await known.text(), "Contact: mailto:x@example.com");
      },
    );

    await t.step(
      "nothing outside ROOT is reachable, by any spelling",
      async () => {
        for (
          const path of [
            "/../outside/secret.txt",
            "/../../../../../etc/hostname",
            "/%2e%2e/outside/secret.txt",
            "/%2E%2E/%2e%2e/outside/secret.txt",
            "/..%2foutside%2fsecret.txt",
            "/%2e%2e%2foutside%2fsecret.txt",
            "/%252e%252e/outside/secret.txt",
            "/..\\outside\\secret.txt",
            "/..%5coutside%5csecret.txt",
            "/docs/../../outside/secret.txt",
            "/link-out.txt",
            "/link-dir-out/secret.txt",
            "/link-dir-out/",
          ]
        ) {
          const response = await rawGet(server.port, path);
          assert(response.status === 404 || response.status === 400, path);
          assert(!response.body.includes("TOP SECRET"), path);
        }
        assertEquals((await fetch(url("/link-in.txt"))).status, 200);
      },
    );

    await t.step("NUL bytes and malformed escapes answer 400", async () => {
      for (
        const path of [
          "/hello.txt%00",
          "/hello.txt%00.png",
          "/%",
          "/%zz",
          "/%c0%ae%c0%ae/x",
          "/%ff",
        ]
      ) {
        const response = await rawGet(server.port, path);
        assertEquals(response.status, 400, path);
      }
    });

    await t.step(
      "a Host header that would change the path answers 400",
      async () => {
        for (const host of ["x/hello.txt?", "x:99999", "x@y", "x#y", "a b"]) {
          const response = await rawGet(server.port, "/docs/", host);
          assertEquals(response.status, 400, host);
        }
        const ok = await rawGet(server.port, "/hello.txt", "localhost:1234");
        assertEquals(ok.status, 200);
      },
    );

    await t.step(
      "error pages are small HTML that never reflect the path",
      async () => {
        const response = await rawGet(
          server.port,
          "/<script>alert(1)</script>",
        );
        assertEquals(response.status, 404);
        assertEquals(
          response.headers.get("content-type"),
          "text/html; charset=utf-8",
        );
        assert(!response.body.includes("<script>"));
        assert(response.body.length < 2048);
      },
    );

    await t.step("each request is logged as one line", async () => {
      await (await fetch(url("/hello.txt?log=1"))).body?.cancel();
      const line = await server.stdout.waitFor((l) =>
        l.startsWith("GET /hello.txt?log=1 ")
      );
      assertMatch(line, /^GET \/hello\.txt\?log=1 200 \d+\.\dms$/);
    });
  } finally {
    const status = await server.stop();
    assertEquals(status.code, 0, server.stderr.text);
  }
});
