/**
 * A memory cache in front of {@linkcode SiteFiles}, invalidated by a file
 * watcher, so that the hot path makes no file-system calls.
 *
 * What it keeps: look-up results (including "nothing there"), directory
 * entries, file texts, and the whole bodies of small files, within bounds.
 * It learns about changes from `Deno.watchFs` on the root: any event drops
 * everything (rebuilt lazily). Where watching is impossible (too many
 * directories for inotify, a read-only embedded file system), cached facts
 * live at most `ttl` ms instead. A read that raced with a change is never
 * kept: each entry is stored only if no change arrived while it was read.
 *
 * @module
 */
import { BoundedMap, ENTRY_OVERHEAD } from "../bounded_map.ts";
import {
  compressBody,
  type Encoding,
  MIN_COMPRESS_BYTES,
} from "../compression.ts";
import {
  type ByteRange,
  type DirEntry,
  type EncodedBody,
  type FileInfo,
  isTooLong,
  relativeName,
  type SiteFiles,
} from "./files.ts";

/** Options for {@linkcode createCachedFiles}. */
export interface CachedFilesOptions {
  /**
   * How the cache learns about changes: "watch" (a file watcher on the
   * root, falling back to "ttl" if it cannot watch), "ttl" (facts expire
   * after `ttl` ms), or "never" (the files never change: a compiled
   * binary's embedded site). Default: "watch".
   */
  changes?: "watch" | "ttl" | "never";
  /** How long a cached fact lives without a watcher, in ms. Default: 500. */
  ttl?: number;
  /** The clock, in ms (for "ttl"). Default: `Date.now`. */
  now?: () => number;
  /** Most entries per kind (look-ups, listings, texts). Default: 10,000. */
  maxEntries?: number;
  /**
   * Bytes of look-ups and of listings kept, each, keys included (texts get
   * twice as much): look-ups are keyed by what clients ask for, so a flood
   * of long distinct URLs must not grow them without end. Default: 8 MiB.
   */
  maxFactBytes?: number;
  /** Bytes of file bodies kept in memory, in all. Default: 32 MiB. */
  maxBytes?: number;
  /** The largest file body kept in memory. Default: 2 MiB. */
  maxFileBytes?: number;
  /**
   * Bytes of compressed variants kept in memory, in all. Default: 16 MiB.
   */
  maxEncodedBytes?: number;
  /** Told when watching fails. Default: stderr. */
  log?: (message: string) => void;
}

