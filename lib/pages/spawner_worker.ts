/**
 * The spawner: an isolate that starts page isolates for the server (see
 * isolate_runner.ts), so that the server's thread does not.
 *
 * Measured with Deno 2.9.6: constructing a Worker blocks the constructing
 * thread for 40–50 ms (~120 ms for the first), and the server's thread
 * must not stop for that; a Worker constructed in a Worker starts ~530 ms
 * late (its thread sleeps before loading its module), so the spawner keeps
 * one page isolate started ahead, a spare, which waits for its setup; the
 * server starts isolates itself while no spare waits.
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
  type SpareSetup,
  type SpawnerSetup,
  START,
  WAITING,
} from "./spawner_protocol.ts";
import type { IsolateSetup } from "./isolate_protocol.ts";
import { threads } from "./threads.ts";

const { parentPort, Worker, workerData } = threads;
if (parentPort === null) {
  throw new Error("spawner_worker.ts runs in a spawner isolate only");
}
const server = parentPort;
const { pageMemory } = workerData as SpawnerSetup;
const url = new URL((workerData as SpawnerSetup).url);

type PageWorker = InstanceType<typeof Worker>;

/** The page isolates it started, by the server's id. */
const started = new Map<number, PageWorker>();
/** A page isolate the spawner started, or the spare. */
interface Started {
  worker: PageWorker;
  /** Its control port while it is the spare (see {@linkcode SpareSetup}). */
  control: MessagePort;
  /** Whether it waits for its setup. */
  waiting: boolean;
  /** The server's id for it, once it is given a setup. */
  id?: number;
}

/** The page isolate started ahead. */
let spare: Started | undefined;
let shuttingDown = false;

function startSpare(): void {
  const channel = new MessageChannel();
  const setup: SpareSetup = { control: channel.port2 };
  const worker = new Worker(url, {
    workerData: setup,
    transferList: [channel.port2],
    resourceLimits: { maxOldGenerationSizeMb: pageMemory },
  });
  const entry: Started = { worker, control: channel.port1, waiting: false };
  spare = entry;
  entry.control.onmessage = ({ data }: MessageEvent<unknown>) => {
    if (data !== WAITING || entry !== spare) return;
    entry.waiting = true;
    server.postMessage([SPARE]);
  };
  worker.on("error", (error: unknown) => {
    if (entry.id === undefined) return;
    const { name, message, stack } = error instanceof Error
      ? error
      : { name: "Error", message: String(error), stack: undefined };
    server.postMessage([FAILED, entry.id, name, message, stack]);
  });
  worker.on("exit", (code: number) => {
    entry.control.close();
    if (entry.id !== undefined) {
      started.delete(entry.id);
      server.postMessage([EXITED, entry.id, code]);
    } else if (entry === spare) {
      // A spare that ends before it is given a setup cannot load its
      // module: the server starts its isolates itself.
      spare = undefined;
      if (!shuttingDown) {
        server.postMessage([
          NO_SPARES,
          `a spare page isolate ended before it started (exit code ${code})`,
        ]);
      }
    }
  });
}

server.on("message", (message: unknown[]) => {
  switch (message[0]) {
    case START: {
      const [, id, setup] = message as [number, number, IsolateSetup];
      const entry = spare;
      if (entry === undefined || !entry.waiting || shuttingDown) {
        // The server sends START only while a spare waits.
        server.postMessage([EXITED, id, 1]);
        return;
      }
      entry.id = id;
      started.set(id, entry.worker);
      // The spare closes its control port once the setup is in.
      entry.control.postMessage(setup, [setup.port]);
      startSpare();
      return;
    }
    case END: {
      started.get(message[1] as number)?.terminate();
      return;
    }
    case SHUT_DOWN: {
      shuttingDown = true;
      const workers = [...started.values()];
      if (spare !== undefined && spare.id === undefined) {
        workers.push(spare.worker);
      }
      spare = undefined;
      Promise.all(workers.map((worker) => worker.terminate())).finally(() =>
        Deno.exit(0)
      );
      return;
    }
  }
});

startSpare();
