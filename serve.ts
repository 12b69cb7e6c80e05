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
import { start } from "./lib/cli/start.ts";

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

const started = await start(Deno.args, {
  moduleUrl: import.meta.url,
  listens: false,
});
if (!started.ok) Deno.exit(started.code);
const { cli, app } = started;
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
}

export default {
  fetch: app.handler,
} satisfies Deno.ServeDefaultExport;
