/**
 * `node:worker_threads`, for page isolates: the runner starts Workers, a
 * page isolate talks to its parent port.
 *
 * Imported by a specifier the type checker cannot follow, and typed by a
 * declaration of its own (worker_threads.d.ts): importing
 * "node:worker_threads" by name would bring Node's global types (a
 * `setTimeout` that returns a Timeout) into the whole type check.
 *
 * @module
 */
const THREADS = "node:worker_threads";

/** The part of `node:worker_threads` that page isolates use. */
export const threads: typeof import("./worker_threads.d.ts") = await import(
  THREADS
);
