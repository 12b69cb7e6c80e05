/**
 * scriptserver's command line: start up, listen, stop on a signal.
 *
 * ```sh
 * deno run --no-prompt --allow-net=127.0.0.1:8000 --allow-read=./site main.ts ./site
 * ```
 *
 * @module
 */
import { hostForUrl } from "./lib/cli/options.ts";
import { serveUntilStopped } from "./lib/cli/serve_loop.ts";
import { start } from "./lib/cli/start.ts";

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(args: string[]): Promise<number> {
  const started = await start(args, {
    moduleUrl: import.meta.url,
    listens: true,
  });
  if (!started.ok) return started.code;
  const { cli, root, port, app, tls } = started;

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
    // Pages that do not answer are stopped now, so that shutdown waits
    // only for the requests that will finish.
    app.shutdown(SHUTDOWN_GRACE_MS);
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);

  const code = await serveUntilStopped({
    host: cli.host,
    port,
    handler: app.handler,
    stopped: stopped.promise,
    isStopping: () => stopping,
    onServer: (current) => server = current,
    tls,
    onFirstListen(addr) {
      const scheme = tls === undefined ? "http" : "https";
      const url = `${scheme}://${hostForUrl(addr.hostname)}:${addr.port}/`;
      console.log(`scriptserver: serving ${root} at ${url}`);
      if (cli.sessions !== undefined) {
        console.log(`scriptserver: sessions in ${app.sessionsName}`);
      }
    },
  });
  app.close();
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
