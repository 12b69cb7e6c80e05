/**
 * scriptserver for embedding in another Deno program: the handler of a
 * site as a `(request) => Promise<Response>`, the request log, session
 * stores, and the types of custom file handlers. (Pages import their own
 * API as "scriptserver": see `page_api.ts`.)
 *
 * @example
 * ```ts
 * import { createHandler, withRequestLog } from "./lib/mod.ts";
 *
 * const handler = createHandler({ root: "./site", prod: true });
 * Deno.serve({ port: 8000 }, withRequestLog(handler, console.log));
 * ```
 *
 * @module
 */
export { createHandler } from "./dispatcher.ts";
export type { ClosableHandler, HandlerOptions } from "./dispatcher.ts";
export { withRequestLog } from "./log.ts";
export { HttpError } from "./http_error.ts";
export type { HttpErrorOptions } from "./http_error.ts";
export { createMemorySessionStore } from "./sessions/session_store.ts";
export type {
  MemorySessionStoreOptions,
  SessionData,
  SessionStore,
} from "./sessions/session_store.ts";
export { DEFAULT_HANDLER } from "./registry.ts";
export type {
  ConnectionInfo,
  FileHandler,
  Handler,
  HandlerMap,
  Target,
} from "./types.ts";
export type {
  ByteRange,
  DirEntry,
  EncodedBody,
  FileBody,
  FileInfo,
  SiteFiles,
} from "./files/files.ts";
export type { Encoding } from "./compression.ts";
export type { PageRunner } from "./pages/page.ts";
