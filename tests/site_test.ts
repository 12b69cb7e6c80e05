import { assertEquals } from "./_assert.ts";
import { resolveSite } from "../lib/cli/site.ts";

const ON_DISK = "file:///home/me/scriptserver/main.ts";
const IN_BINARY =
  "file:///tmp/deno-compile-scriptserver/home/me/scriptserver/main.ts";

Deno.test("resolveSite() serves ROOT from disk, as given, in both modes", () => {
  for (const standalone of [false, true]) {
    assertEquals(
      resolveSite({
        root: "./site",
        embeddedSite: "../other",
        moduleUrl: standalone ? IN_BINARY : ON_DISK,
        standalone,
      }),
      { root: "./site", embedded: false },
    );
  }
});

Deno.test("resolveSite() finds the bundled scripts/ beside main.ts under deno run", () => {
  assertEquals(
    resolveSite({
      root: undefined,
      embeddedSite: undefined,
      moduleUrl: ON_DISK,
      standalone: false,
    }),
    { root: "/home/me/scriptserver/scripts", embedded: false },
  );
});

Deno.test("resolveSite() finds the embedded site inside a compiled binary", () => {
  assertEquals(
    resolveSite({
      root: undefined,
      embeddedSite: undefined,
      moduleUrl: IN_BINARY,
      standalone: true,
    }),
    {
      root: "/tmp/deno-compile-scriptserver/home/me/scriptserver/scripts",
      embedded: true,
    },
  );
  assertEquals(
    resolveSite({
      root: undefined,
      embeddedSite: "../../sites/shop/",
      moduleUrl: IN_BINARY,
      standalone: true,
    }),
    {
      root: "/tmp/deno-compile-scriptserver/home/sites/shop",
      embedded: true,
    },
  );
});
