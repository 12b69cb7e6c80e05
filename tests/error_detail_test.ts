import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import {
  findErrorLocation,
  missingPermission,
  renderErrorDetail,
  shortenStack,
  sourceExcerpt,
} from "../lib/error_detail.ts";
import { PageError } from "../lib/pages/page_error.ts";

const ROOT = "/srv/site";

function errorWithStack(message: string, stack: string): Error {
  const error = new Error(message);
  error.stack = stack;
  return error;
}

Deno.test("findErrorLocation() takes the first stack frame inside the root", () => {
  const error = errorWithStack(
    "boom",
    [
      "Error: boom",
      "    at helper (file:///usr/lib/other.ts:1:1)",
      "    at Module.default (file:///srv/site/shop/cart.ts?v=17-20:12:9)",
      "    at file:///srv/site/_lib.ts:3:3",
    ].join("\n"),
  );
  assertEquals(findErrorLocation(error, ROOT), {
    path: "/srv/site/shop/cart.ts",
    line: 12,
    column: 9,
  });
  assertEquals(findErrorLocation("not an error", ROOT), undefined);
  assertEquals(
    findErrorLocation(
      errorWithStack("x", "at file:///srv/site2/a.ts:1:1"),
      ROOT,
    ),
    undefined,
  );
});

Deno.test("findErrorLocation() reads a syntax error's position from its message", () => {
  const error = new TypeError(
    'SyntaxError: Expression expected\n  |\n2 |   return "a" +;\n    at file:///srv/site/bad.ts?v=1-2:2:15',
  );
  error.stack =
    "TypeError: SyntaxError\n    at async file:///elsewhere/x.ts:6:17";
  assertEquals(findErrorLocation(error, ROOT)?.line, 2);
});

Deno.test("sourceExcerpt() shows the lines around the failing one", () => {
  const source = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight";
  const excerpt = sourceExcerpt(source, 4, 2);
  assertEquals(excerpt.map((l) => l.number), [2, 3, 4, 5, 6]);
  assertEquals(excerpt.filter((l) => l.current).map((l) => l.text), ["four"]);
  assertEquals(sourceExcerpt(source, 1, 2).map((l) => l.number), [1, 2, 3]);
  assertEquals(sourceExcerpt(source, 8, 2).map((l) => l.number), [6, 7, 8]);
});

Deno.test("shortenStack() makes paths relative to the root and drops versions", () => {
  assertEquals(
    shortenStack(
      "at f (file:///srv/site/a/b.ts?v=1-2:3:4)\nat file:///usr/x.ts:1:1",
      ROOT,
    ),
    "at f (a/b.ts:3:4)\nat file:///usr/x.ts:1:1",
  );
});

Deno.test("renderErrorDetail() shows name, message, file, line, marked source and stack, escaped", async () => {
  const cause = errorWithStack(
    "bad <input> & more",
    "TypeError: bad\n    at Module.default (file:///srv/site/page.ts?v=1-1:3:9)",
  );
  cause.name = "TypeError";
  const html = await renderErrorDetail(
    new PageError("page.ts", 'Page "page.ts" failed', cause),
    ROOT,
    () =>
      Promise.resolve(
        'export default () => {\n  const x = "<b>";\n  throw new TypeError(x);\n};',
      ),
  );
  assertStringIncludes(
    html,
    "<strong>TypeError</strong>: bad &lt;input&gt; &amp; more",
  );
  assertStringIncludes(html, "<code>page.ts</code>, line 3");
  assertStringIncludes(html, "<mark>   3 |   throw new TypeError(x);</mark>");
  assertStringIncludes(html, "const x = &quot;&lt;b&gt;&quot;;");
  assertStringIncludes(html, "page.ts:3:9");
  assert(!html.includes("<input>"));
  assert(!html.includes("<b>"));
});

Deno.test("renderErrorDetail() names the page when the error has no location", async () => {
  const html = await renderErrorDetail(
    new PageError("a.ts", "x", new TypeError("it has no default export")),
    ROOT,
    () => Promise.reject(new Error("unreadable")),
  );
  assertStringIncludes(html, "<code>a.ts</code>");
  assertStringIncludes(html, "it has no default export");
});

Deno.test("missingPermission() names the permission and the flag that grants it", () => {
  assertEquals(
    missingPermission(
      new Deno.errors.NotCapable(
        'Requires write access to "/tmp/up.bin", run again with the --allow-write flag',
      ),
    ),
    {
      name: "write",
      resource: "/tmp/up.bin",
      flag: "--allow-write=/tmp/up.bin",
    },
  );
  assertEquals(
    missingPermission(
      new Deno.errors.NotCapable(
        "Requires env access, run again with the --allow-env flag",
      ),
    )?.flag,
    "--allow-env",
  );
  assertEquals(
    missingPermission(new Error("Requires write access")),
    undefined,
  );
});

Deno.test("renderErrorDetail() explains a missing permission", async () => {
  const html = await renderErrorDetail(
    new Deno.errors.NotCapable(
      'Requires write access to "/tmp/<x>", run again with the --allow-write flag',
    ),
    ROOT,
    () => Promise.reject(new Error("none")),
  );
  assertStringIncludes(
    html,
    "The page needs write access to <code>/tmp/&lt;x&gt;</code>",
  );
  assertStringIncludes(html, "<code>--allow-write=/tmp/&lt;x&gt;</code>");
});

Deno.test("renderErrorDetail() never suggests write access inside ROOT", async () => {
  const html = await renderErrorDetail(
    new Deno.errors.NotCapable(
      `Requires write access to "${ROOT}/uploads/a.png", run again with the --allow-write flag`,
    ),
    ROOT,
    () => Promise.reject(new Error("none")),
  );
  assertStringIncludes(html, "Pages may not write inside ROOT");
  assertStringIncludes(html, "<code>--allow-write=/srv/uploads</code>");
  assert(!html.includes(`--allow-write=${ROOT}`), html);
});

Deno.test("renderErrorDetail() strips colour codes and finds a load error's place", async () => {
  const error = new TypeError(
    `Module not found "file://${ROOT}/_nope.ts".\n    at \x1b[0m\x1b[36mfile://${ROOT}/page.ts\x1b[0m:\x1b[0m\x1b[33m1\x1b[0m:\x1b[0m\x1b[33m19\x1b[0m`,
  );
  const html = await renderErrorDetail(
    error,
    ROOT,
    () => Promise.resolve('import { x } from "./_nope.ts";\n'),
  );
  assert(!html.includes("\x1b"), html);
  assertStringIncludes(html, "page.ts</code>, line 1");
  assertStringIncludes(html, "<mark>");
});
