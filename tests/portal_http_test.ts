/**
 * The bundled example site's portal over real HTTP, under exactly
 * `--no-prompt --allow-net=127.0.0.1:PORT --allow-read=scripts`.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
} from "./_assert.ts";
import { join } from "@std/path";
import {
  postLogin,
  rawRequest,
  REPO,
  sessionCookieOf,
  spawnServer,
} from "./_helpers.ts";

const SCRIPTS = join(REPO, "scripts");

Deno.test("the portal logs in and out with a safe session cookie", async (t) => {
  const server = await spawnServer({ root: SCRIPTS });
  const url = (path: string) => new URL(path, server.url).href;
  const get = async (path: string, cookie?: string) => {
    const response = await fetch(url(path), {
      headers: cookie ? { cookie } : {},
      redirect: "manual",
    });
    return { response, body: await response.text() };
  };
  const login = (user: string, cookie?: string) =>
    postLogin(server.url, user, cookie ? { cookie } : {});

  try {
    await t.step("a visitor sees a Login link and gets no cookie", async () => {
      const { response, body } = await get("/");
      assertStringIncludes(body, '<a href="login.html">Login</a>');
      assertEquals(response.headers.getSetCookie(), []);
      assertStringIncludes((await get("/login.html")).body, 'name="user"');
    });

    await t.step("hello.tpl answers Hello world !", async () => {
      assertEquals((await get("/hello.tpl?name=world")).body, "Hello world !");
    });

    await t.step("the example pages escape what they echo", async () => {
      assertEquals((await get("/hello.ts?name=world")).body, "Hello world !");
      assertEquals(
        (await get(`/hello.ts?name=${encodeURIComponent(`<i>'a'&"b"`)}`)).body,
        "Hello &lt;i&gt;&#39;a&#39;&amp;&quot;b&quot; !",
      );
      const inspected = (await get("/inspect.ts?x=<script>")).body;
      assertStringIncludes(inspected, "<td>&lt;script&gt;</td>");
      assert(!inspected.includes("<script>"));
    });

    let alice = "";
    await t.step(
      "logging in sets an HttpOnly, SameSite=Lax, Path=/ session cookie",
      async () => {
        const response = await login("alice");
        assertEquals(response.status, 303);
        assertEquals(response.headers.get("location"), "/");
        const [cookie] = response.headers.getSetCookie();
        assertMatch(
          cookie!,
          /^sessionId=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Lax; Path=\/$/,
        );
        alice = sessionCookieOf(response)!;
      },
    );

    await t.step("the home page shows the user and a Logout link", async () => {
      const { body } = await get("/", alice);
      assertStringIncludes(body, "User : alice<br>");
      assertStringIncludes(body, '<a href="logout.ts">Logout</a>');
    });

    await t.step("a user name is escaped on the page", async () => {
      const cookie = sessionCookieOf(
        await login(`<img src=x onerror=alert(1)>`),
      )!;
      const { body } = await get("/", cookie);
      assertStringIncludes(body, "User : &lt;img src=x onerror=alert(1)&gt;");
      assert(!body.includes("<img src=x"));
    });

    await t.step(
      "logging in again moves the session to a new id (no fixation)",
      async () => {
        const response = await login("bob", alice);
        const bob = sessionCookieOf(response)!;
        assertNotEquals(bob, alice);
        assertStringIncludes((await get("/", bob)).body, "User : bob");
        assertStringIncludes((await get("/", alice)).body, "Login</a>");
        alice = bob;
      },
    );

    await t.step("an id the server never issued is never adopted", async () => {
      const planted = `sessionId=${"A".repeat(43)}`;
      const response = await login("carol", planted);
      assertNotEquals(sessionCookieOf(response), planted);
      assertStringIncludes((await get("/", planted)).body, "Login</a>");
    });

    await t.step("odd cookies are ignored, never a crash", async () => {
      for (
        const cookie of [
          "sessionId=__proto__",
          "sessionId=constructor",
          "sessionId=%E0%A4%A",
          "sessionId=; sessionId=",
          "=; ;;; sessionId",
          `sessionId=${"x".repeat(5000)}`,
        ]
      ) {
        const { response, body } = await get("/", cookie);
        assertEquals(response.status, 200, cookie);
        assertStringIncludes(body, "Login</a>", cookie);
      }
      const duplicate = await get("/", `sessionId=junk; ${alice}; sessionId=x`);
      assertStringIncludes(duplicate.body, "User : bob");
    });

    await t.step("logging out removes the user and returns home", async () => {
      const { response } = await get("/logout.ts", alice);
      assertEquals(response.status, 302);
      assertEquals(response.headers.get("location"), "/");
      assertStringIncludes((await get("/", alice)).body, "Login</a>");
    });

    await t.step(
      "a template with a missing value names it, the template and the line",
      async () => {
        const { response, body } = await get("/hello.tpl");
        assertEquals(response.status, 500);
        assertStringIncludes(
          body,
          "Template &quot;hello.tpl&quot; has no value for $name (line 1)",
        );
      },
    );

    await t.step("private templates and helpers are not served", async () => {
      for (const path of ["/_home.tpl", "/_user.tpl"]) {
        const raw = await rawRequest(
          server.port,
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        );
        assertEquals(raw.status, 404, path);
      }
    });
  } finally {
    assertEquals((await server.stop()).code, 0, server.stderr.text);
  }
});

Deno.test("template errors in production show only an error id", async () => {
  const server = await spawnServer({ root: SCRIPTS, args: ["--prod"] });
  try {
    const response = await fetch(new URL("/hello.tpl", server.url));
    const body = await response.text();
    assertEquals(response.status, 500);
    assert(!body.includes("$name") && !body.includes("hello.tpl"), body);
    const id = /error id ([0-9a-f]{8})/.exec(body)?.[1];
    await server.stderr.waitFor((l) => l.includes(`error ${id}`));
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

async function logIn(base: string, user: string): Promise<string> {
  return sessionCookieOf(await postLogin(base, user))!;
}

async function home(base: string, cookie: string): Promise<string> {
  return await (await fetch(base, { headers: { cookie } })).text();
}

Deno.test("--max-sessions evicts the least recently used session", async () => {
  const server = await spawnServer({
    root: SCRIPTS,
    args: ["--max-sessions", "2", "--quiet"],
  });
  try {
    const alice = await logIn(server.url, "alice");
    const bob = await logIn(server.url, "bob");
    assertStringIncludes(await home(server.url, alice), "User : alice");
    const carol = await logIn(server.url, "carol");
    // bob was used least recently: he goes, alice and carol stay.
    assertStringIncludes(await home(server.url, bob), "Login</a>");
    assertStringIncludes(await home(server.url, alice), "User : alice");
    assertStringIncludes(await home(server.url, carol), "User : carol");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("--session-ttl forgets a session left idle", async () => {
  const server = await spawnServer({
    root: SCRIPTS,
    args: ["--session-ttl", "0.2s", "--quiet"],
  });
  try {
    const alice = await logIn(server.url, "alice");
    assertStringIncludes(await home(server.url, alice), "User : alice");
    // Each request renews the idle timer, so the session is left alone for
    // longer than the TTL (this waits for time itself, not for readiness).
    await new Promise((resolve) => setTimeout(resolve, 600));
    const page = await home(server.url, alice);
    assertStringIncludes(page, "Login</a>");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});
