import { assert, assertEquals, assertNotEquals } from "./_assert.ts";
import { isHttps, openSession, sessionIdIn } from "../lib/sessions/session.ts";
import {
  createMemorySessionStore,
  newSessionId,
  type SessionStore,
} from "../lib/sessions/session_store.ts";

function request(cookie?: string, url = "http://x/"): Request {
  return new Request(url, cookie === undefined ? {} : { headers: { cookie } });
}

async function open(
  store: SessionStore,
  cookie?: string,
  secure = false,
) {
  const responseHeaders = new Headers();
  const session = await openSession(request(cookie), {
    store,
    responseHeaders,
    secure,
  });
  return { session, responseHeaders };
}

function cookieId(headers: Headers): string | undefined {
  const last = headers.getSetCookie().at(-1);
  return last?.match(/^sessionId=([^;]*)/)?.[1];
}

Deno.test("openSession() creates nothing and sets no cookie when only read", async () => {
  const store = createMemorySessionStore();
  const { session, responseHeaders } = await open(store);
  assertEquals(session.data.user, undefined);
  assertEquals("user" in session.data, false);
  assertEquals(Object.keys(session.data), []);
  await session.commit();
  assertEquals(responseHeaders.getSetCookie(), []);
  assertEquals((store as { size: number }).size, 0);
});

Deno.test("openSession() creates the session and its cookie on the first write", async () => {
  const store = createMemorySessionStore();
  const { session, responseHeaders } = await open(store);
  session.data.user = "alice";
  await session.commit();
  const [cookie] = responseHeaders.getSetCookie();
  assertEquals(
    cookie?.replace(/sessionId=[^;]+/, "sessionId=ID"),
    "sessionId=ID; HttpOnly; SameSite=Lax; Path=/",
  );
  const again = await open(store, `sessionId=${cookieId(responseHeaders)}`);
  assertEquals(again.session.data.user, "alice");
  assertEquals(JSON.stringify(again.session.data), '{"user":"alice"}');
  await again.session.commit();
  assertEquals(again.responseHeaders.getSetCookie(), []);
});

Deno.test("openSession() marks the cookie Secure for https requests", async () => {
  const { session, responseHeaders } = await open(
    createMemorySessionStore(),
    undefined,
    true,
  );
  session.data.a = 1;
  await session.commit();
  assert(responseHeaders.getSetCookie()[0]!.includes("; Secure"));
  assert(!responseHeaders.getSetCookie()[0]!.includes("Max-Age"));
  assert(!responseHeaders.getSetCookie()[0]!.includes("Domain"));
});

Deno.test("openSession() never adopts an id the store did not issue", async () => {
  const store = createMemorySessionStore();
  const forged = newSessionId();
  for (
    const cookie of [
      `sessionId=${forged}`,
      "sessionId=__proto__",
      "sessionId=constructor",
      "sessionId=%zz%",
      "sessionId=",
      "sessionId",
      "=sessionId",
    ]
  ) {
    const { session, responseHeaders } = await open(store, cookie);
    assertEquals(session.data.user, undefined, cookie);
    session.data.user = "mallory";
    await session.commit();
    const issued = cookieId(responseHeaders);
    assert(issued !== undefined, cookie);
    assertNotEquals(issued, forged);
  }
});

Deno.test("openSession() looks up only the first sessionId cookie", async () => {
  const store = createMemorySessionStore();
  const live = await store.create({ user: "alice" });
  const lookups: string[] = [];
  const counting = {
    ...store,
    get(id: string) {
      lookups.push(id);
      return store.get(id);
    },
  };
  // 1,150 pairs once cost 1,150 look-ups in Redis per request.
  const forged = Array.from(
    { length: 1150 },
    () => `sessionId=${newSessionId()}`,
  );
  const first = await open(
    counting,
    [...forged, `sessionId=${live}`].join("; "),
  );
  assertEquals(first.session.data.user, undefined);
  assertEquals(lookups.length, 1);
  const second = await open(
    counting,
    `other=1; sessionId=${live}; sessionId=x`,
  );
  assertEquals(second.session.data.user, "alice");
  assertEquals(
    sessionIdIn(new Headers({ cookie: "sessionId=a; sessionId=b" })),
    undefined,
  );
  assertEquals(
    sessionIdIn(new Headers({ cookie: `x=1;sessionId=${live}` })),
    live,
  );
});

Deno.test("openSession() writes are seen by a concurrent request of the same session", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ n: 0 });
  const first = await open(store, `sessionId=${id}`);
  const second = await open(store, `sessionId=${id}`);
  first.session.data.n = 1;
  second.session.data.other = "x";
  assertEquals(second.session.data.n, 1);
  await first.session.commit();
  await second.session.commit();
  assertEquals({ ...await store.get(id) }, { n: 1, other: "x" });
});

Deno.test("openSession() delete removes a key", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ user: "alice", theme: "dark" });
  const { session } = await open(store, `sessionId=${id}`);
  delete session.data.user;
  await session.commit();
  assertEquals({ ...await store.get(id) }, { theme: "dark" });
});

