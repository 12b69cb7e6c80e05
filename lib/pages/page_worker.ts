/**
 * A page isolate: the module the server starts in each of its page
 * Workers (see isolate_runner.ts). It imports pages, builds their context
 * from the requests the server sends, and sends back what they answer;
 * what only the server can do (templates, the session store) it asks for.
 *
 * @module
 */
import { parseForm } from "../body.ts";
import { HttpError } from "../http_error.ts";
import { PageError } from "./page_error.ts";
import { importPage } from "./page_module.ts";
import {
  type ContextServices,
  createContext,
  type PageFunction,
  type RequestParts,
} from "./page_context.ts";
import { mergeHeaders, pageResultParts } from "./page_response.ts";
import type { RequestSession } from "../sessions/session.ts";
import type { SessionData } from "../sessions/session_store.ts";
import type { RenderOptions, TemplateValues } from "../templates/template.ts";
import type { FileInfo } from "../files/files.ts";
import type { ConnectionInfo, Target } from "../types.ts";
import {
  ACK,
  CALL,
  CANCEL,
  CLAIMED,
  decodeError,
  encodeError,
  encodeValues,
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
  PRESET_BYTES,
  PRESET_HTML,
  PRESET_JSON,
  PRESET_NONE,
  READY,
  REPLY,
  REQUEST,
  REQUEST_SLOT,
  RESPONSE,
  STRAY,
  TIMED_OUT,
  UNCLAIMED,
} from "./isolate_protocol.ts";
import { guarded, runMicrotasks } from "./guard.ts";
import { type SpareSetup, WAITING } from "./spawner_protocol.ts";
import { threads } from "./threads.ts";
// What pages import as "scriptserver": loaded before any page.
import "../page_api.ts";

/**
 * What the server tells this isolate: its `workerData`, or for a spare
 * (started ahead by the spawner, see spawner_worker.ts) the first message
 * on the control port it was given, once its modules are loaded.
 */
async function setupOf(): Promise<IsolateSetup> {
  const given = threads.workerData as
    | Partial<IsolateSetup & SpareSetup>
    | undefined;
  if (given?.port !== undefined) return given as IsolateSetup;
  const control = given?.control;
  if (control === undefined) {
    throw new Error("page_worker.ts runs in a page isolate only");
  }
  const { promise, resolve } = Promise.withResolvers<IsolateSetup>();
  control.onmessage = ({ data }: MessageEvent<IsolateSetup>) => {
    control.close();
    resolve(data);
  };
  control.postMessage(WAITING);
  return await promise;
}

const setup = await setupOf();
const port = setup.port;
const claims = new Int32Array(setup.claims);

/**
 * How far a page isolate's thread gives way to the server's (a nice
 * value): a page short of CPU, or stuck in a loop, then slows static files,
 * listings and the other isolates' answers less. The lowest priority:
 * measured on 2026-12-03, while two pages spun, a static file's p99 was
 * 3.3 and 3.7 ms against 2.2 and 1.6 calm, and 4.9 at nice 10 (against
 * 2.0); the hello page under load answered as fast at either (34.4 and
 * 40.6k against 35.3 and 41.3k req/s).
 */
const PAGE_NICE = 19;
// Only on Linux, where setpriority() with pid 0 sets the calling thread's
// priority (elsewhere it is the whole process's), and only where the
// process may (--allow-sys=setPriority, which -A includes).
if (
  Deno.build.os === "linux" &&
  Deno.permissions.querySync({ name: "sys", kind: "setPriority" }).state ===
    "granted"
) {
  // By a specifier the type checker does not follow: see threads.ts.
  const OS = "node:os";
  const os: { setPriority(pid: number, priority: number): void } = await import(
    OS
  );
  try {
    os.setPriority(0, PAGE_NICE);
  } catch {
    // Not allowed here (a sandbox): pages run at the server's priority.
  }
}
// Page code written for Web Workers and browsers reaches the global as
// `self`, which node:worker_threads does not define.
(globalThis as { self?: unknown }).self ??= globalThis;

// A page that ends its isolate is told apart from a crash: the server
// hears how and where, and can name the page in its log.
const exit = Deno.exit;
function exiting(how: string): void {
  port.postMessage([[EXITING, how, new Error("exit").stack ?? ""]]);
}
Object.defineProperty(Deno, "exit", {
  value: (code?: number): never => {
    exiting(`Deno.exit(${code ?? ""})`);
    return exit(code);
  },
});
(globalThis as { close?: () => void }).close = () => {
  exiting("self.close()");
  exit(0);
};

