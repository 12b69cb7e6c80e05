/**
 * The messages between the server's isolate and its spawner: the isolate
 * that starts page isolates for it (see spawner_worker.ts). Messages are
 * arrays whose first item is their kind, on the spawner's own channel.
 *
 * @module
 */

// The server to its spawner.

/**
 * Start a page isolate: `[START, id, IsolateSetup]`, the setup's port
 * transferred. Sent only while a spare waits (see {@linkcode SPARE}).
 */
export const START = 0;
/** End a page isolate: `[END, id]`. */
export const END = 1;
/** End every page isolate, then the spawner: `[SHUT_DOWN]`. */
export const SHUT_DOWN = 2;

// The spawner to the server.

/**
 * A spare page isolate has started and waits for its setup: the next
 * {@linkcode START} gives it one at once: `[SPARE]`.
 */
export const SPARE = 3;
/** A page isolate failed: `[FAILED, id, name, message, stack]`. */
export const FAILED = 4;
/** A page isolate ended: `[EXITED, id, exit code]`. */
export const EXITED = 5;
/**
 * No spare can start (its module failed to load): the server starts its
 * isolates itself: `[NO_SPARES, message]`.
 */
export const NO_SPARES = 6;

/** What the server tells its spawner (its `workerData`). */
export interface SpawnerSetup {
  /** The page isolates' module. */
  url: string;
  /** Their heap limit, in MiB. */
  pageMemory: number;
}

/**
 * What the spawner tells a spare page isolate (its `workerData`): the port
 * its setup comes on. Measured with Deno 2.9.6, a message on the parent
 * port of a Worker started in a Worker arrives ~500 ms late; on a
 * transferred MessagePort, in 2–4 ms.
 */
export interface SpareSetup {
  control: MessagePort;
}

/** What a spare page isolate tells its spawner once it waits for its setup. */
export const WAITING = "waiting";
