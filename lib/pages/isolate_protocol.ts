/**
 * The messages between the server's isolate and its page isolates, and how
 * what crosses between them is encoded: errors keep their class, status
 * and stack; template values keep their {@linkcode SafeHtml}.
 *
 * A message is an array whose first item is its kind, and messages travel
 * in batches (one `postMessage` carries every message that was ready):
 * arrays clone faster than objects, and each message wakes the other
 * thread.
 *
 * @module
 */
import { HttpError } from "../http_error.ts";
import { PageError } from "./page_error.ts";
import { RESULT_TYPES } from "./page_response.ts";
import {
  SafeHtml,
  TemplateError,
  type TemplateValues,
} from "../templates/template.ts";
import type { ErrorLocation } from "../types.ts";

// The server to a page isolate.

/**
 * A request for a page: `[REQUEST, id, page URL, page name, page path,
 * method, URL, headers (name, value, …), SCRIPT_NAME, PATH_INFO, remote
 * address or undefined, session data or undefined, why the session could
 * not be read (ErrorInfo) or undefined, body or undefined, claim slot]`.
 * The body is a transferred ReadableStream, limited by the server
 * (`--max-body`). The claim slot is the request's index in
 * {@linkcode IsolateSetup.claims} for this batch, or -1.
 */
export const REQUEST = 0;
/** Where a REQUEST message has its page URL. */
export const REQUEST_PAGE = 2;
/** Where a REQUEST message has its body. */
export const REQUEST_BODY = 13;
/** Where a REQUEST message has its claim slot. */
export const REQUEST_SLOT = 14;
/** The client went away, or the request timed out: `[CANCEL, id]`. */
export const CANCEL = 2;
/** The answer to a {@linkcode CALL}: `[REPLY, call id, ErrorInfo | undefined, value]`. */
export const REPLY = 3;
/** Are you there? Answered by {@linkcode PONG}: `[PING]`. */
export const PING = 5;

// A page isolate to the server.

/**
 * The last batch's pages have all started (its requests are taken):
 * `[ACK]`. The server sends its next batch after it.
 */
export const ACK = 8;
/** The isolate has loaded and takes requests: `[READY]`. */
export const READY = 9;
/**
 * A page's answer: `[RESPONSE, id, status, headers (a PRESET_* index, or
 * name, value, …), body (a string, bytes, null, or a transferred
 * ReadableStream), session data or undefined if the page did not use it]`.
 */
export const RESPONSE = 10;
/** A page failed: `[FAILURE, id, ErrorInfo, session data or undefined]`. */
export const FAILURE = 11;
/**
 * Something only the server can do: `[CALL, call id, request id, "render",
 * path, values, layout or undefined]`, `[CALL, call id, request id, "regenerate" | "end",
 * session data]` (answered with whether the session data was reset).
 */
export const CALL = 14;
/**
 * Here: `[PONG, id of a request whose page was stopped mid-run, or
 * undefined]` (V8 stops a page that exhausts the isolate's heap, and the
 * isolate lives on without it).
 */
export const PONG = 15;
/** An error no page awaited: `[STRAY, ErrorInfo, page name or undefined]`. */
export const STRAY = 17;
/**
 * A page ran past `--page-timeout` without yielding, and the isolate
 * stopped it (see guard.ts): `[TIMED_OUT, id]`. The isolate lives on.
 */
export const TIMED_OUT = 18;
/**
 * A page ran past `--page-timeout` after an `await`, or in a timer, and
 * the isolate stopped it, but V8 then dropped the code the isolate had
 * queued to run (see guard.ts), so it cannot answer for its other
 * requests: `[LOST, ids of the requests whose page may be the one stopped,
 * where (LostWhere), the page's name when none of them is its request]`.
 * The server answers every request the isolate has, and ends it.
 */
export const LOST = 19;
/** Where a page was stopped, in a {@linkcode LOST} message. */
export type LostWhere = "after an await" | "in a timer";
/** A page is ending the isolate: `[EXITING, "Deno.exit(42)" or "self.close()", stack of the call]`. */
export const EXITING = 16;

/** Headers of a RESPONSE for a page that set none: HTML. */
export const PRESET_HTML = 0;
/** JSON. */
export const PRESET_JSON = 1;
/** Bytes. */
export const PRESET_BYTES = 2;
/** No body. */
export const PRESET_NONE = 3;

/**
 * Response headers that most pages send, by PRESET_* index: a RESPONSE
 * names one instead of carrying the headers.
 */
export const PRESET: readonly Record<string, string>[] = [
  { "content-type": RESULT_TYPES.html },
  { "content-type": RESULT_TYPES.json },
  { "content-type": RESULT_TYPES.bytes },
  {},
];

/** What the server tells a new page isolate (its `workerData`). */
export interface IsolateSetup {
  /** The most fields a form may have. */
  maxFields: number;
  /**
   * `--page-timeout` in milliseconds: the isolate stops a page that runs
   * this long without yielding (see guard.ts).
   */
  pageTimeout: number;
  /**
   * Who has each request of the batch being started, shared with the
   * server (`Int32Array` of {@linkcode CLAIM_SLOTS}): the isolate claims a
   * request ({@linkcode CLAIMED}) just before its page runs; the server
   * takes back one still {@linkcode UNCLAIMED} ({@linkcode TAKEN_BACK}) when
   * the isolate is stuck in another page, and sends it to another isolate.
   * Whichever swaps first wins, so no request runs twice or in neither.
   * Slots are reset for each batch, sent once the last one is acknowledged
   * (every request of it claimed); a request with a body is never taken
   * back (its body went to the isolate) and has no slot.
   */
  claims: SharedArrayBuffer;
  /**
   * The isolate's end of its channel to the server, transferred: every
   * batch goes both ways on it. Measured with Deno 2.9.6, a transferred
   * MessagePort carries a batch as fast as a Worker's own channel, or
   * faster (7–10 µs against 10–11 with eight in flight), and it closes
   * once the isolate's last message has arrived.
   */
  port: MessagePort;
}

