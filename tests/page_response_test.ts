import { assertEquals, assertStringIncludes, assertThrows } from "./_assert.ts";
import {
  mergeHeaders,
  pageResultToResponse,
  redirectResponse,
} from "../lib/pages/page_response.ts";

const none = () => new Headers();

Deno.test("pageResultToResponse() sends a string as HTML", async () => {
  const response = pageResultToResponse("<p>hi</p>", none(), "p.ts");
  assertEquals(response.status, 200);
  assertEquals(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assertEquals(await response.text(), "<p>hi</p>");
  const plain = pageResultToResponse(
    "x",
    new Headers({ "content-type": "text/plain" }),
    "p.ts",
  );
  assertEquals(plain.headers.get("content-type"), "text/plain");
  await plain.body?.cancel();
});

Deno.test("pageResultToResponse() sends plain objects and arrays as JSON", async () => {
  const object = pageResultToResponse({ a: 1 }, none(), "p.ts");
  assertEquals(
    object.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  assertEquals(await object.json(), { a: 1 });
  assertEquals(await pageResultToResponse([1, "2"], none(), "p.ts").json(), [
    1,
    "2",
  ]);
  const bare = Object.assign(Object.create(null), { b: 2 });
  assertEquals(await pageResultToResponse(bare, none(), "p.ts").json(), {
    b: 2,
  });
});

Deno.test("pageResultToResponse() sends bytes and streams as octets", async () => {
  const bytes = pageResultToResponse(new Uint8Array([1, 2]), none(), "p.ts");
  assertEquals(bytes.headers.get("content-type"), "application/octet-stream");
  assertEquals([...new Uint8Array(await bytes.arrayBuffer())], [1, 2]);
  const stream = pageResultToResponse(
    new Blob(["abc"]).stream(),
    none(),
    "p.ts",
  );
  assertEquals(await stream.text(), "abc");
});

Deno.test("pageResultToResponse() answers nothing with 204", () => {
  for (const value of [undefined, null]) {
    const response = pageResultToResponse(
      value,
      new Headers({ "x-a": "1" }),
      "p.ts",
    );
    assertEquals(response.status, 204);
    assertEquals(response.body, null);
    assertEquals(response.headers.get("x-a"), "1");
  }
});

Deno.test("pageResultToResponse() rejects other values with a message naming the page", () => {
  for (const value of [42, true, new Map(), new Date(), () => 1, 10n]) {
    const error = assertThrows(
      () => pageResultToResponse(value, none(), "shop/cart.ts"),
      TypeError,
    );
    assertStringIncludes(error.message, 'Page "shop/cart.ts" returned');
    assertStringIncludes(error.message, "return a string, a Response");
  }
});

Deno.test("pageResultToResponse() returns a Response as is, with responseHeaders merged", async () => {
  const own = new Response("x", { status: 201, headers: { "x-own": "1" } });
  assertEquals(pageResultToResponse(own, none(), "p.ts"), own);
  const merged = pageResultToResponse(
    new Response("x", { status: 201, headers: { "x-own": "1" } }),
    new Headers({ "x-own": "page", "x-extra": "2" }),
    "p.ts",
  );
  assertEquals(merged.status, 201);
  assertEquals(merged.headers.get("x-own"), "1");
  assertEquals(merged.headers.get("x-extra"), "2");
  assertEquals(await merged.text(), "x");
});

Deno.test("mergeHeaders() works on immutable headers and keeps every Set-Cookie", () => {
  const extra = new Headers();
  extra.append("set-cookie", "a=1");
  extra.append("set-cookie", "b=2");
  const redirect = Response.redirect("http://x/home", 303);
  const merged = mergeHeaders(redirect, extra);
  assertEquals(merged.status, 303);
  assertEquals(merged.headers.get("location"), "http://x/home");
  assertEquals(merged.headers.getSetCookie(), ["a=1", "b=2"]);
});

Deno.test("redirectResponse() resolves relative locations to paths on the same origin", () => {
  const base = new URL("http://example.com/shop/cart.ts?x=1");
  const at = (location: string, status?: number) =>
    redirectResponse(location, base, status).headers.get("location");
  assertEquals(at("done.html"), "/shop/done.html");
  assertEquals(at("../"), "/");
  assertEquals(at("/home?a=b#top"), "/home?a=b#top");
  assertEquals(at("http://example.com/abs"), "/abs");
  assertEquals(at("https://other.example/x"), "https://other.example/x");
  assertEquals(redirectResponse("/", base).status, 302);
  assertEquals(redirectResponse("/", base, 303).status, 303);
});

Deno.test("redirectResponse() never produces a Location starting with //", () => {
  const base = new URL("http://example.com/a/b.ts");
  for (
    const location of ["/%2F/evil.example", "/.//evil.example", "/..//evil"]
  ) {
    const value = redirectResponse(location, base).headers.get("location")!;
    assertEquals(value.startsWith("//"), false, `${location} -> ${value}`);
    assertEquals(value.startsWith("/"), true);
  }
});

Deno.test("redirectResponse() has mutable headers and refuses non-redirect statuses", () => {
  const response = redirectResponse("/x", new URL("http://h/"));
  response.headers.append("set-cookie", "a=1");
  assertEquals(response.headers.getSetCookie(), ["a=1"]);
  for (const status of [200, 304, 404, 300]) {
    assertThrows(
      () => redirectResponse("/x", new URL("http://h/"), status),
      RangeError,
      `status ${status}`,
    );
  }
});
