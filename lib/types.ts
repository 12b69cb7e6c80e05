/**
 * The types the server's modules share, in a leaf every module can import
 * without importing each other: the unit of composition (`Handler`), what
 * the dispatcher hands a file's handler (`Target`, `FileHandler`), and a
 * place in a source file (`ErrorLocation`).
 *
 * @module
 */
import type { FileInfo } from "./files/files.ts";

/**
 * The unit of composition: a function from Request to Response. `info` is
 * what `Deno.serve` passes (the client's address); it may be left out.
 */
export type Handler = (
  request: Request,
  info?: ConnectionInfo,
) => Promise<Response>;

/** The client's address, as `Deno.serve` and `deno serve` report it. */
export interface ConnectionInfo {
  /** The remote end of the connection (a Unix socket has no hostname). */
  remoteAddr: Deno.Addr;
  /**
   * Settles once the response has been sent (`Deno.ServeHandlerInfo`
   * gives it): a refused body's connection is closed then.
   */
  completed?: Promise<void>;
}

/** What the dispatcher found for a request. */
export interface Target {
  /** The file to answer with (its real path is inside the root). */
  file: FileInfo;
  /** The request URL (with a validated Host); parsed on first use. */
  readonly url: URL;
  /** The request URL as a string, when known without parsing it. */
  readonly href?: string;
  /** The query string's parameters; parsed on first use. */
  readonly query: URLSearchParams;
  /** The decoded URL path of the file ("/shop/cart.ts"); CGI's SCRIPT_NAME. */
  scriptName: string;
  /** The decoded rest of the URL path after the file ("/extra"), or "". */
  pathInfo: string;
  /** The connection, when the server provides it. */
  connection: ConnectionInfo | undefined;
}

/**
 * Answers a request for a file, at once or later. Handlers run inside the
 * dispatcher's error boundary: they throw an `HttpError` for expected
 * failures.
 */
export type FileHandler = (
  request: Request,
  target: Target,
) => Response | Promise<Response>;

/** Handlers by lower-case extension (".md"), plus `"*"` (`DEFAULT_HANDLER`, for the files no one registered). */
export type HandlerMap = Readonly<Record<string, FileHandler>>;

/** A place in a source file. */
export interface ErrorLocation {
  /** Absolute path. */
  path: string;
  line: number;
  column: number;
}
