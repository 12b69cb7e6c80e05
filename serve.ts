/**
 * scriptserver for `deno serve`, which can run one isolate per core:
 *
 * ```sh
 * deno serve --parallel --port 8000 --no-prompt \
 *   --allow-net=0.0.0.0:8000,127.0.0.1:6379 --allow-read=./site \
 *   serve.ts ./site --sessions redis://127.0.0.1:6379
 * ```
 *
 * `deno serve` listens itself (its own --port and --host); the arguments
 * after serve.ts are scriptserver's. main.ts stays the entry for `deno run`:
 * a file that both calls Deno.serve and exports a fetch handler would listen
 * twice under `deno serve` (import.meta.main is true there too).
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
import { parseCli, UsageError } from "./lib/cli.ts";
import { resolveSite } from "./lib/site.ts";

function fail(message: string): never {
  console.error(`scriptserver: ${message}`);
  Deno.exit(1);
}

/**
 * Tells whether other isolates of this process serve the same site (as under
 * `deno serve --parallel`): each announces itself on a BroadcastChannel, and
 * after a moment the isolate with the lowest id reports what it heard.
 */
function whenParallel(report: (isolates: number) => void): void {
  const me = crypto.randomUUID();
  const peers = new Set<string>();
  const channel = new BroadcastChannel("scriptserver:isolates");
  channel.onmessage = (event: MessageEvent<string>) => {
    if (peers.has(event.data)) return;
    peers.add(event.data);
    channel.postMessage(me);
  };
  channel.postMessage(me);
  setTimeout(() => {
    channel.close();
    if (peers.size > 0 && [...peers].every((peer) => me < peer)) {
      report(peers.size + 1);
    }
  }, 1000);
}

let cli;
try {
  cli = parseCli(Deno.args);
} catch (error) {
  if (error instanceof UsageError) fail(error.message);
  throw error;
}
if (cli.port !== undefined || cli.host !== "127.0.0.1") {
  fail(
    "deno serve listens itself: give --port and --host to deno serve, before serve.ts",
  );
}
const site = resolveSite({
  root: cli.root,
  embeddedSite: cli.embeddedSite,
  moduleUrl: import.meta.url,
  standalone: Deno.build.standalone,
});
const { root } = site;
const missing = missingPermissions(root, undefined, connectsTo(cli));
if (missing.length > 0) {
  fail(`Missing permission: run deno serve again with ${missing.join(" ")}`);
}
const problem = checkRoot(root);
if (problem !== undefined) fail(problem);
const writes = checkWriteAccess(root);
if (writes.error !== undefined) fail(writes.error);
if (writes.warning !== undefined) {
  console.error(`scriptserver: ${writes.warning}`);
}

// Never alive but deaf: deno serve owns the listener, and when accepting
// fails (EMFILE) its loop ends for good with an unhandled rejection. This
// isolate cannot listen again itself, so it exits non-zero for a
// supervisor to restart it. (Registered before the stray-error logger.)
globalThis.addEventListener("unhandledrejection", (event) => {
  if (!(event.reason instanceof Deno.errors.Http)) return;
  console.error(
    `scriptserver: deno serve stopped accepting connections (${event.reason.message}); exiting so that a supervisor can restart the server`,
  );
  Deno.exit(1);
});

const app = await createApp(cli, site);
// deno serve stops its isolates on these signals; the file watcher (and a
// Redis connection) must not keep them alive.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  if (signal === "SIGTERM" && Deno.build.os === "windows") continue;
  Deno.addSignalListener(signal, () => app.close());
}
if (cli.sessions === undefined) {
  whenParallel((isolates) =>
    console.error(
      `scriptserver: warning: ${isolates} isolates serve this site, each with its own in-memory sessions: a visitor logged in on one is a stranger on the next. Share sessions with --sessions redis://127.0.0.1:6379 (see "Scaling" in the README).`,
    )
  );
} else if (!(await app.ready(2000))) {
  console.error(
    `scriptserver: cannot reach the session store at ${app.sessionsName} yet; pages that use sessions answer 503 until it is reachable`,
  );
}

export default {
  fetch: app.handler,
} satisfies Deno.ServeDefaultExport;
