/**
 * Small HTML pages for error responses. Every value is escaped: nothing from
 * the request is ever reflected as markup.
 *
 * @module
 */
import { escapeHtml, STATUS_TEXT } from "./_std.ts";
import { BoundedMap } from "./bounded_map.ts";
import { HTML_HEADERS, renderDocument } from "./html.ts";

/** CSS for the detail block. */
const DETAIL_STYLE =
  ".frames summary{color:#6e6e73;font-size:.85rem}.hint{padding:.6rem 1rem;border-left:4px solid #ff9f0a;background:#ff9f0a1a}.where{color:#6e6e73}.source{padding:.6rem 0}.source span{display:block;padding:0 1rem}.source mark{display:block;padding:0 1rem;background:#ff453a33;color:inherit}details{margin-top:1rem}";

const STYLE =
  ":root{color-scheme:light dark}body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem}h1{font-size:1.4rem}pre{overflow:auto;padding:1rem;border:1px solid #8884;border-radius:6px;font-size:.85rem}";

/** What an error page shows. */
export interface ErrorPageOptions {
  /** One sentence for the visitor. */
  message: string;
  /** Detail markup, already escaped (development mode only). */
  detailHtml?: string;
  /** Headers the response carries besides its type and `nosniff`. */
  headers?: HeadersInit;
}

/** Renders the HTML of an error page. */
export function renderErrorPage(
  status: number,
  options: ErrorPageOptions,
): string {
  const title = `${status} ${STATUS_TEXT[status] ?? "Error"}`;
  return renderDocument({
    title,
    style: STYLE + DETAIL_STYLE,
    body: `<h1>${title}</h1>\n<p>${escapeHtml(options.message)}</p>\n${
      options.detailHtml ?? ""
    }`,
  });
}

/** An HTML error response (with `X-Content-Type-Options: nosniff`). */
export function errorPage(
  status: number,
  options: ErrorPageOptions,
): Response {
  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(HTML_HEADERS)) {
    headers.set(name, value);
  }
  return new Response(htmlOf(status, options), { status, headers });
}

/**
 * Pages without details, by status and message: a flood of requests for
 * missing paths should cost no more than serving real ones.
 */
const rendered = new BoundedMap<string, string>({
  maxEntries: 100,
  maxBytes: 1024 * 1024,
});

/** The HTML of an error page without details, rendered once per status and message. */
export function htmlOf(status: number, options: ErrorPageOptions): string {
  if (options.detailHtml !== undefined) return renderErrorPage(status, options);
  const key = `${status} ${options.message}`;
  let html = rendered.get(key);
  if (html === undefined) {
    html = renderErrorPage(status, options);
    rendered.set(key, html);
  }
  return html;
}
