// Shows everything a page receives: try /inspect.ts/some/path?x=1, or post a
// form to it. Answers JSON when asked with ?format=json.
import type { PageContext } from "scriptserver";

function table(
  escape: PageContext["escape"],
  title: string,
  entries: Iterable<[string, string]>,
): string {
  const rows = [...entries].map(([k, v]) =>
    `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`
  ).join("");
  return `<h2>${title}</h2><table>${
    rows || "<tr><td>(none)</td></tr>"
  }</table>`;
}

function formEntries(form: FormData): [string, string][] {
  return [...form].map(([k, v]) => [
    k,
    v instanceof File ? `File ${v.name} (${v.size} bytes, ${v.type})` : v,
  ]);
}

export default function inspect(ctx: PageContext) {
  if (ctx.query.get("format") === "json") {
    return {
      method: ctx.method,
      url: ctx.url.href,
      query: Object.fromEntries(ctx.query),
      form: Object.fromEntries(formEntries(ctx.form)),
      cookies: { ...ctx.cookies },
      env: { ...ctx.env },
    };
  }
  ctx.responseHeaders.set("cache-control", "no-store");
  const { escape } = ctx;
  // Under /inspect.ts/some/path, "style.css" would resolve to
  // /inspect.ts/some/style.css (this page again): links start from the
  // page's own folder instead.
  const here = escape((ctx.env.SCRIPT_NAME ?? "/").replace(/[^/]*$/, ""));
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Request inspector</title>
<link rel="stylesheet" href="${here}style.css"></head>
<body>
<h1>Request inspector</h1>
<p><code>${escape(ctx.method)} ${
    escape(ctx.url.pathname + ctx.url.search)
  }</code></p>
<form method="post"><input name="message" value="hello"><button>POST a form here</button></form>
${table(escape, "Query (ctx.query)", ctx.query)}
${table(escape, "Form (ctx.form)", formEntries(ctx.form))}
${table(escape, "Cookies (ctx.cookies)", Object.entries(ctx.cookies))}
${table(escape, "Headers (ctx.headers)", ctx.headers)}
${table(escape, "CGI environment (ctx.env)", Object.entries(ctx.env))}
<p><a href="${here}">Index</a></p>
</body>
</html>`;
}
