/**
 * scriptserver's public API, for embedding it in another Deno program.
 *
 * @example
 * ```ts
 * import { createHandler } from "./lib/mod.ts";
 * Deno.serve({ port: 8000 }, createHandler({ root: "./site" }));
 * ```
 *
 * @module
 */
export { createHandler } from "./dispatcher.ts";
export type { Handler, HandlerOptions } from "./dispatcher.ts";
export { createDiskFiles } from "./files.ts";
export type { ByteRange, DirEntry, FileInfo, SiteFiles } from "./files.ts";
export { HttpError } from "./http_error.ts";
export type { HttpErrorOptions } from "./http_error.ts";
export { withRequestLog } from "./log.ts";
