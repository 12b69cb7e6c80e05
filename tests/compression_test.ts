import { assert, assertEquals } from "./_assert.ts";
import {
  compressResponse,
  encodedEtag,
  isCompressible,
  memoryResponse,
  negotiateEncoding,
  varyOnEncoding,
} from "../lib/compression.ts";

Deno.test("negotiateEncoding() prefers brotli, honours weights and refusals", () => {
  assertEquals(negotiateEncoding("gzip, deflate, br"), "br");
  assertEquals(negotiateEncoding("gzip"), "gzip");
  assertEquals(negotiateEncoding("br;q=0, gzip"), "gzip");
  assertEquals(negotiateEncoding("br;q=0.5, gzip;q=0.8"), "gzip");
  assertEquals(negotiateEncoding("*"), "br");
  assertEquals(negotiateEncoding("*;q=0"), undefined);
  assertEquals(negotiateEncoding("identity"), undefined);
  assertEquals(negotiateEncoding("gzip;q=0, br;q=0"), undefined);
  assertEquals(negotiateEncoding("br;q=nonsense, gzip"), "gzip");
  assertEquals(negotiateEncoding(null), undefined);
  // Linear in the header: a long hostile one is one pass.
  const long = "x, ".repeat(100_000) + "gzip";
  assertEquals(negotiateEncoding(long), "gzip");
});

Deno.test("isCompressible() takes text-like types, not event streams or media", () => {
  for (
    const type of [
      "text/html; charset=utf-8",
      "text/css",
      "application/javascript",
      "application/json",
      "image/svg+xml",
      "application/manifest+json",
    ]
  ) assert(isCompressible(type), type);
  for (
    const type of [
      "text/event-stream",
      "image/png",
      "application/zip",
      "video/mp4",
      "application/octet-stream",
    ]
  ) assert(!isCompressible(type), type);
  assert(!isCompressible(null));
});

Deno.test("encodedEtag() and varyOnEncoding() make one tag per encoding and one Vary", () => {
  assertEquals(encodedEtag(`"abc"`, "br"), `"abc-br"`);
  assertEquals(encodedEtag(`W/"abc"`, "gzip"), `W/"abc-gzip"`);
  const headers = new Headers({ vary: "Cookie" });
  varyOnEncoding(headers);
  varyOnEncoding(headers);
  assertEquals(headers.get("vary"), "Cookie, Accept-Encoding");
});

Deno.test("compressResponse() compresses a body in memory whole, with its length", async () => {
  const text = "<p>hello</p>".repeat(200);
  const request = new Request("http://x/", {
    headers: { "accept-encoding": "gzip" },
  });
  const response = await compressResponse(
    request,
    memoryResponse(text, {
      status: 201,
      headers: { "content-type": "text/html", etag: `"v1"` },
    }),
  );
  assertEquals(response.status, 201);
  assertEquals(response.headers.get("content-encoding"), "gzip");
  assertEquals(response.headers.get("etag"), `"v1-gzip"`);
  const body = response.body!.pipeThrough(new DecompressionStream("gzip"));
  assertEquals(await new Response(body).text(), text);
  // Already encoded, or refused: as it is.
  const encoded = new Response("x", {
    headers: { "content-type": "text/html", "content-encoding": "gzip" },
  });
  assertEquals(await compressResponse(request, encoded), encoded);
  const refused = new Response(text, {
    headers: { "content-type": "text/html", "cache-control": "no-transform" },
  });
  assertEquals(await compressResponse(request, refused), refused);
  await refused.body?.cancel();
  // No body: nothing to compress (it says so in Vary).
  const empty = await compressResponse(
    request,
    new Response(null, { headers: { "content-type": "text/html" } }),
  );
  assertEquals(empty.headers.get("content-encoding"), null);
  assertEquals(empty.headers.get("vary"), "Accept-Encoding");
  assertEquals(empty.body, null);
});
