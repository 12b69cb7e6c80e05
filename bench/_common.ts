/** What the benchmark scripts share (and take from the tests' helpers). */
import { V8_FLAGS } from "../tools/v8_flags.ts";
import { LOCK_FLAG, MAIN, procStatus } from "../tests/_helpers.ts";

export { freePort, MAIN } from "../tests/_helpers.ts";

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
    LOCK_FLAG,
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
  return procStatus(pid, "VmRSS");
}
