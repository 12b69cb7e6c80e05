/**
 * Which folder to serve: the one given on the command line, or the site
 * bundled with the program, which in a compiled binary lives in its
 * embedded file system.
 *
 * @module
 */
import { fromFileUrl } from "../_std.ts";

/** The folder a server serves, and where it lives. */
export interface Site {
  /** The directory to serve. */
  root: string;
  /** Whether it is the bundled site inside a compiled binary (read-only). */
  embedded: boolean;
}

/** What decides the site. */
export interface SiteOptions {
  /** ROOT from the command line, as given (relative to the working directory). */
  root: string | undefined;
  /**
   * The bundled site as a path relative to `moduleUrl`'s directory:
   * `deno task compile --site DIR` bakes it into the binary
   * (`--embedded-site`). Default: "scripts".
   */
  embeddedSite: string | undefined;
  /** `import.meta.url` of main.ts: on disk, or inside a binary's embedded root. */
  moduleUrl: string;
  /** Whether this is a compiled binary (`Deno.build.standalone`). */
  standalone: boolean;
}

/** The bundled example site, beside main.ts. */
export const BUNDLED_SITE = "scripts";

/**
 * Resolves the site to serve. A ROOT given on the command line is a folder
 * on disk, relative to the working directory; without one, the bundled site
 * is found relative to main.ts (never the working directory), which in a
 * compiled binary points into its embedded file system.
 */
export function resolveSite(options: SiteOptions): Site {
  if (options.root !== undefined) {
    return { root: options.root, embedded: false };
  }
  const relative = options.embeddedSite ?? BUNDLED_SITE;
  const url = new URL(
    relative.endsWith("/") ? relative : `${relative}/`,
    options.moduleUrl,
  );
  const root = fromFileUrl(url).replace(/[/\\]$/, "");
  return { root, embedded: options.standalone };
}
