/**
 * `multipart/form-data` (RFC 7578, RFC 2046 §5.1), parsed as the body
 * arrives, in time linear in its size whatever the boundary.
 *
 * Hand-written, because no well-kept library parses a stream this way and
 * this is security-relevant: a naive delimiter search costs body × boundary
 * (a 540 KB body with a 60,000-character boundary held the event loop for
 * 20 s), and a parser that buffers the whole body before splitting it
 * costs several times the upload. Here:
 *
 * - the boundary is checked first: at most 70 characters from RFC 2046's
 *   `bchars`, which contain neither CR nor LF. Every delimiter is
 *   `CRLF--boundary`, so a candidate can only start at a CR, and a partial
 *   match covers no other CR: scanning from CR to CR, each byte is looked at
 *   at most twice;
 * - part bodies are kept as views of the chunks they arrived in, and a file
 *   becomes one `File` (one copy) when its part ends;
 * - large chunks are scanned in slices, yielding to the event loop between
 *   them, so other requests are answered while a large upload is parsed;
 * - headers of a part, the number of parts and the text of a field are
 *   bounded, and every malformation is a 400 naming it, never a smaller form.
 *
 * @module
 */
import { HttpError } from "./http_error.ts";

/** RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
export const MAX_BOUNDARY_LENGTH = 70;

/** RFC 2046 `bchars`, the last of which may not be a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The most bytes of headers one part may have. */
const MAX_PART_HEADER_BYTES = 16 * 1024;

/** Bytes of a file kept as chunk views before they are copied into a Blob. */
const FLUSH_BYTES = 1024 * 1024;

/** Bytes scanned between two yields to the event loop. */
const SLICE_BYTES = 256 * 1024;

const CR = 13;
const LF = 10;

/** Options for {@linkcode parseMultipart}. */
export interface MultipartOptions {
  /** The `boundary` parameter of the Content-Type. */
  boundary: string;
  /** The most parts the form may have (413 past it). */
  maxFields: number;
}

function bad(reason: string, cause?: unknown): HttpError {
  return new HttpError(400, `Cannot parse the form: ${reason}`, { cause });
}

/**
 * Checks a multipart boundary: 1 to 70 characters of RFC 2046's `bchars`.
 *
 * @throws {HttpError} 400 naming what is wrong.
 */
export function checkBoundary(boundary: string): void {
  if (boundary.length > MAX_BOUNDARY_LENGTH) {
    throw bad(
      `the multipart boundary is ${boundary.length} characters long; RFC 2046 allows at most ${MAX_BOUNDARY_LENGTH}`,
    );
  }
  if (!BOUNDARY.test(boundary)) {
    throw bad(
      "the multipart boundary has characters RFC 2046 does not allow",
    );
  }
}

/** What a part's headers say. */
interface PartHead {
  name: string;
  /** The file name, for a file field. */
  filename: string | undefined;
  type: string;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function decodeText(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw bad(`${what} is not valid UTF-8`, error);
  }
}

/**
 * The parameters of a `Content-Disposition: form-data` header. Values are
 * tokens or quoted strings taken as browsers write them (WHATWG HTML: `"`,
 * CR and LF are sent as %22, %0D and %0A; a backslash is itself).
 */
function parseDisposition(value: string): Map<string, string> | undefined {
  const semicolon = value.indexOf(";");
  const kind = (semicolon === -1 ? value : value.slice(0, semicolon)).trim();
  if (kind.toLowerCase() !== "form-data") return undefined;
  const params = new Map<string, string>();
  let at = semicolon === -1 ? value.length : semicolon + 1;
  while (at < value.length) {
    const eq = value.indexOf("=", at);
    if (eq === -1) break;
    const key = value.slice(at, eq).trim().toLowerCase();
    let end: number;
    let text: string;
    let rest = eq + 1;
    while (value[rest] === " " || value[rest] === "\t") rest++;
    if (value[rest] === '"') {
      end = value.indexOf('"', rest + 1);
      if (end === -1) return undefined;
      text = value.slice(rest + 1, end)
        .replaceAll("%22", '"').replaceAll("%0D", "\r").replaceAll("%0A", "\n");
      end = value.indexOf(";", end);
    } else {
      end = value.indexOf(";", rest);
      text = value.slice(rest, end === -1 ? undefined : end).trim();
    }
    if (params.has(key)) return undefined;
    params.set(key, text);
    at = end === -1 ? value.length : end + 1;
  }
  return params;
}

function parsePartHead(bytes: Uint8Array): PartHead {
  const text = decodeText(bytes, "a part's headers");
  let disposition: string | undefined;
  let type = "";
  for (const line of text.split("\r\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw bad(`a part has a malformed header line`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") {
      if (disposition !== undefined) {
        throw bad("a part has two Content-Disposition headers");
      }
      disposition = value;
    } else if (name === "content-type") {
      type = value;
    }
  }
  if (disposition === undefined) {
    throw bad("a part has no Content-Disposition header");
  }
  const params = parseDisposition(disposition);
  const name = params?.get("name");
  if (params === undefined || name === undefined) {
    throw bad(
      `a part's Content-Disposition is not form-data with a name: "${
        disposition.slice(0, 80)
      }"`,
    );
  }
  return { name, filename: params.get("filename"), type };
}

