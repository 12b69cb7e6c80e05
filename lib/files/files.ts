/**
 * File lookup: the one module that asks the disk about the served tree.
 *
 * Every other module goes through {@linkcode SiteFiles}, so a memory cache
 * invalidated by a file watcher can sit in front of it without the rest of
 * the server changing.
 *
 * @module
 */
import { join, loadByteSliceStream, SEPARATOR } from "../_std.ts";
import type { Encoding } from "../compression.ts";
import { isHiddenName, isHiddenPath } from "../url_path.ts";

/** What the server knows of a file or directory under the root. */
export interface FileInfo {
  /** Absolute real path (symlinks resolved); always inside the root. */
  readonly path: string;
  /** True for a directory, false for a regular file. */
  readonly isDirectory: boolean;
  /** Size in bytes. */
  readonly size: number;
  /** Last modification time, when the file system records one. */
  readonly mtime: Date | null;
  /**
   * True when the path asked for reached it through a symlink. Caches keep
   * such look-ups only briefly: file watchers miss some symlink changes
   * (measured with Deno.watchFs: about one relink in four went unreported).
   */
  readonly linked?: boolean;
}

/** One visible entry of a directory. */
export interface DirEntry extends FileInfo {
  /** The entry's name in its directory (which may be a symlink's name). */
  readonly name: string;
}

/** An inclusive byte range of a file. */
export interface ByteRange {
  /** First byte. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

/** Read access to the served tree. Implementations never leave the root. */
export interface SiteFiles {
  /** The root's absolute real path. */
  readonly root: string;
  /**
   * Looks up a root-relative path given as decoded segments. Resolves to
   * `undefined` when nothing is there, or when what is there is outside the
   * root, private, or neither a regular file nor a directory.
   */
  stat(segments: readonly string[]): Promise<FileInfo | undefined>;
  /** The visible entries of a directory that {@linkcode stat} returned. */
  list(directory: FileInfo): Promise<DirEntry[]>;
  /** The bytes of a file that {@linkcode stat} returned, streamed. */
  read(file: FileInfo, range?: ByteRange): Promise<ReadableStream<Uint8Array>>;
  /**
   * The whole body of a file, as Deno sends it fastest: from memory (a
   * string for UTF-8 text, else bytes) when cached, else streamed.
   */
  body(file: FileInfo): Promise<FileBody>;
  /** The whole text (UTF-8) of a file that {@linkcode stat} returned. */
  readText(file: FileInfo): Promise<string>;
  /** A body already in memory, without any I/O (caches only). */
  cachedBody?(file: FileInfo): FileBody | undefined;
  /**
   * The body of `file` compressed with `encoding` (caches only): a
   * precompressed sibling (`app.js.br`, `app.js.gz`) not older than the
   * file, or a variant made once per version and kept in memory. `null`
   * when there is none now (not worth it, too large, or still being made
   * off the request path); a promise while a small file is compressed.
   */
  encoded?(
    file: FileInfo,
    encoding: Encoding,
  ): EncodedBody | null | Promise<EncodedBody | null>;
  /**
   * A number that changes whenever anything under the root may have
   * changed (caches only). Results derived from these files may be kept
   * while it stays the same.
   */
  generation?(): number;
  /**
   * A number that changes whenever a module under the root may have
   * changed (a file watcher's caches only): code imported from these
   * files may be kept while it stays the same.
   */
  codeGeneration?(): number;
}

/** A file's body in an encoding. */
export interface EncodedBody {
  /** The encoding. */
  readonly encoding: Encoding;
  /** The compressed bytes, when in memory. */
  readonly bytes?: Uint8Array<ArrayBuffer>;
  /** Where they are read from otherwise: the precompressed sibling. */
  readonly sibling?: FileInfo;
  /** Their length. */
  readonly size: number;
  /** What the entity tag derives from: the file, or its sibling. */
  readonly source: FileInfo;
}

/** A file's body: in memory, or streamed. */
export type FileBody =
  | string
  | Uint8Array<ArrayBuffer>
  | ReadableStream<Uint8Array>;

/**
 * Whether `path` is `root` or inside it. Both must be absolute and
 * normalised.
 */
export function isInside(root: string, path: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith(SEPARATOR) ? root : root + SEPARATOR;
  return path.startsWith(prefix);
}

/**
 * The longest file name (NAME_MAX) and path (PATH_MAX) of Linux, in bytes.
 * Longer ones cannot exist, so they are not asked about: a flood of
 * 60 KB URLs would otherwise make a failing system call and a 60 KB error
 * message per request.
 */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

const utf8 = new TextEncoder();
/** Room to encode a path into, just past the longest. */
const scratch = new Uint8Array(MAX_PATH_BYTES + 4);

/** Whether a name or path is longer than `max` bytes of UTF-8. */
function isLonger(text: string, max: number): boolean {
  // A UTF-16 unit is one to three bytes of UTF-8.
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  // Encodes at most max + 4 bytes, whatever the length.
  const { read, written } = utf8.encodeInto(
    text,
    scratch.subarray(0, max + 4),
  );
  return read < text.length || written > max;
}

/** Whether a path under the root can name nothing, by its length alone. */
export function isTooLong(segments: readonly string[]): boolean {
  let total = 0;
  for (const segment of segments) {
    if (isLonger(segment, MAX_NAME_BYTES)) return true;
    total += segment.length + 1;
  }
  return total * 3 > MAX_PATH_BYTES &&
    isLonger(segments.join("/"), MAX_PATH_BYTES);
}

/**
 * A file's path relative to the root, with "/" separators
 * ("shop/cart.ts"): how pages, templates and errors name files.
 */
export function relativeName(root: string, path: string): string {
  const start = root.endsWith(SEPARATOR) ? root.length : root.length + 1;
  return path.slice(start).replaceAll("\\", "/");
}

/** Errors that mean "nothing there" for a look-up under the root. */
function isMissing(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.FilesystemLoop ||
    // ENAMETOOLONG has no class of its own.
    (error instanceof Error && /name too long/i.test(error.message));
}

/**
 * Serves the tree under `root` straight from the disk.
 *
 * Symlinks are followed only when their target is inside the root and not
 * private: Deno's `--allow-read` checks a link's own location, not its
 * target, so this real-path check is what keeps `root/link -> /etc` shut.
 *
 * @param root An existing directory; it is resolved to its real path now.
 */
export function createDiskFiles(root: string): SiteFiles {
  const realRoot = Deno.realPathSync(root);

  /** The real path of `path` when it is visible under the root. */
  async function resolveInside(path: string): Promise<string | undefined> {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (real === path) return real;
    // A symlink on the way: its target must be inside and not private.
    if (!isInside(realRoot, real)) return undefined;
    const relative = real.slice(realRoot.length).split(SEPARATOR).filter(
      Boolean,
    );
    return isHiddenPath(relative) ? undefined : real;
  }

  async function infoOf(path: string): Promise<FileInfo | undefined> {
    const real = await resolveInside(path);
    if (real === undefined) return undefined;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(real);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!info.isFile && !info.isDirectory) return undefined;
    const found = {
      path: real,
      isDirectory: info.isDirectory,
      size: info.size,
      mtime: info.mtime,
    };
    return real === path ? found : { ...found, linked: true };
  }

