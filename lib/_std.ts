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
import {
  contentType as untypedContentType,
  parseMediaType as untypedParseMediaType,
} from "@std/media-types";
import { lastIndexOfNeedle as untypedLastIndexOfNeedle } from "@std/bytes/last-index-of-needle";
import { ifNoneMatch as untypedIfNoneMatch } from "@std/http/etag";
import { STATUS_TEXT as untypedStatusText } from "@std/http/status";
import {
  deleteCookie as untypedDeleteCookie,
  getCookies as untypedGetCookies,
  setCookie as untypedSetCookie,
} from "@std/http/cookie";
import { encodeBase64Url as untypedEncodeBase64Url } from "@std/encoding/base64url";
import { format as untypedFormatBytes } from "@std/fmt/bytes";
// The platform's own path module, not "@std/path": that one decides the
// platform from `globalThis.process`, and touching `process` boots Deno's
// Node compatibility layer, about 20 ms of start-up.
const path = Deno.build.os === "windows"
  ? await import("@std/path/windows")
  : await import("@std/path/posix");
const {
  extname: untypedExtname,
  fromFileUrl: untypedFromFileUrl,
  join: untypedJoin,
  SEPARATOR: untypedSeparator,
  toFileUrl: untypedToFileUrl,
} = path;
import { ByteSliceStream as UntypedByteSliceStream } from "@std/streams/byte-slice-stream";
import { parseArgs as untypedParseArgs } from "@std/cli/parse-args";

const escapeAll: (text: string) => string = untypedEscape;
const SPECIAL = /[&<>"']/;

/** Escapes `& < > " '` for use in HTML text and quoted attributes. */
export function escapeHtml(text: string): string {
  // Most values have nothing to escape: a test is cheaper than a replace.
  return SPECIAL.test(text) ? escapeAll(text) : text;
}

/** The `Content-Type` for a file extension (".html"), with a charset for text types. */
export const contentType: (extensionOrType: string) => string | undefined =
  untypedContentType;

/**
 * Splits a media type into its lower-cased essence and parameters.
 *
 * @throws {TypeError} for a malformed media type.
 */
export const parseMediaType: (
  type: string,
) => [mediaType: string, params: Record<string, string> | undefined] =
  untypedParseMediaType;

/** The index of the last occurrence of `needle` in `source`, or -1. */
export const lastIndexOfNeedle: (
  source: Uint8Array,
  needle: Uint8Array,
  start?: number,
) => number = untypedLastIndexOfNeedle;

/** Whether a resource with `etag` should be sent given an `If-None-Match` value (false: answer 304). */
export const ifNoneMatch: (
  value: string | null,
  etag: string | undefined,
) => boolean = untypedIfNoneMatch;

/**
 * The cookies of a request by name, in a null-prototype record.
 *
 * @throws {SyntaxError} for a pair that starts with "=".
 */
export const getCookies: (headers: Headers) => Record<string, string> =
  untypedGetCookies;

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

/** Base64url without padding. */
export const encodeBase64Url: (data: Uint8Array) => string =
  untypedEncodeBase64Url;

/** Reason phrases by status code. */
export const STATUS_TEXT: Readonly<Record<number, string | undefined>> =
  untypedStatusText;

/** Formats a byte count for people ("4 KiB" with `binary: true`). */
export const formatBytes: (
  bytes: number,
  options?: { binary?: boolean; maximumFractionDigits?: number },
) => string = untypedFormatBytes;

/** The extension of a path, with its dot (".html"), or "". */
export const extname: (path: string) => string = untypedExtname;
/** A path from a `file:` URL. */
export const fromFileUrl: (url: string | URL) => string = untypedFromFileUrl;
/** A `file:` URL from an absolute path. */
export const toFileUrl: (path: string) => URL = untypedToFileUrl;
/** Joins and normalises path segments. */
export const join: (...segments: string[]) => string = untypedJoin;
/** The platform's path separator. */
export const SEPARATOR: string = untypedSeparator;

/** A TransformStream that passes on bytes `start` to `end` (inclusive) of a byte stream. */
export const ByteSliceStream: new (
  start?: number,
  end?: number,
) => TransformStream<Uint8Array, Uint8Array> = UntypedByteSliceStream;

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
    unknown?: (arg: string, key?: string, value?: unknown) => unknown;
  },
) => ParsedArgs = untypedParseArgs;
