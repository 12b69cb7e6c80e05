// The part of node:worker_threads that page isolates use, declared here so
// that Node's global types (setTimeout returning a Timeout, say) stay out
// of the server's type check.

/** Options of a Worker (node:worker_threads). */
export interface WorkerOptions {
  workerData?: unknown;
  /** What `workerData` holds that is transferred, not copied. */
  transferList?: Transferable[];
  resourceLimits?: { maxOldGenerationSizeMb?: number };
}

/** A node:worker_threads Worker. */
export class Worker {
  constructor(url: URL | string, options?: WorkerOptions);
  postMessage(message: unknown, transfer?: readonly Transferable[]): void;
  on(event: "message", listener: (message: never) => void): this;
  on(event: "error", listener: (error: unknown) => void): this;
  on(event: "exit", listener: (code: number) => void): this;
  terminate(): Promise<number>;
}

/** The port to the parent, in a worker. */
export interface ParentPort {
  postMessage(message: unknown, transfer?: readonly Transferable[]): void;
  on(event: "message", listener: (message: never) => void): this;
  once(event: "message", listener: (message: never) => void): this;
}

export const parentPort: ParentPort | null;
export const workerData: unknown;
