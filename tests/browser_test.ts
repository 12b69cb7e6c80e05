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
import { REPO, spawnServer } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(REPO, "tests", "screenshots");

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
    const browser = await chromium.launch({
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
    });
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
