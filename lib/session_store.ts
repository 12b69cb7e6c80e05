/**
 * Session stores. The default keeps sessions in this process's memory, in a
 * Map; a shared store (Redis, say) implements the same interface.
 *
 * @module
 */

/** A session's data: JSON-compatible values by key. */
export type SessionData = Record<string, unknown>;

/**
 * Where sessions live. Writes are per key, so two requests of one session
 * that change different keys keep both changes with any store.
 */
export interface SessionStore {
  /**
   * The data of a live session, refreshing its idle timer; `undefined` for
   * an id the store did not issue or that has expired. An in-memory store
   * returns the live object, so concurrent requests see each other's writes.
   */
  get(id: string): Promise<SessionData | undefined>;
  /** Stores a new session holding `data` under a fresh id, and returns it. */
  create(data: SessionData): Promise<string>;
  /**
   * Applies changes to a live session, key by key (`undefined` deletes the
   * key). Resolves to `false` when the session no longer exists.
   */
  update(id: string, changes: ReadonlyMap<string, unknown>): Promise<boolean>;
  /**
   * Moves a live session's data to a fresh id and invalidates the old one
   * (against session fixation). Resolves to the new id, or `undefined` when
   * the session no longer exists.
   */
  regenerate(id: string): Promise<string | undefined>;
  /** Deletes a session. */
  delete(id: string): Promise<void>;
}

/** Bytes of randomness in a session id: 256 bits. */
const ID_BYTES = 32;
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new session id: 256 bits from `crypto.getRandomValues`, base64url
 * (43 characters). Unguessable ids are what keep sessions from being
 * hijacked; the original ScriptServer's were 8 letters from a
 * non-cryptographic generator.
 */
export function newSessionId(): string {
  return crypto.getRandomValues(new Uint8Array(ID_BYTES)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** Whether a string could be an id this server issued (nothing else is looked up). */
export function isSessionId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** Options for {@linkcode createMemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Idle time after which a session expires, in ms. Default: 30 minutes. */
  ttl?: number;
  /** Most live sessions; the least recently used go first. Default: 10,000. */
  max?: number;
  /** The clock, in ms. Default: `Date.now`. */
  now?: () => number;
}

/** The default idle timeout: 30 minutes. */
export const DEFAULT_SESSION_TTL = 30 * 60 * 1000;
/** The default cap on live sessions. */
export const DEFAULT_MAX_SESSIONS = 10_000;

interface Entry {
  data: SessionData;
  /** When the session was last used, in ms. */
  seen: number;
}

/**
 * Sessions in a Map, bounded in time and number.
 *
 * The Map is kept in order of last use (a used session moves to the end),
 * so the least recently used session is always first: eviction takes it,
 * and expired sessions are swept from the front on every call, without a
 * timer per session (or any timer at all).
 */
export function createMemorySessionStore(
  options: MemorySessionStoreOptions = {},
): SessionStore & { readonly size: number } {
  const ttl = options.ttl ?? DEFAULT_SESSION_TTL;
  const max = options.max ?? DEFAULT_MAX_SESSIONS;
  const now = options.now ?? Date.now;
  const sessions = new Map<string, Entry>();

  function sweep(time: number): void {
    for (const [id, entry] of sessions) {
      if (time - entry.seen <= ttl) break;
      sessions.delete(id);
    }
  }

  /** The live entry for `id`, moved to the end as the most recent. */
  function use(id: string): Entry | undefined {
    const time = now();
    sweep(time);
    const entry = sessions.get(id);
    if (entry === undefined) return undefined;
    sessions.delete(id);
    entry.seen = time;
    sessions.set(id, entry);
    return entry;
  }

  function add(data: SessionData): string {
    const time = now();
    sweep(time);
    while (sessions.size >= max) {
      const oldest = sessions.keys().next().value;
      if (oldest === undefined) break;
      sessions.delete(oldest);
    }
    const id = newSessionId();
    sessions.set(id, { data, seen: time });
    return id;
  }

  return {
    get size() {
      sweep(now());
      return sessions.size;
    },
    get(id) {
      return Promise.resolve(use(id)?.data);
    },
    create(data) {
      const own: SessionData = Object.create(null);
      Object.assign(own, data);
      return Promise.resolve(add(own));
    },
    update(id, changes) {
      const entry = use(id);
      if (entry === undefined) return Promise.resolve(false);
      for (const [key, value] of changes) {
        if (value === undefined) delete entry.data[key];
        else entry.data[key] = value;
      }
      return Promise.resolve(true);
    },
    regenerate(id) {
      const entry = use(id);
      if (entry === undefined) return Promise.resolve(undefined);
      sessions.delete(id);
      return Promise.resolve(add(entry.data));
    },
    delete(id) {
      sessions.delete(id);
      return Promise.resolve();
    },
  };
}