// An error no page awaited (thrown in a timer, a promise nobody awaited)
// is logged by the server, as in-process; requests of the page it came
// from that are still running get a 500 with it. The isolate lives on.
function stray(error: unknown): void {
  const stack = error instanceof Error ? error.stack ?? "" : "";
  let named: PageCall | undefined;
  for (const call of calls.values()) {
    if (!stack.includes(`${call.url}:`)) continue;
    named ??= call;
    fail(
      call,
      new PageError(
        call.name,
        `Page "${call.name}" failed: an error no code awaited`,
        error,
      ),
    );
  }
  send([STRAY, encodeError(error), named?.name]);
}
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  stray(event.error);
});
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  stray(event.reason);
});

// Messages go out in batches: one per batch received (the server sends
// the next batch once this one arrives), and one per turn of the event
// loop for answers that came later.
let outbox: unknown[][] = [];
let transfers: Transferable[] = [];
let flushing = false;
/** Whether messages wait for the end of the task that sends them (see sendingOnce). */
let holding = false;

function send(message: unknown[], transfer?: Transferable): void {
  outbox.push(message);
  if (transfer !== undefined) transfers.push(transfer);
  schedule();
}

function schedule(): void {
  if (flushing || holding) return;
  flushing = true;
  queueMicrotask(flush);
}

/**
 * Runs `work` (a task's pages), sending what it sends in one message at
 * its end: its pages' answers go out with the batch's ACK, so that the
 * server, which holds back the next batch until the ACK, never sees an
 * answer without it (a visitor's next request would find this isolate
 * still busy, and start another), and wakes once.
 */
function sendingOnce(work: () => void): void {
  holding = true;
  try {
    work();
  } finally {
    holding = false;
    if (outbox.length > 0 && !flushing) flush();
  }
}

function flush(): void {
  flushing = false;
  const batch = outbox;
  const transfer = transfers;
  outbox = [];
  transfers = [];
  try {
    port.postMessage(batch, transfer);
  } catch {
    // Something in the batch cannot be cloned (a function in the session,
    // say): send the messages one by one, and fail the one that cannot go.
    for (const message of batch) sendAlone(message);
  }
}

function sendAlone(message: unknown[]): void {
  try {
    const transfer = message.filter((part) => part instanceof ReadableStream);
    port.postMessage([message], transfer as Transferable[]);
  } catch (error) {
    const [kind, id] = message;
    if (kind === RESPONSE || kind === FAILURE) {
      const problem = new TypeError(
        `The page's answer or session cannot be sent to the server: ${
          (error as Error).message
        }. Session values and template values must be plain data (strings, numbers, arrays, plain objects).`,
        { cause: error },
      );
      const call = calls.get(id as number);
      port.postMessage([[
        FAILURE,
        id,
        encodeError(new PageError(call?.name ?? "", problem.message, problem)),
        undefined,
      ]]);
    } else if (kind === CALL) {
      replies.get(id as number)?.reject(
        new TypeError(
          `Cannot send to the server: ${
            (error as Error).message
          }. Template values must be plain data, SafeHtml (ctx.html) or arrays and objects of them.`,
          { cause: error },
        ),
      );
      replies.delete(id as number);
    }
  }
}

/** The page whose code is running now: V8 stops a page that exhausts the heap, and this tells which. */
let running: number | undefined;

/** Pages by URL: this isolate lives for one version of the code. */
const pages = new Map<
  string,
  { name: string; promise: Promise<PageFunction>; ready?: PageFunction }
>();

function pageAt(url: string, name: string) {
  let entry = pages.get(url);
  if (entry === undefined) {
    const promise = importPage(url, name);
    const created: {
      name: string;
      promise: Promise<PageFunction>;
      ready?: PageFunction;
    } = { name, promise };
    promise.then((page) => created.ready = page, () => {});
    pages.set(url, created);
    entry = created;
  }
  return entry;
}

/** Calls to the server awaiting their reply, by call id. */
const replies = new Map<
  number,
  { resolve(value: unknown): void; reject(error: unknown): void }
>();
let nextCall = 0;

