/**
 * The error of a page that failed: the runner throws it, the error page
 * shows it.
 *
 * @module
 */

/**
 * A page failed: it could not be loaded, it threw, or it returned something
 * that is not a response. `cause` is the page's own error.
 */
export class PageError extends Error {
  /** The page's path relative to the root ("shop/cart.ts"). */
  readonly page: string;

  constructor(page: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = "PageError";
    this.page = page;
  }
}
