/**
 * From a request to a safe, root-relative list of path segments.
 *
 * This is the first line of the path-containment defence (the second is the
 * real-path check in `files.ts`). Everything here is pure and hand-written
 * because no library does exactly this; each rule says which attack it stops.
 *
 * @module
 */
import { HttpError, NOT_FOUND_MESSAGE } from "./http_error.ts";

const WINDOWS = Deno.build.os === "windows";

/** A URL path decoded into file-name segments. */
export interface UrlPath {
  /** Decoded segments, root first; empty for "/". No segment is "", "." or "..". */
  segments: string[];
  /** Whether the path ended with "/" (a directory was asked for). */
  trailingSlash: boolean;
}

/**
 * A Host header: a registered name or IPv4 address, or a bracketed IPv6
 * literal, with an optional port.
 *
 * Deno builds `request.url` by pasting the Host header in front of the
 * request-target without parsing either, so a Host such as `x/hello.ts?`
 * would move the real path into the query string. Anything else is refused.
 */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/**
 * Checks a Host header (absent is fine: Deno then uses its own address).
 *
 * @throws {HttpError} 400 when it is not a host.
 */
export function checkHost(host: string | null): void {
  if (host === null) return;
  const match = HOST.exec(host);
  if (match === null || Number(match[1] ?? 0) > 65535) {
    throw new HttpError(400, "Invalid Host header");
  }
}

/**
 * The path and the query of a request URL as Deno built it (the query
 * with its "?", or ""), without parsing: for cache keys on the hot path.
 * Only for URLs whose Host was checked.
 */
export function splitRequestUrl(url: string): [path: string, query: string] {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start === -1) return ["/", ""];
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  if (end === -1) return [url.slice(start), ""];
  const query = url.slice(end, hash > end ? hash : undefined);
  return [url.slice(start, end), query.startsWith("?") ? query : ""];
}

/**
 * Returns the request's URL, after checking the Host header it was built
 * from.
 *
 * @throws {HttpError} 400 when the Host header or the URL is malformed.
 */
export function parseRequestUrl(request: Request): URL {
  checkHost(request.headers.get("host"));
  // URL.parse normalises "." and ".." segments (including their %2e forms)
  // and backslashes, the way browsers do.
  const url = URL.parse(request.url);
  if (url === null) throw new HttpError(400, "Invalid request URL");
  return url;
}

/**
 * An editor's leftovers: backups and swap files (`page.ts~`, `page.ts.bak`,
 * `.orig`, `.swp`, `.swo`, emacs's `#page.ts#`), which would serve a page's
 * source as text.
 */
const EDITOR_LEFTOVER = /\.(?:bak|orig|swp|swo)$|~$|^#.*#$/i;

/**
 * Names that are source, never content: modules no page runner runs
 * (`.tsx`, `.jsx`, `.cts`, `.cjs`), and a site's own Deno configuration
 * (`deno.json`, `deno.jsonc`, `deno.lock`).
 */
const SOURCE_LIKE = /\.(?:tsx|jsx|cts|cjs)$|^deno\.(?:jsonc?|lock)$/i;

/** Whether a file name is an editor's backup or swap file (see above). */
export function isEditorLeftover(name: string): boolean {
  return EDITOR_LEFTOVER.test(name);
}

/**
 * Whether a file name is private: names starting with "." (dotfiles, and
 * "." and ".." themselves) or "_" (private helpers), source-like names and
 * editor leftovers (see above) are never served or listed.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith(".") || name.startsWith("_") ||
    SOURCE_LIKE.test(name) || EDITOR_LEFTOVER.test(name);
}

/**
 * Whether a root-relative path is private: any segment is hidden, except a
 * leading ".well-known" (RFC 8615), which stays reachable.
 */
export function isHiddenPath(segments: readonly string[]): boolean {
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!;
    if (i === 0 && name === ".well-known") continue;
    if (isHiddenName(name)) return true;
  }
  return false;
}

/**
 * Decodes a URL pathname (as `URL.pathname` gives it: starting with "/",
 * still percent-encoded) once into file-name segments.
 *
 * Empty segments ("//") are dropped.
 *
 * @throws {HttpError} 400 for malformed percent-escapes (including overlong
 * or otherwise invalid UTF-8) and NUL bytes, which would truncate a path at
 * the system-call boundary; 404 for segments that decode to a separator
 * ("%2F", and "%5C" on Windows: a second path level smuggled inside one
 * name), to "." or "..", or to a private name.
 */
export function decodeUrlPath(pathname: string): UrlPath {
  const parts = pathname.split("/");
  const segments: string[] = [];
  // parts[0] is the empty string before the leading "/".
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "") continue;
    let name: string;
    try {
      name = part.includes("%") ? decodeURIComponent(part) : part;
    } catch {
      throw new HttpError(400, "Malformed percent-encoding in the URL path");
    }
    if (name.includes("\0")) {
      throw new HttpError(400, "The URL path contains a NUL byte");
    }
    // A second path level smuggled inside one name. A backslash is one
    // only where the system separates paths with it: elsewhere
    // "back\\slash.txt" is a file name like any other.
    if (name.includes("/") || (WINDOWS && name.includes("\\"))) {
      throw new HttpError(404, NOT_FOUND_MESSAGE);
    }
    segments.push(name);
  }
  if (isHiddenPath(segments)) {
    throw new HttpError(404, NOT_FOUND_MESSAGE);
  }
  return { segments, trailingSlash: pathname.endsWith("/") };
}

/**
 * Whether an address is this machine's: 127.0.0.0/8, ::1 (also as an
 * IPv4-mapped IPv6 address), or "localhost".
 */
export function isLoopback(address: string): boolean {
  const host = address.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1") return true;
  const v4 = host.startsWith("::ffff:") ? host.slice(7) : host;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
