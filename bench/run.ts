/**
 * `deno task bench`: scriptserver against the reference, side by side.
 *
 * For each workload of WORKLOADS, a bare `Deno.serve` answering the same
 * bytes from memory (Deno's own limit for that response) and scriptserver
 * are loaded with wrk in interleaved rounds; the median of each is
 * reported with the ratio, p99 latency and the server's CPU time per
 * request (from /proc/<pid>/stat: on two cores the load generator can
 * saturate first, and CPU per request stays honest then). Servers are
 * pinned to core 0 and wrk to core 1 with taskset. nginx (one worker) is
 * measured beside for static files and listings when it is installed.
 * Memory, start-up and hostile-client figures follow.
 *
 * Needs wrk (it says what to install when missing; it installs nothing).
 * Writes bench/RESULTS.md and bench/results.svg.
 *
 * Usage: deno task bench [--rounds N] [--seconds S]
 */
import { join } from "@std/path";
import { parseArgs } from "@std/cli/parse-args";
import {
  type BodyFiles,
  capture,
  fmt,
  freePort,
  median,
  pinned,
  PINNING,
  rssOf,
  type Server,
  serverCommand,
  startBare,
  startProcess,
} from "./_common.ts";
import { load, requireWrk, type Run, summarize } from "./_load.ts";
import { NGINX, NGINX_HINT, startNginx } from "./_nginx.ts";
import { makeSite } from "./_site.ts";
import {
  chart,
  type Result,
  resultsTable,
  type Row,
  rowsTable,
} from "./_report.ts";
import { measureReference, measureServer } from "./page_edits.ts";
import { hostileFigures, hostileTable } from "./hostile.ts";
import { isolateFigures } from "./isolates.ts";
import { compressionFigures } from "./compression.ts";
import { liveReloadFigures } from "./live_reload.ts";
import { V8_FLAGS } from "../tools/v8_flags.ts";

const args = parseArgs(Deno.args, { string: ["rounds", "seconds"] }) as {
  rounds?: string;
  seconds?: string;
};
const ROUNDS = Number(args.rounds ?? 5);
const SECONDS = Number(args.seconds ?? 3);
/** How many times each server is started to time its start-up. */
const STARTS = 11;
const MiB = 1024 * 1024;

/** The hello page: the first request each server answers, and a workload. */
const HELLO = "/hello.ts?name=world";

/** A load workload: one request, against the bare server sending its bytes. */
interface Workload {
  /** The row's name; results are picked by it. */
  name: string;
  path: string;
  /** The share of the bare server's requests/s to reach. */
  target: number;
  /** The p99 latency to stay within, in ms, if the workload has one. */
  p99?: number;
  /**
   * The bare server's response: captured from scriptserver's answer to the
   * first workload naming it, and shared by the workloads that name it.
   */
  reference: string;
  /** Also measure the bare server that reads Host and URL (the floor). */
  floor?: boolean;
  /** Also measure nginx on the same path. */
  nginx?: boolean;
}

const WORKLOADS: Workload[] = [
  {
    name: "hello.ts page (--in-process)",
    path: HELLO,
    target: 0.85,
    p99: 2,
    reference: "hello",
    floor: true,
  },
  {
    name: "hello.tpl template",
    path: "/hello.tpl?name=world",
    target: 0.85,
    reference: "hello",
    floor: true,
  },
  {
    name: "4 KiB static file",
    path: "/4k.txt",
    target: 0.85,
    p99: 5,
    reference: "4k",
    floor: true,
    nginx: true,
  },
  {
    name: "50-entry listing",
    path: "/list/",
    target: 0.7,
    reference: "list",
    floor: true,
    nginx: true,
  },
  {
    name: "1 MiB static file",
    path: "/1m.bin",
    target: 0.85,
    reference: "1m",
    nginx: true,
  },
];

// ---------------------------------------------------------------- servers

