/**
 * The dispatcher: from a Request to the file it names and the handler that
 * answers it, with the one boundary that turns errors into responses.
 *
 * @module
 */
import { errorPage } from "./error_page.ts";
import { createDiskFiles, type FileInfo, type SiteFiles } from "./files.ts";
import { HttpError } from "./http_error.ts";
import { renderListing } from "./listing.ts";
import { serveFile, STATIC_METHODS } from "./static_file.ts";
import { decodeUrlPath, parseRequestUrl } from "./url_path.ts";

/** The unit of composition: a pure function from Request to Response. */
export type Handler = (request: Request) => Promise<Response>;

/** Options for {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The directory to serve. It must exist. */
  root: string;
  /**
   * Production mode: error pages carry no details, only an error id that
   * also appears in the log. Default: `false`.
   */
  prod?: boolean;
  /** File lookups. Default: the disk under `root` ({@linkcode createDiskFiles}). */
  files?: SiteFiles;
  /**
   * Receives every unexpected error (answered with 500) and its id.
   * Default: writes both to stderr.
   */
  onError?: (error: unknown, id: string) => void;
}

/** Files that serve their directory, in order of preference. */
const INDEX_NAMES = ["index.html", "index.htm"];

const NOT_FOUND = "There is nothing at this address.";

/** Security headers on everything the server itself makes. */
const NOSNIFF = { "x-content-type-options": "nosniff" };

function logToStderr(error: unknown, id: string): void {
  console.error(`scriptserver: error ${id}:`, error);
}

/**
 * Creates the request handler for a directory.
 *
 * @example
 * ```ts
 * import { createHandler } from "./mod.ts";
 * Deno.serve(createHandler({ root: "./site" }));
 * ```
 */
export function createHandler(options: HandlerOptions): Handler {
  const files = options.files ?? createDiskFiles(options.root);
  const prod = options.prod ?? false;
  const onError = options.onError ?? logToStderr;

  async function serveDirectory(
    request: Request,
    directory: FileInfo,
    segments: string[],
  ): Promise<Response> {
    for (const name of INDEX_NAMES) {
      const index = await files.stat([...segments, name]);
      if (index !== undefined && !index.isDirectory) {
        return serveFile(request, index, files);
      }
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw new HttpError(405, "Method not allowed", {
        headers: { allow: STATIC_METHODS },
      });
    }
    const displayPath = segments.length === 0 ? "/" : `/${segments.join("/")}/`;
    const html = renderListing(displayPath, await files.list(directory));
    return new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8", ...NOSNIFF },
    });
  }

  async function route(request: Request): Promise<Response> {
    if (request.method === "TRACE" || request.method === "CONNECT") {
      // TRACE would echo the request (cookies included); CONNECT is for
      // proxies. Neither is served.
      throw new HttpError(501, `Method ${request.method} is not supported`);
    }
    const url = parseRequestUrl(request);
    const { segments, trailingSlash } = decodeUrlPath(url.pathname);
    const target = await files.stat(segments);
    if (target === undefined) throw new HttpError(404, NOT_FOUND);

    if (target.isDirectory) {
      const last = segments.at(-1);
      if (!trailingSlash && last !== undefined) {
        // Relative, so it never starts with "//" (an open redirect) and
        // works behind any prefix; the name is encoded, so a directory
        // called "javascript:x" stays a path.
        return new Response(null, {
          status: 301,
          headers: {
            location: `./${encodeURIComponent(last)}/${url.search}`,
          },
        });
      }
      return await serveDirectory(request, target, segments);
    }
    // "file.txt/" names a directory that is not there.
    if (trailingSlash) throw new HttpError(404, NOT_FOUND);
    return await serveFile(request, target, files);
  }

  function toResponse(error: unknown): Response {
    if (error instanceof HttpError) {
      const headers = new Headers(error.headers);
      for (const [name, value] of Object.entries(NOSNIFF)) {
        headers.set(name, value);
      }
      return errorPage(error.status, { message: error.message, headers });
    }
    if (error instanceof Deno.errors.NotFound) {
      // Deleted between look-up and read.
      return errorPage(404, { message: NOT_FOUND, headers: NOSNIFF });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      // The operating system, not Deno, refused to read it.
      return errorPage(403, { message: "Forbidden", headers: NOSNIFF });
    }
    const id = crypto.randomUUID().slice(0, 8);
    onError(error, id);
    return errorPage(500, {
      message: `The server failed to answer this request (error id ${id}).`,
      headers: NOSNIFF,
      ...(prod ? {} : { detail: describe(error) }),
    });
  }

  return async function handle(request: Request): Promise<Response> {
    let response: Response;
    try {
      response = await route(request);
    } catch (error) {
      response = toResponse(error);
    }
    if (request.body !== null && !request.bodyUsed) {
      request.body.cancel().catch(() => {});
    }
    if (request.method === "HEAD" && response.body !== null) {
      response.body.cancel().catch(() => {});
      return new Response(null, response);
    }
    return response;
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? String(error);
  return String(error);
}
