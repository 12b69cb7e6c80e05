/**
 * Hostile clients at full size: the memory and latency figures behind
 * tests/hostile_http_test.ts, which runs them small. Each figure starts
 * its own server (under its minimal permissions, with the V8 flags of
 * `deno task start`) and reports a row: what was done, what it cost, the
 * target.
 *
 * Usage: deno run -A bench/hostile.ts   (also part of deno task bench)
 */
import { join } from "@std/path";
import { parseMultipart } from "../lib/multipart.ts";
import {
  fmt,
  freePort,
  median,
  peakOf,
  rssOf,
  type Server,
  serverCommand,
  startProcess,
} from "./_common.ts";
import { startRedis } from "../tests/_redis.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/** One figure. */
export interface HostileRow {
  /** What the clients did. */
  attack: string;
  /** What it cost the server, for people. */
  cost: string;
  /** The target, for people. */
  target: string;
  /** Whether the target holds. */
  ok: boolean;
}

function startServer(
  root: string,
  extra: string[] = [],
  connects: string[] = [],
): Promise<Server> {
  const port = freePort();
  return startProcess(
    "scriptserver",
    serverCommand(root, port, extra, connects),
    port,
    { path: "/a.txt", stderr: "null" },
  );
}

const PROBE = new URL("./_probe.ts", import.meta.url).pathname;

/**
 * Latency of `url`, fetched every 10 ms by a process of its own while
 * `during` runs, in ms (p50, p99).
 */
async function latencyDuring(
  url: string,
  during: Promise<unknown>,
): Promise<{ p50: number; p99: number }> {
  const probe = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", PROBE, url],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = probe.output();
  try {
    await during;
  } finally {
    probe.kill("SIGTERM");
  }
  const { stdout } = await output;
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function urlFlood(root: string): Promise<HostileRow> {
  const server = await startServer(root);
  try {
    const before = rssOf(server.pid);
    const pad = "x".repeat(60_000);
    const flood = Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < 12_000; i += 8) {
        await (await fetch(`${server.url}missing-${i}-${pad}`)).body?.cancel();
      }
    }));
    const latency = await latencyDuring(`${server.url}a.txt`, flood);
    const grown = (rssOf(server.pid) - before) / MiB;
    return {
      attack:
        "12,000 requests for distinct 60 KB URLs that 404 (8 connections)",
      cost: `RSS +${fmt(grown)} MiB; a static file meanwhile: p50 ${
        fmt(latency.p50, 1)
      } ms, p99 ${fmt(latency.p99, 1)} ms`,
      target: "≤ 100 MiB (at 59d8833: +1,360 MiB, p50 77–130 ms)",
      ok: grown <= 100,
    };
  } finally {
    await server.stop();
  }
}

