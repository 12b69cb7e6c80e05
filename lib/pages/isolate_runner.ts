/**
 * Runs pages in isolates the server supervises, so that a faulty page
 * costs one request, never the server: a page that never yields is
 * stopped, one that ends its isolate or exhausts its heap ends only that
 * isolate, and every edit to a page's code takes effect on the next
 * request. The listener, static files, templates and the session store
 * stay in the server's own isolate.
 *
 * Isolates are `node:worker_threads` Workers: unlike Web Workers, they take
 * a heap limit of their own (`resourceLimits`), and V8 stops a page that
 * exceeds it instead of ending the process.
 *
 * @module
 */
import { memoryResponse } from "../compression.ts";
import { fromFileUrl, toFileUrl } from "../_std.ts";
import {
  declaredLength,
  DEFAULT_MAX_FIELDS,
  limitBody,
  type LimitBodyOptions,
} from "../body.ts";
import { type FileInfo, relativeName } from "../files/files.ts";
import { HttpError } from "../http_error.ts";
import { PageError } from "./page_error.ts";
import {
  CLIENT_GONE,
  DEFAULT_PAGE_TIMEOUT,
  mayHaveBody,
  type ModuleRunnerOptions,
  type PageRunner,
  pageTimedOut,
  writablePage,
} from "./page.ts";
import { versionOf } from "../files/source_cache.ts";
import {
  isHttps,
  newSession,
  openSession,
  type OpenSessionOptions,
  type RequestSession,
} from "../sessions/session.ts";
import type { SessionData } from "../sessions/session_store.ts";
import { mayWrite } from "../write_access.ts";
import {
  ACK,
  CALL,
  CANCEL,
  CLAIM_SLOTS,
  decodeError,
  decodeValues,
  encodeError,
  type ErrorInfo,
  EXITING,
  FAILURE,
  flatHeaders,
  headersOf,
  type IsolateSetup,
  LOST,
  type LostWhere,
  PING,
  PONG,
  PRESET,
  READY,
  REPLY,
  REQUEST,
  REQUEST_BODY,
  REQUEST_PAGE,
  REQUEST_SLOT,
  RESPONSE,
  STRAY,
  TAKEN_BACK,
  TIMED_OUT,
  UNCLAIMED,
} from "./isolate_protocol.ts";
import { Spawner } from "./spawner.ts";
import { threads } from "./threads.ts";
import type { Target } from "../types.ts";

const { Worker } = threads;

/** Options for {@linkcode createIsolateRunner}. */
export interface IsolateRunnerOptions extends ModuleRunnerOptions {
  /** The most isolates that run pages at once. Default: 2, or one per core if more. */
  isolates?: number;
  /** Each isolate's heap limit, in MiB. Default: 512. */
  pageMemory?: number;
}

/** A page runner that owns isolates, to be closed. */
export interface IsolateRunner extends PageRunner {
  /**
   * Stops: isolates that do not answer are ended now, the others once
   * their requests are answered, all of them after `graceMs`. New requests
   * get 503.
   */
  close(graceMs?: number): Promise<void>;
  /**
   * Starts an isolate for the code as it is now, if it changed since the
   * last request: a request expected soon (a tab that live reload is
   * reloading) finds it started. Otherwise nothing.
   */
  warm(): void;
}

/** The default heap limit of a page isolate, in MiB. */
export const DEFAULT_PAGE_MEMORY = 512;

/** An isolate silent this long while it has work is asked if it is there. */
const STALL_MS = 250;
/** How often isolates with work are checked on. */
const SWEEP_MS = 100;
/** An extra isolate idle this long is ended. */
const IDLE_MS = 30_000;
/**
 * How long past `--page-timeout` (counted from when its batch was sent) a
 * stalled isolate has to stop the page itself (see guard.ts) before the
 * server ends it.
 */
const GUARD_GRACE_MS = 1_000;
/** An isolate starting up longer than this is given up. */
const BOOT_MS = 20_000;
/**
 * An isolate that has worked on its last batch this long is busy: new
 * requests go to another, or start one. An isolate whose pages wait (on a
 * fetch, a database) has started them all and is not busy.
 */
const BUSY_MS = 2;
/**
 * How long an isolate importing a page for the first time is not busy
 * (see {@linkcode BUSY_MS}): until the page runs, up to this long.
 */
const IMPORT_MS = 100;

/**
 * How long after the first isolate the spawner starts. Constructing it
 * stops the server's thread for 40–140 ms (as any Worker does), which,
 * done at once, held up the first page's answer: start-up to the first
 * page took 325 ms (median of 7) against 258 ms deferred, on 2026-12-03.
 */
const SPAWNER_DELAY_MS = 1_000;

/** Where the isolates' module is: beside this one. */
const WORKER_URL = new URL("./page_worker.ts", import.meta.url);
/** Where the spawner's module is (see spawner_worker.ts). */
const SPAWNER_URL = new URL("./spawner_worker.ts", import.meta.url);

/**
 * The isolates' module as a path, for `deno compile --include`: it is
 * started as a Worker, which a compiled binary's module graph cannot see.
 */
export const PAGE_WORKER: string = fromFileUrl(WORKER_URL);

/** The spawner's module as a path, for `deno compile --include` likewise. */
export const SPAWNER_WORKER: string = fromFileUrl(SPAWNER_URL);

/**
 * Whether this process can start page isolates: their modules are
 * scriptserver's own `lib/`, which they must be allowed to read (a
 * compiled binary embeds them).
 */
export function canRunIsolates(): boolean {
  if (Deno.build.standalone) return true;
  if (WORKER_URL.protocol !== "file:") return false;
  const lib = fromFileUrl(new URL("../", WORKER_URL));
  return Deno.permissions.querySync({ name: "read", path: lib }).state ===
    "granted";
}

/** The `--allow-read` path that page isolates need: scriptserver's `lib/`. */
export function isolatesReadPath(): string {
  return fromFileUrl(new URL("../", WORKER_URL)).replace(/[/\\]$/, "");
}

