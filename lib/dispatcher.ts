/**
 * The dispatcher: from a Request to the file it names and the handler that
 * answers it, with the one boundary that turns errors into responses.
 *
 * @module
 */
import { DEFAULT_MAX_BODY } from "./body.ts";
import { renderErrorDetail } from "./error_detail.ts";
import { errorPage } from "./error_page.ts";
import {
  createDiskFiles,
  type FileInfo,
  isInside,
  type SiteFiles,
} from "./files.ts";
import { HttpError } from "./http_error.ts";
import { renderListing } from "./listing.ts";
import { createModuleRunner, pageHandlers, type PageRunner } from "./page.ts";
import {
  type ConnectionInfo,
  createRegistry,
  DEFAULT_HANDLER,
  type FileHandler,
  type HandlerMap,
  type Target,
} from "./registry.ts";
import {
  createMemorySessionStore,
  type SessionStore,
} from "./session_store.ts";
import { serveFile, STATIC_METHODS } from "./static_file.ts";
import { createTemplates } from "./template_handler.ts";
import { decodeUrlPath, parseRequestUrl } from "./url_path.ts";

/**
 * The unit of composition: a function from Request to Response. `info` is
 * what `Deno.serve` passes (the client's address); it may be left out.
 */
export type Handler = (
  request: Request,
  info?: ConnectionInfo,
) => Promise<Response>;

/** Options for {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The directory to serve. It must exist. */
  root: string;
  /**
   * Production mode: error pages carry no details, only an error id that
   * also appears in the log. Default: `false`.
   */
  prod?: boolean;
  /**
   * Handlers by extension (".md"), added to or replacing the built-in ones
   * (page modules for .ts/.js/.mts/.mjs, templates for .tpl; "*", static
   * files, for the rest).
   */
  handlers?: HandlerMap;
  /** Request bodies larger than this many bytes get 413. Default: 10 MiB. */
  maxBody?: number;
  /** Runs page modules. Default: in this process ({@linkcode createModuleRunner}). */
  pageRunner?: PageRunner;
  /**
   * Where sessions live. Default: this process's memory
   * ({@linkcode createMemorySessionStore}) with `sessionTtl` and `maxSessions`.
   */
  sessions?: SessionStore;
  /** Idle time after which an in-memory session expires, in ms. Default: 30 minutes. */
  sessionTtl?: number;
  /** Most live in-memory sessions (least recently used evicted). Default: 10,000. */
  maxSessions?: number;
  /**
   * Behind a reverse proxy: take `X-Forwarded-Proto: https` as https, so
   * session cookies get `Secure`. Only with a proxy that sets the header;
   * otherwise any client could. Default: `false`.
   */
  trustProxy?: boolean;
  /** File lookups. Default: the disk under `root` ({@linkcode createDiskFiles}). */
  files?: SiteFiles;
  /**
   * Receives every unexpected error (answered with 500) and its id.
   * Default: writes both to stderr.
   */
  onError?: (error: unknown, id: string) => void;
}

/** Files that serve their directory, in order of preference. */
const INDEX_NAMES = [
  "index.html",
  "index.htm",
  "index.ts",
  "index.js",
  "index.tpl",
];

const NOT_FOUND = "There is nothing at this address.";

/** Security headers on everything the server itself makes. */
const NOSNIFF = { "x-content-type-options": "nosniff" };

function logToStderr(error: unknown, id: string): void {
  console.error(`scriptserver: error ${id}:`, error);
}

