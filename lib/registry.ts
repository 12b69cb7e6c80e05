/**
 * The handler registry: which handler answers a file, by extension. It
 * replaces ScriptServer's `run_<ext>` methods. Page modules, templates and
 * static files are registered the same way as any handler a user adds.
 *
 * @module
 */
import type { FileHandler, HandlerMap } from "./types.ts";

/** The key of the handler used for extensions nobody registered. */
export const DEFAULT_HANDLER = "*";

/**
 * The lower-cased extension of a file name or path (".ts"), or "": what
 * std's `extname` gives, without walking the whole path (this runs for
 * each segment of a URL).
 */
export function extensionOf(path: string): string {
  const dot = path.lastIndexOf(".");
  if (dot === -1) return "";
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  // ".bashrc" has no extension; neither has "a.d/file" nor "..".
  if (dot <= slash + 1 || (dot === slash + 2 && path[dot - 1] === ".")) {
    return "";
  }
  return path.slice(dot).toLowerCase();
}

/** A registry built from handler maps; later maps replace earlier entries. */
export interface Registry {
  /** The handler for a file path (by its lower-cased extension). */
  handlerFor(path: string): FileHandler;
  /** Whether a file name has a handler of its own (not the default one). */
  isScript(name: string): boolean;
}

/**
 * Builds a registry. Extensions are matched case-insensitively, so
 * "PAGE.TS" on a case-insensitive file system is still run, never served as
 * source.
 */
export function createRegistry(...maps: HandlerMap[]): Registry {
  const handlers = new Map<string, FileHandler>();
  for (const map of maps) {
    for (const [extension, handler] of Object.entries(map)) {
      if (extension !== DEFAULT_HANDLER && !/^\.[^./\\]+$/.test(extension)) {
        throw new TypeError(
          `Cannot register a handler for "${extension}": use an extension such as ".md", or "${DEFAULT_HANDLER}"`,
        );
      }
      handlers.set(extension.toLowerCase(), handler);
    }
  }
  const fallback = handlers.get(DEFAULT_HANDLER);
  if (fallback === undefined) {
    throw new TypeError(`A registry needs a "${DEFAULT_HANDLER}" handler`);
  }
  handlers.delete(DEFAULT_HANDLER);
  return {
    handlerFor(path) {
      return handlers.get(extensionOf(path)) ?? fallback;
    },
    isScript(name) {
      return handlers.has(extensionOf(name));
    },
  };
}
