import { assert, assertEquals, assertNotEquals } from "./_assert.ts";
import {
  createMemorySessionStore,
  DEFAULT_MAX_SESSIONS,
  isSessionId,
  newSessionId,
} from "../lib/sessions/session_store.ts";

function clock(start = 1_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

Deno.test("newSessionId() gives 256 random bits in base64url", () => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId));
  assertEquals(ids.size, 1000);
  for (const id of ids) {
    assertEquals(id.length, 43);
    assert(isSessionId(id), id);
  }
});

Deno.test("isSessionId() refuses anything this server could not have issued", () => {
  for (
    const value of [
      "",
      "__proto__",
      "constructor",
      "abc",
      "x".repeat(42),
      "x".repeat(44),
      `${"x".repeat(42)}=`,
      `${"x".repeat(42)}%`,
      `${"x".repeat(42)}+`,
    ]
  ) {
    assert(!isSessionId(value), value);
  }
});

Deno.test("createMemorySessionStore() creates, finds and updates sessions key by key", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ user: "alice", n: 1 });
  assert(isSessionId(id));
  assertEquals({ ...await store.get(id) }, { user: "alice", n: 1 });
  assertEquals(
    await store.update(id, new Map([["n", 2], ["user", undefined]])),
    true,
  );
  assertEquals({ ...await store.get(id) }, { n: 2 });
  assertEquals(await store.get("unknown"), undefined);
  assertEquals(await store.update("unknown", new Map([["a", 1]])), false);
});

Deno.test("createMemorySessionStore() returns the live object, so requests see each other's writes", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({});
  const first = await store.get(id);
  const second = await store.get(id);
  first!.a = 1;
  assertEquals(second!.a, 1);
});

Deno.test("createMemorySessionStore() expires sessions idle longer than the TTL", async () => {
  const time = clock();
  const store = createMemorySessionStore({ ttl: 1000, now: time.now });
  const id = await store.create({ a: 1 });
  time.advance(900);
  assert(await store.get(id)); // Use refreshes the idle timer.
  time.advance(900);
  assert(await store.get(id));
  time.advance(1001);
  assertEquals(await store.get(id), undefined);
  assertEquals(await store.update(id, new Map([["a", 2]])), false);
});

Deno.test("createMemorySessionStore() sweeps expired sessions without being asked for them", async () => {
  const time = clock();
  const store = createMemorySessionStore({ ttl: 1000, now: time.now });
  for (let i = 0; i < 100; i++) await store.create({ i });
  time.advance(500);
  const kept = await store.create({ kept: true });
  time.advance(600);
  // The first hundred are past their TTL; any call sweeps them.
  assertEquals(store.size, 1);
  assert(await store.get(kept));
});

Deno.test("createMemorySessionStore() evicts the least recently used past the cap", async () => {
  const time = clock();
  const store = createMemorySessionStore({ max: 3, now: time.now });
  const a = await store.create({ name: "a" });
  time.advance(1);
  const b = await store.create({ name: "b" });
  time.advance(1);
  const c = await store.create({ name: "c" });
  time.advance(1);
  await store.get(a); // a is now the most recently used.
  time.advance(1);
  const d = await store.create({ name: "d" });
  assertEquals(store.size, 3);
  assertEquals(await store.get(b), undefined);
  for (const id of [a, c, d]) assert(await store.get(id));
});

Deno.test("createMemorySessionStore() keeps 10,000 sessions in use through a flood of 100,000 one-shot ones", async () => {
  const store = createMemorySessionStore();
  const users: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const id = await store.create({ user: `user ${i}` });
    assert(await store.get(id)); // Their second request.
    users.push(id);
  }
  // Cookieless requests that write a session, never to come back: with a
  // plain LRU of 10,000, they evicted every logged-in user.
  for (let i = 0; i < 100_000; i++) await store.create({ visit: i });
  assert(store.size <= DEFAULT_MAX_SESSIONS);
  for (const [i, id] of users.entries()) {
    assertEquals((await store.get(id))?.user, `user ${i}`);
  }
});

Deno.test("createMemorySessionStore() sends the least recently used sessions in use back on probation past 80%", async () => {
  const time = clock();
  const store = createMemorySessionStore({ max: 10, now: time.now });
  const used: string[] = [];
  for (let i = 0; i < 10; i++) {
    const id = await store.create({ i });
    time.advance(1);
    await store.get(id);
    used.push(id);
  }
  // Eight stay in use; the two used longest ago are on probation, and the
  // next new sessions push those out first.
  await store.create({ fresh: 1 });
  await store.create({ fresh: 2 });
  assertEquals(await store.get(used[0]!), undefined);
  assertEquals(await store.get(used[1]!), undefined);
  for (const id of used.slice(2)) assert(await store.get(id));
  assertEquals(store.size, 10);
});

Deno.test("createMemorySessionStore() regenerate() moves the data and kills the old id", async () => {
  const store = createMemorySessionStore();
  const old = await store.create({ user: "alice" });
  const fresh = await store.regenerate(old);
  assert(fresh !== undefined);
  assertNotEquals(fresh, old);
  assertEquals(await store.get(old), undefined);
  assertEquals({ ...await store.get(fresh) }, { user: "alice" });
  assertEquals(await store.regenerate(old), undefined);
});

Deno.test("createMemorySessionStore() delete() ends a session", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ a: 1 });
  await store.delete(id);
  assertEquals(await store.get(id), undefined);
});

Deno.test("createMemorySessionStore() keeps __proto__ as plain data", async () => {
  const store = createMemorySessionStore();
  const id = await store.create(JSON.parse('{"__proto__": {"admin": true}}'));
  const data = await store.get(id);
  assertEquals(Object.getPrototypeOf(data), null);
  assertEquals((data as Record<string, unknown>)["admin"], undefined);
  await store.update(id, new Map([["__proto__", "x"]]));
  assertEquals(Object.getPrototypeOf(await store.get(id)), null);
});
