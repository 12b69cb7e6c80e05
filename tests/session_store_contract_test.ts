/**
 * The session store contract, run against both stores: the in-memory Map
 * and Redis (a real redis-server on a free loopback port).
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "./_assert.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  createRedisSessionStore,
  type RedisSessionStore,
} from "../lib/sessions/redis_session_store.ts";
import { openSession } from "../lib/sessions/session.ts";
import {
  createMemorySessionStore,
  isSessionId,
  newSessionId,
  type SessionStore,
} from "../lib/sessions/session_store.ts";
import { NO_REDIS, redisCommand, startRedis } from "./_redis.ts";
import { eventually } from "./_helpers.ts";

/** Opens a request's session on `id`, as the page runner does. */
async function request(store: SessionStore, id?: string) {
  const responseHeaders = new Headers();
  const session = await openSession(
    new Request("http://x/", {
      headers: id ? { cookie: `sessionId=${id}` } : {},
    }),
    { store, responseHeaders, secure: false },
  );
  return { session, responseHeaders };
}

async function contract(t: Deno.TestContext, store: SessionStore) {
  await t.step("unknown ids find nothing and change nothing", async () => {
    const id = newSessionId();
    assertEquals(await store.get(id), undefined);
    assertEquals(await store.update(id, new Map([["a", 1]])), false);
    assertEquals(await store.regenerate(id), undefined);
    await store.delete(id);
    assertEquals(await store.get(id), undefined);
  });

  await t.step("create() stores JSON values under a fresh id", async () => {
    const data: Record<string, unknown> = {
      user: "alice",
      n: 42,
      ok: true,
      none: null,
      list: [1, "two", { three: 3 }],
      nested: { a: { b: "c" } },
    };
    const id = await store.create(data);
    assert(isSessionId(id));
    assertEquals({ ...await store.get(id) }, data);
    assertNotEquals(await store.create(data), id);
  });

  await t.step("update() writes and deletes key by key", async () => {
    const id = await store.create({ a: 1, b: 2 });
    assertEquals(
      await store.update(
        id,
        new Map<string, unknown>([["a", 10], ["b", undefined], ["c", "x"]]),
      ),
      true,
    );
    assertEquals({ ...await store.get(id) }, { a: 10, c: "x" });
  });

  await t.step(
    "a session whose keys were all deleted still exists",
    async () => {
      const id = await store.create({ only: 1 });
      assertEquals(
        await store.update(id, new Map([["only", undefined]])),
        true,
      );
      assertEquals({ ...await store.get(id) }, {});
      assertEquals(await store.update(id, new Map([["again", 2]])), true);
    },
  );

  await t.step(
    "concurrent requests writing different keys keep both",
    async () => {
      const id = await store.create({ start: 0 });
      const first = await request(store, id);
      const second = await request(store, id);
      first.session.data.cart = ["book"];
      second.session.data.theme = "dark";
      await second.session.commit();
      await first.session.commit();
      assertEquals({ ...await store.get(id) }, {
        start: 0,
        cart: ["book"],
        theme: "dark",
      });
    },
  );

  await t.step(
    "regenerate() moves the data and invalidates the old id",
    async () => {
      const old = await store.create({ user: "alice" });
      const fresh = await store.regenerate(old);
      assert(fresh !== undefined && isSessionId(fresh));
      assertNotEquals(fresh, old);
      assertEquals(await store.get(old), undefined);
      assertEquals({ ...await store.get(fresh) }, { user: "alice" });
    },
  );

  await t.step("delete() ends a session", async () => {
    const id = await store.create({ a: 1 });
    await store.delete(id);
    assertEquals(await store.get(id), undefined);
  });

  await t.step("keys such as __proto__ are plain data", async () => {
    const id = await store.create(JSON.parse('{"__proto__": {"admin": true}}'));
    const data = await store.get(id);
    assertEquals(Object.getPrototypeOf(data), null);
    assertEquals((data as Record<string, unknown>).admin, undefined);
    assertEquals(JSON.stringify(data), '{"__proto__":{"admin":true}}');
  });

  await t.step("a page's session flow: write, regenerate, end", async () => {
    const visit = await request(store);
    visit.session.data.cart = 1;
    await visit.session.commit();
    const id = visit.responseHeaders.getSetCookie()[0]!.match(
      /^sessionId=([^;]+)/,
    )![1]!;
    const login = await request(store, id);
    await login.session.regenerate();
    login.session.data.user = "alice";
    await login.session.commit();
    const fresh = login.responseHeaders.getSetCookie()[0]!.match(
      /^sessionId=([^;]+)/,
    )![1]!;
    assertNotEquals(fresh, id);
    assertEquals({ ...await store.get(fresh) }, { cart: 1, user: "alice" });
    const logout = await request(store, fresh);
    await logout.session.end();
    assertEquals(await store.get(fresh), undefined);
  });
}

