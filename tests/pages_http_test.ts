/**
 * Page modules over real HTTP: scriptserver runs as a child process under
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
  type RunningServer,
  spawnServer,
  tempTree,
  type Tree,
} from "./_helpers.ts";

const PAGES: Tree = {
  "hello.ts":
    `export default (ctx) => "Hello " + ctx.query.get("name") + " !";`,
  "info.ts": `export default (ctx) => ({
    method: ctx.method,
    query: Object.fromEntries(ctx.query),
    form: Object.fromEntries([...ctx.form].map(([k, v]) =>
      [k, typeof v === "string" ? v : { name: v.name, size: v.size, type: v.type }])),
    cookies: { ...ctx.cookies },
    env: { ...ctx.env },
  });`,
  "plain.js": `export default function () { return "from js"; }`,
  "greet.tpl": "Hello $name !",
  "module.mjs": `export default () => "from mjs";`,
  "typed.mts": `export default (): string => "from mts";`,
  "sub/index.ts":
    `export default (ctx) => "index.ts of " + ctx.env.SCRIPT_NAME;`,
  "both/index.html": "<p>index.html wins</p>",
  "both/index.ts": `export default () => "index.ts loses";`,
  "identity.ts":
    `const id = crypto.randomUUID(); export default () => "v1 " + id;`,
  "nodefault.ts": `export const x = 1;`,
  "notfunction.ts": `export default 42;`,
  "throws.ts": [
    "// a comment",
    "export default function () {",
    '  const value = "<script>alert(1)</script>";',
    "  throw new TypeError(`bad ${value}`);",
    "}",
  ].join("\n"),
  "syntax.ts": 'export default function () {\n  return "a" +;\n}\n',
  "badreturn.ts": "export default () => new Map();",
  "returns.ts": `export default (ctx) => {
    switch (ctx.query.get("kind")) {
      case "array": return [1, 2];
      case "bytes": return new Uint8Array([104, 105]);
      case "stream": return new Blob(["streamed"]).stream();
      case "none": return undefined;
      case "response": return new Response("made", { status: 201, headers: { "x-own": "1" } });
    }
  };`,
  "headers.ts": `export default (ctx) => {
    ctx.responseHeaders.set("x-page", "yes");
    ctx.responseHeaders.append("set-cookie", "a=1; Path=/");
    return ctx.redirect("hello.ts?name=again");
  };`,
  "thrown.ts":
    `export default (ctx) => { throw ctx.redirect("/elsewhere", 303); };`,
  "body.ts":
    `export default async (ctx) => "read " + (await ctx.request.text()).length;`,
  "_gate.ts": `let open; export const gate = new Promise((r) => { open = r; });
    export function release() { open(); }`,
  "slow.ts":
    `import { gate } from "./_gate.ts"; export default async () => { await gate; return "slow done"; };`,
  "release.ts":
    `import { release } from "./_gate.ts"; export default () => { release(); return "released"; };`,
  "stray.ts": `export default () => {
    setTimeout(() => { throw new Error("thrown in a timer"); }, 0);
    Promise.reject(new Error("nobody awaited this"));
    return "returned fine";
  };`,
  "write.ts": `export default async () => {
    await Deno.writeTextFile("/tmp/scriptserver-denied.txt", "x");
    return "wrote";
  };`,
  "meta.ts": "export default () => import.meta.url;",
  "data.txt": "plain data",
  "source-link.txt": { symlink: "hello.ts" },
};

function json(response: Response) {
  return response.json() as Promise<Record<string, Record<string, unknown>>>;
}

async function withServer(
  args: string[],
  run: (server: RunningServer, url: (path: string) => string) => Promise<void>,
) {
  await using dir = await tempTree({
    ...Object.fromEntries(
      Object.entries(PAGES).map(([path, content]) => [`site/${path}`, content]),
    ),
    "outside/secret.ts": `export default () => "outside";`,
  });
  const server = await spawnServer({ root: join(dir.path, "site"), args });
  try {
    await run(server, (path) => new URL(path, server.url).href);
  } finally {
    assertEquals((await server.stop()).code, 0, server.stderr.text);
  }
}

async function text(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text(), response };
}

/** The development-mode server's limits, low enough to test. */
const LIMITS = ["--max-body", "64k", "--max-fields", "3"];

