import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./_assert.ts";
import { BodyBudget, limitBody, parseForm, releaseBody } from "../lib/body.ts";
import { HttpError } from "../lib/http_error.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

Deno.test("limitBody() refuses a declared Content-Length over the limit before reading", () => {
  let pulled = false;
  const body = new ReadableStream({
    pull() {
      pulled = true;
    },
  });
  const request = new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-length": "101" },
  });
  const error = assertThrows(() => limitBody(request, { max: 100 }), HttpError);
  assertEquals(error.status, 413);
  assertStringIncludes(error.message, "100 B");
  assert(!pulled);
});

Deno.test("limitBody() answers 400 to a malformed Content-Length", () => {
  const request = new Request("http://x/", {
    method: "POST",
    body: "x",
    headers: { "content-length": "1x" },
  });
  assertEquals(
    assertThrows(() => limitBody(request, { max: 100 }), HttpError).status,
    400,
  );
});

Deno.test("limitBody() counts a body without Content-Length and stops past the limit", async () => {
  const request = new Request("http://x/", {
    method: "POST",
    body: streamOf("a".repeat(60), "b".repeat(60), "c".repeat(1000)),
  });
  const limited = limitBody(request, { max: 100 });
  const error = await assertRejects(() => limited.text(), HttpError);
  assertEquals(error.status, 413);
});

Deno.test("limitBody() passes bodies within the limit, read as they arrive", async () => {
  const chunked = limitBody(
    new Request("http://x/", { method: "POST", body: streamOf("abc", "def") }),
    { max: 6 },
  );
  assertEquals(await chunked.text(), "abcdef");
  const declared = limitBody(
    new Request("http://x/", {
      method: "POST",
      body: "abc",
      headers: { "content-length": "3" },
    }),
    { max: 3 },
  );
  assertEquals(await declared.text(), "abc");
  const bodiless = new Request("http://x/");
  assertEquals(limitBody(bodiless, { max: 0 }), bodiless);
});

Deno.test("limitBody() never reserves a declared length: a stalled upload costs what it sent", async () => {
  let pulls = 0;
  const stalled = new ReadableStream<Uint8Array>({
    pull(controller) {
      // Six bytes, then nothing more ever arrives.
      if (pulls++ > 0) return new Promise(() => {});
      controller.enqueue(new TextEncoder().encode("a=1&b="));
      return undefined;
    },
  });
  const request = limitBody(
    new Request("http://x/", {
      method: "POST",
      body: stalled,
      headers: { "content-length": String(9 * 1024 * 1024) },
    }),
    { max: 10 * 1024 * 1024 },
  );
  const reader = request.body!.getReader();
  const first = await reader.read();
  assertEquals(first.value?.byteLength, 6);
  reader.releaseLock();
});

/** A body that sends a byte every `ms`, `count` bytes in all. */
function trickle(ms: number, count: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (sent++ === count) controller.close();
      else controller.enqueue(new Uint8Array([97]));
    },
  });
}

Deno.test("limitBody() answers 408 to a body that stops arriving, and to one still arriving at its deadline", async () => {
  const silent = limitBody(
    new Request("http://x/", {
      method: "POST",
      body: new ReadableStream({ pull: () => new Promise(() => {}) }),
    }),
    { max: 100, idleTimeout: 50 },
  );
  const idle = await assertRejects(() => silent.text(), HttpError);
  assertEquals(idle.status, 408);
  // A byte every 10 ms for 1 s: never idle for its 1 s, late at 150 ms.
  const trickled = limitBody(
    new Request("http://x/", { method: "POST", body: trickle(10, 100) }),
    { max: 1000, idleTimeout: 1000, deadline: 150 },
  );
  const late = await assertRejects(() => trickled.text(), HttpError);
  assertEquals(late.status, 408);
  assertStringIncludes(late.message, "within 0.15 s");
});

Deno.test("limitBody() answers 503 past the budget of bodies in flight, and releaseBody() gives it back", async () => {
  const budget = new BodyBudget(10);
  const post = (body: string) =>
    new Request("http://x/", { method: "POST", body: streamOf(body) });
  const first = post("1234567");
  assertEquals(await limitBody(first, { max: 100, budget }).text(), "1234567");
  assertEquals(budget.used, 7);
  const second = post("12345");
  const error = await assertRejects(
    () => limitBody(second, { max: 100, budget }).text(),
    HttpError,
  );
  assertEquals(error.status, 503);
  assertEquals(error.headers.get("retry-after"), "5");
  releaseBody(first);
  releaseBody(second);
  assertEquals(budget.used, 0);
  assertEquals(
    await limitBody(post("12345"), { max: 100, budget }).text(),
    "12345",
  );
});

async function multipart(form: FormData) {
  const response = new Response(form);
  return {
    type: response.headers.get("content-type")!,
    bytes: new Uint8Array(await response.arrayBuffer()),
  };
}

function post(body: BodyInit, type: string): Request {
  return new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-type": type },
  });
}