async function stalledUploads(root: string): Promise<HostileRow> {
  const server = await startServer(root);
  const conns: Deno.Conn[] = [];
  try {
    const before = rssOf(server.pid);
    for (let i = 0; i < 200; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      await conn.write(encoder.encode(
        "POST /form.ts HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9437184\r\n\r\na=1&b=",
      ));
      conns.push(conn);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const grown = (rssOf(server.pid) - before) / MiB;
    return {
      attack: "200 form POSTs declaring 9 MiB each, sending 6 bytes, stalled",
      cost: `RSS +${fmt(grown, 1)} MiB`,
      target: "what they sent: a few MiB (at 59d8833: +3.3 GB)",
      ok: grown <= 32,
    };
  } finally {
    for (const conn of conns) conn.close();
    await server.stop();
  }
}

async function concurrentUploads(root: string): Promise<HostileRow> {
  const server = await startServer(root);
  try {
    const before = peakOf(server.pid);
    const payload = new Uint8Array(9 * MiB - 1000);
    crypto.getRandomValues(payload.subarray(0, 65536));
    const uploads = Promise.all(Array.from({ length: 20 }, async () => {
      const form = new FormData();
      form.append("files", new File([payload], "f.bin"));
      const response = await fetch(`${server.url}upload.ts`, {
        method: "POST",
        body: form,
      });
      await response.text();
    }));
    const latency = await latencyDuring(`${server.url}a.txt`, uploads);
    const peak = (peakOf(server.pid) - before) / MiB;
    const sent = (20 * payload.length) / MiB;
    return {
      attack: "20 concurrent multipart uploads of 9 MiB",
      cost: `peak RSS +${fmt(peak)} MiB for ${fmt(sent)} MiB (${
        fmt(peak / sent, 2)
      }×); a static file meanwhile: p50 ${fmt(latency.p50, 1)} ms, p99 ${
        fmt(latency.p99, 1)
      } ms`,
      target: "≤ 2× their size (at 59d8833: 958 MiB, 5.3×)",
      ok: peak <= 2 * sent,
    };
  } finally {
    await server.stop();
  }
}

async function sessionFlood(root: string): Promise<HostileRow> {
  const server = await startServer(root);
  try {
    const before = rssOf(server.pid);
    const cookies: string[] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < 10_000; i += 8) {
        const login = await fetch(`${server.url}login.ts?u=${i}`);
        await login.body?.cancel();
        const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
        await (await fetch(`${server.url}me.ts`, { headers: { cookie } }))
          .body?.cancel();
        cookies[i] = cookie;
      }
    }));
    await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < 100_000; i += 8) {
        await (await fetch(`${server.url}visit.ts`)).body?.cancel();
      }
    }));
    let kept = 0;
    for (const [i, cookie] of cookies.entries()) {
      const me = await fetch(`${server.url}me.ts`, { headers: { cookie } });
      if (await me.text() === String(i)) kept++;
    }
    const grown = (rssOf(server.pid) - before) / MiB;
    return {
      attack:
        "10,000 logged-in visitors, then 100,000 cookieless requests that write a session",
      cost: `${kept.toLocaleString("en")} of 10,000 still logged in; RSS +${
        fmt(grown)
      } MiB`,
      target: "all 10,000 (at 59d8833: none)",
      ok: kept === 10_000,
    };
  } finally {
    await server.stop();
  }
}

