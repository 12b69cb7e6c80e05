/**
 * The context a page module's default export receives.
 *
 * @module
 */
import { escapeHtml } from "../_std.ts";
import { cookiePairs } from "../cookies.ts";
import { redirectResponse, type RedirectStatus } from "./page_response.ts";
import { evaluatePreconditions, type Validators } from "../preconditions.ts";
import type { Target } from "../types.ts";
import type { RequestSession } from "../sessions/session.ts";
import type { SessionData } from "../sessions/session_store.ts";
import {
  html,
  type RenderOptions,
  type SafeHtml,
  type TemplateValues,
} from "../templates/template.ts";

/**
 * What a page gets. Its default export is called with it:
 *
 * ```ts
 * import type { PageContext } from "../lib/mod.ts";
 * export default function (ctx: PageContext) {
 *   return `Hello ${ctx.escape(ctx.query.get("name") ?? "stranger")} !`;
 * }
 * ```
 */
export interface PageContext {
  /** The Request. For form bodies it has been read already: use `form`. */
  readonly request: Request;
  /** The request URL. */
  readonly url: URL;
  /** The request method ("GET", "POST", …). */
  readonly method: string;
  /** The query string's parameters. */
  readonly query: URLSearchParams;
  /**
   * The parsed form of an `application/x-www-form-urlencoded` or
   * `multipart/form-data` body (uploaded files are `File`s); empty otherwise.
   */
  readonly form: FormData;
  /** The request headers. */
  readonly headers: Headers;
  /** The request's cookies by name (a null-prototype record). */
  readonly cookies: Readonly<Record<string, string>>;
  /** Headers merged into the response, whatever the page returns. */
  readonly responseHeaders: Headers;
  /**
   * A redirect Response (default status 302) whose headers can still be
   * changed. Return it or throw it. A relative `location` is resolved
   * against the request URL.
   */
  redirect(location: string, status?: RedirectStatus): Response;
  /** CGI/1.1 meta-variables (RFC 3875), such as `QUERY_STRING` and `HTTP_*`. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The visitor's session, a plain object kept between requests: set a
   * property to store it (`ctx.session.user = "alice"`), `delete` it to
   * remove it. It and its `sessionId` cookie are created on the first write.
   */
  readonly session: SessionData;
  /** Moves the session to a new id; call it at login (stops session fixation). */
  regenerateSession(): Promise<void>;
  /** Deletes the session and expires its cookie; call it at logout. */
  endSession(): Promise<void>;
  /**
   * Renders a template (path relative to this page's file, or to the root
   * with a leading "/") with HTML-escaped values into an HTML Response.
   */
  render(
    path: string,
    values?: TemplateValues,
    options?: RenderOptions,
  ): Promise<Response>;
  /** Marks markup the page has made safe, for insertion without escaping. */
  html(markup: string): SafeHtml;
  /**
   * Answers conditional requests for a page that knows its version:
   * evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
   * `If-Modified-Since` (RFC 9110 §13.2.2) against the validators, sets
   * them on the response (`ETag`, `Last-Modified`), and resolves to a 304
   * or 412 Response to return, or `undefined` to answer as usual:
   *
   * ```ts
   * const early = await ctx.conditional({ etag: `"v${post.version}"` });
   * if (early) return early;
   * ```
   */
  conditional(validators: Validators): Promise<Response | undefined>;
  /**
   * HTML-escapes text (`& < > " '`) for a page that builds its HTML itself:
   * `Hello ${ctx.escape(name)}`. Safe in element text and quoted attributes.
   */
  escape(text: string): string;
}

/**
 * What a page's default export may return (or resolve to): see
 * `pageResultToResponse` (page_response.ts) for the response each makes.
 */
export type PageResult =
  | string
  | Response
  | Uint8Array
  | ReadableStream<Uint8Array>
  | Readonly<Record<string, unknown>>
  | readonly unknown[]
  | null
  | undefined
  | void;

/** A page's default export. */
export type PageFunction = (
  ctx: PageContext,
) => PageResult | Promise<PageResult>;

/**
 * What a context needs beyond the request. Each is made on first use: most
 * pages touch few of them, and this runs on every request.
 */
export interface ContextServices {
  /** The parsed form. */
  form(): FormData;
  /** Headers merged into the response (the session writes its cookie here). */
  responseHeaders(): Headers;
  /** The request's session. */
  session(): RequestSession;
  /** Renders a template relative to the page. */
  render(
    path: string,
    values: TemplateValues,
    options?: RenderOptions,
  ): Promise<Response>;
}

/**
 * A request whose parts are made on first use: in a page isolate, the
 * request arrives as a message, and most pages never touch the Request.
 */
export interface RequestParts {
  readonly method: string;
  readonly headers: Headers;
  /** The Request itself (for a request with a body, its body streams in). */
  readonly request: Request;
}

/** The server's name in `SERVER_SOFTWARE`. */
export const SERVER_SOFTWARE = `scriptserver Deno/${Deno.version.deno}`;

/**
 * The request's cookies by name, in a null-prototype record (the last of
 * several pairs of one name wins), skipping empty and nameless pairs.
 */
