// The guard page isolates run pages under (guard.ts), unit-tested here on
// the test's own thread.
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { guarded } from "../lib/pages/guard.ts";

Deno.test("guarded runs what returns in time and says so", () => {
  let ran = 0;
  assert(guarded(() => void ran++, 1_000));
  assertEquals(ran, 1);
});

Deno.test("guarded stops code that never yields, and nothing of it runs after", () => {
  const started = performance.now();
  let after = false;
  const done = guarded(() => {
    try {
      while (true) {
        // spins
      }
    } finally {
      after = true;
    }
  }, 50);
  assertEquals(done, false);
  assertEquals(after, false);
  // Stopped near its timeout, not at the end of the test.
  assert(performance.now() - started < 5_000);
  // The isolate lives on, guards included.
  assert(guarded(() => {}, 1_000));
});

Deno.test("guarded passes on what the code throws", () => {
  assertThrows(
    () =>
      guarded(() => {
        throw new TypeError("thrown by the page");
      }, 1_000),
    TypeError,
    "thrown by the page",
  );
});

Deno.test("guarded takes timeouts node:vm would refuse", () => {
  for (const ms of [0, 0.5, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    assert(guarded(() => {}, ms), String(ms));
  }
});
