// The guard page isolates run pages under (guard.ts), unit-tested here on
// the test's own thread.
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { guarded, runMicrotasks } from "../lib/pages/guard.ts";

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

Deno.test("a guarded call within one runs as it is, under the outer one's timeout", () => {
  let inner: boolean | undefined;
  const done = guarded(() => {
    inner = guarded(() => {
      while (true) {
        // spins: the outer timeout stops it
      }
    }, 60_000);
  }, 50);
  assertEquals(done, false);
  assertEquals(inner, undefined);
  assert(guarded(() => {}, 1_000));
});

Deno.test("with runMicrotasks, code after an await of a settled promise runs under the guard, and what was queued behind it is dropped", async () => {
  assert(runMicrotasks !== undefined, "Deno has core.runMicrotasks");
  const ran: string[] = [];
  // From a task of its own: a microtask cannot run the queue.
  const done = await new Promise<boolean>((resolve) =>
    setTimeout(() => {
      (async () => {
        await null;
        ran.push("spinner");
        while (true) {
          // spins after an await
        }
      })();
      (async () => {
        await null;
        await null;
        ran.push("queued behind it");
      })();
      resolve(guarded(() => runMicrotasks!(), 50));
    }, 0)
  );
  assertEquals(done, false);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assertEquals(ran, ["spinner"]);
});
