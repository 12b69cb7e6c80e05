/**
 * Request bodies: read as they arrive, within a size limit and a
 * server-wide memory budget; form parsing that refuses malformed input
 * instead of silently returning less than was sent; and the connection of
 * a body nobody read closed, not drained.
 *
 * @module
 */
import { formatBytes, parseMediaType } from "./_std.ts";
import { HttpError } from "./http_error.ts";
import { parseMultipart } from "./multipart.ts";

/** The default `--max-body`: 10 MiB. */
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

/**
 * The default `--max-fields`: 1000, as Django's and PHP's. Without a limit, a
 * 10 MiB body of `a=&a=&…` is 3.5 million fields, which took 1.9 s and
 * 470 MB to parse.
 */
export const DEFAULT_MAX_FIELDS = 1000;

/**
 * The default `--max-body-total`: 256 MiB of request bodies held at once,
 * by all requests in flight. A parsed form costs at most twice its bytes,
 * so bodies take at most about 512 MiB.
 */
export const DEFAULT_MAX_BODY_TOTAL = 256 * 1024 * 1024;

/**
 * A body nobody read is left for the HTTP layer to drain (keeping the
 * connection) when it declares at most this many bytes; a longer or
 * undeclared one closes the connection.
 */
const DRAINABLE_BYTES = 64 * 1024;

/**
 * How long a body may stop arriving before the request gets 408 (nginx's
 * `client_body_timeout` is 60 s): a client that declares a body and goes
 * quiet must not hold its connection for ever.
 */
export const BODY_IDLE_TIMEOUT = 30_000;

function tooManyFields(max: number): HttpError {
  return new HttpError(
    413,
    `The form has more fields than the limit of ${max}`,
  );
}

function tooLarge(max: number): HttpError {
  return new HttpError(
    413,
    `The request body is larger than the limit of ${
      formatBytes(max, { binary: true })
    }`,
  );
}

function stalled(ms: number): HttpError {
  return new HttpError(
    408,
    `The request body stopped arriving for ${ms / 1000} s`,
  );
}

function late(ms: number): HttpError {
  return new HttpError(
    408,
    `The request body did not arrive within ${ms / 1000} s`,
  );
}

function overBudget(): HttpError {
  return new HttpError(
    503,
    "The server is receiving too many uploads right now. Please try again shortly.",
    { headers: { "retry-after": "5" } },
  );
}

/**
 * The bytes of request bodies that requests in flight hold, server-wide,
 * against a budget: a flood of concurrent uploads gets 503 instead of
 * exhausting memory.
 *
 * @example
 * ```ts
 * import { BodyBudget } from "./body.ts";
 * const budget = new BodyBudget(256 * 1024 * 1024);
 * budget.take(1024); // true while within the budget
 * budget.give(1024);
 * ```
 */
export class BodyBudget {
  /** The most bytes held at once. */
  readonly max: number;
  #used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` from the budget; false (taking nothing) when they do not fit. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.max) return false;
    this.#used += bytes;
    return true;
  }

  /** Gives back bytes taken. */
  give(bytes: number): void {
    this.#used -= bytes;
  }
}

/**
 * Bytes read at a time from a request body. Deno's own reader sizes its
 * buffer by the declared length (measured: 200 stalled uploads declaring
 * 9 MiB held 185 KB each that way, 85 KB with buffers of our own).
 */
const READ_BYTES = 32 * 1024;

type BodyReader =
  | ReadableStreamBYOBReader
  | ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>>;

/** A reader that fills buffers of our size where the stream allows it. */
function readerOf(body: ReadableStream<Uint8Array<ArrayBuffer>>): BodyReader {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a Request made in code): its own chunks.
    return body.getReader();
  }
}

async function read(
  reader: BodyReader,
): Promise<ReadableStreamReadResult<Uint8Array<ArrayBuffer>>> {
  if (!(reader instanceof ReadableStreamBYOBReader)) return reader.read();
  const result = await reader.read(new Uint8Array(READ_BYTES));
  if (result.done) return { done: true, value: undefined };
  const view = result.value as Uint8Array<ArrayBuffer>;
  // A short read keeps only what it holds, not the whole buffer.
  return {
    done: false,
    value: view.byteLength < READ_BYTES / 2 ? view.slice() : view,
  };
}

/**
 * One request's body as it is read: counted against its limit and the
 * budget, and owned here so that the connection can be closed when the
 * body is refused (see {@linkcode releaseBody}).
 */
class BodyTap {
  readonly #reader: BodyReader;
  readonly #budget: BodyBudget | undefined;
  #received = 0;
  /** Bytes taken from the budget. */
  #taken = 0;
  #done = false;
  #released = false;
  /** The counted body, as the page (or the form parser) reads it. */
  readonly stream: ReadableStream<Uint8Array<ArrayBuffer>>;