/** Claim slots per isolate: requests beyond this many in a batch have none. */
export const CLAIM_SLOTS = 256;
/** A request of the batch that no one has claimed yet. */
export const UNCLAIMED = 0;
/** A request whose page the isolate has run. */
export const CLAIMED = 1;
/** A request the server took back to send elsewhere. */
export const TAKEN_BACK = 2;

/** An error as it crosses between isolates. */
export interface ErrorInfo {
  /** "http", "page", "template", a `Deno.errors` class name, "error", or "value" (something thrown that is not an Error). */
  kind: string;
  name: string;
  message: string;
  stack: string | undefined;
  /** HttpError: its status and headers. */
  status?: number;
  headers?: [string, string][];
  /** PageError: the page's name. */
  page?: string;
  /** TemplateError: where. */
  location?: ErrorLocation;
  cause?: ErrorInfo;
}

/** How many causes deep an error is encoded. */
const MAX_CAUSES = 4;

/** Encodes an error (or anything thrown) to cross to another isolate. */
export function encodeError(error: unknown, depth = 0): ErrorInfo {
  if (!(error instanceof Error)) {
    return {
      kind: "value",
      name: typeof error,
      message: String(error),
      stack: undefined,
    };
  }
  const info: ErrorInfo = {
    kind: "error",
    name: error.name,
    message: error.message,
    stack: error.stack,
  };
  if (error instanceof HttpError) {
    info.kind = "http";
    info.status = error.status;
    info.headers = [...error.headers];
  } else if (error instanceof PageError) {
    info.kind = "page";
    info.page = error.page;
  } else if (error instanceof TemplateError) {
    info.kind = "template";
    if (error.location !== undefined) info.location = error.location;
  } else {
    const denoClass = Object.entries(Deno.errors).find(([, type]) =>
      error.constructor === type
    );
    if (denoClass !== undefined) info.kind = denoClass[0];
  }
  if (error.cause !== undefined && depth < MAX_CAUSES) {
    info.cause = encodeError(error.cause, depth + 1);
  }
  return info;
}

const STANDARD: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Rebuilds an error encoded by {@linkcode encodeError}, with its class and stack. */
export function decodeError(info: ErrorInfo): unknown {
  if (info.kind === "value") return info.message;
  const cause = info.cause === undefined ? undefined : decodeError(info.cause);
  let error: Error;
  if (info.kind === "http") {
    error = new HttpError(info.status ?? 500, info.message, {
      ...(info.headers === undefined ? {} : { headers: info.headers }),
      ...(cause === undefined ? {} : { cause }),
    });
  } else if (info.kind === "page") {
    error = new PageError(info.page ?? "", info.message, cause);
  } else if (info.kind === "template") {
    error = new TemplateError(info.message, info.location);
  } else {
    const type = (Deno.errors as unknown as Record<string, ErrorConstructor>)[
      info.kind
    ] ?? STANDARD[info.name] ?? Error;
    error = new type(info.message, cause === undefined ? {} : { cause });
    if (error.name !== info.name) error.name = info.name;
  }
  if (info.stack !== undefined) error.stack = info.stack;
  return error;
}

/** A {@linkcode SafeHtml} as it crosses between isolates. */
interface EncodedSafeHtml {
  "scriptserver:html": string;
}

/**
 * Template values as a plain record (a Map's entries, a URLSearchParams'
 * first value of each name), with SafeHtml marked so that it stays SafeHtml.
 */
export function encodeValues(values: TemplateValues): Record<string, unknown> {
  const encoded: Record<string, unknown> = {};
  const entries: Iterable<[string, unknown]> = values instanceof Map
    ? values.entries()
    : values instanceof URLSearchParams
    ? values.entries()
    : Object.entries(values);
  for (const [name, value] of entries) {
    if (Object.hasOwn(encoded, name)) continue;
    encoded[name] = value instanceof SafeHtml
      ? { "scriptserver:html": value.html } satisfies EncodedSafeHtml
      : value;
  }
  return encoded;
}

/** Template values encoded by {@linkcode encodeValues}. */
export function decodeValues(
  values: Record<string, unknown>,
): Record<string, unknown> {
  for (const [name, value] of Object.entries(values)) {
    if (
      typeof value === "object" && value !== null &&
      typeof (value as EncodedSafeHtml)["scriptserver:html"] === "string"
    ) {
      values[name] = new SafeHtml(
        (value as EncodedSafeHtml)["scriptserver:html"],
      );
    }
  }
  return values;
}

/**
 * Headers as a flat list: name, value, name, value, … (Set-Cookie one by
 * one). By `forEach`, which visits the same pairs as the iterator: measured
 * with Deno 2.9.6, 0.4 µs for three headers against 1.5 µs with `for…of`
 * (it makes an iterator result and a pair per header).
 */
export function flatHeaders(headers: Headers): string[] {
  const flat: string[] = [];
  headers.forEach((value, name) => {
    flat.push(name, value);
  });
  return flat;
}

/** Headers from a flat list made by {@linkcode flatHeaders}. */
export function headersOf(flat: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    headers.append(flat[i]!, flat[i + 1]!);
  }
  return headers;
}