  return {
    root: realRoot,

    stat(segments) {
      if (isTooLong(segments)) return Promise.resolve(undefined);
      return infoOf(join(realRoot, ...segments));
    },

    async list(directory) {
      const names: string[] = [];
      for await (const entry of Deno.readDir(directory.path)) {
        if (!isHiddenName(entry.name)) names.push(entry.name);
      }
      const entries = await Promise.all(
        names.map(async (name) => {
          const info = await infoOf(join(directory.path, name));
          return info && { ...info, name };
        }),
      );
      return entries.filter((entry) => entry !== undefined);
    },

    async readText(file) {
      const handle = await openChecked(file);
      return await new Response(handle.readable).text();
    },

    body(file) {
      return this.read(file);
    },

    async read(file, range) {
      const handle = await openChecked(file);
      if (range === undefined) return handle.readable;
      try {
        const ByteSliceStream = await loadByteSliceStream();
        await handle.seek(range.start, Deno.SeekMode.Start);
        return handle.readable.pipeThrough(
          new ByteSliceStream(0, range.end - range.start),
        );
      } catch (error) {
        handle.close();
        throw error;
      }
    },
  };

  /**
   * Opens a file that {@linkcode infoOf} checked, and checks again what
   * was opened: the checked path can change between the check and the
   * open (swapped for a symlink to /etc/passwd, which `--allow-read=ROOT`
   * lets through, since Deno checks the name, not the target). The opened
   * handle's identity (device and inode) must be that of the file its
   * real path names now, inside the root; otherwise this is a file that
   * changed while it was opened: not found.
   */
  async function openChecked(file: FileInfo): Promise<Deno.FsFile> {
    const handle = await Deno.open(file.path);
    try {
      const opened = await handle.stat();
      const real = await resolveInside(file.path);
      const named = real === undefined ? undefined : await Deno.lstat(real);
      if (
        named !== undefined && opened.isFile && named.isFile &&
        named.dev === opened.dev && named.ino === opened.ino
      ) {
        return handle;
      }
    } catch (error) {
      handle.close();
      if (isMissing(error)) throw changedWhileOpened(file);
      throw error;
    }
    handle.close();
    throw changedWhileOpened(file);
  }
}

function changedWhileOpened(file: FileInfo): Deno.errors.NotFound {
  return new Deno.errors.NotFound(
    `"${file.path}" changed while it was opened`,
  );
}
