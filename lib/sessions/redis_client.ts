/**
 * Where the Redis client comes from.
 *
 * A specifier in a constant, not a literal import nor an import-map entry:
 * Deno downloads every npm package it can see from the entry point (the
 * import map, and dynamic imports with literal specifiers, included) when
 * any program starts, and Redis is only for `--sessions redis://`. So
 * `redis_session_store.ts` imports it by this name when it is loaded, and
 * `deno task compile` embeds it with `--include`.
 *
 * @module
 */

/** The npm specifier of the Redis client. */
export const REDIS_CLIENT = "npm:redis@5.12.1";
