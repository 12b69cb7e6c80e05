/**
 * Live reload: how long from a save to the reloaded page, and what open
 * tabs cost. scriptserver runs in development mode (live reload on) on a
 * small site; the reference is a bare `Deno.watchFs` on the same folder in
 * this process: the soonest anything can learn of the save.
 *
 * - save → `change` event → the page fetched again shows the edit
 *   (an EventSource-like client over fetch), 20 saves;
 * - the same in Chromium, when it is installed: save → the open tab shows
 *   the edit without a click;
 * - sockets and CPU of the server with 20 idle tabs' streams open.
 *
 * Usage: deno run -A --lock=tests/deno.lock bench/live_reload.ts   (also part
 * of deno task bench)
 */
import { join } from "@std/path";
import {
  cpuSeconds,
  fmt,
  freePort,
  median,
  serverCommand,
  startProcess,
} from "./_common.ts";
import { type FigureRow, rowsTable } from "./_report.ts";
import { openEventStream, socketsOf } from "../tests/_helpers.ts";

const SAVES = 20;
const TARGET_MS = 300;
const TAB = { accept: "text/html" };
const CHROMIUM = "/usr/bin/chromium";

/**
 * The page, version `n`. Its inline script notes when the tab parsed it
 * (the same clock as the bench's `Date.now()`), so that the browser
 * figure holds no time of the driver's polling.
 */
const pageSource = (n: number) =>
  `export default () => '<link rel="stylesheet" href="style.css"><p id="p">version ${n}</p><script>window.shownAt = Date.now()</script>';`;

/** The server's live reload stream: `next()` is the next event's name. */
async function openStream(url: string) {
  const stream = await openEventStream(`${url}_scriptserver/live-reload`);
  return {
    async next(): Promise<string> {
      const event = await stream.next(2000);
      if (event === undefined) throw new Error("No event within 2 s");
      return event[0];
    },
    close: stream.close,
  };
}

/** Resolves with `promise`, or rejects after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms);
    }),
  ]);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Save → event seen by a bare watcher in this process, per save. */
async function watcherFloor(root: string): Promise<number[]> {
  const file = join(root, "floor.txt");
  const watcher = Deno.watchFs(root);
  const events = watcher[Symbol.asyncIterator]();
  const times: number[] = [];
  try {
    for (let i = 0; i < SAVES; i++) {
      const started = performance.now();
      await Deno.writeTextFile(file, `floor ${i}`);
      for (;;) {
        const { value } = await within(events.next(), 2000, "watcher");
        if (value?.paths.includes(file)) break;
      }
      times.push(performance.now() - started);
      await pause(100);
      // Events of this save that arrived later are not the next one's.
      while (
        await Promise.race([events.next().then(() => true), pause(50)]) ===
          true
      );
    }
  } finally {
    watcher.close();
  }
  return times;
}

/** Save → change event, and → the page fetched again shows the edit. */
async function overHttp(
  url: string,
  root: string,
): Promise<{ event: number[]; page: number[] }> {
  const stream = await openStream(url);
  const times = { event: [] as number[], page: [] as number[] };
  try {
    await stream.next(); // hello
    for (let i = 1; i <= SAVES; i++) {
      const started = performance.now();
      await Deno.writeTextFile(join(root, "page.ts"), pageSource(i));
      await stream.next();
      times.event.push(performance.now() - started);
      const body = await (await fetch(`${url}page`, { headers: TAB })).text();
      if (!body.includes(`version ${i}<`)) {
        throw new Error(`The reloaded page is not version ${i}: ${body}`);
      }
      times.page.push(performance.now() - started);
      await pause(150);
    }
  } finally {
    stream.close();
  }
  return times;
}

/**
 * Per save, in an open Chromium tab: until it starts reloading (the new
 * page's navigation start: the reload has arrived), and until it has
 * parsed the new page (which also waits for the page's stylesheet). Or
 * undefined without Chromium.
 */
