/**
 * Test helpers: a real scriptserver process under the minimal permissions,
 * raw HTTP over a socket, and temporary sites.
 */
import { assertEquals } from "./_assert.ts";
import { TextLineStream } from "@std/streams/text-line-stream";
import { dirname, fromFileUrl, join } from "@std/path";

/** The repository's main.ts. */
export const MAIN: string = fromFileUrl(new URL("../main.ts", import.meta.url));
/** The repository root. */
export const REPO: string = dirname(MAIN);
/** scriptserver's lib/: page isolates load their module from it. */
export const LIB_DIR: string = join(REPO, "lib");

/**
 * The lockfile of tests and the servers they start: deno.lock is for
 * serving alone (Deno installs every package a lockfile names when a
 * program starts, and playwright-core and redis are not for serving).
 */
export const LOCK_FLAG: string = `--lock=${join(REPO, "tests", "deno.lock")}`;

/** Upper bound for any wait in a test: startup, a request, a shutdown. */
export const TIMEOUT_MS = 15_000;

/** A free TCP port on 127.0.0.1 (the listener is closed before returning). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Collected output of a child process, line by line. */
class Lines {
  readonly lines: string[] = [];
  #waiters: {
    test: (line: string) => boolean;
    resolve: (l: string) => void;
  }[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(
        new TextLineStream() as TransformStream<string, string>,
      );
      for await (const line of lines) {
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    })();
  }

  /** Resolves with the first line (past or future) that passes `test`. */
  waitFor(test: (line: string) => boolean, ms = TIMEOUT_MS): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`No matching line within ${ms} ms:\n${this.text}`)),
        ms,
      );
      this.#waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  get text(): string {
    return this.lines.join("\n");
  }
}

/** A scriptserver child process. */
export interface RunningServer {
  /** The URL from the startup line, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  port: number;
  process: Deno.ChildProcess;
  stdout: Lines;
  stderr: Lines;
  /** Sends `signal` (default SIGTERM) and waits for the exit, bounded. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode spawnServer}. */
export interface SpawnOptions {
  /** Arguments after main.ts (ROOT, flags). */
  args?: string[];
  /** Deno permission flags. Default: the minimal ones for `root` and the port. */
  permissions?: string[];
  /** With `permissions`: also grant the default `--allow-net` for the port. */
  netPermission?: boolean;
  /** The directory served; used for the default permissions. */
  root?: string;
  /** The address to listen on (`--host`, and the default net permission). Default: 127.0.0.1. */
  host?: string;
  /** Further addresses the server may connect to (Redis), added to --allow-net. */
  connects?: string[];
  /** Environment for the child (added to a clean one). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /**
   * A command that runs deno, such as `["prlimit", "--nofile=128"]` (it
   * must exec deno, so that the child's pid is deno's).
   */
  wrapper?: string[];
}

/** Starts `deno run main.ts` as a child process, without waiting for it. */
export function spawnRaw(
  permissions: string[],
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; wrapper?: string[] } =
    {},
): { process: Deno.ChildProcess; stdout: Lines; stderr: Lines } {
  const command = [
    ...(options.wrapper ?? []),
    Deno.execPath(),
    "run",
    LOCK_FLAG,
    "--no-prompt",
    ...permissions,
    MAIN,
    ...args,
  ];
  const process = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    clearEnv: true,
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).spawn();
  return {
    process,
    stdout: new Lines(process.stdout),
    stderr: new Lines(process.stderr),
  };
}

/** Waits for a child's exit, killing it when it outlives `ms`. */
export async function waitExit(
  process: Deno.ChildProcess,
  ms = TIMEOUT_MS,
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  const result = await Promise.race([process.status, timeout]);
  clearTimeout(timer);
  if (result === "timeout") {
    process.kill("SIGKILL");
    await process.status;
    throw new Error(`The process did not exit within ${ms} ms`);
  }
  return result;
}

/** Runs main.ts to its exit (bounded): its exit code and output. */
export async function runMain(
  permissions: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnRaw(permissions, args, { env });
  const status = await waitExit(child.process);
  await Promise.all([child.stdout.done, child.stderr.done]);
  return {
    code: status.code,
    stdout: child.stdout.text,
    stderr: child.stderr.text,
  };
}

/**
 * Starts scriptserver on a free port under exactly
 * `--no-prompt --allow-net=127.0.0.1:PORT --allow-read=ROOT,LIB` (unless told
 * otherwise) and waits, bounded, for its startup line.
 */
