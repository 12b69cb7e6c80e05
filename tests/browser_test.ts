/**
 * End to end in a real browser: Debian's chromium, driven by playwright-core,
 * against the bundled example site served under the minimal permissions.
 * Screenshots land in tests/screenshots/.
 */
import { assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { Buffer } from "node:buffer";
// A full specifier, not an import-map entry: deno compile embeds every
// package the import map names, and this one is only for tests.
import { chromium } from "npm:playwright-core@1.65.1";
import { REPO, spawnServer, tempTree } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(REPO, "tests", "screenshots");

const LAUNCH = {
  executablePath: CHROMIUM,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: hasChromium()
    ? "a browser logs in and out of the portal and uploads files"
    : `a browser logs in and out of the portal and uploads files (ignored: no ${CHROMIUM}; apt-get install chromium)`,
  ignore: !hasChromium(),
  async fn() {
    const server = await spawnServer({ root: join(REPO, "scripts") });
    const browser = await chromium.launch(LAUNCH);
    try {
      const page = await browser.newPage({
        viewport: { width: 900, height: 640 },
      });
      await page.goto(server.url);
      await page.click("text=Login");
      await page.fill("input[name=user]", "alice");
      await page.click("input[type=submit]");
      await page.waitForSelector("text=User : alice");
      assertStringIncludes(
        (await page.textContent(".account")) ?? "",
        "User : alice",
      );
      await page.screenshot({ path: join(SCREENSHOTS, "portal.png") });
      await page.click("text=Logout");
      await page.waitForSelector("text=Login");

      await page.goto(new URL("/upload.html", server.url).href);
      await page.setInputFiles("input[type=file]", [
        {
          name: "notes.txt",
          mimeType: "text/plain",
          buffer: Buffer.from("hello"),
        },
        {
          name: "<b>pic</b>.png",
          mimeType: "image/png",
          buffer: Buffer.alloc(1234),
        },
      ]);
      await page.click("button[type=submit]");
      await page.waitForSelector("h1");
      assertEquals(await page.textContent("h1"), "2 files from visitor");
      const rows = await page.$$eval(
        "tbody tr",
        (trs) => trs.map((tr) => tr.textContent),
      );
      assertEquals(rows, [
        "notes.txt5 bytestext/plain",
        "<b>pic</b>.png1234 bytesimage/png",
      ]);
      await page.screenshot({ path: join(SCREENSHOTS, "upload.png") });
    } finally {
      await browser.close();
      assertEquals((await server.stop()).code, 0);
    }
  },
});

Deno.test({
  name: hasChromium()
    ? "a browser sees an edited stylesheet on its next load"
    : `a browser sees an edited stylesheet on its next load (ignored: no ${CHROMIUM}; apt-get install chromium)`,
  ignore: !hasChromium(),
  async fn() {
    await using dir = await tempTree({
      "index.html":
        '<link rel="stylesheet" href="style.css"><p id="p">text</p>',
      "style.css": "p { color: rgb(255, 0, 0) }",
    });
    // A file last changed weeks ago: without being told to revalidate, a
    // browser keeps using its copy for days (heuristic freshness, RFC 9111
    // §4.2.2), edits or not.
    const style = join(dir.path, "style.css");
    const weeksAgo = new Date(Date.now() - 21 * 24 * 3600 * 1000);
    await Deno.utime(style, weeksAgo, weeksAgo);
    const server = await spawnServer({ root: dir.path });
    const browser = await chromium.launch(LAUNCH);
    try {
      const page = await browser.newPage();
      // A string, evaluated in the page (Deno's types have no DOM).
      const color = () =>
        page.evaluate<string>(
          'getComputedStyle(document.getElementById("p")).color',
        );
      await page.goto(server.url);
      assertEquals(await color(), "rgb(255, 0, 0)");
      await Deno.writeTextFile(style, "p { color: rgb(0, 0, 255) }");
      // The server learns of the edit from its file watcher: reload until
      // the page shows it, for at most two seconds.
      const deadline = Date.now() + 2000;
      let seen = "";
      while (Date.now() < deadline) {
        await page.reload();
        seen = await color();
        if (seen === "rgb(0, 0, 255)") break;
      }
      assertEquals(seen, "rgb(0, 0, 255)");
    } finally {
      await browser.close();
      assertEquals((await server.stop()).code, 0);
    }
  },
});

