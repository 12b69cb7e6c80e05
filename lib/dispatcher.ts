/**
 * The dispatcher: wires a site's files, handlers, router and error
 * boundary into one `(request) => Promise<Response>`.
 *
 * @module
 */
import { compressResponse, memoryResponse } from "./compression.ts";
import {
  BodyBudget,
  DEFAULT_MAX_BODY,
  DEFAULT_MAX_BODY_TOTAL,
  DEFAULT_MAX_FIELDS,
  releaseBody,
} from "./body.ts";
import { createErrorBoundary, siteOrBuiltInPage } from "./error_page.ts";
import { createCachedFiles } from "./files/file_cache.ts";
import {
  createDiskFiles,
  type FileInfo,
  type SiteFiles,
} from "./files/files.ts";
import {
  HttpError,
  methodNotAllowed,
  NOT_FOUND_MESSAGE,
} from "./http_error.ts";
import { HTML_HEADERS } from "./html.ts";
import {
  createModuleRunner,
  DEFAULT_PAGE_TIMEOUT,
  type ModuleRunnerOptions,
  pageHandlers,
  type PageRunner,
} from "./pages/page.ts";
import {
  canRunIsolates,
  createIsolateRunner,
  type IsolateRunner,
  isolatesReadPath,
} from "./pages/isolate_runner.ts";
import {
  createLiveReload,
  isDocumentRequest,
  LIVE_RELOAD_PREFIX,
  type LiveReload,
} from "./live_reload.ts";
import { createRegistry, DEFAULT_HANDLER } from "./registry.ts";
import { createSiteErrorPages } from "./site_error_pages.ts";
import { createRouter, type Route } from "./routes.ts";
import { isHttps } from "./sessions/session.ts";
import {
  createMemorySessionStore,
  type SessionStore,
} from "./sessions/session_store.ts";
import {
  serveFile,
  type ServeFileOptions,
  STATIC_METHODS,
} from "./files/static_file.ts";
import { createTemplates } from "./templates/template_handler.ts";
import type {
  ConnectionInfo,
  FileHandler,
  Handler,
  HandlerMap,
  Target,
} from "./types.ts";
import { checkHost, splitRequestUrl } from "./url_path.ts";

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
  /**
   * The most bytes of request bodies that all requests in flight may hold
   * at once; past it, a request that sends more gets 503 with
   * `Retry-After`. Default: 256 MiB.
   */
  maxBodyTotal?: number;
  /** Forms with more fields (or multipart parts) than this get 413. Default: 1000. */
  maxFields?: number;
  /**
   * How long a page may take to answer, in ms: past it, 503. Default: 30 s.
   * (For the default page runner.)
   */
  pageTimeout?: number;
  /**
   * Where pages run: "isolates" (Workers the server supervises: a page
   * that never yields, ends its isolate or exhausts its heap costs one
   * request; every edit to a page's code shows on the next request) or
   * "in-process" (the server's own isolate: fastest, for embedders, and
   * the only way for a page to upgrade to a WebSocket). Default:
   * "isolates", or "in-process" where the process may not read
   * scriptserver's `lib/` (page isolates load their module from there),
   * with a notice.
   */
  pages?: "isolates" | "in-process";
  /** The most page isolates at once. Default: 2, or one per core if more. */
  isolates?: number;
  /** The heap limit of each page isolate, in MiB. Default: 512. */
  pageMemory?: number;
  /** Runs page modules. Default: chosen by `pages`. */
  pageRunner?: PageRunner;
  /**
   * Where sessions live. Default: this process's memory
   * ({@linkcode createMemorySessionStore}) with `sessionTtl` and `maxSessions`.
   */
  sessions?: SessionStore;
  /** Idle time after which an in-memory session expires, in ms. Default: 30 minutes. */
  sessionTtl?: number;
  /**
   * Most live in-memory sessions; a flood of new ones cannot push out those
   * in use (see {@linkcode createMemorySessionStore}). Default: 50,000.
   */
  maxSessions?: number;
  /**
   * Behind a reverse proxy: take `X-Forwarded-Proto: https` as https, so
   * session cookies get `Secure`. Only with a proxy that sets the header;
   * otherwise any client could. Default: `false`.
   */
  trustProxy?: boolean;
  /**
   * Whether requests arrive over TLS (`Deno.serve` with `cert` and `key`):
   * the scheme of `ctx.url`, and `Secure` session cookies. A request never
   * decides it (an absolute-form target claiming `https:` is ignored).
   * Default: `false`.
   */
  https?: boolean;
  /**
   * File lookups. Default: the disk under `root` ({@linkcode createDiskFiles})
   * behind a memory cache invalidated by a file watcher
   * ({@linkcode createCachedFiles}).
   */
  files?: SiteFiles;
  /**
   * How the default file cache learns about changes: "watch" (a file
   * watcher; facts expire after 500 ms where watching is impossible), "ttl"
   * (always expire after 500 ms), "never" (the files never change, as in a
   * compiled binary's embedded site). Default: "watch".
   */
  fileChanges?: "watch" | "ttl" | "never";
  /**
   * Whether a directory without an index file answers with a listing of
   * its files; with `false`, it answers 404. Default: `true`.
   */
  listings?: boolean;
  /**
   * Headers added to every response that does not set them itself (HSTS,
   * a Content-Security-Policy, CORS). Default: none.
   */
  headers?: HeadersInit;
  /**
   * Live reload, for development: HTML that a browser loads into a tab
   * carries a small script, and the tab reloads when a file under `root`
   * changes (only stylesheets changed: they are swapped in place). Its
   * event stream and script live under the reserved path `/_scriptserver/`.
   * Needs the default file cache's watcher; never with `prod`. Default:
   * `false` (the command line turns it on without `--prod`).
   */
  liveReload?: boolean;
  /**
   * Receives every unexpected error (answered with 500) and its id.
   * Default: writes both to stderr.
   */
  onError?: (error: unknown, id: string) => void;
}

