/**
 * Response compression: which encoding a request accepts, which media
 * types are worth compressing, and compressing with the platform's
 * `CompressionStream` (brotli and gzip, as Deno provides them).
 *
 * @module
 */

import { BoundedMap } from "./bounded_map.ts";

/** The encodings the server sends. */
export type Encoding = "br" | "gzip";

/**
 * Bodies smaller than this go out as they are: compressing them saves a
 * few bytes at best (Caddy's default minimum is 512 too).
 */
export const MIN_COMPRESS_BYTES = 512;

/** `CompressionStream`'s name for each encoding. */
const FORMATS: Record<Encoding, CompressionFormat> = {
  br: "brotli" as CompressionFormat,
  gzip: "gzip",
};

/** The last header negotiated, and its answer: clients send the same one. */
let lastHeader: string | null = null;
let lastAnswer: Encoding | undefined;

/**
 * The encoding to send for an `Accept-Encoding` header: brotli when
 * acceptable, gzip otherwise (unless gzip is given a higher weight),
 * `undefined` for neither (RFC 9110 §12.5.3: `q=0` refuses, `*` stands
 * for any encoding not named). Linear in the header; never throws.
 */
export function negotiateEncoding(header: string | null): Encoding | undefined {
  if (header === null || header === "") return undefined;
  if (header === lastHeader) return lastAnswer;
  let br: number | undefined;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const item of header.split(",")) {
    const semicolon = item.indexOf(";");
    const name = (semicolon === -1 ? item : item.slice(0, semicolon)).trim()
      .toLowerCase();
    let weight = 1;
    if (semicolon !== -1) {
      const match = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(
        item.slice(semicolon + 1),
      );
      weight = match === null ? 0 : Number(match[1]);
    }
    if (name === "br") br = weight;
    else if (name === "gzip" || name === "x-gzip") gzip = weight;
    else if (name === "*") any = weight;
  }
  br ??= any ?? 0;
  gzip ??= any ?? 0;
  const answer = br > 0 && br >= gzip ? "br" : gzip > 0 ? "gzip" : undefined;
  lastHeader = header;
  lastAnswer = answer;
  return answer;
}

/**
 * Whether a media type is text-like, worth compressing: text (but not
 * event streams, which must flow as they are written), JavaScript, JSON,
 * XML and their `+json`/`+xml` kinds, SVG, WebAssembly. Images, archives,
 * audio and video are compressed already.
 */
export function isCompressible(contentType: string | null): boolean {
  if (contentType === null) return false;
  const semicolon = contentType.indexOf(";");
  const type =
    (semicolon === -1 ? contentType : contentType.slice(0, semicolon))
      .trim().toLowerCase();
  if (type.startsWith("text/")) return type !== "text/event-stream";
  return type === "application/javascript" || type === "application/json" ||
    type === "application/xml" || type === "application/wasm" ||
    type === "image/svg+xml" || type.endsWith("+json") ||
    type.endsWith("+xml");
}

/** A body compressed as it is read. */
export function compressStream(
  body: ReadableStream<Uint8Array>,
  encoding: Encoding,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new CompressionStream(FORMATS[encoding]) as TransformStream<
      Uint8Array,
      Uint8Array
    >,
  );
}

/** A whole body, compressed. */
export async function compressBody(
  body: string | Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
  encoding: Encoding,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = body instanceof ReadableStream
    ? body
    : new Blob([body]).stream();
  return await new Response(compressStream(stream, encoding)).bytes();
}

/**
 * The entity tag of a representation in `encoding`, from the identity's
 * (`"abc"` → `"abc-br"`; `W/"abc"` → `W/"abc-br"`): each encoding is a
 * representation of its own, with a tag of its own (RFC 9110 §8.8.3).
 */
export function encodedEtag(etag: string, encoding: Encoding): string {
  return etag.endsWith(`"`) ? `${etag.slice(0, -1)}-${encoding}"` : etag;
}

/** Adds `Accept-Encoding` to a response's `Vary`, once. */
export function varyOnEncoding(headers: Headers): void {
  const vary = headers.get("vary");
  if (vary === null) headers.set("vary", "Accept-Encoding");
  else if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(vary)) {
    headers.set("vary", `${vary}, Accept-Encoding`);
  }
}

/**
 * A response the server made from a body in memory (templates, listings,
 * error pages, pages' strings and bytes): its size is known, so it is
 * compressed whole and sent with a Content-Length, or sent as it is when
 * small. Other bodies are compressed as they flow. (A subclass costs
 * nothing per response; a WeakMap entry cost ~0.25 µs, measured.)
 */
class MemoryResponse extends Response {
  /** The body, as given. */
  readonly memoryBody: string | Uint8Array<ArrayBuffer>;

