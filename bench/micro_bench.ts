/**
 * Micro-benchmarks of the pure parts on the hot path (`deno bench`):
 * path resolution, template rendering, context building.
 */
import { decodeUrlPath, splitRequestUrl } from "../lib/url_path.ts";
import { parseTemplate, renderTemplate } from "../lib/templates/template.ts";
import { createContext } from "../lib/pages/page_context.ts";
import { newSession } from "../lib/sessions/session.ts";
import { createMemorySessionStore } from "../lib/sessions/session_store.ts";
import type { Target } from "../lib/types.ts";

const URL_STRING =
  "http://127.0.0.1:8000/shop/items/hello.ts?name=world&page=2";

Deno.bench("splitRequestUrl(): path and query from the raw URL", {
  group: "path",
}, () => {
  splitRequestUrl(URL_STRING);
});

Deno.bench(
  "decodeUrlPath(): a plain path",
  { group: "path", baseline: true },
  () => {
    decodeUrlPath("/shop/items/hello.ts");
  },
);

Deno.bench("decodeUrlPath(): an escaped path", { group: "path" }, () => {
  decodeUrlPath("/shop/caf%C3%A9/menu%20du%20jour.html");
});

Deno.bench("new URLSearchParams(): a query string", { group: "path" }, () => {
  new URLSearchParams("?name=world&page=2");
});

const TEMPLATE = parseTemplate(
  "<h1>Hello $name !</h1>\n<p>${greeting}, you have $count new messages. $$5 off today.</p>",
  "bench.tpl",
);
const VALUES = new Map<string, unknown>([
  ["name", "world"],
  ["greeting", "Welcome back"],
  ["count", 3],
]);
const HOSTILE = new Map<string, unknown>([
  ["name", `<script>alert("x")</script>`],
  ["greeting", "Tom & Jerry's"],
  ["count", 3],
]);

Deno.bench("renderTemplate(): plain values", {
  group: "template",
  baseline: true,
}, () => {
  renderTemplate(TEMPLATE, VALUES);
});

Deno.bench(
  "renderTemplate(): values that need escaping",
  { group: "template" },
  () => {
    renderTemplate(TEMPLATE, HOSTILE);
  },
);

Deno.bench("parseTemplate(): a short template", { group: "template" }, () => {
  parseTemplate("<h1>Hello $name !</h1><p>${greeting}</p>", "t.tpl");
});

const request = new Request(URL_STRING, {
  headers: { host: "127.0.0.1:8000" },
});
const target: Target = {
  file: {
    path: "/site/shop/items/hello.ts",
    isDirectory: false,
    size: 100,
    mtime: null,
  },
  url: new URL(URL_STRING),
  query: new URLSearchParams("?name=world&page=2"),
  scriptName: "/shop/items/hello.ts",
  pathInfo: "",
  connection: undefined,
};
const store = createMemorySessionStore();

/** A context as a page gets it, with services that are made on first use. */
function newContext() {
  return createContext(request, target, {
    form: () => new FormData(),
    responseHeaders: () => new Headers(),
    session: () =>
      newSession({ store, responseHeaders: new Headers(), secure: false }),
    render: () => Promise.resolve(new Response("")),
  });
}

Deno.bench("createContext(): build, read the query", {
  group: "context",
  baseline: true,
}, () => {
  newContext().query.get("name");
});

Deno.bench("createContext(): build, read the CGI env", {
  group: "context",
}, () => {
  void newContext().env.QUERY_STRING;
});
