import { assertEquals } from "./_assert.ts";
import { flatHeaders, headersOf } from "../lib/pages/isolate_protocol.ts";

Deno.test("flatHeaders() lists each Set-Cookie on its own and joins the rest, as Headers iterates", () => {
  const headers = new Headers();
  headers.append("Set-Cookie", "a=1; Path=/");
  headers.append("Accept", "text/html");
  headers.append("set-cookie", "b=2");
  headers.append("accept", "*/*");
  const flat = flatHeaders(headers);
  assertEquals(flat, [...headers].flat());
  assertEquals(flat, [
    "accept",
    "text/html, */*",
    "set-cookie",
    "a=1; Path=/",
    "set-cookie",
    "b=2",
  ]);
});

Deno.test("headersOf() rebuilds what flatHeaders() listed", () => {
  const headers = new Headers([["x-one", "1"], ["content-type", "text/plain"]]);
  headers.append("set-cookie", "a=1");
  headers.append("set-cookie", "b=2");
  const rebuilt = headersOf(flatHeaders(headers));
  assertEquals([...rebuilt], [...headers]);
  assertEquals(rebuilt.getSetCookie(), ["a=1", "b=2"]);
  assertEquals(flatHeaders(new Headers()), []);
});
