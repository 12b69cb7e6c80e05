/**
 * The command-line contract of main.ts, run as a real child process.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "./_assert.ts";
import { join, relative } from "@std/path";
import {
  freePort,
  LIB_DIR,
  REPO,
  runMain,
  spawnRaw,
  spawnServer,
  startTask,
  tempTree,
  waitExit,
} from "./_helpers.ts";

const SCRIPTS = join(REPO, "scripts");

function assertNoStackTrace(text: string) {
  assert(!/^\s+at /m.test(text), `a stack trace was printed:\n${text}`);
}

Deno.test("--help shows the minimal deno run line and exits 0", async () => {
  const result = await runMain([], ["/srv/site", "--port", "9000", "--help"]);
  assertEquals(result.code, 0);
  assertStringIncludes(
    result.stdout,
    `deno run --no-prompt --allow-net=127.0.0.1:9000 --allow-read=/srv/site,${LIB_DIR} main.ts`,
  );
  assertStringIncludes(result.stdout, "--prod");
  assertStringIncludes(result.stdout, "--quiet");
});

Deno.test("a missing permission gives one line naming the flags and exit 1", async () => {
  await using dir = await tempTree({ "a.txt": "a" });
  const port = freePort();
  const none = await runMain([], [dir.path, "--port", String(port)]);
  assertEquals(none.code, 1);
  assertEquals(none.stderr.trim().split("\n").length, 1, none.stderr);
  assertStringIncludes(none.stderr, `--allow-net=127.0.0.1:${port}`);
  assertStringIncludes(none.stderr, `--allow-read=${dir.path}`);
  assertNoStackTrace(none.stderr);

  const noRead = await runMain([`--allow-net=127.0.0.1:${port}`], [
    dir.path,
    "--port",
    String(port),
  ]);
  assertEquals(noRead.code, 1);
  assertStringIncludes(noRead.stderr, `--allow-read=${dir.path}`);
  assert(!noRead.stderr.includes("--allow-net"));

  const noNet = await runMain([`--allow-read=${dir.path}`], [
    dir.path,
    "--port",
    String(port),
  ]);
  assertEquals(noNet.code, 1);
  assertStringIncludes(noNet.stderr, `--allow-net=127.0.0.1:${port}`);
  assert(!noNet.stderr.includes("--allow-read"));
});

Deno.test("bad flags and a missing ROOT exit non-zero with one line", async () => {
  const flag = await runMain([], ["--prot", "1"]);
  assertEquals(flag.code, 2);
  assertStringIncludes(flag.stderr, 'Unknown option "--prot"');
  assertNoStackTrace(flag.stderr);

  const port = await runMain([], ["--port", "http"]);
  assertEquals(port.code, 2);
  assertStringIncludes(port.stderr, '--port "http"');

  await using dir = await tempTree({ "file.txt": "x" });
  const missing = join(dir.path, "missing");
  const absent = await runMain(
    ["--allow-net=127.0.0.1:1", `--allow-read=${dir.path}`],
    [missing, "--port", "1"],
  );
  assertEquals(absent.code, 1);
  assertStringIncludes(absent.stderr, "does not exist");
  const file = join(dir.path, "file.txt");
  const notDir = await runMain(
    ["--allow-net=127.0.0.1:1", `--allow-read=${file}`],
    [file, "--port", "1"],
  );
  assertEquals(notDir.code, 1);
  assertStringIncludes(notDir.stderr, "is not a directory");
});

Deno.test("a port in use exits 1 with a clear message", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  try {
    const result = await runMain(
      [`--allow-net=127.0.0.1:${port}`, `--allow-read=${SCRIPTS}`],
      ["--port", String(port)],
    );
    assertEquals(result.code, 1);
    assertStringIncludes(result.stderr, "address is in use");
    assertNoStackTrace(result.stderr);
  } finally {
    listener.close();
  }
});

Deno.test("without ROOT it serves the bundled scripts/ from any working directory", async () => {
  const port = freePort();
  const child = spawnRaw(
    [`--allow-net=127.0.0.1:${port}`, `--allow-read=${SCRIPTS}`],
    ["--port", String(port), "--quiet"],
    { cwd: Deno.makeTempDirSync() },
  );
  try {
    const line = await child.stdout.waitFor((l) => l.includes(" at http://"));
    assertEquals(
      line,
      `scriptserver: serving ${SCRIPTS} at http://127.0.0.1:${port}/`,
    );
    const home = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assertStringIncludes(home, "<h3>Simple portal</h3>");
    const hello = await fetch(`http://127.0.0.1:${port}/hello.tpl?name=world`);
    assertEquals(await hello.text(), "Hello world !");
  } finally {
    child.process.kill("SIGTERM");
    assertEquals((await waitExit(child.process)).code, 0);
  }
});

Deno.test("--embedded-site (what deno task compile bakes in) serves that site without ROOT", async () => {
  await using dir = await tempTree({
    "index.ts": `export default () => "embedded home";`,
  });
  const port = freePort();
  const child = spawnRaw(
    [`--allow-net=127.0.0.1:${port}`, `--allow-read=${dir.path}`],
    ["--embedded-site", relative(REPO, dir.path), "--port", String(port)],
    { cwd: Deno.makeTempDirSync() },
  );
  try {
    const line = await child.stdout.waitFor((l) => l.includes(" at http://"));
    assertStringIncludes(line, `serving ${dir.path} at`);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assertEquals(await response.text(), "embedded home");
  } finally {
    child.process.kill("SIGTERM");
    assertEquals((await waitExit(child.process)).code, 0);
  }
});

Deno.test("PORT is read only when env access is granted", async () => {
  const granted = await runMain(["--allow-env=PORT"], ["--help"], {
    PORT: "8123",
  });
  assertStringIncludes(granted.stdout, "--allow-net=127.0.0.1:8123");
  const denied = await runMain([], ["--help"], { PORT: "8123" });
  assertEquals(denied.code, 0);
  assertStringIncludes(denied.stdout, "--allow-net=127.0.0.1:8000");
  const flagWins = await runMain(["--allow-env=PORT"], [
    "--port",
    "9",
    "--help",
  ], {
    PORT: "8123",
  });
  assertStringIncludes(flagWins.stdout, "--allow-net=127.0.0.1:9");
  const bad = await runMain(["--allow-env=PORT"], ["--help"], {
    PORT: "eighty",
  });
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, 'PORT "eighty"');

  const port = freePort();
  const child = spawnRaw(
    [
      "--allow-env=PORT",
      `--allow-net=127.0.0.1:${port}`,
      `--allow-read=${SCRIPTS}`,
    ],
    ["--quiet"],
    { env: { PORT: String(port) } },
  );
  try {
    await child.stdout.waitFor((l) => l.endsWith(`:${port}/`));
  } finally {
    child.process.kill("SIGTERM");
    await waitExit(child.process);
  }
});

Deno.test("--quiet turns the access log off", async () => {
  const server = await spawnServer({ root: SCRIPTS, args: ["--quiet"] });
  await (await fetch(server.url)).body?.cancel();
  await (await fetch(new URL("/missing", server.url))).body?.cancel();
  assertEquals((await server.stop()).code, 0);
  assertEquals(server.stdout.lines.filter((l) => /^GET /.test(l)), []);
});

Deno.test("SIGTERM lets an in-flight download finish, refuses new connections, exits 0", async () => {
  const size = 32 * 1024 * 1024;
  await using dir = await tempTree({ "big.bin": new Uint8Array(size) });
  const server = await spawnServer({ root: dir.path, args: ["--quiet"] });
  const response = await fetch(new URL("/big.bin", server.url));
  const reader = response.body!.getReader();
  let received = (await reader.read()).value?.length ?? 0;
  server.process.kill("SIGTERM");
  // New connections are refused once the listener is closed.
  await server.stdout.waitFor((l) => l.includes("shutting down"));
  let refused = false;
  for (let i = 0; i < 50 && !refused; i++) {
    try {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      conn.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
    } catch {
      refused = true;
    }
  }
  assert(refused, "the server still accepted connections after SIGTERM");
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
  }
  assertEquals(received, size);
  assertEquals((await server.stop()).code, 0);
});

Deno.test("Ctrl-C on an idle server exits at once, idle and half-open connections or not", async () => {
  const server = await spawnServer({ root: SCRIPTS });
  const encoder = new TextEncoder();
  // A browser's kept-alive connection after a page, one it opened ahead of
  // time and never used, and one whose request never finished.
  const kept = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await kept.write(
    encoder.encode("GET /hello.ts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
  );
  await kept.read(new Uint8Array(4096));
  const unused = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  const half = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await half.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  try {
    const start = performance.now();
    const status = await server.stop("SIGINT");
    const ms = performance.now() - start;
    assertEquals(status.code, 0);
    // Measured here: about 20 ms; a second would be a wait, not an exit.
    assert(ms < 1000, `exited ${ms.toFixed(0)} ms after SIGINT`);
  } finally {
    for (const conn of [kept, unused, half]) conn.close();
  }
});

Deno.test("SIGINT stops the server with exit code 0", async () => {
  const server = await spawnServer({ root: SCRIPTS, args: ["--quiet"] });
  assertEquals((await server.stop("SIGINT")).code, 0);
  assertMatch(server.stdout.text, /shutting down/);
});

Deno.test("deno task start on a cold cache downloads only what serving needs", async () => {
  await using cache = await tempTree({});
  const { env, args } = await startTask();
  const child = new Deno.Command(Deno.execPath(), {
    // --help: the program loads (and Deno fetches) all it would to serve.
    args: [...args, "--help"],
    cwd: REPO,
    env: { ...env, DENO_DIR: cache.path, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const status = await waitExit(child, 60_000);
  assertEquals(status.code, 0, await stderr);
  const packages = [
    ...Deno.readDirSync(join(cache.path, "npm", "registry.npmjs.org")),
  ]
    .map((entry) => entry.name).sort();
  // At 59d8833, ~26 MB came first: playwright-core and redis (tests, and
  // --sessions redis only).
  assertEquals(packages, ["deno-std"]);
});