/**
 * A request's body as it goes to an isolate: its bytes when it is small
 * and declared, else a stream.
 */
type RequestBody = ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>;

/**
 * The largest declared body read by the server and sent as bytes. Measured
 * with Deno 2.9.6: a transferred stream opens a channel of its own, and a
 * page reading a 10-byte form answered 2.4–3.5k req/s that way, 5.9k as
 * bytes.
 */
const SMALL_BODY = 64 * 1024;

/** One request for a page, from the server's side. */
class Job {
  /** Its id in its isolate's {@linkcode JobTable} (-1 before it has one). */
  id = -1;
  readonly request: Request;
  readonly target: Target;
  readonly name: string;
  readonly started = Date.now();
  readonly message: unknown[];
  readonly body: RequestBody | undefined;
  /** What the body's limit threw (413, 503), answered instead of the page's failure. */
  bodyLimit: { error?: unknown } | undefined;
  isolate: Isolate | undefined;
  session: RequestSession | undefined;
  /** Headers the session set (its cookie). */
  cookies: Headers | undefined;
  settled = false;
  readonly #resolve: (response: Response) => void;
  readonly #reject: (error: unknown) => void;
  readonly promise: Promise<Response>;

  constructor(
    request: Request,
    target: Target,
    page: PageEntry,
    body: RequestBody | undefined,
  ) {
    this.request = request;
    this.target = target;
    const { name, url } = page;
    this.name = name;
    this.body = body;
    const remote = target.connection?.remoteAddr;
    this.message = [
      REQUEST,
      -1,
      url,
      name,
      target.file.path,
      request.method,
      target.href ?? target.url.href,
      flatHeaders(request.headers),
      target.scriptName,
      target.pathInfo,
      remote !== undefined && "hostname" in remote
        ? remote.hostname
        : undefined,
      undefined,
      undefined,
      body,
      -1,
    ];
    const { promise, resolve, reject } = Promise.withResolvers<Response>();
    this.promise = promise;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  resolve(response: Response): void {
    if (this.settled) return;
    this.settled = true;
    this.#resolve(response);
  }

  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.#reject(error);
  }
}

/** The most requests one isolate has at once: an id's low bits are its slot. */
const JOB_SLOTS = 2 ** 20;

/**
 * The requests an isolate has, by id, in slots of an array that is reused,
 * not a Map. Measured with Deno 2.9.6: a Map that requests come and go
 * through keeps replacing its hash table, and the tables it left in the old
 * generation still point at requests, which the young-generation collector
 * then keeps and promotes: with a Map here a quarter of what the server
 * allocated for a page request reached the old generation, and collecting
 * cost 5–10 µs of CPU per request.
 */
class JobTable {
  /** Counts additions to every table: ids are unique across isolates. */
  static #added = 0;
  readonly #slots: (Job | undefined)[] = [];
  readonly #free: number[] = [];
  size = 0;

  /**
   * Adds a job and returns its id, unique for the next four billion
   * requests (a late message names no other request), or -1 when the
   * table is full.
   */
  add(job: Job): number {
    const slot = this.#free.pop() ?? this.#slots.length;
    if (slot >= JOB_SLOTS) return -1;
    JobTable.#added = (JobTable.#added + 1) % 2 ** 32;
    this.#slots[slot] = job;
    this.size++;
    return JobTable.#added * JOB_SLOTS + slot;
  }

  get(id: number): Job | undefined {
    const job = this.#slots[id % JOB_SLOTS];
    return job !== undefined && job.id === id ? job : undefined;
  }

  delete(id: number): void {
    const slot = id % JOB_SLOTS;
    const job = this.#slots[slot];
    if (job === undefined || job.id !== id) return;
    this.#slots[slot] = undefined;
    this.#free.push(slot);
    this.size--;
  }

  *values(): IterableIterator<Job> {
    for (const job of this.#slots) if (job !== undefined) yield job;
  }
}

/** A page as one generation runs it. */
interface PageEntry {
  /**
   * The FileInfo it was last asked for with: a file cache hands out the
   * same one while the file is unchanged, so most requests compare no
   * versions.
   */
  file: FileInfo;
  /** Its file's version. */
  readonly version: string;
  /** Its module's URL. */
  readonly url: string;
  /** Its path under the root. */
  readonly name: string;
  /** Why it is never run (the server may write to it). */
  readonly refused: PageError | undefined;
}

/** The isolates that run one generation of the site's code. */
interface Pool {
  readonly generation: number;
  /** The pages this generation runs, by path. */
  readonly pages: Map<string, PageEntry>;
  readonly isolates: Set<Isolate>;
}

/** How an isolate ended, as the server learnt it. */
interface Ending {
  code?: number;
  /** What the page called to end it ("Deno.exit(42)"). */
  how?: string;
  stack?: string;
  error?: unknown;
  terminated?: boolean;
}

/** A page isolate, from the server's side. */
class Isolate {
  /** Its id, unique in this process. */
  readonly id: number;
  /** Ends it now. */
  readonly terminate: () => void;
  /** The server's end of its channel (see {@linkcode IsolateSetup.port}). */
  readonly port: MessagePort;
  readonly pool: Pool;
  /** Its claim slots (see {@linkcode IsolateSetup.claims}). */
  readonly claims: Int32Array;
  readonly jobs = new JobTable();
  /** Response bodies still streaming from this isolate. */
  readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  outbox: unknown[][] = [];
  transfers: Transferable[] = [];
  /**
   * The last batch sent, until the isolate acknowledges it (its pages
   * have started): no batch follows before. If the isolate goes silent
   * meanwhile, a page of this batch is the one that never yields.
   */
  unacked: unknown[][] | undefined;
  /** When the unacknowledged batch was sent. */
  sentAt = 0;
  /**
   * The pages (by URL) it has been sent: it has imported them, or is. At
   * most the site's page files: isolates run one version of the code.
   */
  readonly pages = new Set<string>();
  /**
   * The claim slots of the unacknowledged batch's requests for pages it had
   * not been sent before (-1 for one with no slot): each is claimed once its
   * page has been imported and runs.
   */
  imports: number[] = [];
  heardAt = Date.now();
  readonly startedAt = Date.now();
  pingedAt: number | undefined;
  ready = false;
  stalled = false;
  /** It is stalled, and a page it has runs past `--page-timeout`. */
  overdue = false;
  /** While overdue: the page of its last batch answered 503 for it. */
  blamed: string | undefined;
  /**
   * While overdue with its pages all started: those answered 503 while it
   * had a while to stop the one that spins (any of them may be it).
   */
  readonly lateNames = new Set<string>();
  retiring = false;
  ended = false;
  ending: Ending = {};
  /**
   * When it last had no requests, while it is an extra isolate of its pool
   * (the sweeper ends it after {@linkcode IDLE_MS}): a timestamp, not a
   * timer, since under load an isolate goes idle between most batches.
   */
  idleSince: number | undefined;

