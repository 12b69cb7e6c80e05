/**
 * `deno task bench`: scriptserver against the reference, side by side.
 *
 * For each workload, a bare `Deno.serve` answering the same bytes from
 * memory (Deno's own limit for that response) and scriptserver are loaded
 * with wrk in interleaved rounds; the median of each is reported with the
 * ratio, p99 latency and the server's CPU time per request (from
 * /proc/<pid>/stat: on two cores the load generator can saturate first,
 * and CPU per request stays honest then). Servers are pinned to core 0 and
 * wrk to core 1 with taskset. nginx (one worker) is measured beside for
 * static files and listings. Memory and start-up figures follow.
 *
 * Writes bench/RESULTS.md and bench/results.svg.
 *
 * Usage: deno task bench [--rounds N] [--seconds S]
 */
import { dirname, fromFileUrl, join } from "@std/path";
import { parseArgs } from "@std/cli/parse-args";
import { pageSource } from "./_page_source.ts";
import { measureReference, measureServer } from "./page_edits.ts";
import { freePort, rssOf, serverCommand } from "./_common.ts";
import { V8_FLAGS } from "../tools/v8_flags.ts";
import { hostileFigures, hostileTable } from "./hostile.ts";

const HERE: string = dirname(fromFileUrl(import.meta.url));
const BARE: string = join(HERE, "_bare.ts");
const args = parseArgs(Deno.args, { string: ["rounds", "seconds"] }) as {
  rounds?: string;
  seconds?: string;
};
const ROUNDS = Number(args.rounds ?? 5);
/** How many times each server is started to time its start-up. */
const STARTS = 11;
const SECONDS = Number(args.seconds ?? 3);
const CLOCK_TICKS = 100; // USER_HZ on Linux

// ---------------------------------------------------------------- tools

function which(command: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${command}`] })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Installs wrk and nginx from Debian when missing (as CI does: root). */
async function ensureTools(): Promise<void> {
  const missing = ["wrk", "nginx"].filter((tool) => !which(tool));
  if (missing.length === 0) return;
  console.log(`bench: installing ${missing.join(", ")} from Debian`);
  const packages = missing.map((tool) =>
    tool === "nginx" ? "nginx-light" : tool
  );
  const { success } = await new Deno.Command("sh", {
    args: [
      "-c",
      `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${
        packages.join(" ")
      }`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`Cannot install ${missing.join(", ")}`);
}

const PINNED = which("taskset");

function pinned(core: number, command: string[]): string[] {
  return PINNED ? ["taskset", "-c", String(core), ...command] : command;
}

// ---------------------------------------------------------------- processes

interface Server {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function waitUntilUp(port: number, path = "/"): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < 2000; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      await response.body?.cancel();
      return performance.now() - start;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  throw new Error(`Nothing answered on port ${port}`);
}

async function spawn(
  name: string,
  command: string[],
  port: number,
  path = "/",
): Promise<Server & { startup: number }> {
  const start = performance.now();
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdout: "null",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  await waitUntilUp(port, path);
  return {
    name,
    port,
    pid: child.pid,
    startup: performance.now() - start,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Gone.
      }
      await child.status;
    },
  };
}

/** The hello page: the first request each server answers, and a workload. */
const HELLO = "/hello.ts?name=world";

/** A load workload: a request, and the bare server that sends its bytes. */
interface Workload {
  name: string;
  /** The share of the bare server's requests/s to reach. */
  target: number;
  path: string;
  /** The bare server answering the same bytes; workloads may share one. */
  reference: string;
  /** Also measure the bare server that reads Host and URL (the floor). */
  floor?: boolean;
  /** Also measure nginx on the same path. */
  nginx?: boolean;
}

const WORKLOADS: Workload[] = [
  {
    name: "hello.ts page",
    target: 0.85,
    path: HELLO,
    reference: "hello",
    floor: true,
  },
  {
    name: "hello.tpl template",
    target: 0.85,
    path: "/hello.tpl?name=world",
    reference: "hello",
    floor: true,
  },
  {
    name: "4 KiB static file",
    target: 0.85,
    path: "/4k.txt",
    reference: "4k",
    floor: true,
    nginx: true,
  },
  {
    name: "50-entry listing",
    target: 0.7,
    path: "/list/",
    reference: "list",
    floor: true,
    nginx: true,
  },
  {
    name: "1 MiB static file",
    target: 0.85,
    path: "/1m.bin",
    reference: "1m",
    nginx: true,
  },
];

function ourServer(root: string, port: number, extra: string[] = []) {
  return spawn(
    "scriptserver",
    pinned(0, serverCommand(root, port, ["--prod", ...extra])),
    port,
    HELLO,
  );
}

function bareServer(
  reference: { body: string; headers: string },
  mode: "" | "reads" = "",
) {
  const port = freePort();
  return spawn(
    "bare Deno.serve",
    pinned(0, [
      Deno.execPath(),
      "run",
      `--allow-net=127.0.0.1:${port}`,
      `--allow-read=${reference.body},${reference.headers}`,
      BARE,
      String(port),
      reference.body,
      reference.headers,
      mode,
    ]),
    port,
  );
}

async function nginxServer(root: string) {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "nginx_" });
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  include /etc/nginx/mime.types;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex on;
  }
}
`,
  );
  const server = await spawn(
    "nginx",
    pinned(0, ["nginx", "-c", conf, "-g", "daemon off;"]),
    port,
  );
  // nginx forks its worker: the CPU that counts is the worker's.
  const workers = new TextDecoder().decode(
    new Deno.Command("pgrep", { args: ["-P", String(server.pid)] }).outputSync()
      .stdout,
  ).trim().split("\n").filter(Boolean);
  return { ...server, pid: Number(workers[0] ?? server.pid) };
}