async function inChromium(
  url: string,
  root: string,
): Promise<{ reloading: number[]; parsed: number[] } | undefined> {
  try {
    if (!Deno.statSync(CHROMIUM).isFile) return undefined;
  } catch {
    return undefined;
  }
  const { chromium } = await import("npm:playwright-core@1.65.1");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const times = { reloading: [] as number[], parsed: [] as number[] };
  try {
    const page = await browser.newPage();
    await page.goto(`${url}page`);
    // As a person saves long after opening the tab: Chromium's own start-up
    // work (on these two cores) is over.
    await pause(1000);
    for (let i = SAVES + 1; i <= 2 * SAVES; i++) {
      await page.waitForFunction(
        "window.__scriptserverLiveReload?.connected === true",
        undefined,
        { timeout: 5000 },
      );
      const saved = Date.now();
      await Deno.writeTextFile(join(root, "page.ts"), pageSource(i));
      await page.waitForFunction(
        `document.getElementById("p")?.textContent === "version ${i}" && window.shownAt`,
        undefined,
        { timeout: 5000 },
      );
      const [navigated, shown] = await page.evaluate<[number, number]>(
        "[performance.timeOrigin, window.shownAt]",
      );
      times.reloading.push(navigated - saved);
      times.parsed.push(shown - saved);
      await pause(150);
    }
  } finally {
    await browser.close();
  }
  return times;
}

/** Sockets and CPU of the server with `tabs` idle streams open for 5 s. */
async function idleTabs(
  url: string,
  pid: number,
  tabs: number,
): Promise<{ sockets: number; cpuMs: number }> {
  const before = socketsOf(pid);
  const streams = await Promise.all(
    Array.from({ length: tabs }, () => openStream(url)),
  );
  try {
    await Promise.all(streams.map((stream) => stream.next()));
    const sockets = socketsOf(pid) - before;
    const cpu = cpuSeconds(pid);
    await pause(5000);
    return { sockets, cpuMs: (cpuSeconds(pid) - cpu) * 1000 };
  } finally {
    for (const stream of streams) stream.close();
  }
}

const spread = (times: number[]) =>
  `median ${fmt(median(times))} ms, max ${fmt(Math.max(...times))} ms`;

/** The figures; starts and stops its own server. */
export async function liveReloadFigures(): Promise<FigureRow[]> {
  const root = await Deno.makeTempDir({ prefix: "scriptserver-reload-" });
  await Deno.writeTextFile(join(root, "page.ts"), pageSource(0));
  await Deno.writeTextFile(join(root, "style.css"), "p { color: red }");
  const port = freePort();
  // Development mode: live reload is on without --prod.
  const server = await startProcess(
    "scriptserver",
    serverCommand(root, port),
    port,
    { path: "/page" },
  );
  try {
    const floor = await watcherFloor(root);
    const http = await overHttp(server.url, root);
    const browser = await inChromium(server.url, root);
    const idle = await idleTabs(server.url, server.pid, 20);
    const reference = `${spread(floor)} (a bare Deno.watchFs, save → event)`;
    const rows: FigureRow[] = [];
    const worst = Math.max(...http.page);
    rows.push({
      what: `save → change event → page fetched again (${SAVES} saves)`,
      ours: `${spread(http.page)} (event alone: ${spread(http.event)})`,
      reference,
      target: `≤ ${TARGET_MS} ms: ${worst <= TARGET_MS ? "met" : "missed"}`,
      ok: worst <= TARGET_MS,
    });
    if (browser !== undefined) {
      const slowest = Math.max(...browser.reloading);
      rows.push({
        what: `save → an open Chromium tab starts reloading (${SAVES} saves)`,
        ours: spread(browser.reloading),
        reference,
        target: `≤ ${TARGET_MS} ms: ${slowest <= TARGET_MS ? "met" : "missed"}`,
        ok: slowest <= TARGET_MS,
      });
      const typical = median(browser.parsed);
      rows.push({
        what:
          `save → the tab has parsed the new page (a fresh page isolate, its stylesheet revalidated)`,
        ours: spread(browser.parsed),
        reference,
        target: `reported; median ≤ ${TARGET_MS} ms: ${
          typical <= TARGET_MS ? "met" : "missed"
        }`,
        ok: typical <= TARGET_MS,
      });
    }
    rows.push({
      what: "20 idle tabs listening, 5 s",
      ours: `+${idle.sockets} sockets, ${fmt(idle.cpuMs, 1)} ms CPU`,
      reference: "one connection per tab",
      target: `one idle connection per tab: ${
        idle.sockets <= 20 ? "met" : "missed"
      }`,
      ok: idle.sockets <= 20,
    });
    for (const row of rows) console.log(`${row.what}: ${row.ours}`);
    return rows;
  } finally {
    await server.stop();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) {
  console.log(rowsTable("live reload", await liveReloadFigures()));
}
