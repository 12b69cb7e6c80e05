/**
 * What `main.ts` (Deno.serve) and `serve.ts` (deno serve) share: startup
 * checks, and the handler built from the command line with its stores.
 *
 * @module
 */
import {
  type CliOptions,
  hostForUrl,
  netFlag,
  readFlag,
  redisAddress,
} from "./options.ts";
import { createHandler } from "../dispatcher.ts";
import type { Handler } from "../types.ts";
import { logStrayErrors, withRequestLog } from "../log.ts";
import type { RedisSessionStore } from "../sessions/redis_session_store.ts";
import type { Site } from "./site.ts";
import { writablePlaceIn, writesAnywhere } from "../write_access.ts";

/** The files read at startup besides ROOT: the TLS certificate and key. */
export function startupReads(cli: CliOptions): string[] {
  return cli.cert === undefined || cli.key === undefined
    ? []
    : [cli.cert, cli.key];
}

/** The addresses the server connects to, for `--allow-net`. */
export function connectsTo(cli: CliOptions): string[] {
  return cli.sessions === undefined ? [] : [redisAddress(cli.sessions)];
}

/**
 * The permission flags still missing to serve `root`, listen on `listen`
 * (when this process listens itself) and reach `connects`. Asks nothing:
 * `Deno.permissions.querySync` needs no permission.
 */
export function missingPermissions(
  root: string,
  listen: { host: string; port: number } | undefined,
  connects: string[],
  reads: string[] = [],
): string[] {
  const missing: string[] = [];
  const addresses = [
    ...(listen ? [`${hostForUrl(listen.host)}:${listen.port}`] : []),
    ...connects,
  ];
  const lacking = addresses.filter((host) =>
    Deno.permissions.querySync({ name: "net", host }).state !== "granted"
  );
  if (lacking.length > 0) missing.push(netFlag(lacking));
  const unreadable = [root, ...reads].filter((path) =>
    Deno.permissions.querySync({ name: "read", path }).state !== "granted"
  );
  if (unreadable.length > 0) missing.push(readFlag(...unreadable));
  return missing;
}

/** Checks that ROOT is a readable directory; returns a message if not. */
export function checkRoot(root: string): string | undefined {
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

/**
 * What write access means for serving `root`: an error when a
 * `--allow-write` path lies inside ROOT or contains it (the server would
 * run or serve what it writes), a warning when writes are allowed
 * everywhere (-A, for development).
 */
export function checkWriteAccess(
  root: string,
): { error?: string; warning?: string } {
  if (writesAnywhere()) {
    return {
      warning:
        "warning: this process may write anywhere (-A or --allow-write): a page could write pages into ROOT. Use it for development; in production grant --allow-write only for a folder outside ROOT.",
    };
  }
  const writable = writablePlaceIn(root);
  if (writable === undefined) return {};
  return {
    error:
      `Refusing to serve ROOT "${root}": --allow-write covers "${writable}", so an upload could become a page. Grant write access to a folder outside ROOT (see "Uploads" in the README).`,
  };
}

/** A handler built from the command line, with its session store. */
export interface App {
  /** The handler, with the access log unless `--quiet`. */
  handler: Handler;
  /** "memory", or the Redis URL (without password). */
  sessionsName: string;
  /** Waits (at most `ms`) for the session store; false if not reachable yet. */
  ready(ms: number): Promise<boolean>;
  /**
   * Lets requests in page isolates finish (at most `graceMs`), ending at
   * once the isolates whose page does not answer.
   */
  shutdown(graceMs: number): Promise<void>;
  /** Stops watching files, ends page isolates and closes connections (Redis). */
  close(): void;
}

/**
 * Builds the handler for `root` from the command line: the session store
 * (memory or Redis), limits, and the access log. Errors that pages cause
 * outside a request are logged instead of ending the process.
 */
export async function createApp(cli: CliOptions, site: Site): Promise<App> {
  const { root } = site;
  logStrayErrors((message, error) =>
    console.error(`scriptserver: ${message}:`, error)
  );
  let redis: RedisSessionStore | undefined;
  if (cli.sessions !== undefined) {
    // Loaded only when asked for: the Redis client costs startup time. A
    // literal specifier, so deno compile still embeds it.
    const { createRedisSessionStore } = await import(
      "../sessions/redis_session_store.ts"
    );
    redis = createRedisSessionStore({
      url: cli.sessions,
      ...(cli.sessionTtl === undefined ? {} : { ttl: cli.sessionTtl }),
    });
  }
  const handler = createHandler({
    root,
    // The embedded site of a compiled binary never changes.
    fileChanges: site.embedded ? "never" : "watch",
    prod: cli.prod,
    trustProxy: cli.trustProxy,
    https: cli.cert !== undefined,
    // Without Redis, createHandler keeps sessions in memory with these.
    ...(redis === undefined ? {} : { sessions: redis }),
    ...(cli.sessionTtl === undefined ? {} : { sessionTtl: cli.sessionTtl }),
    ...(cli.maxSessions === undefined ? {} : { maxSessions: cli.maxSessions }),
    ...(cli.maxBody === undefined ? {} : { maxBody: cli.maxBody }),
    ...(cli.maxFields === undefined ? {} : { maxFields: cli.maxFields }),
    ...(cli.maxBodyTotal === undefined
      ? {}
      : { maxBodyTotal: cli.maxBodyTotal }),
    ...(cli.pageTimeout === undefined ? {} : { pageTimeout: cli.pageTimeout }),
    pages: cli.inProcess ? "in-process" : "isolates",
    listings: !cli.noListing,
    // A compiled binary's embedded site never changes.
    liveReload: !cli.prod && !cli.noLiveReload && !site.embedded,
    headers: cli.headers,
    ...(cli.isolates === undefined ? {} : { isolates: cli.isolates }),
    ...(cli.pageMemory === undefined ? {} : { pageMemory: cli.pageMemory }),
  });
  return {
    handler: cli.quiet ? handler : withRequestLog(handler, console.log),
    sessionsName: redis?.name ?? "memory",
    ready: (ms) => redis?.ready(ms) ?? Promise.resolve(true),
    shutdown: (graceMs) => handler.shutdown(graceMs),
    close() {
      handler.close();
      redis?.close();
    },
  };
}