  constructor(
    body: ReadableStream<Uint8Array<ArrayBuffer>>,
    options: LimitBodyOptions,
  ) {
    const { max, budget, idleTimeout = BODY_IDLE_TIMEOUT, deadline } = options;
    const until = deadline === undefined ? Infinity : Date.now() + deadline;
    this.#reader = readerOf(body);
    this.#budget = budget;
    this.stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        let result: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          // Whichever comes first: the idle timeout, or the deadline.
          const left = until - Date.now();
          result = await Promise.race([
            read(this.#reader),
            new Promise<never>((_, reject) => {
              timer = left < idleTimeout
                ? setTimeout(() => reject(late(deadline!)), Math.max(0, left))
                : setTimeout(() => reject(stalled(idleTimeout)), idleTimeout);
            }),
          ]);
        } catch (error) {
          controller.error(
            error instanceof HttpError ? error : new HttpError(
              400,
              "Cannot read the request body",
              { cause: error },
            ),
          );
          return;
        } finally {
          clearTimeout(timer);
        }
        if (result.done) {
          this.#done = true;
          controller.close();
          return;
        }
        const chunk = result.value;
        this.#received += chunk.byteLength;
        if (this.#received > max) {
          controller.error(tooLarge(max));
        } else if (
          this.#released || (budget && !budget.take(chunk.byteLength))
        ) {
          controller.error(overBudget());
        } else {
          if (budget) this.#taken += chunk.byteLength;
          controller.enqueue(chunk);
        }
      },
      // The body is never cancelled here: release() decides, after the
      // response, whether to keep or close the connection.
    }, { highWaterMark: 0 });
  }

  /** Whether the whole body was read. */
  get done(): boolean {
    return this.#done;
  }

  /** The reader of the body as received. */
  get reader(): BodyReader {
    return this.#reader;
  }

  /**
   * Gives the budget back, and tells whether the body was left unread
   * (then its connection is to be closed).
   */
  release(): boolean {
    if (this.#released) return false;
    this.#released = true;
    this.#budget?.give(this.#taken);
    this.#taken = 0;
    return !this.#done;
  }
}

/** The body taps of requests, by the request the server received. */
const taps = new WeakMap<Request, BodyTap>();

/**
 * Cancels a request body's reader once the response is out, which makes
 * the HTTP layer close the connection instead of reading the rest.
 *
 * Measured with Deno 2.9.6: a body cancelled before the response is
 * complete, or never touched, is drained to the end after the response
 * to keep the connection alive (an endless upload was read at 1.6 GB/s
 * after its 413); cancelled in a task after the response has been sent,
 * the connection is closed at once. `sent` is the server's promise that
 * the response went out (`Deno.ServeHandlerInfo.completed`); without
 * one, a task after this one.
 */
function closeAfterResponse(
  reader: { cancel(): Promise<void> },
  sent: Promise<unknown> | undefined,
): void {
  const cancel = () => {
    setTimeout(() => reader.cancel().catch(() => {}), 0);
  };
  if (sent === undefined) cancel();
  else sent.then(cancel, cancel);
}

/** Options for {@linkcode limitBody}. */
export interface LimitBodyOptions {
  /** The most bytes of body (413 past it). */
  max: number;
  /** The server-wide budget of body bytes in flight (503 past it). */
  budget?: BodyBudget;
  /**
   * How long the body may stop arriving, in ms (408 past it). Default:
   * {@linkcode BODY_IDLE_TIMEOUT}.
   */
  idleTimeout?: number;
  /**
   * How long the whole body may take to arrive, in ms from when the limit
   * is set (408 past it): a client trickling it in a byte at a time is
   * never idle for long. The server sets it to `--page-timeout`. Default:
   * none.
   */
  deadline?: number;
}

/**
 * Returns the request with its body read as it arrives, capped at `max`
 * bytes (and within the budget).
 *
 * Nothing is reserved for what a client declares: a declared
 * `Content-Length` over the limit is refused before a byte is read, and
 * any other body is counted as it streams, failing with 413 at the first
 * byte past the limit (or 503 past the budget), so a stalled upload costs
 * what it sent. `Content-Length` is trusted only without
 * `Transfer-Encoding` (RFC 9112 §6.3: the latter wins). Call
 * {@linkcode releaseBody} with the same request once it is answered.
 *
 * @throws {HttpError} 413 when the declared length is over the limit, 400
 * when it is malformed.
 */
export function limitBody(
  request: Request,
  options: LimitBodyOptions,
): Request {
  const body = request.body;
  if (body === null) return request;
  const { max } = options;
  const declared = declaredLength(request);
  if (Number.isNaN(declared)) {
    throw new HttpError(400, "The Content-Length header is not a number");
  }
  if (declared !== undefined && declared > max) throw tooLarge(max);
  const tap = new BodyTap(body, options);
  taps.set(request, tap);
  return new Request(request, { body: tap.stream });
}

/**
 * The body length a request declares: its `Content-Length`, trusted only
 * without `Transfer-Encoding` (RFC 9112 §6.3: the latter wins); `NaN` when
 * it is not a number, `undefined` when there is none to trust.
 */
