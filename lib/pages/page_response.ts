/**
 * From what a page returns to a Response, and the redirects pages make.
 *
 * @module
 */
import { memoryResponse } from "../compression.ts";
import { HTML_TYPE } from "../html.ts";

/** The statuses a redirect may use. */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * A redirect Response with mutable headers (unlike `Response.redirect()`),
 * so a cookie can still be set on it.
 *
 * `location` is resolved against `base` (the request URL). A same-origin
 * target is sent as a path ("/home"), so the Location never depends on the
 * Host header; a path that would start with "//" (read by browsers as
 * another host) has its second slash encoded. Another origin is sent as the
 * absolute URL the page asked for.
 *
 * @throws {RangeError} for a status that is not a redirect.
 * @throws {TypeError} for a location that is not a URL.
 */
export function redirectResponse(
  location: string,
  base: URL,
  status: number = 302,
): Response {
  if (!REDIRECT_STATUSES.has(status)) {
    throw new RangeError(
      `Cannot redirect with status ${status}: use 301, 302, 303, 307 or 308`,
    );
  }
  const target = new URL(location, base);
  let value = target.href;
  if (target.origin === base.origin) {
    value = target.pathname + target.search + target.hash;
    if (value.startsWith("//")) value = `/%2F${value.slice(2)}`;
  }
  return new Response(null, { status, headers: { location: value } });
}

/**
 * Merges `extra` into a Response. The Response's own headers win, except
 * `Set-Cookie`, which accumulates. The Response is copied because its
 * headers may be immutable (`Response.redirect()`, `fetch()`).
 */
export function mergeHeaders(response: Response, extra: Headers): Response {
  // 101: a WebSocket upgrade must be returned untouched.
  if (response.status === 101 || isEmpty(extra)) return response;
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: mergedHeaders(response.headers, extra),
  });
}

/**
 * A copy of `own` with `extra` merged in: `own` wins, except `Set-Cookie`,
 * which accumulates.
 */
function mergedHeaders(own: Headers, extra: Headers): Headers {
  const headers = new Headers(own);
  for (const [name, value] of extra) {
    if (name !== "set-cookie" && !headers.has(name)) headers.set(name, value);
  }
  for (const cookie of extra.getSetCookie()) {
    headers.append("set-cookie", cookie);
  }
  return headers;
}

/** Whether `headers` holds none. */
function isEmpty(headers: Headers): boolean {
  for (const _ of headers.keys()) return false;
  return true;
}

/** The kinds of body a page's return value makes. */
export type ResultKind = "html" | "json" | "bytes";

/** The default content type of each kind. */
export const RESULT_TYPES: Readonly<Record<ResultKind, string>> = {
  html: HTML_TYPE,
  json: "application/json; charset=utf-8",
  bytes: "application/octet-stream",
};

const TYPES = {
  html: { "content-type": RESULT_TYPES.html },
  json: { "content-type": RESULT_TYPES.json },
  bytes: { "content-type": RESULT_TYPES.bytes },
};

/** `headers` with a default content type; without headers, a constant. */
function withType(
  headers: Headers | undefined,
  type: ResultKind,
): HeadersInit {
  if (headers === undefined) return TYPES[type];
  if (!headers.has("content-type")) {
    headers.set("content-type", RESULT_TYPES[type]);
  }
  return headers;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== "object") return typeof value;
  return `a ${value.constructor?.name ?? "object"}`;
}

/** What a page returned, sorted: the response it makes, in parts. */
export type PageResultParts =
  | { kind: "response"; response: Response }
  | { kind: "empty" }
  | { kind: "html"; body: string }
  | { kind: "json"; body: string }
  | { kind: "bytes"; body: Uint8Array | ReadableStream<Uint8Array> };

/**
 * Sorts a page's return value (see {@linkcode pageResultToResponse}).
 *
 * @param page The page's path, for the error message.
 * @throws {TypeError} for a value a page may not return.
 */
export function pageResultParts(value: unknown, page: string): PageResultParts {
  if (typeof value === "string") return { kind: "html", body: value };
  if (value instanceof Response) return { kind: "response", response: value };
  if (value === undefined || value === null) return { kind: "empty" };
  if (value instanceof Uint8Array || value instanceof ReadableStream) {
    return { kind: "bytes", body: value };
  }
  if (
    Array.isArray(value) || (typeof value === "object" && isPlainObject(value))
  ) {
    return { kind: "json", body: JSON.stringify(value) };
  }
  throw new TypeError(
    `Page "${page}" returned ${
      describeValue(value)
    }: return a string, a Response, a plain object or array, a Uint8Array, a ReadableStream or nothing`,
  );
}

/**
 * Converts a page's return value to a Response, with `headers` (the page's
 * `responseHeaders`) merged in:
 *
 * | returned                        | response                                  |
 * | ------------------------------- | ----------------------------------------- |
 * | a string                        | 200 `text/html; charset=utf-8`            |
 * | a Response                      | as is                                     |
 * | a plain object or an array      | 200 JSON                                  |
 * | a Uint8Array or ReadableStream  | 200 `application/octet-stream`            |
 * | `undefined` or `null`           | 204                                       |
 *
 * A `content-type` in `headers` replaces the default.
 *
 * @param headers The page's `responseHeaders`, if it made any.
 * @param page The page's path, for the error message.
 * @throws {TypeError} for anything else.
 */
export function pageResultToResponse(
  value: unknown,
  headers: Headers | undefined,
  page: string,
): Response {
  const parts = pageResultParts(value, page);
  switch (parts.kind) {
    case "response":
      return headers === undefined
        ? parts.response
        : mergeHeaders(parts.response, headers);
    case "empty":
      return new Response(null, {
        status: 204,
        ...(headers ? { headers } : {}),
      });
    case "bytes":
      return parts.body instanceof ReadableStream
        ? new Response(parts.body, { headers: withType(headers, "bytes") })
        : memoryResponse(parts.body as Uint8Array<ArrayBuffer>, {
          headers: withType(headers, "bytes"),
        });
    default:
      return memoryResponse(parts.body, {
        headers: withType(headers, parts.kind),
      });
  }
}
