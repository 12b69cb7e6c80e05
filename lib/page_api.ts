/**
 * What page modules import, by one specifier wherever the site lives:
 *
 * ```ts
 * import { HttpError, type PageContext } from "scriptserver";
 *
 * export default function (ctx: PageContext) {
 *   if (!ctx.session.user) throw new HttpError(403, "Log in first");
 *   return `Hello ${ctx.escape(String(ctx.session.user))}`;
 * }
 * ```
 *
 * scriptserver's deno.json maps "scriptserver" to this module, and the
 * server has it loaded before any page runs, so pages import it under
 * `--allow-read=ROOT` alone. A site's own deno.json maps it for
 * `deno check` and editors (`deno task init DIR` writes one).
 *
 * @module
 */
export { HttpError } from "./http_error.ts";
export type { HttpErrorOptions } from "./http_error.ts";
export type {
  PageContext,
  PageFunction,
  PageResult,
} from "./pages/page_context.ts";
export type { RedirectStatus } from "./pages/page_response.ts";
export type { Validators } from "./preconditions.ts";
export type { SessionData } from "./sessions/session_store.ts";
export { html, SafeHtml } from "./templates/template.ts";
export type { RenderOptions, TemplateValues } from "./templates/template.ts";