export function declaredLength(request: Request): number | undefined {
  const { headers } = request;
  const declared = headers.get("content-length");
  if (declared === null || headers.has("transfer-encoding")) return undefined;
  return /^\d+$/.test(declared) ? Number(declared) : NaN;
}

/** Where the server says when a response has been sent. */
export interface ResponseSent {
  /** Settles once the response has been sent (`Deno.ServeHandlerInfo`). */
  readonly completed?: Promise<unknown>;
}

/**
 * Ends a request's claim on its body once the response is ready: gives
 * its bytes back to the budget and, when the body was not read to the end
 * (refused, or ignored by a page), closes the connection once the response
 * has been sent, instead of letting the HTTP layer drain whatever the
 * client keeps sending. A small declared body nobody touched is left to be
 * drained, so the connection stays open for the next request.
 *
 * @param info What `Deno.serve` passed with the request; its `completed`
 * is read only when the connection is to be closed.
 */
export function releaseBody(request: Request, info?: ResponseSent): void {
  const tap = taps.get(request);
  if (tap !== undefined) {
    taps.delete(request);
    if (tap.release()) closeAfterResponse(tap.reader, info?.completed);
    return;
  }
  const { method } = request;
  // Deno never exposes a GET or HEAD body.
  if (method === "GET" || method === "HEAD") return;
  const body = request.body;
  if (body === null || request.bodyUsed || body.locked) return;
  const declared = declaredLength(request);
  if (declared !== undefined && declared <= DRAINABLE_BYTES) {
    body.cancel().catch(() => {});
    return;
  }
  closeAfterResponse(body.getReader(), info?.completed);
}

function badForm(reason: string, cause?: unknown): HttpError {
  return new HttpError(400, `Cannot parse the form: ${reason}`, { cause });
}

/** Reads a whole body as it arrives (never reserving a declared length). */
async function readAll(
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "Cannot read the request body", { cause: error });
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/**
 * Parses `application/x-www-form-urlencoded`, strictly.
 *
 * @throws {HttpError} 413 past `maxFields` fields (counted before each is
 * made), 400 for text that is not UTF-8 or a malformed % escape.
 */
function parseUrlEncoded(bytes: Uint8Array, maxFields: number): FormData {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw badForm("the body is not valid UTF-8", error);
  }
  const form = new FormData();
  let fields = 0;
  // Pair by pair, not split("&"): a refused body never becomes millions of
  // strings.
  for (let start = 0; start <= text.length;) {
    const amp = text.indexOf("&", start);
    const end = amp === -1 ? text.length : amp;
    const pair = text.slice(start, end);
    start = end + 1;
    if (pair === "") continue;
    if (++fields > maxFields) throw tooManyFields(maxFields);
    const eq = pair.indexOf("=");
    const [name, value] = eq === -1
      ? [pair, ""]
      : [pair.slice(0, eq), pair.slice(eq + 1)];
    try {
      form.append(decodeField(name), decodeField(value));
    } catch (error) {
      throw badForm(`"${pair.slice(0, 40)}" has a malformed % escape`, error);
    }
  }
  return form;
}

function decodeField(text: string): string {
  return decodeURIComponent(text.replaceAll("+", " "));
}

const FORM_TYPES =
  /^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data)\s*(?:;|$)/i;

/**
 * Parses a form body (`application/x-www-form-urlencoded` or
 * `multipart/form-data`, uploaded files as `File`s), as it arrives. Any
 * other body, or none, gives an empty FormData and is left unread.
 *
 * @param maxFields The most fields (or parts) a form may have.
 * @throws {HttpError} 400 for a malformed form (an ambiguous Content-Type
 * such as two boundaries, no or a bad boundary, no close delimiter, bad
 * encoding), 413 past the body limit or `maxFields`.
 */
export async function parseForm(
  request: Request,
  maxFields: number = DEFAULT_MAX_FIELDS,
): Promise<FormData> {
  const contentType = request.headers.get("content-type");
  const body = request.body;
  if (contentType === null || body === null) return new FormData();
  let mediaType: string;
  let params: Record<string, string> | undefined;
  try {
    [mediaType, params] = parseMediaType(contentType);
  } catch (error) {
    // A form type that does not parse (two boundaries, an unterminated
    // quote) is ambiguous: refused, never read as an empty form.
    if (FORM_TYPES.test(contentType)) {
      throw badForm(
        `the Content-Type "${contentType.slice(0, 100)}" is malformed`,
        error,
      );
    }
    return new FormData();
  }
  if (mediaType === "application/x-www-form-urlencoded") {
    return parseUrlEncoded(await readAll(body), maxFields);
  }
  if (mediaType !== "multipart/form-data") return new FormData();

  const boundary = params?.boundary;
  if (!boundary) {
    throw badForm("the multipart/form-data Content-Type has no boundary");
  }
  try {
    return await parseMultipart(body, { boundary, maxFields });
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "Cannot read the request body", { cause: error });
  }
}
