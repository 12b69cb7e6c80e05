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
 * its first `await`. Code run later, from a promise or a timer, is not
 * guarded; the server ends such an isolate (see isolate_runner.ts).
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

/**
 * Runs `fn`, stopping it after `ms` milliseconds if it has not returned.
 *
 * @returns whether `fn` ran to its end (`false`: it was stopped, and
 * nothing of it ran after, not even its `finally` blocks).
 * @throws what `fn` throws.
 */
export function guarded(fn: () => void, ms: number): boolean {
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
    task = () => {};
  }
}
