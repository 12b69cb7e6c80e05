/**
 * A real redis-server for tests, on a free loopback port, stopped by its
 * process. Tests that need one are ignored, saying why, where Debian's
 * redis-server is not installed (.ci/run installs it).
 */
import { freePort, TIMEOUT_MS, waitExit } from "./_helpers.ts";

/** Where redis-server is, or `undefined`. */
export function findRedisServer(): string | undefined {
  for (const path of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** Why Redis tests are ignored here, or `undefined` when they can run. */
export const NO_REDIS = findRedisServer() === undefined
  ? "no redis-server; apt-get install redis-server"
  : undefined;

/** Sends one command in RESP and returns the first reply line. */
export async function redisCommand(
  port: number,
  ...args: string[]
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const body = args.map((a) =>
      `$${new TextEncoder().encode(a).length}\r\n${a}\r\n`
    )
      .join("");
    await conn.write(new TextEncoder().encode(`*${args.length}\r\n${body}`));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split(
      "\r\n",
    )[0]!;
  } finally {
    conn.close();
  }
}

/** A running redis-server. */
export interface RunningRedis {
  port: number;
  url: string;
  /** Stops it (SIGTERM, bounded) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
}

/** Starts redis-server on a free port and waits (bounded) for PONG. */
export async function startRedis(): Promise<RunningRedis> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(NO_REDIS);
  const port = freePort();
  let process: Deno.ChildProcess | undefined;

  async function start() {
    process = new Deno.Command(binary!, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    const deadline = Date.now() + TIMEOUT_MS;
    while (true) {
      try {
        if (await redisCommand(port, "PING") === "+PONG") return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error("redis-server did not start");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    start,
    pause() {
      process?.kill("SIGSTOP");
    },
    resume() {
      process?.kill("SIGCONT");
    },
    async stop() {
      if (process === undefined) return;
      try {
        process.kill("SIGCONT");
        process.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await waitExit(process);
      process = undefined;
    },
  };
}
