/**
 * The pairs of a `Cookie` header, read one way for every use (`ctx.cookies`,
 * the session id).
 *
 * Hand-written rather than std's `getCookies`, which throws on a pair that
 * starts with "=" (failing a whole page over one odd cookie) and keeps only
 * the last of several pairs of one name (the session id wants the first).
 *
 * @module
 */

/**
 * The `name=value` pairs of a Cookie header, in order: names trimmed,
 * values as sent (`"flag"` is `["flag", ""]`); empty and nameless pairs
 * are skipped.
 */
export function* cookiePairs(header: string): Generator<[string, string]> {
  for (let start = 0; start < header.length;) {
    const semicolon = header.indexOf(";", start);
    const end = semicolon === -1 ? header.length : semicolon;
    const pair = header.slice(start, end);
    start = end + 1;
    const eq = pair.indexOf("=");
    const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
    if (name === "") continue;
    yield [name, eq === -1 ? "" : pair.slice(eq + 1)];
  }
}
