/**
 * What 10,000 in-memory sessions cost: created as pages create them (a
 * request without a cookie writes `ctx.session.user`), measured as heap
 * growth after full garbage collections.
 *
 * Usage: deno run --v8-flags=--expose-gc _sessions.ts
 */
import { openSession } from "../lib/sessions/session.ts";
import { createMemorySessionStore } from "../lib/sessions/session_store.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
const store = createMemorySessionStore();
const request = new Request("http://127.0.0.1/login.ts");

async function settle(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Deno.memoryUsage().heapUsed;
}

const before = await settle();
for (let i = 0; i < 10_000; i++) {
  const session = await openSession(request, {
    store,
    responseHeaders: new Headers(),
    secure: false,
  });
  session.data.user = `user-${crypto.randomUUID()}`;
  await session.commit();
}
const after = await settle();
console.log(JSON.stringify({ sessions: store.size, bytes: after - before }));
