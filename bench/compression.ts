/**
 * Compression: static text files of 4 KiB and 20 KiB asked for with
 * `Accept-Encoding: gzip, br`, each against the same bare `Deno.serve`
 * as its identity row (sending the identity bytes from memory), in the
 * same run; the target is ≥ 0.8× of the identity row's ratio. Also the
 * bytes saved per response.
 *
 * Usage: deno run -A bench/compression.ts   (also part of deno task bench)
 */
import { join } from "@std/path";
import {
  capture,
  fmt,
  freePort,
  pinned,
  type Server,
  serverCommand,
  startBare,
  startProcess,
} from "./_common.ts";
import { load, requireWrk, type Run, summarize } from "./_load.ts";
import { type FigureRow, rowsTable } from "./_report.ts";

const ACCEPT = { "accept-encoding": "gzip, br" };

/** Text like a site's: the README, repeated to the size. */
async function text(bytes: number): Promise<string> {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  return readme.repeat(Math.ceil(bytes / readme.length)).slice(0, bytes);
}

/** Interleaved rounds: ours as it is, ours compressed, and the bare server. */
async function rounds(
  ours: Server,
  bare: Server,
  path: string,
  { rounds, seconds }: { rounds: number; seconds: number },
): Promise<{ identity: Run; compressed: Run; bare: Run }> {
  const options = { seconds };
  await load(ours, path, options);
  await load(ours, path, { ...options, headers: ACCEPT });
  await load(bare, "/", options);
  const runs = {
    identity: [] as Run[],
    compressed: [] as Run[],
    bare: [] as Run[],
  };
  for (let i = 0; i < rounds; i++) {
    runs.bare.push(await load(bare, "/", options));
    runs.identity.push(await load(ours, path, options));
    runs.compressed.push(
      await load(ours, path, { ...options, headers: ACCEPT }),
    );
  }
  return {
    identity: summarize(runs.identity),
    compressed: summarize(runs.compressed),
    bare: summarize(runs.bare),
  };
}

/** The figures; starts and stops its own servers. */
export async function compressionFigures(
  { rounds: count = 3, seconds = 3 }: { rounds?: number; seconds?: number } =
    {},
): Promise<FigureRow[]> {
  requireWrk();
  const root = await Deno.makeTempDir({ prefix: "scriptserver-compress-" });
  const started: Server[] = [];
  const rows: FigureRow[] = [];
  try {
    for (
      const [name, size] of [["4k.txt", 4096], ["20k.txt", 20_480]] as const
    ) {
      await Deno.writeTextFile(join(root, name), await text(size));
    }
    const port = freePort();
    const ours = await startProcess(
      "scriptserver",
      pinned(0, serverCommand(root, port, ["--prod", "--in-process"])),
      port,
      { path: "/4k.txt" },
    );
    started.push(ours);
    for (const [name, label] of [["4k.txt", "4 KiB"], ["20k.txt", "20 KiB"]]) {
      const path = `/${name}`;
      const bare = await startBare(
        await capture(ours, path, join(root, `${name}.reference`)),
      );
      started.push(bare);
      const sizes = await Promise.all(
        [{ "accept-encoding": "identity" }, ACCEPT].map(async (headers) => {
          const response = await fetch(`${ours.url}${name}`, { headers });
          await response.body?.cancel();
          return {
            length: Number(response.headers.get("content-length")),
            encoding: response.headers.get("content-encoding") ?? "identity",
          };
        }),
      );
      const measured = await rounds(ours, bare, path, {
        rounds: count,
        seconds,
      });
      const identityRatio = measured.identity.rps / measured.bare.rps;
      const ratio = measured.compressed.rps / measured.bare.rps;
      const ok = ratio >= 0.8 * identityRatio;
      const [plain, packed] = sizes as [
        { length: number; encoding: string },
        { length: number; encoding: string },
      ];
      rows.push({
        what: `${label} text file, Accept-Encoding: gzip, br`,
        ours: `${fmt(measured.compressed.rps)} req/s (${
          fmt(ratio, 2)
        }× bare), ${packed.encoding}: ${packed.length} of ${plain.length} bytes (${
          fmt(100 * (1 - packed.length / plain.length))
        }% saved)`,
        reference: `${
          fmt(measured.bare.rps)
        } req/s (bare, identity); ours without Accept-Encoding ${
          fmt(measured.identity.rps)
        } req/s (${fmt(identityRatio, 2)}×)`,
        target: `≥ 0.8 × the identity row: ${ok ? "met" : "missed"} (${
          fmt(ratio / identityRatio, 2)
        })`,
        ok,
      });
      console.log(`${rows.at(-1)!.what}: ${rows.at(-1)!.ours}`);
    }
  } finally {
    for (const server of started) await server.stop();
    await Deno.remove(root, { recursive: true });
  }
  return rows;
}

if (import.meta.main) {
  console.log(rowsTable("compression", await compressionFigures()));
}
