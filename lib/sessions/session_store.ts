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
  /** Most live sessions, in all. Default: 50,000. */
  max?: number;
  /** The clock, in ms. Default: `Date.now`. */
  now?: () => number;
}

/** The default idle timeout: 30 minutes. */
export const DEFAULT_SESSION_TTL = 30 * 60 * 1000;
/** The default cap on live sessions (about 22 MiB when full of small ones). */
export const DEFAULT_MAX_SESSIONS = 50_000;

/**
 * The share of `max` that sessions in use may take; the rest is the
 * probation segment where new sessions wait for their second request.
 */
const PROTECTED_SHARE = 0.8;

interface Entry {
  data: SessionData;
  /** When the session was last used, in ms. */
  seen: number;
}

/**
 * Sessions in two Maps, bounded in time and number, that a flood of
 * one-shot sessions cannot empty of the sessions in use (a segmented LRU).
 *
 * A new session starts on probation; the first request that brings it
 * back moves it to the protected segment, which holds at most 80% of
 * `max` (its least recently used go back on probation past that). When
 * the store is full, the least recently used session on probation goes
 * first: 100,000 cookieless requests that write a session push out only
 * each other, never the 10,000 visitors who are logged in. Each Map is in
 * order of last use, so expired sessions are swept from their fronts on
 * every call, without a timer per session (or any timer at all).
 *
 * @example
 * ```ts
 * import { createHandler, createMemorySessionStore } from "../mod.ts";
 * const sessions = createMemorySessionStore({ ttl: 60 * 60 * 1000, max: 1000 });
 * Deno.serve(createHandler({ root: "./site", sessions }));
 * ```
 */
export function createMemorySessionStore(
  options: MemorySessionStoreOptions = {},
): SessionStore & { readonly size: number } {
  const ttl = options.ttl ?? DEFAULT_SESSION_TTL;
  const max = Math.max(1, options.max ?? DEFAULT_MAX_SESSIONS);
  const maxProtected = Math.floor(max * PROTECTED_SHARE);
  const now = options.now ?? Date.now;
  /** Sessions not yet seen again since they were made, oldest first. */
  const probation = new Map<string, Entry>();
  /** Sessions that came back, least recently used first. */
  const active = new Map<string, Entry>();

  function sweep(time: number): void {
    for (const segment of [probation, active]) {
      for (const [id, entry] of segment) {
        if (time - entry.seen <= ttl) break;
        segment.delete(id);
      }
    }
  }

  /** Moves the least recently used active sessions past the cap to probation. */
  function demote(): void {
    while (active.size > maxProtected) {
      const [id, entry] = active.entries().next().value!;
      active.delete(id);
      probation.set(id, entry);
    }
  }

  /** The live entry for `id`, now the most recently used of the active ones. */
  function use(id: string): Entry | undefined {
    const time = now();
    sweep(time);
    const entry = active.get(id) ?? probation.get(id);
    if (entry === undefined) return undefined;
    active.delete(id);
    probation.delete(id);
    entry.seen = time;
    active.set(id, entry);
    demote();
    return entry;
  }

  /** Stores `entry` under a fresh id, making room first. */
  function add(entry: Entry, segment: Map<string, Entry>): string {
    const time = now();
    sweep(time);
    while (probation.size + active.size >= max) {
      const victims = probation.size > 0 ? probation : active;
      const oldest = victims.keys().next().value;
      if (oldest === undefined) break;
      victims.delete(oldest);
    }
    const id = newSessionId();
    entry.seen = time;
    segment.set(id, entry);
    demote();
    return id;
  }

  return {
    get size() {
      sweep(now());
      return probation.size + active.size;
    },
    get(id) {
      return Promise.resolve(use(id)?.data);
    },
    create(data) {
      const own: SessionData = Object.create(null);
      Object.assign(own, data);
      return Promise.resolve(add({ data: own, seen: 0 }, probation));
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
      active.delete(id);
      // In use: the new id keeps its place among the active sessions.
      return Promise.resolve(add(entry, active));
    },
    delete(id) {
      probation.delete(id);
      active.delete(id);
      return Promise.resolve();
    },
  };
}
