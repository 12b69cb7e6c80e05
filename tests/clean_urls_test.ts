/**
 * Clean URLs: an extensionless path answers from the file it names with
 * an extension, against a real server process.
 */
import { assertEquals } from "./_assert.ts";
import { rawGet, spawnServer, tempTree } from "./_helpers.ts";

Deno.test("/about answers from about.html, about.ts or about.tpl, in that order; an exact name wins", async () => {
  await using dir = await tempTree({
    "about.html": "about html",
    "about.ts": `export default () => "about page";`,
    "shop.ts":
      `export default (ctx) => "shop " + ctx.env.PATH_INFO + " " + ctx.env.SCRIPT_NAME;`,
    "hello.tpl": "hello $name",
    "docs/index.html": "docs folder",
    "docs.html": "docs file",
    "exact": "exact file",
    "exact.html": "not this",
    "_secret.html": "private",
    "notes.md.html": "dots stay as they are",
  });
  const server = await spawnServer({ root: dir.path });
  const body = async (path: string) => {
    const response = await rawGet(server.port, path);
    return `${response.status} ${response.body}`;
  };
  try {
    assertEquals(await body("/about"), "200 about html");
    assertEquals(await body("/hello?name=x"), "200 hello x");
    assertEquals(await body("/shop"), "200 shop  /shop.ts");
    assertEquals(await body("/shop/cart/1"), "200 shop /cart/1 /shop.ts");
    // A folder or a file of that very name wins.
    assertEquals(await body("/docs"), "301 ");
    assertEquals(await body("/docs/"), "200 docs folder");
    assertEquals(await body("/exact"), "200 exact file");
    // Private names stay private; names with a dot are taken as they are.
    assertEquals((await rawGet(server.port, "/_secret")).status, 404);
    assertEquals((await rawGet(server.port, "/notes.md")).status, 404);
    assertEquals((await rawGet(server.port, "/missing/deeper/x")).status, 404);
  } finally {
    await server.stop();
  }
  await Deno.remove(`${dir.path}/about.html`);
  const again = await spawnServer({ root: dir.path });
  try {
    assertEquals((await rawGet(again.port, "/about")).body, "about page");
  } finally {
    await again.stop();
  }
});
