import { assertEquals, assertStringIncludes, assertThrows } from "./_assert.ts";
import {
  parseCli,
  parseCount,
  parseDuration,
  parseHeader,
  parsePort,
  parseSize,
  permissionFlags,
  redisAddress,
  shellQuote,
  usage,
  UsageError,
} from "../lib/cli/options.ts";

Deno.test("parseCli() has safe defaults", () => {
  assertEquals(parseCli([]), {
    root: undefined,
    port: undefined,
    host: "127.0.0.1",
    prod: false,
    quiet: false,
    trustProxy: false,
    embeddedSite: undefined,
    maxBody: undefined,
    maxFields: undefined,
    maxBodyTotal: undefined,
    pageTimeout: undefined,
    inProcess: false,
    isolates: undefined,
    pageMemory: undefined,
    sessionTtl: undefined,
    maxSessions: undefined,
    sessions: undefined,
    cert: undefined,
    key: undefined,
    noListing: false,
    noLiveReload: false,
    headers: [],
    help: false,
  });
});

Deno.test("parseCli() reads ROOT and every flag", () => {
  assertEquals(
    parseCli([
      "site",
      "--port",
      "9000",
      "--host",
      "0.0.0.0",
      "--prod",
      "--quiet",
    ]),
    {
      root: "site",
      port: 9000,
      host: "0.0.0.0",
      prod: true,
      quiet: true,
      trustProxy: false,
      embeddedSite: undefined,
      maxBody: undefined,
      maxFields: undefined,
      maxBodyTotal: undefined,
      pageTimeout: undefined,
      inProcess: false,
      isolates: undefined,
      pageMemory: undefined,
      sessionTtl: undefined,
      maxSessions: undefined,
      sessions: undefined,
      cert: undefined,
      key: undefined,
      noListing: false,
      noLiveReload: false,
      headers: [],
      help: false,
    },
  );
  assertEquals(parseCli(["--port=0"]).port, 0);
  assertEquals(parseCli(["-h"]).help, true);
  assertEquals(parseCli(["8080"]).root, "8080");
  assertEquals(parseCli(["--trust-proxy"]).trustProxy, true);
  assertEquals(parseCli(["--page-timeout", "5s"]).pageTimeout, 5000);
  assertEquals(parseCli(["--in-process"]).inProcess, true);
  assertEquals(parseCli(["--no-listing"]).noListing, true);
  assertEquals(parseCli(["--no-live-reload"]).noLiveReload, true);
  assertEquals(
    parseCli(["--header", "X-A: 1", "--header", "Cache-Control:  no-cache "])
      .headers,
    [["X-A", "1"], ["Cache-Control", "no-cache"]],
  );
  assertEquals(
    parseCli(["--cert", "c.pem", "--key", "k.pem"]).cert,
    "c.pem",
  );
  assertThrows(() => parseCli(["--cert", "c.pem"]), UsageError, "--key");
  assertThrows(() => parseHeader("X-A\r\nInjected: 1"), UsageError);
  assertEquals(parseCli(["--isolates", "3"]).isolates, 3);
  assertEquals(parseCli(["--page-memory", "64m"]).pageMemory, 64);
  assertThrows(() => parseCli(["--page-memory", "1m"]), UsageError, "16m");
  assertThrows(() => parseCli(["--isolates", "0"]), UsageError, "--isolates");
  assertEquals(
    parseCli(["--max-body-total", "64m"]).maxBodyTotal,
    64 * 1024 * 1024,
  );
  assertEquals(parseCli(["--sessions", "memory"]).sessions, undefined);
  assertEquals(
    parseCli(["--sessions", "redis://127.0.0.1:6380/2"]).sessions,
    "redis://127.0.0.1:6380/2",
  );
  assertEquals(
    parseCli(["--embedded-site", "../site"]).embeddedSite,
    "../site",
  );
});

Deno.test("parseCli() rejects unknown flags, bad ports and extra arguments", () => {
  assertThrows(() => parseCli(["--portt", "1"]), UsageError, '"--portt"');
  assertThrows(() => parseCli(["--port", "abc"]), UsageError, '"abc"');
  assertThrows(() => parseCli(["--port", "70000"]), UsageError, "0 to 65535");
  assertThrows(() => parseCli(["--port"]), UsageError);
  assertThrows(() => parseCli(["a", "b"]), UsageError, "one ROOT");
  assertThrows(() => parseCli(["--host="]), UsageError);
});

Deno.test("parsePort() names where the bad value came from", () => {
  assertEquals(parsePort("8000"), 8000);
  assertThrows(() => parsePort("-1", "PORT"), UsageError, 'PORT "-1"');
  assertThrows(() => parsePort("1e3"), UsageError);
});

