/**
 * Small HTML pages for error responses, and the boundary that turns every
 * error into one. Every value is escaped: nothing from the request is ever
 * reflected as markup.
 *
 * @module
 */
import { memoryResponse } from "./compression.ts";
import { escapeHtml, STATUS_TEXT } from "./_std.ts";
import { BoundedMap } from "./bounded_map.ts";
import { renderErrorDetail } from "./error_detail.ts";
import { isInside, relativeName, type SiteFiles } from "./files/files.ts";
import { HTML_HEADERS, renderDocument } from "./html.ts";
import type { ConnectionInfo } from "./types.ts";
import { HttpError, NOT_FOUND_MESSAGE } from "./http_error.ts";
import type { SiteErrorPages, SiteErrorStatus } from "./site_error_pages.ts";
import { isLoopback } from "./url_path.ts";

/** CSS for the detail block. */
const DETAIL_STYLE =
  ".frames summary{color:#6e6e73;font-size:.85rem}.hint{padding:.6rem 1rem;border-left:4px solid #ff9f0a;background:#ff9f0a1a}.where{color:#6e6e73}.source{padding:.6rem 0}.source span{display:block;padding:0 1rem}.source mark{display:block;padding:0 1rem;background:#ff453a33;color:inherit}details{margin-top:1rem}";

const STYLE =
  ":root{color-scheme:light dark}body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem}h1{font-size:1.4rem}pre{overflow:auto;padding:1rem;border:1px solid #8884;border-radius:6px;font-size:.85rem}";

/** Where a visitor who found nothing (or an error) can go on. */
const HOME_LINK = `<p><a href="/">Go to the home page</a></p>\n`;

/** What an error page shows. */
export interface ErrorPageOptions {
  /** One sentence for the visitor. */
  message: string;
  /** Detail markup, already escaped (development mode only). */
  detailHtml?: string;
  /** Headers the response carries besides its type and `nosniff`. */
  headers?: HeadersInit;
}

/** Renders the HTML of an error page. */
export function renderErrorPage(
  status: number,
  options: ErrorPageOptions,
): string {
  const title = `${status} ${STATUS_TEXT[status] ?? "Error"}`;
  return renderDocument({
    title,
    style: STYLE + DETAIL_STYLE,
    body: `<h1>${title}</h1>\n<p>${escapeHtml(options.message)}</p>\n${
      status === 404 || status === 500 ? HOME_LINK : ""
    }${options.detailHtml ?? ""}`,
  });
}

/** An HTML error response (with `X-Content-Type-Options: nosniff`). */
export function errorPage(
  status: number,
  options: ErrorPageOptions,
): Response {
  // A Response copies its headers: the shared object serves all.
  if (options.headers === undefined) {
    return memoryResponse(htmlOf(status, options), {
      status,
      headers: HTML_HEADERS,
    });
  }
  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(HTML_HEADERS)) {
    headers.set(name, value);
  }
  return memoryResponse(htmlOf(status, options), { status, headers });
}

/**
 * The error page for `status`: the site's own (see
 * {@linkcode SiteErrorPages}) when it has one that answers, else the
 * built-in one, at once when the site is known to have none.
 */
export function siteOrBuiltInPage(
  status: SiteErrorStatus,
  request: Request,
  options: {
    message: string;
    peer: Peer | undefined;
    sitePages: SiteErrorPages | undefined;
  },
): Response | Promise<Response> {
  const { message, peer, sitePages } = options;
  const builtIn = () => errorPage(status, { message });
  const own = sitePages?.(status, request, { message, connection: peer });
  return own === undefined
    ? builtIn()
    : own.then((response) => response ?? builtIn());
}

/**
 * Pages without details, by status and message: a flood of requests for
 * missing paths should cost no more than serving real ones.
 */
const rendered = new BoundedMap<string, string>({
  maxEntries: 100,
  maxBytes: 1024 * 1024,
});

