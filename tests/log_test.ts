import { assertEquals, assertMatch } from "./_assert.ts";
import { requestTarget, withRequestLog } from "../lib/log.ts";

Deno.test("requestTarget() takes the path and query from the raw URL", () => {
  assertEquals(requestTarget("http://x:8000/a/b?c=d"), "/a/b?c=d");
  assertEquals(requestTarget("http://x:8000"), "/");
});

Deno.test("requestTarget() cuts long targets, saying how much it left out", () => {
  const target = requestTarget(`http://x/${"a".repeat(60_000)}`);
  assertEquals(
    target,
    `/${"a".repeat(1023)}…(${60_001 - 1024} more characters)`,
  );
});

Deno.test("requestTarget() escapes control characters so lines cannot be forged", () => {
  assertEquals(
    requestTarget("http://x/a\nGET /forged 200"),
    "/a%0AGET /forged 200",
  );
  assertEquals(requestTarget("http://x/\x1b[31mred"), "/%1B[31mred");
});

Deno.test("withRequestLog() writes method, path, status and duration", async () => {
  const lines: string[] = [];
  const handler = withRequestLog(
    () => Promise.resolve(new Response("x", { status: 201 })),
    (line) => lines.push(line),
  );
  const response = await handler(
    new Request("http://x/p?q=1", { method: "POST", body: "" }),
  );
  assertEquals(response.status, 201);
  await response.body?.cancel();
  assertEquals(lines.length, 1);
  assertMatch(lines[0]!, /^POST \/p\?q=1 201 \d+\.\dms$/);
});
