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
  connectsTo,
  createApp,
  missingPermissions,
} from "./lib/app.ts";
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

  const app = await createApp(cli, site);
  if (cli.sessions !== undefined && !(await app.ready(2000))) {
    console.error(
      `scriptserver: cannot reach the session store at ${app.sessionsName} yet; pages that use sessions answer 503 until it is reachable`,
    );
  }

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
        if (cli.sessions !== undefined) {
          console.log(`scriptserver: sessions in ${app.sessionsName}`);
        }
      },
    }, app.handler);
  } catch (error) {
    const reason = error instanceof Deno.errors.AddrInUse
      ? "the address is in use; choose another --port"
      : (error as Error).message;
    return fail(`Cannot listen on ${hostForUrl(host)}:${port}: ${reason}`, 1);
  }

  await server.finished;
  app.close();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
