/** What the benchmark scripts share. */
import { fromFileUrl } from "@std/path";
import { V8_FLAGS } from "../tools/v8_flags.ts";

/** The repository's main.ts. */
export const MAIN: string = fromFileUrl(new URL("../main.ts", import.meta.url));

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The command that runs scriptserver on `root` under its minimal
 * permissions, with the V8 flags `deno task start` uses.
 */
export function serverCommand(
  root: string,
  port: number,
  extra: string[] = [],
): string[] {
  return [
    Deno.execPath(),
    "run",
    // Tests' lockfile: deno.lock is for serving alone (see tests/_helpers.ts).
    `--lock=${fromFileUrl(new URL("../tests/deno.lock", import.meta.url))}`,
    V8_FLAGS,
    "--no-prompt",
    `--allow-net=127.0.0.1:${port}`,
    `--allow-read=${root}`,
    MAIN,
    root,
    "--port",
    String(port),
    "--quiet",
    ...extra,
  ];
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`No VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}
