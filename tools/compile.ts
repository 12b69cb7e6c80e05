/**
 * `deno task compile`: builds scriptserver into one executable with
 * `deno compile`, embedding a site (the bundled scripts/ by default).
 *
 * ```sh
 * deno task compile                       # dist/scriptserver, embeds scripts/
 * deno task compile --site ../shop        # embeds another site
 * deno task compile --allow-read=/srv/site --allow-net=0.0.0.0:8080
 * ```
 *
 * The site is embedded with `--include`, which also makes `deno compile`
 * analyse its page modules and their imports into the binary. Its path
 * relative to main.ts is baked in as `--embedded-site`.
 *
 * @module
 */
import { dirname, fromFileUrl, join, relative } from "@std/path";
import { parseArgs } from "@std/cli/parse-args";
import { V8_FLAGS } from "./v8_flags.ts";
import { REDIS_CLIENT } from "../lib/sessions/redis_client.ts";
import { PAGE_WORKER, SPAWNER_WORKER } from "../lib/pages/isolate_runner.ts";

/** The repository (where main.ts is). */
export const REPO: string = fromFileUrl(new URL("..", import.meta.url)).replace(
  /[/\\]$/,
  "",
);

/** What to build. */
export interface BuildOptions {
  /** The site to embed (absolute). */
  site: string;
  /** Where the binary goes. */
  output: string;
  /** `--allow-read` value: `true` for any path, or a comma-separated list. */
  allowRead: true | string;
  /** `--allow-net` value: `true` for any address, or a comma-separated list. */
  allowNet: true | string;
  /** Files in the site not to embed (dotfiles), relative to the repository. */
  exclude: string[];
  /** A `--target` for cross-compiling. */
  target: string | undefined;
}

function flag(name: string, value: true | string): string {
  return value === true ? `--allow-${name}` : `--allow-${name}=${value}`;
}

/**
 * The arguments for `deno compile`. Only read and network permissions are
 * baked in: the binary never needs env, write, run, sys or ffi access.
 */
export function compileArgs(options: BuildOptions): string[] {
  const site = relative(REPO, options.site).replaceAll("\\", "/") || ".";
  return [
    "compile",
    flag("read", options.allowRead),
    flag("net", options.allowNet),
    V8_FLAGS,
    "--include",
    options.site,
    // Loaded by a specifier deno compile cannot see (lib/sessions/redis_client.ts).
    "--include",
    REDIS_CLIENT,
    // Started as Workers, which deno compile cannot see either.
    "--include",
    PAGE_WORKER,
    "--include",
    SPAWNER_WORKER,
    ...options.exclude.flatMap((path) => ["--exclude", path]),
    "--output",
    options.output,
    ...(options.target === undefined ? [] : ["--target", options.target]),
    join(REPO, "main.ts"),
    "--embedded-site",
    site,
  ];
}

/** Dotfiles and dot-directories under `site`: never embedded (secrets). */
export function dotfilesIn(site: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(site)) {
    const path = join(site, entry.name);
    if (entry.name.startsWith(".")) found.push(path);
    else if (entry.isDirectory) found.push(...dotfilesIn(path));
  }
  return found;
}

/**
 * Where `deno compile` will find denort, the runtime it embeds programs in:
 * `DENORT_BIN`, a `denort` beside `deno`, or Deno's download cache. Without
 * one it would try to download it.
 */
export function findDenort(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string | undefined {
  const candidates = [
    env("DENORT_BIN"),
    join(dirname(Deno.execPath()), "denort"),
  ];
  const denoDir = env("DENO_DIR") ??
    (env("HOME") && join(env("HOME")!, ".cache", "deno"));
  if (denoDir) {
    candidates.push(
      join(
        denoDir,
        "dl",
        "release",
        `v${Deno.version.deno}`,
        `denort-${Deno.build.target}.zip`,
      ),
    );
  }
  return candidates.find((path) => {
    if (!path) return false;
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/** Why a binary cannot be built here, for people. */
export const NO_DENORT =
  `deno compile builds on denort, a slim Deno runtime it downloads on first use, and the download failed. Where Deno's servers cannot be reached, get denort-${Deno.build.target}.zip for Deno ${Deno.version.deno} from https://github.com/denoland/deno/releases on another machine, unzip it, and run again with DENORT_BIN=/path/to/denort.`;

if (import.meta.main) {
  const args = parseArgs(Deno.args, {
    string: ["site", "output", "allow-read", "allow-net", "target"],
    boolean: ["help"],
  }) as Record<string, string | boolean | undefined>;
  if (args.help) {
    console.log(
      "deno task compile [--site DIR] [--output PATH] [--allow-read[=PATHS]] [--allow-net[=HOSTS]] [--target TARGET]",
    );
    Deno.exit(0);
  }
  const given = typeof args.site === "string"
    ? args.site
    : join(REPO, "scripts");
  let site: string;
  try {
    site = Deno.realPathSync(given);
    if (!Deno.statSync(site).isDirectory) throw new Error("not a directory");
  } catch (error) {
    console.error(
      `compile: --site "${given}" ${
        error instanceof Deno.errors.NotFound
          ? "does not exist"
          : "is not a directory"
      }: give the folder of the site to embed`,
    );
    Deno.exit(1);
  }
  const value = (name: string): true | string => {
    const given = args[name];
    return typeof given === "string" && given !== "" ? given : true;
  };
  const options: BuildOptions = {
    site,
    output: typeof args.output === "string"
      ? args.output
      : join(REPO, "dist", "scriptserver"),
    allowRead: value("allow-read"),
    allowNet: value("allow-net"),
    exclude: dotfilesIn(site),
    target: typeof args.target === "string" ? args.target : undefined,
  };
  // deno compile downloads denort itself on first use; only when that
  // fails is there something to explain.
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(options),
    cwd: REPO,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(stderr);
  const failedDownload = code !== 0 && said.includes("denort") &&
    /Setting up base binary|error sending request/.test(said);
  if (failedDownload) {
    const cause = /(?:dns error|error sending request)[^\n]*/.exec(said)?.[0];
    console.error(
      `compile: ${NO_DENORT}${cause ? ` (${cause.trim()})` : ""}`,
    );
  } else {
    await Deno.stderr.write(stderr);
  }
  if (code === 0) {
    console.log(
      `compile: built ${options.output}, embedding ${site}, with only ${
        flag("read", options.allowRead)
      } ${flag("net", options.allowNet)}`,
    );
  }
  Deno.exit(code);
}
