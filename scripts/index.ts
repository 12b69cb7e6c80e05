// The portal's home page, as in the original ScriptServer's example: the
// logged-in user and a Logout link, or a Login link, inside the site's layout.
import type { PageContext } from "scriptserver";

export default async function home(ctx: PageContext): Promise<Response> {
  const user = ctx.session.user;
  const account = typeof user === "string"
    // A fragment rendered from a template is already escaped: ctx.html()
    // inserts it as is.
    ? ctx.html(await (await ctx.render("_user.tpl", { user })).text())
    : ctx.html('<a href="login.html">Login</a>');
  // _home.tpl goes into _layout.tpl as its $body; both get these values.
  return ctx.render("_home.tpl", {
    title: "scriptserver example site",
    account,
  }, { layout: "_layout.tpl" });
}
