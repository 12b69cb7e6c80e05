/**
 * `.tpl` templates with the syntax of Python's `string.Template`: `$name`,
 * `${name}` and `$$` for a literal "$". Every value is HTML-escaped.
 * `${> _header.tpl}` includes another template (in the spirit of
 * Mustache's `{{> partial}}`; before includes, `${>` was an error, so no
 * template that worked changes meaning).
 *
 * Hand-written: no library implements this syntax with escaping. Parsing
 * happens once per version of a file; rendering only concatenates, so a
 * value is always inserted literally (`$&` or `$'` in a value are text,
 * never replacement patterns) and never re-scanned for placeholders.
 *
 * @module
 */
import { escapeHtml } from "../_std.ts";
import type { ErrorLocation } from "../types.ts";

/** A `$name` or `${name}` in a template. */
export interface Placeholder {
  name: string;
  /** 1-based line of the "$". */
  line: number;
  /** 1-based column of the "$". */
  column: number;
}

/** A `${> path}` in a template: another template, filled with the same values. */
export interface Include {
  /** The path as written (trimmed), relative to the including template. */
  include: string;
  /** 1-based line of the "$". */
  line: number;
  /** 1-based column of the "$". */
  column: number;
}

/** A parsed template: literal text, placeholders and includes, in order. */
export interface Template {
  /** The template's name in messages ("hello.tpl"). */
  name: string;
  /** Its absolute path, when it comes from a file. */
  path: string | undefined;
  parts: (string | Placeholder | Include)[];
  /** Its includes, in order (none for most templates). */
  includes: Include[];
}

/**
 * A template could not be parsed or filled. `location` points at the
 * offending "$", so the development error page can show the source.
 */
export class TemplateError extends Error {
  /** Where in which file, when the template comes from a file. */
  readonly location: ErrorLocation | undefined;

  constructor(message: string, location: ErrorLocation | undefined) {
    super(message);
    this.name = "TemplateError";
    this.location = location;
  }
}

/**
 * Markup that is inserted as is: HTML the page has already made safe, such
 * as a fragment rendered from another template. Anything else is escaped.
 */
export class SafeHtml {
  /** The markup. */
  readonly html: string;

  /** Wraps markup the page made safe. */
  constructor(html: string) {
    this.html = html;
  }

  /** The markup itself. */
  toString(): string {
    return this.html;
  }
}

/** Marks `markup` as safe HTML, to be inserted without escaping. */
export function html(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * `$$`, `$identifier`, `${identifier}`, `${> path}` (a path on one line,
 * without "}"; one character class, so a long line without "}" costs its
 * length once), or a "$" followed by anything else (the last alternative,
 * which is an error).
 */
const TOKEN =
  /\$(?:(\$)|([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{>([^}\n]*)\}|)/g;

/**
 * Parses a template.
 *
 * @param name The template's name in messages.
 * @param path Its absolute path, for error locations.
 * @throws {TemplateError} for a "$" that starts no valid placeholder,
 * naming its line and column.
 */
export function parseTemplate(
  source: string,
  name: string,
  path?: string,
): Template {
  const parts: (string | Placeholder | Include)[] = [];
  const includes: Include[] = [];
  let text = "";
  let last = 0;
  let line = 1;
  let lineStart = 0;
  let newline = source.indexOf("\n");
  for (const match of source.matchAll(TOKEN)) {
    const at = match.index;
    while (newline !== -1 && newline < at) {
      line++;
      lineStart = newline + 1;
      newline = source.indexOf("\n", lineStart);
    }
    const column = at - lineStart + 1;
    text += source.slice(last, at);
    last = at + match[0].length;
    const [, dollar, bare, braced, included] = match;
    if (dollar !== undefined) {
      text += "$";
      continue;
    }
    const placeholder = bare ?? braced;
    const include = included?.trim();
    if (placeholder === undefined && !include) {
      const found = source.slice(at, at + 12).split("\n")[0];
      throw new TemplateError(
        `Invalid placeholder in template "${name}" at line ${line}, column ${column}: "${found}" (write $name, \${name}, \${> _other.tpl} to include a template, or $$ for a "$")`,
        path === undefined ? undefined : { path, line, column },
      );
    }
    if (text !== "") parts.push(text);
    text = "";
    if (placeholder !== undefined) {
      parts.push({ name: placeholder, line, column });
    } else {
      const part = { include: include!, line, column };
      parts.push(part);
      includes.push(part);
    }
  }
  text += source.slice(last);
  if (text !== "") parts.push(text);
  return { name, path, parts, includes };
}

/** Options for `Templates.render` (`ctx.render`'s third argument). */
export interface RenderOptions {
  /**
   * A template to render the result into, as `$body` (inserted as is), with
   * the same values otherwise: `ctx.render("_post.tpl", post, { layout:
   * "_layout.tpl" })`. Resolved like the template's own path.
   */
  layout?: string;
}

/**
 * Values for a template: a Map, a record of own properties, or the
 * parameters of a query string (the first value of each).
 */
export type TemplateValues =
  | ReadonlyMap<string, unknown>
  | URLSearchParams
  | Readonly<Record<string, unknown>>;

function lookUp(values: TemplateValues, name: string): unknown {
  if (values instanceof Map) return values.get(name);
  if (values instanceof URLSearchParams) return values.get(name) ?? undefined;
  // Own properties only: "constructor" or "__proto__" must not find
  // Object.prototype's.
  const record = values as Readonly<Record<string, unknown>>;
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/**
 * Fills a template. Every value is converted to a string and HTML-escaped
 * (`& < > " '`), except {@linkcode SafeHtml}. An include is replaced by
 * what `included` gives for it (the included template, filled with the
 * same values).
 *
 * @throws {TemplateError} for a placeholder with no value (or `undefined`),
 * naming the placeholder, the template and the line; for an include
 * without `included`.
 */
export function renderTemplate(
  template: Template,
  values: TemplateValues,
  included?: (part: Include) => string,
): string {
  let out = "";
  for (const part of template.parts) {
    if (typeof part === "string") {
      out += part;
      continue;
    }
    if ("include" in part) {
      if (included === undefined) {
        throw new TemplateError(
          `Template "${template.name}" includes "${part.include}" (line ${part.line}), and includes are resolved only for templates in files`,
          undefined,
        );
      }
      out += included(part);
      continue;
    }
    const value = lookUp(values, part.name);
    if (value === undefined) {
      throw new TemplateError(
        `Template "${template.name}" has no value for $${part.name} (line ${part.line})`,
        template.path === undefined
          ? undefined
          : { path: template.path, line: part.line, column: part.column },
      );
    }
    out += value instanceof SafeHtml ? value.html : escapeHtml(String(value));
  }
  return out;
}