Deno.test("page modules answer requests (development mode)", async (t) => {
  // One isolate: slow.ts and release.ts share _gate.ts's state, and each
  // isolate has its own (a second starts when the first is slow to answer,
  // as on a busy machine).
  await withServer([...LIMITS, "--isolates", "1"], async (server, url) => {
    await t.step("a .ts page answers with its default export", async () => {
      const { status, body, response } = await text(
        url("/hello.ts?name=world"),
      );
      assertEquals(status, 200);
      assertEquals(body, "Hello world !");
      assertEquals(
        response.headers.get("content-type"),
        "text/html; charset=utf-8",
      );
    });

    await t.step(
      "HEAD of a page or template declares the length a GET gets, or none when streamed",
      async () => {
        await assertHeadLikeGet(server.port, "/hello.ts?name=w%C3%B6rld");
        await assertHeadLikeGet(server.port, "/greet.tpl?name=<b>");
        // A stream's length is known only by sending it: none is declared.
        const streamed = await rawHead(server.port, "/returns.ts?kind=stream");
        assertEquals(streamed.status, 200);
        assertEquals(streamed.headers.get("content-length"), null);
        assertEquals(streamed.body, "");
      },
    );

    await t.step(".js, .mjs and .mts files are pages too", async () => {
      assertEquals((await text(url("/plain.js"))).body, "from js");
      assertEquals((await text(url("/module.mjs"))).body, "from mjs");
      assertEquals((await text(url("/typed.mts"))).body, "from mts");
    });

    await t.step(
      "the source is never served, however it is asked for",
      async () => {
        const attempts: [string, RequestInit?][] = [
          ["/hello.ts?name=x"],
          ["/hello.ts/?name=x"],
          ["/hello.ts", { method: "HEAD" }],
          ["/hello.ts?name=x", { headers: { range: "bytes=0-20" } }],
          ["/source-link.txt?name=x"],
          ["/HELLO.TS"],
          ["/hello.ts%20"],
          ["/_gate.ts"],
        ];
        for (const [path, init] of attempts) {
          const { body } = await text(url(path), init);
          assert(!body.includes("export default"), `${path} leaked source`);
        }
        assertEquals((await rawGet(server.port, "/hello.ts%00")).status, 400);
        assertEquals((await text(url("/_gate.ts"))).status, 404);
        assertEquals(
          (await text(url("/source-link.txt?name=link"))).body,
          "Hello link !",
        );
        const head = await rawHead(server.port, "/hello.ts");
        assertEquals(head.status, 200);
        assertEquals(head.body, "");
      },
    );

    await t.step(
      "PATH_INFO is the rest of the path below the page",
      async () => {
        const info = await json(await fetch(url("/info.ts/extra/path?x=1")));
        assertEquals(info.env!.SCRIPT_NAME, "/info.ts");
        assertEquals(info.env!.PATH_INFO, "/extra/path");
        assertEquals(info.env!.QUERY_STRING, "x=1");
        const slash = await json(await fetch(url("/info.ts/")));
        assertEquals(slash.env!.PATH_INFO, "/");
        const none = await json(await fetch(url("/info.ts")));
        assertEquals(none.env!.PATH_INFO, "");
        assertEquals((await text(url("/data.txt/extra"))).status, 404);
      },
    );

    await t.step(
      "the context carries query, form, cookies and the CGI environment",
      async () => {
        const info = await json(
          await fetch(url("/info.ts?a=1&__proto__=q"), {
            method: "POST",
            headers: {
              cookie: "sid=abc; __proto__=evil",
              "content-type": "application/x-www-form-urlencoded",
              "x-forwarded-thing": "v",
            },
            body: "user=alice&constructor=c",
          }),
        );
        assertEquals(info.method as unknown, "POST");
        // A literal { __proto__: … } would set a prototype; JSON.parse makes a key.
        assertEquals(info.query, JSON.parse('{"a":"1","__proto__":"q"}'));
        assertEquals(info.form, { user: "alice", constructor: "c" } as never);
        assertEquals(info.cookies!.sid, "abc");
        assertEquals(info.cookies!["__proto__"], "evil");
        const env = info.env!;
        assertEquals(env.REQUEST_METHOD, "POST");
        assertEquals(env.CONTENT_TYPE, "application/x-www-form-urlencoded");
        assertEquals(env.CONTENT_LENGTH, "24");
        assertEquals(env.REMOTE_ADDR, "127.0.0.1");
        assertEquals(env.SERVER_NAME, "127.0.0.1");
        assertEquals(env.SERVER_PORT, String(server.port));
        assertEquals(env.HTTP_X_FORWARDED_THING, "v");
        assertEquals(env.GATEWAY_INTERFACE, "CGI/1.1");
      },
    );

    await t.step("uploaded files arrive as File objects", async () => {
      const form = new FormData();
      form.append("who", "me");
      form.append("files", new File(["abc"], "a.txt", { type: "text/plain" }));
      form.append("files", new File([new Uint8Array(5)], "b.bin"));
      const info = await json(
        await fetch(url("/info.ts"), { method: "POST", body: form }),
      );
      assertEquals(info.form!.who, "me");
      // Object.fromEntries keeps the last of repeated keys.
      assertEquals(info.form!.files, {
        name: "b.bin",
        size: 5,
        type: "application/octet-stream",
      });
    });

    await t.step(
      "index.ts serves its directory, after index.html",
      async () => {
        assertEquals(
          (await text(url("/sub/"))).body,
          "index.ts of /sub/index.ts",
        );
        assertEquals(
          (await text(url("/both/"))).body,
          "<p>index.html wins</p>",
        );
      },
    );

    await t.step("return values become responses", async () => {
      assertEquals(await (await fetch(url("/returns.ts?kind=array"))).json(), [
        1,
        2,
      ]);
      const bytes = await fetch(url("/returns.ts?kind=bytes"));
      assertEquals(
        bytes.headers.get("content-type"),
        "application/octet-stream",
      );
      assertEquals(await bytes.text(), "hi");
      assertEquals(
        (await text(url("/returns.ts?kind=stream"))).body,
        "streamed",
      );
      const none = await text(url("/returns.ts?kind=none"));
      assertEquals([none.status, none.body], [204, ""]);
      const made = await text(url("/returns.ts?kind=response"));
      assertEquals([made.status, made.body], [201, "made"]);
      assertEquals(made.response.headers.get("x-own"), "1");
    });

    await t.step(
      "redirects keep responseHeaders, thrown or returned",
      async () => {
        const returned = await fetch(url("/headers.ts"), {
          redirect: "manual",
        });
        assertEquals(returned.status, 302);
        assertEquals(returned.headers.get("location"), "/hello.ts?name=again");
        assertEquals(returned.headers.get("x-page"), "yes");
        assertEquals(returned.headers.getSetCookie(), ["a=1; Path=/"]);
        await returned.body?.cancel();
        const thrown = await fetch(url("/thrown.ts"), { redirect: "manual" });
        assertEquals(thrown.status, 303);
        assertEquals(thrown.headers.get("location"), "/elsewhere");
        await thrown.body?.cancel();
      },
    );

    await t.step(
      "an unchanged page is imported once; an edited one at its next request",
      async () => {
        const first = (await text(url("/identity.ts"))).body;
        assertEquals((await text(url("/identity.ts"))).body, first);
        const file = await findFile(server, "identity.ts");
        await Deno.writeTextFile(file, `export default () => "v2, edited";`);
        assertEquals(
          await pollBody(url("/identity.ts"), "v2, edited"),
          "v2, edited",
        );
      },
    );

    await t.step(
      "a failing page shows name, message, file, line and source",
      async () => {
        const { status, body } = await text(url("/throws.ts"));
        assertEquals(status, 500);
        assertStringIncludes(body, "<strong>TypeError</strong>");
        assertStringIncludes(body, "bad &lt;script&gt;alert(1)&lt;/script&gt;");
        assertStringIncludes(body, "<code>throws.ts</code>, line 4");
        assertStringIncludes(
          body,
          "<mark>   4 |   throw new TypeError(`bad ${value}`);</mark>",
        );
        assertStringIncludes(body, "throws.ts:4:");
        assert(!body.includes("<script>alert"));
        const id = /error id ([0-9a-f]{8})/.exec(body)?.[1];
        assert(id);
        await server.stderr.waitFor((l) => l.includes(id));
      },
    );

    await t.step(
      "a syntax error, a missing or wrong default export, a bad return: 500",
      async () => {
        const syntax = await text(url("/syntax.ts"));
        assertEquals(syntax.status, 500);
        assertStringIncludes(syntax.body, "<code>syntax.ts</code>, line 2");
        assertStringIncludes(
          syntax.body,
          "<strong>SyntaxError</strong>: Expression expected",
        );
        const missing = await text(url("/nodefault.ts"));
        assertEquals(missing.status, 500);
        assertStringIncludes(
          missing.body,
          "Cannot load page &quot;nodefault.ts&quot;: it has no default export",
        );
        const wrong = await text(url("/notfunction.ts"));
        assertStringIncludes(
          wrong.body,
          "its default export is number, not a function",
        );
        const bad = await text(url("/badreturn.ts"));
        assertEquals(bad.status, 500);
        assertStringIncludes(bad.body, "returned a Map");
      },
    );

    await t.step("a page that failed to load works once fixed", async () => {
      const file = await findFile(server, "syntax.ts");
      await Deno.writeTextFile(file, `export default () => "fixed now";`);
      assertEquals(await pollBody(url("/syntax.ts"), "fixed now"), "fixed now");
    });

    await t.step(
      "a body over --max-body gets 413, declared or counted",
      async () => {
        const declared = await text(url("/body.ts"), {
          method: "POST",
          body: "x".repeat(65 * 1024),
        });
        assertEquals(declared.status, 413);
        assertStringIncludes(declared.body, "64 kiB");
        const chunks = [new Uint8Array(40 * 1024), new Uint8Array(40 * 1024)];
        const counted = await text(url("/body.ts"), {
          method: "POST",
          body: ReadableStream.from(chunks),
        });
        assertEquals(counted.status, 413);
        const within = await text(url("/body.ts"), {
          method: "POST",
          body: "12345",
        });
        assertEquals(within.body, "read 5");
      },
    );

    await t.step(
      "a form over --max-fields gets 413, for pages and templates",
      async () => {
        const post = (path: string, body: string) =>
          text(url(path), {
            method: "POST",
            body,
            headers: { "content-type": "application/x-www-form-urlencoded" },
          });
        assertEquals((await post("/info.ts", "a=1&b=2&c=3")).status, 200);
        assertEquals(
          (await post("/greet.tpl", "name=x&b&c")).body,
          "Hello x !",
        );
        for (const path of ["/info.ts", "/greet.tpl"]) {
          const refused = await post(path, "a=1&b=2&c=3&d=4");
          assertEquals(refused.status, 413, path);
          assertStringIncludes(refused.body, "more fields than the limit of 3");
        }
      },
    );

    await t.step("a malformed form gets 400 with a clear message", async () => {
      const form = new FormData();
      form.append("f", new File(["x".repeat(50)], "f.txt"));
      const encoded = new Response(form);
      const type = encoded.headers.get("content-type")!;
      const bytes = new Uint8Array(await encoded.arrayBuffer());
      const cases: [string, BodyInit, string][] = [
        ["cut", bytes.slice(0, bytes.length - 10), type],
        ["no boundary", bytes, "multipart/form-data"],
        ["wrong boundary", bytes, "multipart/form-data; boundary=nope"],
        ["bad escape", "a=%zz", "application/x-www-form-urlencoded"],
      ];
      for (const [label, body, contentType] of cases) {
        const response = await text(url("/info.ts"), {
          method: "POST",
          body,
          headers: { "content-type": contentType },
        });
        assertEquals(response.status, 400, label);
        assertStringIncludes(response.body, "Cannot parse the form", label);
      }
    });

    await t.step("a slow page does not hold up other requests", async () => {
      const slow = fetch(url("/slow.ts"));
      let settled = false;
      slow.finally(() => settled = true);
      assertEquals(
        (await text(url("/hello.ts?name=fast"))).body,
        "Hello fast !",
      );
      assertEquals(settled, false);
      assertEquals((await text(url("/release.ts"))).body, "released");
      assertEquals(await (await slow).text(), "slow done");
    });

    await t.step(
      "errors after a page returned are logged and the server keeps serving",
      async () => {
        assertEquals((await text(url("/stray.ts"))).body, "returned fine");
        await server.stderr.waitFor((l) => l.includes("thrown in a timer"));
        await server.stderr.waitFor((l) => l.includes("nobody awaited this"));
        assertEquals(
          (await text(url("/hello.ts?name=still"))).body,
          "Hello still !",
        );
      },
    );

    await t.step(
      "a permission the page lacks is named, with its flag",
      async () => {
        const { status, body } = await text(url("/write.ts"));
        assertEquals(status, 500);
        assertStringIncludes(
          body,
          "The page needs write access to <code>/tmp/scriptserver-denied.txt</code>",
        );
        assertStringIncludes(
          body,
          "--allow-write=/tmp/scriptserver-denied.txt",
        );
      },
    );

    await t.step(
      "a page is imported by its absolute real path, first without a query",
      async () => {
        const file = await findFile(server, "meta.ts");
        const real = await Deno.realPath(file);
        assertEquals((await text(url("/meta.ts"))).body, `file://${real}`);
        await Deno.writeTextFile(
          file,
          "export default () => import.meta.url + ' (v2)';",
        );
        // A new version runs in a new isolate, under the same URL.
        assertEquals(
          await pollBody(url("/meta.ts"), `file://${real} (v2)`),
          `file://${real} (v2)`,
        );
      },
    );

    await t.step("pages outside ROOT cannot be reached", async () => {
      for (
        const path of ["/../outside/secret.ts", "/%2e%2e/outside/secret.ts"]
      ) {
        const response = await rawGet(server.port, path);
        assertEquals(response.status, 404, path);
        assert(!response.body.includes("outside"));
      }
    });
  });
});