// ---------------------------------------------------------------- measuring

/** CPU time (user + system) of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size of a process, in MiB. */
function rssMiB(pid: number): number {
  return rssOf(pid) / 1024 / 1024;
}

/**
 * A process's resident memory in two parts, in MiB: anonymous (the heaps
 * and stacks) and file-backed (pages of the deno executable and libraries
 * that the process has touched: shared, and reclaimable by the kernel).
 */
function rssParts(pid: number): string {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mib = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) /
    1024;
  return `anonymous ${fmt(mib("RssAnon"), 1)}, file-backed ${
    fmt(mib("RssFile"), 1)
  }`;
}

interface Run {
  rps: number;
  p99ms: number;
  cpuUs: number;
}

function parseLatency(text: string): number {
  const match = /^\s*([\d.]+)(us|ms|s)$/.exec(text);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us"
    ? value / 1000
    : match[2] === "s"
    ? value * 1000
    : value;
}

async function load(server: Server, path: string): Promise<Run> {
  const before = cpuSeconds(server.pid);
  const output = await new Deno.Command(
    PINNED ? "taskset" : "wrk",
    {
      args: [
        ...(PINNED ? ["-c", "1", "wrk"] : []),
        "-t1",
        "-c32",
        `-d${SECONDS}s`,
        "--latency",
        `http://127.0.0.1:${server.port}${path}`,
      ],
      stdout: "piped",
      stderr: "piped",
    },
  ).output();
  const cpu = cpuSeconds(server.pid) - before;
  const text = new TextDecoder().decode(output.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const p99 = parseLatency(/^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? "");
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1];
  if (errors) {
    throw new Error(`${server.name} ${path}: ${errors} error responses`);
  }
  return { rps, p99ms: p99, cpuUs: (cpu / requests) * 1e6 };
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Result {
  workload: string;
  target: number;
  ours: Run;
  bare: Run;
  /** The bare server that also reads the Host header and the URL. */
  reads?: Run;
  nginx?: Run;
}

async function compare(
  workload: Workload,
  servers: { ours: Server; bare: Server; reads?: Server; nginx?: Server },
): Promise<Result> {
  const { name, target, path } = workload;
  const runs: Record<string, Run[]> = {
    ours: [],
    bare: [],
    reads: [],
    nginx: [],
  };
  // Warm up, then interleave the rounds.
  await load(servers.ours, path);
  await load(servers.bare, "/");
  for (let round = 0; round < ROUNDS; round++) {
    runs.bare!.push(await load(servers.bare, "/"));
    runs.ours!.push(await load(servers.ours, path));
    if (servers.reads) runs.reads!.push(await load(servers.reads, "/"));
    if (servers.nginx) runs.nginx!.push(await load(servers.nginx, path));
  }
  const summarize = (list: Run[]): Run => ({
    rps: median(list.map((r) => r.rps)),
    p99ms: median(list.map((r) => r.p99ms)),
    cpuUs: median(list.map((r) => r.cpuUs)),
  });
  const result: Result = {
    workload: name,
    target,
    ours: summarize(runs.ours!),
    bare: summarize(runs.bare!),
    ...(runs.nginx!.length ? { nginx: summarize(runs.nginx!) } : {}),
    ...(runs.reads!.length ? { reads: summarize(runs.reads!) } : {}),
  };
  console.log(
    `${name}: ${result.ours.rps.toFixed(0)} req/s vs ${
      result.bare.rps.toFixed(0)
    } (${(result.ours.rps / result.bare.rps).toFixed(2)}×, target ${target}×)`,
  );
  return result;
}

// ---------------------------------------------------------------- the site

async function makeSite(): Promise<string> {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "bench_" }),
  );
  await Deno.writeTextFile(
    join(root, "hello.ts"),
    await Deno.readTextFile(join(HERE, "..", "scripts", "hello.ts")),
  );
  await Deno.writeTextFile(join(root, "hello.tpl"), "Hello $name !");
  const line = "scriptserver serves a folder quickly and safely. ";
  await Deno.writeTextFile(
    join(root, "4k.txt"),
    line.repeat(Math.ceil(4096 / line.length)).slice(0, 4096),
  );
  const mib = new Uint8Array(1024 * 1024);
  crypto.getRandomValues(mib.subarray(0, 65536));
  for (let i = 65536; i < mib.length; i++) mib[i] = mib[i % 65536]!;
  await Deno.writeFile(join(root, "1m.bin"), mib);
  await Deno.mkdir(join(root, "list"));
  for (let i = 0; i < 50; i++) {
    await Deno.writeTextFile(
      join(root, "list", `file-${String(i).padStart(2, "0")}.txt`),
      "x".repeat(i * 100),
    );
  }
  await Deno.writeTextFile(
    join(root, "session.ts"),
    `export default (ctx) => { ctx.session.user = "user " + crypto.randomUUID(); return "ok"; };`,
  );
  await Deno.writeTextFile(
    join(root, "upload.ts"),
    `export default (ctx) => "got " + ctx.form.get("f");`,
  );
  await Deno.writeTextFile(join(root, "page.ts"), pageSource(0));
  return root;
}

