// Pages in supervised isolates, against a real server process: a faulty
// page costs one request, never the server.
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { LIVE_RELOAD_EVENTS } from "../lib/live_reload.ts";
import {
  eventually,
  isolateThreads,
  LIB_DIR,
  openEventStream,
  type RunningServer,
  spawnServer,
  tempTree,
  threadsOf,
  waitExit,
} from "./_helpers.ts";

async function get(
  server: RunningServer,
  path: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(new URL(path, server.url));
  return { status: response.status, body: await response.text() };
}

const SITE = {
  // It says when it spins: requests sent after that go to another isolate
  // at once (ones sent with it wait half a second: see below).
  "spin.ts":
    "export default () => { console.error('spin.ts spins'); while (true) {} };",
  // It spins after a timer of node:timers: beyond the isolate's own guard
  // (guard.ts), which covers code after an await of a settled promise and
  // the global timers, as code that I/O resumes is (most of the time).
  "spin_beyond.ts":
    "import { setTimeout as later } from 'node:timers'; export default async () => { await new Promise((done) => later(done, 1)); console.error('spin_beyond.ts spins'); while (true) {} };",
  "hello.ts": `export default (ctx) => "hello " + (ctx.query.get("n") ?? "");`,
  "hello.tpl": "template $name",
  "a.txt": "static",
  "docs/b.txt": "listed",
};