function startScriptserver(root: string, port = freePort()): Promise<Server> {
  return startProcess(
    "scriptserver",
    // In-process: the rows compare the server's own code paths; pages in
    // isolates have their own figures (bench/isolates.ts).
    pinned(0, serverCommand(root, port, ["--prod", "--in-process"])),
    port,
    { path: HELLO },
  );
}

/** The bare servers for one reference response. */
interface Reference {
  files: BodyFiles;
  bare: Server;
  reads?: Server;
}

// ---------------------------------------------------------------- measuring

async function measure(
  workload: Workload,
  servers: { ours: Server; reference: Reference; nginx?: Server },
): Promise<Result> {
  const { ours, reference: { bare, reads }, nginx } = servers;
  const options = { seconds: SECONDS };
  const runs: Record<"ours" | "bare" | "reads" | "nginx", Run[]> = {
    ours: [],
    bare: [],
    reads: [],
    nginx: [],
  };
  // Warm up, then interleave the rounds.
  await load(ours, workload.path, options);
  await load(bare, "/", options);
  for (let round = 0; round < ROUNDS; round++) {
    runs.bare.push(await load(bare, "/", options));
    runs.ours.push(await load(ours, workload.path, options));
    if (reads) runs.reads.push(await load(reads, "/", options));
    if (nginx) runs.nginx.push(await load(nginx, workload.path, options));
  }
  const result: Result = {
    workload: workload.name,
    target: workload.target,
    ...(workload.p99 === undefined ? {} : { p99: workload.p99 }),
    ours: summarize(runs.ours),
    bare: summarize(runs.bare),
    ...(reads ? { reads: summarize(runs.reads) } : {}),
    ...(nginx ? { nginx: summarize(runs.nginx) } : {}),
  };
  console.log(
    `${workload.name}: ${fmt(result.ours.rps)} req/s vs ${
      fmt(result.bare.rps)
    } (${
      fmt(result.ours.rps / result.bare.rps, 2)
    }×, target ${workload.target}×)`,
  );
  return result;
}

/** RSS of a process in two parts: anonymous (heaps, stacks) and file-backed. */
function rssParts(pid: number): string {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mib = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) /
    1024;
  return `anonymous ${fmt(mib("RssAnon"), 1)}, file-backed ${
    fmt(mib("RssFile"), 1)
  }`;
}

const mibOf = (pid: number) => rssOf(pid) / MiB;
const verdict = (ok: boolean) => (ok ? "✅" : "❌");

/** Heap that 10,000 in-memory sessions hold, in MiB (see _sessions.ts). */
async function sessionCost(): Promise<number> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      new URL("./_sessions.ts", import.meta.url).pathname,
    ],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("The session measurement failed");
  return JSON.parse(new TextDecoder().decode(stdout)).bytes / MiB;
}

