/**
 * The command line: flag parsing, usage text and the permission flags a
 * configuration needs. Pure: `main.ts` hands it `Deno.args`.
 *
 * @module
 */
import { parseArgs } from "../_std.ts";

/** What the command line asked for. */
export interface CliOptions {
  /** The directory to serve, as given; `undefined` for the bundled site. */
  root: string | undefined;
  /** `--port`, when given. */
  port: number | undefined;
  /** `--host`. Default: 127.0.0.1. */
  host: string;
  /** `--prod`: error pages without details. */
  prod: boolean;
  /** `--quiet`: no access log. */
  quiet: boolean;
  /** `--trust-proxy`: believe `X-Forwarded-Proto` from a reverse proxy. */
  trustProxy: boolean;
  /** `--embedded-site`: the bundled site, relative to main.ts (set by `deno task compile`). */
  embeddedSite: string | undefined;
  /** `--max-body` in bytes, when given. */
  maxBody: number | undefined;
  /** `--max-fields`, when given. */
  maxFields: number | undefined;
  /** `--max-body-total` in bytes, when given. */
  maxBodyTotal: number | undefined;
  /** `--page-timeout` in milliseconds, when given. */
  pageTimeout: number | undefined;
  /** `--in-process`: pages run in the server's own isolate. */
  inProcess: boolean;
  /** `--isolates`, when given. */
  isolates: number | undefined;
  /** `--page-memory` in MiB, when given. */
  pageMemory: number | undefined;
  /** `--session-ttl` in milliseconds, when given. */
  sessionTtl: number | undefined;
  /** `--max-sessions`, when given. */
  maxSessions: number | undefined;
  /** `--sessions`: a Redis URL, or `undefined` for this process's memory. */
  sessions: string | undefined;
  /** `--cert`: the TLS certificate chain (PEM file) for HTTPS. */
  cert: string | undefined;
  /** `--key`: the private key (PEM file) of `--cert`. */
  key: string | undefined;
  /** `--no-listing`: directories without an index answer 404. */
  noListing: boolean;
  /** `--no-live-reload`: no reload script in HTML in development. */
  noLiveReload: boolean;
  /** `--header`s, as [name, value] pairs, in order. */
  headers: [string, string][];
  /** `--help`. */
  help: boolean;
}

/** A mistake on the command line; its message is shown as is. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The default port. */
export const DEFAULT_PORT = 8000;
/** The default listening address: this machine only. */
export const DEFAULT_HOST = "127.0.0.1";

/**
 * Parses a TCP port: a whole number from 0 (any free port) to 65535.
 *
 * @throws {UsageError} for anything else.
 */
export function parsePort(value: string, source = "--port"): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new UsageError(
      `Cannot use ${source} "${value}": give a port from 0 to 65535`,
    );
  }
  return Number(value);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/**
 * Parses a size: bytes, or a number with a k, m or g suffix (powers of
 * 1024), such as "512k" or "10m".
 *
 * @throws {UsageError} for anything else.
 */
export function parseSize(value: string, source = "--max-body"): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)b?$/i.exec(value.trim());
  const size = match
    ? Math.floor(Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!)
    : NaN;
  if (!Number.isSafeInteger(size)) {
    throw new UsageError(
      `Cannot use ${source} "${value}": give bytes, or a size such as 512k, 10m or 1g`,
    );
  }
  return size;
}

const DURATION_UNITS: Record<string, number> = {
  "": 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration into milliseconds: seconds, or a number with an s, m,
 * h or d suffix, such as "90s", "30m" or "12h".
 *
 * @throws {UsageError} for anything else, and for zero.
 */
export function parseDuration(value: string, source: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/i.exec(value.trim());
  const ms = match
    ? Math.round(Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!)
    : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(
      `Cannot use ${source} "${value}": give seconds, or a duration such as 90s, 30m or 12h`,
    );
  }
  return ms;
}

/**
 * Parses a whole number of at least 1.
 *
 * @throws {UsageError} for anything else.
 */