export function parseCookies(headers: Headers): Record<string, string> {
  const cookies: Record<string, string> = Object.create(null);
  const header = headers.get("cookie");
  if (header === null) return cookies;
  for (const [name, value] of cookiePairs(header)) cookies[name] = value;
  return cookies;
}

/**
 * The CGI/1.1 meta-variables (RFC 3875 §4.1) for a request, in a
 * null-prototype record. SERVER_PROTOCOL is always "HTTP/1.1": Deno does not
 * say which version a request used. The `Proxy` header is left out of
 * `HTTP_*` (httpoxy: it would become `HTTP_PROXY` in a child's environment).
 */
export function cgiEnv(
  request: Pick<Request, "method" | "headers">,
  target: Target,
): Record<string, string> {
  const { url } = target;
  const env: Record<string, string> = Object.create(null);
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.SERVER_SOFTWARE = SERVER_SOFTWARE;
  env.SERVER_PROTOCOL = "HTTP/1.1";
  env.SERVER_NAME = url.hostname;
  env.SERVER_PORT = url.port || (url.protocol === "https:" ? "443" : "80");
  env.REQUEST_METHOD = request.method;
  env.SCRIPT_NAME = target.scriptName;
  env.PATH_INFO = target.pathInfo;
  env.QUERY_STRING = url.search.slice(1);
  const remote = target.connection?.remoteAddr;
  env.REMOTE_ADDR = remote !== undefined && "hostname" in remote
    ? remote.hostname
    : "";
  const type = request.headers.get("content-type");
  if (type !== null) env.CONTENT_TYPE = type;
  const length = request.headers.get("content-length");
  if (length !== null) env.CONTENT_LENGTH = length;
  for (const [name, value] of request.headers) {
    if (name === "content-type" || name === "content-length") continue;
    if (name === "proxy") continue;
    env[`HTTP_${name.toUpperCase().replaceAll("-", "_")}`] = value;
  }
  return env;
}

/**
 * A page's context; everything but the request's own fields is computed on
 * first use. (A class, as every object made per request: see the README,
 * Performance.)
 */
class Context implements PageContext {
  readonly method: string;
  readonly #source: Request | RequestParts;
  readonly #target: Target;
  readonly #services: ContextServices;
  #cookies: Record<string, string> | undefined;
  #env: Record<string, string> | undefined;

  constructor(
    source: Request | RequestParts,
    target: Target,
    services: ContextServices,
  ) {
    this.method = source.method;
    this.#source = source;
    this.#target = target;
    this.#services = services;
  }

  get request(): Request {
    const source = this.#source;
    return source instanceof Request ? source : source.request;
  }

  get headers(): Headers {
    return this.#source.headers;
  }

  get url(): URL {
    return this.#target.url;
  }

  get query(): URLSearchParams {
    return this.#target.query;
  }

  get form(): FormData {
    return this.#services.form();
  }

  get cookies(): Readonly<Record<string, string>> {
    return this.#cookies ??= parseCookies(this.headers);
  }

  get responseHeaders(): Headers {
    return this.#services.responseHeaders();
  }

  get env(): Readonly<Record<string, string>> {
    return this.#env ??= cgiEnv(this.#source, this.#target);
  }

  get session(): SessionData {
    return this.#services.session().data;
  }

  // Methods are getters that hand out functions bound to this context, so
  // that a page can destructure them (`const { redirect, render } = ctx`);
  // each function is made only when a page asks for it.
  #redirect?: PageContext["redirect"];
  get redirect(): PageContext["redirect"] {
    return this.#redirect ??= (location, status) =>
      redirectResponse(location, this.#target.url, status);
  }

  #regenerateSession?: PageContext["regenerateSession"];
  get regenerateSession(): PageContext["regenerateSession"] {
    return this.#regenerateSession ??= () =>
      this.#services.session().regenerate();
  }

  #endSession?: PageContext["endSession"];
  get endSession(): PageContext["endSession"] {
    return this.#endSession ??= () => this.#services.session().end();
  }

  #render?: PageContext["render"];
  get render(): PageContext["render"] {
    return this.#render ??= (path, values = {}, options) =>
      this.#services.render(path, values, options);
  }

  #conditional?: PageContext["conditional"];
  get conditional(): PageContext["conditional"] {
    return this.#conditional ??= async (validators) => {
      const headers = this.#services.responseHeaders();
      if (validators.etag !== undefined) headers.set("etag", validators.etag);
      if (validators.lastModified !== undefined) {
        headers.set("last-modified", validators.lastModified.toUTCString());
      }
      const outcome = await evaluatePreconditions(this.#source, validators);
      return outcome === "proceed"
        ? undefined
        : new Response(null, { status: outcome });
    };
  }

  get html(): PageContext["html"] {
    return html;
  }

  get escape(): PageContext["escape"] {
    return escapeHtml;
  }
}

/** Builds a page's context. */
export function createContext(
  request: Request | RequestParts,
  target: Target,
  services: ContextServices,
): PageContext {
  return new Context(request, target, services);
}
