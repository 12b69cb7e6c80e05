/**
 * A site of one's own: deno task init writes a starter site that deno
 * check accepts, and pages anywhere import the page API as "scriptserver",
 * values included, under the two minimal permissions.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import {
  eventually,
  freePort,
  LOCK_FLAG,
  rawGet,
  REPO,
  spawnServer,
  tempTree,
  TIMEOUT_MS,
  waitExit,
} from "./_helpers.ts";

async function run(args: string[], cwd = REPO) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const [status, stdout, stderr] = await Promise.all([
    waitExit(child),
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, stdout, stderr };
}

/** The command of `deno task init`, as deno.json has it. */
async function initCommand(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  const command: string = config.tasks.init.command;
  assert(command.startsWith("deno run "), command);
  return command.split(" ").slice(1);
}

Deno.test("deno task init writes a starter site that deno check accepts and the server serves", async () => {
  await using dir = await tempTree({});
  const site = join(dir.path, "mysite");
  const init = await run([...await initCommand(), site]);
  assertEquals(init.code, 0, init.stderr);
  assertStringIncludes(init.stdout, `--allow-read=${site}`);
  const config = JSON.parse(await Deno.readTextFile(join(site, "deno.json")));
  assertEquals(
    config.imports.scriptserver,
    join("..", ...Array(dir.path.split("/").length - 1).fill(".."))
        .length > 0
      ? config.imports.scriptserver
      : "",
  );
  assert(
    (await Deno.realPath(join(site, config.imports.scriptserver))).endsWith(
      "lib/page_api.ts",
    ),
  );
  // deno check, from the site's own folder, with its own deno.json.
  const check = await run(["check", LOCK_FLAG, "index.ts"], site);
  assertEquals(check.code, 0, check.stderr);
  const server = await spawnServer({ root: site });
  try {
    const home = await rawGet(server.port, "/");
    assertEquals(home.status, 200);
    assertStringIncludes(home.body, "Hello visitor");
    // The site's configuration is not content.
    assertEquals((await rawGet(server.port, "/deno.json")).status, 404);
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
  // Nothing is ever overwritten.
  const again = await run([...await initCommand(), site]);
  assertEquals(again.code, 1);
  assertEquals(again.stderr.trim().split("\n").length, 1, again.stderr);
  assertStringIncludes(again.stderr, "is not empty");
});

const PAGE = `import { HttpError, html } from "scriptserver";
import type { PageContext } from "scriptserver";
export default (ctx: PageContext) => {
  if (ctx.query.has("teapot")) throw new HttpError(418, "I am a teapot");
  return ctx.render("_t.tpl", { v: html("<b>" + typeof HttpError + "</b>") });
};`;

Deno.test("a page outside the repository imports the page API's values as scriptserver, under --allow-read=ROOT", async () => {
  await using dir = await tempTree({ "page.ts": PAGE, "_t.tpl": "got $v" });
  const server = await spawnServer({ root: dir.path });
  try {
    assertEquals(
      (await rawGet(server.port, "/page.ts")).body,
      "got <b>function</b>",
    );
    const teapot = await rawGet(server.port, "/page.ts?teapot");
    assertEquals(teapot.status, 418);
    assertStringIncludes(teapot.body, "I am a teapot");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("under deno serve too, pages import the page API as scriptserver", async () => {
  await using dir = await tempTree({ "page.ts": PAGE, "_t.tpl": "got $v" });
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      LOCK_FLAG,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--no-prompt",
      `--allow-net=127.0.0.1:${port}`,
      `--allow-read=${dir.path}`,
      join(REPO, "serve.ts"),
      dir.path,
      "--quiet",
    ],
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  try {
    const page = await eventually(
      () => rawGet(port, "/page.ts").catch(() => undefined),
      (response) => response?.status === 200,
      TIMEOUT_MS,
    );
    assertEquals(page?.body, "got <b>function</b>");
  } finally {
    child.kill("SIGTERM");
    await waitExit(child);
  }
});