Deno.test({
  name: hasChromium()
    ? "a listing fits a 390 px wide phone screen, and its breadcrumbs lead up"
    : `a listing fits a 390 px wide phone screen, and its breadcrumbs lead up (ignored: no ${CHROMIUM}; apt-get install chromium)`,
  ignore: !hasChromium(),
  async fn() {
    const long = "AnUnbrokenFileNameFromACameraWithoutSpacesOrHyphens";
    await using dir = await tempTree({
      [`photos/2026/november/${long}-1.jpeg`]: "x".repeat(123456),
      [`photos/2026/november/${long}-2.jpeg`]: "y",
      "photos/2026/november/notes.txt": "z",
    });
    const server = await spawnServer({ root: dir.path });
    const browser = await chromium.launch(LAUNCH);
    try {
      const page = await browser.newPage({
        viewport: { width: 390, height: 844 },
      });
      await page.goto(new URL("/photos/2026/november/", server.url).href);
      const width = await page.evaluate<number>(
        "document.documentElement.scrollWidth",
      );
      assertEquals(width, 390, "the page scrolls sideways");
      await page.click("nav.crumbs >> text=photos");
      await page.waitForSelector("text=Index of /photos/");
      assertEquals(new URL(page.url()).pathname, "/photos/");
    } finally {
      await browser.close();
      assertEquals((await server.stop()).code, 0);
    }
  },
});

Deno.test({
  name: hasChromium()
    ? "live reload: an open tab shows an edited page without a click, and an edited stylesheet without reloading"
    : `live reload: an open tab shows an edited page without a click (ignored: no ${CHROMIUM}; apt-get install chromium)`,
  ignore: !hasChromium(),
  async fn() {
    const pageSource = (text: string) =>
      `export default () => '<link rel="stylesheet" href="style.css"><p id="p">${text}</p>';`;
    await using dir = await tempTree({
      "page.ts": pageSource("one"),
      "style.css": "p { color: rgb(255, 0, 0) }",
    });
    const server = await spawnServer({ root: dir.path });
    const browser = await chromium.launch(LAUNCH);
    try {
      const page = await browser.newPage();
      /** Waits (5 s at most) until `expression` holds in the page. */
      const until = (expression: string) =>
        page.waitForFunction(expression, undefined, { timeout: 5000 });
      await page.goto(new URL("/page", server.url).href);
      // Listening: edits from now on reach this tab.
      await until("window.__scriptserverLiveReload?.connected === true");
      // Set in the page: gone if the tab reloads.
      await page.evaluate("window.before = 1");

      await Deno.writeTextFile(
        join(dir.path, "style.css"),
        "p { color: rgb(0, 0, 255) }",
      );
      await until(
        'getComputedStyle(document.getElementById("p")).color === "rgb(0, 0, 255)"',
      );
      assertEquals(
        await page.evaluate<number | undefined>("window.before"),
        1,
        "a stylesheet change reloaded the whole tab",
      );

      await Deno.writeTextFile(join(dir.path, "page.ts"), pageSource("two"));
      await until('document.getElementById("p")?.textContent === "two"');
      assertEquals(
        await page.evaluate<number | undefined>("window.before"),
        undefined,
      );
      await page.screenshot({ path: join(SCREENSHOTS, "live_reload.png") });
    } finally {
      await browser.close();
      assertEquals((await server.stop()).code, 0);
    }
  },
});