/** Where the parser is in the body. */
const enum State {
  /** Before the first delimiter: text there is ignored. */
  Preamble,
  /** The rest of a delimiter's line: "--" ends the form, else padding and CRLF. */
  DelimiterLine,
  /** A part's headers, up to the empty line. */
  Headers,
  /** A part's body, up to the next delimiter. */
  Body,
  /** After the close delimiter: the epilogue is ignored. */
  Done,
}

/** The most bytes of transport padding after a boundary. */
const MAX_PADDING = 256;

/** The form being built, one part at a time. */
class Parser {
  readonly form = new FormData();
  readonly #delimiter: Uint8Array<ArrayBuffer>;
  readonly #maxFields: number;
  #state = State.Preamble;
  #parts = 0;
  /** The current part's headers as they arrive (bounded, so copied). */
  #head = new Uint8Array(0);
  #headLength = 0;
  #partHead: PartHead | undefined;
  /** Body bytes of the current part: views of the chunks they came in. */
  #body: Uint8Array<ArrayBuffer>[] = [];
  #bodyBytes = 0;
  /** A file's bytes so far, moved out of the chunks a megabyte at a time. */
  #blobs: Blob[] = [];
  /**
   * The end of the previous chunk when it may be the start of a delimiter
   * (a prefix of it).
   */
  #carry: Uint8Array<ArrayBuffer> | undefined;
  /** The rest of a delimiter's line, as it arrives. */
  #line = "";

  constructor(boundary: string, maxFields: number) {
    this.#delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
    this.#maxFields = maxFields;
    // Without a preamble, the first delimiter has no CRLF before it:
    // parse as if the body began with one.
    this.#carry = this.#delimiter.subarray(0, 2);
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Whether `chunk[at…]` continues the delimiter from its byte `from`:
   * `true`, `false`, or how many of its bytes matched when the chunk ended.
   */
  #matchAt(chunk: Uint8Array, at: number, from = 0): boolean | number {
    const delimiter = this.#delimiter;
    const available = Math.min(delimiter.length - from, chunk.length - at);
    for (let i = 0; i < available; i++) {
      if (chunk[at + i] !== delimiter[from + i]) return false;
    }
    return from + available === delimiter.length ? true : from + available;
  }

  /** Bytes of the current section: a part's body keeps them, the preamble drops them. */
  #take(bytes: Uint8Array<ArrayBuffer>): void {
    if (this.#state !== State.Body || bytes.length === 0) return;
    this.#body.push(bytes);
    this.#bodyBytes += bytes.length;
    // A file's bytes are copied into Blobs as they come, so the chunks
    // they arrived in (whole network reads, which a view keeps alive) can
    // go: a parsed upload costs about its size, not twice it.
    if (
      this.#bodyBytes >= FLUSH_BYTES && this.#partHead?.filename !== undefined
    ) {
      this.#blobs.push(new Blob(this.#body));
      this.#body = [];
      this.#bodyBytes = 0;
    }
  }

  /** A delimiter was found: the current part, if any, ends. */
  #delimited(): void {
    if (this.#state === State.Body) this.#endPart();
    this.#state = State.DelimiterLine;
    this.#line = "";
  }