export async function spawnServer(
  options: SpawnOptions = {},
): Promise<RunningServer> {
  const port = freePort();
  const host = options.host ?? "127.0.0.1";
  const net = `--allow-net=${
    [`${host}:${port}`, ...(options.connects ?? [])].join(",")
  }`;
  // ROOT, and scriptserver's lib/ for page isolates.
  const read = [options.root, LIB_DIR].filter(Boolean).join(",");
  const permissions = options.permissions === undefined
    ? [net, `--allow-read=${read}`]
    : [...(options.netPermission ? [net] : []), ...options.permissions];
  const args = [
    ...(options.root ? [options.root] : []),
    "--port",
    String(port),
    ...(options.host ? ["--host", options.host] : []),
    ...(options.args ?? []),
  ];
  const child = spawnRaw(permissions, args, options);
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.process.kill(signal);
    } catch {
      // Already exited.
    }
    const status = await waitExit(child.process);
    await Promise.all([child.stdout.done, child.stderr.done]);
    return status;
  };
  try {
    const line = await Promise.race([
      child.stdout.waitFor((l) => / at https?:\/\//.test(l)),
      child.process.status.then((s) => {
        throw new Error(
          `The server exited with ${s.code}:\n${child.stderr.text}`,
        );
      }),
    ]);
    const url = line.slice(line.search(/https?:\/\//));
    return { ...child, url, port, stop };
  } catch (error) {
    await stop("SIGKILL").catch(() => {});
    throw error;
  }
}

/** A line of `/proc/PID/status`, in bytes (`VmRSS`, `VmHWM`: Linux). */
export function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1];
  if (kib === undefined) throw new Error(`No ${field} for process ${pid}`);
  return Number(kib) * 1024;
}

/**
 * A process's threads (Linux): each one's id, name (`worker-N` for a page
 * isolate or the spawner; a nested Worker is numbered by its parent, so
 * names repeat) and nice value. A thread that ends meanwhile is left out.
 */