Deno.test("regenerate() moves the data to a new id and invalidates the old one", async () => {
  const store = createMemorySessionStore();
  const old = await store.create({ cart: 2 });
  const { session, responseHeaders } = await open(store, `sessionId=${old}`);
  await session.regenerate();
  session.data.user = "alice";
  await session.commit();
  const fresh = cookieId(responseHeaders)!;
  assertNotEquals(fresh, old);
  assertEquals(await store.get(old), undefined);
  assertEquals({ ...await store.get(fresh) }, { cart: 2, user: "alice" });
  const stale = await open(store, `sessionId=${old}`);
  assertEquals(stale.session.data.user, undefined);
});

Deno.test("regenerate() on a fixated, unknown id still issues a fresh one on write", async () => {
  const store = createMemorySessionStore();
  const planted = newSessionId();
  const { session, responseHeaders } = await open(
    store,
    `sessionId=${planted}`,
  );
  await session.regenerate();
  session.data.user = "alice";
  await session.commit();
  assertNotEquals(cookieId(responseHeaders), planted);
});

Deno.test("end() deletes the session and expires the cookie", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ user: "alice" });
  const { session, responseHeaders } = await open(store, `sessionId=${id}`);
  await session.end();
  await session.commit();
  assertEquals(await store.get(id), undefined);
  const [cookie] = responseHeaders.getSetCookie();
  assert(cookie!.startsWith("sessionId=;"));
  assert(cookie!.includes("Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
  assertEquals(session.data.user, undefined);
});

Deno.test("a session that expired mid-request is started afresh on commit", async () => {
  let time = 0;
  const store = createMemorySessionStore({ ttl: 1000, now: () => time });
  const id = await store.create({ a: 1 });
  const { session, responseHeaders } = await open(store, `sessionId=${id}`);
  time = 5000;
  session.data.b = 2;
  await session.commit();
  const fresh = cookieId(responseHeaders)!;
  assertNotEquals(fresh, id);
  assertEquals({ ...await store.get(fresh) }, { a: 1, b: 2 });
});

Deno.test("isHttps() believes X-Forwarded-Proto only behind a trusted proxy", () => {
  const forwarded = (value: string) =>
    new Request("http://x/", { headers: { "x-forwarded-proto": value } });
  assertEquals(
    isHttps(new Request("https://x/"), false),
    true,
  );
  assertEquals(isHttps(forwarded("https"), false), false);
  assertEquals(isHttps(forwarded("https"), true), true);
  assertEquals(isHttps(forwarded("HTTPS, http"), true), true);
  assertEquals(isHttps(forwarded("http, https"), true), false);
  assertEquals(isHttps(new Request("http://x/"), true), false);
});

/**
 * A store that hands out copies, as Redis does (JSON in, JSON out): only
 * what a request writes back reaches it.
 */
function copyingStore(): SessionStore {
  const inner = createMemorySessionStore();
  return {
    ...inner,
    async get(id) {
      const data = await inner.get(id);
      return data && JSON.parse(JSON.stringify(data));
    },
  };
}

Deno.test("openSession() saves changes in place with a store that hands out copies", async () => {
  const store = copyingStore();
  const id = await store.create({ cart: ["a"], user: { name: "old" }, n: 1 });
  for (let i = 0; i < 5; i++) {
    const { session } = await open(store, `sessionId=${id}`);
    (session.data.cart as string[]).push(`item ${i}`);
    (session.data.user as { name: string }).name = `name ${i}`;
    await session.commit();
  }
  const { session } = await open(store, `sessionId=${id}`);
  assertEquals(session.data.cart, [
    "a",
    "item 0",
    "item 1",
    "item 2",
    "item 3",
    "item 4",
  ]);
  assertEquals(session.data.user, { name: "name 4" });
  // Deleted keys, and values JSON cannot keep, are deletions.
  delete session.data.n;
  session.data.later = undefined;
  await session.commit();
  assertEquals({ ...(await store.get(id)) }, {
    cart: session.data.cart,
    user: { name: "name 4" },
  });
});

Deno.test("openSession() regenerates and ends before the response, awaited or not", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ user: "anon" });
  // regenerateSession() without await, then a write: a new id, with it.
  const login = await open(store, `sessionId=${id}`);
  void login.session.regenerate();
  login.session.data.user = "alice";
  await login.session.commit();
  const fresh = cookieId(login.responseHeaders);
  assert(fresh !== undefined && fresh !== id, "no new session id was sent");
  assertEquals(await store.get(id), undefined);
  assertEquals((await store.get(fresh))?.user, "alice");
  // endSession() without await: gone, and its cookie expired.
  const logout = await open(store, `sessionId=${fresh}`);
  void logout.session.end();
  await logout.session.commit();
  assertEquals(await store.get(fresh), undefined);
  assert(
    logout.responseHeaders.getSetCookie().some((c) => c.includes("Expires=")),
  );
});

Deno.test("openSession() commit() fails with a regeneration that failed unawaited", async () => {
  const store = createMemorySessionStore();
  const id = await store.create({ user: "a" });
  const broken: SessionStore = {
    ...store,
    regenerate: () => Promise.reject(new Error("store down")),
  };
  const { session } = await open(broken, `sessionId=${id}`);
  void session.regenerate();
  let error: unknown;
  try {
    await session.commit();
  } catch (e) {
    error = e;
  }
  assertEquals((error as Error).message, "store down");
});
