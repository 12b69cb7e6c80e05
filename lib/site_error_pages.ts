/**
 * A site's own error pages: `_404.html`, `_404.ts` (or `.js`, `.mts`,
 * `.mjs`) or `_404.tpl` in ROOT answers every 404; `_500.*` answers
 * unexpected errors where the detailed page is not shown (`--prod`, or a
 * visitor from another machine). They are private files, so never
 * reachable by their own name.
 *
 * A template or page gets `path` (the requested URL path, decoded),
 * `status` and `message` as its query (`$path`, `ctx.query.get("path")`),
 * in place of the request's own; templates escape them, and a page must
 * (`ctx.escape`). Whatever it
 * answers goes out with the error's status. One that fails falls back
 * to the built-in page (and the failure is logged).
 *
 * @module
 */
import { type FileInfo, relativeName, type SiteFiles } from "./files/files.ts";
import type { Registry } from "./registry.ts";
import type { ConnectionInfo, Target } from "./types.ts";

/** The statuses a site may answer with a page of its own. */
export type SiteErrorStatus = 404 | 500;

/** The names an error page may have, in order of preference. */
const EXTENSIONS = [".html", ".ts", ".js", ".mts", ".mjs", ".tpl"];

/** Request headers about the resource asked for, not its error page. */
const ABOUT_THE_RESOURCE = [
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "if-range",
  "range",
];

/** Options for {@linkcode createSiteErrorPages}. */
export interface SiteErrorPagesOptions {
  /** The site's files. */
  files: SiteFiles;
  /** The handlers, which answer the error page as any file of its kind. */
  handlers: Registry;
  /** Told of a custom error page that failed (it is then not used). */
  onError: (error: unknown, id: string) => void;
}

/**
 * Answers an error with the site's own page, or says there is none
 * (`undefined`, at once when known: the built-in page then answers
 * without a wait).
 */
export type SiteErrorPages = (
  status: SiteErrorStatus,
  request: Request,
  info: { message: string; connection?: ConnectionInfo | undefined },
) => Promise<Response | undefined> | undefined;

/** Creates the error-page look-up of a site. */
export function createSiteErrorPages(
  options: SiteErrorPagesOptions,
): SiteErrorPages {
  const { files, handlers, onError } = options;
  /**
   * The page per status, looked up once per generation of the files;
   * `null` once known that there is none, so the built-in page answers
   * without a wait.
   */
  const pages = new Map<
    SiteErrorStatus,
    Promise<FileInfo | undefined> | null
  >();
  let kept: number | undefined;

  function pageFor(
    status: SiteErrorStatus,
  ): Promise<FileInfo | undefined> | undefined {
    const current = files.generation?.();
    if (current === undefined || current !== kept) {
      pages.clear();
      kept = current;
    }
    const known = pages.get(status);
    if (known !== undefined) return known ?? undefined;
    const page = look(status);
    pages.set(status, page);
    page.then((file) => {
      if (file === undefined && pages.get(status) === page) {
        pages.set(status, null);
      }
    }, () => pages.delete(status));
    return page;
  }

  async function look(status: SiteErrorStatus): Promise<FileInfo | undefined> {
    for (const extension of EXTENSIONS) {
      const file = await files.stat([`_${status}${extension}`]);
      if (file !== undefined && !file.isDirectory) return file;
    }
    return undefined;
  }

  return (status, request, info) => {
    const page = pageFor(status);
    if (page === undefined) return undefined;
    return page.then(
      (file) =>
        file === undefined ? undefined : answer(file, status, request, info),
      // The files cannot be read (the error being answered may be just
      // that): the built-in page answers.
      () => undefined,
    );
  };

  async function answer(
    file: FileInfo,
    status: SiteErrorStatus,
    request: Request,
    info: { message: string; connection?: ConnectionInfo | undefined },
  ): Promise<Response | undefined> {
    const url = new URL(request.url);
    let path = url.pathname;
    try {
      path = decodeURIComponent(path);
    } catch {
      // Not UTF-8: shown as it was sent.
    }
    const query = new URLSearchParams({
      path,
      status: String(status),
      message: info.message,
    });
    // The values are the query, for pages and templates alike; the path
    // stays the one asked for (ctx.url).
    url.search = query.toString();
    const target: Target = {
      file,
      url,
      query,
      scriptName: `/${relativeName(files.root, file.path)}`,
      pathInfo: "",
      connection: info.connection,
    };
    // The error page reads no body of the request that failed: a GET (a
    // HEAD stays HEAD) with the same headers, bar those that would ask
    // about the error page itself (a 304, a range of it).
    const headers = new Headers(request.headers);
    for (const name of ABOUT_THE_RESOURCE) headers.delete(name);
    const asked = new Request(url, {
      method: request.method === "HEAD" ? "HEAD" : "GET",
      headers,
    });
    try {
      const response = await handlers.handlerFor(file.path)(asked, target);
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        throw new Error(
          `the error page "${target.scriptName}" answered ${response.status}; an error page must answer with a body`,
        );
      }
      const sent = new Headers(response.headers);
      // Its own validators would let a browser keep the page as the
      // resource itself.
      sent.delete("etag");
      sent.delete("last-modified");
      sent.delete("accept-ranges");
      sent.set("cache-control", "no-store");
      return new Response(response.body, { status, headers: sent });
    } catch (error) {
      const id = crypto.randomUUID().slice(0, 8);
      onError(
        new Error(
          `The site's error page "${target.scriptName}" failed; the built-in page answered instead`,
          { cause: error },
        ),
        id,
      );
      return undefined;
    }
  }
}