const SLASH = 47;
const UNDERSCORE = 95;
/** Static files whose body live reload may still change. */
const UNCOMPRESSED: ServeFileOptions = { compress: false };

function logToStderr(error: unknown, id: string): void {
  console.error(`scriptserver: error ${id}:`, error);
}

/**
 * A Target whose URL and query are parsed on first use. (A class, as every
 * object made per request: see the README, Performance.)
 */
class RequestTarget implements Target {
  readonly file: FileInfo;
  readonly scriptName: string;
  readonly pathInfo: string;
  readonly connection: ConnectionInfo | undefined;
  readonly #raw: string;
  readonly #search: string;
  #url: URL | undefined;
  #query: URLSearchParams | undefined;

  constructor(
    route: { file: FileInfo; scriptName: string; pathInfo: string },
    raw: string,
    search: string,
    connection: ConnectionInfo | undefined,
  ) {
    this.file = route.file;
    this.scriptName = route.scriptName;
    this.pathInfo = route.pathInfo;
    this.connection = connection;
    this.#raw = raw;
    this.#search = search;
  }

  get url(): URL {
    return this.#url ??= new URL(this.#raw);
  }

  get href(): string {
    return this.#url?.href ?? this.#raw;
  }

  get query(): URLSearchParams {
    return this.#query ??= new URLSearchParams(this.#search);
  }
}

/** A request handler that also owns resources (the file watcher, page isolates). */
export type ClosableHandler = Handler & Disposable & {
  /** Stops watching the root for changes and ends page isolates at once. */
  close(): void;
  /**
   * Lets requests in page isolates finish (at most `graceMs`), ending at
   * once the isolates whose page does not answer; resolves when all have
   * ended. New page requests get 503.
   */
  shutdown(graceMs?: number): Promise<void>;
};

/**
 * Creates the request handler for a directory.
 *
 * Close it (or `using` it) when done: by default it watches the root for
 * changes, to serve what is hot from memory.
 *
 * @example
 * ```ts
 * import { createHandler } from "./mod.ts";
 * Deno.serve(createHandler({ root: "./site" }));
 * ```
 */