/** A file found for a URL path, and how the path splits around it. */
interface Found {
  file: FileInfo;
  /** The URL segments that name the file. */
  segments: string[];
  pathInfo: string;
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
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const templates = createTemplates({ files, maxBody });
  const pageRunner = options.pageRunner ?? createModuleRunner({
    files,
    maxBody,
    sessions: options.sessions ?? createMemorySessionStore({
      ...(options.sessionTtl === undefined ? {} : { ttl: options.sessionTtl }),
      ...(options.maxSessions === undefined
        ? {}
        : { max: options.maxSessions }),
    }),
    render: templates.render,
    trustProxy: options.trustProxy ?? false,
  });
  const staticFile: FileHandler = (request, target) =>
    serveFile(request, target.file, files);
  const registry = createRegistry(
    { [DEFAULT_HANDLER]: staticFile },
    pageHandlers(pageRunner),
    { ".tpl": templates.handler },
    options.handlers ?? {},
  );

  /**
   * Finds the file a URL path names. Below a script ("/app.ts/extra"), the
   * rest of the path is the script's PATH_INFO (CGI/1.1); only scripts take
   * one, so "/file.txt/" stays a 404.
   */
  async function find(
    segments: string[],
    trailingSlash: boolean,
  ): Promise<Found | FileInfo | undefined> {
    const target = await files.stat(segments);
    if (target?.isDirectory) return target;
    const slash = trailingSlash ? "/" : "";
    if (target !== undefined) {
      if (!trailingSlash) return { file: target, segments, pathInfo: "" };
      // "page.ts/": a script with PATH_INFO "/"; any other file: nothing.
      return registry.isScript(target.path)
        ? { file: target, segments, pathInfo: "/" }
        : undefined;
    }
    for (let end = 1; end < segments.length; end++) {
      if (!registry.isScript(segments[end - 1]!)) continue;
      const script = await files.stat(segments.slice(0, end));
      if (script === undefined) return undefined;
      if (script.isDirectory) continue;
      if (!registry.isScript(script.path)) return undefined;
      return {
        file: script,
        segments: segments.slice(0, end),
        pathInfo: `/${segments.slice(end).join("/")}${slash}`,
      };
    }
    return undefined;
  }

  async function serveDirectory(
    request: Request,
    directory: FileInfo,
    segments: string[],
    url: URL,
    connection: ConnectionInfo | undefined,
  ): Promise<Response> {
    for (const name of INDEX_NAMES) {
      const index = await files.stat([...segments, name]);
      if (index !== undefined && !index.isDirectory) {
        return dispatch(request, {
          file: index,
          url,
          scriptName: `/${[...segments, name].join("/")}`,
          pathInfo: "",
          connection,
        });
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

  /** Hands a file to its handler, chosen by its real path's extension. */
  function dispatch(request: Request, target: Target): Promise<Response> {
    return registry.handlerFor(target.file.path)(request, target);
  }

  async function route(
    request: Request,
    connection: ConnectionInfo | undefined,
  ): Promise<Response> {
    if (request.method === "TRACE" || request.method === "CONNECT") {
      // TRACE would echo the request (cookies included); CONNECT is for
      // proxies. Neither is served.
      throw new HttpError(501, `Method ${request.method} is not supported`);
    }
    const url = parseRequestUrl(request);
    const { segments, trailingSlash } = decodeUrlPath(url.pathname);
    const found = await find(segments, trailingSlash);
    if (found === undefined) throw new HttpError(404, NOT_FOUND);

    if ("isDirectory" in found) {
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
      return await serveDirectory(request, found, segments, url, connection);
    }
    return await dispatch(request, {
      file: found.file,
      url,
      scriptName: `/${found.segments.join("/")}`,
      pathInfo: found.pathInfo,
      connection,
    });
  }

  function readSource(path: string): Promise<string> {
    // Only for the development error page, and only inside the root.
    if (!isInside(files.root, path)) return Promise.reject(new Error(path));
    return Deno.readTextFile(path);
  }

  async function toResponse(error: unknown): Promise<Response> {
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
      ...(prod ? {} : {
        detailHtml: await renderErrorDetail(error, files.root, readSource),
      }),
    });
  }

  return async function handle(
    request: Request,
    info?: ConnectionInfo,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await route(request, info);
    } catch (error) {
      response = await toResponse(error);
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