/** The HTML of an error page without details, rendered once per status and message. */
export function htmlOf(status: number, options: ErrorPageOptions): string {
  if (options.detailHtml !== undefined) return renderErrorPage(status, options);
  const key = `${status} ${options.message}`;
  let html = rendered.get(key);
  if (html === undefined) {
    html = renderErrorPage(status, options);
    rendered.set(key, html);
  }
  return html;
}

/** Options for {@linkcode createErrorBoundary}. */
export interface ErrorBoundaryOptions {
  /** Production mode: no detail, only an error id. */
  prod: boolean;
  /** Receives every unexpected error and its id. */
  onError: (error: unknown, id: string) => void;
  /** Where the development page reads the source it shows. */
  files: SiteFiles;
  /** The site's own 404 and 500 pages, when it may have some. */
  sitePages?: SiteErrorPages;
}

/** The request's connection, as `Deno.serve` reports it. */
export type Peer = ConnectionInfo;

/** Turns any error into a response; only a development 500 waits. */
export type ErrorBoundary = (
  error: unknown,
  request: Request,
  peer: Peer | undefined,
) => Response | Promise<Response>;

/**
 * Whether a request comes from this machine: a loopback peer, and no
 * proxy header saying it forwards someone else's. Without connection
 * info (an embedder calling the handler directly), it does.
 */
export function isLocal(request: Request, peer: Peer | undefined): boolean {
  const remote = peer?.remoteAddr;
  if (remote === undefined) return true;
  if (!("hostname" in remote) || !isLoopback(remote.hostname)) return false;
  const { headers } = request;
  return !headers.has("x-forwarded-for") && !headers.has("forwarded") &&
    !headers.has("x-real-ip");
}

/**
 * The one place where errors become responses: an `HttpError` is its own
 * page; a file deleted between look-up and read is a 404; one the system
 * refuses is a 403; anything else is logged with an id and answered 500,
 * with the development detail (source, stack) only in development and
 * only for this machine.
 *
 * @example
 * ```ts
 * import { createErrorBoundary } from "./error_page.ts";
 * import { createDiskFiles } from "./files/files.ts";
 *
 * const boundary = createErrorBoundary({
 *   prod: true,
 *   onError: (error, id) => console.error(id, error),
 *   files: createDiskFiles("."),
 * });
 * const response = await boundary(new Error("x"), new Request("http://x/"), undefined);
 * ```
 */
export function createErrorBoundary(
  options: ErrorBoundaryOptions,
): ErrorBoundary {
  const { prod, onError, files, sitePages } = options;

  /** The site's page for `status`, or the built-in one. */
  const pageOf = (
    status: SiteErrorStatus,
    request: Request,
    peer: Peer | undefined,
    message: string,
  ) => siteOrBuiltInPage(status, request, { message, peer, sitePages });

  /** A source file under the root, read as the site's files are. */
  async function readSource(path: string): Promise<string> {
    if (!isInside(files.root, path)) {
      throw new Error(`Not in the root: ${path}`);
    }
    const file = await files.stat(relativeName(files.root, path).split("/"));
    if (file === undefined || file.isDirectory) {
      throw new Error(`No such file: ${path}`);
    }
    return await files.readText(file);
  }

  return (error, request, peer) => {
    if (error instanceof HttpError) {
      if (error.status === 404) {
        return pageOf(404, request, peer, error.message);
      }
      return errorPage(error.status, {
        message: error.message,
        headers: error.headers,
      });
    }
    if (error instanceof Deno.errors.NotFound) {
      // Deleted between look-up and read.
      return pageOf(404, request, peer, NOT_FOUND_MESSAGE);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      // The operating system, not Deno, refused to read it.
      return errorPage(403, { message: "Forbidden" });
    }
    const id = crypto.randomUUID().slice(0, 8);
    onError(error, id);
    const message =
      `The server failed to answer this request (error id ${id}).`;
    if (prod || !isLocal(request, peer)) {
      return pageOf(500, request, peer, message);
    }
    return renderErrorDetail(error, files.root, readSource).then((detailHtml) =>
      errorPage(500, { message, detailHtml })
    );
  };
}