// ---------------------------------------------------------------- memory

async function memoryFigures(
  root: string,
  oursIdle: number,
  oursWarm: number,
  bareIdle: number,
) {
  const port = freePort();
  const server = await ourServer(root, port);
  try {
    // A 100 MiB upload, refused by the default 10 MiB limit.
    const beforeUpload = rssMiB(server.pid);
    const upload = await uploadOf(port, 100 * 1024 * 1024);
    const uploadCost = rssMiB(server.pid) - beforeUpload;

    return {
      idle: oursIdle,
      warm: oursWarm,
      bareIdle,
      sessions: await sessionCost(),
      upload: { status: upload, cost: uploadCost },
      perEditKiB: await editCost(),
    };
  } finally {
    await server.stop();
  }
}

/** Heap that 10,000 in-memory sessions hold, in MiB (see _sessions.ts). */
async function sessionCost(): Promise<number> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc", join(HERE, "_sessions.ts")],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("The session measurement failed");
  return JSON.parse(new TextDecoder().decode(stdout)).bytes / 1024 / 1024;
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
    while (sent < size) {
      try {
        sent += await conn.write(chunk);
      } catch {
        break; // The server closed the connection.
      }
      if (sent > 20 * 1024 * 1024) break;
    }
    const n = await reading;
    const status =
      new TextDecoder().decode(reply.subarray(0, n ?? 0)).split(" ")[1];
    return Number(status);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed.
    }
  }
}

// ---------------------------------------------------------------- report

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