function callServer(request: number, op: string, ...args: unknown[]) {
  const id = nextCall++;
  const { promise, resolve, reject } = Promise.withResolvers<unknown>();
  replies.set(id, { resolve, reject });
  send([CALL, id, request, op, ...args]);
  return promise;
}

/** The request as the page sees it, made of the message on first use. */
class IsolateRequest implements RequestParts {
  readonly method: string;
  readonly #url: string;
  readonly #flat: string[];
  readonly #body: ReadableStream<Uint8Array> | Uint8Array | undefined;
  #headers: Headers | undefined;
  #request: Request | undefined;
  controller: AbortController | undefined;

  constructor(
    method: string,
    url: string,
    flat: string[],
    body: ReadableStream<Uint8Array> | Uint8Array | undefined,
  ) {
    this.method = method;
    this.#url = url;
    this.#flat = flat;
    this.#body = body;
  }

  get headers(): Headers {
    return this.#headers ??= headersOf(this.#flat);
  }

  get request(): Request {
    if (this.#request === undefined) {
      this.controller = new AbortController();
      this.#request = new Request(this.#url, {
        method: this.method,
        headers: this.headers,
        signal: this.controller.signal,
        ...(this.#body === undefined
          ? {}
          : { body: this.#body, duplex: "half" } as RequestInit),
      });
    }
    return this.#request;
  }
}

/** The dispatcher's Target, rebuilt from the message. */
class IsolateTarget implements Target {
  readonly file: FileInfo;
  readonly scriptName: string;
  readonly pathInfo: string;
  readonly connection: ConnectionInfo | undefined;
  readonly #href: string;
  #url: URL | undefined;
  #query: URLSearchParams | undefined;

  constructor(
    path: string,
    href: string,
    scriptName: string,
    pathInfo: string,
    remote: string | undefined,
  ) {
    this.file = { path, isDirectory: false, size: 0, mtime: null };
    this.#href = href;
    this.scriptName = scriptName;
    this.pathInfo = pathInfo;
    this.connection = remote === undefined
      ? undefined
      : { remoteAddr: { transport: "tcp", hostname: remote, port: 0 } };
  }

  get url(): URL {
    return this.#url ??= new URL(this.#href);
  }

  get query(): URLSearchParams {
    if (this.#query === undefined) {
      const at = this.#href.indexOf("?");
      this.#query = new URLSearchParams(at === -1 ? "" : this.#href.slice(at));
    }
    return this.#query;
  }
}

/** Rendered templates' text, so that returning one sends a string. */
const rendered = new WeakMap<Response, string>();

/**
 * One request's state in the isolate: its context's services, and its
 * session, whose data came with the request and whose changes go back
 * with the answer (the server writes the store).
 */
class PageCall implements ContextServices, RequestSession {
  readonly id: number;
  readonly url: string;
  readonly name: string;
  /** Its claim slot, or -1 (see IsolateSetup.claims). */
  slot = -1;
  readonly parts: IsolateRequest;
  readonly target: IsolateTarget;
  parsedForm: FormData | undefined;
  headers: Headers | undefined;
  cancelled = false;
  #data: SessionData | undefined;
  #failure: ErrorInfo | undefined;
  /** Whether the page used its session (its data then goes back). */
  touched = false;
  /** Regenerations and ends, in order; the answer waits for them. */
  work: Promise<void> | undefined;
  workFailure: { error: unknown } | undefined;

  constructor(
    id: number,
    url: string,
    name: string,
    parts: IsolateRequest,
    target: IsolateTarget,
    data: SessionData | undefined,
    failure: ErrorInfo | undefined,
  ) {
    this.id = id;
    this.url = url;
    this.name = name;
    this.parts = parts;
    this.target = target;
    this.#data = data;
    this.#failure = failure;
  }

  form(): FormData {
    return this.parsedForm ??= new FormData();
  }

  responseHeaders(): Headers {
    return this.headers ??= new Headers();
  }

