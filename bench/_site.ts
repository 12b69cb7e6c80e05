/** The site deno task bench loads. */
import { join } from "@std/path";

const SCRIPTS = new URL("../scripts/", import.meta.url);

/** Writes the bench site to a new temporary folder; returns its real path. */
export async function makeSite(): Promise<string> {
  const root = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "bench_" }),
  );
  await Deno.writeTextFile(
    join(root, "hello.ts"),
    await Deno.readTextFile(new URL("hello.ts", SCRIPTS)),
  );
  await Deno.writeTextFile(join(root, "hello.tpl"), "Hello $name !");
  const line = "scriptserver serves a folder quickly and safely. ";
  await Deno.writeTextFile(
    join(root, "4k.txt"),
    line.repeat(Math.ceil(4096 / line.length)).slice(0, 4096),
  );
  const mib = new Uint8Array(1024 * 1024);
  crypto.getRandomValues(mib.subarray(0, 65536));
  for (let i = 65536; i < mib.length; i++) mib[i] = mib[i % 65536]!;
  await Deno.writeFile(join(root, "1m.bin"), mib);
  await Deno.mkdir(join(root, "list"));
  for (let i = 0; i < 50; i++) {
    await Deno.writeTextFile(
      join(root, "list", `file-${String(i).padStart(2, "0")}.txt`),
      "x".repeat(i * 100),
    );
  }
  await Deno.writeTextFile(
    join(root, "upload.ts"),
    `export default (ctx) => "got " + ctx.form.get("f");`,
  );
  return root;
}