Deno.test("parseForm() parses urlencoded bodies, keeping __proto__ as data", async () => {
  const form = await parseForm(
    post(
      "name=J%C3%BCrgen+Smith&__proto__=x&constructor=y&empty=&flag&a=1&a=2",
      "application/x-www-form-urlencoded; charset=UTF-8",
    ),
  );
  assertEquals(form.get("name"), "Jürgen Smith");
  assertEquals(form.get("__proto__"), "x");
  assertEquals(form.get("constructor"), "y");
  assertEquals(form.get("empty"), "");
  assertEquals(form.get("flag"), "");
  assertEquals(form.getAll("a"), ["1", "2"]);
});

Deno.test("parseForm() parses multipart bodies with files", async () => {
  const sent = new FormData();
  sent.append("title", "report");
  sent.append("file", new File(["hello"], "a.txt", { type: "text/plain" }));
  const { type, bytes } = await multipart(sent);
  const form = await parseForm(post(bytes, type));
  assertEquals(form.get("title"), "report");
  const file = form.get("file");
  assert(file instanceof File);
  assertEquals([file.name, file.size, file.type], ["a.txt", 5, "text/plain"]);
  assertEquals(await file.text(), "hello");
});

Deno.test("parseForm() answers 400 to malformed multipart bodies", async () => {
  const sent = new FormData();
  sent.append("file", new File(["x".repeat(100)], "a.txt"));
  const { type, bytes } = await multipart(sent);
  const cases: [string, Request][] = [
    ["no boundary", post(bytes, "multipart/form-data")],
    ["wrong boundary", post(bytes, "multipart/form-data; boundary=other")],
    ["cut short", post(bytes.slice(0, bytes.length - 20), type)],
    ["garbage", post("hello", "multipart/form-data; boundary=b")],
    ["two boundaries", post(bytes, `${type}; boundary=other`)],
    ["unterminated quote", post(bytes, 'multipart/form-data; boundary="abc')],
    [
      "71-character boundary",
      post(bytes, `multipart/form-data; boundary=${"a".repeat(71)}`),
    ],
    [
      "two urlencoded charsets",
      post(
        "a=1",
        "application/x-www-form-urlencoded; charset=utf-8; charset=latin1",
      ),
    ],
  ];
  for (const [label, request] of cases) {
    const error = await assertRejects(() => parseForm(request), HttpError);
    assertEquals(error.status, 400, label);
    assertStringIncludes(error.message, "Cannot parse the form", label);
  }
});

Deno.test("parseForm() answers 400 to undecodable urlencoded bodies", async () => {
  const badUtf8 = new Uint8Array([0x61, 0x3d, 0xff, 0xfe]);
  for (
    const body of [
      badUtf8,
      "a=%",
      "a=%zz",
      "a=%c0%ae",
    ]
  ) {
    const error = await assertRejects(
      () => parseForm(post(body, "application/x-www-form-urlencoded")),
      HttpError,
    );
    assertEquals(error.status, 400);
  }
});

Deno.test("parseForm() leaves other bodies unread and returns an empty form", async () => {
  const json = post('{"a":1}', "application/json");
  assertEquals([...(await parseForm(json)).keys()], []);
  assertEquals(json.bodyUsed, false);
  assertEquals(await json.json(), { a: 1 });
  assertEquals([...(await parseForm(new Request("http://x/"))).keys()], []);
  assertEquals([...(await parseForm(post("x", "not a type;;"))).keys()], []);
});

Deno.test("parseForm() answers 413 past the field limit, counting fields, not separators", async () => {
  const urlencoded = (body: string) =>
    post(body, "application/x-www-form-urlencoded");
  assertEquals([...(await parseForm(urlencoded("a=1&&b=2&c&"), 3)).keys()], [
    "a",
    "b",
    "c",
  ]);
  const tooMany = await assertRejects(
    () => parseForm(urlencoded("a=1&b=2&c&d"), 3),
    HttpError,
  );
  assertEquals(tooMany.status, 413);
  assertEquals(tooMany.message, "The form has more fields than the limit of 3");

  const sent = new FormData();
  sent.append("title", "report");
  sent.append("file", new File(["x"], "a.txt"));
  sent.append("note", "");
  const { type, bytes } = await multipart(sent);
  assertEquals((await parseForm(post(bytes, type), 3)).get("title"), "report");
  const parts = await assertRejects(
    () => parseForm(post(bytes, type), 2),
    HttpError,
  );
  assertEquals(parts.status, 413);
});

Deno.test("parseForm() refuses a 10 MiB form of empty fields by the default limit", async () => {
  const error = await assertRejects(
    () =>
      parseForm(
        post("a=&".repeat(3_500_000), "application/x-www-form-urlencoded"),
      ),
    HttpError,
  );
  assertEquals(error.status, 413);
  assertStringIncludes(error.message, "limit of 1000");
});

Deno.test("parseForm() keeps the 413 of a counted body", async () => {
  const request = limitBody(
    new Request("http://x/", {
      method: "POST",
      body: streamOf("a=", "b".repeat(200)),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    }),
    { max: 100 },
  );
  const error = await assertRejects(() => parseForm(request), HttpError);
  assertEquals(error.status, 413);
});