  #endPart(): void {
    const head = this.#partHead!;
    const pieces = this.#body;
    const blobs = this.#blobs;
    this.#body = [];
    this.#bodyBytes = 0;
    this.#blobs = [];
    this.#partHead = undefined;
    if (head.filename !== undefined) {
      // A File of Blobs shares their bytes; only the last pieces are copied.
      this.form.append(
        head.name,
        new File([...blobs, ...pieces], head.filename, { type: head.type }),
      );
      return;
    }
    let size = 0;
    for (const piece of pieces) size += piece.length;
    this.form.append(
      head.name,
      decodeText(concat(pieces, size), `the field "${head.name}"`),
    );
  }

  /** Scans a body or the preamble from `at`; returns where it stopped. */
  #scan(chunk: Uint8Array<ArrayBuffer>, at: number): number {
    for (
      let cr = chunk.indexOf(CR, at);
      cr !== -1;
      cr = chunk.indexOf(CR, cr + 1)
    ) {
      const match = this.#matchAt(chunk, cr);
      if (match === false) continue;
      this.#take(chunk.subarray(at, cr));
      if (match === true) {
        this.#delimited();
        return cr + this.#delimiter.length;
      }
      // The chunk ends inside what may be a delimiter: decide with the next.
      this.#carry = chunk.slice(cr);
      return chunk.length;
    }
    this.#take(chunk.subarray(at));
    return chunk.length;
  }

  /** The rest of a delimiter's line from `chunk[at…]`; returns where it stopped. */
  #delimiterLine(chunk: Uint8Array, at: number): number {
    while (at < chunk.length) {
      const byte = chunk[at++]!;
      this.#line += String.fromCharCode(byte);
      if (this.#line === "--") {
        this.#state = State.Done;
        return chunk.length;
      }
      if (byte === LF) break;
      if (this.#line.length > MAX_PADDING) {
        throw bad("a boundary is followed by something else than CRLF");
      }
    }
    if (!this.#line.endsWith("\n")) return at;
    // RFC 2046: optional transport padding (spaces, tabs), then CRLF.
    if (!/^[ \t]*\r\n$/.test(this.#line)) {
      throw bad("a boundary is followed by something else than CRLF");
    }
    if (++this.#parts > this.#maxFields) {
      throw new HttpError(
        413,
        `The form has more fields than the limit of ${this.#maxFields}`,
      );
    }
    this.#state = State.Headers;
    this.#headLength = 0;
    return at;
  }

  /** A part's headers from `chunk[at…]`; returns where they stopped. */
  #headers(chunk: Uint8Array, at: number): number {
    const limit = MAX_PART_HEADER_BYTES + 4;
    if (this.#head.length === 0) this.#head = new Uint8Array(limit);
    const head = this.#head;
    const before = this.#headLength;
    const piece = chunk.subarray(at, at + (limit - before));
    head.set(piece, before);
    const length = before + piece.length;
    this.#headLength = length;
    // No headers at all: the block is the empty line alone.
    let end = length >= 2 && head[0] === CR && head[1] === LF ? 0 : -1;
    // Else it ends at CRLFCRLF, searched only where it may newly be.
    for (let i = Math.max(0, before - 3); end === -1 && i + 3 < length; i++) {
      if (
        head[i] === CR && head[i + 1] === LF && head[i + 2] === CR &&
        head[i + 3] === LF
      ) end = i + 2;
    }
    if (end === -1) {
      if (length >= limit) {
        throw bad(
          `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`,
        );
      }
      return chunk.length;
    }
    this.#partHead = parsePartHead(head.subarray(0, end));
    this.#state = State.Body;
    // What of this chunk belonged to the headers (and the empty line).
    return at + (end + 2 - before);
  }

  /** Feeds the next piece of the body. */
  feed(chunk: Uint8Array<ArrayBuffer>): void {
    let at = 0;
    if (this.#carry !== undefined) {
      const carry = this.#carry;
      this.#carry = undefined;
      const match = this.#matchAt(chunk, 0, carry.length);
      if (match === true) {
        this.#delimited();
        at = this.#delimiter.length - carry.length;
      } else if (match === false) {
        // Not a delimiter after all: those bytes were data. (No delimiter
        // can start inside them: after its CR, a delimiter has no CR.)
        this.#take(carry);
      } else {
        this.#carry = this.#delimiter.slice(0, match);
        return;
      }
    }
    while (at < chunk.length && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Preamble:
        case State.Body:
          at = this.#scan(chunk, at);
          break;
        case State.DelimiterLine:
          at = this.#delimiterLine(chunk, at);
          break;
        case State.Headers:
          at = this.#headers(chunk, at);
          break;
      }
    }
  }

  /** The end of the body: the close delimiter must have been seen. */
  finish(): FormData {
    if (this.#state !== State.Done) {
      throw bad(
        "the body does not end with its closing boundary (the upload may have been cut short, or the boundary is wrong)",
      );
    }
    return this.form;
  }
}

function concat(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes;
}

/**
 * Lets other tasks (other requests) run between slices: a message to
 * oneself is a task of its own. (A chain of `setTimeout(0)` would do too,
 * but timers nested that deep are clamped to 4 ms each: 40 yields of a
 * 10 MiB body cost 110 ms, against 4 ms this way.) Close it when done.
 */
function createYielder(): { next(): Promise<void>; close(): void } {
  const { port1, port2 } = new MessageChannel();
  let resume: (() => void) | undefined;
  port1.onmessage = () => resume?.();
  return {
    next() {
      return new Promise<void>((resolve) => {
        resume = resolve;
        port2.postMessage(0);
      });
    },
    close() {
      port1.close();
      port2.close();
    },
  };
}

/**
 * Parses a `multipart/form-data` body as it arrives.
 *
 * @throws {HttpError} 400 for a malformed form (a bad boundary, a part
 * without a name, no closing delimiter: an upload cut short), 413 past
 * `maxFields` parts; errors of the stream (a body over the size limit)
 * pass through.
 */
export async function parseMultipart(
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
  options: MultipartOptions,
): Promise<FormData> {
  checkBoundary(options.boundary);
  const parser = new Parser(options.boundary, options.maxFields);
  const reader = body.getReader();
  let yielder: ReturnType<typeof createYielder> | undefined;
  try {
    let sinceYield = 0;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      // After the close delimiter, the epilogue is read (to keep the
      // connection usable) but ignored.
      for (let at = 0; at < value.length && !parser.done; at += SLICE_BYTES) {
        parser.feed(value.subarray(at, at + SLICE_BYTES));
        sinceYield += Math.min(SLICE_BYTES, value.length - at);
        if (sinceYield >= SLICE_BYTES) {
          sinceYield = 0;
          await (yielder ??= createYielder()).next();
        }
      }
    }
    return parser.finish();
  } finally {
    yielder?.close();
    reader.releaseLock();
  }
}
