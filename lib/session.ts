/**
 * A request's session: the `ctx.session` object, the `sessionId` cookie,
 * and when the store is written.
 *
 * @module
 */
import { deleteCookie, setCookie } from "./_std.ts";
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
   * to remove it. Reading creates nothing.
   */
  readonly data: SessionData;
  /** Moves the session to a new id (call it at login). */
  regenerate(): Promise<void>;
  /** Deletes the session and expires its cookie. */
  end(): Promise<void>;
  /** Writes what the request changed; sets the cookie of a new session. */
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
  for (let start = 0; start < header.length;) {
    const semicolon = header.indexOf(";", start);
    const end = semicolon === -1 ? header.length : semicolon;
    const eq = header.indexOf("=", start);
    if (
      eq !== -1 && eq < end &&
      header.slice(start, eq).trim() === SESSION_COOKIE
    ) {
      const value = header.slice(eq + 1, end).trim();
      if (isSessionId(value)) return value;
    }
    start = end + 1;
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

function sessionFor(
  found: string | undefined,
  data: SessionData | undefined,
  options: OpenSessionOptions,
): RequestSession {
  const { store, responseHeaders, secure } = options;
  let id = found;
  let current: SessionData = data ?? Object.create(null);
  /** Keys written since the last commit; `undefined` marks a deletion. */
  const changes = new Map<string, unknown>();

  const cookie = {
    httpOnly: true,
    sameSite: "Lax" as const,
    path: "/",
    secure,
  };
  function sendCookie(value: string) {
    setCookie(responseHeaders, { name: SESSION_COOKIE, value, ...cookie });
  }

  // A proxy over whichever object is current (it changes on end()).
  const proxy = new Proxy<SessionData>(Object.create(null), {
    get: (_, key) => typeof key === "string" ? current[key] : undefined,
    set(_, key, value) {
      if (typeof key !== "string") return false;
      current[key] = value;
      changes.set(key, value);
      return true;
    },
    deleteProperty(_, key) {
      if (typeof key !== "string") return false;
      delete current[key];
      changes.set(key, undefined);
      return true;
    },
    has: (_, key) => typeof key === "string" && Object.hasOwn(current, key),
    ownKeys: () => Reflect.ownKeys(current),
    getOwnPropertyDescriptor(_, key) {
      if (typeof key !== "string" || !Object.hasOwn(current, key)) {
        return undefined;
      }
      return {
        value: current[key],
        writable: true,
        enumerable: true,
        configurable: true,
      };
    },
    defineProperty: () => false,
  });

  async function commit(): Promise<void> {
    if (changes.size === 0) return;
    const written = new Map(changes);
    changes.clear();
    if (id !== undefined && await store.update(id, written)) return;
    // New, or gone since the request began: start a fresh one.
    if (Object.keys(current).length === 0) return;
    // Not looked up again: a session counts as in use only when a later
    // request brings it back (see createMemorySessionStore).
    id = await store.create(current);
    sendCookie(id);
  }

  return {
    data: proxy,
    commit,
    async regenerate() {
      if (id === undefined) return; // The next write issues a fresh id.
      await commit();
      const fresh = await store.regenerate(id);
      id = fresh;
      if (fresh === undefined) {
        current = Object.create(null);
        return;
      }
      sendCookie(fresh);
    },
    async end() {
      changes.clear();
      if (id !== undefined) await store.delete(id);
      id = undefined;
      current = Object.create(null);
      deleteCookie(responseHeaders, SESSION_COOKIE, cookie);
    },
  };
}
