import { assertEquals, assertThrows } from "./_assert.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  decodeUrlPath,
  isHiddenPath,
  parseRequestUrl,
} from "../lib/url_path.ts";

function statusOf(fn: () => unknown): number {
  return assertThrows(fn, HttpError).status;
}

Deno.test("decodeUrlPath() splits and decodes each segment once", () => {
  assertEquals(decodeUrlPath("/"), { segments: [], trailingSlash: true });
  assertEquals(decodeUrlPath("/a/b.txt"), {
    segments: ["a", "b.txt"],
    trailingSlash: false,
  });
  assertEquals(decodeUrlPath("/space%20name/%C3%A9.txt").segments, [
    "space name",
    "é.txt",
  ]);
  // Double-encoded dots decode once, to a plain (missing) name.
  assertEquals(decodeUrlPath("/%252e%252e/%252E%252E").segments, [
    "%2e%2e",
    "%2E%2E",
  ]);
  assertEquals(decodeUrlPath("/100%25.txt").segments, ["100%.txt"]);
});

Deno.test("decodeUrlPath() drops empty segments and keeps the trailing slash", () => {
  assertEquals(decodeUrlPath("//a///b//"), {
    segments: ["a", "b"],
    trailingSlash: true,
  });
  assertEquals(decodeUrlPath("//evil.example/x").segments, [
    "evil.example",
    "x",
  ]);
});

Deno.test("decodeUrlPath() answers 400 to malformed escapes and overlong UTF-8", () => {
  for (
    const path of [
      "/%",
      "/a%2",
      "/%zz",
      "/%c0%ae%c0%ae/etc", // overlong "."
      "/%e0%80%ae", // overlong "." in three bytes
      "/%c0%af", // overlong "/"
      "/%e2%82", // truncated sequence
      "/%ed%a0%80", // a lone surrogate
      "/%ff",
    ]
  ) {
    assertEquals(statusOf(() => decodeUrlPath(path)), 400, path);
  }
});

Deno.test("decodeUrlPath() answers 400 to NUL bytes", () => {
  assertEquals(statusOf(() => decodeUrlPath("/page.ts%00")), 400);
  assertEquals(statusOf(() => decodeUrlPath("/a%00/b")), 400);
  assertEquals(statusOf(() => decodeUrlPath("/a\0b")), 400);
});

Deno.test("decodeUrlPath() answers 404 to encoded separators and dot segments", () => {
  for (
    const path of [
      "/..%2f..%2fetc%2fpasswd",
      "/a%2Fb",
      "/..%5c..%5cwindows",
      "/%2e%2e/secret",
      "/%2E%2e",
      "/..",
      "/a/../../b",
      "/.",
      "/..%2F",
    ]
  ) {
    assertEquals(statusOf(() => decodeUrlPath(path)), 404, path);
  }
});

Deno.test("decodeUrlPath() keeps a backslash in a name where it is no separator", () => {
  if (Deno.build.os === "windows") {
    assertEquals(statusOf(() => decodeUrlPath("/a%5Cb")), 404);
    assertEquals(statusOf(() => decodeUrlPath("/a\\b")), 404);
  } else {
    assertEquals(decodeUrlPath("/back%5Cslash.txt").segments, [
      "back\\slash.txt",
    ]);
    // One name, however many backslashes: never a way up.
    assertEquals(decodeUrlPath("/a%5C..%5C..%5Cetc").segments, [
      "a\\..\\..\\etc",
    ]);
  }
});

Deno.test("decodeUrlPath() answers 404 to dotfiles and _private names at any depth", () => {
  for (
    const path of [
      "/.env",
      "/.git/config",
      "/a/.htpasswd",
      "/_private.txt",
      "/lib/_helper.ts",
      "/%2eenv",
      "/%5Fprivate",
      "/.well-known/.secret",
      "/a/.well-known/x",
    ]
  ) {
    assertEquals(statusOf(() => decodeUrlPath(path)), 404, path);
  }
});

Deno.test("decodeUrlPath() answers 404 to source-like names and editor leftovers", () => {
  for (
    const path of [
      "/app.tsx",
      "/App.JSX",
      "/lib.cts",
      "/lib.cjs",
      "/page.ts~",
      "/page.ts.bak",
      "/page.ts.orig",
      "/page.ts.swp",
      "/page.ts.swo",
      "/%23page.ts%23",
      "/dir/index.tpl~",
    ]
  ) {
    assertEquals(statusOf(() => decodeUrlPath(path)), 404, path);
  }
  for (const path of ["/backup.html", "/swp.txt", "/a#b", "/tilde~x.txt"]) {
    assertEquals(decodeUrlPath(path).segments.length, 1, path);
  }
});

Deno.test("decodeUrlPath() keeps /.well-known/ reachable", () => {
  assertEquals(decodeUrlPath("/.well-known/security.txt").segments, [
    ".well-known",
    "security.txt",
  ]);
  assertEquals(isHiddenPath([".well-known"]), false);
});

function requestWithHost(host: string | null, url = "http://x/a"): Request {
  const headers = new Headers();
  if (host !== null) headers.set("host", host);
  return new Request(url, { headers });
}

Deno.test("parseRequestUrl() accepts names, addresses and ports in Host", () => {
  for (
    const host of [
      "example.com",
      "example.com:8080",
      "127.0.0.1:8000",
      "localhost",
      "[::1]:8000",
      "[::1]",
      "my_host.internal:65535",
    ]
  ) {
    assertEquals(parseRequestUrl(requestWithHost(host)).pathname, "/a", host);
  }
  assertEquals(parseRequestUrl(requestWithHost(null)).pathname, "/a");
});

Deno.test("parseRequestUrl() answers 400 to a Host that would change the path", () => {
  for (
    const host of [
      "x/hello.ts?",
      "x:99999",
      "x:65536",
      "x:",
      "x@y",
      "a b",
      "x#frag",
      "x?q",
      "x\\y",
      "",
      "[::1",
      "x:8000:1",
    ]
  ) {
    assertEquals(
      statusOf(() => parseRequestUrl(requestWithHost(host))),
      400,
      host,
    );
  }
});

Deno.test("parseRequestUrl() normalises dot segments as browsers do", () => {
  // Deno passes the request-target through unparsed; URL parsing resolves it.
  assertEquals(
    parseRequestUrl(requestWithHost("x", "http://x/a/../../etc/passwd"))
      .pathname,
    "/etc/passwd",
  );
  assertEquals(
    parseRequestUrl(requestWithHost("x", "http://x/a/%2e%2e/%2E%2e/b"))
      .pathname,
    "/b",
  );
});
