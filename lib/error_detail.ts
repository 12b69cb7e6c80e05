/**
 * What the development error page shows of a failure: the error, where it
 * happened (file relative to the root, line), the source around that line
 * and the stack. Everything is HTML-escaped.
 *
 * @module
 */
import { escapeHtml, fromFileUrl } from "./_std.ts";
import { isInside, relativeName } from "./files/files.ts";
import { PageError } from "./pages/page_error.ts";
import { TemplateError } from "./templates/template.ts";
import type { ErrorLocation } from "./types.ts";

/** `file:` URLs with a position, as stacks and Deno's syntax errors show them. */
const POSITION = /(file:\/\/[^\s()?]+)(?:\?[^\s():]*)?:(\d+):(\d+)/g;

/**
 * The first place under `root` that an error's stack (or, for syntax
 * errors, its message) points at.
 */
export function findErrorLocation(
  error: unknown,
  root: string,
): ErrorLocation | undefined {
  if (!(error instanceof Error)) return undefined;
  const text = stripAnsi(`${error.stack ?? ""}\n${error.message}`);
  for (const [, url = "", line = "", column = ""] of text.matchAll(POSITION)) {
    let path: string;
    try {
      path = fromFileUrl(url);
    } catch {
      continue;
    }
    if (isInside(root, path)) {
      return { path, line: Number(line), column: Number(column) };
    }
  }
  return undefined;
}

/**
 * ANSI colour codes, as Deno puts in module-load errors when its output is
 * a terminal: raw, they show as `[0m[31m` and hide the `file:` URLs.
 */
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** A text without ANSI colour codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Where scriptserver's own modules are (the repository, or a binary's embedded copy). */
const OWN = new URL("../", import.meta.url).href;

/**
 * Whether a stack frame is the server's or the runtime's, not the page's:
 * frames in scriptserver's own modules, Deno's (`ext:`) and Node's
 * (`node:`) internals.
 */
function isServerFrame(line: string): boolean {
  return line.includes(OWN) ||
    /\((?:ext|node):|at (?:async )?(?:ext|node):/.test(line);
}

/**
 * A stack as HTML: the message lines and the page's frames, with the
 * frames inside scriptserver and Deno folded away below them.
 */
function renderStack(stack: string, root: string): string {
  const lines = shortenStack(stack, root).split("\n");
  const own: string[] = [];
  const server: string[] = [];
  for (const line of lines) {
    (/^\s+at /.test(line) && isServerFrame(line) ? server : own).push(line);
  }
  const folded = server.length === 0
    ? ""
    : `<details class="frames"><summary>${
      server.length === 1 ? "1 frame" : `${server.length} frames`
    } inside scriptserver and Deno</summary><pre>${
      escapeHtml(server.join("\n"))
    }</pre></details>`;
  return `<details open><summary>Stack</summary><pre>${
    escapeHtml(own.join("\n"))
  }</pre>${folded}</details>`;
}

/** One line of a source excerpt. */
export interface SourceLine {
  number: number;
  text: string;
  /** The line the error points at. */
  current: boolean;
}

/** The lines around `line` (1-based) of `source`. */
export function sourceExcerpt(
  source: string,
  line: number,
  around = 3,
): SourceLine[] {
  const lines = source.split("\n");
  const first = Math.max(1, line - around);
  const last = Math.min(lines.length, line + around);
  const excerpt: SourceLine[] = [];
  for (let number = first; number <= last; number++) {
    const text = (lines[number - 1] ?? "").replace(/\r$/, "");
    excerpt.push({ number, text, current: number === line });
  }
  return excerpt;
}

/** A stack with paths under the root shortened and version queries removed. */
export function shortenStack(stack: string, root: string): string {
  const prefix = `${root.endsWith("/") ? root : `${root}/`}`;
  return stack.replace(POSITION, (match, url: string, line, column) => {
    try {
      const path = fromFileUrl(url);
      return isInside(root, path)
        ? `${path.slice(prefix.length)}:${line}:${column}`
        : match;
    } catch {
      return match;
    }
  });
}

/** A permission Deno refused, as its message says. */
export interface MissingPermission {
  /** "read", "write", "net", "env", "run", "sys", "ffi" or "import". */
  name: string;
  /** What was asked for ("/tmp/upload.bin"), when the message says. */
  resource: string | undefined;
  /** The flag that grants it: `--allow-write=/tmp/upload.bin`. */
  flag: string;
}

/**
 * The permission behind a `Deno.errors.NotCapable` error ("Requires write
 * access to "/x", run again with the --allow-write flag").
 */
export function missingPermission(
  error: unknown,
): MissingPermission | undefined {
  // Deno.errors.NotCapable from a call; a TypeError from an import.
  if (
    !(error instanceof Deno.errors.NotCapable) && !(error instanceof TypeError)
  ) return undefined;
  const match = /^Requires (\w+) access(?: to "([^"]*)")?/.exec(
    stripAnsi(error.message),
  );
  if (match === null) return undefined;
  const [, name = "", resource] = match;
  const flag = `--allow-${name}${resource === undefined ? "" : `=${resource}`}`;
  return { name, resource, flag };
}

