import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { createDiskFiles, type FileInfo } from "../lib/files/files.ts";
import { HttpError } from "../lib/http_error.ts";
import { fileEtag, parseRange, serveFile } from "../lib/files/static_file.ts";
import { tempTree } from "./_helpers.ts";

Deno.test("parseRange() reads one bytes range", () => {
  assertEquals(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
  assertEquals(parseRange("bytes=90-", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=-500", 100), { start: 0, end: 99 });
  assertEquals(parseRange("bytes=50-500", 100), { start: 50, end: 99 });
  assertEquals(parseRange("bytes=99-99", 100), { start: 99, end: 99 });
});

Deno.test("parseRange() marks ranges past the end unsatisfiable", () => {
  assertEquals(parseRange("bytes=100-", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=100-200", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=-0", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=0-0", 0), "unsatisfiable");
  assertEquals(parseRange("bytes=-5", 0), "unsatisfiable");
});

Deno.test("parseRange() ignores lists, other units and malformed values", () => {
  for (
    const header of [
      "bytes=0-1,5-6",
      "items=0-1",
      "bytes=",
      "bytes=-",
      "bytes=5-1",
      "bytes=a-b",
      "bytes 0-1",
      "bytes=0x10-",
      "bytes=1-2-3",
    ]
  ) {
    assertEquals(parseRange(header, 100), undefined, header);
  }
});

Deno.test("fileEtag() changes with size and modification time", () => {
  const file: FileInfo = {
    path: "/a",
    isDirectory: false,
    size: 10,
    mtime: new Date(1_000_000),
  };
  const etag = fileEtag(file);
  assertEquals(etag, '"a-f4240"');
  assert(etag !== fileEtag({ ...file, size: 11 }));
  assert(etag !== fileEtag({ ...file, mtime: new Date(1_000_001) }));
});

async function setup() {
  const dir = await tempTree({
    "page.html": "<p>hi</p>",
    "data.bin": new Uint8Array(Array.from({ length: 256 }, (_, i) => i)),
    "noext": "x",
    "notes.txt": "0123456789",
  });
  const files = createDiskFiles(dir.path);
  const stat = async (name: string) => {
    const info = await files.stat([name]);
    assert(info);
    return info;
  };
  const serve = async (name: string, init?: RequestInit) =>
    serveFile(new Request(`http://x/${name}`, init), await stat(name), files);
  return { dir, stat, serve };
}

Deno.test("serveFile() sends type, length and validators", async () => {
  const { dir, stat, serve } = await setup();
  await using _ = dir;
  const response = await serve("page.html");
  assertEquals(response.status, 200);
  assertEquals(
    response.headers.get("content-type"),
    "text/html; charset=UTF-8",
  );
  assertEquals(response.headers.get("content-length"), "9");
  assertEquals(response.headers.get("accept-ranges"), "bytes");
  assertEquals(response.headers.get("etag"), fileEtag(await stat("page.html")));
  assertEquals(
    response.headers.get("last-modified"),
    (await stat("page.html")).mtime?.toUTCString(),
  );
  assertEquals(await response.text(), "<p>hi</p>");
  // Revalidated before each use, so that an edit is seen at once.
  assertEquals(response.headers.get("cache-control"), "no-cache");
  const bin = await serve("noext");
  assertEquals(bin.headers.get("content-type"), "application/octet-stream");
  await bin.body?.cancel();
});

Deno.test("serveFile() answers 304 to a matching If-None-Match", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  const etag = (await serve("notes.txt", { method: "HEAD" })).headers.get(
    "etag",
  )!;
  for (const value of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
    const response = await serve("notes.txt", {
      headers: { "if-none-match": value },
    });
    assertEquals(response.status, 304, value);
    assertEquals(response.body, null);
    assertEquals(response.headers.get("etag"), etag);
    assertEquals(response.headers.get("cache-control"), "no-cache");
  }
  const changed = await serve("notes.txt", {
    headers: { "if-none-match": '"stale"' },
  });
  assertEquals(changed.status, 200);
  await changed.body?.cancel();
});

Deno.test("serveFile() answers 304 to If-Modified-Since unless If-None-Match differs", async () => {
  const { dir, serve, stat } = await setup();
  await using _ = dir;
  const lastModified = (await stat("notes.txt")).mtime!.toUTCString();
  const same = await serve("notes.txt", {
    headers: { "if-modified-since": lastModified },
  });
  assertEquals(same.status, 304);
  const older = await serve("notes.txt", {
    headers: { "if-modified-since": new Date(0).toUTCString() },
  });
  assertEquals(older.status, 200);
  await older.body?.cancel();
  const bothDisagree = await serve("notes.txt", {
    headers: { "if-modified-since": lastModified, "if-none-match": '"x"' },
  });
  assertEquals(bothDisagree.status, 200);
  await bothDisagree.body?.cancel();
  const garbage = await serve("notes.txt", {
    headers: { "if-modified-since": "yesterday-ish" },
  });
  assertEquals(garbage.status, 200);
  await garbage.body?.cancel();
});

Deno.test("serveFile() answers a single Range with 206 and Content-Range", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  const response = await serve("data.bin", {
    headers: { range: "bytes=10-19" },
  });
  assertEquals(response.status, 206);
  assertEquals(response.headers.get("content-range"), "bytes 10-19/256");
  assertEquals(response.headers.get("content-length"), "10");
  assertEquals(
    [...new Uint8Array(await response.arrayBuffer())],
    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
  );
  const suffix = await serve("notes.txt", { headers: { range: "bytes=-3" } });
  assertEquals(await suffix.text(), "789");
});

Deno.test("serveFile() answers 416 to an unsatisfiable Range", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  const error = await assertRejects(
    () => serve("notes.txt", { headers: { range: "bytes=10-" } }),
    HttpError,
  );
  assertEquals(error.status, 416);
  assertEquals(error.headers.get("content-range"), "bytes */10");
});

Deno.test("serveFile() sends the whole file for ignored or outdated ranges", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  const list = await serve("notes.txt", {
    headers: { range: "bytes=0-1,4-5" },
  });
  assertEquals(list.status, 200);
  assertEquals(await list.text(), "0123456789");
  const outdated = await serve("notes.txt", {
    headers: { range: "bytes=0-1", "if-range": '"old"' },
  });
  assertEquals(outdated.status, 200);
  assertEquals(await outdated.text(), "0123456789");
  const etag = (await serve("notes.txt", { method: "HEAD" })).headers.get(
    "etag",
  )!;
  const current = await serve("notes.txt", {
    headers: { range: "bytes=0-1", "if-range": etag },
  });
  assertEquals(current.status, 206);
  assertEquals(await current.text(), "01");
});

Deno.test("serveFile() answers HEAD with headers and no body", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  const response = await serve("notes.txt", { method: "HEAD" });
  assertEquals(response.status, 200);
  assertEquals(response.body, null);
  assertEquals(response.headers.get("content-length"), "10");
});

Deno.test("serveFile() answers other methods with 405 and Allow", async () => {
  const { dir, serve } = await setup();
  await using _ = dir;
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const error = await assertRejects(
      () => serve("notes.txt", { method }),
      HttpError,
    );
    assertEquals(error.status, 405, method);
    assertEquals(error.headers.get("allow"), "GET, HEAD");
  }
});