/** RSS growth per page edit, scriptserver and a bare import(), in KiB. */
async function editCost(): Promise<{ ours: number; bare: number }> {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "edits_" }),
  );
  try {
    const ours = await measureServer(root);
    const bare = await measureReference(root);
    return { ours: ours / 1024, bare: bare / 1024 };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Sends a POST announcing `size` bytes and streams them until refused. */
async function uploadOf(port: number, size: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(
      `POST /upload.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
    ));
    const chunk = new Uint8Array(64 * 1024).fill(97);
    let sent = 0;
    const reply = new Uint8Array(1024);
    const reading = conn.read(reply);
    while (sent < size && sent <= 20 * MiB) {
      try {
        sent += await conn.write(chunk);
      } catch {
        break; // The server closed the connection.
      }
    }
    const n = await reading;
    return Number(
      new TextDecoder().decode(reply.subarray(0, n ?? 0)).split(" ")[1],
    );
  } finally {
    try {
      conn.close();
    } catch {
      // Closed.
    }
  }
}

/**
 * Start-up to first response, ours (in-process, as the other rows, and
 * with pages in isolates, the default) and bare: medians of STARTS.
 */
async function startups(
  root: string,
  hello: BodyFiles,
): Promise<{ ours: number; isolates: number; bare: number }> {
  const ours: number[] = [];
  const isolates: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    for (const [times, extra] of [[ours, ["--in-process"]], [isolates, []]]) {
      const port = freePort();
      const o = await startProcess(
        "scriptserver",
        serverCommand(root, port, extra as string[]),
        port,
        { path: HELLO },
      );
      (times as number[]).push(o.startup);
      await o.stop();
    }
    const b = await startBare(hello, "", false);
    bare.push(b.startup);
    await b.stop();
  }
  return {
    ours: median(ours),
    isolates: median(isolates),
    bare: median(bare),
  };
}

// ---------------------------------------------------------------- main

if (import.meta.main) {
  requireWrk();
  const root = await makeSite();
  const bodies = await Deno.makeTempDir({ prefix: "bodies_" });
  const started: Server[] = [];
  try {
    const ours = await startScriptserver(root);
    started.push(ours);
    // Idle: started, and one request answered, as the bare servers below.
    const idle = { mib: mibOf(ours.pid), parts: rssParts(ours.pid) };
    // What a first listing and a first static file add: loaded on first use.
    for (const path of ["/", "/4k.txt"]) {
      await (await fetch(`${ours.url}${path.slice(1)}`)).body?.cancel();
    }
    const warm = mibOf(ours.pid);
    const nginx = NGINX ? await startNginx(root) : undefined;
    if (nginx) started.push(nginx);

    // References: exactly the status, headers and body scriptserver sends.
    const references = new Map<string, Reference>();
    for (const workload of WORKLOADS) {
      if (references.has(workload.reference)) continue;
      const files = await capture(
        ours,
        workload.path,
        join(bodies, workload.reference),
      );
      const bare = await startBare(files);
      started.push(bare);
      const reads = workload.floor
        ? await startBare(files, "reads")
        : undefined;
      if (reads) started.push(reads);
      references.set(workload.reference, {
        files,
        bare,
        ...(reads ? { reads } : {}),
      });
    }
    const hello = references.get("hello")!;
    const bareIdle = {
      mib: mibOf(hello.bare.pid),
      parts: rssParts(hello.bare.pid),
    };

    const results = new Map<string, Result>();
    for (const workload of WORKLOADS) {
      results.set(
        workload.name,
        await measure(workload, {
          ours,
          reference: references.get(workload.reference)!,
          ...(workload.nginx && nginx ? { nginx } : {}),
        }),
      );
    }
    const afterLoad = mibOf(ours.pid);
    const bareAfterLoad = Math.max(
      ...[...references.values()].map(({ bare }) => mibOf(bare.pid)),
    );

    const beforeUpload = mibOf(ours.pid);
    const upload = await uploadOf(ours.port, 100 * MiB);
    const uploadCost = mibOf(ours.pid) - beforeUpload;
    const sessions = await sessionCost();
    const edits = await editCost();
    const start = await startups(root, hello.files);
    const hostile = await hostileFigures();
    const isolates = await isolateFigures({ rounds: ROUNDS, seconds: SECONDS });
    const compression = await compressionFigures({
      rounds: ROUNDS,
      seconds: SECONDS,
    });
    const liveReload = await liveReloadFigures();

    const memory: Row[] = [
      {
        what: "idle RSS (started, one hello page answered)",
        ours: `${fmt(idle.mib, 1)} MiB (${idle.parts})`,
        reference: `${
          fmt(bareIdle.mib, 1)
        } MiB (bare, one request answered; ${bareIdle.parts})`,
        target: `≤ 1.3 × bare: ${verdict(idle.mib <= 1.3 * bareIdle.mib)} (${
          fmt(idle.mib / bareIdle.mib, 2)
        }×)`,
      },
      {
        what: "RSS after a first listing and static file",
        ours: `${fmt(warm, 1)} MiB (${fmt(warm / bareIdle.mib, 2)}× bare)`,
        reference: `${fmt(bareIdle.mib, 1)} MiB (bare, idle)`,
        target:
          "reported: they load ICU collation data and the media-type table",
      },
      {
        what: "RSS after the whole load run",
        ours: `${fmt(afterLoad, 1)} MiB`,
        reference: `${
          fmt(bareAfterLoad, 1)
        } MiB (the largest bare server after its load)`,
        target: `≤ 100 MiB: ${verdict(afterLoad <= 100)}`,
      },
      {
        what: "10,000 sessions (heap, after full GC)",
        ours: `+${fmt(sessions, 1)} MiB`,
        reference: "",
        target: `≤ 10 MiB: ${verdict(sessions <= 10)}`,
      },
      {
        what: "100 MiB upload, refused by the 10 MiB limit",
        ours: `answered ${upload}, +${fmt(uploadCost, 1)} MiB`,
        reference: "",
        target: `a few MiB: ${verdict(upload === 413 && uploadCost <= 5)}`,
      },
      {
        what: "RSS per page edit (~2 KB page, 300 edits)",
        ours: `${fmt(edits.ours, 1)} KiB`,
        reference: `${
          fmt(edits.bare, 1)
        } KiB (a bare \`import()\` of each version)`,
        target: `reported (${fmt(edits.ours / edits.bare, 2)}×)`,
      },
      {
        what: `start-up to first response (median of ${STARTS})`,
        ours: `${fmt(start.ours)} ms`,
        reference: `${fmt(start.bare)} ms (bare)`,
        target: `≤ 60 ms: ${verdict(start.ours <= 60)}`,
      },
      {
        what: `start-up to first page, pages in isolates (the default)`,
        ours: `${fmt(start.isolates)} ms`,
        reference: `${fmt(start.ours)} ms in-process, ${
          fmt(start.bare)
        } ms bare`,
        target:
          "reported: the first page waits for its isolate (Deno stops the thread that constructs a Worker for ~85–120 ms)",
      },
    ];

    const report = `# Benchmark results

Measured by \`deno task bench\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${Deno.build.target}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}. Servers pinned to core 0, \`wrk -t1 -c32 -d${SECONDS}s\` to core 1
(taskset ${
      PINNING ? "used" : "not available"
    }), medians of ${ROUNDS} interleaved rounds after a warm-up. The reference for
each workload is a bare \`Deno.serve\` answering from memory with exactly the status, headers and body scriptserver
sends for it: Deno's own limit for that response. (Deno sends a response with a single Content-Type header on a
faster native path than one with more headers; static files carry ETag, Last-Modified, Accept-Ranges, Cache-Control and nosniff, and
so does their reference.) For the small responses a second reference, the same bare server that also reads each
request's Host header and URL (as any server must before it can route safely), shows the floor for a real server.
scriptserver runs with \`--prod --quiet\` under its minimal permissions, with
\`${V8_FLAGS}\` as \`deno task start\` runs it; the bare servers run
without it.${
      NGINX
        ? ""
        : ` nginx was not installed, so its column is empty (\`${NGINX_HINT}\`).`
    }

![ratios](results.svg)

${resultsTable([...results.values()])}

${rowsTable("memory and start-up", memory)}

${hostileTable(hostile)}

${rowsTable("pages in isolates", isolates)}

${rowsTable("compression", compression)}

${rowsTable("live reload (development mode)", liveReload)}
`;
    const written = [
      new URL("./RESULTS.md", import.meta.url).pathname,
      new URL("./results.svg", import.meta.url).pathname,
    ];
    await Deno.writeTextFile(written[0]!, report);
    await Deno.writeTextFile(written[1]!, chart([...results.values()]));
    // Formatted as the repository is, so that deno task test stays green.
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ...written],
    }).output();
    console.log(report);
  } finally {
    for (const server of started) await server.stop();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bodies, { recursive: true });
  }
}