export function threadsOf(
  pid: number,
): { tid: string; name: string; nice: number }[] {
  const threads: { tid: string; name: string; nice: number }[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${task.name}`;
    try {
      const name = Deno.readTextFileSync(`${dir}/comm`).trim();
      const stat = Deno.readTextFileSync(`${dir}/stat`);
      // Fields after the name (which may hold spaces): nice is the 19th.
      const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      threads.push({ tid: task.name, name, nice });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

/**
 * The ids of a process's page isolate threads, and its spawner's (those
 * named `worker-N`, Linux): ids, since names repeat.
 */
export function isolateThreads(pid: number): string[] {
  return threadsOf(pid).filter(({ name }) => name.startsWith("worker-"))
    .map(({ tid }) => tid);
}

/**
 * Waits, for up to 5 s, until a server that has answered its first page
 * request has its isolates up: the one that ran it, the spawner (which
 * starts the next ones) and the spawner's spare. Returns their threads'
 * ids.
 */
export async function isolatesUp(pid: number): Promise<string[]> {
  const names = await eventually(
    () => Promise.resolve(isolateThreads(pid)),
    (names) => names.length >= 3,
    5_000,
  );
  if (names.length < 3) {
    throw new Error(`page isolates not up: ${names.join(" ")}`);
  }
  return names;
}

/**
 * `deno task start` as deno.json has it: what it sets in the environment
 * (its leading NAME=value words) and the arguments after `deno`.
 */
export async function startTask(): Promise<{
  env: Record<string, string>;
  args: string[];
}> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  const words = (config.tasks.start.command as string).split(" ");
  const at = words.indexOf("deno");
  const env = Object.fromEntries(
    words.slice(0, at).map((word) => {
      const equals = word.indexOf("=");
      return [word.slice(0, equals), word.slice(equals + 1)];
    }),
  );
  return { env, args: words.slice(at + 1) };
}

/** How many sockets a process holds open (Linux). */
export function socketsOf(pid: number): number {
  let sockets = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")
      ) {
        sockets++;
      }
    } catch {
      // Closed meanwhile.
    }
  }
  return sockets;
}

/** A parsed raw HTTP response. */
export interface RawResponse {
  status: number;
  /** The status line and headers, as received. */
  head: string;
  headers: Headers;
  body: string;
}

/**
 * Sends bytes no client would normalise and reads the response until the
 * server closes the connection (send `Connection: close`).
 */
export async function rawRequest(
  port: number,
  text: string,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), TIMEOUT_MS);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  try {
    await conn.write(new TextEncoder().encode(text));
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  const raw = await new Blob(chunks).text();
  const split = raw.indexOf("\r\n\r\n");
  const head = split === -1 ? raw : raw.slice(0, split);
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    head,
    headers,
    body: split === -1 ? "" : raw.slice(split + 4),
  };
}

/** A raw GET with `Connection: close`. */
export function rawGet(
  port: number,
  target: string,
  host = "127.0.0.1",
  method = "GET",
): Promise<RawResponse> {
  return rawRequest(
    port,
    `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
}

/** A raw HEAD with `Connection: close`: the headers and what body bytes came. */
export function rawHead(port: number, target: string): Promise<RawResponse> {
  return rawGet(port, target, "127.0.0.1", "HEAD");
}

/**
 * Sends a GET and a HEAD of `target` and checks the HEAD: `status`, no body,
 * and the Content-Length of the GET's bytes (RFC 9110 §8.6: never a wrong
 * one, such as 0 for a page with content).
 */
export async function assertHeadLikeGet(
  port: number,
  target: string,
  status = 200,
): Promise<void> {
  const get = await rawGet(port, target);
  const head = await rawHead(port, target);
  assertEquals(head.status, status, target);
  assertEquals(
    head.headers.get("content-length"),
    String(new TextEncoder().encode(get.body).length),
    target,
  );
  assertEquals(head.body, "", target);
}

/** Files to write: path -> text or bytes; a value `{ symlink }` makes a link. */
export type Tree = Record<string, string | Uint8Array | { symlink: string }>;

/** Writes a tree of files under `dir`. */
export async function writeTree(dir: string, tree: Tree): Promise<void> {
  for (const [path, content] of Object.entries(tree)) {
    const full = join(dir, path);
    await Deno.mkdir(dirname(full), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(full, content);
    else if (content instanceof Uint8Array) await Deno.writeFile(full, content);
    else await Deno.symlink(content.symlink, full);
  }
}

/** A temporary directory with `tree` in it, removed by `[Symbol.asyncDispose]`. */
export async function tempTree(
  tree: Tree,
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "ss_" }));
  await writeTree(path, tree);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/**
 * Calls `probe` until `done` accepts its result, for at most `ms` (a
 * second by default: how long a person waits for an edit to show). Returns
 * the last result, accepted or not, for the caller's assertion.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  ms = 1000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await probe();
  }
  return value;
}

/**
 * POSTs a login form (`user=…`) to `/login.ts` under `base`, without
 * following the redirect; the body is cancelled.
 */
export async function postLogin(
  base: string,
  user: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await fetch(new URL("/login.ts", base), {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...headers,
    },
    body: new URLSearchParams({ user }),
    redirect: "manual",
  });
  await response.body?.cancel();
  return response;
}

/** The `sessionId=…` pair a response sets, if it sets one. */
export function sessionCookieOf(response: Response): string | undefined {
  return response.headers.getSetCookie()
    .find((cookie) => cookie.startsWith("sessionId="))?.split(";")[0];
}

/**
 * Opens a Server-Sent Events stream: `next(ms)` gives the next event's
 * [name, data], or `undefined` when none came within `ms`.
 */
export async function openEventStream(url: string): Promise<{
  next(ms?: number): Promise<[string, string] | undefined>;
  close(): void;
}> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  if (
    response.status !== 200 ||
    response.headers.get("content-type") !== "text/event-stream"
  ) {
    await response.body?.cancel();
    throw new Error(`Not an event stream: ${response.status} from ${url}`);
  }
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let buffer = "";
  /** A read still pending when a wait ended: the next wait takes it over. */
  let reading: Promise<ReadableStreamReadResult<string>> | undefined;
  /** The next event's [name, data], or undefined after `ms`. */
  async function next(ms = TIMEOUT_MS): Promise<[string, string] | undefined> {
    const deadline = Date.now() + ms;
    while (true) {
      const end = buffer.indexOf("\n\n");
      if (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined) return [event, data ?? ""];
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      reading ??= reader.read();
      const chunk = await Promise.race([
        reading,
        new Promise<"late">((resolve) => {
          timer = setTimeout(() => resolve("late"), left);
        }),
      ]);
      clearTimeout(timer);
      if (chunk === "late") return undefined;
      reading = undefined;
      if (chunk.done) return undefined;
      buffer += chunk.value;
    }
  }
  return {
    next,
    close() {
      abort.abort();
      reader.cancel().catch(() => {});
    },
  };
}
