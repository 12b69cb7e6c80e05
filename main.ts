/**
 * scriptserver's command line: parse flags, check permissions, serve.
 *
 * ```sh
 * deno run --no-prompt --allow-net=127.0.0.1:8000 --allow-read=./site main.ts ./site
 * ```
 *
 * @module
 */
import {
  DEFAULT_PORT,
  hostForUrl,
  parseCli,
  parsePort,
  permissionFlags,
  usage,
  UsageError,
} from "./lib/cli.ts";
import { createHandler, logStrayErrors, withRequestLog } from "./lib/mod.ts";
import { resolveSite } from "./lib/site.ts";

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Whether this is a binary built by `deno compile` (`deno task compile`). */
const STANDALONE = Deno.build.standalone;

/** `$PORT`, read only when env access was granted (it is never asked for). */
function portFromEnv(): number | undefined {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: "PORT" }).state ===
      "granted";
  const value = granted ? Deno.env.get("PORT") : undefined;
  return value === undefined || value === ""
    ? undefined
    : parsePort(value, "PORT");
}

/** The flags still to add to serve `root` on `host:port`. */
function missingPermissions(root: string, host: string, port: number) {
  const flags = permissionFlags(root, host, port);
  const missing: string[] = [];
  const net = Deno.permissions.querySync({
    name: "net",
    host: `${hostForUrl(host)}:${port}`,
  });
  if (net.state !== "granted") missing.push(flags.net);
  const read = Deno.permissions.querySync({ name: "read", path: root });
  if (read.state !== "granted") missing.push(flags.read);
  return missing;
}

/** Checks that ROOT is a readable directory; returns a message if not. */
function checkRoot(root: string): string | undefined {
  try {
    if (!Deno.statSync(root).isDirectory) {
      return `ROOT "${root}" is not a directory`;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `ROOT "${root}" does not exist`;
    }
    return `Cannot read ROOT "${root}": ${(error as Error).message}`;
  }
  return undefined;
}

function fail(message: string, code: number): number {
  console.error(`scriptserver: ${message}`);
  return code;
}

async function main(args: string[]): Promise<number> {
  let port: number;
  let cli;
  try {
    cli = parseCli(args);
    port = cli.port ?? portFromEnv() ?? DEFAULT_PORT;
  } catch (error) {
    if (error instanceof UsageError) return fail(error.message, 2);
    throw error;
  }
  const { host, prod, quiet } = cli;
  const { root } = resolveSite({
    root: cli.root,
    embeddedSite: cli.embeddedSite,
    moduleUrl: import.meta.url,
    standalone: STANDALONE,
  });
  if (cli.help) {
    console.log(usage(root, host, port, STANDALONE));
    return 0;
  }

  const missing = missingPermissions(root, host, port);
  if (missing.length > 0) {
    return fail(
      STANDALONE
        ? `Missing permission: this binary was built without ${
          missing.join(" ")
        }; build it again with deno task compile ${missing.join(" ")}`
        : `Missing permission: run deno again with ${
          missing.join(" ")
        } (see --help)`,
      1,
    );
  }
  const problem = checkRoot(root);
  if (problem !== undefined) return fail(problem, 1);

  logStrayErrors((message, error) =>
    console.error(`scriptserver: ${message}:`, error)
  );
  const handler = createHandler({
    root,
    prod,
    ...(cli.maxBody === undefined ? {} : { maxBody: cli.maxBody }),
    ...(cli.sessionTtl === undefined ? {} : { sessionTtl: cli.sessionTtl }),
    ...(cli.maxSessions === undefined ? {} : { maxSessions: cli.maxSessions }),
    trustProxy: cli.trustProxy,
  });

  // Listen for signals before listening for requests: a signal that arrives
  // just after the startup line must still stop the server gracefully.
  // (Deno.serve returns synchronously, so `server` is set before any
  // listener can run.) An AbortSignal would close in-flight connections;
  // shutdown() lets them finish.
  let server: Deno.HttpServer | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log("scriptserver: shutting down");
    // Stop accepting; let in-flight requests finish, but not forever.
    setTimeout(() => Deno.exit(0), SHUTDOWN_GRACE_MS);
    server?.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);

  try {
    server = Deno.serve({
      hostname: host,
      port,
      onListen(addr) {
        const url = `http://${hostForUrl(addr.hostname)}:${addr.port}/`;
        console.log(`scriptserver: serving ${root} at ${url}`);
      },
    }, quiet ? handler : withRequestLog(handler, console.log));
  } catch (error) {
    const reason = error instanceof Deno.errors.AddrInUse
      ? "the address is in use; choose another --port"
      : (error as Error).message;
    return fail(`Cannot listen on ${hostForUrl(host)}:${port}: ${reason}`, 1);
  }

  await server.finished;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
