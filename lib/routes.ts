/**
 * Route resolution: from a request's URL path to what answers it (a file
 * and its handler, a listing, a redirect to the directory's slash, or
 * nothing), remembered while no file changes. Pure over
 * {@linkcode SiteFiles}: no request, no disk of its own.
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";
import type { FileInfo, SiteFiles } from "./files/files.ts";
import { HttpError } from "./http_error.ts";
import { renderListing } from "./files/listing.ts";
import type { FileHandler } from "./types.ts";
import { decodeUrlPath } from "./url_path.ts";

/** Files that serve their directory, in order of preference. */
export const INDEX_NAMES = [
  "index.html",
  "index.htm",
  "index.ts",
  "index.js",
  "index.tpl",
];

/**
 * Bytes of remembered routes, keyed by raw URL path: clients choose the
 * keys, so long distinct URLs must not grow them without end.
 */
const ROUTE_BYTES = 8 * 1024 * 1024;
/**
 * Longer URL paths are resolved every time: no site has them, and a
 * flood of them would only push out the routes in use.
 */
const MAX_REMEMBERED_PATH = 2048;
/** What a remembered route costs besides its key. */
const ROUTE_OVERHEAD = 256;
/** Bytes of rendered listings kept, by directory. */
const LISTING_BYTES = 8 * 1024 * 1024;

/** What a URL path leads to, found once and kept while no file changes. */
export type Route =
  | { kind: "missing" }
  /** A directory asked for without its trailing slash. */
  | { kind: "slash"; name: string }
  | {
    kind: "file";
    file: FileInfo;
    handler: FileHandler;
    /** The decoded URL path of the file ("/shop/cart.ts"). */
    scriptName: string;
    /** The rest of the path below a script ("/extra"), or "". */
    pathInfo: string;
  }
  | {
    kind: "listing";
    directory: FileInfo;
    /** The decoded URL path of the directory, ending in "/". */
    displayPath: string;
  };

const MISSING: Route = { kind: "missing" };

/**
 * What an extensionless URL ("/about") may name when nothing has that
 * name, in order: clean URLs. Each adds a fixed extension to a name that
 * passed the URL checks, so private, dot and source-like names stay
 * hidden.
 */
export const CLEAN_EXTENSIONS = [
  ".html",
  ".ts",
  ".js",
  ".mts",
  ".mjs",
  ".tpl",
];

/** Which handler answers a file (the registry). */
export interface HandlerLookup {
  /** The handler for a file path. */
  handlerFor(path: string): FileHandler;
  /** Whether a file name has a handler of its own (takes PATH_INFO). */
  isScript(name: string): boolean;
}

/** Options for {@linkcode createRouter}. */
export interface RouterOptions {
  /** The site's files (usually behind the memory cache). */
  files: SiteFiles;
  /** Which handler answers each file. */
  handlers: HandlerLookup;
}

/** Routes for one site. */
export interface Router {
  /**
   * What a raw URL path (percent-encoded, as the request has it) leads
   * to: at once when remembered, else after the look-ups.
   *
   * @throws {HttpError} 400 for a malformed path, 404 for one that is
   * private or smuggles a separator (see `decodeUrlPath`).
   */
  find(path: string): Route | Promise<Route>;
  /** The HTML of a listing route, rendered once per directory and change. */
  listing(route: Extract<Route, { kind: "listing" }>): string | Promise<string>;
}

/** Whether a route was reached through a symlink: then it is not remembered. */
function isLinked(route: Route): boolean {
  return (route.kind === "file" && route.file.linked === true) ||
    (route.kind === "listing" && route.directory.linked === true);
}

/**
 * Creates the router of a site.
 *
 * @example
 * ```ts
 * import { createRouter } from "./routes.ts";
 * import { createDiskFiles } from "./files/files.ts";
 * import { createRegistry } from "./registry.ts";
 *
 * const handlers = createRegistry({ "*": () => new Response("a file") });
 * const router = createRouter({ files: createDiskFiles("."), handlers });
 * const route = await router.find("/README.md"); // { kind: "file", … }
 * ```
 */
