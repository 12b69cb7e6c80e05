/**
 * The error that expected failures throw. One boundary (the dispatcher)
 * turns it into a response.
 *
 * @module
 */

/** Options for {@linkcode HttpError}. */
export interface HttpErrorOptions {
  /** Headers the error response carries, such as `Allow` for a 405. */
  headers?: HeadersInit;
  /** The underlying error, for logs. */
  cause?: unknown;
}

/**
 * An expected failure with the HTTP status that answers it.
 *
 * Its message is shown to the client, so it must never carry secrets or
 * absolute paths.
 *
 * @example
 * ```ts
 * throw new HttpError(405, "Method not allowed", { headers: { allow: "GET, HEAD" } });
 * ```
 */
export class HttpError extends Error {
  /** The response status, 400 to 599. */
  readonly status: number;
  /** Headers the error response carries. */
  readonly headers: Headers;

  /**
   * An expected failure answered with `status` and a page saying `message`.
   *
   * @param status The response status, 400 to 599.
   * @param message What the error page says: never a secret or a path.
   */
  constructor(status: number, message: string, options: HttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.headers = new Headers(options.headers);
  }
}

/** What a 404 says: never the path, which would reflect the request. */
export const NOT_FOUND_MESSAGE = "There is nothing at this address.";

/**
 * The 405 for a method a resource does not answer, with the `Allow` header
 * RFC 9110 §15.5.6 requires.
 *
 * @param allow The methods it answers ("GET, HEAD").
 */
export function methodNotAllowed(allow: string): HttpError {
  return new HttpError(405, "Method not allowed", { headers: { allow } });
}
