/**
 * Page modules: `.ts`, `.js`, `.mts` and `.mjs` files whose default export
 * answers requests, run in the server's own process.
 *
 * @module
 */
import { toFileUrl } from "../_std.ts";
import {
  type BodyBudget,
  DEFAULT_MAX_FIELDS,
  limitBody,
  parseForm,
} from "../body.ts";
import { type FileInfo, relativeName, type SiteFiles } from "../files/files.ts";
import { PageError } from "./page_error.ts";
import { importPage } from "./page_module.ts";
import {
  isHttps,
  newSession,
  openSession,
  type OpenSessionOptions,
  type RequestSession,
} from "../sessions/session.ts";
import type { SessionStore } from "../sessions/session_store.ts";
import { createSourceCache } from "../files/source_cache.ts";
import { mayWrite } from "../write_access.ts";
import type { RenderOptions, TemplateValues } from "../templates/template.ts";
import { HttpError } from "../http_error.ts";
import {
  type ContextServices,
  createContext,
  type PageFunction,
} from "./page_context.ts";
import { mergeHeaders, pageResultToResponse } from "./page_response.ts";
// Loaded with the runner, so that it is in the module graph before any
// page: a page imports it as "scriptserver" under --allow-read=ROOT alone
// (a module not yet loaded would need read access to lib/).
import "../page_api.ts";
import type { FileHandler, Target } from "../types.ts";

/** The extensions of page modules. */
export const PAGE_EXTENSIONS = [".ts", ".js", ".mts", ".mjs"] as const;

/**
 * Runs page modules. {@linkcode createModuleRunner} runs them in this
 * process; a runner that isolates pages (in recyclable Workers, say) can
 * replace it through `createHandler({ pageRunner })`.
 */
export interface PageRunner {
  /** Answers a request for the page module `target.file`. */
  run(request: Request, target: Target): Promise<Response>;
}

/** Options for {@linkcode createModuleRunner}. */
export interface ModuleRunnerOptions {
  /** Where page files are read (the root's real path names pages in errors). */
  files: SiteFiles;
  /** The request body limit in bytes. */
  maxBody: number;
  /** The server-wide budget of request body bytes in flight. Default: none. */
  bodyBudget?: BodyBudget;
  /** The most fields a form may have. Default: 1000. */
  maxFields?: number;
  /** Where sessions live. */
  sessions: SessionStore;
  /** Renders templates for `ctx.render`. */
  render: (
    from: FileInfo,
    path: string,
    values: TemplateValues,
    options?: RenderOptions,
  ) => Promise<Response>;
  /** Whether `X-Forwarded-Proto` is believed (behind a reverse proxy). */
  trustProxy: boolean;
  /**
   * How long a page may take to answer, in ms, once called: past it the
   * request gets 503 and its connection is freed. Default: 30 s.
   */
  pageTimeout?: number;
  /** Told of each page that timed out. Default: stderr. */
  log?: (message: string) => void;
}

/** The default `--page-timeout`: 30 s. */
export const DEFAULT_PAGE_TIMEOUT = 30_000;

/** What {@linkcode settle} gives when the client went away. */
const GONE = Symbol("gone");

/** The status answered to a client that went away (nginx's; never sent). */
export const CLIENT_GONE = 499;

/**
 * What a page's promise settles to, unless the client goes away first
 * ({@linkcode GONE}: the connection is freed at once) or the page takes
 * longer than `ms` (503). A page cannot be stopped: what it
 * does later is ignored.
 */
function settle(
  pending: Promise<unknown>,
  signal: AbortSignal,
  ms: number,
  onTimeout: () => HttpError,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", gone);
    };
    const gone = () => {
      done();
      resolve(GONE);
    };
    const timer = setTimeout(() => {
      done();
      reject(onTimeout());
    }, ms);
    if (signal.aborted) return gone();
    signal.addEventListener("abort", gone);
    pending.then((value) => {
      done();
      resolve(value);
    }, (error) => {
      done();
      reject(error);
    });
  });
}

/** A page the server may write itself: it is never run. */
export function writablePage(name: string): PageError {
  const error = new Error(
    `Refusing to run page "${name}": the server may write to it (--allow-write covers it), so an upload could become code. Grant write access to a folder outside ROOT only.`,
  );
  return new PageError(name, error.message, error);
}

/** "30 s", "1.5 s". */
function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

/**
 * The 503 for a page that did not answer within `ms` (`--page-timeout`),
 * told to `log` with the page's name.
 */
export function pageTimedOut(
  name: string,
  ms: number,
  log: (message: string) => void,
): HttpError {
  log(
    `scriptserver: page "${name}" did not answer within ${
      seconds(ms)
    } (--page-timeout); answered 503`,
  );
  return new HttpError(503, `The page did not answer within ${seconds(ms)}.`);
}

/** Whether a request can carry a body worth limiting and parsing. */
export function mayHaveBody(request: Request): boolean {
  const { method, headers } = request;
  // GET and HEAD bodies are read only when announced; checking headers
  // avoids creating a body stream on every request.
  if (method === "GET" || method === "HEAD") {
    return headers.has("content-length") || headers.has("transfer-encoding");
  }
  return true;
}

/**
 * Runs page modules in-process with dynamic `import()`.
 *
 * A module is imported once per version of its file and kept: unchanged
 * pages are never re-imported (even a cached `import()` costs a third of a
 * bare server's throughput). An edited page is imported again on its next
 * request, under a new URL: Deno caches modules, failed ones included, by
 * URL for the life of the process. The old version stays in memory, as Deno
 * cannot unload modules. Helpers a page imports (`_lib.ts`) load once per
 * process.
 */
