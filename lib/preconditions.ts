/**
 * HTTP conditional requests (RFC 9110 §13): `If-Match`,
 * `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`, evaluated in
 * the order of §13.2.2, and `If-Range` (§13.1.5). Pure: static files use
 * it, and pages through `ctx.conditional()`.
 *
 * The tag comparisons are std's (`ifMatch`, strong; `ifNoneMatch`, weak),
 * loaded on first use; the order of the headers and the 412s are not in
 * std, and are written here.
 *
 * @module
 */

/** std's entity-tag comparisons. */
interface EtagTools {
  /** Whether `etag` matches an `If-Match` value, strongly. */
  ifMatch(value: string | null, etag: string | undefined): boolean;
  /** Whether `etag` matches none of an `If-None-Match` value, weakly (true: send it). */
  ifNoneMatch(value: string | null, etag: string | undefined): boolean;
}

let loading: Promise<EtagTools> | undefined;

/** std's etag module, loaded on the first conditional request. */
function etagTools(): Promise<EtagTools> {
  return loading ??= import("@std/http/etag");
}

/** What a representation's validators are. */
export interface Validators {
  /** The entity tag, quoted (`"abc"`, or weak `W/"abc"`). */
  etag?: string;
  /** When it last changed (HTTP dates have one-second precision). */
  lastModified?: Date;
}

/** The outcome of the preconditions: go on, or answer with this status. */
export type PreconditionResult = "proceed" | 304 | 412;

/** RFC 9110 §8.8.3.2: the strong comparison (neither may be weak). */
function strongMatch(a: string, b: string): boolean {
  return !a.startsWith("W/") && a === b;
}

/** A date header, to the second; `undefined` when it does not parse. */
function parseDate(header: string | null): number | undefined {
  if (header === null) return undefined;
  const time = Date.parse(header);
  return Number.isNaN(time) ? undefined : time;
}

/** A date to the second, as HTTP dates are. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}

/**
 * Evaluates a request's preconditions against a representation that
 * exists, in the order of RFC 9110 §13.2.2:
 *
 * 1. `If-Match`: none of its tags matches strongly (weak tags never do;
 *    `*` matches any) → 412;
 * 2. else, without `If-Match`, `If-Unmodified-Since`: modified since → 412;
 * 3. `If-None-Match`: a tag matches weakly (or `*`) → 304 for GET and
 *    HEAD, 412 for other methods;
 * 4. else, without `If-None-Match`, for GET and HEAD, `If-Modified-Since`:
 *    not modified since → 304.
 *
 * Dates that do not parse are ignored, as §13.1.3 and §13.1.4 require.
 */
export async function evaluatePreconditions(
  request: Pick<Request, "method" | "headers">,
  validators: Validators,
): Promise<PreconditionResult> {
  const { headers, method } = request;
  const { etag, lastModified } = validators;
  const ifMatch = headers.get("if-match");
  if (ifMatch !== null) {
    // "*" matches whatever exists; std's ifMatch wants a tag for it.
    if (ifMatch.trim() !== "*" && !(await etagTools()).ifMatch(ifMatch, etag)) {
      return 412;
    }
  } else if (lastModified !== undefined) {
    const since = parseDate(headers.get("if-unmodified-since"));
    if (since !== undefined && seconds(lastModified) > since) return 412;
  }
  const safe = method === "GET" || method === "HEAD";
  const ifNoneMatch = headers.get("if-none-match");
  if (ifNoneMatch !== null) {
    if (
      ifNoneMatch.trim() === "*" ||
      (etag !== undefined &&
        !(await etagTools()).ifNoneMatch(ifNoneMatch, etag))
    ) {
      return safe ? 304 : 412;
    }
  } else if (safe && lastModified !== undefined) {
    const since = parseDate(headers.get("if-modified-since"));
    if (since !== undefined && seconds(lastModified) <= since) return 304;
  }
  return "proceed";
}

/**
 * Whether an `If-Range` value still names the representation (RFC 9110
 * §13.1.5): a strong tag that matches strongly, or a date equal to its
 * Last-Modified. Anything else, a weak tag included, means "send it
 * whole".
 */
export function ifRangeHolds(header: string, validators: Validators): boolean {
  const { etag, lastModified } = validators;
  if (header.startsWith('"') || header.startsWith("W/")) {
    return etag !== undefined && strongMatch(header, etag);
  }
  const date = parseDate(header);
  return date !== undefined && lastModified !== undefined &&
    seconds(lastModified) === date;
}
