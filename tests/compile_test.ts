/**
 * The compiled binary. Building one needs denort (see tools/compile.ts);
 * where it is missing, the test that builds and runs a real binary is
 * reported as ignored, with the reason. What the binary does differently
 * (the embedded site, absolute imports, the default ROOT) is also tested
 * under deno run in site_test.ts, pages_http_test.ts and hosting_test.ts.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import {
  compileArgs,
  dotfilesIn,
  findDenort,
  NO_DENORT,
  REPO,
} from "../tools/compile.ts";
import { PAGE_WORKER, SPAWNER_WORKER } from "../lib/pages/isolate_runner.ts";
import { V8_FLAGS } from "../tools/v8_flags.ts";
import {
  freePort,
  startTask,
  tempTree,
  TIMEOUT_MS,
  waitExit,
} from "./_helpers.ts";

Deno.test("compileArgs() bakes in only read and net, embeds the site and names it", () => {
  const args = compileArgs({
    site: join(REPO, "scripts"),
    output: "/tmp/out/scriptserver",
    allowRead: true,
    allowNet: true,
    exclude: [join(REPO, "scripts", ".env")],
    target: undefined,
  });
  assertEquals(args, [
    "compile",
    "--allow-read",
    "--allow-net",
    V8_FLAGS,
    "--include",
    join(REPO, "scripts"),
    "--include",
    "npm:redis@5.12.1",
    "--include",
    PAGE_WORKER,
    "--include",
    SPAWNER_WORKER,
    "--exclude",
    join(REPO, "scripts", ".env"),
    "--output",
    "/tmp/out/scriptserver",
    join(REPO, "main.ts"),
    "--embedded-site",
    "scripts",
  ]);
  const permissions = args.filter((a) => a.startsWith("--allow-"));
  assertEquals(permissions, ["--allow-read", "--allow-net"]);
});

Deno.test("deno task start and the binary cap V8's young generation alike", async () => {
  const { args } = await startTask();
  assertEquals(args.slice(0, 2), ["run", V8_FLAGS]);
});

Deno.test("deno task start caps glibc's malloc arenas (each page isolate is a thread)", async () => {
  assertEquals((await startTask()).env, { MALLOC_ARENA_MAX: "2" });
});

Deno.test("compileArgs() narrows permissions and embeds another site", () => {
  const args = compileArgs({
    site: "/srv/shop",
    output: "shop",
    allowRead: "/srv/shop,/srv/data",
    allowNet: "0.0.0.0:8080",
    exclude: [],
    target: "aarch64-unknown-linux-gnu",
  });
  assert(args.includes("--allow-read=/srv/shop,/srv/data"));
  assert(args.includes("--allow-net=0.0.0.0:8080"));
  assertEquals(args.slice(-2)[0], "--embedded-site");
  assert(args.at(-1)!.endsWith("srv/shop"));
  assertEquals(args[args.indexOf("--target") + 1], "aarch64-unknown-linux-gnu");
});

Deno.test("dotfilesIn() lists dotfiles at any depth, to keep secrets out of binaries", async () => {
  await using dir = await tempTree({
    ".env": "x",
    "a/.git/config": "x",
    "a/b/.secret": "x",
    "a/b/page.ts": "x",
    "_private.ts": "x",
  });
  assertEquals(
    dotfilesIn(dir.path).map((p) => p.slice(dir.path.length)).sort(),
    [
      "/.env",
      "/a/.git",
      "/a/b/.secret",
    ],
  );
});

Deno.test("findDenort() looks at DENORT_BIN first", async () => {
  await using dir = await tempTree({ denort: "binary" });
  const path = join(dir.path, "denort");
  assertEquals(
    findDenort((name) => name === "DENORT_BIN" ? path : undefined),
    path,
  );
  assertStringIncludes(NO_DENORT, "DENORT_BIN");
});

const denort = findDenort();

async function serve(binary: string, args: string[]) {
  const port = freePort();
  const process = new Deno.Command(binary, {
    args: [...args, "--port", String(port), "--quiet"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + TIMEOUT_MS;
  while (true) {
    try {
      await (await fetch(base)).body?.cancel();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    get: async (path: string) => await (await fetch(base + path)).text(),
    status: async (path: string) => {
      const response = await fetch(base + path);
      await response.body?.cancel();
      return response.status;
    },
    async stop() {
      process.kill("SIGTERM");
      await process.stdout.cancel();
      await process.stderr.cancel();
      return await waitExit(process);
    },
  };
}

Deno.test({
  name: denort
    ? "deno task compile builds one executable that serves its embedded site and a ROOT from disk"
    : `deno task compile builds one executable (ignored: no denort here; point DENORT_BIN at one for Deno ${Deno.version.deno}, or let deno compile download it once where Deno's servers can be reached)`,
  ignore: denort === undefined,
  async fn() {
    await using dir = await tempTree({
      // The page API by its name, from a page on disk beside the binary.
      "disk/page.ts":
        `import { x } from "./_lib.ts"; import { HttpError } from "scriptserver"; export default () => "disk " + x + (typeof HttpError === "function" ? "" : "?");`,
      "disk/_lib.ts": `export const x = "helper";`,
      "disk/file.txt": "static",
      "disk/out.ts": { symlink: "../outside/page.ts" },
      "outside/page.ts": `export default () => "OUTSIDE";`,
      "shop/index.ts": `export default () => "the shop";`,
      "shop/.env": "SECRET=1",
    });
    const build = async (output: string, extra: string[] = []) => {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["task", "compile", "--output", output, ...extra],
        cwd: REPO,
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
    };
    const binary = join(dir.path, "scriptserver");
    await build(binary);

    const bundled = await serve(binary, []);
    try {
      assertEquals(await bundled.get("/hello.ts?name=world"), "Hello world !");
      assertEquals(await bundled.get("/hello.tpl?name=world"), "Hello world !");
      assertStringIncludes(await bundled.get("/"), "Simple portal");
      assertEquals(await bundled.status("/_home.tpl"), 404);
    } finally {
      assertEquals((await bundled.stop()).code, 0);
    }

    const disk = await serve(binary, [join(dir.path, "disk")]);
    try {
      assertEquals(await disk.get("/page.ts"), "disk helper");
      assertEquals(await disk.get("/file.txt"), "static");
      assertEquals(await disk.status("/out.ts"), 404);
      await Deno.writeTextFile(
        join(dir.path, "disk", "page.ts"),
        `export default () => "edited";`,
      );
      assertEquals(await disk.get("/page.ts"), "edited");
    } finally {
      assertEquals((await disk.stop()).code, 0);
    }

    const shopBinary = join(dir.path, "shop-server");
    await build(shopBinary, ["--site", join(dir.path, "shop")]);
    const shop = await serve(shopBinary, []);
    try {
      assertEquals(await shop.get("/"), "the shop");
      assertEquals(await shop.status("/.env"), 404);
    } finally {
      assertEquals((await shop.stop()).code, 0);
    }
  },
});

/** Runs deno task compile with `args`; its exit code and stderr. */
async function compileTask(args: string[]) {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", ...args],
    cwd: REPO,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  // deno task echoes its command line first.
  const lines = new TextDecoder().decode(stderr).split("\n")
    .filter((line) => line !== "" && !line.startsWith("Task "));
  return { code, lines };
}

Deno.test("deno task compile runs deno compile, and explains DENORT_BIN only when its download fails", async () => {
  await using dir = await tempTree({});
  const output = join(dir.path, "scriptserver");
  const { code, lines } = await compileTask(["--output", output]);
  if (code === 0) {
    // Deno's servers answered (or denort was at hand): a binary.
    assert(Deno.statSync(output).isFile);
    return;
  }
  // Here they cannot be reached: it tried, then said what to provide, in
  // one paragraph (at 59d8833 it refused without trying).
  assertEquals(lines.length, 1, lines.join("\n"));
  assertStringIncludes(lines[0]!, "the download failed");
  assertStringIncludes(lines[0]!, "DENORT_BIN=");
  assert(!lines.join("\n").includes("Stack backtrace"));
});

Deno.test("deno task compile --site naming a missing folder says so in one line", async () => {
  const { code, lines } = await compileTask(["--site", "/no/such/site"]);
  assertEquals(code, 1);
  assertEquals(lines, [
    'compile: --site "/no/such/site" does not exist: give the folder of the site to embed',
  ]);
});
