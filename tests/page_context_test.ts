import { assert, assertEquals } from "./_assert.ts";
import {
  cgiEnv,
  type ContextServices,
  createContext,
  parseCookies,
} from "../lib/pages/page_context.ts";
import type { Target } from "../lib/types.ts";
import { newSession } from "../lib/sessions/session.ts";
import { createMemorySessionStore } from "../lib/sessions/session_store.ts";

function services(request: Request, form = new FormData()): ContextServices {
  const responseHeaders = new Headers();
  const session = newSession({
    store: createMemorySessionStore(),
    responseHeaders,
    secure: false,
  });
  void request;
  return {
    form: () => form,
    responseHeaders: () => responseHeaders,
    session: () => session,
    render: () => Promise.resolve(new Response("rendered")),
  };
}

function target(url: string, overrides: Partial<Target> = {}): Target {
  return {
    file: { path: "/site/app.ts", isDirectory: false, size: 1, mtime: null },
    url: new URL(url),
    query: new URL(url).searchParams,
    scriptName: "/app.ts",
    pathInfo: "",
    connection: {
      remoteAddr: { transport: "tcp", hostname: "10.1.2.3", port: 5555 },
    },
    ...overrides,
  };
}

Deno.test("createContext() gives the request, URL, method, query, form and headers", () => {
  const request = new Request("http://example.com:8080/app.ts?a=1&a=2&b=x", {
    method: "POST",
    headers: { "x-test": "yes" },
  });
  const form = new FormData();
  form.append("f", "v");
  const ctx = createContext(
    request,
    target(request.url),
    services(request, form),
  );
  assertEquals(ctx.request, request);
  assertEquals(ctx.url.href, "http://example.com:8080/app.ts?a=1&a=2&b=x");
  assertEquals(ctx.method, "POST");
  assertEquals(ctx.query.getAll("a"), ["1", "2"]);
  assertEquals(ctx.form.get("f"), "v");
  assertEquals(ctx.headers.get("x-test"), "yes");
  assertEquals([...ctx.responseHeaders], []);
});

Deno.test("createContext() redirect() returns a Response with mutable headers", () => {
  const request = new Request("http://example.com/shop/login.ts");
  const ctx = createContext(request, target(request.url), services(request));
  const response = ctx.redirect("home.ts");
  assertEquals(response.status, 302);
  assertEquals(response.headers.get("location"), "/shop/home.ts");
  response.headers.set("x-after", "ok");
  assertEquals(ctx.redirect("/", 303).status, 303);
});

Deno.test("parseCookies() reads every cookie into a null-prototype record", () => {
  const cookies = parseCookies(
    new Headers({ cookie: "a=1; __proto__=evil; constructor=c; b=x=y" }),
  );
  assertEquals(Object.getPrototypeOf(cookies), null);
  assertEquals(cookies.a, "1");
  assertEquals(cookies["__proto__"], "evil");
  assertEquals(cookies["constructor"] as unknown, "c");
  assertEquals(cookies.b, "x=y");
  assertEquals(Object.keys(parseCookies(new Headers())), []);
});

Deno.test("parseCookies() skips malformed pairs instead of failing", () => {
  const cookies = parseCookies(new Headers({ cookie: "=bad; ok=1; ;  =x" }));
  assertEquals(cookies.ok, "1");
  assertEquals(Object.keys(cookies).includes(""), false);
});

Deno.test("cgiEnv() sets the CGI/1.1 meta-variables", () => {
  const request = new Request("http://example.com:8080/app.ts/x/y?q=1&r=%20", {
    method: "POST",
    body: "a=1",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "content-length": "3",
      "accept-language": "fr",
      "x-custom-header": "v",
    },
  });
  const env = cgiEnv(
    request,
    target(request.url, { pathInfo: "/x/y", scriptName: "/app.ts" }),
  );
  assertEquals(Object.getPrototypeOf(env), null);
  assertEquals(env.REQUEST_METHOD, "POST");
  assertEquals(env.QUERY_STRING, "q=1&r=%20");
  assertEquals(env.SCRIPT_NAME, "/app.ts");
  assertEquals(env.PATH_INFO, "/x/y");
  assertEquals(env.CONTENT_TYPE, "application/x-www-form-urlencoded");
  assertEquals(env.CONTENT_LENGTH, "3");
  assertEquals(env.REMOTE_ADDR, "10.1.2.3");
  assertEquals(env.SERVER_NAME, "example.com");
  assertEquals(env.SERVER_PORT, "8080");
  assertEquals(env.SERVER_PROTOCOL, "HTTP/1.1");
  assertEquals(env.GATEWAY_INTERFACE, "CGI/1.1");
  assert(env.SERVER_SOFTWARE!.startsWith("scriptserver"));
  assertEquals(env.HTTP_ACCEPT_LANGUAGE, "fr");
  assertEquals(env.HTTP_X_CUSTOM_HEADER, "v");
  assertEquals(env.HTTP_CONTENT_TYPE, undefined);
});

Deno.test("cgiEnv() defaults the port by scheme and drops the Proxy header (httpoxy)", () => {
  const request = new Request("https://example.com/app.ts", {
    headers: { proxy: "http://evil:8080" },
  });
  const env = cgiEnv(
    request,
    target(request.url, { connection: undefined }),
  );
  assertEquals(env.SERVER_PORT, "443");
  assertEquals(env.HTTP_PROXY, undefined);
  assertEquals(env.REMOTE_ADDR, "");
  assertEquals(env.CONTENT_TYPE, undefined);
  assertEquals(env.PATH_INFO, "");
});

Deno.test("createContext() computes cookies and env once, on first use", () => {
  const request = new Request("http://h/app.ts", {
    headers: { cookie: "a=1" },
  });
  const ctx = createContext(request, target(request.url), services(request));
  assertEquals(ctx.cookies, ctx.cookies);
  assert(ctx.env === ctx.env);
  assertEquals(ctx.cookies.a, "1");
});

Deno.test("createContext() escape() makes text safe in HTML text and quoted attributes", () => {
  const request = new Request("http://h/page.ts");
  const ctx = createContext(request, target(request.url), services(request));
  assertEquals(
    ctx.escape(`<a href="x" title='y'>&</a>`),
    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
  );
});

Deno.test("createContext() methods work when destructured", async () => {
  const request = new Request("http://example.com/a/page.ts?x=1");
  const ctx = createContext(request, target(request.url), services(request));
  const { redirect, html, escape, render, query, url } = ctx;
  assertEquals(redirect("b.html").headers.get("location"), "/a/b.html");
  assertEquals(html("<b>").html, "<b>");
  assertEquals(escape("plain"), "plain");
  assertEquals(await (await render("x.tpl")).text(), "rendered");
  assertEquals(query.get("x"), "1");
  assertEquals(url.pathname, "/a/page.ts");
});