export function parseCount(value: string, source: string): number {
  const count = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new UsageError(
      `Cannot use ${source} "${value}": give a whole number of at least 1`,
    );
  }
  return count;
}

/**
 * Parses `--page-memory`: a size (see {@linkcode parseSize}) of at least
 * 16 MiB, in MiB.
 *
 * @throws {UsageError} for anything else.
 */
export function parseMemory(value: string): number {
  const bytes = parseSize(value, "--page-memory");
  if (bytes < 16 * 1024 ** 2) {
    throw new UsageError(
      `Cannot use --page-memory "${value}": give at least 16m (a page isolate needs that much to start)`,
    );
  }
  return Math.floor(bytes / 1024 ** 2);
}

/**
 * Headers `--header` may not set: they describe how this response is
 * framed or encoded, which the server decides (a wrong Content-Length
 * or Transfer-Encoding would corrupt every response).
 */
const FRAMING_HEADERS = new Set([
  "connection",
  "content-encoding",
  "content-length",
  "content-range",
  "keep-alive",
  "transfer-encoding",
  "trailer",
  "upgrade",
  "te",
]);

/**
 * Parses a `--header` value: "Name: value", a header field as HTTP
 * allows it (a token, then a value without control characters).
 *
 * @throws {UsageError} for anything else, and for framing headers.
 */
export function parseHeader(value: string): [string, string] {
  const colon = value.indexOf(":");
  const name = colon === -1 ? "" : value.slice(0, colon).trim();
  const field = colon === -1 ? "" : value.slice(colon + 1).trim();
  // RFC 9110 §5.1 (a token) and §5.5 (no CR, LF or NUL in a value).
  if (
    !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) ||
    // deno-lint-ignore no-control-regex
    /[\x00-\x08\x0a-\x1f\x7f]/.test(field)
  ) {
    throw new UsageError(
      `Cannot use --header "${value}": give "Name: value", such as --header "Strict-Transport-Security: max-age=31536000"`,
    );
  }
  if (FRAMING_HEADERS.has(name.toLowerCase())) {
    throw new UsageError(
      `Cannot use --header "${value}": ${name} is set by the server for each response`,
    );
  }
  return [name, field];
}

/**
 * Parses `--sessions`: `memory`, or a `redis://` or `rediss://` URL with an
 * optional database number. Returns the URL, or `undefined` for memory.
 *
 * @throws {TypeError} with a message for people, for anything else.
 */
export function parseSessionsUrl(value: string): string | undefined {
  if (value === "memory") return undefined;
  const url = URL.parse(value);
  if (
    url === null || (url.protocol !== "redis:" && url.protocol !== "rediss:") ||
    url.hostname === "" || !/^(\/\d*)?$/.test(url.pathname) ||
    url.search !== "" || url.hash !== ""
  ) {
    throw new TypeError(
      `Cannot use --sessions "${value}": give memory, or redis://host:port[/db]`,
    );
  }
  return url.href;
}