/** A cached SiteFiles, with the watcher to close. */
export interface CachedFiles extends SiteFiles {
  /** Stops watching. */
  close(): void;
  /** How changes are learnt now: "watch", "ttl" or "never". */
  readonly mode: "watch" | "ttl" | "never";
  /** Changes when a module under the root may have changed. */
  codeGeneration(): number;
  /**
   * Calls `listener` with the paths of each event the watcher sees (after
   * the cache has dropped what they change), while watching; returns the
   * function that stops it.
   */
  onChange(listener: (paths: readonly string[]) => void): () => void;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A body as Deno sends it fastest: a string for UTF-8 text, else bytes. */
function fastBody(
  bytes: Uint8Array<ArrayBuffer>,
): string | Uint8Array<ArrayBuffer> {
  try {
    return decoder.decode(bytes);
  } catch {
    return bytes;
  }
}

/** What a cached FileInfo (or "nothing there") costs, in bytes. */
function infoBytes(info: FileInfo | null): number {
  return ENTRY_OVERHEAD + (info === null ? 0 : info.path.length * 2 + 64);
}

/** Extensions of what a module can import (and of a folder: none). */
const CODE_EXTENSIONS = /(?:\.(?:[cm]?[jt]sx?|json|jsonc|wasm)|\/[^./]*)$/i;

/**
 * Whether a changed path may be part of a module graph: a module, JSON,
 * WebAssembly, or a folder (renamed or removed with modules in it).
 */
function mayBeCode(path: string): boolean {
  return CODE_EXTENSIONS.test(path.replaceAll("\\", "/"));
}

/** The extension of a precompressed sibling, by encoding. */
const SIBLING_EXTENSIONS: Record<Encoding, string> = {
  br: ".br",
  gzip: ".gz",
};

/**
 * Files up to this size are compressed while their first request waits
 * (a few milliseconds); larger ones off the request path, sent as they
 * are until their variant is ready.
 */
const INLINE_COMPRESS_BYTES = 256 * 1024;
/** Larger files are compressed only as precompressed siblings. */
const MAX_COMPRESS_BYTES = 16 * 1024 * 1024;
/** The most files compressed off the request path at once. */
const MAX_BACKGROUND_JOBS = 2;

/** Creates the cache in front of `files` (usually the disk). */
export function createCachedFiles(
  files: SiteFiles,
  options: CachedFilesOptions = {},
): CachedFiles {
  const ttl = options.ttl ?? 500;
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const maxFactBytes = options.maxFactBytes ?? 8 * 1024 * 1024;
  const maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  const maxFileBytes = options.maxFileBytes ?? 2 * 1024 * 1024;
  const log = options.log ?? ((message) => console.error(message));
  const maxEncodedBytes = options.maxEncodedBytes ?? 16 * 1024 * 1024;

  let mode: "watch" | "ttl" | "never" = options.changes ?? "watch";
  /** Bumped on every change seen by the watcher. */
  let changes = 0;
  /** Bumped on every change to a module (or a folder) seen by the watcher. */
  let codeChanges = 0;
  let epoch = -1;

  const stats = new BoundedMap<string, FileInfo | null>({
    maxEntries,
    maxBytes: maxFactBytes,
    sizeOf: (key, info) => key.length * 2 + infoBytes(info),
  });
  const lists = new BoundedMap<string, DirEntry[]>({
    maxEntries,
    maxBytes: maxFactBytes,
    sizeOf: (key, entries) =>
      entries.reduce(
        (sum, entry) => sum + entry.name.length * 2 + infoBytes(entry),
        key.length * 2 + ENTRY_OVERHEAD,
      ),
  });
  const texts = new BoundedMap<string, string>({
    maxEntries,
    maxBytes: 2 * maxFactBytes,
  });
  /** Bodies in memory with their size in bytes, oldest first. */
  const bodies = new BoundedMap<
    string,
    { body: string | Uint8Array<ArrayBuffer>; size: number }
  >({ maxBytes, sizeOf: (_, { size }) => size });

  /**
   * Compressed variants per encoding, by path, each with the FileInfo it
   * was made from (a cache hands out a new one when the file changes);
   * `null` remembers that a file has none worth sending. Each encoding
   * has half the bytes.
   */
  type Variant = { file: FileInfo; variant: EncodedBody | null };
  const variantMap = () =>
    new BoundedMap<string, Variant>({
      maxBytes: maxEncodedBytes / 2,
      sizeOf: (path, { variant }) =>
        path.length * 2 + ENTRY_OVERHEAD + (variant?.bytes?.byteLength ?? 0),
    });
  const variants: Record<Encoding, BoundedMap<string, Variant>> = {
    br: variantMap(),
    gzip: variantMap(),
  };
  /** Variants being made, by encoding and path. */
  const making = new Map<string, Promise<EncodedBody | null>>();
  let backgroundJobs = 0;

  function clear(): void {
    stats.clear();
    lists.clear();
    texts.clear();
    bodies.clear();
    variants.br.clear();
    variants.gzip.clear();
  }

  /** The current generation; moving to a new one empties the cache. */
  function generation(): number {
    const period = mode === "ttl" ? Math.floor(now() / ttl) : 0;
    const current = changes * 1e12 + period;
    if (current !== epoch) {
      epoch = current;
      clear();
    }
    return current;
  }

  const listeners = new Set<(paths: readonly string[]) => void>();
  let watcher: Deno.FsWatcher | undefined;
  if (mode === "watch") {
    try {
      watcher = Deno.watchFs(files.root, { recursive: true });
      (async () => {
        try {
          for await (const event of watcher) {
            changes++;
            if (event.paths.some(mayBeCode)) codeChanges++;
            for (const listener of listeners) {
              // A listener's failure must not end the watching (which
              // would leave every cached fact to expire by time instead).
              try {
                listener(event.paths);
              } catch (error) {
                log(
                  `scriptserver: a file change listener failed: ${
                    (error as Error).message
                  }`,
                );
              }
            }
          }
        } catch (error) {
          mode = "ttl";
          changes++;
          codeChanges++;
          log(
            `scriptserver: stopped watching ${files.root} (${
              (error as Error).message
            }); cached file facts now live ${ttl} ms`,
          );
        }
      })();
    } catch (error) {
      mode = "ttl";
      log(
        `scriptserver: cannot watch ${files.root} for changes (${
          (error as Error).message
        }); cached file facts live ${ttl} ms instead`,
      );
    }
  }

  /**
   * The entry for `key`, or what `load` gives, kept only if nothing changed
   * while it was read.
   */
  function through<K, V>(
    map: Map<K, V>,
    key: K,
    load: () => Promise<V>,
    keep: (value: V) => boolean = () => true,
  ): Promise<V> {
    const before = generation();
    const hit = map.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    return load().then((value) => {
      if (generation() === before && keep(value)) map.set(key, value);
      return value;
    });
  }

  function keepBody(
    path: string,
    body: string | Uint8Array<ArrayBuffer>,
    size: number,
  ) {
    if (size <= maxFileBytes) bodies.set(path, { body, size });
  }

  /** The whole bytes of a file, read now. */
  async function bytesOf(file: FileInfo): Promise<Uint8Array<ArrayBuffer>> {
    return await new Response(await files.read(file)).bytes();
  }

  /** The whole body of a file, through the cache. */
  async function bodyOf(file: FileInfo) {
    const before = generation();
    const hit = bodies.get(file.path);
    if (hit !== undefined) return hit.body;
    if (file.size > maxFileBytes) return await files.body(file);
    const bytes = await bytesOf(file);
    const body = fastBody(bytes);
    if (generation() === before && bytes.byteLength === file.size) {
      keepBody(file.path, body, bytes.byteLength);
    }
    return body;
  }

  /** A precompressed sibling of `file` not older than it, if any. */
  async function siblingOf(
    file: FileInfo,
    encoding: Encoding,
  ): Promise<FileInfo | undefined> {
    const segments = relativeName(files.root, file.path).split("/");
    segments.push(`${segments.pop()}${SIBLING_EXTENSIONS[encoding]}`);
    const sibling = await cached.stat(segments);
    if (sibling === undefined || sibling.isDirectory) return undefined;
    const made = file.mtime?.getTime();
    const packed = sibling.mtime?.getTime();
    return made !== undefined && packed !== undefined && packed >= made
      ? sibling
      : undefined;
  }

  async function makeVariant(
    file: FileInfo,
    encoding: Encoding,
  ): Promise<EncodedBody | null> {
    const sibling = await siblingOf(file, encoding);
    if (sibling !== undefined) {
      if (sibling.size > maxFileBytes) {
        return { encoding, sibling, size: sibling.size, source: sibling };
      }
      const bytes = await bytesOf(sibling);
      return { encoding, bytes, size: bytes.byteLength, source: sibling };
    }
    if (file.size < MIN_COMPRESS_BYTES || file.size > MAX_COMPRESS_BYTES) {
      return null;
    }
    const bytes = await compressBody(await bodyOf(file), encoding);
    // Not worth it, or too large to keep: the identity goes out.
    if (bytes.byteLength >= file.size || bytes.byteLength > maxFileBytes) {
      return null;
    }
    return { encoding, bytes, size: bytes.byteLength, source: file };
  }

  function encoded(
    file: FileInfo,
    encoding: Encoding,
  ): EncodedBody | null | Promise<EncodedBody | null> {
    const before = generation();
    const hit = variants[encoding].get(file.path);
    if (hit !== undefined && hit.file === file) return hit.variant;
    const key = `${encoding}:${file.path}`;
    const inline = file.size <= INLINE_COMPRESS_BYTES;
    const pending = making.get(key);
    if (pending !== undefined) return inline ? pending : null;
    if (!inline && backgroundJobs >= MAX_BACKGROUND_JOBS) return null;
    if (!inline) backgroundJobs++;
    const made = makeVariant(file, encoding).then(
      (variant) => {
        if (generation() === before && !file.linked) {
          variants[encoding].set(file.path, { file, variant });
        }
        return variant;
      },
      (error) => {
        // Unreadable now (deleted, changed): the identity answers, and the
        // next request tries again.
        log(
          `scriptserver: cannot compress ${
            relativeName(files.root, file.path)
          } (${(error as Error).message}); sent as it is`,
        );
        return null;
      },
    ).finally(() => {
      making.delete(key);
      if (!inline) backgroundJobs--;
    });
    making.set(key, made);
    return inline ? made : null;
  }

  const cached: CachedFiles = {
    root: files.root,
    get mode() {
      return mode;
    },
    generation,
    codeGeneration: () => codeChanges,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      watcher?.close();
      listeners.clear();
    },

    stat(segments) {
      // Names too long to exist are answered without a look-up to keep.
      if (isTooLong(segments)) return Promise.resolve(undefined);
      // null stands for "nothing there", so misses are remembered too.
      // A look-up through a symlink is asked again every time: the
      // watcher may never report that the link changed (Deno.watchFs
      // missed about one relink in four), and a link turned to point
      // outside ROOT must answer 404 at once.
      return through(
        stats,
        segments.join("/"),
        async () => (await files.stat(segments)) ?? null,
        (info) => info?.linked !== true,
      ).then((info) => info ?? undefined);
    },

    list(directory) {
      return through(lists, directory.path, () => files.list(directory));
    },

    readText(file) {
      return through(texts, file.path, () => files.readText(file));
    },

    cachedBody(file) {
      generation();
      return bodies.get(file.path)?.body;
    },

    body: bodyOf,
    encoded,

    read(file: FileInfo, range?: ByteRange) {
      return files.read(file, range);
    },
  };
  return cached;
}
