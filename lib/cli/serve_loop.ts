/**
 * Serving until a signal stops the server, and listening again when
 * accepting fails: `Deno.serve` with recovery, for `main.ts`.
 *
 * @module
 */
import { hostForUrl } from "./options.ts";

function fail(message: string): number {
  console.error(`scriptserver: ${message}`);
  return 1;
}

/** How long the server may fail to listen again before it gives up (exit 1). */
const RELISTEN_GIVE_UP_MS = 60_000;
/** A server that accepted for this long without failing ends an outage. */
const EPISODE_MS = 10_000;

/** What {@linkcode serveUntilStopped} needs. */
export interface ServeLoopOptions {
  host: string;
  port: number;
  handler: Deno.ServeHandler<Deno.NetAddr>;
  /** Resolves when a signal asked the server to stop. */
  stopped: Promise<void>;
  isStopping(): boolean;
  /** Told of each listening server, for shutdown. */
  onServer(server: Deno.HttpServer): void;
  /** The certificate and key (PEM): HTTPS. */
  tls?: { cert: string; key: string } | undefined;
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
export async function serveUntilStopped(
  options: ServeLoopOptions,
): Promise<number> {
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
        ...options.tls,
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
        if (error instanceof Deno.errors.AddrInUse) {
          return fail(
            `Cannot listen on ${
              hostForUrl(host)
            }:${port}: the address is in use; choose another --port`,
          );
        }
        if (options.tls !== undefined) {
          // A key that is not the certificate's, or not a key Deno reads.
          return fail(
            `Cannot serve HTTPS with --cert and --key: ${
              (error as Error).message
            } (give a certificate and the private key it was made for, PEM)`,
          );
        }
        return fail(
          `Cannot listen on ${hostForUrl(host)}:${port}: ${
            (error as Error).message
          }`,
        );
      }
      if (Date.now() - listenedAt > RELISTEN_GIVE_UP_MS) {
        return fail(
          `Cannot listen again on ${hostForUrl(host)}:${port} for ${
            RELISTEN_GIVE_UP_MS / 1000
          } s (${
            (error as Error).message
          }); exiting so that a supervisor can restart the server`,
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
