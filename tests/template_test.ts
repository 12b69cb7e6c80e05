import { assertEquals, assertStringIncludes, assertThrows } from "./_assert.ts";
import {
  html,
  parseTemplate,
  renderTemplate,
  TemplateError,
} from "../lib/templates/template.ts";

function render(source: string, values: Record<string, unknown>): string {
  return renderTemplate(parseTemplate(source, "t.tpl"), values);
}

Deno.test("renderTemplate() fills $name and ${name}", () => {
  assertEquals(render("Hello $name !", { name: "world" }), "Hello world !");
  assertEquals(render("${a}b ${a}", { a: "x" }), "xb x");
  assertEquals(render("$first_Name2.", { first_Name2: "v" }), "v.");
  assertEquals(render("$_x-$y", { _x: 1, y: 2 }), "1-2");
  assertEquals(render("no placeholders", {}), "no placeholders");
  assertEquals(render("", {}), "");
});

Deno.test("renderTemplate() ends a bare name at the first non-identifier character", () => {
  assertEquals(render("$name's page", { name: "Ann" }), "Ann's page");
  assertEquals(render("${name}s", { name: "cat" }), "cats");
  assertEquals(render("$names", { names: "many" }), "many");
});

Deno.test("renderTemplate() turns $$ into a literal $", () => {
  assertEquals(render("Price: $$5", {}), "Price: $5");
  assertEquals(render("$$name", { name: "x" }), "$name");
  assertEquals(render("$$$name", { name: "x" }), "$x");
});

Deno.test("parseTemplate() refuses a $ followed by anything else, naming line and column", () => {
  const cases: [string, number, number][] = [
    ["a $ b", 1, 3],
    ["$1abc", 1, 1],
    ["line1\n  cost: $-5", 2, 9],
    ["x\ny\n${name", 3, 1],
    ["${1}", 1, 1],
    ["${}", 1, 1],
    ["${a b}", 1, 1],
    ["ends with $", 1, 11],
  ];
  for (const [source, line, column] of cases) {
    const error = assertThrows(
      () => parseTemplate(source, "bad.tpl", "/site/bad.tpl"),
      TemplateError,
    );
    assertStringIncludes(
      error.message,
      `line ${line}, column ${column}`,
      source,
    );
    assertStringIncludes(error.message, '"bad.tpl"');
    assertEquals(error.location, { path: "/site/bad.tpl", line, column });
  }
});

Deno.test("renderTemplate() escapes every value", () => {
  assertEquals(
    render("<p title='$v'>$v</p>", { v: `<script>"a" & 'b'</script>` }),
    "<p title='&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;'>&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;</p>",
  );
  assertEquals(render("$n $b", { n: 42, b: false }), "42 false");
  assertEquals(render("$v", { v: null }), "null");
});

Deno.test("renderTemplate() inserts values literally, never as replacement patterns", () => {
  const cases: [string, string][] = [
    ["$'", "$&#39;"],
    ["$`", "$`"],
    ["$&", "$&amp;"],
    ["$1", "$1"],
    ["$$", "$$"],
    ["$name", "$name"],
    ["${name}", "${name}"],
  ];
  for (const [value, expected] of cases) {
    assertEquals(render("[$v]", { v: value, name: "NO" }), `[${expected}]`);
  }
});

Deno.test("renderTemplate() inserts SafeHtml as is", () => {
  assertEquals(
    render("<ul>$items</ul>", { items: html("<li>a</li><li>b</li>") }),
    "<ul><li>a</li><li>b</li></ul>",
  );
});

Deno.test("renderTemplate() names the missing placeholder, the template and the line", () => {
  const template = parseTemplate(
    "a\nb $known\nc ${missing}",
    "page.tpl",
    "/s/page.tpl",
  );
  const error = assertThrows(
    () => renderTemplate(template, { known: "k" }),
    TemplateError,
  );
  assertEquals(
    error.message,
    'Template "page.tpl" has no value for $missing (line 3)',
  );
  assertEquals(error.location, { path: "/s/page.tpl", line: 3, column: 3 });
  assertThrows(() => render("$v", { v: undefined }), TemplateError, "$v");
});

Deno.test("renderTemplate() treats __proto__ and constructor as plain keys", () => {
  assertThrows(() => render("$constructor", {}), TemplateError, "$constructor");
  assertThrows(() => render("$toString", {}), TemplateError, "$toString");
  const values = JSON.parse('{"__proto__": "p", "constructor": "c"}');
  assertEquals(render("$__proto__ $constructor", values), "p c");
  assertEquals(
    renderTemplate(
      parseTemplate("$__proto__", "t"),
      new Map([["__proto__", "from a map"]]),
    ),
    "from a map",
  );
});

Deno.test("parseTemplate() counts lines across CRLF and placeholders", () => {
  const template = parseTemplate("$a\r\n$b\r\n\r\n$c", "t");
  const lines = template.parts.flatMap((p) =>
    typeof p === "string" ? [] : [p.line]
  );
  assertEquals(lines, [1, 2, 4]);
});

Deno.test("renderTemplate() takes query parameters, the first value of each", () => {
  assertEquals(
    renderTemplate(
      parseTemplate("$a-$b", "t"),
      new URLSearchParams("a=1&a=2&b=%3Cx%3E"),
    ),
    "1-&lt;x&gt;",
  );
  assertThrows(
    () => renderTemplate(parseTemplate("$c", "t"), new URLSearchParams("a=1")),
    TemplateError,
    "$c",
  );
});

Deno.test("parseTemplate() reads ${> path} as an include, and refuses an empty one", () => {
  const template = parseTemplate("a\n  ${>  _head.tpl }b${x}", "t.tpl");
  assertEquals(template.includes, [
    { include: "_head.tpl", line: 2, column: 3 },
  ]);
  assertEquals(
    renderTemplate(template, { x: "<" }, (part) => `[${part.include}]`),
    "a\n  [_head.tpl]b&lt;",
  );
  for (const source of ["${>}", "${>   }", "${> a\n}", "${> no end"]) {
    assertThrows(() => parseTemplate(source, "t.tpl"), TemplateError);
  }
  // Without a resolver (a template not from a file), an include is an error.
  assertThrows(() => renderTemplate(template, { x: 1 }), TemplateError);
});

Deno.test("parseTemplate() is linear in a long include line without a closing brace", () => {
  const source = "${> " + "a".repeat(200_000);
  // Backtracking over the line for each position would not finish here.
  assertThrows(() => parseTemplate(source, "t.tpl"), TemplateError);
});