function parseSessionsOption(value: string): string | undefined {
  try {
    return parseSessionsUrl(value);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The address of a Redis URL, as `--allow-net` names it ("127.0.0.1:6379"). */
export function redisAddress(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || "6379"}`;
}

/**
 * Parses the arguments after `main.ts`.
 *
 * @throws {UsageError} for unknown flags, bad values or extra arguments.
 */
export function parseCli(args: string[]): CliOptions {
  const parsed = parseArgs(args, {
    string: [
      "port",
      "host",
      "max-body",
      "max-fields",
      "max-body-total",
      "page-timeout",
      "isolates",
      "page-memory",
      "session-ttl",
      "max-sessions",
      "embedded-site",
      "sessions",
      "header",
      "cert",
      "key",
    ],
    boolean: [
      "prod",
      "quiet",
      "help",
      "trust-proxy",
      "in-process",
      "listing",
      "live-reload",
    ],
    collect: ["header"],
    negatable: ["listing", "live-reload"],
    default: { listing: true, "live-reload": true },
    alias: { h: "help", p: "port" },
    unknown(arg) {
      if (arg.startsWith("-")) {
        throw new UsageError(`Unknown option "${arg}": see --help`);
      }
      return true;
    },
  });
  const positional = parsed._.map(String);
  if (positional.length > 1) {
    throw new UsageError(
      `Expected one ROOT directory, got ${positional.length}: ${
        positional.map((p) => `"${p}"`).join(", ")
      }`,
    );
  }
  if ((parsed.cert === undefined) !== (parsed.key === undefined)) {
    throw new UsageError(
      parsed.cert === undefined
        ? "Cannot use --key without --cert: give both for HTTPS"
        : "Cannot use --cert without --key: give both for HTTPS",
    );
  }
  const host = parsed.host === undefined ? DEFAULT_HOST : String(parsed.host);
  if (host === "") {
    throw new UsageError(`Cannot use --host "": give an address`);
  }
  return {
    root: positional[0],
    port: parsed.port === undefined
      ? undefined
      : parsePort(String(parsed.port)),
    host,
    prod: parsed.prod === true,
    quiet: parsed.quiet === true,
    trustProxy: parsed["trust-proxy"] === true,
    embeddedSite: parsed["embedded-site"] === undefined
      ? undefined
      : String(parsed["embedded-site"]),
    maxBody: parsed["max-body"] === undefined
      ? undefined
      : parseSize(String(parsed["max-body"])),
    maxFields: parsed["max-fields"] === undefined
      ? undefined
      : parseCount(String(parsed["max-fields"]), "--max-fields"),
    maxBodyTotal: parsed["max-body-total"] === undefined
      ? undefined
      : parseSize(String(parsed["max-body-total"]), "--max-body-total"),
    pageTimeout: parsed["page-timeout"] === undefined
      ? undefined
      : parseDuration(String(parsed["page-timeout"]), "--page-timeout"),
    inProcess: parsed["in-process"] === true,
    isolates: parsed.isolates === undefined
      ? undefined
      : parseCount(String(parsed.isolates), "--isolates"),
    pageMemory: parsed["page-memory"] === undefined
      ? undefined
      : parseMemory(String(parsed["page-memory"])),
    sessionTtl: parsed["session-ttl"] === undefined
      ? undefined
      : parseDuration(String(parsed["session-ttl"]), "--session-ttl"),
    maxSessions: parsed["max-sessions"] === undefined
      ? undefined
      : parseCount(String(parsed["max-sessions"]), "--max-sessions"),
    sessions: parsed.sessions === undefined
      ? undefined
      : parseSessionsOption(String(parsed.sessions)),
    cert: parsed.cert === undefined ? undefined : String(parsed.cert),
    key: parsed.key === undefined ? undefined : String(parsed.key),
    noListing: parsed.listing === false,
    noLiveReload: parsed["live-reload"] === false,
    headers: (parsed.header as unknown[] ?? []).map((value) =>
      parseHeader(String(value))
    ),
    help: parsed.help === true,
  };
}

/** Quotes a word for a POSIX shell when it needs quoting. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The address part of a URL for a host ("[::1]" for IPv6). */
export function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** `--allow-net` for some addresses ("127.0.0.1:8000"). */
export function netFlag(addresses: string[]): string {
  return `--allow-net=${shellQuote(addresses.join(","))}`;
}

/** `--allow-read` for directories. */
export function readFlag(...paths: string[]): string {
  return `--allow-read=${shellQuote(paths.join(","))}`;
}

/**
 * The permission flags that serving `root` on `host:port` needs, no more.
 * `connects` are further addresses the server connects to (Redis).
 */
export function permissionFlags(
  root: string,
  host: string,
  port: number,
  connects: string[] = [],
): { net: string; read: string } {
  return {
    net: netFlag([`${hostForUrl(host)}:${port}`, ...connects]),
    read: readFlag(root),
  };
}

/** What the `--help` text is for. */
export interface UsageOptions {
  /** The folder to serve (for the `--allow-read` flag). */
  root: string;
  /** What page isolates read (scriptserver's lib/), when pages run in them. */
  pagesRead?: string;
  /** The address to listen on. */
  host: string;
  /** The port to listen on. */
  port: number;
  /** Whether this is a compiled binary, with its permissions built in. */
  standalone?: boolean;
  /** Further addresses the server connects to (Redis). */
  connects?: string[];
  /** Further files read at startup (the TLS certificate and key). */
  reads?: string[];
}

/**
 * The `--help` text. Under `deno run` it shows the minimal permission flags
 * for `root`; a compiled binary has its permissions built in.
 */
export function usage(options: UsageOptions): string {
  const {
    root,
    host,
    port,
    standalone = false,
    connects = [],
    reads = [],
    pagesRead,
  } = options;
  const { net } = permissionFlags(root, host, port, connects);
  const read = readFlag(root, ...reads);
  const readAll = pagesRead === undefined
    ? read
    : readFlag(root, pagesRead, ...reads);
  const command = standalone
    ? "scriptserver [ROOT] [options]"
    : `deno run --no-prompt ${net} ${readAll} main.ts [ROOT] [options]`;
  const permissions = standalone
    ? "Permissions are built into this binary (see deno task compile)."
    : pagesRead === undefined
    ? `Permissions: it needs only ${net} and ${read}.`
    : `Permissions: it needs only ${net} and ${readAll}: ROOT, and scriptserver's
lib/ for page isolates (with ${read} alone, pages run in-process).`;
  return `scriptserver: serve a folder of static files, listings, pages and templates.

Usage:
  ${command}

Arguments:
  ROOT            The directory to serve. Default: the bundled site (${
    standalone ? "embedded in this binary" : "scripts/ beside main.ts"
  }).

Options:
  --port, -p N    Port to listen on (0 picks a free one). Default: $PORT when
                  env access is granted, else ${DEFAULT_PORT}.
  --host H        Address to listen on. Default: ${DEFAULT_HOST} (this machine
                  only); --host 0.0.0.0 exposes the server to the network.
  --prod          Production mode: error pages carry no details.
  --max-body SIZE Refuse request bodies larger than SIZE with 413: bytes, or
                  with a k, m or g suffix (powers of 1024). Default: 10m.
  --max-fields N  Refuse forms with more than N fields (or multipart parts)
                  with 413. Default: 1000.
  --max-body-total SIZE
                  Answer 503 (Retry-After) to a request whose body would
                  make the bodies of all requests in flight exceed SIZE.
                  Default: 256m.
  --page-timeout T
                  Answer 503 to a page that has not answered within T
                  (seconds, or with an s, m, h or d suffix). Default: 30s.
  --isolates N    Run pages in at most N isolates. Default: 2, or one per core.
  --page-memory SIZE
                  The heap limit of each page isolate (k, m or g suffix): a
                  page that exceeds it gets 500. Default: 512m.
  --in-process    Run pages in the server's own isolate: fastest, but a page
                  that never answers stops the server, and edits to the
                  modules a page imports need a restart.
  --session-ttl T Forget a session idle for T: seconds, or with an s, m, h
                  or d suffix. Default: 30m.
  --max-sessions N
                  Keep at most N sessions in memory. New sessions wait on
                  probation for their second request; those in use (up to
                  80%) are the last to go. Default: 50000.
  --sessions URL  Where sessions live: memory (default, this process), or
                  redis://host:port[/db] to share them between processes
                  (deno serve --parallel) and machines.
  --cert FILE --key FILE
                  Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate
                  chain and private key (PEM files, read at startup).
  --trust-proxy   Behind a reverse proxy: take X-Forwarded-Proto: https as
                  https (session cookies get Secure). Only with a proxy that
                  sets it; otherwise any client could.
  --no-listing    Answer 404 for a directory without an index file, instead
                  of listing its files.
  --no-live-reload
                  Do not reload browser tabs when a file changes (live
                  reload is on in development, always off with --prod).
  --header "Name: value"
                  Add a header to every response that does not set it
                  itself (HSTS, Content-Security-Policy, CORS). Repeatable.
  --quiet         Do not log each request.
  --help, -h      Show this help.

${permissions}
`;
}
