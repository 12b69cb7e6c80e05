// Receives upload.html's multipart form: ctx.form is already parsed, and each
// uploaded file is a File. Nothing is written to disk.
import type { PageContext } from "scriptserver";

export default function upload(ctx: PageContext): string | Response {
  if (ctx.method !== "POST") return ctx.redirect("upload.html");
  const { escape } = ctx;
  const files = ctx.form.getAll("files").filter((f): f is File =>
    f instanceof File && f.name !== ""
  );
  const who = escape(String(ctx.form.get("who") ?? "someone"));
  const rows = files.map((file) =>
    `<tr><td>${escape(file.name)}</td><td>${file.size} bytes</td><td>${
      escape(file.type || "unknown")
    }</td></tr>`
  ).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Uploaded</title>
<link rel="stylesheet" href="style.css"></head>
<body>
<h1>${files.length} file${files.length === 1 ? "" : "s"} from ${who}</h1>
<table>
<thead><tr><th>Name</th><th>Size</th><th>Type</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p><a href="upload.html">Upload more</a> · <a href="./">Index</a></p>
</body>
</html>`;
}
