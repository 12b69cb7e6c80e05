// /hello.ts?name=world answers "Hello world !", as the original ScriptServer's
// first example did. A string is sent as HTML, so the name is escaped.
import type { PageContext } from "../lib/mod.ts";

const SPECIAL = /[&<>"']/;
const escape = (text: string) =>
  SPECIAL.test(text)
    ? text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
    : text;

export default function hello(ctx: PageContext): string {
  return `Hello ${escape(ctx.query.get("name") ?? "stranger")} !`;
}
