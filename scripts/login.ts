// Logs a user in: a new session id first (so an id planted before login is
// worthless), then the user in the session, then back to the home page.
import type { PageContext } from "scriptserver";

export default async function login(ctx: PageContext): Promise<Response> {
  const user = String(ctx.form.get("user") ?? "").trim();
  if (ctx.method !== "POST" || user === "") return ctx.redirect("login.html");
  await ctx.regenerateSession();
  ctx.session.user = user;
  return ctx.redirect("./", 303);
}