export function createRouter(options: RouterOptions): Router {
  const { files, handlers } = options;

  function fileRoute(
    file: FileInfo,
    segments: string[],
    pathInfo: string,
  ): Route {
    return {
      kind: "file",
      file,
      handler: handlers.handlerFor(file.path),
      scriptName: `/${segments.join("/")}`,
      pathInfo,
    };
  }

  /** The file an extensionless name stands for ("about" → "about.html"). */
  async function cleanFile(
    segments: string[],
    scriptsOnly: boolean,
  ): Promise<{ file: FileInfo; segments: string[] } | undefined> {
    const name = segments.at(-1);
    if (name === undefined || name.includes(".")) return undefined;
    for (const extension of CLEAN_EXTENSIONS) {
      const named = [...segments.slice(0, -1), name + extension];
      if (scriptsOnly && !handlers.isScript(named.at(-1)!)) continue;
      const file = await files.stat(named);
      if (file !== undefined && !file.isDirectory) {
        return { file, segments: named };
      }
    }
    return undefined;
  }

  /**
   * Finds what a URL path names. Below a script ("/app.ts/extra"), the
   * rest of the path is the script's PATH_INFO (CGI/1.1); only scripts take
   * one, so "/file.txt/" stays a 404.
   */
  async function resolve(path: string): Promise<Route> {
    // URL.parse normalises "." and ".." segments (including their %2e
    // forms) and backslashes, the way browsers do. Pasted after an origin,
    // not resolved against one: "//x/y" is a path, never a host.
    const url = URL.parse(`http://host${path}`);
    if (url === null) throw new HttpError(400, "Invalid request URL");
    const { segments, trailingSlash } = decodeUrlPath(url.pathname);
    const found = await files.stat(segments);
    if (found?.isDirectory) {
      const last = segments.at(-1);
      if (!trailingSlash && last !== undefined) {
        return { kind: "slash", name: last };
      }
      for (const name of INDEX_NAMES) {
        const index = await files.stat([...segments, name]);
        if (index !== undefined && !index.isDirectory) {
          return fileRoute(index, [...segments, name], "");
        }
      }
      return {
        kind: "listing",
        directory: found,
        displayPath: segments.length === 0 ? "/" : `/${segments.join("/")}/`,
      };
    }
    if (found !== undefined) {
      if (!trailingSlash) return fileRoute(found, segments, "");
      // "page.ts/": a script with PATH_INFO "/"; any other file: nothing.
      return handlers.isScript(found.path)
        ? fileRoute(found, segments, "/")
        : MISSING;
    }
    if (!trailingSlash) {
      const clean = await cleanFile(segments, false);
      if (clean !== undefined) return fileRoute(clean.file, clean.segments, "");
    }
    for (let end = 1; end < segments.length; end++) {
      const pathInfo = () =>
        `/${segments.slice(end).join("/")}${trailingSlash ? "/" : ""}`;
      if (!handlers.isScript(segments[end - 1]!)) {
        // "/about/extra": the page about.ts, with PATH_INFO "/extra", when
        // nothing is named "about".
        const prefix = segments.slice(0, end);
        if (prefix.at(-1)!.includes(".")) continue;
        if (await files.stat(prefix) !== undefined) continue;
        const clean = await cleanFile(prefix, true);
        // Nothing named so: nothing deeper exists either.
        return clean === undefined
          ? MISSING
          : fileRoute(clean.file, clean.segments, pathInfo());
      }
      const script = await files.stat(segments.slice(0, end));
      if (script === undefined) return MISSING;
      if (script.isDirectory) continue;
      if (!handlers.isScript(script.path)) return MISSING;
      return fileRoute(script, segments.slice(0, end), pathInfo());
    }
    return MISSING;
  }

  /**
   * Routes by raw URL path, kept while the files' generation holds: a hit
   * costs a map look-up instead of decoding, look-ups and dispatch.
   */
  const routes = new BoundedMap<string, Route>({
    maxBytes: ROUTE_BYTES,
    sizeOf: (path) => path.length * 2 + ROUTE_OVERHEAD,
  });
  /** Rendered listings by display path, for the same generation. */
  const listings = new BoundedMap<string, string>({ maxBytes: LISTING_BYTES });
  let kept: number | undefined;

  /** The files' generation, forgetting what an older one found. */
  function generation(): number | undefined {
    const current = files.generation?.();
    if (current !== kept) {
      routes.clear();
      listings.clear();
      kept = current;
    }
    return current;
  }

  async function resolveAndKeep(
    path: string,
    before: number | undefined,
  ): Promise<Route> {
    const found = await resolve(path);
    if (
      before !== undefined && path.length <= MAX_REMEMBERED_PATH &&
      !isLinked(found) && files.generation?.() === before
    ) {
      routes.set(path, found);
    }
    return found;
  }

  return {
    find(path) {
      const current = generation();
      const hit = current === undefined ? undefined : routes.get(path);
      return hit ?? resolveAndKeep(path, current);
    },

    listing(route) {
      const current = generation();
      const key = route.displayPath;
      const html = listings.get(key);
      if (html !== undefined) return html;
      return files.list(route.directory).then((entries) => {
        const html = renderListing(route.displayPath, entries);
        if (current !== undefined && files.generation?.() === current) {
          listings.set(key, html);
        }
        return html;
      });
    },
  };
}
