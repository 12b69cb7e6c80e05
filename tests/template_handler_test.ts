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

async function includeSite() {
  return await tempTree({
    "page.tpl": "${> _head.tpl}<p>$text</p>${> parts/_foot.tpl}",
    "_head.tpl": "<title>$title</title>",
    "parts/_foot.tpl": "<footer>${> ../_sig.tpl}</footer>",
    "_sig.tpl": "by $who",
    "loop.tpl": "${> _a.tpl}",
    "_a.tpl": "a ${> _b.tpl}",
    "_b.tpl": "b ${> _a.tpl}",
    "self.tpl": "me ${> self.tpl}",
    "deep.tpl": "${> _d1.tpl}",
    ...Object.fromEntries(
      Array.from({ length: 11 }, (_, i) => [
        `_d${i + 1}.tpl`,
        i + 1 === 11 ? "bottom" : `${i + 1} \${> _d${i + 2}.tpl}`,
      ]),
    ),
    "nine.tpl": "${> _d2.tpl}",
    "gone.tpl": "x\n${> _nothing.tpl}",
    "out.tpl": "${> ../../etc/passwd}",
    "_layout.tpl": "<main>$body</main><i>$title</i>",
    "post.ts": `export default (ctx) =>
      ctx.render("_post.tpl", { title: ctx.query.get("t") }, { layout: "_layout.tpl" });`,
    "_post.tpl": "<h1>$title</h1>",
    "layout_query.ts": `export default (ctx) =>
      ctx.render("_post.tpl", ctx.query, { layout: "/_layout.tpl" });`,
    "no_layout.ts": `export default (ctx) =>
      ctx.render("_post.tpl", { title: 1 }, { layout: "_missing.tpl" });`,
  });
}

Deno.test("${> path} includes a template relative to the including one, with the same values", async () => {
  await using dir = await includeSite();
  using handle = createHandler({ root: dir.path });
  const { status, body } = await fetchText(
    handle,
    "/page.tpl?title=%3CT%3E&text=hi&who=me",
  );
  assertEquals(status, 200);
  assertEquals(
    body,
    "<title>&lt;T&gt;</title><p>hi</p><footer>by me</footer>",
  );
  // Ten includes deep is allowed.
  assertEquals(
    (await fetchText(handle, "/nine.tpl")).body,
    "2 3 4 5 6 7 8 9 10 bottom",
  );
});

Deno.test("includes that go round in a cycle, nest deeper than 10 or miss are refused, naming the chain", async () => {
  await using dir = await includeSite();
  using handle = createHandler({ root: dir.path, onError: () => {} });
  const loop = await fetchText(handle, "/loop.tpl");
  assertEquals(loop.status, 500);
  assertStringIncludes(
    loop.body,
    "cycle: &quot;loop.tpl&quot; → &quot;_a.tpl&quot; → &quot;_b.tpl&quot; → &quot;_a.tpl&quot;",
  );
  assertStringIncludes(loop.body, "<code>_b.tpl</code>, line 1");
  const self = await fetchText(handle, "/self.tpl");
  assertStringIncludes(
    self.body,
    "cycle: &quot;self.tpl&quot; → &quot;self.tpl&quot;",
  );
  const deep = await fetchText(handle, "/deep.tpl");
  assertEquals(deep.status, 500);
  assertStringIncludes(deep.body, "includes nest deeper than 10");
  assertStringIncludes(
    deep.body,
    "&quot;_d10.tpl&quot; → &quot;_d11.tpl&quot;",
  );
  const gone = await fetchText(handle, "/gone.tpl");
  assertStringIncludes(
    gone.body,
    "Cannot include &quot;_nothing.tpl&quot; in template &quot;gone.tpl&quot; (line 2): there is no such template",
  );
  assertStringIncludes(gone.body, "<mark>   2 | ${&gt; _nothing.tpl}</mark>");
  const out = await fetchText(handle, "/out.tpl");
  assertStringIncludes(out.body, "it is outside the root");
  // An included template's source is never served: it stays private.
  assertEquals((await fetchText(handle, "/_head.tpl")).status, 404);
});

Deno.test("an edit to an included template shows on the next request", async () => {
  await using dir = await includeSite();
  using handle = createHandler({ root: dir.path });
  const path = "/page.tpl?title=t&text=x&who=w";
  assertStringIncludes((await fetchText(handle, path)).body, "by w");
  await Deno.writeTextFile(join(dir.path, "_sig.tpl"), "signed $who");
  const after = await eventually(
    () => fetchText(handle, path),
    (r) => r.body.includes("signed w"),
  );
  assertStringIncludes(after.body, "<footer>signed w</footer>");
});

Deno.test("ctx.render() with a layout puts the template into it as $body", async () => {
  await using dir = await includeSite();
  for (const pages of ["isolates", "in-process"] as const) {
    using handle = createHandler({ root: dir.path, pages, onError: () => {} });
    const post = await fetchText(handle, "/post.ts?t=%3Cb%3E");
    assertEquals(post.status, 200, pages);
    assertEquals(
      post.body,
      "<main><h1>&lt;b&gt;</h1></main><i>&lt;b&gt;</i>",
    );
    assertEquals(
      post.response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    // Query parameters as values, the layout from the root.
    assertEquals(
      (await fetchText(handle, "/layout_query.ts?title=q")).body,
      "<main><h1>q</h1></main><i>q</i>",
    );
    const missing = await fetchText(handle, "/no_layout.ts");
    assertEquals(missing.status, 500);
    assertStringIncludes(
      missing.body,
      "Cannot render &quot;_missing.tpl&quot; from &quot;no_layout.ts&quot;",
    );
    await handle.shutdown(0);
  }
});
