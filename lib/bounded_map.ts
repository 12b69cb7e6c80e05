/**
 * A Map with a cap on its size.
 *
 * @module
 */

/**
 * A Map that holds at most `max` entries, dropping the oldest first: caches
 * keyed by what clients send (paths) stay bounded whatever they send.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #max: number;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override set(key: K, value: V): this {
    if (this.size >= this.#max && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
