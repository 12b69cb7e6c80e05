/**
 * Start-up, written once for both entries: `main.ts` (`deno run`, a
 * compiled binary), which listens itself, and `serve.ts` (`deno serve`),
 * whose listener is Deno's. Parses the command line, finds the site,
 * checks permissions and write access, builds the app and waits for its
 * session store; every refusal is one line on stderr and an exit code.
 *
 * @module
 */
import { isLoopback } from "../url_path.ts";
import {
  type App,
  checkRoot,
  checkWriteAccess,
  connectsTo,
  createApp,
  missingPermissions,
  startupReads,
} from "./app.ts";
import {
  type CliOptions,
  DEFAULT_PORT,
  parseCli,
  parsePort,
  usage,
  UsageError,
} from "./options.ts";
import { resolveSite } from "./site.ts";
import { isolatesReadPath } from "../pages/isolate_runner.ts";

/** How this process serves. */
export interface StartOptions {
  /** `import.meta.url` of the entry: the bundled site is found from it. */
  moduleUrl: string;
  /**
   * Whether this process listens itself (`deno run`): then `--port` and
   * `--host` are its, and the listen permission is checked. Under
   * `deno serve`, Deno listens, and they are refused.
   */
  listens: boolean;
}

/** A server ready to serve, or the exit code of one that will not. */
export type Started =
  | {
    ok: true;
    cli: CliOptions;
    root: string;
    port: number;
    app: App;
    /** The certificate and key (PEM), for HTTPS. */
    tls?: { cert: string; key: string };
  }
  | { ok: false; code: number };

function refuse(message: string, code: number): Started {
  console.error(`scriptserver: ${message}`);
  return { ok: false, code };
}

/**
 * Reads a PEM file given to `flag`; what it must contain is checked by
 * name only (`label`), the pair itself when the server listens.
 *
 * @throws {Error} with a message for people, when it cannot.
 */
function readPem(path: string, flag: string, label: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "there is no such file"
      : (error as Error).message;
    throw new Error(`Cannot read ${flag} "${path}": ${reason}`);
  }
  if (!text.includes(`-----BEGIN `) || !text.includes(label)) {
    throw new Error(
      `Cannot use ${flag} "${path}": it holds no PEM ${label} (give the PEM files of a certificate and its key)`,
    );
  }
  return text;
}

/** `$PORT`, read only when env access was granted (it is never asked for). */
function portFromEnv(): number | undefined {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: "PORT" }).state ===
      "granted";
  const value = granted ? Deno.env.get("PORT") : undefined;
  return value === undefined || value === ""
    ? undefined
    : parsePort(value, "PORT");
}

/**
 * Everything before the first request, in order: the command line, the
 * site, `--help`, permissions, ROOT, write access, the store.
 */
export async function start(
  args: string[],
  options: StartOptions,
): Promise<Started> {
  const standalone = Deno.build.standalone;
  let cli: CliOptions;
  let port = DEFAULT_PORT;
  try {
    cli = parseCli(args);
    if (options.listens) port = cli.port ?? portFromEnv() ?? DEFAULT_PORT;
  } catch (error) {
    if (error instanceof UsageError) return refuse(error.message, 2);
    throw error;
  }
  if (!options.listens && cli.cert !== undefined) {
    return refuse(
      "--cert and --key are for deno run main.ts: under deno serve, Deno listens itself",
      1,
    );
  }
  if (
    !options.listens && (cli.port !== undefined || cli.host !== "127.0.0.1")
  ) {
    return refuse(
      "deno serve listens itself: give --port and --host to deno serve, before serve.ts",
      1,
    );
  }
  const site = resolveSite({
    root: cli.root,
    embeddedSite: cli.embeddedSite,
    moduleUrl: options.moduleUrl,
    standalone,
  });
  const { root } = site;
  const { host } = cli;
  if (cli.help) {
    console.log(
      usage({
        root,
        host,
        port,
        standalone,
        connects: connectsTo(cli),
        reads: startupReads(cli),
        ...(cli.inProcess ? {} : { pagesRead: isolatesReadPath() }),
      }),
    );
    return { ok: false, code: 0 };
  }

  const missing = missingPermissions(
    root,
    options.listens ? { host, port } : undefined,
    connectsTo(cli),
    startupReads(cli),
  );
  if (missing.length > 0) {
    const flags = missing.join(" ");
    return refuse(
      standalone
        ? `Missing permission: this binary was built without ${flags}; build it again with deno task compile ${flags}`
        : `Missing permission: run ${
          options.listens ? "deno" : "deno serve"
        } again with ${flags} (see --help)`,
      1,
    );
  }
  const problem = checkRoot(root);
  if (problem !== undefined) return refuse(problem, 1);
  let tls: { cert: string; key: string } | undefined;
  try {
    if (cli.cert !== undefined && cli.key !== undefined) {
      tls = {
        cert: readPem(cli.cert, "--cert", "CERTIFICATE"),
        key: readPem(cli.key, "--key", "PRIVATE KEY"),
      };
    }
  } catch (error) {
    return refuse((error as Error).message, 1);
  }
  const writes = checkWriteAccess(root);
  if (writes.error !== undefined) return refuse(writes.error, 1);
  if (writes.warning !== undefined) {
    console.error(`scriptserver: ${writes.warning}`);
  }
  if (options.listens && !cli.prod && !isLoopback(host)) {
    console.error(
      `scriptserver: warning: listening on ${host} in development mode; visitors from other machines get plain error pages, but add --prod before going live`,
    );
  }

  const app = await createApp(cli, site);
  if (cli.sessions !== undefined && !(await app.ready(2000))) {
    console.error(
      `scriptserver: cannot reach the session store at ${app.sessionsName} yet; pages that use sessions answer 503 until it is reachable`,
    );
  }
  return { ok: true, cli, root, port, app, ...(tls ? { tls } : {}) };
}
