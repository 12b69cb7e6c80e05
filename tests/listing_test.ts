import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import type { DirEntry } from "../lib/files/files.ts";
import { renderListing, sortEntries } from "../lib/files/listing.ts";

function entry(name: string, isDirectory = false, size = 10): DirEntry {
  return {
    name,
    path: `/site/${name}`,
    isDirectory,
    size,
    mtime: new Date("2026-11-21T08:22:00Z"),
  };
}

Deno.test("sortEntries() puts directories first, then names in natural order", () => {
  const sorted = sortEntries([
    entry("file10.txt"),
    entry("b", true),
    entry("file2.txt"),
    entry("A", true),
    entry("apple.txt"),
  ]).map((e) => e.name);
  assertEquals(sorted, ["A", "b", "apple.txt", "file2.txt", "file10.txt"]);
});

Deno.test("renderListing() escapes names and percent-encodes hrefs", () => {
  const html = renderListing("/a&b/", [
    entry(`<img src=x onerror=alert(1)>.txt`),
    entry(`quote"'.txt`),
    entry("javascript:alert(1)", true),
    entry("100%.txt"),
    entry("q?x#y.txt"),
  ]);
  assert(!html.includes("<img"));
  assertStringIncludes(html, "&lt;img src=x onerror=alert(1)&gt;.txt");
  assertStringIncludes(
    html,
    'href="./%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt"',
  );
  assertStringIncludes(html, 'href="./quote%22&#39;.txt"');
  assertStringIncludes(html, 'href="./javascript%3Aalert(1)/"');
  assertStringIncludes(html, 'href="./100%25.txt"');
  assertStringIncludes(html, 'href="./q%3Fx%23y.txt"');
  assertStringIncludes(html, "<title>Index of /a&amp;b/</title>");
});

Deno.test("renderListing() links every ancestor in its breadcrumbs", () => {
  const html = renderListing("/a/b&c/d/", []);
  assertStringIncludes(
    html,
    '<nav class="crumbs" aria-label="Folders"><a href="../../../">/</a><span class="sep"> › </span><a href="../../">a</a><span class="sep"> › </span><a href="../">b&amp;c</a><span class="sep"> › </span><span aria-current="page">d</span><span class="sep"> /</span></nav>',
  );
  assertStringIncludes(
    renderListing("/", []),
    '<nav class="crumbs" aria-label="Folders"><span aria-current="page">/</span></nav>',
  );
});

Deno.test("renderListing() shows a parent link below the root only", () => {
  assert(!renderListing("/", []).includes('href="../"'));
  assertStringIncludes(renderListing("/docs/", []), 'href="../"');
});

Deno.test("renderListing() shows sizes and modification times", () => {
  const html = renderListing("/", [entry("big.bin", false, 4096)]);
  assertStringIncludes(html, "4 kiB");
  assertStringIncludes(html, '<time datetime="2026-11-21T08:22:00.000Z">');
  assertStringIncludes(html, "2026-11-21 08:22");
  assertStringIncludes(html, "1 entry");
});
