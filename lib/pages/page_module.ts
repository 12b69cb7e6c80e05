/**
 * Importing a page module and checking that it is one: what the in-process
 * runner and a page isolate both do.
 *
 * @module
 */
import { PageError } from "./page_error.ts";
import type { PageFunction } from "./page_context.ts";

/**
 * Imports the page module at `url` and returns its default export.
 *
 * @param name The page's path under the root, for messages.
 * @throws {PageError} when the module cannot be loaded (a syntax error, a
 * missing import) or its default export is not a function.
 */
export async function importPage(
  url: string,
  name: string,
): Promise<PageFunction> {
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new PageError(
      name,
      `Cannot load page "${name}": ${(error as Error).message ?? error}`,
      error,
    );
  }
  const page = module.default;
  if (typeof page !== "function") {
    const problem = page === undefined
      ? "it has no default export"
      : `its default export is ${typeof page}, not a function`;
    const error = new TypeError(
      `Cannot load page "${name}": ${problem}. Export a function: export default function (ctx) { return "Hello"; }`,
    );
    throw new PageError(name, error.message, error);
  }
  return page as PageFunction;
}
