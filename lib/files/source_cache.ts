/**
 * Caches what is built from a file's source (an imported page module, a
 * parsed template) and rebuilds it when the file changes.
 *
 * @module
 */
import type { FileInfo, SiteFiles } from "./files.ts";

/**
 * How long after its modification time a file may still change without its
 * (mtime, size) changing: file systems that keep mtimes in whole seconds
 * (ext3, HFS+) or two (FAT) let two saves of a same-sized file look alike.
 */
export const SETTLE_MS = 2_000;

interface Entry<T> {
  /** The (mtime, size) of the file the value was built from. */
  version: string;
  /**
   * The source it was built from, kept while the file may still change
   * unseen (see {@linkcode SETTLE_MS}); `undefined` once that is over.
   */
  source: string | undefined;
  value: T;
}

/** A file's version: its (mtime, size). */
export function versionOf(file: FileInfo): string {
  return `${file.mtime?.getTime() ?? 0}-${file.size}`;
}

/** Whether a file's content can no longer change without a new version. */
function isSettled(file: FileInfo, now: number): boolean {
  return file.mtime !== null && now - file.mtime.getTime() > SETTLE_MS;
}

/** Options for {@linkcode createSourceCache}. */
export interface SourceCacheOptions {
  /** Where sources are read. */
  files: SiteFiles;
  /** The clock, in milliseconds. Default: `Date.now`. */
  now?: () => number;
}

/**
 * A cache of values built from files, one per file path.
 *
 * A value is built once per version of its file and kept; requests for an
 * unchanged file cost a map look-up. While a file's mtime is younger than
 * {@linkcode SETTLE_MS}, its source is also compared, so a second save
 * within the file system's mtime resolution is not missed. `build` should
 * not throw: return a rejected promise to cache a failure until the file
 * changes.
 */
export function createSourceCache<T>(
  build: (file: FileInfo, source: string) => T,
  options: SourceCacheOptions,
): (file: FileInfo) => T | Promise<T> {
  const { files, now = Date.now } = options;
  const entries = new Map<string, Entry<T>>();
  /** The FileInfo last seen per path: a cache hands out the same object while the file is unchanged. */
  const seen = new WeakMap<FileInfo, Entry<T>>();

  async function check(
    file: FileInfo,
    entry: Entry<T> | undefined,
  ): Promise<T> {
    const version = versionOf(file);
    if (entry?.version === version && entry.source === undefined) {
      seen.set(file, entry);
      return entry.value;
    }
    // New, edited, or edited so recently that an edit may hide behind an
    // unchanged version: compare the source itself.
    const time = now();
    const source = await files.readText(file);
    const settled = isSettled(file, time);
    if (entry?.version === version && entry.source === source) {
      if (settled) {
        entry.source = undefined;
        seen.set(file, entry);
      }
      return entry.value;
    }
    const value = build(file, source);
    const fresh: Entry<T> = {
      version,
      source: settled ? undefined : source,
      value,
    };
    entries.set(file.path, fresh);
    if (settled) seen.set(file, fresh);
    return value;
  }

  // Synchronous when the very FileInfo of a settled entry comes again: the
  // common case behind a cache, and no promise on the hot path.
  return (file) => {
    const known = seen.get(file);
    if (known !== undefined && entries.get(file.path) === known) {
      return known.value;
    }
    return check(file, entries.get(file.path));
  };
}
