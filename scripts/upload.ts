// Receives upload.html's multipart form: ctx.form is already parsed, and each
// uploaded file is a File. Nothing is written to disk. The answer is
// _uploaded.tpl inside the site's layout.
import type { PageContext } from "scriptserver";

export default function upload(ctx: PageContext): Promise<Response> | Response {
  if (ctx.method !== "POST") return ctx.redirect("upload.html");
  const { escape } = ctx;
  const files = ctx.form.getAll("files").filter((f): f is File =>
    f instanceof File && f.name !== ""
  );
  // Markup built here: every name and type escaped, then ctx.html().
  const rows = files.map((file) =>
    `<tr><td>${escape(file.name)}</td><td>${file.size} bytes</td><td>${
      escape(file.type || "unknown")
    }</td></tr>`
  ).join("\n");
  return ctx.render("_uploaded.tpl", {
    title: "Uploaded",
    count: `${files.length} file${files.length === 1 ? "" : "s"}`,
    who: String(ctx.form.get("who") ?? "someone"),
    rows: ctx.html(rows),
  }, { layout: "_layout.tpl" });
}
