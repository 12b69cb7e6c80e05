/**
 * Request bodies: the size limit, and form parsing that refuses malformed
 * input instead of silently returning less than was sent.
 *
 * @module
 */
import {
  formatBytes,
  indexOfNeedle,
  lastIndexOfNeedle,
  parseMediaType,
} from "./_std.ts";
import { HttpError } from "./http_error.ts";

/** The default `--max-body`: 10 MiB. */
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

/**
 * The default `--max-fields`: 1000, as Django's and PHP's. Without a limit, a
 * 10 MiB body of `a=&a=&…` is 3.5 million fields, which took 1.9 s and
 * 470 MB to parse.
 */
export const DEFAULT_MAX_FIELDS = 1000;

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

/**
 * Returns the request with its body capped at `max` bytes.
 *
 * Stops oversized uploads before they are buffered: a declared
 * `Content-Length` over the limit is refused before a byte is read; a body
 * without one (chunked) is counted as it streams and fails with 413 at the
 * first byte past the limit. `Content-Length` is trusted only without
 * `Transfer-Encoding` (RFC 9112 §6.3: the latter wins).
 *
 * @throws {HttpError} 413 when the declared length is over the limit, 400
 * when it is malformed.
 */
export function limitBody(request: Request, max: number): Request {
  if (request.body === null) return request;
  const declared = request.headers.get("content-length");
  if (declared !== null && !request.headers.has("transfer-encoding")) {
    if (!/^\d+$/.test(declared)) {
      throw new HttpError(400, "The Content-Length header is not a number");
    }
    if (Number(declared) > max) throw tooLarge(max);
    // The HTTP layer never delivers more than the declared length.
    return request;
  }
  let received = 0;
  const counted = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > max) controller.error(tooLarge(max));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new Request(request, { body: counted });
}

/**
 * Whether a multipart body ends with its close delimiter
 * (`CRLF--boundary--`, RFC 2046 §5.1.1). Deno's `formData()` returns the
 * parts it found so far when the delimiter is missing, so a truncated upload
 * would otherwise arrive as a smaller, "valid" form.
 */
export function hasCloseDelimiter(body: Uint8Array, boundary: string): boolean {
  const delimiter = new TextEncoder().encode(`--${boundary}--`);
  const at = lastIndexOfNeedle(body, delimiter);
  return at === 0 || (at >= 2 && body[at - 2] === 13 && body[at - 1] === 10);
}

function badForm(reason: string, cause?: unknown): HttpError {
  return new HttpError(400, `Cannot parse the form: ${reason}`, { cause });
}

/** Reads the whole body; a limit error passes through, others become 400. */
async function readBody(
  request: Request,
): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "Cannot read the request body", { cause: error });
  }
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

/**
 * Whether a multipart body has more than `max` parts: counts its delimiters
 * (`--boundary`, which by definition occurs nowhere else), the closing one
 * aside, and stops at the first past the limit.
 */
function hasMoreParts(
  body: Uint8Array,
  boundary: string,
  max: number,
): boolean {
  const delimiter = new TextEncoder().encode(`--${boundary}`);
  let delimiters = 0;
  for (
    let at = indexOfNeedle(body, delimiter);
    at !== -1;
    at = indexOfNeedle(body, delimiter, at + delimiter.length)
  ) {
    if (++delimiters > max + 1) return true;
  }
  return false;
}

function decodeField(text: string): string {
  return decodeURIComponent(text.replaceAll("+", " "));
}

/**
 * Parses a form body (`application/x-www-form-urlencoded` or
 * `multipart/form-data`, uploaded files as `File`s). Any other body, or none,
 * gives an empty FormData and is left unread.
 *
 * @param maxFields The most fields (or parts) a form may have.
 * @throws {HttpError} 400 for a malformed form (no or wrong boundary, no
 * close delimiter, bad encoding), 413 past the body limit or `maxFields`.
 */
export async function parseForm(
  request: Request,
  maxFields: number = DEFAULT_MAX_FIELDS,
): Promise<FormData> {
  const contentType = request.headers.get("content-type");
  if (contentType === null || request.body === null) return new FormData();
  let mediaType: string;
  let params: Record<string, string> | undefined;
  try {
    [mediaType, params] = parseMediaType(contentType);
  } catch {
    return new FormData();
  }
  if (mediaType === "application/x-www-form-urlencoded") {
    return parseUrlEncoded(await readBody(request), maxFields);
  }
  if (mediaType !== "multipart/form-data") return new FormData();

  const boundary = params?.boundary;
  if (!boundary) {
    throw badForm("the multipart/form-data Content-Type has no boundary");
  }
  const bytes = await readBody(request);
  if (!hasCloseDelimiter(bytes, boundary)) {
    throw badForm(
      `the body does not end with the boundary "--${boundary}--" (the upload may have been cut short, or the boundary is wrong)`,
    );
  }
  if (hasMoreParts(bytes, boundary, maxFields)) throw tooManyFields(maxFields);
  try {
    return await new Response(bytes, {
      headers: { "content-type": contentType },
    }).formData();
  } catch (error) {
    throw badForm("the multipart body is malformed", error);
  }
}