Deno.test("the session store contract holds for the in-memory store", async (t) => {
  await contract(t, createMemorySessionStore());
});

Deno.test({
  name: NO_REDIS
    ? `the session store contract holds for the Redis store (ignored: ${NO_REDIS})`
    : "the session store contract holds for the Redis store",
  ignore: NO_REDIS !== undefined,
  async fn(t) {
    const redis = await startRedis();
    const store = createRedisSessionStore({ url: redis.url, ttl: 60_000 });
    try {
      assert(await store.ready(5000));
      await contract(t, store);

      await t.step("idle expiry is the Redis TTL, renewed on use", async () => {
        const id = await store.create({ a: 1 });
        const key = `scriptserver:session:${id}`;
        const ttl = Number(
          (await redisCommand(redis.port, "PTTL", key)).slice(1),
        );
        assert(ttl > 50_000 && ttl <= 60_000, String(ttl));
        await redisCommand(redis.port, "PEXPIRE", key, "1000");
        await store.get(id);
        const renewed = Number(
          (await redisCommand(redis.port, "PTTL", key)).slice(1),
        );
        assert(renewed > 50_000, String(renewed));
        await redisCommand(redis.port, "DEL", key);
        assertEquals(await store.get(id), undefined);
      });

      await t.step(
        "an outage answers 503 at once, and the store recovers",
        async () => {
          const id = await store.create({ a: 1 });
          await redis.stop();
          const error = await assertRejects(() => store.get(id), HttpError);
          assertEquals(error.status, 503);
          assertEquals(error.headers.get("retry-after"), "5");
          await assertRejects(() => store.create({ b: 2 }), HttpError);
          await redis.start();
          const deadline = Date.now() + 10_000;
          let recovered = false;
          while (!recovered && Date.now() < deadline) {
            try {
              await store.create({ c: 3 });
              recovered = true;
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
          assert(recovered, "the store did not recover within 10 s");
        },
      );
    } finally {
      (store as RedisSessionStore).close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: NO_REDIS
    ? `a paused Redis: 503 at once after the first timeout, and no write applied late (ignored: ${NO_REDIS})`
    : "a paused Redis: 503 at once after the first timeout, and no write applied late",
  ignore: NO_REDIS !== undefined,
  async fn() {
    const redis = await startRedis();
    const timeout = 300;
    const store = createRedisSessionStore({
      url: redis.url,
      timeout,
      log: () => {},
    });
    try {
      assert(await store.ready(5000));
      const id = await store.create({ count: 1 });
      redis.pause();
      // The write reaches Redis's socket, but Redis does not answer: 503.
      const late = await assertRejects(
        () => store.update(id, new Map([["count", 2]])),
        HttpError,
      );
      assertEquals(late.status, 503);
      // While it is out, requests fail at once instead of each waiting.
      const start = performance.now();
      for (let i = 0; i < 10; i++) {
        await assertRejects(() => store.get(id), HttpError);
      }
      const waited = performance.now() - start;
      assert(waited < timeout, `10 requests took ${waited.toFixed(0)} ms`);
      // Redis comes back after the deadline: the queued write is dropped.
      await new Promise((resolve) => setTimeout(resolve, timeout));
      redis.resume();
      const back = await eventually(
        () => store.get(id).catch(() => undefined),
        (data) => data !== undefined,
        2000,
      );
      assertEquals(back?.count, 1);
    } finally {
      store.close();
      await redis.stop();
    }
  },
});
