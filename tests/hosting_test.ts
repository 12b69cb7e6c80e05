/**
 * Least-privilege hosting: what keeps pages inside ROOT when the permission
 * system does not (a compiled binary's module loader reads disk files
 * without checking --allow-read), relative ROOTs, and reverse proxies.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { join } from "@std/path";
import { postLogin, rawGet, spawnServer, tempTree } from "./_helpers.ts";

Deno.test("pages outside ROOT are never imported, even with read access beyond ROOT", async () => {
  await using dir = await tempTree({
    "outside/secret.ts": `export default () => "OUTSIDE RAN";`,
    "outside/secret.tpl": "OUTSIDE TEMPLATE",
    "site/inside.ts": `export default () => "inside";`,
    "site/link.ts": { symlink: "../outside/secret.ts" },
    "site/link.tpl": { symlink: "../outside/secret.tpl" },
    "site/dir-link": { symlink: "../outside" },
  });
  const root = join(dir.path, "site");
  // Read access to the parent, as a compiled binary's loader would have:
  // only the server's own containment check stands in the way.
  const server = await spawnServer({
    root,
    permissions: [`--allow-net=127.0.0.1`, `--allow-read=${dir.path}`],
  });
  try {
    assertEquals((await rawGet(server.port, "/inside.ts")).body, "inside");
    for (
      const path of [
        "/link.ts",
        "/link.tpl",
        "/dir-link/secret.ts",
        "/dir-link/",
        "/../outside/secret.ts",
        "/%2e%2e/outside/secret.ts",
        "/inside.ts/../../outside/secret.ts",
      ]
    ) {
      const response = await rawGet(server.port, path);
      assert(response.status === 404 || response.status === 400, path);
      assert(!response.body.includes("OUTSIDE"), path);
    }
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

Deno.test("a ROOT relative to the working directory serves pages and their helpers", async () => {
  await using dir = await tempTree({
    "site/page.ts":
      `import { greet } from "./_helper.ts"; export default () => greet();`,
    "site/_helper.ts": `export const greet = () => "helped";`,
  });
  const server = await spawnServer({
    root: "site",
    permissions: ["--allow-net=127.0.0.1", "--allow-read=site"],
    cwd: dir.path,
  });
  try {
    assertEquals((await rawGet(server.port, "/page.ts")).body, "helped");
  } finally {
    assertEquals((await server.stop()).code, 0);
  }
});

async function loginCookie(url: string, headers: Record<string, string>) {
  const response = await postLogin(url, "alice", headers);
  return response.headers.getSetCookie()[0] ?? "";
}

Deno.test("--trust-proxy lets X-Forwarded-Proto: https make the session cookie Secure", async () => {
  await using dir = await tempTree({
    "login.ts":
      `export default (ctx) => { ctx.session.user = "a"; return ""; };`,
  });
  const trusting = await spawnServer({
    root: dir.path,
    args: ["--trust-proxy"],
  });
  const plain = await spawnServer({ root: dir.path });
  try {
    const https = { "x-forwarded-proto": "https" };
    assertStringIncludes(await loginCookie(trusting.url, https), "; Secure");
    assert(!(await loginCookie(trusting.url, {})).includes("Secure"));
    assert(!(await loginCookie(plain.url, https)).includes("Secure"));
  } finally {
    assertEquals((await trusting.stop()).code, 0);
    assertEquals((await plain.stop()).code, 0);
  }
});
