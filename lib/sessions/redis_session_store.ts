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
import { deadline } from "../_std.ts";
import { REDIS_CLIENT } from "./redis_client.ts";
import { HttpError } from "../http_error.ts";
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

/**
 * What the store uses of node-redis's client. Declared here rather than
 * imported: even a type import would make Deno fetch the package for any
 * program that can reach this module (see redis_client.ts).
 */
interface RedisClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  unref(): void;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end" | "ready", listener: () => void): unknown;
  ping(): Promise<string>;
  sendCommand(args: string[]): Promise<unknown>;
  eval(
    script: string,
    options: { keys: string[]; arguments: string[] },
  ): Promise<unknown>;
  multi(): RedisMulti;
}

interface RedisMulti {
  hGetAll(key: string): RedisMulti;
  pExpire(key: string, ms: number): RedisMulti;
  exec(): Promise<unknown[]>;
}

// The Redis client, loaded when this module is (see redis_client.ts).
const { createClient } = await import(REDIS_CLIENT) as {
  createClient(options: {
    url: string;
    disableOfflineQueue: boolean;
    socket: {
      connectTimeout: number;
      reconnectStrategy: (retries: number) => number;
    };
  }): RedisClient;
};

const MARKER = "~";
const FIELD = "k:";

/**
 * The start of every script that writes: ARGV[1] is the time, in Redis's
 * own clock (ms), after which the server has already answered 503 for
 * this write. A write still queued when Redis was paused is then dropped
 * instead of applied late (returns -2).
 */
const UNLESS_LATE = `
if redis.replicate_commands then redis.replicate_commands() end
local now = redis.call('TIME')
if now[1] * 1000 + math.floor(now[2] / 1000) > tonumber(ARGV[1]) then return -2 end`;

/** Creates a session: ARGV = deadline, ttl, then (field, value) pairs. */
const CREATE = `${UNLESS_LATE}
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Applies per-key changes if the session exists: ARGV = deadline, ttl, n sets, n (field, value) pairs, then fields to delete. */
const UPDATE = `${UNLESS_LATE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[4 + 2 * i], ARGV[5 + 2 * i]) end
for i = 4 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Moves a live session to a new key: KEYS = old, new; ARGV = deadline, ttl. */
const REGENERATE = `${UNLESS_LATE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('RENAMENX', KEYS[1], KEYS[2]) == 0 then return -1 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

/** Deletes a session: ARGV = deadline. */
const DELETE = `${UNLESS_LATE}
redis.call('DEL', KEYS[1])
return 1`;

/** How often an unreachable Redis is asked whether it is back, in ms. */
const PROBE_MS = 250;

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
  /**
   * Whether commands are sent at all. After a failure (a timeout, a lost
   * connection), every request fails at once with 503 instead of waiting
   * out its own timeout, while a probe asks Redis every 250 ms whether it
   * is back.
   */
  let healthy = false;
  let closed = false;
  let probing = false;
  /** Redis's clock minus ours, in ms, measured whenever it answers. */
  let offset = 0;

  async function measureClock(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await deadline(
      client.sendCommand(["TIME"]) as Promise<[string, string]>,
      timeout,
    );
    const redisNow = Number(seconds) * 1000 + Number(micros) / 1000;
    offset = redisNow - (before + Date.now()) / 2;
  }

  /** Whether the loss of a store that was reachable was logged. */
  let lost = false;

  function markDown(reason: string): void {
    if (healthy) {
      healthy = false;
      lost = true;
      log(
        `scriptserver: lost the session store at ${name} (${reason}); pages that use sessions answer 503 until it is back`,
      );
    }
    void probe();
  }

  /** Asks Redis whether it is back, until it is. */
  async function probe(): Promise<void> {
    if (probing) return;
    probing = true;
    try {
      while (!closed && !healthy) {
        // Never what keeps a stopping process alive.
        await new Promise((resolve) =>
          Deno.unrefTimer(setTimeout(resolve, PROBE_MS))
        );
        if (closed || !client.isReady) continue;
        try {
          await deadline(client.ping(), timeout);
          await measureClock();
          healthy = true;
          if (lost) {
            lost = false;
            log(`scriptserver: the session store at ${name} is back`);
          }
        } catch {
          // Not yet.
        }
      }
    } finally {
      probing = false;
    }
  }

  client.on("error", (error: Error) => markDown(error.message));
  client.on("end", () => markDown("the connection closed"));
  client.on("ready", () => {
    if (!healthy) void probe();
  });
  // The connection never keeps the process alive: a server stopping (a
  // signal, deno serve shutting its isolates down) must not wait for it.
  client.unref();
  const connecting = client.connect().then(async () => {
    try {
      await measureClock();
      healthy = true;
      return true;
    } catch {
      markDown("it did not answer");
      return false;
    }
  }, () => false);

  /**
   * Runs a command, turning any failure or a hang into a 503 (and a hang
   * into an outage: later requests fail at once until Redis answers).
   * Timed-out commands are abandoned, never sent again.
   */
  async function call<T>(run: () => Promise<T>): Promise<T> {
    if (!healthy) {
      throw unavailable(
        new Error(`The session store at ${name} is unreachable`),
      );
    }
    try {
      return await deadline(run(), timeout);
    } catch (error) {
      markDown((error as Error).message ?? String(error));
      throw unavailable(error);
    }
  }

  /** The Redis time past which a write sent now must not be applied. */
  function lateAfter(): string {
    return String(Math.ceil(Date.now() + offset + timeout));
  }

  /** A write script's result, which says whether it came too late. */
  function written(result: unknown): number {
    if (result === -2) {
      throw unavailable(new Error("Redis answered after the deadline"));
    }
    return result as number;
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
      closed = true;
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
      const fields = Object.entries(encodeSession(data)).flat();
      written(
        await call(() =>
          client.eval(CREATE, {
            keys: [prefix + id],
            arguments: [lateAfter(), ttl, ...fields],
          })
        ),
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
      const found = written(
        await call(() =>
          client.eval(UPDATE, {
            keys: [prefix + id],
            arguments: [
              lateAfter(),
              ttl,
              String(sets.length / 2),
              ...sets,
              ...deletes,
            ],
          })
        ),
      );
      return found === 1;
    },

    async regenerate(id) {
      const fresh = newSessionId();
      const moved = written(
        await call(() =>
          client.eval(REGENERATE, {
            keys: [prefix + id, prefix + fresh],
            arguments: [lateAfter(), ttl],
          })
        ),
      );
      return moved === 1 ? fresh : undefined;
    },

    async delete(id) {
      written(
        await call(() =>
          client.eval(DELETE, {
            keys: [prefix + id],
            arguments: [lateAfter()],
          })
        ),
      );
    },
  };
}
