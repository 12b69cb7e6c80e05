/** Load with wrk: requests/s, p99 latency and the server's CPU per request. */
import { cpuSeconds, median, pinned, type Server, which } from "./_common.ts";

/** One wrk run against one server. */
export interface Run {
  rps: number;
  p99ms: number;
  /** The server's CPU time per request, in µs (all its threads). */
  cpuUs: number;
}

/** Stops with what to install when wrk is missing; never installs it. */
export function requireWrk(): void {
  if (which("wrk")) return;
  console.error(
    "bench: wrk is not installed. On Debian or Ubuntu: sudo apt-get install wrk (macOS: brew install wrk)",
  );
  Deno.exit(1);
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

/**
 * `wrk -t1 -c32` on `path` for `seconds`, wrk pinned to core 1. Throws on
 * error responses: a benchmark of errors measures nothing. `signal` ends
 * wrk early (it outlives a stopped server otherwise).
 */
export async function load(
  server: Server,
  path: string,
  { seconds, headers = {}, signal, script }: {
    seconds: number;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    /** A wrk Lua script (its method and body, say). */
    script?: string;
  },
): Promise<Run> {
  const before = cpuSeconds(server.pid);
  const [command, ...args] = pinned(1, [
    "wrk",
    "-t1",
    "-c32",
    `-d${seconds}s`,
    "--latency",
    ...(script === undefined ? [] : ["-s", script]),
    ...Object.entries(headers).flatMap(([name, value]) => [
      "-H",
      `${name}: ${value}`,
    ]),
    `${server.url}${path.replace(/^\//, "")}`,
  ]);
  const output = await new Deno.Command(command!, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
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

/** The median of each figure over several runs. */
export function summarize(runs: Run[]): Run {
  return {
    rps: median(runs.map((run) => run.rps)),
    p99ms: median(runs.map((run) => run.p99ms)),
    cpuUs: median(runs.map((run) => run.cpuUs)),
  };
}