function table(results: Result[]): string {
  const rows = results.map((r) => {
    const ratio = r.ours.rps / r.bare.rps;
    return `| ${r.workload} | ${fmt(r.ours.rps)} | ${fmt(r.bare.rps)} | **${
      fmt(ratio, 2)
    }×** (≥ ${r.target}) ${ratio >= r.target ? "✅" : "❌"} | ${
      fmt(r.ours.p99ms, 2)
    } | ${fmt(r.bare.p99ms, 2)} | ${fmt(r.ours.cpuUs, 1)} | ${
      fmt(r.bare.cpuUs, 1)
    } | ${
      r.reads
        ? `${fmt(r.reads.rps)} (${fmt(r.reads.rps / r.bare.rps, 2)}×; ours: ${
          fmt(r.ours.rps / r.reads.rps, 2)
        }× of it)`
        : "–"
    } | ${r.nginx ? fmt(r.nginx.rps) : "–"} |`;
  });
  return [
    "| workload | scriptserver req/s | bare Deno.serve req/s | ratio | p99 ms | bare p99 ms | CPU µs/req | bare CPU µs/req | bare that reads Host and URL, req/s | nginx req/s |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

function chart(results: Result[]): string {
  const width = 720;
  const row = 46;
  const left = 190;
  const scale = (width - left - 60) / 1.2;
  const height = results.length * row + 70;
  const bars = results.map((r, i) => {
    const ratio = r.ours.rps / r.bare.rps;
    const y = 40 + i * row;
    const color = ratio >= r.target ? "#30a46c" : "#e5484d";
    return `<text x="${left - 10}" y="${
      y + 19
    }" text-anchor="end">${r.workload}</text>
<rect x="${left}" y="${y + 4}" width="${
      (Math.min(ratio, 1.2) * scale).toFixed(1)
    }" height="22" fill="${color}" rx="3"/>
<line x1="${(left + r.target * scale).toFixed(1)}" x2="${
      (left + r.target * scale).toFixed(1)
    }" y1="${y}" y2="${y + 30}" stroke="#111" stroke-dasharray="3 2"/>
<text x="${(left + Math.min(ratio, 1.2) * scale + 6).toFixed(1)}" y="${
      y + 20
    }">${ratio.toFixed(2)}×</text>`;
  }).join("\n");
  const one = left + scale;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui,sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="24" font-size="14" font-weight="600">scriptserver's requests/s as a share of a bare Deno.serve sending the same response</text>
<line x1="${one}" x2="${one}" y1="34" y2="${height - 24}" stroke="#888"/>
<text x="${left}" y="${
    height - 8
  }" fill="#555">1.0× (grey line): Deno's own limit for that response. Dashes: targets.</text>
${bars}
</svg>
`;
}

// ---------------------------------------------------------------- main

if (import.meta.main) {
  await ensureTools();
  const root = await makeSite();
  const oursPort = freePort();
  const ours = await ourServer(root, oursPort);
  // Idle: started, and one request answered, as the bare server below.
  const oursIdle = rssMiB(ours.pid);
  const oursIdleParts = rssParts(ours.pid);
  // What a first listing and a first static file add: loaded on first use.
  for (const path of ["/", "/4k.txt"]) {
    await (await fetch(`http://127.0.0.1:${oursPort}${path}`)).body?.cancel();
  }
  const oursWarm = rssMiB(ours.pid);
  const nginx = await nginxServer(root);
  const started: Server[] = [ours, nginx];
  const results: Result[] = [];
  try {
    // References: exactly the status, headers and body scriptserver sends.
    const bodies = await Deno.makeTempDir({ prefix: "bodies_" });
    const reference = async (name: string, path: string) => {
      const response = await fetch(`http://127.0.0.1:${oursPort}${path}`);
      const headers: Record<string, string> = {};
      for (const [key, value] of response.headers) {
        if (
          !["date", "content-length", "connection", "keep-alive"].includes(key)
        ) {
          headers[key] = value;
        }
      }
      const files = {
        body: join(bodies, name),
        headers: join(bodies, `${name}.json`),
      };
      await Deno.writeFile(
        files.body,
        new Uint8Array(await response.arrayBuffer()),
      );
      await Deno.writeTextFile(files.headers, JSON.stringify(headers));
      return files;
    };
    // One bare server per distinct response (the page and the template
    // send the same bytes), and its floor where the workload has one.
    const references = new Map<
      string,
      { files: { body: string; headers: string }; bare: Server; reads?: Server }
    >();
    let bareIdle = 0;
    let bareIdleParts = "";
    for (const workload of WORKLOADS) {
      if (references.has(workload.reference)) continue;
      const files = await reference(workload.reference, workload.path);
      const bare = await bareServer(files);
      started.push(bare);
      if (references.size === 0) {
        // The first (hello) server, idle: one request answered.
        bareIdle = rssMiB(bare.pid);
        bareIdleParts = rssParts(bare.pid);
      }
      const reads = workload.floor
        ? await bareServer(files, "reads")
        : undefined;
      if (reads) started.push(reads);
      references.set(workload.reference, {
        files,
        bare,
        ...(reads ? { reads } : {}),
      });
    }

    for (const workload of WORKLOADS) {
      const { bare, reads } = references.get(workload.reference)!;
      results.push(
        await compare(workload, {
          ours,
          bare,
          ...(reads ? { reads } : {}),
          ...(workload.nginx ? { nginx } : {}),
        }),
      );
    }
    const helloReference = references.get("hello")!.files;
    const afterLoad = rssMiB(ours.pid);
    const bareAfterLoad = Math.max(
      ...[...references.values()].map(({ bare }) => rssMiB(bare.pid)),
    );

    // Start-up to first response: a median of 11, as single starts on this
    // kind of machine range from 40 to 70 ms.
    const startups = { ours: [] as number[], bare: [] as number[] };
    for (let i = 0; i < STARTS; i++) {
      const port = freePort();
      const o = await spawn(
        "ours",
        serverCommand(root, port),
        port,
        HELLO,
      );
      startups.ours.push(o.startup);
      await o.stop();
      const b = await spawn("bare", [
        Deno.execPath(),
        "run",
        `--allow-net=127.0.0.1:${port}`,
        `--allow-read=${bodies}`,
        BARE,
        String(port),
        helloReference.body,
        helloReference.headers,
      ], port);
      startups.bare.push(b.startup);
      await b.stop();
    }
    const memory = await memoryFigures(root, oursIdle, oursWarm, bareIdle);
    const hostile = await hostileFigures();

    const report = `# Benchmark results

Measured by \`deno task bench\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${Deno.build.target}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}. Servers pinned to core 0, \`wrk -t1 -c32 -d${SECONDS}s\` to core 1
(taskset ${
      PINNED ? "used" : "not available"
    }), medians of ${ROUNDS} interleaved rounds after a warm-up. The reference for
each workload is a bare \`Deno.serve\` answering from memory with exactly the status, headers and body scriptserver
sends for it: Deno's own limit for that response. (Deno sends a response with a single Content-Type header on a
faster native path than one with more headers; static files carry ETag, Last-Modified, Accept-Ranges, Cache-Control and nosniff, and
so does their reference.) For the small responses a second reference, the same bare server that also reads each
request's Host header and URL (as any server must before it can route safely), shows the floor for a real server.
scriptserver runs with \`--prod --quiet\` under its minimal permissions, with
\`${V8_FLAGS}\` as \`deno task start\` runs it; the bare servers run
without it.

![ratios](results.svg)

${table(results)}

| memory and start-up | scriptserver | reference | target |
|---|---|---|---|
| idle RSS (started, one hello page answered) | ${
      fmt(memory.idle, 1)
    } MiB (${oursIdleParts}) | ${
      fmt(memory.bareIdle, 1)
    } MiB (bare, one request answered; ${bareIdleParts}) | ≤ 1.3 × bare: ${
      memory.idle <= 1.3 * memory.bareIdle ? "✅" : "❌"
    } (${fmt(memory.idle / memory.bareIdle, 2)}×) |
| RSS after a first listing and static file | ${fmt(memory.warm, 1)} MiB (${
      fmt(memory.warm / memory.bareIdle, 2)
    }× bare) | ${
      fmt(memory.bareIdle, 1)
    } MiB (bare, idle) | reported: they load ICU collation data and the media-type table |
| RSS after the whole load run | ${fmt(afterLoad, 1)} MiB | ${
      fmt(bareAfterLoad, 1)
    } MiB (the largest bare server after its load) | ≤ 100 MiB: ${
      afterLoad <= 100 ? "✅" : "❌"
    } |
| 10,000 sessions (heap, after full GC) | +${
      fmt(memory.sessions, 1)
    } MiB | | ≤ 10 MiB: ${memory.sessions <= 10 ? "✅" : "❌"} |
| 100 MiB upload, refused by the 10 MiB limit | answered ${memory.upload.status}, +${
      fmt(memory.upload.cost, 1)
    } MiB | | a few MiB: ${memory.upload.cost <= 5 ? "✅" : "❌"} |
| RSS per page edit (~2 KB page, 300 edits) | ${
      fmt(memory.perEditKiB.ours, 1)
    } KiB | ${
      fmt(memory.perEditKiB.bare, 1)
    } KiB (a bare \`import()\` of each version) | reported (${
      fmt(memory.perEditKiB.ours / memory.perEditKiB.bare, 2)
    }×) |
| start-up to first response (median of ${STARTS}) | ${
      fmt(median(startups.ours), 0)
    } ms | ${fmt(median(startups.bare), 0)} ms (bare) | ≤ 60 ms: ${
      median(startups.ours) <= 60 ? "✅" : "❌"
    } |

${hostileTable(hostile)}

p99 targets: ≤ 2 ms for the hello page (${fmt(results[0]!.ours.p99ms, 2)} ms ${
      results[0]!.ours.p99ms <= 2 ? "✅" : "❌"
    }), ≤ 5 ms for the 4 KiB file (${fmt(results[2]!.ours.p99ms, 2)} ms ${
      results[2]!.ours.p99ms <= 5 ? "✅" : "❌"
    }).
`;
    const written = [join(HERE, "RESULTS.md"), join(HERE, "results.svg")];
    await Deno.writeTextFile(written[0]!, report);
    await Deno.writeTextFile(written[1]!, chart(results));
    // Formatted as the repository is, so that deno task test stays green.
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ...written],
    }).output();
    console.log(report);
  } finally {
    for (const server of started) await server.stop();
    await Deno.remove(root, { recursive: true });
  }
}
