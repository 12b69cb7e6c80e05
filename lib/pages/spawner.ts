/**
 * The server's side of its spawner (spawner_worker.ts): an isolate that
 * starts page isolates so that the server's thread does not stop for it.
 *
 * @module
 */
import {
  END,
  EXITED,
  FAILED,
  NO_SPARES,
  SHUT_DOWN,
  SPARE,
  type SpawnerSetup,
  START,
} from "./spawner_protocol.ts";
import type { IsolateSetup } from "./isolate_protocol.ts";
import { threads } from "./threads.ts";

const { Worker } = threads;

/** How long a spawner shutting down may take before it is ended. */
const SHUT_DOWN_MS = 1_000;

/** What a spawner tells about the page isolates it started. */
export interface SpawnerEvents {
  /** A page isolate failed (an uncaught error, a heap exhausted). */
  failed(id: number, error: Error): void;
  /** A page isolate ended, with this exit code. */
  exited(id: number, code: number): void;
  /** No spare can start, and why: the server starts its isolates itself. */
  noSpares(reason: string): void;
}

/** A spawner, from the server's side. */
export class Spawner {
  readonly #worker: InstanceType<typeof Worker>;
  readonly #events: SpawnerEvents;
  /** The isolates it started that have not ended. */
  readonly #live = new Set<number>();
  /** Whether a spare waits: the next {@linkcode start} gives it its setup. */
  #spare = false;
  #usable = true;
  #exited = Promise.withResolvers<void>();

  constructor(setup: SpawnerSetup, url: URL, events: SpawnerEvents) {
    this.#events = events;
    this.#worker = new Worker(url, { workerData: setup });
    this.#worker.on(
      "message",
      (message: unknown[]) => this.#onMessage(message),
    );
    this.#worker.on("error", () => {});
    this.#worker.on("exit", () => {
      this.#usable = false;
      this.#spare = false;
      this.#exited.resolve();
      // Its isolates ended with it, or are beyond reach: they are over.
      for (const id of [...this.#live]) this.#ended(id, 1);
    });
  }

  /**
   * Starts a page isolate with `setup` (its port transferred) if a spare
   * waits, and says whether it did.
   */
  start(id: number, setup: IsolateSetup): boolean {
    if (!this.#spare || !this.#usable) return false;
    this.#spare = false;
    this.#live.add(id);
    this.#worker.postMessage([START, id, setup], [setup.port]);
    return true;
  }

  /** Ends a page isolate it started. */
  end(id: number): void {
    if (this.#live.has(id)) this.#worker.postMessage([END, id]);
  }

  /** Ends its page isolates, then itself, within a second. */
  shutDown(): Promise<void> {
    if (this.#usable) {
      this.#usable = false;
      this.#worker.postMessage([SHUT_DOWN]);
    }
    const timer = setTimeout(() => this.#worker.terminate(), SHUT_DOWN_MS);
    return this.#exited.promise.finally(() => clearTimeout(timer));
  }

  #onMessage(message: unknown[]): void {
    switch (message[0]) {
      case SPARE:
        this.#spare = this.#usable;
        return;
      case NO_SPARES:
        this.#usable = false;
        this.#events.noSpares(message[1] as string);
        return;
      case FAILED: {
        const [, id, name, text, stack] = message as [
          number,
          number,
          string,
          string,
          string | undefined,
        ];
        const error = new Error(text);
        error.name = name;
        if (stack !== undefined) error.stack = stack;
        if (this.#live.has(id)) this.#events.failed(id, error);
        return;
      }
      case EXITED:
        this.#ended(message[1] as number, message[2] as number);
        return;
    }
  }

  #ended(id: number, code: number): void {
    if (!this.#live.delete(id)) return;
    this.#events.exited(id, code);
  }
}