export function createHandler(options: HandlerOptions): ClosableHandler {
  const cached = options.files === undefined
    ? createCachedFiles(createDiskFiles(options.root), {
      changes: options.fileChanges ?? "watch",
    })
    : undefined;
  const files: SiteFiles = options.files ?? cached!;
  const prod = options.prod ?? false;
  const trustProxy = options.trustProxy ?? false;
  const scheme = options.https ? "https://" : "http://";
  const onError = options.onError ?? logToStderr;
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const maxFields = options.maxFields ?? DEFAULT_MAX_FIELDS;
  const bodyBudget = new BodyBudget(
    options.maxBodyTotal ?? DEFAULT_MAX_BODY_TOTAL,
  );
  const templates = createTemplates({
    files,
    bodyLimits: {
      max: maxBody,
      budget: bodyBudget,
      // A form takes no longer to arrive than a page may take to answer.
      deadline: options.pageTimeout ?? DEFAULT_PAGE_TIMEOUT,
    },
    maxFields,
  });
  const runnerOptions: ModuleRunnerOptions = {
    files,
    maxBody,
    bodyBudget,
    maxFields,
    sessions: options.sessions ?? createMemorySessionStore({
      ...(options.sessionTtl === undefined ? {} : { ttl: options.sessionTtl }),
      ...(options.maxSessions === undefined
        ? {}
        : { max: options.maxSessions }),
    }),
    render: templates.render,
    trustProxy,
    ...(options.pageTimeout === undefined
      ? {}
      : { pageTimeout: options.pageTimeout }),
  };
  let isolated: IsolateRunner | undefined;
  let pageRunner = options.pageRunner;
  if (
    pageRunner === undefined && (options.pages ?? "isolates") === "isolates"
  ) {
    if (canRunIsolates()) {
      isolated = createIsolateRunner({
        ...runnerOptions,
        ...(options.isolates === undefined
          ? {}
          : { isolates: options.isolates }),
        ...(options.pageMemory === undefined
          ? {}
          : { pageMemory: options.pageMemory }),
      });
      pageRunner = isolated;
    } else {
      console.error(
        `scriptserver: pages run in the server's own isolate: page isolates need --allow-read of ${isolatesReadPath()} (scriptserver's lib/); a page that never answers can then stop the server (see "How pages run" in the README)`,
      );
    }
  }
  pageRunner ??= createModuleRunner(runnerOptions);
  const liveReload = options.liveReload && !prod
    ? startLiveReload(cached, () => isolated?.warm())
    : undefined;
  const staticFile: FileHandler = liveReload === undefined
    ? (request, target) => serveFile(request, target.file, files)
    : (request, target) =>
      serveFile(
        request,
        target.file,
        files,
        isDocumentRequest(request) ? UNCOMPRESSED : undefined,
      );
  const registry = createRegistry(
    { [DEFAULT_HANDLER]: staticFile },
    pageHandlers(pageRunner),
    { ".tpl": templates.handler },
    options.handlers ?? {},
  );

  const router = createRouter({ files, handlers: registry });
  const sitePages = createSiteErrorPages({
    files,
    handlers: registry,
    onError,
  });
  const boundary = createErrorBoundary({ prod, onError, files, sitePages });
  const listings = options.listings ?? true;
  const extraHeaders = [...new Headers(options.headers)];

  /** The site's 404 page, or the built-in one (at once, when it has none). */
  const notFound = (
    request: Request,
    connection: ConnectionInfo | undefined,
  ) =>
    siteOrBuiltInPage(404, request, {
      message: NOT_FOUND_MESSAGE,
      peer: connection,
      sitePages,
    });

  /**
   * Answers a request (as {@linkcode fromConnection} made it). Synchronous
   * on the hot path (a remembered route, a handler that answers at once): every await costs a trip through the
   * runtime, a large share of a fast response.
   */
  function route(
    request: Request,
    connection: ConnectionInfo | undefined,
  ): Response | Promise<Response> {
    let raw = request.url;
    // Behind a trusted proxy, its scheme is the request's (ctx.url).
    if (trustProxy && isHttps(request, true) && raw.startsWith("http:")) {
      raw = `https:${raw.slice(5)}`;
    }
    const [path, query] = splitRequestUrl(raw);
    if (
      liveReload !== undefined && path.charCodeAt(1) === UNDERSCORE &&
      path.startsWith(LIVE_RELOAD_PREFIX)
    ) {
      return liveReload.serve(request, path);
    }
    const found = router.find(path);
    if (!(found instanceof Promise)) {
      return answer(request, found, raw, query, connection);
    }
    return found.then((route) =>
      answer(request, route, raw, query, connection)
    );
  }

  function answer(
    request: Request,
    found: Route,
    raw: string,
    query: string,
    connection: ConnectionInfo | undefined,
  ): Response | Promise<Response> {
    switch (found.kind) {
      case "missing":
        // Answered, not thrown: an Error's stack trace would make requests
        // for missing paths the most expensive kind.
        return notFound(request, connection);
      case "slash":
        // Relative, so it never starts with "//" (an open redirect) and
        // works behind any prefix; the name is encoded, so a directory
        // called "javascript:x" stays a path.
        return new Response(null, {
          status: 301,
          headers: {
            location: `./${encodeURIComponent(found.name)}/${query}`,
          },
        });
      case "listing": {
        if (!listings) return notFound(request, connection);
        const { method } = request;
        if (method !== "GET" && method !== "HEAD") {
          throw methodNotAllowed(STATIC_METHODS);
        }
        const html = router.listing(found);
        return typeof html === "string"
          ? memoryResponse(html, { headers: HTML_HEADERS })
          : html.then((ready: string) =>
            memoryResponse(ready, { headers: HTML_HEADERS })
          );
      }
      case "file":
        return found.handler(
          request,
          new RequestTarget(found, raw, query, connection),
        );
    }
  }

  /**
   * The request as the connection delivered it: Deno builds `request.url`
   * from the request target, so an absolute-form target
   * (`GET https://x/ HTTP/1.1` over plain HTTP) would claim a scheme and a
   * host (Secure cookies, `ctx.url`). The scheme comes from the server
   * (`https`), the host from the Host header, checked here; such a request
   * is rebuilt with that URL. Origin-form requests, nearly all, are used
   * as they are.
   *
   * @throws {HttpError} 400 for a Host header that is not a host.
   */
  function fromConnection(request: Request): Request {
    const { method } = request;
    if (method === "TRACE" || method === "CONNECT") {
      // TRACE would echo the request (cookies included); CONNECT is for
      // proxies. Neither is served.
      throw new HttpError(501, `Method ${method} is not supported`);
    }
    const host = request.headers.get("host");
    checkHost(host);
    const url = request.url;
    if (
      url.startsWith(scheme) &&
      (host === null ||
        (url.startsWith(host, scheme.length) &&
          url.charCodeAt(scheme.length + host.length) === SLASH))
    ) {
      return request;
    }
    const [path, query] = splitRequestUrl(url);
    const authority = host ?? URL.parse(url)?.host ?? "";
    return new Request(`${scheme}${authority}${path}${query}`, request);
  }

  /**
   * Last touches on every response: the request's body is released (its
   * bytes given back to the budget, and its connection closed once the
   * response is out if the body was not read to the end).
   *
   * A HEAD response keeps the body a GET would get: the HTTP layer
   * (`Deno.serve`) sends only the headers, with the Content-Length of a body
   * held in memory, and cancels a streamed one. Replacing the body with
   * `null` here would make it declare `Content-Length: 0`, a wrong length
   * (RFC 9110 §8.6). Static files answer HEAD themselves, without opening
   * the file.
   */
  function finish(
    request: Request,
    response: Response,
    info: ConnectionInfo | undefined,
  ): Response | Promise<Response> {
    releaseBody(request, info);
    const headed = extraHeaders.length === 0 ? response : withHeaders(response);
    if (liveReload === undefined) return compressResponse(request, headed);
    // The script goes in before compression, once the headers (a
    // Content-Security-Policy from `headers`) are known.
    const injected = liveReload.inject(request, headed);
    return injected instanceof Promise
      ? injected.then((ready) => compressResponse(request, ready))
      : compressResponse(request, injected);
  }

  /** `response` with the `headers` option's headers it does not set itself. */
  function withHeaders(response: Response): Response {
    let headers = response.headers;
    const missing = extraHeaders.filter(([name]) => !headers.has(name));
    if (missing.length === 0) return response;
    try {
      for (const [name, value] of missing) headers.set(name, value);
      return response;
    } catch {
      // Immutable headers (Response.redirect()): a copy that can change.
      headers = new Headers(headers);
      for (const [name, value] of missing) headers.set(name, value);
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    }
  }

  function failed(
    request: Request,
    error: unknown,
    info: ConnectionInfo | undefined,
  ): Promise<Response> {
    const response = boundary(error, request, info);
    return response instanceof Promise
      ? response.then((ready) => finish(request, ready, info))
      : Promise.resolve(finish(request, response, info));
  }

  function handle(received: Request, info?: ConnectionInfo): Promise<Response> {
    let result: Response | Promise<Response>;
    let request = received;
    try {
      request = fromConnection(received);
      result = route(request, info);
    } catch (error) {
      return failed(request, error, info);
    }
    if (result instanceof Promise) {
      return result.then(
        (response) => finish(request, response, info),
        (error) => failed(request, error, info),
      );
    }
    return Promise.resolve(finish(request, result, info));
  }
  const close = () => {
    liveReload?.close();
    cached?.close();
    isolated?.close(0);
  };
  const shutdown = (graceMs?: number) => {
    // Open tabs' event streams would hold a graceful shutdown forever.
    liveReload?.close();
    return isolated?.close(graceMs) ?? Promise.resolve();
  };
  return Object.assign(handle, {
    close,
    shutdown,
    [Symbol.dispose]: close,
  });
}

/**
 * Live reload driven by the file cache's watcher, or `undefined` (with a
 * notice) where there is none to drive it.
 */
function startLiveReload(
  cached: ReturnType<typeof createCachedFiles> | undefined,
  onReload: () => void,
): LiveReload | undefined {
  if (cached === undefined || cached.mode !== "watch") {
    console.error(
      `scriptserver: live reload is off: ${
        cached === undefined
          ? "it needs the built-in file cache (no files option)"
          : "the folder cannot be watched for changes"
      }`,
    );
    return undefined;
  }
  const liveReload = createLiveReload({ root: cached.root, onReload });
  cached.onChange((paths) => liveReload.changed(paths));
  return liveReload;
}
