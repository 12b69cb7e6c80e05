// Logs the user out: removes the user from the session, back to the home page.
import type { PageContext } from "scriptserver";

export default function logout(ctx: PageContext): Response {
  delete ctx.session.user;
  return ctx.redirect("./");
}