  constructor(body: string | Uint8Array<ArrayBuffer>, init: ResponseInit) {
    super(body, init);
    this.memoryBody = body;
  }
}

/** Bodies up to this size are remembered compressed, by their text. */
const MAX_REMEMBERED_BODY = 64 * 1024;

/**
 * Compressed forms of recent bodies (`null`: not worth it), per encoding,
 * by text: the same error page, listing or template output is compressed
 * once, not per request (a flood of 404s would otherwise compress each
 * one). Bounded in bytes, keys included: 2 MiB per encoding.
 */
const recentMap = () =>
  new BoundedMap<string, Uint8Array<ArrayBuffer> | null>({
    maxBytes: 2 * 1024 * 1024,
    sizeOf: (text, bytes) => text.length * 2 + (bytes?.byteLength ?? 0) + 64,
  });
const recent: Record<Encoding, ReturnType<typeof recentMap>> = {
  br: recentMap(),
  gzip: recentMap(),
};

/** A response whose body is `body`, known to be in memory. */
export function memoryResponse(
  body: string | Uint8Array<ArrayBuffer>,
  init: ResponseInit,
): Response {
  return new MemoryResponse(body, init);
}

/**
 * The body of a response made by {@linkcode memoryResponse}, without
 * reading it; `undefined` for any other response.
 */
export function memoryBodyOf(
  response: Response,
): string | Uint8Array<ArrayBuffer> | undefined {
  return response instanceof MemoryResponse ? response.memoryBody : undefined;
}

/** Whether a response may be compressed, whatever the request accepts. */
function mayCompress(response: Response): boolean {
  // Never reads `response.body`: that would turn a body in memory into a
  // stream, sent without a Content-Length.
  const { headers, status } = response;
  if (status === 204 || status === 206 || status === 304) return false;
  if (!isCompressible(headers.get("content-type"))) return false;
  if (headers.has("content-encoding") || headers.has("content-range")) {
    return false;
  }
  // Already decided for this request (a static file), or forbidden.
  const vary = headers.get("vary");
  if (vary !== null && /accept-encoding|\*/i.test(vary)) return false;
  const cacheControl = headers.get("cache-control");
  return cacheControl === null || !/no-transform/i.test(cacheControl);
}

/** A copy of a response with another body and the encoding's headers. */
function reencoded(
  response: Response,
  body: BodyInit | null,
  encoding: Encoding | undefined,
): Response {
  const headers = new Headers(response.headers);
  varyOnEncoding(headers);
  if (encoding !== undefined) {
    headers.set("content-encoding", encoding);
    headers.delete("content-length");
    const etag = headers.get("etag");
    if (etag !== null) headers.set("etag", encodedEtag(etag, encoding));
  }
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/**
 * `response` compressed for `request` when it accepts brotli or gzip and
 * the response is text-like and not encoded yet (see
 * {@linkcode isCompressible}); always with `Vary: Accept-Encoding` when
 * it could have been. A body in memory smaller than
 * {@linkcode MIN_COMPRESS_BYTES}, or one that does not shrink, goes out
 * as it is.
 */
export function compressResponse(
  request: Request,
  response: Response,
): Response | Promise<Response> {
  const encoding = negotiateEncoding(request.headers.get("accept-encoding"));
  if (encoding === undefined || !mayCompress(response)) return response;
  if (!(response instanceof MemoryResponse)) {
    const body = response.body;
    if (body === null) return asItIs(response);
    return reencoded(response, compressStream(body, encoding), encoding);
  }
  const known = response.memoryBody;
  // A string's UTF-8 is at least as long as the string.
  const size = typeof known === "string" ? known.length : known.byteLength;
  if (size < MIN_COMPRESS_BYTES) return asItIs(response);
  const text = typeof known === "string" && size <= MAX_REMEMBERED_BODY
    ? known
    : undefined;
  // (The body in memory holds nothing to release.)
  const sent = (bytes: Uint8Array<ArrayBuffer> | null) =>
    bytes === null ? asItIs(response) : reencoded(response, bytes, encoding);
  const remembered = text === undefined
    ? undefined
    : recent[encoding].get(text);
  if (remembered !== undefined) return sent(remembered);
  return compressBody(known, encoding).then((bytes) => {
    const worth = bytes.byteLength < size ? bytes : null;
    if (text !== undefined) recent[encoding].set(text, worth);
    return sent(worth);
  });
}

/** `response` with `Vary: Accept-Encoding`, in place when it may change. */
function asItIs(response: Response): Response {
  try {
    varyOnEncoding(response.headers);
    return response;
  } catch {
    // Immutable headers (Response.redirect()).
    return reencoded(response, response.body, undefined);
  }
}
