/**
 * Fetches a URL every 10 ms until SIGTERM, then prints its latencies as
 * JSON ({ n, p50, p99 } in ms). A process of its own, so that the load
 * the benchmark makes in its process does not delay the probe.
 *
 * Usage: deno run --allow-net bench/_probe.ts URL
 */
const url = Deno.args[0]!;
const times: number[] = [];
Deno.addSignalListener("SIGTERM", () => {
  const sorted = times.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.floor(sorted.length * q)] ?? NaN;
  console.log(JSON.stringify({ n: times.length, p50: at(0.5), p99: at(0.99) }));
  Deno.exit(0);
});
while (true) {
  const start = performance.now();
  await (await fetch(url)).body?.cancel();
  times.push(performance.now() - start);
  await new Promise((resolve) => setTimeout(resolve, 10));
}