/** Parse time of a 10 MiB body of near-delimiters against a random one. */
async function multipartWorstCase(): Promise<HostileRow> {
  const boundary = "x".repeat(70);
  const size = 10 * MiB;
  const near = encoder.encode(`\r\n--${"x".repeat(69)}y`);
  const bodies = {
    random: new Uint8Array(size),
    near: new Uint8Array(size),
  };
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(bodies.random.subarray(i, i + 65536));
  }
  for (let i = 0; i + near.length <= size; i += near.length) {
    bodies.near.set(near, i);
  }
  const wrap = (filler: Uint8Array): Uint8Array<ArrayBuffer> => {
    const head = encoder.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n`,
    );
    const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
    const body = new Uint8Array(head.length + filler.length + tail.length);
    body.set(head);
    body.set(filler, head.length);
    body.set(tail, head.length + filler.length);
    return body;
  };
  const time = async (body: Uint8Array<ArrayBuffer>) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      // In 64 KiB pieces, as a network delivers them.
      let at = 0;
      const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
        pull(controller) {
          if (at >= body.length) return controller.close();
          controller.enqueue(body.slice(at, at + 65536));
          at += 65536;
        },
      });
      await parseMultipart(stream, { boundary, maxFields: 1 });
      runs.push(performance.now() - start);
    }
    return median(runs);
  };
  const random = await time(wrap(bodies.random));
  const worst = await time(wrap(bodies.near));
  return {
    attack:
      "a 10 MiB multipart body of near-delimiters (70-character boundary), against 10 MiB of random bytes",
    cost: `${fmt(worst)} ms against ${fmt(random)} ms (${
      fmt(worst / random, 2)
    }×)`,
    target: "≤ 2× (at 59d8833: a 540 KB body held the event loop 19.9 s)",
    ok: worst <= 2 * random,
  };
}

async function slowloris(root: string): Promise<HostileRow> {
  const server = await startServer(root);
  const conns: Deno.Conn[] = [];
  try {
    const before = rssOf(server.pid);
    for (let i = 0; i < 800; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\nX-a: "));
      conns.push(conn);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const grown = rssOf(server.pid) - before;
    const start = performance.now();
    await (await fetch(`${server.url}a.txt`)).body?.cancel();
    const ms = performance.now() - start;
    return {
      attack: "800 connections that never finish their request headers",
      cost: `${
        fmt(grown / conns.length / 1024, 1)
      } KiB and a file descriptor each, held until they close; a request meanwhile: ${
        fmt(ms, 1)
      } ms`,
      target:
        "reported: Deno 2.9 has no header timeout (see README, Slow clients)",
      ok: true,
    };
  } finally {
    for (const conn of conns) conn.close();
    await server.stop();
  }
}

async function redisPaused(root: string): Promise<HostileRow | undefined> {
  let redis;
  try {
    redis = await startRedis();
  } catch {
    return undefined;
  }
  const server = await startServer(
    root,
    ["--sessions", redis.url],
    [`127.0.0.1:${redis.port}`],
  );
  try {
    const login = await fetch(`${server.url}login.ts?u=x`);
    await login.body?.cancel();
    const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
    redis.pause();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = performance.now();
      const response = await fetch(`${server.url}me.ts`, {
        headers: { cookie },
      });
      await response.body?.cancel();
      times.push(performance.now() - start);
    }
    redis.resume();
    const resumed = performance.now();
    let back = NaN;
    while (performance.now() - resumed < 5000) {
      const response = await fetch(`${server.url}me.ts`, {
        headers: { cookie },
      });
      if ((await response.text()) === "x") {
        back = performance.now() - resumed;
        break;
      }
    }
    const p50 = median(times);
    return {
      attack: "Redis paused (SIGSTOP) under a logged-in visitor, then resumed",
      cost: `503 p50 ${fmt(p50)} ms (the first waits the 2 s timeout); back ${
        fmt(back)
      } ms after it resumed`,
      target: "p50 ≤ 100 ms, back within 1 s (at 59d8833: p50 1.2 s)",
      ok: p50 <= 100 && back <= 1000,
    };
  } finally {
    await server.stop();
    await redis.stop();
  }
}

/** The site the figures use. */
async function makeSite(): Promise<string> {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "hostile_" }),
  );
  const files: Record<string, string> = {
    "a.txt": "alive",
    "form.ts": `export default (ctx) => "got " + ctx.form.get("a");`,
    "upload.ts":
      `export default (ctx) => "got " + ctx.form.getAll("files").length;`,
    "login.ts":
      `export default async (ctx) => { await ctx.regenerateSession(); ctx.session.user = ctx.query.get("u"); return "in"; };`,
    "me.ts": `export default (ctx) => String(ctx.session.user ?? "");`,
    "visit.ts":
      `export default (ctx) => { ctx.session.seen = 1; return "hi"; };`,
  };
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(root, name), text);
  }
  return root;
}

/** Every figure, in order. */
export async function hostileFigures(): Promise<HostileRow[]> {
  const root = await makeSite();
  try {
    const rows: HostileRow[] = [];
    for (
      const figure of [
        urlFlood,
        stalledUploads,
        concurrentUploads,
        sessionFlood,
        () => multipartWorstCase(),
        slowloris,
        redisPaused,
      ]
    ) {
      const row = await figure(root);
      if (row !== undefined) {
        console.log(`${row.attack}: ${row.cost}`);
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The figures as a Markdown table. */
export function hostileTable(rows: HostileRow[]): string {
  return [
    "| hostile clients | cost | target |",
    "|---|---|---|",
    ...rows.map((row) =>
      `| ${row.attack} | ${row.cost} | ${row.target}: ${row.ok ? "✅" : "❌"} |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  console.log(hostileTable(await hostileFigures()));
}
