/**
 * `deno task init DIR`: writes a starter site in a new folder, with a
 * deno.json of its own, so that `deno check` and editors know its pages'
 * one import, "scriptserver" (the page API, lib/page_api.ts).
 *
 * ```sh
 * deno task init ../mysite
 * ```
 *
 * The folder must not exist yet, or be empty: nothing is ever overwritten.
 *
 * @module
 */
import { fromFileUrl, join, relative, resolve } from "@std/path";
import { permissionFlags } from "../lib/cli/options.ts";

/** The repository (where main.ts is). */
const REPO = resolve(fromFileUrl(new URL("..", import.meta.url)));

/** The deno.json of a new site at `dir`: the server's imports, and "scriptserver". */
export function siteConfig(
  dir: string,
  repoConfig: { imports: Record<string, string> },
): { imports: Record<string, string>; compilerOptions: { strict: boolean } } {
  const imports: Record<string, string> = {};
  for (const [name, target] of Object.entries(repoConfig.imports)) {
    // npm: and jsr: targets are the same anywhere; paths are the repository's.
    imports[name] = target.startsWith("./") || target.startsWith("../")
      ? relativeSpecifier(dir, join(REPO, target))
      : target;
  }
  return {
    imports,
    compilerOptions: { strict: true },
  };
}

/** `path` as a specifier relative to `dir` ("../scriptserver/lib/page_api.ts"). */
function relativeSpecifier(dir: string, path: string): string {
  const rel = relative(dir, path).replaceAll("\\", "/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/**
 * The starter site's files: a page, the template it renders, and the layout
 * around it (the three-file site of the README), with a stylesheet.
 */
export const STARTER: Readonly<Record<string, string>> = {
  "index.ts":
    `// The home page: a page module. Its default export answers requests.
import type { PageContext } from "scriptserver";

export default function home(ctx: PageContext) {
  const visits = Number(ctx.session.visits ?? 0) + 1;
  ctx.session.visits = visits;
  // _home.tpl, rendered into _layout.tpl as its $body.
  return ctx.render("_home.tpl", {
    title: "My site",
    name: ctx.query.get("name") ?? "visitor",
    visits,
  }, { layout: "_layout.tpl" });
}
`,
  "_home.tpl": `<h1>Hello $name</h1>
<p>This is visit number $visits of this browser session.</p>
<p>Edit <code>index.ts</code>, <code>_home.tpl</code> or <code>_layout.tpl</code>
and save: this tab reloads by itself. Files starting with <code>_</code> are
private.</p>
<form><input name="name" placeholder="Your name"> <button>Greet me</button></form>
`,
  "_layout.tpl": `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
$body
</body>
</html>
`,
  "style.css":
    `body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
`,
};

function isEmptyOrMissing(dir: string): boolean {
  try {
    for (const _ of Deno.readDirSync(dir)) return false;
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

if (import.meta.main) {
  const [target, ...extra] = Deno.args;
  if (target === undefined || target.startsWith("-") || extra.length > 0) {
    console.error(
      "init: give one folder for the new site: deno task init ../mysite",
    );
    Deno.exit(2);
  }
  const dir = resolve(target);
  if (!isEmptyOrMissing(dir)) {
    console.error(
      `init: "${dir}" is not empty; give a new folder (nothing is ever overwritten)`,
    );
    Deno.exit(1);
  }
  const repoConfig = JSON.parse(
    await Deno.readTextFile(join(REPO, "deno.json")),
  );
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify(siteConfig(dir, repoConfig), null, 2) + "\n",
  );
  for (const [name, text] of Object.entries(STARTER)) {
    await Deno.writeTextFile(join(dir, name), text);
  }
  // Paths as the user would type them from here: relative unless that
  // climbs out of the working directory.
  const near = (path: string) => {
    const rel = relative(Deno.cwd(), path);
    return rel === "" ? "." : rel.startsWith("..") ? path : rel;
  };
  const main = near(join(REPO, "main.ts"));
  const site = near(dir);
  const { net, read } = permissionFlags(site, "127.0.0.1", 8000);
  console.log(`init: wrote a starter site in ${dir}

Serve it:
  deno run --no-prompt ${net} ${read} ${main} ${site}

Check its pages:
  cd ${site} && deno check *.ts`);
}
