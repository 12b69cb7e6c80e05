/**
 * A request's session: the `ctx.session` object, the `sessionId` cookie,
 * and when the store is written.
 *
 * @module
 */
import { deleteCookie, setCookie } from "../_std.ts";
import { cookiePairs } from "../cookies.ts";
import {
  isSessionId,
  type SessionData,
  type SessionStore,
} from "./session_store.ts";

/** The session cookie's name (the original ScriptServer's). */
export const SESSION_COOKIE = "sessionId";

/** A request's view of its session. */
export interface RequestSession {
  /**
   * The session as a plain object: set a property to store it, `delete` it
   * to remove it, change a value in place (`cart.push(x)`): what changed
   * is found at commit by comparing each key's JSON with the session as
   * read. Reading creates nothing. A new object after `end()` or a failed
   * `regenerate()`.
   */
  readonly data: SessionData;
  /** Moves the session to a new id (call it at login); queued, see commit(). */
  regenerate(): Promise<void>;
  /** Deletes the session and expires its cookie; queued, see commit(). */
  end(): Promise<void>;
  /**
   * Waits for the regenerations and ends the page asked for (awaited or
   * not), then writes what the request changed; sets the cookie of a new
   * session.
   *
   * @throws what a queued regenerate() or end() failed with.
   */
  commit(): Promise<void>;
}

/** Options for {@linkcode openSession}. */
export interface OpenSessionOptions {
  /** Where sessions live. */
  store: SessionStore;
  /** Where the `Set-Cookie` headers go (the page's `responseHeaders`). */
  responseHeaders: Headers;
  /** Whether the request came over https (the cookie gets `Secure`). */
  secure: boolean;
}

/**
 * Whether a request came over https: its URL says so, or, when a reverse
 * proxy is trusted, the first `X-Forwarded-Proto` value does.
 */
export function isHttps(request: Request, trustProxy: boolean): boolean {
  if (request.url.startsWith("https:")) return true;
  if (!trustProxy) return false;
  const forwarded = request.headers.get("x-forwarded-proto");
  return forwarded?.split(",")[0]?.trim().toLowerCase() === "https";
}

/**
 * The first `sessionId` value in a Cookie header that this server could
 * have issued; malformed ones are skipped without a look-up. Only that one
 * is looked up: a header with a thousand well-formed `sessionId` pairs
 * must not cost a thousand look-ups.
 */
export function sessionIdIn(headers: Headers): string | undefined {
  const header = headers.get("cookie");
  if (header === null) return undefined;
  for (const [name, value] of cookiePairs(header)) {
    if (name !== SESSION_COOKIE) continue;
    const id = value.trim();
    if (isSessionId(id)) return id;
  }
  return undefined;
}

/**
 * Opens the session a request's cookie names, if it is live.
 *
 * An id the store does not know (never issued, expired, evicted, or forged)
 * is never adopted: when the page writes, a fresh id is issued. A session
 * and its cookie are created only when a page writes to it.
 */
export async function openSession(
  request: Request,
  options: OpenSessionOptions,
): Promise<RequestSession> {
  const id = sessionIdIn(request.headers);
  const data = id === undefined ? undefined : await options.store.get(id);
  return data === undefined
    ? sessionFor(undefined, undefined, options)
    : sessionFor(id, data, options);
}

/**
 * A request's session when its cookie names none: nothing is looked up, and
 * a session is created when the page writes to it.
 */
export function newSession(options: OpenSessionOptions): RequestSession {
  return sessionFor(undefined, undefined, options);
}

/** Each key's value as JSON: what a session held when it was read or written. */
function snapshotOf(data: SessionData): Map<string, string | undefined> {
  const snapshot = new Map<string, string | undefined>();
  for (const key of Object.keys(data)) {
    snapshot.set(key, JSON.stringify(data[key]));
  }
  return snapshot;
}

/**
 * The keys whose JSON differs from `snapshot` (`undefined` for a key that
 * went): what a request changed, assignments and changes in place alike
 * (`cart.push(x)`, `user.name = "x"`).
 */
function changesSince(
  data: SessionData,
  snapshot: ReadonlyMap<string, string | undefined>,
): Map<string, unknown> {
  const changes = new Map<string, unknown>();
  for (const key of snapshot.keys()) {
    if (!Object.hasOwn(data, key)) changes.set(key, undefined);
  }
  for (const key of Object.keys(data)) {
    const json = JSON.stringify(data[key]);
    if (snapshot.get(key) !== json || !snapshot.has(key)) {
      // JSON is what any store keeps: a value JSON drops is a deletion.
      changes.set(key, json === undefined ? undefined : data[key]);
    }
  }
  return changes;
}

function sessionFor(
  found: string | undefined,
  data: SessionData | undefined,
  options: OpenSessionOptions,
): RequestSession {
  const { store, responseHeaders, secure } = options;
  let id = found;
  let current: SessionData = data ?? Object.create(null);
  /** The session as last read or written, key by key, as JSON. */
  let snapshot = snapshotOf(current);
  /**
   * Regenerations and ends, in the order the page asked for them: the
   * response waits for them, awaited or not (a forgotten `await` on a
   * security step must not skip it).
   */
  let queue: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;

  const cookie = {
    httpOnly: true,
    sameSite: "Lax" as const,
    path: "/",
    secure,
  };
  function sendCookie(value: string) {
    setCookie(responseHeaders, { name: SESSION_COOKIE, value, ...cookie });
  }

  function reset(): void {
    current = Object.create(null);
    snapshot = new Map();
  }

  /** Writes what changed since the snapshot; a new session gets its cookie. */
  async function write(): Promise<void> {
    const changes = changesSince(current, snapshot);
    if (changes.size === 0) return;
    snapshot = snapshotOf(current);
    if (id !== undefined && await store.update(id, changes)) return;
    // New, or gone since the request began: start a fresh one. Not
    // looked up again: a session counts as in use only when a later
    // request brings it back (see createMemorySessionStore).
    if (Object.keys(current).length === 0) return;
    id = await store.create(current);
    sendCookie(id);
  }

  /** Queues session work after what the page asked for before. */
  function enqueue(task: () => Promise<void>): Promise<void> {
    const run = queue.then(task);
    // The page may not await it: the failure waits for commit().
    queue = run.catch((error) => {
      failure ??= { error };
    });
    return run;
  }

  return {
    get data() {
      return current;
    },
    async commit() {
      await queue;
      if (failure !== undefined) throw failure.error;
      await write();
    },
    regenerate() {
      return enqueue(async () => {
        if (id === undefined) return; // The next write issues a fresh id.
        await write();
        const fresh = await store.regenerate(id);
        id = fresh;
        if (fresh === undefined) {
          reset();
          return;
        }
        sendCookie(fresh);
      });
    },
    end() {
      return enqueue(async () => {
        if (id !== undefined) await store.delete(id);
        id = undefined;
        reset();
        deleteCookie(responseHeaders, SESSION_COOKIE, cookie);
      });
    },
  };
}
