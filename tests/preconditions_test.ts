import { assertEquals } from "./_assert.ts";
import { evaluatePreconditions, ifRangeHolds } from "../lib/preconditions.ts";

const ETAG = '"a-f4240"';
const MTIME = new Date("2026-11-21T08:22:10Z");
const validators = { etag: ETAG, lastModified: MTIME };

function request(headers: Record<string, string>, method = "GET"): Request {
  return new Request("http://x/f.txt", { method, headers });
}

const http = (date: Date) => date.toUTCString();
const before = (ms: number) => http(new Date(MTIME.getTime() - ms));

Deno.test("evaluatePreconditions() If-Match wants a strong match, or *", async () => {
  for (
    const [value, outcome] of [
      ['"B"', 412],
      [`W/${ETAG}`, 412],
      [ETAG, "proceed"],
      [`"B", ${ETAG}`, "proceed"],
      ["*", "proceed"],
    ] as const
  ) {
    assertEquals(
      await evaluatePreconditions(request({ "if-match": value }), validators),
      outcome,
      value,
    );
  }
  // A weak tag of our own never matches strongly either.
  assertEquals(
    await evaluatePreconditions(request({ "if-match": 'W/"w"' }), {
      etag: 'W/"w"',
    }),
    412,
  );
});

Deno.test("evaluatePreconditions() If-Unmodified-Since fails once modified since, unless If-Match decided", async () => {
  const ius = (value: string, extra: Record<string, string> = {}) =>
    evaluatePreconditions(
      request({ "if-unmodified-since": value, ...extra }),
      validators,
    );
  assertEquals(await ius(before(2000)), 412);
  assertEquals(await ius(http(MTIME)), "proceed");
  assertEquals(await ius(before(-5000)), "proceed");
  assertEquals(await ius("not a date"), "proceed");
  assertEquals(await ius(before(2000), { "if-match": ETAG }), "proceed");
});

Deno.test("evaluatePreconditions() If-None-Match: 304 for GET and HEAD, 412 otherwise, weakly", async () => {
  for (const method of ["GET", "HEAD"]) {
    assertEquals(
      await evaluatePreconditions(
        request({ "if-none-match": `W/${ETAG}` }, method),
        validators,
      ),
      304,
    );
  }
  assertEquals(
    await evaluatePreconditions(
      request({ "if-none-match": ETAG }, "POST"),
      validators,
    ),
    412,
  );
  assertEquals(
    await evaluatePreconditions(request({ "if-none-match": "*" }), validators),
    304,
  );
  assertEquals(
    await evaluatePreconditions(
      request({ "if-none-match": '"B"' }),
      validators,
    ),
    "proceed",
  );
});

Deno.test("evaluatePreconditions() If-Modified-Since only without If-None-Match, for GET and HEAD", async () => {
  const ims = (headers: Record<string, string>, method = "GET") =>
    evaluatePreconditions(request(headers, method), validators);
  assertEquals(await ims({ "if-modified-since": http(MTIME) }), 304);
  assertEquals(await ims({ "if-modified-since": before(2000) }), "proceed");
  assertEquals(
    await ims({ "if-modified-since": http(MTIME), "if-none-match": '"B"' }),
    "proceed",
  );
  assertEquals(
    await ims({ "if-modified-since": http(MTIME) }, "POST"),
    "proceed",
  );
  // The order of RFC 9110 §13.2.2: a failed If-Match wins over a 304.
  assertEquals(
    await ims({ "if-match": '"B"', "if-none-match": ETAG }),
    412,
  );
});

Deno.test("ifRangeHolds() wants a strong current tag or the exact Last-Modified", () => {
  assertEquals(ifRangeHolds(ETAG, validators), true);
  assertEquals(ifRangeHolds(`W/${ETAG}`, validators), false);
  assertEquals(ifRangeHolds('"old"', validators), false);
  assertEquals(ifRangeHolds(http(MTIME), validators), true);
  assertEquals(ifRangeHolds(before(2000), validators), false);
  assertEquals(ifRangeHolds("garbage", validators), false);
});