Deno.test("permissionFlags() asks for one address and one directory", () => {
  assertEquals(permissionFlags("./site", "127.0.0.1", 8000), {
    net: "--allow-net=127.0.0.1:8000",
    read: "--allow-read=./site",
  });
  assertEquals(permissionFlags("my site", "::1", 80), {
    net: "--allow-net='[::1]:80'",
    read: "--allow-read='my site'",
  });
});

Deno.test("shellQuote() quotes only what a shell would split", () => {
  assertEquals(shellQuote("/srv/site"), "/srv/site");
  assertEquals(shellQuote("it's"), `'it'\\''s'`);
  assertEquals(shellQuote("$HOME"), "'$HOME'");
});

Deno.test("usage() shows the minimal deno run line for ROOT", () => {
  assertStringIncludes(
    usage({ root: "/srv/site", host: "127.0.0.1", port: 8000 }),
    "deno run --no-prompt --allow-net=127.0.0.1:8000 --allow-read=/srv/site main.ts",
  );
  // With --cert and --key, and page isolates: their files join the read.
  assertStringIncludes(
    usage({
      root: "/srv/site",
      host: "0.0.0.0",
      port: 443,
      pagesRead: "/opt/scriptserver/lib",
      reads: ["/etc/tls/cert.pem", "/etc/tls/key.pem"],
    }),
    "--allow-read=/srv/site,/opt/scriptserver/lib,/etc/tls/cert.pem,/etc/tls/key.pem main.ts",
  );
});

Deno.test("usage() in a compiled binary shows the binary's own command line", () => {
  const text = usage({
    root: "/srv/site",
    host: "127.0.0.1",
    port: 8000,
    standalone: true,
  });
  assertStringIncludes(text, "scriptserver [ROOT] [options]");
  assertStringIncludes(text, "embedded in this binary");
  assertEquals(text.includes("deno run"), false);
});

Deno.test("parseSize() reads bytes and k, m, g suffixes in powers of 1024", () => {
  assertEquals(parseSize("0"), 0);
  assertEquals(parseSize("1500"), 1500);
  assertEquals(parseSize("512k"), 512 * 1024);
  assertEquals(parseSize("10m"), 10 * 1024 * 1024);
  assertEquals(parseSize("10M"), 10 * 1024 * 1024);
  assertEquals(parseSize("1g"), 1024 ** 3);
  assertEquals(parseSize("1.5k"), 1536);
  assertEquals(parseSize("2mb"), 2 * 1024 * 1024);
  assertEquals(parseCli(["--max-body", "1k"]).maxBody, 1024);
  assertEquals(parseCli(["--max-fields", "50"]).maxFields, 50);
  assertThrows(
    () => parseCli(["--max-fields", "0"]),
    UsageError,
    '--max-fields "0"',
  );
});

Deno.test("parseSize() rejects anything else, naming the flag", () => {
  for (const value of ["", "-1", "ten", "10x", "10 m m", "1e3", "k"]) {
    assertThrows(() => parseSize(value), UsageError, "--max-body");
  }
});

Deno.test("parseDuration() reads seconds and s, m, h, d suffixes", () => {
  assertEquals(parseDuration("90", "--session-ttl"), 90_000);
  assertEquals(parseDuration("90s", "--session-ttl"), 90_000);
  assertEquals(parseDuration("30m", "--session-ttl"), 1_800_000);
  assertEquals(parseDuration("2H", "--session-ttl"), 7_200_000);
  assertEquals(parseDuration("1d", "--session-ttl"), 86_400_000);
  assertEquals(parseDuration("1.5m", "--session-ttl"), 90_000);
  assertEquals(parseCli(["--session-ttl", "10m"]).sessionTtl, 600_000);
  for (const bad of ["0", "-5m", "10 minutes", "m", ""]) {
    assertThrows(
      () => parseDuration(bad, "--session-ttl"),
      UsageError,
      "--session-ttl",
    );
  }
});

Deno.test("parseCount() reads whole numbers of at least 1", () => {
  assertEquals(parseCount("10000", "--max-sessions"), 10000);
  assertEquals(parseCli(["--max-sessions", "5"]).maxSessions, 5);
  for (const bad of ["0", "-1", "1.5", "many", ""]) {
    assertThrows(
      () => parseCount(bad, "--max-sessions"),
      UsageError,
      "--max-sessions",
    );
  }
});

Deno.test("parseCli() refuses a --sessions that is neither memory nor a Redis URL", () => {
  for (
    const value of [
      "redis",
      "http://127.0.0.1:6379",
      "redis://",
      "redis://h:6379/db",
      "redis://h:6379/1?x=1",
      "",
    ]
  ) {
    assertThrows(
      () => parseCli(["--sessions", value]),
      UsageError,
      "--sessions",
    );
  }
});

Deno.test("permissionFlags() adds the addresses the server connects to", () => {
  assertEquals(
    permissionFlags("site", "127.0.0.1", 8000, [
      redisAddress("redis://10.0.0.5/1"),
    ]).net,
    "--allow-net=127.0.0.1:8000,10.0.0.5:6379",
  );
});