  constructor(
    id: number,
    terminate: () => void,
    port: MessagePort,
    pool: Pool,
    claims: SharedArrayBuffer,
  ) {
    this.id = id;
    this.terminate = terminate;
    this.port = port;
    this.pool = pool;
    this.claims = new Int32Array(claims);
  }
}

/**
 * Runs page modules in supervised isolates.
 *
 * Each generation of the site's code (every page and module under the
 * root as they are now) gets isolates of its own; an edit to a page, or to
 * any module under the root, starts a new generation on the next request:
 * the old isolates finish their requests and are ended. Module state lives
 * as long as an isolate.
 */
export function createIsolateRunner(
  options: IsolateRunnerOptions,
): IsolateRunner {
  const { files, maxFields = DEFAULT_MAX_FIELDS, sessions, trustProxy } =
    options;
  const pageTimeout = options.pageTimeout ?? DEFAULT_PAGE_TIMEOUT;
  const log = options.log ?? ((message) => console.error(message));
  const most = Math.max(
    1,
    options.isolates ?? Math.max(2, navigator.hardwareConcurrency ?? 2),
  );
  const pageMemory = options.pageMemory ?? DEFAULT_PAGE_MEMORY;
  const bodyLimits: LimitBodyOptions = {
    max: options.maxBody,
    deadline: pageTimeout,
    ...(options.bodyBudget ? { budget: options.bodyBudget } : {}),
  };
  const root = files.root;

  let current: Pool | undefined;
  let generations = 0;
  const all = new Set<Isolate>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let closing = false;
  let closed: PromiseWithResolvers<void> | undefined;
  let isolateIds = 0;
  /** Isolates ended while stuck in a page (their threads may still spin). */
  let stuck = 0;
  let spawner: Spawner | undefined;
  /** The isolates the spawner started, by id, until they end. */
  const spawned = new Map<number, Isolate>();

  function newPool(): Pool {
    return {
      generation: files.codeGeneration?.() ?? generations,
      pages: new Map(),
      isolates: new Set(),
    };
  }

  function entryFor(file: FileInfo, version: string): PageEntry {
    const name = relativeName(root, file.path);
    return {
      file,
      version,
      url: toFileUrl(file.path).href,
      name,
      refused: mayWrite(file.path) ? writablePage(name) : undefined,
    };
  }

  /**
   * The current pool and its entry for `file`: a new pool when the code
   * changed (a module under the root, or this page's file).
   */
  function poolFor(file: FileInfo): [Pool, PageEntry] {
    const code = files.codeGeneration?.() ?? generations;
    let pool = current;
    if (pool !== undefined && pool.generation === code) {
      const entry = pool.pages.get(file.path);
      if (entry?.file === file) return [pool, entry];
      const version = versionOf(file);
      if (entry === undefined) {
        const fresh = entryFor(file, version);
        pool.pages.set(file.path, fresh);
        return [pool, fresh];
      }
      if (entry.version === version) {
        entry.file = file;
        return [pool, entry];
      }
    }
    const version = versionOf(file);
    pool = nextGeneration();
    const entry = entryFor(file, version);
    pool.pages.set(file.path, entry);
    return [pool, entry];
  }

  /** A pool for the code as it is now; the current one retires. */
  function nextGeneration(): Pool {
    if (current !== undefined) retirePool(current);
    generations++;
    return current = newPool();
  }

  function retirePool(pool: Pool): void {
    for (const isolate of pool.isolates) retire(isolate);
  }

  function spawn(pool: Pool): Isolate {
    const claims = new SharedArrayBuffer(
      CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT,
    );
    const channel = new MessageChannel();
    const setup: IsolateSetup = {
      maxFields,
      pageTimeout,
      claims,
      port: channel.port2,
    };
    const id = ++isolateIds;
    let isolate: Isolate;
    if (spawner?.start(id, setup)) {
      const by = spawner;
      isolate = new Isolate(id, () => by.end(id), channel.port1, pool, claims);
      spawned.set(id, isolate);
    } else {
      const worker = new Worker(WORKER_URL, {
        workerData: setup,
        transferList: [channel.port2],
        resourceLimits: { maxOldGenerationSizeMb: pageMemory },
      });
      isolate = new Isolate(
        id,
        () => worker.terminate(),
        channel.port1,
        pool,
        claims,
      );
      worker.on("error", (error: unknown) => failed(isolate, error));
      worker.on("exit", (code: number) => exited(isolate, code));
      startSpawnerSoon();
    }
    pool.isolates.add(isolate);
    all.add(isolate);
    channel.port1.onmessage = ({ data }: MessageEvent<unknown[][]>) =>
      onBatch(isolate, data);
    startSweeping();
    return isolate;
  }

  function failed(isolate: Isolate, error: unknown): void {
    isolate.ending.error ??= error;
  }

  function exited(isolate: Isolate, code: number): void {
    isolate.ending.code ??= code;
    ended(isolate);
  }

  /** The spawner's start, while it waits (see SPAWNER_DELAY_MS). */
  let spawnerDue: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts the spawner, once, {@linkcode SPAWNER_DELAY_MS} after the first
   * isolate the server started itself: from then on isolates start on its
   * thread while it has a spare, not on the server's.
   */
  function startSpawnerSoon(): void {
    if (spawner !== undefined || spawnerDue !== undefined || closing) return;
    spawnerDue = setTimeout(() => {
      spawnerDue = undefined;
      startSpawner();
    }, SPAWNER_DELAY_MS);
  }

  function startSpawner(): void {
    if (spawner !== undefined || closing) return;
    spawner = new Spawner({ url: WORKER_URL.href, pageMemory }, SPAWNER_URL, {
      failed(id, error) {
        const isolate = spawned.get(id);
        if (isolate !== undefined) failed(isolate, error);
      },
      exited(id, code) {
        const isolate = spawned.get(id);
        if (isolate !== undefined) exited(isolate, code);
      },
      noSpares(reason) {
        log(
          `scriptserver: page isolates start on the server's thread from now on (each start pauses it for tens of milliseconds): ${reason}`,
        );
      },
    });
  }

  /**
   * Where a new request goes: the pool's first isolate that is not busy
   * with a batch, else a new isolate (within the limits), else the one
   * with the fewest requests. Under load that is one isolate while it
   * keeps up: each isolate more is one more thread for the server to wake,
   * in smaller batches.
   */
  function choose(pool: Pool): Isolate | undefined {
    let free: Isolate | undefined;
    let least: Isolate | undefined;
    let healthy = 0;
    for (const isolate of pool.isolates) {
      if (isolate.stalled || isolate.retiring || isolate.ended) continue;
      healthy++;
      if (free === undefined && !busy(isolate)) free = isolate;
      if (least === undefined || isolate.jobs.size < least.jobs.size) {
        least = isolate;
      }
    }
    if (free !== undefined) return free;
    if (
      healthy < most &&
      // Isolates stuck in a page count too, up to twice the limit, and so
      // do those ended while stuck, whose threads Deno 2.9.6 does not stop
      // (they spin until the process ends): a flood of pages that never
      // yield must not start threads forever.
      all.size + stuck < 2 * most
    ) {
      return spawn(pool);
    }
    return least;
  }

  /**
   * Whether an isolate has worked on its last batch for longer than
   * {@linkcode BUSY_MS}: it is short of CPU, or stuck in a page. One that
   * is starting up is not, nor one importing a page for the first time (as
   * after an edit, under load) for up to {@linkcode IMPORT_MS}: another
   * would have to start and import too, and starting one stops the
   * server's thread for tens of milliseconds.
   */
  function busy(isolate: Isolate): boolean {
    if (!isolate.ready || isolate.unacked === undefined) return false;
    const working = performance.now() - isolate.sentAt;
    return working > BUSY_MS &&
      (working > IMPORT_MS || !importing(isolate));
  }

  /** Whether an isolate may still be importing a page of its last batch. */
  function importing(isolate: Isolate): boolean {
    return isolate.imports.some((slot) =>
      slot < 0 || Atomics.load(isolate.claims, slot) === UNCLAIMED
    );
  }

  /** The job a message is the request of, while `isolate` has it. */
  function jobOf(isolate: Isolate, message: unknown[]): Job | undefined {
    return message[0] === REQUEST
      ? isolate.jobs.get(message[1] as number)
      : undefined;
  }

  function assign(job: Job, pool: Pool): void {
    const isolate = choose(pool);
    if (isolate === undefined) {
      job.reject(
        new HttpError(
          503,
          stuck >= 2 * most
            ? "Page isolates are stuck in pages that never yield; the server must be restarted."
            : "Every page isolate is busy with a page that does not answer; try again shortly.",
          { headers: { "retry-after": "5" } },
        ),
      );
      return;
    }
    const id = isolate.jobs.add(job);
    if (id === -1) {
      job.reject(
        new HttpError(503, "Too many requests for pages at once.", {
          headers: { "retry-after": "5" },
        }),
      );
      return;
    }
    job.id = job.message[1] = id;
    job.isolate = isolate;
    isolate.idleSince = undefined;
    post(
      isolate,
      job.message,
      job.body instanceof Uint8Array ? job.body.buffer : job.body,
    );
  }

  function post(
    isolate: Isolate,
    message: unknown[],
    transfer?: Transferable,
  ): void {
    isolate.outbox.push(message);
    if (transfer !== undefined) isolate.transfers.push(transfer);
    if (isolate.unacked === undefined && isolate.outbox.length === 1) {
      queueMicrotask(() => flush(isolate));
    }
  }

  /** Sends what is waiting, unless the last batch is still unanswered. */
  function flush(isolate: Isolate): void {
    if (
      isolate.unacked !== undefined || isolate.outbox.length === 0 ||
      isolate.ended
    ) {
      return;
    }
    const batch = isolate.outbox;
    const transfer = isolate.transfers;
    isolate.outbox = [];
    isolate.transfers = [];
    isolate.unacked = batch;
    isolate.sentAt = performance.now();
    isolate.imports = [];
    // The last batch was acknowledged: its slots are free.
    let slot = 0;
    for (const message of batch) {
      if (message[0] !== REQUEST) continue;
      if (message[REQUEST_BODY] === undefined && slot < CLAIM_SLOTS) {
        Atomics.store(isolate.claims, slot, UNCLAIMED);
        message[REQUEST_SLOT] = slot++;
      } else message[REQUEST_SLOT] = -1;
      const page = message[REQUEST_PAGE] as string;
      if (!isolate.pages.has(page)) {
        isolate.pages.add(page);
        isolate.imports.push(message[REQUEST_SLOT] as number);
      }
    }
    try {
      isolate.port.postMessage(batch, transfer);
    } catch (error) {
      // Nothing the server sends fails to clone but the odd session value.
      isolate.unacked = undefined;
      for (const message of batch) {
        // Sent alone, acknowledged alone: no slot.
        if (message[0] === REQUEST) message[REQUEST_SLOT] = -1;
        try {
          isolate.port.postMessage([message]);
        } catch {
          const job = jobOf(isolate, message);
          if (job !== undefined) settle(job, () => job.reject(error));
        }
      }
    }
  }

  function onBatch(isolate: Isolate, batch: unknown[][]): void {
    isolate.heardAt = Date.now();
    isolate.pingedAt = undefined;
    isolate.stalled = false;
    isolate.overdue = false;
    isolate.blamed = undefined;
    for (const message of batch) onMessage(isolate, message);
    flush(isolate);
  }

  function onMessage(isolate: Isolate, message: unknown[]): void {
    switch (message[0]) {
      case RESPONSE: {
        const job = isolate.jobs.get(message[1] as number);
        if (job === undefined || job.settled) {
          const body = message[4];
          if (body instanceof ReadableStream) body.cancel().catch(() => {});
          return;
        }
        const data = message[5] as SessionData | undefined;
        const make = () => responseOf(job, isolate, message);
        // With no session to commit, answered in this turn.
        if (data === undefined && job.session === undefined) answer(job, make);
        else {
          commitSession(job, data).then(
            () => answer(job, make),
            (error) => settle(job, () => job.reject(error)),
          );
        }
        return;
      }
      case FAILURE: {
        const job = isolate.jobs.get(message[1] as number);
        if (job === undefined || job.settled) return;
        const [, , info, data] = message as [
          number,
          number,
          ErrorInfo,
          SessionData | undefined,
        ];
        commitSession(job, data).then(
          () =>
            settle(
              job,
              () => job.reject(job.bodyLimit?.error ?? decodeError(info)),
            ),
          (error) => settle(job, () => job.reject(error)),
        );
        return;
      }
      case CALL:
        onCall(isolate, message);
        return;
      case PONG: {
        const lost = message[1] as number | undefined;
        if (lost === undefined) return;
        const job = isolate.jobs.get(lost);
        // V8 stopped that page, and the isolate may not be sound.
        retire(isolate);
        if (job === undefined) return;
        log(
          `scriptserver: page "${job.name}" exhausted its isolate's heap (--page-memory ${pageMemory} MiB); answered 500`,
        );
        const error = new RangeError(
          `The page used more than its isolate's heap limit (${pageMemory} MiB, --page-memory) and was stopped`,
        );
        // Where: the page (V8 stops it with no trace of its own).
        error.stack = `RangeError: ${error.message}\n    at ${
          toFileUrl(job.target.file.path).href
        }:1:1`;
        settle(
          job,
          () => job.reject(new PageError(job.name, error.message, error)),
        );
        return;
      }
      case TIMED_OUT: {
        // The isolate stopped a page that ran too long, and lives on.
        const job = isolate.jobs.get(message[1] as number);
        if (job !== undefined && !job.settled) {
          settle(job, () => job.reject(timedOut(job)));
        }
        return;
      }
      case LOST: {
        // The isolate stopped a page after an await or in a timer, and V8
        // dropped what else it had queued: it cannot answer for its other
        // requests. Each is answered here, and it ends, its thread with it.
        const [, ids, where = "after an await", page] = message as [
          number,
          number[],
          LostWhere?,
          string?,
        ];
        const suspects = new Set(ids);
        retire(isolate);
        // Those it was not sent yet go to another isolate.
        reroute(isolate);
        const jobs = [...isolate.jobs.values()];
        const named = isolate.blamed ?? page ??
          jobs.find((job) => suspects.has(job.id))?.name;
        for (const job of jobs) {
          const error = suspects.has(job.id) ? timedOut(job) : new HttpError(
            503,
            "The page shared an isolate with a page that did not answer in time.",
          );
          settle(job, () => job.reject(error));
        }
        const others = jobs.filter((job) => !suspects.has(job.id)).length;
        log(
          `scriptserver: ${
            named === undefined ? "a page" : `page "${named}"`
          } ran past --page-timeout ${where} and was stopped; its isolate then could not answer for its other requests, so it was ended${
            others === 0 ? "" : ` and ${others} of them were answered 503`
          }`,
        );
        return;
      }
      case STRAY: {
        const [, info, page] = message as [number, ErrorInfo, string?];
        log(
          `scriptserver: ${
            page === undefined ? "a page" : `page "${page}"`
          }: an error no code awaited (thrown in a timer, or a promise nobody awaited): ${
            info.stack ?? info.message
          }`,
        );
        return;
      }
      case ACK:
        isolate.unacked = undefined;
        return;
      case READY:
        isolate.ready = true;
        return;
      case EXITING:
        isolate.ending.how = message[1] as string;
        isolate.ending.stack = message[2] as string;
        return;
    }
  }

  /** Session options for a job: its cookie goes to the job's own headers. */
  function sessionOptions(job: Job): OpenSessionOptions {
    return {
      store: sessions,
      responseHeaders: job.cookies ??= new Headers(),
      secure: isHttps(job.request, trustProxy),
    };
  }

  /** Makes the server's session hold what the page's holds. */
  function sync(job: Job, data: SessionData): RequestSession {
    const session = job.session ??= newSession(sessionOptions(job));
    const target = session.data;
    for (const key of Object.keys(target)) {
      if (!Object.hasOwn(data, key)) delete target[key];
    }
    // Defined, not assigned: a "__proto__" key stays a key, as in-process.
    for (const key of Object.keys(data)) {
      Object.defineProperty(target, key, {
        value: data[key],
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
    return session;
  }

  async function commitSession(
    job: Job,
    data: SessionData | undefined,
  ): Promise<void> {
    if (data !== undefined) sync(job, data);
    await job.session?.commit();
  }

  /** Settles a job with the Response `make` makes, or what it throws. */
  function answer(job: Job, make: () => Response): void {
    let response: Response;
    try {
      response = make();
    } catch (error) {
      settle(job, () => job.reject(error));
      return;
    }
    settle(job, () => job.resolve(response));
  }

  /** The Response for a RESPONSE message, once its session is committed. */
  function responseOf(
    job: Job,
    isolate: Isolate,
    message: unknown[],
  ): Response {
    const [, , status, head, body] = message as [
      number,
      number,
      number,
      number | string[],
      string | Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null,
    ];
    const cookies = job.cookies;
    let headers: HeadersInit = typeof head === "number"
      ? PRESET[head]!
      : headersOf(head);
    if (cookies !== undefined) {
      const merged = new Headers(headers);
      for (const cookie of cookies.getSetCookie()) {
        merged.append("set-cookie", cookie);
      }
      headers = merged;
    }
    if (body instanceof ReadableStream) {
      return new Response(guarded(body, isolate), { status, headers });
    }
    return body === null
      ? new Response(null, { status, headers })
      : memoryResponse(body, { status, headers });
  }

  /**
   * A stream from an isolate, ended with an error if the isolate ends (a
   * transferred stream would wait forever).
   */
  function guarded(
    stream: ReadableStream<Uint8Array>,
    isolate: Isolate,
  ): ReadableStream<Uint8Array> {
    const reader = stream.getReader();
    let control: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        control = controller;
        isolate.streams.add(controller);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            isolate.streams.delete(control);
            controller.close();
            maybeEnd(isolate);
          } else controller.enqueue(value);
        } catch (error) {
          isolate.streams.delete(control);
          controller.error(error);
          maybeEnd(isolate);
        }
      },
      cancel(reason) {
        isolate.streams.delete(control);
        reader.cancel(reason).catch(() => {});
        maybeEnd(isolate);
      },
    });
  }

  function onCall(isolate: Isolate, message: unknown[]): void {
    const [, callId, requestId, op, ...args] = message as [
      number,
      number,
      number,
      string,
      ...unknown[],
    ];
    const job = isolate.jobs.get(requestId);
    const reply = (error: unknown, value?: unknown) => {
      if (isolate.ended) return;
      post(isolate, [
        REPLY,
        callId,
        error === undefined ? undefined : encodeError(error),
        value,
      ]);
    };
    if (job === undefined || job.settled) {
      reply(new Error("The request is over"));
      return;
    }
    let answer: Promise<unknown>;
    if (op === "render") {
      const [path, values, layout] = args as [
        string,
        Record<string, unknown>,
        string | undefined,
      ];
      answer = options.render(
        job.target.file,
        path,
        decodeValues(values),
        layout === undefined ? undefined : { layout },
      )
        .then(async (response) => [
          response.status,
          flatHeaders(response.headers),
          await response.text(),
        ]);
    } else {
      const session = sync(job, args[0] as SessionData);
      const before = session.data;
      answer = (op === "end" ? session.end() : session.regenerate()).then(
        () => session.data !== before,
      );
    }
    answer.then((value) => reply(undefined, value), (error) => reply(error));
  }

  /** Settles a job and lets its isolate go if it was the last. */
  function settle(job: Job, how: () => void): void {
    how();
    const isolate = job.isolate;
    if (isolate === undefined) return;
    isolate.jobs.delete(job.id);
    if (isolate.jobs.size > 0 || isolate.ended) return;
    if (maybeEnd(isolate)) return;
    // Extra isolates end when idle for a while (see sweep()).
    if (isolate.pool.isolates.size > 1) isolate.idleSince ??= Date.now();
  }

  /** No new requests for `isolate`; it ends once idle. */
  function retire(isolate: Isolate): void {
    isolate.retiring = true;
    isolate.pool.isolates.delete(isolate);
    maybeEnd(isolate);
  }

  function maybeEnd(isolate: Isolate): boolean {
    if (!isolate.retiring || isolate.ended) return false;
    if (isolate.jobs.size > 0 || isolate.streams.size > 0) return false;
    terminate(isolate);
    return true;
  }

  function terminate(isolate: Isolate): void {
    if (isolate.ended) return;
    isolate.ending.terminated = true;
    isolate.retiring = true;
    isolate.terminate();
    ended(isolate);
  }

  /** An isolate has ended: whatever it still had gets an answer. */
  function ended(isolate: Isolate): void {
    if (isolate.ended) {
      return;
    }
    isolate.ended = true;
    spawned.delete(isolate.id);
    isolate.port.close();
    isolate.pool.isolates.delete(isolate);
    all.delete(isolate);
    const gone = new Error("The page's isolate ended");
    for (const stream of isolate.streams) stream.error(gone);
    isolate.streams.clear();
    const jobs = [...isolate.jobs.values()];
    if (jobs.length > 0 && !isolate.ending.terminated) {
      const error = endingError(isolate);
      const named = pageIn(isolate.ending) ?? jobs[0]!.name;
      log(
        `scriptserver: page "${named}" ${error.message}; ${jobs.length} request${
          jobs.length === 1 ? "" : "s"
        } answered 500`,
      );
      for (const job of jobs) {
        const page = new PageError(
          job.name,
          `Page "${job.name}": ${error.message}`,
          error,
        );
        settle(job, () => job.reject(page));
      }
    } else if (!isolate.ending.terminated && isolate.ending.error) {
      log(
        `scriptserver: a page isolate ended on an uncaught error: ${
          describe(isolate.ending.error)
        }`,
      );
    }
    for (const job of jobs) {
      settle(
        job,
        () => job.reject(new HttpError(503, "The page's isolate ended")),
      );
    }
    if (all.size === 0) {
      stopSweeping();
      closed?.resolve();
    }
  }

  /** The root file named in how an isolate ended, if any. */
  function pageIn(ending: Ending): string | undefined {
    const stack = ending.stack ??
      (ending.error instanceof Error ? ending.error.stack : undefined);
    if (stack === undefined) return undefined;
    const prefix = toFileUrl(root).href + "/";
    const at = stack.indexOf(prefix);
    if (at === -1) return undefined;
    const rest = stack.slice(at + prefix.length).match(/^[^:?#)\s]+/);
    return rest === null ? undefined : decodeURI(rest[0]);
  }

  function endingError(isolate: Isolate): Error {
    const { code, how, stack, error } = isolate.ending;
    if (outOfMemory(error)) {
      // Deno ends a Worker whose page exhausts its heap while it runs in a
      // task of its own, as pages do (see page_worker.ts).
      return new Error(
        `exhausted its isolate's heap limit (${pageMemory} MiB, --page-memory), which ended the isolate`,
        { cause: error },
      );
    }
    if (error !== undefined) {
      const ending = new Error(
        `ended its isolate with an uncaught error: ${describe(error)}`,
        { cause: error },
      );
      if (error instanceof Error && error.stack) ending.stack = error.stack;
      return ending;
    }
    if (stack !== undefined) {
      const ending = new Error(`ended its isolate: it called ${how}`);
      // Where the page called it, without the isolate's own frames.
      const frames = stack.split("\n").slice(1).filter((line) =>
        !line.includes(WORKER_URL.href)
      );
      ending.stack = `Error: ${ending.message}\n${frames.join("\n")}`;
      return ending;
    }
    return new Error(
      `ended its isolate unexpectedly (exit code ${code ?? "unknown"})`,
    );
  }

  /** Whether an isolate ended for exhausting its heap (also as the spawner relays it). */
  function outOfMemory(error: unknown): boolean {
    return error instanceof Error &&
      ((error as { code?: unknown }).code === "ERR_WORKER_OUT_OF_MEMORY" ||
        error.message.includes(
          "Worker terminated due to reaching memory limit",
        ));
  }

  function describe(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }

  function startSweeping(): void {
    if (sweeper !== undefined) return;
    sweeper = setInterval(sweep, SWEEP_MS);
  }

  function stopSweeping(): void {
    if (sweeper === undefined) return;
    clearInterval(sweeper);
    sweeper = undefined;
  }

  function timedOut(job: Job): HttpError {
    return pageTimedOut(job.name, pageTimeout, log);
  }

  /** Checks on every isolate: silent ones, late pages, gone clients. */
  function sweep(): void {
    const now = Date.now();
    for (const isolate of [...all]) {
      if (isolate.ended) continue;
      if (!isolate.ready) {
        if (now - isolate.startedAt > BOOT_MS) {
          isolate.ending.error = new Error(
            `a page isolate did not start within ${BOOT_MS / 1000} s`,
          );
          isolate.ending.terminated = false;
          isolate.terminate();
        }
        continue;
      }
      if (
        isolate.idleSince !== undefined && now - isolate.idleSince > IDLE_MS &&
        isolate.jobs.size === 0 && isolate.pool.isolates.size > 1 &&
        !isolate.retiring
      ) {
        isolate.idleSince = undefined;
        retire(isolate);
        continue;
      }
      const busy = isolate.jobs.size > 0 || isolate.unacked !== undefined;
      if (busy && now - isolate.heardAt > STALL_MS) {
        if (isolate.pingedAt === undefined) {
          isolate.pingedAt = now;
          isolate.port.postMessage([[PING]]);
        } else if (now - isolate.pingedAt > STALL_MS && !isolate.stalled) {
          isolate.stalled = true;
          reroute(isolate);
        }
      }
      const late: Job[] = [];
      for (const job of isolate.jobs.values()) {
        if (job.request.signal.aborted) {
          settle(
            job,
            () => job.resolve(new Response(null, { status: CLIENT_GONE })),
          );
          if (!isolate.stalled) post(isolate, [CANCEL, job.id]);
        } else if (now - job.started > pageTimeout) {
          if (isolate.stalled) late.push(job);
          else {
            settle(job, () => job.reject(timedOut(job)));
            post(isolate, [CANCEL, job.id]);
          }
        }
      }
      if (late.length > 0) isolate.overdue = true;
      if (isolate.overdue) handleOverdue(isolate, late);
      if (closing && isolate.stalled) terminate(isolate);
    }
    if (all.size === 0) stopSweeping();
  }

  /**
   * A stalled isolate with a page past `--page-timeout` (`late`: those of
   * its requests, not yet answered): it has a while to stop the page
   * itself, else it is ended.
   */
  function handleOverdue(isolate: Isolate, late: Job[]): void {
    if (
      isolate.unacked !== undefined &&
      performance.now() - isolate.sentAt < pageTimeout + GUARD_GRACE_MS
    ) {
      // A page of its last batch never yields, and the isolate stops it
      // at --page-timeout (see guard.ts): the batch's late requests are
      // answered, the isolate has a while yet.
      for (const message of isolate.unacked) {
        const job = jobOf(isolate, message);
        if (job !== undefined && late.includes(job)) {
          isolate.blamed ??= job.name;
          settle(job, () => job.reject(timedOut(job)));
        }
      }
      return;
    }
    if (
      isolate.unacked === undefined &&
      Date.now() - isolate.heardAt < pageTimeout + GUARD_GRACE_MS
    ) {
      // Its pages had all started, and one never yields: in a timer, or
      // in code a timer resumed, the isolate stops it within
      // --page-timeout of when it last spoke (see guardTimers in
      // page_worker.ts). The late requests are answered meanwhile.
      for (const job of late) {
        isolate.lateNames.add(job.name);
        settle(job, () => job.reject(timedOut(job)));
      }
      return;
    }
    // It runs a page that never yields, and did not stop it (the page
    // spins after I/O): end it. The spinning page is one
    // of the batch it never acknowledged (if all were, any of its
    // requests); the other requests it had are answered too.
    const suspects = new Set<Job>();
    for (const message of isolate.unacked ?? []) {
      const job = jobOf(isolate, message);
      if (job !== undefined) suspects.add(job);
    }
    if (suspects.size === 0 && isolate.blamed === undefined) {
      // Its pages had all started: the one spinning (after I/O) is one
      // of them, or of those answered late meanwhile, and nothing tells
      // which (the first one late may be a page that waits).
      for (const job of isolate.jobs.values()) suspects.add(job);
    }
    const names = [
      ...new Set([
        ...isolate.lateNames,
        ...[...suspects].map((job) => job.name),
      ]),
    ].sort();
    const named = isolate.blamed !== undefined
      ? `page "${isolate.blamed}"`
      : names.length === 0
      ? "a page"
      : names.length === 1
      ? `page "${names[0]}"`
      : `one of the pages ${names.map((name) => `"${name}"`).join(", ")}`;
    for (const job of [...isolate.jobs.values()]) {
      const error = suspects.has(job) ? timedOut(job) : new HttpError(
        503,
        "The page shared an isolate with a page that did not answer in time.",
      );
      settle(job, () => job.reject(error));
    }
    terminate(isolate);
    if (closing) return;
    stuck++;
    log(
      `scriptserver: ${named} never yields where its isolate cannot stop it (after I/O, say): the isolate was ended, but Deno does not stop its thread, which uses a core until the server restarts (${stuck} of at most ${
        2 * most
      })`,
    );
    // Said once, when the limit is reached.
    if (stuck === 2 * most) {
      log(
        `scriptserver: ${stuck} page isolates were ended while stuck in a page that never yields, and Deno does not stop their threads: no more isolates start until the server restarts (fix the page, then restart)`,
      );
    }
  }

  /**
   * Requests a stalled isolate has not started go elsewhere: those still
   * waiting to be sent, and those of its last batch that it has not
   * claimed (they came with the page it is stuck in).
   */
  function reroute(isolate: Isolate): void {
    const kept: unknown[][] = [];
    const moved: Job[] = [];
    for (const message of isolate.unacked ?? []) {
      // Answered jobs are no longer the isolate's; a job with a body has
      // no slot (-1).
      const job = jobOf(isolate, message);
      const slot = message[REQUEST_SLOT] as number;
      if (
        job !== undefined && slot !== -1 &&
        Atomics.compareExchange(isolate.claims, slot, UNCLAIMED, TAKEN_BACK) ===
          UNCLAIMED
      ) {
        moved.push(job);
      }
    }
    for (const message of isolate.outbox) {
      const job = jobOf(isolate, message);
      if (job === undefined || job.body !== undefined) kept.push(message);
      else moved.push(job);
    }
    isolate.outbox = kept;
    for (const job of moved) {
      isolate.jobs.delete(job.id);
      assign(job, isolate.pool.isolates.size > 0 ? isolate.pool : current!);
    }
  }

  /** Whether a request declares a body of at most {@linkcode SMALL_BODY} bytes. */
  function isSmall(request: Request): boolean {
    const declared = declaredLength(request);
    return declared !== undefined && declared <= SMALL_BODY;
  }

  /** A job for a request with a body to read or a session to look up. */
  async function prepare(
    request: Request,
    target: Target,
    page: PageEntry,
  ): Promise<Job> {
    let body: RequestBody | undefined;
    // What the limits throw (408, 413, 503) while a longer body streams to
    // the isolate is kept to answer with.
    const limit: { error?: unknown } = {};
    if (mayHaveBody(request)) {
      const limited = limitBody(request, bodyLimits);
      if (limited.body !== null && isSmall(request)) {
        // Read here, within the same limits (and --page-timeout): what
        // they throw (408, 413, 503) is the answer, and the page does not
        // run.
        body = await limited.bytes();
      } else if (limited.body !== null) {
        const reader = limited.body.getReader();
        body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { done, value } = await reader.read();
              if (done) controller.close();
              else controller.enqueue(value);
            } catch (error) {
              limit.error ??= error;
              controller.error(error);
            }
          },
          cancel(reason) {
            return reader.cancel(reason);
          },
        }, { highWaterMark: 0 });
      }
    }
    const job = new Job(request, target, page, body);
    job.bodyLimit = limit;
    // Only a request with cookies can name a session. If the store cannot
    // say (it is down), only a page that uses the session fails.
    if (request.headers.has("cookie")) {
      try {
        job.session = await openSession(request, sessionOptions(job));
        job.message[11] = job.session.data;
      } catch (error) {
        job.message[12] = encodeError(error);
      }
    }
    return job;
  }

  return {
    run(request, target) {
      if (closing) {
        return Promise.reject(
          new HttpError(503, "The server is shutting down."),
        );
      }
      const [pool, page] = poolFor(target.file);
      if (page.refused !== undefined) return Promise.reject(page.refused);
      if (!mayHaveBody(request) && !request.headers.has("cookie")) {
        // The hot path: nothing to read or look up first.
        const job = new Job(request, target, page, undefined);
        assign(job, pool);
        return job.promise;
      }
      return prepare(request, target, page).then((job) => {
        // The code may have changed meanwhile.
        assign(job, poolFor(target.file)[0]);
        return job.promise;
      });
    },

    warm() {
      if (closing || current === undefined) return;
      if (current.generation === (files.codeGeneration?.() ?? generations)) {
        return;
      }
      // No isolate in the new pool: this starts one.
      choose(nextGeneration());
    },

    close(graceMs = 2_000) {
      closing = true;
      clearTimeout(spawnerDue);
      spawnerDue = undefined;
      const shutDown = () => spawner?.shutDown();
      if (all.size === 0) return Promise.resolve(shutDown());
      closed ??= Promise.withResolvers<void>();
      for (const isolate of [...all]) {
        if (isolate.stalled) terminate(isolate);
        else retire(isolate);
      }
      const timer = setTimeout(() => {
        for (const isolate of [...all]) terminate(isolate);
      }, graceMs);
      return closed.promise.finally(() => clearTimeout(timer)).then(shutDown);
    },
  };
}
