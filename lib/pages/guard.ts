/**
 * Stops code that runs too long without yielding, in the isolate that runs
 * it: a page isolate runs each batch's pages under this guard, so a page
 * stuck in `while (true) {}` is stopped there and its isolate lives on.
 *
 * Why it is needed: Deno 2.9.6's `worker.terminate()` ends a Worker stuck
 * in a loop for its parent only, and its thread spins on a core until the
 * process exits (denoland/deno#35657). node:vm's `timeout` has V8 stop the
 * script and carry on, which does work. Measured here: ~17 µs per guarded
 * call (a watchdog thread each), against ~1 µs without a timeout, so page
 * isolates guard one batch at a time, not one page.
 *
 * It covers what runs synchronously within the call: a page's body up to
 * its first `await`, and, through {@linkcode runMicrotasks}, its code after
 * an `await` of a promise that is already settled. Page isolates also run
 * their pages' timers under it (see page_worker.ts). Code run after I/O is
 * not guarded: nothing public or internal lets an isolate run it within a
 * call of its own (Deno's core resolves ops and runs the queue in one go;
 * a nextTick queued ahead to run it is used up by the drain that follows
 * the task queuing it, tried); the server ends such an isolate (see
 * isolate_runner.ts).
 *
 * @module
 */

/** The part of node:vm used here. */
interface Script {
  runInThisContext(options?: { timeout?: number }): unknown;
}

// By a specifier the type checker does not follow (see threads.ts).
const VM = "node:vm";
const vm: { Script: new (source: string) => Script } = await import(VM);

/** The longest timeout node:vm takes (a 32-bit count of milliseconds). */
const MOST_MS = 2 ** 31 - 1;

const KEY = Symbol.for("scriptserver.guarded");
const script = new vm.Script(
  `globalThis[Symbol.for("scriptserver.guarded")]()`,
);
let task: () => void = () => {};
Object.defineProperty(globalThis, KEY, { value: () => task() });
/** Whether a guarded call is running (one within it is covered by it). */
let active = false;

/**
 * Runs the microtasks queued so far, now: called within a guarded call, it
 * brings the code that a page runs after an `await` of a settled promise
 * under the guard (otherwise it runs once the call has returned, where
 * nothing can stop it). `undefined` where Deno does not have it.
 *
 * It is Deno's internal `core.runMicrotasks()` (`Deno[Deno.internal]`),
 * not public API: no public API runs the queue (Deno 2.9.6). If the guard
 * stops code that it runs, V8 drops every microtask still queued (measured:
 * another function's continuation, queued behind the one stopped, never
 * ran), so the caller can no longer answer for work it had in flight.
 */
export const runMicrotasks: (() => void) | undefined = (() => {
  const deno = Deno as unknown as Record<PropertyKey, unknown>;
  const key = deno.internal;
  const internals = typeof key === "symbol"
    ? deno[key] as { core?: { runMicrotasks?: unknown } } | undefined
    : undefined;
  const run = internals?.core?.runMicrotasks;
  return typeof run === "function"
    ? () => run.call(internals!.core)
    : undefined;
})();

/**
 * Runs `fn`, stopping it after `ms` milliseconds if it has not returned.
 *
 * Within a guarded call (a page's code after an `await`, run by
 * {@linkcode runMicrotasks}), `fn` runs as it is: the outer call's timeout
 * covers it, and stops the outer call.
 *
 * @returns whether `fn` ran to its end (`false`: it was stopped, and
 * nothing of it ran after, not even its `finally` blocks).
 * @throws what `fn` throws.
 */
export function guarded(fn: () => void, ms: number): boolean {
  if (active) {
    fn();
    return true;
  }
  active = true;
  task = fn;
  try {
    script.runInThisContext({
      timeout: Math.min(Math.max(1, Math.ceil(ms)), MOST_MS),
    });
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
      return false;
    }
    throw error;
  } finally {
    active = false;
    task = () => {};
  }
}
