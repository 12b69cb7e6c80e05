import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { createHandler } from "../lib/mod.ts";
import { resolveTemplatePath } from "../lib/templates/template_handler.ts";
import { eventually, tempTree } from "./_helpers.ts";

Deno.test("resolveTemplatePath() resolves like a URL and refuses to leave the root", () => {
  assertEquals(resolveTemplatePath("shop/cart.ts", "row.tpl"), [
    "shop",
    "row.tpl",
  ]);
  assertEquals(resolveTemplatePath("shop/cart.ts", "../a/b.tpl"), [
    "a",
    "b.tpl",
  ]);
  assertEquals(resolveTemplatePath("shop/cart.ts", "/top.tpl"), ["top.tpl"]);
  assertEquals(resolveTemplatePath("cart.ts", "./x//y.tpl"), ["x", "y.tpl"]);
  assertEquals(resolveTemplatePath("cart.ts", "../x.tpl"), undefined);
  assertEquals(resolveTemplatePath("a/b.ts", "../../x.tpl"), undefined);
});

async function site() {
  return await tempTree({
    "hello.tpl": "Hello $name !",
    "form.tpl": "$who says $what",
    "bad.tpl": "line one\nline $ two",
    "missing.tpl": "a\nb\n$nothing here",
    "dir/index.tpl": "index of $x",
    "shop/cart.ts": `export default (ctx) =>
      ctx.render("_row.tpl", { item: ctx.query.get("item"), price: ctx.html("<b>5</b>") });`,
    "shop/_row.tpl": "<li>$item: $price</li>",
    "shop/top.ts":
      `export default (ctx) => ctx.render("/hello.tpl", { name: "top" });`,
    "shop/escape.ts":
      `export default (ctx) => ctx.render("../../outside.tpl", {});`,
    "shop/none.ts": `export default (ctx) => ctx.render("nope.tpl", {});`,
    "shop/nested.ts": `export default async (ctx) => {
      const row = await (await ctx.render("_row.tpl", { item: "<x>", price: 1 })).text();
      return ctx.render("/list.tpl", { rows: ctx.html(row) });
    };`,
    "list.tpl": "<ul>$rows</ul>",
  });
}

async function fetchText(
  handle: (r: Request) => Promise<Response>,
  path: string,
  init?: RequestInit,
) {
  const response = await handle(new Request(`http://x${path}`, init));
  return { status: response.status, body: await response.text(), response };
}

Deno.test("a .tpl file is filled from the query and served as HTML", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const { status, body, response } = await fetchText(
    handle,
    "/hello.tpl?name=world&name=second",
  );
  assertEquals([status, body], [200, "Hello world !"]);
  assertEquals(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  const evil = await fetchText(handle, "/hello.tpl?name=%3Cscript%3E$%27");
  assertEquals(evil.body, "Hello &lt;script&gt;$&#39; !");
});

Deno.test("a POSTed form fills a template, fields over query parameters", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const { body } = await fetchText(handle, "/form.tpl?who=query&what=q", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "what=form&what=second",
  });
  assertEquals(body, "query says form");
});

Deno.test("a template answers 405 to methods other than GET, HEAD, POST", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const { status, response } = await fetchText(handle, "/hello.tpl", {
    method: "PUT",
    body: "x",
  });
  assertEquals(status, 405);
  assertEquals(response.headers.get("allow"), "GET, HEAD, POST");
});

Deno.test("index.tpl serves its directory", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  assertEquals((await fetchText(handle, "/dir/?x=1")).body, "index of 1");
});

Deno.test("a template's source is never served, however it is asked for", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const asks: [string, RequestInit?][] = [
    ["/hello.tpl?name=x", { headers: { range: "bytes=0-5" } }],
    ["/hello.tpl?name=x", { method: "HEAD" }],
    ["/hello.tpl/?name=x"],
    ["/HELLO.TPL?name=x"],
    ["/shop/_row.tpl?item=x&price=1"],
  ];
  for (const [path, init] of asks) {
    const { status, body } = await fetchText(handle, path, init);
    assert(!body.includes("$"), `${path}: ${status} ${body}`);
    assert(status !== 206, path);
  }
  assertEquals(
    (await fetchText(handle, "/hello.tpl?name=x", {
      headers: { range: "bytes=0-5" },
    })).body,
    "Hello x !",
  );
  assertEquals((await fetchText(handle, "/shop/_row.tpl")).status, 404);
});

Deno.test("template errors name the placeholder, the template and the line; --prod hides them", async () => {
  await using dir = await site();
  using dev = createHandler({ root: dir.path, onError: () => {} });
  const missing = await fetchText(dev, "/missing.tpl");
  assertEquals(missing.status, 500);
  assertStringIncludes(
    missing.body,
    "Template &quot;missing.tpl&quot; has no value for $nothing (line 3)",
  );
  assertStringIncludes(missing.body, "<code>missing.tpl</code>, line 3");
  assertStringIncludes(missing.body, "<mark>   3 | $nothing here</mark>");
  const bad = await fetchText(dev, "/bad.tpl");
  assertEquals(bad.status, 500);
  assertStringIncludes(bad.body, "line 2, column 6");
  const ids: string[] = [];
  using prod = createHandler({
    root: dir.path,
    prod: true,
    onError: (_, id) => ids.push(id),
  });
  for (const path of ["/missing.tpl", "/bad.tpl"]) {
    const { status, body } = await fetchText(prod, path);
    assertEquals(status, 500);
    assert(!body.includes("nothing") && !body.includes("line"), body);
    assertStringIncludes(body, `error id ${ids.at(-1)}`);
  }
});

Deno.test("a template is parsed again when its file changes", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  assertEquals(
    (await fetchText(handle, "/hello.tpl?name=a")).body,
    "Hello a !",
  );
  await Deno.writeTextFile(join(dir.path, "hello.tpl"), "Bye $name.");
  const after = await eventually(
    () => fetchText(handle, "/hello.tpl?name=a"),
    (r) => r.body === "Bye a.",
  );
  assertEquals(after.body, "Bye a.");
});

Deno.test("ctx.render() renders relative to the page, escaping all but ctx.html()", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path });
  const cart = await fetchText(handle, "/shop/cart.ts?item=%3Ci%3Ebook");
  assertEquals(cart.body, "<li>&lt;i&gt;book: <b>5</b></li>");
  assertEquals(
    cart.response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assertEquals((await fetchText(handle, "/shop/top.ts")).body, "Hello top !");
  assertEquals(
    (await fetchText(handle, "/shop/nested.ts")).body,
    "<ul><li>&lt;x&gt;: 1</li></ul>",
  );
});

Deno.test("ctx.render() refuses templates outside the root or missing", async () => {
  await using dir = await site();
  using handle = createHandler({ root: dir.path, onError: () => {} });
  const outside = await fetchText(handle, "/shop/escape.ts");
  assertEquals(outside.status, 500);
  assertStringIncludes(outside.body, "it is outside the root");
  const none = await fetchText(handle, "/shop/none.ts");
  assertStringIncludes(none.body, "there is no such template");
});
