import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "./_assert.ts";
import { checkBoundary, parseMultipart } from "../lib/multipart.ts";
import { HttpError } from "../lib/http_error.ts";

const encoder = new TextEncoder();

/** `bytes` as a stream of pieces of the given sizes (cycled). */
function piecewise(
  bytes: Uint8Array<ArrayBuffer>,
  sizes: number[],
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let at = 0;
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const size = sizes[i++ % sizes.length]!;
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

/** The body and boundary a browser-like encoder makes for `form`. */
async function encoded(form: FormData) {
  const response = new Response(form);
  const type = response.headers.get("content-type")!;
  return {
    boundary: type.slice(type.indexOf("boundary=") + 9),
    bytes: new Uint8Array(await response.arrayBuffer()),
  };
}

async function entries(form: FormData) {
  const out: [string, string][] = [];
  for (const [name, value] of form) {
    out.push([
      name,
      typeof value === "string"
        ? value
        : `File ${value.name} ${value.type} ${await value.text()}`,
    ]);
  }
  return out;
}

Deno.test("parseMultipart() reads what Deno's encoder writes, however the body is cut", async () => {
  const sent = new FormData();
  sent.append("title", "report\r\n--not a boundary\r\n");
  sent.append("empty", "");
  sent.append("unicode", "Jürgen ✓");
  sent.append(
    "file",
    new File(["line 1\r\nline 2\r"], "a b.txt", { type: "text/plain" }),
  );
  sent.append("file", new File([new Uint8Array(0)], "empty.bin"));
  sent.append("__proto__", "x");
  const { boundary, bytes } = await encoded(sent);
  // What Deno's own parser makes of the same bytes.
  const expected = await entries(
    await new Response(bytes, {
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    }).formData(),
  );
  for (const sizes of [[bytes.length], [1], [2, 3], [7], [64], [13, 1, 200]]) {
    const form = await parseMultipart(piecewise(bytes, sizes), {
      boundary,
      maxFields: 100,
    });
    assertEquals(await entries(form), expected, `pieces of ${sizes}`);
  }
});

Deno.test("parseMultipart() keeps large files whole, byte for byte", async () => {
  const bytes = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  const sent = new FormData();
  sent.append("big", new File([bytes], "big.bin"));
  sent.append("after", "yes");
  const { boundary, bytes: body } = await encoded(sent);
  const form = await parseMultipart(piecewise(body, [65536, 1000]), {
    boundary,
    maxFields: 10,
  });
  const file = form.get("big") as File;
  assertEquals(new Uint8Array(await file.arrayBuffer()), bytes);
  assertEquals(form.get("after"), "yes");
});

Deno.test("parseMultipart() takes a preamble, transport padding and an epilogue", async () => {
  const body = encoder.encode(
    'preamble\r\n--b  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b\r\ncontent-disposition: form-data; name=b; filename="x\\y%22z.txt"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\nepilogue',
  );
  const form = await parseMultipart(piecewise(body, [5]), {
    boundary: "b",
    maxFields: 10,
  });
  assertEquals(form.get("a"), "1");
  const file = form.get("b") as File;
  assertEquals(file.name, 'x\\y"z.txt');
  assertEquals(file.type, "image/png");
  assertEquals(await file.text(), "PNG");
});

Deno.test("checkBoundary() takes RFC 2046 boundaries of at most 70 characters", () => {
  checkBoundary("----WebKitFormBoundary7MA4YWxkTrZu0gW");
  checkBoundary("a".repeat(70));
  checkBoundary("with space'()+_,-./:=?");
  for (
    const boundary of [
      "a".repeat(71),
      "",
      "ends with space ",
      "cr\r",
      "semi;",
      '"q"',
    ]
  ) {
    let error: unknown;
    try {
      checkBoundary(boundary);
    } catch (e) {
      error = e;
    }
    assert(error instanceof HttpError && error.status === 400, boundary);
  }
});

async function refusal(body: string, boundary = "b", maxFields = 10) {
  const error = await assertRejects(
    () =>
      parseMultipart(piecewise(encoder.encode(body), [3]), {
        boundary,
        maxFields,
      }),
    HttpError,
  );
  return error;
}

Deno.test("parseMultipart() answers 400 to malformed bodies instead of a smaller form", async () => {
  const part = 'Content-Disposition: form-data; name="a"\r\n\r\n1';
  for (
    const [body, reason] of <[string, string][]> [
      [`--b\r\n${part}\r\n--b\r\n${part}`, "closing boundary"],
      [`--b\r\n${part}`, "closing boundary"],
      ["", "closing boundary"],
      [`--x\r\n${part}\r\n--x--`, "closing boundary"],
      [`--b\r\n\r\n1\r\n--b--`, "no Content-Disposition"],
      [
        `--b\r\nContent-Disposition: attachment; name="a"\r\n\r\n1\r\n--b--`,
        "not form-data",
      ],
      [
        `--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--`,
        "not form-data",
      ],
      [
        `--b\r\nContent-Disposition: form-data; name="a\r\n\r\n1\r\n--b--`,
        "not form-data",
      ],
      [`--b\r\nbroken header\r\n\r\n1\r\n--b--`, "malformed header"],
      [`--bX\r\n${part}\r\n--b--`, "followed by something else"],
      [`--b\r\nX-Long: ${"h".repeat(20000)}\r\n\r\n1\r\n--b--`, "longer than"],
    ]
  ) {
    const error = await refusal(body);
    assertEquals(error.status, 400, reason);
    assertStringIncludes(error.message, reason);
  }
});

Deno.test("parseMultipart() answers 400 to a field that is not UTF-8", async () => {
  const body = encoder.encode(
    '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n?\r\n--b--',
  );
  body[body.indexOf(63)] = 0xff;
  const error = await assertRejects(
    () => parseMultipart(piecewise(body, [4]), { boundary: "b", maxFields: 1 }),
    HttpError,
  );
  assertEquals(error.status, 400);
  assertStringIncludes(error.message, "UTF-8");
});

Deno.test("parseMultipart() answers 413 past the field limit, before making the rest", async () => {
  const part = (i: number) =>
    `--b\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${i}\r\n`;
  const body = [0, 1, 2, 3].map(part).join("") + "--b--";
  assertEquals((await refusal(body, "b", 3)).status, 413);
  const form = await parseMultipart(piecewise(encoder.encode(body), [9]), {
    boundary: "b",
    maxFields: 4,
  });
  assertEquals(form.getAll("f3"), ["3"]);
});

Deno.test("parseMultipart() passes the stream's own error through", async () => {
  const failing = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      controller.error(new HttpError(413, "too large"));
    },
  });
  const error = await assertRejects(
    () => parseMultipart(failing, { boundary: "b", maxFields: 1 }),
    HttpError,
  );
  assertEquals(error.status, 413);
});

Deno.test("parseMultipart() is linear in the body: near-matches of a 70-character boundary", async () => {
  // Each line almost ends a part: the delimiter but for its last byte.
  const boundary = "x".repeat(70);
  const near = `\r\n--${"x".repeat(69)}y`;
  const filler = near.repeat(Math.ceil((1024 * 1024) / near.length));
  const body = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n${filler}\r\n--${boundary}--`,
  );
  const form = await parseMultipart(piecewise(body, [65536]), {
    boundary,
    maxFields: 1,
  });
  assertEquals((form.get("f") as File).size, filler.length);
});