  session(): RequestSession {
    if (this.#failure !== undefined) throw decodeError(this.#failure);
    this.touched = true;
    return this;
  }

  get data(): SessionData {
    return this.#data ??= Object.create(null);
  }

  /** The session's data as it goes back, or `undefined` if unused. */
  get sessionOut(): SessionData | undefined {
    return this.touched ? this.data : undefined;
  }

  regenerate(): Promise<void> {
    return this.#enqueue("regenerate");
  }

  end(): Promise<void> {
    return this.#enqueue("end");
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  #enqueue(op: "regenerate" | "end"): Promise<void> {
    const run = (this.work ?? Promise.resolve()).then(async () => {
      const reset = await callServer(this.id, op, this.data);
      if (reset) this.#data = Object.create(null);
    });
    this.work = run.catch((error) => {
      this.workFailure ??= { error };
    });
    return run;
  }

  render(
    path: string,
    values: TemplateValues,
    options?: RenderOptions,
  ): Promise<Response> {
    return callServer(
      this.id,
      "render",
      path,
      encodeValues(values),
      options?.layout,
    ).then(
      (reply) => {
        const [status, flat, text] = reply as [number, string[], string];
        const response = new Response(text, {
          status,
          headers: headersOf(flat),
        });
        rendered.set(response, text);
        return response;
      },
    );
  }
}

/** Requests in this isolate, by id. */
const calls = new Map<number, PageCall>();

/** Starts a request; resolves, if not at once, when its page has started. */
function onRequest(message: unknown[]): Promise<void> | undefined {
  const [
    ,
    id,
    url,
    name,
    path,
    method,
    href,
    flat,
    scriptName,
    pathInfo,
    remote,
    data,
    failure,
    body,
  ] = message as [
    number,
    number,
    string,
    string,
    string,
    string,
    string,
    string[],
    string,
    string,
    string | undefined,
    SessionData | undefined,
    ErrorInfo | undefined,
    ReadableStream<Uint8Array> | Uint8Array | undefined,
  ];
  const parts = new IsolateRequest(method, href, flat, body);
  const target = new IsolateTarget(path, href, scriptName, pathInfo, remote);
  const call = new PageCall(id, url, name, parts, target, data, failure);
  call.slot = message[REQUEST_SLOT] as number;
  calls.set(id, call);
  const page = pageAt(url, name);
  // The hot path: a loaded page, no body, a value returned at once.
  if (page.ready !== undefined && body === undefined) {
    run(call, page.ready);
    return undefined;
  }
  const prepared = prepare(call, page.promise, body !== undefined).catch((
    error,
  ) => fail(call, error));
  // A request with a body is taken once its page is loaded: its body may
  // take long to arrive, and other requests must not wait for it.
  return body === undefined ? prepared : page.promise.then(() => {}, () => {});
}

async function prepare(
  call: PageCall,
  page: Promise<PageFunction>,
  bodied: boolean,
): Promise<void> {
  const fn = await page;
  if (bodied) {
    call.parsedForm = await parseForm(call.parts.request, setup.maxFields);
  }
  // In a task of its own (see inTask), not in this microtask.
  if (runMicrotasks === undefined) guardedPages(() => run(call, fn), () => []);
  else await runSoon(call, fn);
}

/**
 * Work that waits for a turn of the event loop of its own. A message
 * handler, or code after an `await`, runs as a microtask, where the queue
 * cannot be run (see runMicrotasks in guard.ts), so its pages' code after
 * an `await` would run past the guard; an immediate runs as a task.
 */
const later: (() => void)[] = [];
/** The isolate's own, before pages' are guarded (see guardTimers). */
const immediate = setImmediate;

function inTask(work: () => void): void {
  later.push(work);
  if (later.length === 1) immediate(runLater);
}

function runLater(): void {
  try {
    while (later.length > 0) later.shift()!();
  } finally {
    // Should one fail, the work after it still gets its turn.
    if (later.length > 0) immediate(runLater);
  }
}

/** Pages ready to run once their import or form is done (see runSoon). */
let ready: { call: PageCall; page: PageFunction; started: () => void }[] = [];

/**
 * Runs a page in a task of its own, with the others ready by then: one
 * guarded call for them all (each costs a watchdog thread, ~17 µs).
 */
function runSoon(call: PageCall, page: PageFunction): Promise<void> {
  return new Promise((started) => {
    ready.push({ call, page, started });
    if (ready.length === 1) inTask(runReady);
  });
}

function runReady(): void {
  sendingOnce(runGroup);
}

function runGroup(): void {
  const group = ready;
  ready = [];
  let next = 0;
  try {
    guardedPages(() => {
      while (next < group.length) {
        const { call, page } = group[next++]!;
        run(call, page);
      }
      // Now, so that the ACK goes out with their answers (sendingOnce).
      for (const { started } of group) started();
    }, () => group.map(({ call }) => call.id));
  } finally {
    for (const { started } of group) started();
  }
}

/**
 * Starts pages (`start`) under the guard, and then runs the microtasks
 * they queued (their code after an `await` of a settled promise) under it
 * too. A page that runs past --page-timeout is stopped: before its first
 * `await`, its request alone is dropped and `start` goes on (it is called
 * again); after, this isolate's work ends (`ids`: the requests whose page
 * may be the one stopped, asked for only then).
 */
function guardedPages(
  start: () => void,
  ids: () => readonly number[],
): void {
  let draining = false;
  const pages = () => {
    start();
    if (runMicrotasks === undefined) return;
    draining = true;
    runMicrotasks();
    draining = false;
  };
  while (!guarded(pages, setup.pageTimeout)) {
    if (draining) return giveUp(ids());
    stopped(TIMED_OUT);
  }
}

/**
 * The page running was stopped mid-run: by the guard (the server answers
 * {@linkcode TIMED_OUT} with 503), or by V8 for exhausting the heap (as
 * {@linkcode PONG}, 500). Its request is dropped here.
 */
function stopped(kind: typeof TIMED_OUT | typeof PONG): void {
  const lost = running;
  running = undefined;
  if (lost === undefined) return;
  calls.delete(lost);
  send([kind, lost]);
}

/**
 * The guard stopped a page's code after an `await` (a microtask), or in a
 * timer (see {@linkcode guardTimers}). V8 then
 * dropped every microtask still queued, any request's continuation among
 * them, so this isolate cannot tell which requests it would still answer:
 * it gives them all up, and the server answers them and ends it
 * ({@linkcode LOST}). The suspects are the page running, if one was, else
 * those of `ids` still unanswered (the microtasks run were theirs), else
 * all.
 */
function giveUp(
  ids: readonly number[],
  where: LostWhere = "after an await",
  page?: string,
): void {
  let suspects = running !== undefined
    ? [running]
    : ids.filter((id) => calls.has(id));
  // The queue also held code that I/O resumed (Deno sometimes resumes it
  // just before a task of the isolate's): if none of `ids` is left, and
  // no page is known (`page`, which none of them is), it may be any
  // request's.
  if (suspects.length === 0 && page === undefined) {
    suspects = [...calls.keys()];
  }
  // Named here too: the server may have answered them (late) already.
  if (suspects.length > 0) page ??= calls.get(suspects[0]!)?.name;
  running = undefined;
  calls.clear();
  // Its last flush may have been dropped with the rest.
  flushing = false;
  send([LOST, suspects, where, page]);
}

/** A timer a page set (see guardTimers). */
interface PageTimer {
  callback: (...args: unknown[]) => void;
  /** Where it was set: names the page, should it spin. */
  origin: Error;
  id: unknown;
  cleared: boolean;
}

/** Pages' timers that fired, waiting to run together (see guardTimers). */
let due: { timer: PageTimer; args: unknown[] }[] = [];
/** Those running now. */
let firingGroup: typeof due = [];

/**
 * Timers that pages set (`setTimeout`, `setInterval`, `setImmediate`; not
 * those of `node:timers`) run their callbacks under the guard, and the
 * code they resume (after `await` of a timer's promise, the common `await
 * sleep(ms)`) with them: a page that spins there is stopped by its
 * isolate, which gives up its requests and ends, its thread with it (Deno
 * 2.9.6 does not stop the thread of an isolate ended while it spins: see
 * guard.ts). A timer that fires queues its callback, and those that fired
 * by the next immediate run together, in one guarded call (each costs a
 * watchdog thread): under load, a page that awaits a timer would
 * otherwise pay one per request.
 */
function guardTimers(): void {
  if (runMicrotasks === undefined) return;
  const global = globalThis as unknown as Record<
    | "setTimeout"
    | "setInterval"
    | "setImmediate"
    | "clearTimeout"
    | "clearInterval"
    | "clearImmediate",
    (callback: unknown, ...rest: unknown[]) => unknown
  >;
  for (const name of ["setTimeout", "setInterval", "setImmediate"] as const) {
    const set = global[name];
    global[name] = (callback, ...rest) => {
      if (typeof callback !== "function") return set(callback, ...rest);
      const timer: PageTimer = {
        callback: callback as PageTimer["callback"],
        origin: new Error(),
        id: undefined,
        cleared: false,
      };
      timer.id = set((...args: unknown[]) => {
        due.push({ timer, args });
        if (due.length === 1) immediate(runTimers);
      }, ...rest);
      return timer.id;
    };
  }
  // A timer cleared once it fired, before its callback ran, does not run.
  for (
    const name of ["clearTimeout", "clearInterval", "clearImmediate"] as const
  ) {
    const clear = global[name];
    global[name] = (id) => {
      for (const { timer } of firingGroup) {
        if (timer.id === id) timer.cleared = true;
      }
      for (const { timer } of due) if (timer.id === id) timer.cleared = true;
      return clear(id);
    };
  }
}

function runTimers(): void {
  const group = firingGroup = due;
  due = [];
  let next = 0;
  let firing: PageTimer | undefined;
  const run = () => {
    while (next < group.length) {
      const { timer, args } = group[next++]!;
      if (timer.cleared) continue;
      firing = timer;
      try {
        timer.callback(...args);
      } catch (error) {
        // As an error thrown in a timer is (see stray).
        reportError(error);
      }
    }
    firing = undefined;
    runMicrotasks!();
  };
  sendingOnce(() => {
    let ran;
    try {
      ran = guarded(run, setup.pageTimeout);
    } finally {
      firingGroup = [];
    }
    if (ran) return;
    // In a callback (`firing`), or in the code they resumed.
    timerStopped(
      firing === undefined
        ? group.map(({ timer }) => timer.origin)
        : [firing.origin],
    );
  });
}

/** A timer's callback, or the code it resumed, was stopped by the guard. */
function timerStopped(origins: readonly Error[]): void {
  const stacks = origins.map((origin) => origin.stack ?? "");
  const setBy = (url: string) =>
    stacks.some((stack) => stack.includes(`${url}:`));
  const own = [...calls.values()].filter((call) => setBy(call.url));
  if (own.length > 0) {
    return giveUp(own.map((call) => call.id), "in a timer");
  }
  // A page whose request was answered already (a timer it left, or one
  // its module set): its URL names it, and the requests the isolate has
  // are not to blame. Else any of them may be.
  for (const [url, entry] of pages) {
    if (setBy(url)) return giveUp([], "in a timer", entry.name);
  }
  giveUp([...calls.keys()], "in a timer");
}

guardTimers();

function run(call: PageCall, page: PageFunction): void {
  if (
    call.slot !== -1 &&
    Atomics.compareExchange(claims, call.slot, UNCLAIMED, CLAIMED) !==
      UNCLAIMED
  ) {
    // The server took it back while this isolate was stuck in another
    // page, and another isolate runs it.
    calls.delete(call.id);
    return;
  }
  let value: unknown;
  running = call.id;
  try {
    value = page(createContext(call.parts, call.target, call));
  } catch (error) {
    running = undefined;
    thrown(call, error);
    return;
  }
  running = undefined;
  if (value instanceof Promise) {
    value.then(
      (result) => finish(call, result),
      (error) => thrown(call, error),
    );
  } else {
    finish(call, value);
  }
}

/** What a page threw: a Response is an answer; an HttpError passes as it is. */
function thrown(call: PageCall, error: unknown): void {
  if (error instanceof Response) return finish(call, error);
  if (error instanceof HttpError) return fail(call, error);
  fail(call, new PageError(call.name, `Page "${call.name}" failed`, error));
}

function fail(call: PageCall, error: unknown): void {
  const send_ = () => {
    if (!calls.delete(call.id) || call.cancelled) return;
    send([FAILURE, call.id, encodeError(error), call.sessionOut]);
  };
  if (call.work === undefined) send_();
  else call.work.then(send_);
}

function finish(call: PageCall, value: unknown): void {
  if (call.work !== undefined) {
    const work = call.work;
    call.work = undefined;
    work.then(() => {
      if (call.workFailure !== undefined) fail(call, call.workFailure.error);
      else finish(call, value);
    });
    return;
  }
  if (!calls.has(call.id) || call.cancelled) {
    calls.delete(call.id);
    if (value instanceof Response) value.body?.cancel().catch(() => {});
    return;
  }
  let parts;
  try {
    parts = pageResultParts(value, call.target.scriptName.slice(1));
  } catch (error) {
    fail(call, new PageError(call.name, (error as Error).message, error));
    return;
  }
  calls.delete(call.id);
  const own = call.headers;
  const session = call.sessionOut;
  switch (parts.kind) {
    case "html":
    case "json": {
      const preset = parts.kind === "html" ? PRESET_HTML : PRESET_JSON;
      send([RESPONSE, call.id, 200, headed(own, preset), parts.body, session]);
      return;
    }
    case "empty":
      send([RESPONSE, call.id, 204, headed(own, PRESET_NONE), null, session]);
      return;
    case "bytes": {
      const { body } = parts;
      const headers = headed(own, PRESET_BYTES);
      if (body instanceof ReadableStream) {
        send([RESPONSE, call.id, 200, headers, body, session], body);
      } else {
        // Copied, not transferred: the page may keep its bytes.
        send([RESPONSE, call.id, 200, headers, body, session]);
      }
      return;
    }
    case "response": {
      const original = parts.response;
      const response = own === undefined
        ? original
        : mergeHeaders(original, own);
      const text = original.bodyUsed ? undefined : rendered.get(original);
      const headers = flatHeaders(response.headers);
      const status = response.status;
      if (text !== undefined) {
        send([RESPONSE, call.id, status, headers, text, session]);
      } else if (response.body === null) {
        send([RESPONSE, call.id, status, headers, null, session]);
      } else {
        const body = response.body;
        send([RESPONSE, call.id, status, headers, body, session], body);
      }
      return;
    }
  }
}

/** The page's headers (flat), or a preset's index when it set none. */
function headed(own: Headers | undefined, preset: number): number | string[] {
  if (own === undefined) return preset;
  return flatHeaders(withDefaultType(own, preset));
}

function withDefaultType(headers: Headers, preset: number): Headers {
  const type = PRESET[preset]?.["content-type"];
  if (type !== undefined && !headers.has("content-type")) {
    headers.set("content-type", type);
  }
  return headers;
}

/**
 * Takes one message of a batch from the server.
 *
 * @returns for a request whose page starts later, when it has started.
 */
function handle(message: unknown[]): Promise<void> | undefined {
  switch (message[0]) {
    case REQUEST: {
      return onRequest(message);
    }
    case REPLY: {
      const [, id, error, value] = message as [
        number,
        number,
        ErrorInfo | undefined,
        unknown,
      ];
      const waiting = replies.get(id);
      replies.delete(id);
      if (error !== undefined) waiting?.reject(decodeError(error));
      else waiting?.resolve(value);
      break;
    }
    case CANCEL: {
      const call = calls.get(message[1] as number);
      if (call !== undefined) {
        call.cancelled = true;
        call.parts.controller?.abort();
      }
      break;
    }
    case PING:
      send([PONG, undefined]);
      break;
  }
  return undefined;
}

// Deno's MessagePort delivers messages from a promise: a batch is taken
// in a task of its own (see inTask).
port.onmessage = ({ data: batch }: MessageEvent<unknown[][]>) => {
  if (runMicrotasks === undefined) take(batch);
  else inTask(() => take(batch));
};

function take(batch: unknown[][]): void {
  sendingOnce(() => takeBatch(batch));
}

function takeBatch(batch: unknown[][]): void {
  // A page that was running when the last batch arrived and never
  // returned was stopped by V8 (its heap was exhausted). That happens
  // where pages run in a microtask (no runMicrotasks); in a task of their
  // own, Deno ends the isolate instead (the server says why).
  stopped(PONG);
  // The batch is acknowledged once each of its pages has started (after
  // its import and form): until then the server holds back new requests,
  // and if one of them never yields, those go to another isolate.
  let starting = 1;
  const started = () => {
    if (--starting === 0) send([ACK]);
  };
  let pingOnly = true;
  let next = 0;
  const step = () => {
    while (next < batch.length) {
      const message = batch[next++]!;
      if (message[0] !== PING) pingOnly = false;
      const pending = handle(message);
      if (pending !== undefined) {
        starting++;
        pending.then(started);
      }
    }
    // Before the guard runs the code they resumed: the ACK goes out with
    // the answers of the pages (sendingOnce).
    if (pingOnly) starting = -1;
    else started();
  };
  if (!batch.some((message) => message[0] === REQUEST)) step();
  else {
    guardedPages(step, () =>
      batch.filter((message) => message[0] === REQUEST)
        .map((message) => message[1] as number));
  }
}

send([READY]);
