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
  checkRoot,
  checkWriteAccess,
  connectsTo,
  createApp,
  missingPermissions,
} from "./lib/app.ts";
import { isLoopback } from "./lib/url_path.ts";
import {
  DEFAULT_PORT,
  hostForUrl,
  parseCli,
  parsePort,
  usage,
  UsageError,
} from "./lib/cli.ts";
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
  const { host } = cli;
  const site = resolveSite({
    root: cli.root,
    embeddedSite: cli.embeddedSite,
    moduleUrl: import.meta.url,
    standalone: STANDALONE,
  });
  const { root } = site;
  if (cli.help) {
    console.log(usage(root, host, port, STANDALONE, connectsTo(cli)));
    return 0;
  }

  const missing = missingPermissions(root, { host, port }, connectsTo(cli));
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
  const writes = checkWriteAccess(root);
  if (writes.error !== undefined) return fail(writes.error, 1);
  if (writes.warning !== undefined) {
    console.error(`scriptserver: ${writes.warning}`);
  }
  if (!cli.prod && !isLoopback(host)) {
    console.error(
      `scriptserver: warning: listening on ${host} in development mode; visitors from other machines get plain error pages, but add --prod before going live`,
    );
  }

  const app = await createApp(cli, site);
  if (cli.sessions !== undefined && !(await app.ready(2000))) {
    console.error(
      `scriptserver: cannot reach the session store at ${app.sessionsName} yet; pages that use sessions answer 503 until it is reachable`,
    );
  }

  // Listen for signals before listening for requests: a signal that arrives
  // just after the startup line must still stop the server gracefully.
  // An AbortSignal would close in-flight connections; shutdown() lets them
  // finish.
  const stopped = Promise.withResolvers<void>();
  let server: Deno.HttpServer | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log("scriptserver: shutting down");
    // Stop accepting; let in-flight requests finish, but not forever.
    setTimeout(() => Deno.exit(0), SHUTDOWN_GRACE_MS);
    stopped.resolve();
    server?.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);

  const code = await serveUntilStopped({
    host,
    port,
    handler: app.handler,
    stopped: stopped.promise,
    isStopping: () => stopping,
    onServer: (current) => server = current,
    onFirstListen(addr) {
      const url = `http://${hostForUrl(addr.hostname)}:${addr.port}/`;
      console.log(`scriptserver: serving ${root} at ${url}`);
      if (cli.sessions !== undefined) {
        console.log(`scriptserver: sessions in ${app.sessionsName}`);
      }
    },
  });
  app.close();
  return code;
}

/** How long the server may fail to listen again before it gives up (exit 1). */
const RELISTEN_GIVE_UP_MS = 60_000;
/** A server that accepted for this long without failing ends an outage. */
const EPISODE_MS = 10_000;

/** What {@linkcode serveUntilStopped} needs. */
interface ServeLoopOptions {
  host: string;
  port: number;
  handler: Deno.ServeHandler<Deno.NetAddr>;
  /** Resolves when a signal asked the server to stop. */
  stopped: Promise<void>;
  isStopping(): boolean;
  /** Told of each listening server, for shutdown. */
  onServer(server: Deno.HttpServer): void;
  /** The startup line: the first time the server listens. */
  onFirstListen(addr: Deno.NetAddr): void;
}

/**
 * Serves until a signal stops the server; returns the exit code.
 *
 * Never alive but deaf: Deno.serve's accept loop ends for good on the
 * first accept error (EMFILE, when a flood of connections took every file
 * descriptor), closing its listener while the process lives on. Here
 * that is an outage to recover from: the server listens again on the same
 * port, backing off while descriptors are short (as hyper sleeps on
 * accept errors), logging once per outage; if it cannot listen again for
 * a minute, it exits 1 so that a supervisor restarts it.
 */
async function serveUntilStopped(options: ServeLoopOptions): Promise<number> {
  const { host, handler, stopped, isStopping } = options;
  let port = options.port;
  let listened = false;
  /** When the current outage began, if there is one. */
  let outage: number | undefined;
  /** Whether listening again in this outage was logged. */
  let recoveryLogged = false;
  let listenedAt = 0;
  let backoff = 10;
  const pause = (ms: number) =>
    Promise.race([
      stopped,
      new Promise<void>((resolve) => setTimeout(resolve, ms)),
    ]);
  while (!isStopping()) {
    let server: Deno.HttpServer;
    try {
      server = Deno.serve({
        hostname: host,
        port,
        onListen(addr) {
          // Listen again on the same port, even when 0 picked it.
          port = addr.port;
          listenedAt = Date.now();
          if (!listened) options.onFirstListen(addr);
          else if (!recoveryLogged) {
            recoveryLogged = true;
            console.error(
              `scriptserver: listening again on ${hostForUrl(host)}:${port}`,
            );
          }
          listened = true;
          backoff = 10;
        },
      }, handler);
    } catch (error) {
      if (!listened) {
        const reason = error instanceof Deno.errors.AddrInUse
          ? "the address is in use; choose another --port"
          : (error as Error).message;
        return fail(
          `Cannot listen on ${hostForUrl(host)}:${port}: ${reason}`,
          1,
        );
      }
      if (Date.now() - listenedAt > RELISTEN_GIVE_UP_MS) {
        return fail(
          `Cannot listen again on ${hostForUrl(host)}:${port} for ${
            RELISTEN_GIVE_UP_MS / 1000
          } s (${
            (error as Error).message
          }); exiting so that a supervisor can restart the server`,
          1,
        );
      }
      backoff = Math.min(backoff * 2, 1000);
      await pause(backoff);
      continue;
    }
    options.onServer(server);
    let failure: unknown = "the listener closed";
    try {
      await server.finished;
    } catch (error) {
      failure = error;
    }
    if (isStopping()) break;
    // The accept loop ended by itself: an outage.
    if (outage === undefined || Date.now() - listenedAt > EPISODE_MS) {
      outage = Date.now();
      recoveryLogged = false;
      const reason = failure instanceof Error ? failure.message : failure;
      console.error(
        `scriptserver: stopped accepting connections (${reason}); listening again as soon as it can`,
      );
    }
    await pause(backoff);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
