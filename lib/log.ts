/**
 * The access log: one line a request.
 *
 * @module
 */
import type { Handler } from "./types.ts";

/** The most characters of a request's path and query the log shows. */
export const MAX_LOGGED_TARGET = 1024;

/**
 * The path and query of a request as Deno received it, from the raw URL
 * (not re-parsed: this runs on every request). Control characters are
 * escaped so a request cannot forge log lines.
 */
export function requestTarget(url: string): string {
  const authority = url.indexOf("://");
  const slash = url.indexOf("/", authority === -1 ? 0 : authority + 3);
  let target = slash === -1 ? "/" : url.slice(slash);
  // A client chooses the length: a flood of 60 KB URLs must not become
  // 60 KB log lines (and the memory to write them).
  if (target.length > MAX_LOGGED_TARGET) {
    target = `${target.slice(0, MAX_LOGGED_TARGET)}…(${
      target.length - MAX_LOGGED_TARGET
    } more characters)`;
  }
  // deno-lint-ignore no-control-regex
  return target.replace(/[\x00-\x1f\x7f]/g, (c) => encodeURIComponent(c));
}

/**
 * Keeps the process serving when a page fails outside a request: an error
 * thrown in a timer, or a rejected promise nobody awaited. Each is written
 * to `write` instead of ending the process.
 */
export function logStrayErrors(
  write: (message: string, error: unknown) => void,
): void {
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    write("uncaught error (the server keeps serving)", event.error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    write(
      "unhandled promise rejection (the server keeps serving)",
      event.reason,
    );
  });
}

/**
 * Wraps a handler so that each request is written as one line:
 * `GET /path?query 200 0.4ms`.
 *
 * @example
 * ```ts
 * import { createHandler, withRequestLog } from "./mod.ts";
 * Deno.serve(withRequestLog(createHandler({ root: "./site" }), console.log));
 * ```
 */
export function withRequestLog(
  handler: Handler,
  write: (line: string) => void,
): Handler {
  return async (request, info) => {
    const start = performance.now();
    const response = await handler(request, info);
    const ms = (performance.now() - start).toFixed(1);
    write(
      `${request.method} ${
        requestTarget(request.url)
      } ${response.status} ${ms}ms`,
    );
    return response;
  };
}