Deno.test("a page that never yields gets 503 after --page-timeout while everything else is answered", async () => {
  await using dir = await tempTree(SITE);
  const server = await spawnServer({
    root: dir.path,
    args: ["--page-timeout", "2s"],
  });
  try {
    const spinning = get(server, "/spin.ts");
    await server.stderr.waitFor((l) => l.includes("spin.ts spins"));
    // Meanwhile: static files, listings, templates and other pages.
    for (let i = 0; i < 3; i++) {
      assertEquals((await get(server, "/a.txt")).body, "static");
      assertStringIncludes((await get(server, "/docs/")).body, "b.txt");
      assertEquals(
        (await get(server, "/hello.tpl?name=x")).body,
        "template x",
      );
      assertEquals((await get(server, `/hello.ts?n=${i}`)).body, `hello ${i}`);
    }
    const spun = await spinning;
    assertEquals(spun.status, 503);
    assertStringIncludes(spun.body, "did not answer within 2 s");
    await server.stderr.waitFor((l) =>
      l.includes('page "spin.ts" did not answer within 2 s')
    );
    // Pages still answer.
    assertEquals((await get(server, "/hello.ts?n=after")).body, "hello after");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("requests sent in one batch with a page that never yields are answered by another isolate", async () => {
  await using dir = await tempTree({
    ...SITE,
    "busy.ts": `export default () => {
  console.error("busy.ts starts");
  const end = Date.now() + 400;
  while (Date.now() < end) {}
  return "busy done";
};`,
    // Loaded first, so that it spins as soon as its batch arrives.
    "spinner.ts":
      `export default (ctx) => { if (ctx.query.has("spin")) while (true) {} return "loaded"; };`,
  });
  // One isolate: while it works on busy.ts, the requests below wait to be
  // sent, and then go to it in one batch, the spinning page first. The
  // isolate never starts the others: the server takes them back once the
  // isolate stops answering (half a second) and a new isolate runs them.
  const server = await spawnServer({
    root: dir.path,
    args: ["--isolates", "1", "--page-timeout", "2s"],
  });
  try {
    assertEquals((await get(server, "/spinner.ts")).body, "loaded");
    assertEquals((await get(server, "/hello.ts")).body, "hello ");
    const busy = get(server, "/busy.ts");
    await server.stderr.waitFor((l) => l.includes("busy.ts starts"));
    const spinning = get(server, "/spinner.ts?spin");
    // The spinning page first in the batch (busy.ts runs for 400 ms).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const others = Array.from(
      { length: 3 },
      (_, i) => get(server, `/hello.ts?n=${i}`),
    );
    assertEquals((await busy).body, "busy done");
    for (const [i, other] of (await Promise.all(others)).entries()) {
      assertEquals(other, { status: 200, body: `hello ${i}` });
    }
    const spun = await spinning;
    assertEquals(spun.status, 503);
    assertStringIncludes(spun.body, "did not answer within 2 s");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a page stopped at --page-timeout costs its request only: its isolate and its module state live on", async () => {
  await using dir = await tempTree({
    ...SITE,
    "count.ts": `let runs = 0;
export default (ctx) => {
  runs++;
  if (ctx.query.has("spin")) while (true) {}
  return String(runs);
};`,
  });
  // One isolate, where every page below runs.
  const server = await spawnServer({
    root: dir.path,
    args: ["--isolates", "1", "--page-timeout", "1s"],
  });
  try {
    assertEquals((await get(server, "/count.ts")).body, "1");
    // Three times: were its isolate ended, the third would find none
    // (ended while stuck, they count against --isolates for good).
    for (let i = 0; i < 3; i++) {
      const spun = await get(server, "/count.ts?spin");
      assertEquals(spun.status, 503);
      assertStringIncludes(spun.body, "did not answer within 1 s");
    }
    // Same module, same isolate: four runs before this one.
    assertEquals((await get(server, "/count.ts")).body, "5");
    assert(!server.stderr.text.includes("no more isolates start"));
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

/** Pages of {@linkcode sharedIsolate}. */
const SHARED = {
  "whoami.ts": whoami(0),
  "slow.ts":
    "export default () => new Promise((done) => setTimeout(() => done('slow done'), 20_000));",
};

/**
 * A server with one isolate, where a test's pages share it, and all
 * permissions (reading /proc/thread-self takes them); the isolate's
 * thread, and a request for slow.ts that it has started (answered in 20
 * s). The site has {@linkcode SHARED}.
 */
async function sharedIsolate(root: string) {
  const server = await spawnServer({
    root,
    permissions: ["--allow-all"],
    args: ["--isolates", "1", "--page-timeout", "1s"],
  });
  try {
    const thread = (await get(server, "/whoami.ts")).body;
    assert(isolateThreads(server.process.pid).includes(thread));
    const slow = get(server, "/slow.ts");
    // A page answered after the slow one started: it is in the isolate.
    assertEquals((await get(server, "/whoami.ts")).body, thread);
    return { server, thread, slow };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * Waits until the isolate thread `thread` has ended (it does not spin
 * on); returns the thread of the isolate that answers whoami.ts next.
 */
async function threadEnds(
  server: RunningServer,
  thread: string,
): Promise<string> {
  const pid = server.process.pid;
  const threads = await eventually(
    () => Promise.resolve(isolateThreads(pid)),
    (ids) => !ids.includes(thread),
    5_000,
  );
  assert(!threads.includes(thread), `${thread} still runs ${threads}`);
  const next = await get(server, "/whoami.ts");
  assertEquals(next.status, 200);
  assert(next.body !== thread);
  return next.body;
}

Deno.test({
  name:
    "a page stopped at --page-timeout after an await costs its isolate, not a thread: the requests it shared get 503, and the next page a new isolate",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using dir = await tempTree({
      ...SITE,
      ...SHARED,
      // After an await of a settled promise: within the guard's reach.
      "spin_after.ts":
        "export default async (ctx) => { await ctx.session; if (!ctx.query.has('spin')) return 'calm'; console.error('spin_after.ts spins'); while (true) {} };",
    });
    const { server, thread, slow } = await sharedIsolate(dir.path);
    try {
      // Imported first: the spin below is on the path of a loaded page.
      assertEquals((await get(server, "/spin_after.ts")).body, "calm");
      const spinning = get(server, "/spin_after.ts?spin");
      await server.stderr.waitFor((l) => l.includes("spin_after.ts spins"));
      // Sent while it spins: it is not lost with that isolate, but goes to
      // another (once the server sees the isolate silent, or when it ends).
      const meanwhile = get(server, "/hello.ts?n=7");
      const spun = await spinning;
      assertEquals(spun.status, 503);
      assertStringIncludes(spun.body, "did not answer within 1 s");
      assertEquals((await meanwhile).body, "hello 7");
      const shared = await slow;
      assertEquals(shared.status, 503);
      assertStringIncludes(shared.body, "shared an isolate with a page");
      await server.stderr.waitFor((l) =>
        l.includes(
          'page "spin_after.ts" ran past --page-timeout after an await and was stopped',
        ) && l.includes("1 of them were answered 503")
      );
      // Its thread ended with it: it does not spin on.
      const next = await threadEnds(server, thread);
      // In the new isolate, the page's first request (its import first) is
      // stopped alike, and costs no thread either.
      const first = await get(server, "/spin_after.ts?spin");
      assertEquals(first.status, 503);
      await server.stderr.waitFor((l) =>
        l.includes('page "spin_after.ts" ran past --page-timeout') &&
        !l.includes("of them were answered")
      );
      await threadEnds(server, next);
      assertEquals((await get(server, "/hello.ts?n=8")).body, "hello 8");
      assert(!server.stderr.text.includes("never yields where"));
    } finally {
      assertEquals((await server.stop()).code, 0);
    }
  },
});

Deno.test({
  name:
    "a page that spins in a timer, or after awaiting one, is stopped by its isolate: it costs the isolate, not a thread, and the page is named",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using dir = await tempTree({
      ...SITE,
      ...SHARED,
      // After `await sleep(1)`: the code a timer resumes.
      "spin_later.ts":
        "export default async () => { await new Promise((done) => setTimeout(done, 1)); console.error('spin_later.ts spins'); while (true) {} };",
      // In a timer it leaves behind, once its request is answered.
      "leave.ts":
        "export default () => { setTimeout(() => { console.error('leave.ts spins'); while (true) {} }, 1); return 'left'; };",
    });
    const { server, thread, slow } = await sharedIsolate(dir.path);
    try {
      const spun = await get(server, "/spin_later.ts");
      assertEquals(spun.status, 503);
      assertStringIncludes(spun.body, "did not answer within 1 s");
      // Answered too: late by then (as it is a second after it started),
      // or as having shared the isolate.
      assertEquals((await slow).status, 503);
      await server.stderr.waitFor((l) =>
        l.includes(
          'page "spin_later.ts" ran past --page-timeout in a timer and was stopped',
        )
      );
      const second = await threadEnds(server, thread);
      // A timer left by a page already answered: its module names it.
      assertEquals((await get(server, "/leave.ts")).body, "left");
      await server.stderr.waitFor((l) =>
        l.includes(
          'page "leave.ts" ran past --page-timeout in a timer and was stopped',
        ) && !l.includes("of them were answered")
      );
      await threadEnds(server, second);
      assertEquals((await get(server, "/hello.ts?n=9")).body, "hello 9");
      assert(!server.stderr.text.includes("never yields where"));
      assert(!server.stderr.text.includes("uses a core until"));
    } finally {
      assertEquals((await server.stop()).code, 0);
    }
  },
});

Deno.test("requests that shared an isolate with a page that spins beyond the guard (after I/O) get 503, and the spinning page is among those named", async () => {
  await using dir = await tempTree({
    ...SITE,
    "slow.ts":
      "export default () => new Promise((done) => setTimeout(() => done('slow done'), 20_000));",
  });
  // One isolate: the slow page and the spinning one share it. The page
  // spins where the isolate cannot stop it: the server ends the isolate.
  // Both are late by then, and nothing tells which of the two spins.
  const server = await spawnServer({
    root: dir.path,
    args: ["--isolates", "1", "--page-timeout", "1s"],
  });
  try {
    const slow = get(server, "/slow.ts");
    // A page answered after the slow one started: it is in the isolate.
    assertEquals((await get(server, "/hello.ts?n=5")).body, "hello 5");
    const spun = await get(server, "/spin_beyond.ts");
    assertEquals(spun.status, 503);
    assertStringIncludes(spun.body, "did not answer within 1 s");
    const shared = await slow;
    assertEquals(shared.status, 503);
    assertStringIncludes(shared.body, "did not answer within 1 s");
    await server.stderr.waitFor((l) =>
      l.includes('page "spin_beyond.ts" did not answer within 1 s')
    );
    // The log says that it cost a thread, naming the page (with the slow
    // one, if that one was still waiting when the isolate was ended).
    await server.stderr.waitFor((l) =>
      l.includes("never yields where its isolate cannot stop it") &&
      l.includes('"spin_beyond.ts"') &&
      l.includes("(1 of at most 2)")
    );
    assertEquals((await get(server, "/hello.ts?n=6")).body, "hello 6");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("isolates ended while stuck count against the limit: a flood of pages that spin beyond the guard starts no threads forever", async () => {
  await using dir = await tempTree(SITE);
  const server = await spawnServer({
    root: dir.path,
    args: ["--isolates", "1", "--page-timeout", "1s"],
  });
  try {
    // Twice --isolates: each is ended, and its thread (Deno 2.9.6) spins on.
    for (let i = 0; i < 2; i++) {
      assertEquals((await get(server, "/spin_beyond.ts")).status, 503);
    }
    await server.stderr.waitFor((l) =>
      l.includes("no more isolates start until the server restarts")
    );
    const refused = await get(server, "/hello.ts?n=1");
    assertEquals(refused.status, 503);
    assertStringIncludes(refused.body, "the server must be restarted");
    assertEquals((await get(server, "/a.txt")).body, "static");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("SIGTERM stops the server while a page spins, and lets a healthy page finish", async () => {
  await using dir = await tempTree({
    ...SITE,
    "slow.ts":
      "export default async () => { console.error('slow.ts started'); await new Promise((done) => setTimeout(done, 1_000)); return 'slow done'; };",
  });
  const server = await spawnServer({ root: dir.path });
  const spinning = fetch(new URL("/spin.ts", server.url)).then(
    (r) => r.status,
    () => 0,
  );
  // A page answered after the spin began.
  await server.stderr.waitFor((l) => l.includes("spin.ts spins"));
  assertEquals((await get(server, "/hello.ts?n=1")).body, "hello 1");
  // A healthy page still working when the signal comes: it finishes.
  const slow = get(server, "/slow.ts");
  await server.stderr.waitFor((l) => l.includes("slow.ts started"));
  server.process.kill("SIGTERM");
  // The default --page-timeout is 30 s: the server does not wait for it.
  const status = await waitExit(server.process, 5_000);
  assertEquals(status.code, 0);
  assert([0, 503].includes(await spinning));
  assertEquals(await slow, { status: 200, body: "slow done" });
  await server.stop();
});

Deno.test("a page that ends its isolate or throws in a timer costs its request: 500, the page named, the server serving", async () => {
  await using dir = await tempTree({
    ...SITE,
    "exit.ts": "export default () => { Deno.exit(42); };",
    "close.ts": "export default () => { self.close(); return 'no'; };",
    "timer.ts":
      "export default () => { setTimeout(() => { throw new Error('boom in a timer'); }, 0); return new Promise(() => {}); };",
  });
  const server = await spawnServer({ root: dir.path });
  try {
    for (
      const [page, says, logged] of [
        ["exit.ts", "it called Deno.exit(42)", "ended its isolate"],
        ["close.ts", "it called self.close()", "ended its isolate"],
        // The isolate lives on: the error is the page's, not the isolate's.
        ["timer.ts", "boom in a timer", ": an error no code awaited"],
      ] as const
    ) {
      const failed = await get(server, `/${page}`);
      assertEquals(failed.status, 500, page);
      // The development error page says what happened, and where.
      assertStringIncludes(failed.body, says);
      assertStringIncludes(failed.body, page);
      await server.stderr.waitFor((l) =>
        l.includes(
          `page "${page}"${logged.startsWith(":") ? "" : " "}${logged}`,
        )
      );
      assertEquals((await get(server, "/hello.ts?n=2")).body, "hello 2");
    }
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a page that exhausts its isolate's heap gets 500 and the server lives on", async () => {
  await using dir = await tempTree({
    ...SITE,
    "hog.ts":
      "export default () => { const a = []; while (true) a.push(new Array(1e5).fill(1.5)); };",
  });
  const server = await spawnServer({
    root: dir.path,
    args: ["--page-memory", "48m"],
  });
  try {
    const hog = await get(server, "/hog.ts");
    assertEquals(hog.status, 500);
    assertStringIncludes(hog.body, "heap limit (48 MiB, --page-memory)");
    await server.stderr.waitFor((l) => l.includes('page "hog.ts" exhausted'));
    assertEquals((await get(server, "/hello.ts?n=3")).body, "hello 3");
    assertEquals((await get(server, "/a.txt")).body, "static");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

/** A page that answers with the id of the thread it runs on (Linux). */
function whoami(edit: number): string {
  return `// edit ${"x".repeat(edit)}
export default () => Deno.readLinkSync("/proc/thread-self").split("/").pop();`;
}

/**
 * Edits whoami.ts until the isolate of its new version is one started
 * ahead (a spare of the spawner: its thread was there before the edit), at
 * most 40 times; returns that thread's id. Each edit waits for the live
 * reload event: the server has seen the whole change, and later requests
 * go to the same isolate.
 */
async function onSpare(
  server: RunningServer,
  root: string,
  events: Awaited<ReturnType<typeof openEventStream>>,
): Promise<string> {
  for (let edit = 1; edit <= 40; edit++) {
    const before = isolateThreads(server.process.pid);
    await Deno.writeTextFile(join(root, "whoami.ts"), whoami(edit));
    assertEquals(await events.next(), ["change", "reload"]);
    const { body } = await get(server, "/whoami.ts");
    if (before.includes(body)) return body;
  }
  throw new Error("no isolate started ahead answered in 40 edits");
}

Deno.test({
  name:
    "isolates started ahead by the spawner are supervised alike: Deno.exit, a spin, a heap exhausted, SIGTERM",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using dir = await tempTree({
      ...SITE,
      "whoami.ts": whoami(0),
      "exit.ts": "export default () => { Deno.exit(42); };",
      "hog.ts":
        "export default () => { const a = []; while (true) a.push(new Array(1e5).fill(1.5)); };",
    });
    const server = await spawnServer({
      root: dir.path,
      // Reading /proc/thread-self takes all permissions.
      permissions: ["--allow-all"],
      // One isolate per generation: the pages below run in the one that
      // answered whoami.ts (with two, the request after it could go to the
      // other, which the server may have started itself).
      args: ["--isolates", "1", "--page-timeout", "1s", "--page-memory", "48m"],
    });
    const pid = server.process.pid;
    const events = await openEventStream(
      `${server.url}${LIVE_RELOAD_EVENTS.slice(1)}`,
    );
    const gone = async (thread: string) => {
      const threads = await eventually(
        () => Promise.resolve(isolateThreads(pid)),
        (ids) => !ids.includes(thread),
        5_000,
      );
      assert(!threads.includes(thread), `${thread} still runs ${threads}`);
    };
    try {
      assertEquals((await events.next())?.[0], "hello");
      // The first isolate is the server's own; the spawner starts after it.
      assertEquals((await get(server, "/hello.ts?n=1")).body, "hello 1");

      const thread = await onSpare(server, dir.path, events);
      const exited = await get(server, "/exit.ts");
      assertEquals(exited.status, 500);
      assertStringIncludes(exited.body, "it called Deno.exit(42)");
      await server.stderr.waitFor((l) =>
        l.includes('page "exit.ts" ended its isolate')
      );
      await gone(thread);

      const spinner = await onSpare(server, dir.path, events);
      const spinning = get(server, "/spin.ts");
      await server.stderr.waitFor((l) => l.includes("spin.ts spins"));
      assertEquals((await get(server, "/a.txt")).body, "static");
      assertEquals((await get(server, "/hello.ts?n=2")).body, "hello 2");
      assertEquals((await spinning).status, 503);
      // The isolate stopped the page itself, and lives on.
      assert(isolateThreads(pid).includes(spinner));

      await onSpare(server, dir.path, events);
      const hog = await get(server, "/hog.ts");
      assertEquals(hog.status, 500);
      assertStringIncludes(hog.body, "heap limit (48 MiB, --page-memory)");
      assertEquals((await get(server, "/hello.ts?n=3")).body, "hello 3");

      await onSpare(server, dir.path, events);
      const last = fetch(new URL("/spin.ts", server.url)).then(
        (r) => r.status,
        () => 0,
      );
      await server.stderr.waitFor((l) => l.includes("spin.ts spins"));
      const signalled = Date.now();
      server.process.kill("SIGTERM");
      assertEquals((await waitExit(server.process, 5_000)).code, 0);
      const took = Date.now() - signalled;
      assert(took < 2_000, `stopped in ${took} ms`);
      assert([0, 503].includes(await last));
    } finally {
      events.close();
      await server.stop();
    }
  },
});

Deno.test("an edit to a helper a page imports shows on the next request", async () => {
  await using dir = await tempTree({
    "page.ts":
      `import { version } from "./lib/_db.ts"; export default () => "version " + version;`,
    "lib/_db.ts": `export const version = 1;`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    assertEquals((await get(server, "/page.ts")).body, "version 1");
    await Deno.writeTextFile(
      join(dir.path, "lib/_db.ts"),
      `export const version = 2;`,
    );
    assertEquals(
      await eventually(
        async () => (await get(server, "/page.ts")).body,
        (body) => body === "version 2",
      ),
      "version 2",
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

/**
 * A page that keeps its isolate busy for ?ms= milliseconds, says when it
 * starts, and answers with its isolate's own id.
 */
const BUSY_PAGE = `const id = crypto.randomUUID();
export default (ctx) => {
  const ms = Number(ctx.query.get("ms") ?? 0);
  console.error("busy.ts starts for " + ms + " ms");
  const end = Date.now() + ms;
  while (Date.now() < end) {}
  return id;
};`;

Deno.test("a page short of CPU gets a second isolate; fast pages share one", async () => {
  await using dir = await tempTree({
    "busy.ts": BUSY_PAGE,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    // One request after another: one isolate answers them all.
    const first = await get(server, "/busy.ts");
    for (let i = 0; i < 5; i++) {
      assertEquals((await get(server, "/busy.ts")).body, first.body);
    }
    const long = get(server, "/busy.ts?ms=300");
    await server.stderr.waitFor((l) => l.includes("busy.ts starts for 300"));
    // Once its isolate has worked on the page for longer than a batch
    // takes (2 ms), the next request goes to a new isolate instead of
    // waiting behind it (well before the isolate would count as stalled,
    // at 500 ms, and its waiting requests were sent elsewhere).
    await new Promise((resolve) => setTimeout(resolve, 20));
    const other = await get(server, "/busy.ts");
    assertEquals(other.status, 200);
    assert(other.body !== first.body, "answered by a second isolate");
    assertEquals((await long).body, first.body);
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a page being imported for the first time keeps its isolate: the next request waits for it rather than starting another", async () => {
  await using dir = await tempTree({
    "hello.ts": `export default () => "hello";`,
    // Each isolate has its own id; importing the page takes 60 ms (as a
    // large page graph does after an edit) and says when it starts.
    "slow.ts": `const id = crypto.randomUUID();
console.error("slow.ts imports");
await new Promise((resolve) => setTimeout(resolve, 60));
export default () => id;`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    // The isolate is up and has answered a page.
    assertEquals((await get(server, "/hello.ts")).body, "hello");
    const first = get(server, "/slow.ts");
    await server.stderr.waitFor((l) => l.includes("slow.ts imports"));
    // Longer than a busy isolate is given (2 ms), shorter than an import
    // is (100 ms): a second isolate would import the page again, and
    // starting one stops the server's thread for tens of milliseconds.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await get(server, "/slow.ts");
    assertEquals(second.status, 200);
    assertEquals(
      second.body,
      (await first).body,
      "answered by the same isolate",
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a page that runs long on its first request is busy once imported: the next request gets a second isolate", async () => {
  await using dir = await tempTree({
    "hello.ts": `export default () => "hello";`,
    "busy.ts": BUSY_PAGE,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    assertEquals((await get(server, "/hello.ts")).body, "hello");
    // The isolate's first request for busy.ts: its import is done once
    // the page runs, and the isolate is busy after 2 ms, not 100 (nor
    // stalled, at 250–500 ms, when waiting requests go elsewhere).
    const long = get(server, "/busy.ts?ms=200");
    await server.stderr.waitFor((l) => l.includes("busy.ts starts for 200"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const other = await get(server, "/busy.ts");
    assertEquals(other.status, 200);
    const first = await long;
    assert(other.body !== first.body, "answered by a second isolate");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

/** The nice value of each of a process's threads, by thread name. */
function niceByThread(pid: number): Map<string, number[]> {
  const threads = new Map<string, number[]>();
  for (const { name, nice } of threadsOf(pid)) {
    threads.set(name, [...(threads.get(name) ?? []), nice]);
  }
  return threads;
}

Deno.test({
  name:
    "with --allow-sys=setPriority, page isolates run at a lower priority than the server's thread",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using dir = await tempTree(SITE);
    const read = `--allow-read=${dir.path},${LIB_DIR}`;
    for (
      const [extra, expected] of [[[], 0], [
        ["--allow-sys=setPriority"],
        19,
      ]] as const
    ) {
      const server = await spawnServer({
        root: dir.path,
        netPermission: true,
        permissions: [read, ...extra],
      });
      try {
        assertEquals((await get(server, "/hello.ts?n=1")).body, "hello 1");
        const threads = niceByThread(server.process.pid);
        // The first isolate; the spawner's first spare, when up, has the
        // same name (a nested Worker is numbered by its parent).
        const first = threads.get("worker-1") ?? [];
        assert(
          first.length > 0 && first.every((nice) => nice === expected),
          `${extra.join(" ")}: worker-1 ${first}`,
        );
        // The server's own threads keep theirs. An isolate's guard has a
        // thread of the isolate's own (a "tokio-runtime-w", ended with it),
        // which inherits the isolate's priority: at most one each.
        let guards = 0;
        for (const [name, nices] of threads) {
          if (name.startsWith("worker-")) continue;
          const lowered = nices.filter((nice) => nice !== 0);
          if (name === "tokio-runtime-w") guards = lowered.length;
          else assertEquals(lowered, [], name);
          assert(
            lowered.every((nice) => nice === expected),
            `${name}: ${nices}`,
          );
        }
        const workers = [...threads.keys()].filter((name) =>
          name.startsWith("worker-")
        ).length;
        assert(guards <= workers, `${guards} lowered, ${workers} isolates`);
      } finally {
        assertEquals((await server.stop()).code, 0);
      }
    }
  },
});

Deno.test("pages' timers work as Deno's under the guard: arguments, order, intervals, and timers cleared once due", async () => {
  await using dir = await tempTree({
    "timers.ts": `export default () => new Promise((done) => {
  const seen = [];
  setTimeout((a, b) => seen.push("late " + a + b), 10, 1, 2);
  setTimeout(() => seen.push("soon"), 0);
  // Both due in the same turn: the first clears the second.
  setTimeout(() => { seen.push("first"); clearTimeout(second); }, 1);
  const second = setTimeout(() => seen.push("second"), 1);
  setImmediate((x) => immediate = "immediate " + x, "x");
  let immediate;
  let ticks = 0;
  const interval = setInterval(() => {
    if (++ticks === 3) clearInterval(interval);
  }, 1);
  setTimeout(() => done(seen.join(", ") + "; " + immediate + "; ticks " + ticks), 50);
});`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    assertEquals(
      (await get(server, "/timers.ts")).body,
      "soon, first, late 12; immediate x; ticks 3",
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("module state lives as long as the page's isolate: a guestbook in _store.ts", async () => {
  await using dir = await tempTree({
    "_store.ts": `export const entries: string[] = [];`,
    "book.ts": `import { entries } from "./_store.ts";
export default (ctx) => {
  const name = ctx.query.get("sign");
  if (name) entries.push(name);
  return entries.join(",");
};`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    assertEquals((await get(server, "/book.ts?sign=ann")).body, "ann");
    assertEquals((await get(server, "/book.ts?sign=bob")).body, "ann,bob");
    assertEquals((await get(server, "/book.ts")).body, "ann,bob");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("sessions, forms and templates work across the isolate boundary", async () => {
  await using dir = await tempTree({
    "_hi.tpl": "<b>$who</b> $raw",
    "count.ts": `export default (ctx) => {
  ctx.session.count = (ctx.session.count ?? 0) + 1;
  return String(ctx.session.count);
};`,
    "form.ts": `export default async (ctx) => {
  const file = ctx.form.get("f");
  const page = await ctx.render("_hi.tpl", { who: ctx.form.get("who"), raw: ctx.html("<i>ok</i>") });
  return (await page.text()) + " " + file.name + ":" + (await file.text());
};`,
  });
  const server = await spawnServer({ root: dir.path });
  try {
    const first = await fetch(new URL("/count.ts", server.url));
    assertEquals(await first.text(), "1");
    const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
    const second = await fetch(new URL("/count.ts", server.url), {
      headers: { cookie },
    });
    assertEquals(await second.text(), "2");
    const form = new FormData();
    form.append("who", "<ann>");
    form.append("f", new File(["bytes"], "up.txt"));
    const posted = await fetch(new URL("/form.ts", server.url), {
      method: "POST",
      body: form,
    });
    assertEquals(
      await posted.text(),
      "<b>&lt;ann&gt;</b> <i>ok</i> up.txt:bytes",
    );
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("without read access to scriptserver's lib/, pages run in-process and the server says so", async () => {
  await using dir = await tempTree(SITE);
  const server = await spawnServer({
    root: dir.path,
    permissions: [`--allow-read=${dir.path}`],
    netPermission: true,
  });
  try {
    await server.stderr.waitFor((l) =>
      l.includes(`page isolates need --allow-read of ${LIB_DIR}`)
    );
    assertEquals((await get(server, "/hello.ts?n=4")).body, "hello 4");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});
