/**
 * The HTML document shell shared by the pages the server makes itself
 * (listings, error pages).
 *
 * @module
 */

/** The media type of HTML, in UTF-8. */
export const HTML_TYPE = "text/html; charset=utf-8";

/** Headers of the HTML the server makes itself (listings, error pages). */
export const HTML_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": HTML_TYPE,
  "x-content-type-options": "nosniff",
});

/** The parts of a page; `title` and `body` must already be escaped. */
export interface HtmlDocument {
  /** Escaped text for `<title>`. */
  title: string;
  /** CSS for a `<style>` element. */
  style: string;
  /** Escaped markup for `<body>`. */
  body: string;
}

/** Renders a complete HTML document. */
export function renderDocument({ title, style, body }: HtmlDocument): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${style}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