Deno.test("page errors in production show only an error id, also logged", async () => {
  await withServer(["--prod"], async (server, url) => {
    for (
      const page of ["/throws.ts", "/syntax.ts", "/nodefault.ts", "/write.ts"]
    ) {
      const { status, body } = await text(url(page));
      assertEquals(status, 500, page);
      for (
        const secret of [
          "TypeError",
          "line",
          "alert",
          "export",
          "/tmp",
          "ss_",
          ".ts",
        ]
      ) {
        assert(!body.includes(secret), `${page} shows "${secret}"`);
      }
      const id = /error id ([0-9a-f]{8})/.exec(body)?.[1];
      assertMatch(id ?? "", /^[0-9a-f]{8}$/);
      await server.stderr.waitFor((l) => l.includes(`error ${id}`));
    }
    const raw = await rawRequest(
      server.port,
      "GET /throws.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assertEquals(raw.status, 500);
  });
});

/** The served path of a fixture file, from the server's startup line. */
async function findFile(server: RunningServer, name: string): Promise<string> {
  const line = await server.stdout.waitFor((l) => l.includes("serving "));
  const root = line.slice(
    line.indexOf("serving ") + 8,
    line.indexOf(" at http"),
  );
  return join(root, name);
}

/** Polls (bounded by a second, as a person would wait) for a body. */
async function pollBody(url: string, expected: string): Promise<string> {
  const deadline = Date.now() + 1000;
  let body = "";
  do {
    body = await (await fetch(url)).text();
    if (body === expected) return body;
  } while (Date.now() < deadline);
  return body;
}
