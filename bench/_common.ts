/** What the benchmark scripts share (and take from the tests' helpers). */
import { V8_FLAGS } from "../tools/v8_flags.ts";
import {
  freePort,
  LIB_DIR,
  LOCK_FLAG,
  MAIN,
  procStatus,
} from "../tests/_helpers.ts";

export { freePort, LIB_DIR, MAIN } from "../tests/_helpers.ts";

/**
 * The command that runs scriptserver on `root` under its minimal
 * permissions, with the V8 flags `deno task start` uses. `connects` are
 * further `host:port`s it may connect to (a Redis server).
 */
export function serverCommand(
  root: string,
  port: number,
  extra: string[] = [],
  connects: string[] = [],
  permissions: string[] = [],
): string[] {
  return [
    Deno.execPath(),
    "run",
    LOCK_FLAG,
    V8_FLAGS,
    "--no-prompt",
    `--allow-net=${[`127.0.0.1:${port}`, ...connects].join(",")}`,
    // ROOT, and scriptserver's lib/ for page isolates.
    `--allow-read=${root},${LIB_DIR}`,
    ...permissions,
    MAIN,
    root,
    "--port",
    String(port),
    "--quiet",
    ...extra,
  ];
}

/** A server process the benchmark started. */
export interface Server {
  name: string;
  port: number;
  pid: number;
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** From spawning it to its first answer, in ms. */
  startup: number;
  /** SIGTERM, and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `command` and waits (10 s at most) until `path` on `port`
 * answers; polled every 2 ms, so the start-up time is exact to that.
 */
export async function startProcess(
  name: string,
  command: string[],
  port: number,
  { path = "/", stderr = "inherit" }: {
    path?: string;
    stderr?: "inherit" | "null";
  } = {},
): Promise<Server> {
  const start = performance.now();
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdout: "null",
    stderr,
    stdin: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Gone.
    }
    await child.status;
  };
  for (;;) {
    try {
      await (await fetch(`${url}${path.replace(/^\//, "")}`)).body?.cancel();
      break;
    } catch (error) {
      if (performance.now() - start > 10_000) {
        await stop();
        throw new Error(`${name} did not answer on port ${port}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  return {
    name,
    port,
    pid: child.pid,
    url,
    startup: performance.now() - start,
    stop,
  };
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  return procStatus(pid, "VmRSS");
}

/** Peak resident set size of a process, in bytes (Linux). */
export function peakOf(pid: number): number {
  return procStatus(pid, "VmHWM");
}

/** CPU time (user + system) of a process and its threads, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const CLOCK_TICKS = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The median; NaN for none. */
export function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A number for a table: fixed digits, "–" when not measured. */
export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

/** Whether a command is on the PATH. */
export function which(command: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${command}`] })
      .outputSync().success;
  } catch {
    return false;
  }
}

const TASKSET = which("taskset");

/** Whether processes can be pinned to a core (taskset, from util-linux). */
export const PINNING: boolean = TASKSET;

/** `command` pinned to one core, when taskset is there. */
export function pinned(core: number, command: string[]): string[] {
  return TASKSET ? ["taskset", "-c", String(core), ...command] : command;
}

const BARE: string = new URL("./_bare.ts", import.meta.url).pathname;

/** A response saved to files, for the bare server to send. */
export interface BodyFiles {
  body: string;
  headers: string;
}

/** A bare Deno.serve sending `files` (reading Host and URL too, with "reads"). */
export function startBare(
  files: BodyFiles,
  mode: "" | "reads" | "form" = "",
  pin = true,
) {
  const port = freePort();
  const command = [
    Deno.execPath(),
    "run",
    `--allow-net=127.0.0.1:${port}`,
    `--allow-read=${files.body},${files.headers}`,
    BARE,
    String(port),
    files.body,
    files.headers,
    mode,
  ];
  return startProcess(
    mode === "reads"
      ? "bare Deno.serve that reads"
      : mode === "form"
      ? "bare Deno.serve that reads the form"
      : "bare Deno.serve",
    pin ? pinned(0, command) : command,
    port,
  );
}

/** Saves scriptserver's answer to `path` (bar per-connection headers). */
export async function capture(
  server: Server,
  path: string,
  into: string,
): Promise<BodyFiles> {
  // The identity: fetch would ask for (and decode) a compressed one.
  const response = await fetch(`${server.url}${path.slice(1)}`, {
    headers: { "accept-encoding": "identity" },
  });
  const headers: Record<string, string> = {};
  for (const [key, value] of response.headers) {
    if (!["date", "content-length", "connection", "keep-alive"].includes(key)) {
      headers[key] = value;
    }
  }
  const files = { body: `${into}.body`, headers: `${into}.json` };
  await Deno.writeFile(
    files.body,
    new Uint8Array(await response.arrayBuffer()),
  );
  await Deno.writeTextFile(files.headers, JSON.stringify(headers));
  return files;
}
