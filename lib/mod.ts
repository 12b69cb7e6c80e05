/**
 * scriptserver's public API, for embedding it in another Deno program and
 * for typing page modules.
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
export type { HandlerOptions } from "./dispatcher.ts";
export { createDiskFiles } from "./files.ts";
export type { ByteRange, DirEntry, FileInfo, SiteFiles } from "./files.ts";
export { HttpError } from "./http_error.ts";
export type { HttpErrorOptions } from "./http_error.ts";
export { logStrayErrors, withRequestLog } from "./log.ts";
export { createModuleRunner } from "./page.ts";
export { PageError } from "./page_error.ts";
export type { ModuleRunnerOptions, PageRunner } from "./page.ts";
export type { PageFunction } from "./page_context.ts";
export type { PageContext } from "./page_context.ts";
export type { RedirectStatus } from "./page_response.ts";
export { DEFAULT_HANDLER } from "./registry.ts";
export type {
  ConnectionInfo,
  FileHandler,
  Handler,
  HandlerMap,
  Target,
} from "./types.ts";
export { openSession, SESSION_COOKIE } from "./session.ts";
export type { RequestSession } from "./session.ts";
export {
  createMemorySessionStore,
  isSessionId,
  newSessionId,
} from "./session_store.ts";
export type {
  MemorySessionStoreOptions,
  SessionData,
  SessionStore,
} from "./session_store.ts";
export {
  html,
  parseTemplate,
  renderTemplate,
  SafeHtml,
  TemplateError,
} from "./template.ts";
export type { Template, TemplateValues } from "./template.ts";
