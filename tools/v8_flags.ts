/**
 * The V8 flags scriptserver runs with: `deno task start`, the binary that
 * `deno task compile` builds, and the benchmarks. Give them to other
 * `deno run` and `deno serve` command lines too (README, "Memory").
 *
 * Serving large files, V8 grew its young generation to about 50 MiB, and
 * RSS after the benchmark's load reached 125 MiB. Semi-spaces of at most
 * 8 MiB kept it at 85–95 MiB, with no measurable change in requests/s or
 * CPU per request for pages, small files or 1 MiB files.
 *
 * @module
 */

/** The `--v8-flags` argument for `deno run`, `deno serve` and `deno compile`. */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=8";
