// /hello.ts?name=world answers "Hello world !", as the original ScriptServer's
// first example did. A string is sent as HTML, so the name is escaped with
// ctx.escape().
import type { PageContext } from "scriptserver";

export default function hello(ctx: PageContext): string {
  return `Hello ${ctx.escape(ctx.query.get("name") ?? "stranger")} !`;
}
