/**
 * A Map with a cap on its size, in entries and in bytes.
 *
 * @module
 */

/** Options for {@linkcode BoundedMap}. */
export interface BoundedMapOptions<K, V> {
  /** The most entries. Default: no limit but the bytes. */
  maxEntries?: number;
  /** The most bytes, keys included, as `sizeOf` counts them. */
  maxBytes: number;
  /**
   * What an entry costs, in bytes. Default: two bytes per character of a
   * string key (UTF-16, as V8 may store it) or value, plus 64 for the
   * entry itself.
   */
  sizeOf?: (key: K, value: V) => number;
}

/** Bytes every entry costs besides its key and value (the Map's own slots). */
export const ENTRY_OVERHEAD = 64;

function defaultSize(key: unknown, value: unknown): number {
  let size = ENTRY_OVERHEAD;
  if (typeof key === "string") size += key.length * 2;
  if (typeof value === "string") size += value.length * 2;
  return size;
}

/**
 * A Map that holds at most `maxEntries` entries and `maxBytes` bytes,
 * dropping the oldest first: caches keyed by what clients send (URL
 * paths) stay bounded whatever they send, long keys included (a flood of
 * distinct 60 KB URLs took RSS to 1.4 GB with a cap on entries alone). An
 * entry larger than the whole budget is not kept.
 *
 * @example
 * ```ts
 * import { BoundedMap } from "./bounded_map.ts";
 * const routes = new BoundedMap<string, number>({ maxBytes: 1024 * 1024 });
 * routes.set("/index.html", 1);
 * ```
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (key: K, value: V) => number;
  readonly #sizes = new Map<K, number>();
  #bytes = 0;

  constructor(options: BoundedMapOptions<K, V>) {
    super();
    this.#maxEntries = options.maxEntries ?? Infinity;
    this.#maxBytes = options.maxBytes;
    this.#sizeOf = options.sizeOf ?? defaultSize;
  }

  /** The bytes the entries cost, as counted. */
  get bytes(): number {
    return this.#bytes;
  }

  override set(key: K, value: V): this {
    const size = this.#sizeOf(key, value);
    this.delete(key);
    if (size > this.#maxBytes) return this;
    while (
      this.size > 0 &&
      (this.size >= this.#maxEntries || this.#bytes + size > this.#maxBytes)
    ) {
      this.delete(this.keys().next().value!);
    }
    this.#sizes.set(key, size);
    this.#bytes += size;
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    const size = this.#sizes.get(key);
    if (size === undefined) return false;
    this.#sizes.delete(key);
    this.#bytes -= size;
    return super.delete(key);
  }

  override clear(): void {
    super.clear();
    this.#sizes.clear();
    this.#bytes = 0;
  }
}