/**
 * What to grant for a refused permission, as narrowly as the page needs;
 * never write access inside ROOT (the server refuses to start with it,
 * since it would serve or run what a page writes there).
 */
function permissionHint(permission: MissingPermission, root: string): string {
  const { name, resource } = permission;
  const what = `The page needs ${escapeHtml(name)} access${
    resource === undefined ? "" : ` to <code>${escapeHtml(resource)}</code>`
  }, which the server was not given.`;
  if (
    name === "write" && (resource === undefined || isInside(root, resource))
  ) {
    return `<p class="hint">${what} Pages may not write inside ROOT: the server would serve or run what they write, so it refuses to start with such access. Write to a folder outside ROOT instead and grant only that one, for example <code>--allow-write=/srv/uploads</code> (see "Uploads" in the README).</p>`;
  }
  return `<p class="hint">${what} Grant it when starting the server, as narrowly as the page needs: <code>${
    escapeHtml(permission.flag)
  }</code> (for a compiled binary, build it with that flag).</p>`;
}

/**
 * The HTML of the development error detail: name and message, file and
 * line, the source around it (read with `readSource` when the file is
 * inside the root) and the stack.
 */
export async function renderErrorDetail(
  error: unknown,
  root: string,
  readSource: (path: string) => Promise<string>,
): Promise<string> {
  const page = error instanceof PageError ? error.page : undefined;
  const cause = error instanceof PageError ? error.cause : error;
  let name = cause instanceof Error ? cause.name : typeof cause;
  let message = stripAnsi(
    cause instanceof Error ? cause.message : String(cause),
  );
  let stackText = cause instanceof Error && cause.stack
    ? stripAnsi(cause.stack)
    : undefined;
  // Deno reports a page's syntax error as a TypeError whose message starts
  // with "SyntaxError: ": name it for what it is.
  const syntax = /^SyntaxError: /.exec(message);
  if (name === "TypeError" && syntax !== null) {
    name = "SyntaxError";
    message = message.slice(syntax[0].length);
    stackText = stackText?.replace(
      /^TypeError: SyntaxError: /,
      "SyntaxError: ",
    );
  }
  const location = cause instanceof TemplateError
    ? cause.location
    : findErrorLocation(cause, root);
  const file = location ? relativeName(root, location.path) : page;

  let where = "";
  if (file !== undefined) {
    where = `<p class="where">in <code>${escapeHtml(file)}</code>${
      location ? `, line ${location.line}` : ""
    }</p>`;
  }
  let source = "";
  if (location) {
    try {
      const lines = sourceExcerpt(
        await readSource(location.path),
        location.line,
      );
      source = `<pre class="source">${
        lines.map(({ number, text, current }) => {
          const content = `${String(number).padStart(4)} | ${escapeHtml(text)}`;
          return current
            ? `<mark>${content}</mark>`
            : `<span>${content}</span>`;
        }).join("")
      }</pre>`;
    } catch {
      // The file changed or went away since; the stack still says where.
    }
  }
  const permission = missingPermission(cause);
  const hint = permission === undefined ? "" : permissionHint(permission, root);
  const stack = stackText === undefined ? "" : renderStack(stackText, root);
  // A message of several lines (a syntax error's frame) keeps its lines.
  const [first = "", ...rest] = shortenStack(message, root).split("\n");
  const said = `<p><strong>${escapeHtml(name)}</strong>: ${
    escapeHtml(first)
  }</p>${
    rest.length === 0
      ? ""
      : `<pre class="message">${escapeHtml(rest.join("\n"))}</pre>`
  }`;
  return `${said}${hint}${where}${source}${stack}`;
}