export function createModuleRunner(options: ModuleRunnerOptions): PageRunner {
  const { files, maxFields = DEFAULT_MAX_FIELDS } = options;
  const pageTimeout = options.pageTimeout ?? DEFAULT_PAGE_TIMEOUT;
  const log = options.log ?? ((message) => console.error(message));
  const bodyLimits = {
    max: options.maxBody,
    deadline: pageTimeout,
    ...(options.bodyBudget ? { budget: options.bodyBudget } : {}),
  };
  const shared: Shared = {
    sessions: options.sessions,
    render: options.render,
    trustProxy: options.trustProxy,
  };
  const root = files.root;
  /** How many times each path was imported. */
  const imports = new Map<string, number>();

  function importVersion(file: FileInfo, name: string): Promise<PageFunction> {
    if (mayWrite(file.path)) return Promise.reject(writablePage(name));
    // By absolute real path: in a compiled binary import.meta.url points
    // into the embedded file system, so nothing may be relative to it. The
    // first import uses the plain URL, which is what a binary's embedded
    // module graph knows; later versions get a query of their own.
    const count = (imports.get(file.path) ?? 0) + 1;
    imports.set(file.path, count);
    const plain = toFileUrl(file.path).href;
    const url = count === 1 ? plain : `${plain}?v=${count}`;
    return importPage(url, name);
  }

  /** A page being imported, and its function once it is. */
  interface Loaded {
    promise: Promise<PageFunction>;
    ready?: PageFunction;
  }
  const load = createSourceCache((file): Loaded => {
    const promise = importVersion(file, relativeName(root, file.path));
    const loaded: Loaded = { promise };
    promise.then((page) => loaded.ready = page, () => {});
    return loaded;
  }, { files });

  return {
    async run(request, target) {
      const bodied = mayHaveBody(request);
      const limited = bodied ? limitBody(request, bodyLimits) : request;
      // On the hot path nothing below waits: a loaded page is a function,
      // and a page that returns a value (not a promise) is not awaited.
      let loaded = load(target.file);
      if (loaded instanceof Promise) loaded = await loaded;
      const page = loaded.ready ?? await loaded.promise;
      const state = new PageRequest(limited, target, shared);
      if (bodied && limited.body !== null) {
        state.parsedForm = await parseForm(limited, maxFields);
      }
      // Only a request with cookies can name a session to look up. If
      // the store cannot say (it is down), only a page that uses the
      // session fails (503); the others answer as usual.
      if (limited.headers.has("cookie")) {
        try {
          state.openedSession = await openSession(
            limited,
            state.sessionOptions(),
          );
        } catch (error) {
          state.sessionFailure = { error };
        }
      }
      const context = createContext(limited, target, state);
      let value: unknown;
      try {
        value = page(context);
        if (value instanceof Promise) {
          value = await settle(
            value,
            request.signal,
            pageTimeout,
            () =>
              pageTimedOut(
                relativeName(root, target.file.path),
                pageTimeout,
                log,
              ),
          );
          // Nobody reads the answer; the session is left as it is.
          if (value === GONE) {
            return new Response(null, { status: CLIENT_GONE });
          }
        }
      } catch (error) {
        if (state.openedSession) await state.openedSession.commit();
        const headers = state.headers;
        if (error instanceof Response) {
          return headers === undefined ? error : mergeHeaders(error, headers);
        }
        if (error instanceof HttpError) throw error;
        const name = relativeName(root, target.file.path);
        throw new PageError(name, `Page "${name}" failed`, error);
      }
      if (state.openedSession) await state.openedSession.commit();
      try {
        return pageResultToResponse(
          value,
          state.headers,
          target.scriptName.slice(1),
        );
      } catch (error) {
        const name = relativeName(root, target.file.path);
        throw new PageError(name, (error as Error).message, error);
      }
    },
  };
}

/** What every request's {@linkcode PageRequest} shares. */
interface Shared {
  sessions: SessionStore;
  render: ModuleRunnerOptions["render"];
  trustProxy: boolean;
}

/**
 * One page request's state: the services its context needs, each made on
 * first use. (A class, as every object made per request: see the README,
 * Performance.)
 */
class PageRequest implements ContextServices {
  readonly #request: Request;
  readonly #target: Target;
  readonly #shared: Shared;
  /** The parsed form of a request with a body. */
  parsedForm: FormData | undefined;
  /** Response headers, once a page or the session asked for them. */
  headers: Headers | undefined;
  /** The session, once looked up or started. */
  openedSession: RequestSession | undefined;
  /** Why the session could not be looked up, thrown when the page uses it. */
  sessionFailure: { error: unknown } | undefined;

  constructor(request: Request, target: Target, shared: Shared) {
    this.#request = request;
    this.#target = target;
    this.#shared = shared;
  }

  form(): FormData {
    return this.parsedForm ??= new FormData();
  }

  responseHeaders(): Headers {
    return this.headers ??= new Headers();
  }

  sessionOptions(): OpenSessionOptions {
    return {
      store: this.#shared.sessions,
      responseHeaders: this.responseHeaders(),
      secure: isHttps(this.#request, this.#shared.trustProxy),
    };
  }

  session(): RequestSession {
    if (this.sessionFailure !== undefined) throw this.sessionFailure.error;
    return this.openedSession ??= newSession(this.sessionOptions());
  }

  render(
    path: string,
    values: TemplateValues,
    options?: RenderOptions,
  ): Promise<Response> {
    return this.#shared.render(this.#target.file, path, values, options);
  }
}

/** The registry entries that send page modules to `runner`. */
export function pageHandlers(runner: PageRunner): Record<string, FileHandler> {
  const handler: FileHandler = (request, target) => runner.run(request, target);
  return Object.fromEntries(PAGE_EXTENSIONS.map((ext) => [ext, handler]));
}
