/**
 * Typed views of what scriptserver takes from the Deno standard library.
 *
 * The `deno-std` npm build of @std ships no type declarations, so everything
 * it exports is `any`. Annotating it once here keeps every other module
 * strictly typed. The import specifiers are the JSR ones: moving to `jsr:@std`
 * is a deno.json change only.
 *
 * @module
 */
import { escape as untypedEscape } from "@std/html";
import { parseMediaType as untypedParseMediaType } from "@std/media-types/parse-media-type";
import { indexOfNeedle as untypedIndexOfNeedle } from "@std/bytes/index-of-needle";
import { lastIndexOfNeedle as untypedLastIndexOfNeedle } from "@std/bytes/last-index-of-needle";
import { STATUS_TEXT as untypedStatusText } from "@std/http/status";
import {
  deleteCookie as untypedDeleteCookie,
  setCookie as untypedSetCookie,
} from "@std/http/cookie";
import { format as untypedFormatBytes } from "@std/fmt/bytes";
// The path functions of each platform, not "@std/path": that one decides the
// platform from `globalThis.process`, and touching `process` boots Deno's
// Node compatibility layer, about 20 ms of start-up. Importing the five
// functions, not the platform's whole module, saves a few more.
import { extname as posixExtname } from "@std/path/posix/extname";
import { fromFileUrl as posixFromFileUrl } from "@std/path/posix/from-file-url";
import { join as posixJoin } from "@std/path/posix/join";
import { SEPARATOR as POSIX_SEPARATOR } from "@std/path/posix/constants";
import { toFileUrl as posixToFileUrl } from "@std/path/posix/to-file-url";
import { extname as windowsExtname } from "@std/path/windows/extname";
import { fromFileUrl as windowsFromFileUrl } from "@std/path/windows/from-file-url";
import { join as windowsJoin } from "@std/path/windows/join";
import { SEPARATOR as WINDOWS_SEPARATOR } from "@std/path/windows/constants";
import { toFileUrl as windowsToFileUrl } from "@std/path/windows/to-file-url";
const WINDOWS = Deno.build.os === "windows";
import { parseArgs as untypedParseArgs } from "@std/cli/parse-args";
import { deadline as untypedDeadline } from "@std/async/deadline";

const escapeAll: (text: string) => string = untypedEscape;
const SPECIAL = /[&<>"']/;

/** Escapes `& < > " '` for use in HTML text and quoted attributes. */
export function escapeHtml(text: string): string {
  // Most values have nothing to escape: a test is cheaper than a replace.
  return SPECIAL.test(text) ? escapeAll(text) : text;
}

/** The `Content-Type` for a file extension (".html"), with a charset for text types. */
export type ContentTypeOf = (extension: string) => string | undefined;

/** What serving static files takes from @std. */
export interface StaticFileTools {
  /** The `Content-Type` for a file extension. */
  contentType: ContentTypeOf;
}

let staticFileTools: Promise<StaticFileTools> | undefined;

/**
 * Loads what serving static files takes from @std, on first use: a server
 * that answers only pages and templates never pays for it. The media-type
 * table alone is 200 KB of source, about 5 ms to load.
 */
export function loadStaticFileTools(): Promise<StaticFileTools> {
  return staticFileTools ??= import("@std/media-types/content-type").then((
    mediaTypes,
  ) => ({ contentType: mediaTypes.contentType }));
}

/** A TransformStream that passes on bytes `start` to `end` (inclusive) of a byte stream. */
export type ByteSliceStream = new (
  start?: number,
  end?: number,
) => TransformStream<Uint8Array, Uint8Array>;

let byteSliceStream: Promise<ByteSliceStream> | undefined;

/**
 * Loads @std/streams' `ByteSliceStream`, on the first Range request for a
 * file not held in memory. At start-up it would cost 2-3 ms: a class that
 * extends TransformStream makes Deno load its web streams, which a server
 * answering from memory otherwise never needs.
 */
export function loadByteSliceStream(): Promise<ByteSliceStream> {
  return byteSliceStream ??= import("@std/streams/byte-slice-stream").then(
    (module) => module.ByteSliceStream,
  );
}

/**
 * Splits a media type into its lower-cased essence and parameters.
 *
 * @throws {TypeError} for a malformed media type.
 */
export const parseMediaType: (
  type: string,
) => [mediaType: string, params: Record<string, string> | undefined] =
  untypedParseMediaType;

/** The index of the first occurrence of `needle` in `source` from `start`, or -1. */
export const indexOfNeedle: (
  source: Uint8Array,
  needle: Uint8Array,
  start?: number,
) => number = untypedIndexOfNeedle;

/** The index of the last occurrence of `needle` in `source`, or -1. */
export const lastIndexOfNeedle: (
  source: Uint8Array,
  needle: Uint8Array,
  start?: number,
) => number = untypedLastIndexOfNeedle;

/** A cookie for {@linkcode setCookie}. */
export interface Cookie {
  name: string;
  value: string;
  expires?: Date | number;
  maxAge?: number;
  domain?: string;
  path?: string;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: "Strict" | "Lax" | "None";
}

/** Appends a `Set-Cookie` header. */
export const setCookie: (headers: Headers, cookie: Cookie) => void =
  untypedSetCookie;

/** Appends a `Set-Cookie` header that expires the cookie `name`. */
export const deleteCookie: (
  headers: Headers,
  name: string,
  attributes?: Omit<Cookie, "name" | "value">,
) => void = untypedDeleteCookie;

/** Reason phrases by status code. */
export const STATUS_TEXT: Readonly<Record<number, string | undefined>> =
  untypedStatusText;

/** Formats a byte count for people ("4 KiB" with `binary: true`). */
export const formatBytes: (
  bytes: number,
  options?: { binary?: boolean; maximumFractionDigits?: number },
) => string = untypedFormatBytes;

/** The extension of a path, with its dot (".html"), or "". */
export const extname: (path: string) => string = WINDOWS
  ? windowsExtname
  : posixExtname;
/** A path from a `file:` URL. */
export const fromFileUrl: (url: string | URL) => string = WINDOWS
  ? windowsFromFileUrl
  : posixFromFileUrl;
/** A `file:` URL from an absolute path. */
export const toFileUrl: (path: string) => URL = WINDOWS
  ? windowsToFileUrl
  : posixToFileUrl;
/** Joins and normalises path segments. */
export const join: (...segments: string[]) => string = WINDOWS
  ? windowsJoin
  : posixJoin;
/** The platform's path separator. */
export const SEPARATOR: string = WINDOWS ? WINDOWS_SEPARATOR : POSIX_SEPARATOR;

/**
 * `promise`, or a rejection with a `TimeoutError` DOMException once `ms`
 * have passed.
 */
export const deadline: <T>(promise: Promise<T>, ms: number) => Promise<T> =
  untypedDeadline;

/** Parsed command-line arguments. */
export interface ParsedArgs {
  _: (string | number)[];
  [flag: string]: unknown;
}

/** Parses command-line arguments. */
export const parseArgs: (
  args: string[],
  options?: {
    string?: string[];
    boolean?: string[];
    alias?: Record<string, string>;
    default?: Record<string, unknown>;
    /** Flags that may be given more than once, collected into arrays. */
    collect?: string[];
    /** Booleans that `--no-<flag>` sets to false. */
    negatable?: string[];
    unknown?: (arg: string, key?: string, value?: unknown) => unknown;
  },
) => ParsedArgs = untypedParseArgs;
