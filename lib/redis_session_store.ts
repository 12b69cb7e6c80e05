/**
 * Sessions shared through Redis, for many processes or machines.
 *
 * Each session is a Redis hash `scriptserver:session:<id>`: one field per
 * session key (`k:<key>`, the value as JSON) and a marker field (`~`), so
 * a session with no keys still exists. Idle expiry is the hash's TTL,
 * renewed on every use.
 *
 * Writes are per key: a request changes only the keys it wrote (HSET or
 * HDEL, atomically with the check that the session still exists). Two
 * requests of one session that change different keys keep both changes;
 * when they change the same key, the last to finish wins. A request reads
 * the session as it was when the request began.
 *
 * @module
 */
import { createClient } from "redis";
import { HttpError } from "./http_error.ts";
import {
  DEFAULT_SESSION_TTL,
  newSessionId,
  type SessionData,
  type SessionStore,
} from "./session_store.ts";

/** Options for {@linkcode createRedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /** `redis://host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Idle time after which a session expires, in ms. Default: 30 minutes. */
  ttl?: number;
  /** The prefix of session keys. Default: "scriptserver:session:". */
  prefix?: string;
  /** How long one Redis command may take before the request gets 503, in ms. Default: 2000. */
  timeout?: number;
  /** Told when Redis goes away and when it is back. Default: stderr. */
  log?: (message: string) => void;
}

/** A session store in Redis, with its connection. */
export interface RedisSessionStore extends SessionStore {
  /** The Redis URL without its password, for messages. */
  readonly name: string;
  /** Resolves once connected, or after `ms` (false: not reachable yet). */
  ready(ms: number): Promise<boolean>;
  /** Closes the connection. */
  close(): void;
}

const MARKER = "~";
const FIELD = "k:";

/** Applies per-key changes if the session exists: ARGV = ttl, n sets, n (field, value) pairs, then fields to delete. */
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[3 + 2 * i], ARGV[4 + 2 * i]) end
for i = 3 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/** Moves a live session to a new key: KEYS = old, new; ARGV = ttl. */
const REGENERATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('RENAMENX', KEYS[1], KEYS[2]) == 0 then return -1 end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1`;

function unavailable(cause: unknown): HttpError {
  return new HttpError(
    503,
    "Sessions are unavailable right now. Please try again shortly.",
    { headers: { "retry-after": "5" }, cause },
  );
}

/** Decodes a session hash; `undefined` when the session does not exist. */
export function decodeSession(
  hash: Record<string, string>,
): SessionData | undefined {
  if (!Object.hasOwn(hash, MARKER)) return undefined;
  const data: SessionData = Object.create(null);
  for (const [field, json] of Object.entries(hash)) {
    if (!field.startsWith(FIELD)) continue;
    try {
      data[field.slice(FIELD.length)] = JSON.parse(json);
    } catch {
      // Not written by this store: leave it out.
    }
  }
  return data;
}

/** Encodes session data as hash fields (with the marker). */
export function encodeSession(data: SessionData): Record<string, string> {
  const hash: Record<string, string> = Object.create(null);
  hash[MARKER] = "1";
  for (const [key, value] of Object.entries(data)) {
    if (value !== undefined) hash[FIELD + key] = JSON.stringify(value);
  }
  return hash;
}

/**
 * Creates a session store in Redis and starts connecting. While Redis is
 * unreachable, every operation fails at once with a 503 `HttpError` (never
 * a crash, never a silent loss of session data); the client reconnects by
 * itself and the store recovers when Redis is back.
 */
export function createRedisSessionStore(
  options: RedisSessionStoreOptions,
): RedisSessionStore {
  const ttl = String(options.ttl ?? DEFAULT_SESSION_TTL);
  const prefix = options.prefix ?? "scriptserver:session:";
  const timeout = options.timeout ?? 2000;
  const log = options.log ?? ((message) => console.error(message));
  const safeUrl = new URL(options.url);
  safeUrl.password = "";
  const name = safeUrl.href;

  const client = createClient({
    url: options.url,
    // Fail at once while disconnected instead of queueing requests.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: timeout,
      reconnectStrategy: (retries: number) =>
        Math.min(100 * 2 ** retries, 2000),
    },
  });
  let down = false;
  client.on("error", (error: Error) => {
    if (down) return;
    down = true;
    log(
      `scriptserver: lost the session store at ${name} (${error.message}); pages that use sessions answer 503 until it is back`,
    );
  });
  client.on("ready", () => {
    if (!down) return;
    down = false;
    log(`scriptserver: the session store at ${name} is back`);
  });
  // The connection never keeps the process alive: a server stopping (a
  // signal, deno serve shutting its isolates down) must not wait for it.
  client.unref();
  const connecting = client.connect().then(() => true, () => false);

  /** Runs a command, turning any failure or a hang into a 503. */
  async function call<T>(run: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`Redis did not answer within ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } catch (error) {
      throw unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name,

    ready(ms) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      return Promise.race([
        connecting,
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), ms);
        }),
      ]).finally(() => clearTimeout(timer));
    },

    close() {
      client.destroy();
    },

    async get(id) {
      const [hash] = await call(() =>
        client.multi().hGetAll(prefix + id).pExpire(prefix + id, Number(ttl))
          .exec()
      );
      return decodeSession(hash as unknown as Record<string, string>);
    },

    async create(data) {
      const id = newSessionId();
      await call(() =>
        client.multi().hSet(prefix + id, encodeSession(data))
          .pExpire(prefix + id, Number(ttl)).exec()
      );
      return id;
    },

    async update(id, changes) {
      const sets: string[] = [];
      const deletes: string[] = [];
      for (const [key, value] of changes) {
        if (value === undefined) deletes.push(FIELD + key);
        else sets.push(FIELD + key, JSON.stringify(value));
      }
      const found = await call(() =>
        client.eval(UPDATE, {
          keys: [prefix + id],
          arguments: [ttl, String(sets.length / 2), ...sets, ...deletes],
        })
      );
      return found === 1;
    },

    async regenerate(id) {
      const fresh = newSessionId();
      const moved = await call(() =>
        client.eval(REGENERATE, {
          keys: [prefix + id, prefix + fresh],
          arguments: [ttl],
        })
      );
      return moved === 1 ? fresh : undefined;
    },

    async delete(id) {
      await call(() => client.del(prefix + id));
    },
  };
}
