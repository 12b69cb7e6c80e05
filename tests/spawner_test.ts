// The spawner (spawner.ts, spawner_worker.ts), driven directly.
import { assertStringIncludes } from "./_assert.ts";
import { toFileUrl } from "@std/path";
import { SPAWNER_WORKER } from "../lib/pages/isolate_runner.ts";
import { Spawner } from "../lib/pages/spawner.ts";

Deno.test("a spawner whose spare ends before it starts says so, and offers no isolate", async () => {
  const reason = Promise.withResolvers<string>();
  const spawner = new Spawner(
    {
      // It ends at once, before it waits for a setup.
      url: "data:text/javascript,Deno.exit(3)",
      pageMemory: 64,
    },
    toFileUrl(SPAWNER_WORKER),
    {
      failed() {},
      exited() {},
      noSpares: reason.resolve,
    },
  );
  const timer = setTimeout(
    () => reason.reject(new Error("no word from the spawner in 10 s")),
    10_000,
  );
  try {
    assertStringIncludes(
      await reason.promise,
      "ended before it started (exit code 3)",
    );
    // The server then starts isolates itself: no spare is offered.
    const channel = new MessageChannel();
    const taken = spawner.start(1, {
      maxFields: 1,
      pageTimeout: 1_000,
      claims: new SharedArrayBuffer(4),
      port: channel.port2,
    });
    channel.port1.close();
    channel.port2.close();
    if (taken) throw new Error("a spawner with no spare took an isolate");
  } finally {
    clearTimeout(timer);
    await spawner.shutDown();
  }
});
