/**
 * Serving `.tpl` files, and rendering templates for pages (`ctx.render`).
 * Templates are parsed once per version of their file; includes
 * (`${> _header.tpl}`) are looked up on each render (cached file facts) and
 * parsed through the same cache.
 *
 * @module
 */
import { memoryResponse } from "../compression.ts";
import { limitBody, type LimitBodyOptions, parseForm } from "../body.ts";
import { type FileInfo, relativeName, type SiteFiles } from "../files/files.ts";
import { methodNotAllowed } from "../http_error.ts";
import { HTML_TYPE } from "../html.ts";
import type { FileHandler } from "../types.ts";
import { createSourceCache } from "../files/source_cache.ts";
import { mayWrite } from "../write_access.ts";
import {
  html,
  type Include,
  parseTemplate,
  type RenderOptions,
  renderTemplate,
  type Template,
  TemplateError,
  type TemplateValues,
} from "./template.ts";

/** The most includes from a template to the deepest it reaches. */
export const MAX_INCLUDE_DEPTH = 10;

/** The methods a template answers. */
const TEMPLATE_METHODS = "GET, HEAD, POST";

const HTML = { "content-type": HTML_TYPE };

/** Templates for one site. */
export interface Templates {
  /** The registry entry for `.tpl` files. */
  handler: FileHandler;
  /**
   * Renders the template at `path`, relative to the file `from` (a page), or
   * to the root when it starts with "/". Private names (`_row.tpl`) are
   * allowed: rendering is how pages use them.
   *
   * @throws {TemplateError} when there is no such template (or layout, or
   * included template), it is outside the root, it does not parse, a value
   * is missing, or includes go round in a cycle or deeper than
   * {@linkcode MAX_INCLUDE_DEPTH}.
   */
  render(
    from: FileInfo,
    path: string,
    values: TemplateValues,
    options?: RenderOptions,
  ): Promise<Response>;
}

/** A template ready to fill: the parsed file, and what each include is. */
interface Resolved {
  template: Template;
  children: Map<Include, Resolved>;
}

/** `values` with `name` set to `value` (for a layout's `$body`). */
function withValue(
  values: TemplateValues,
  name: string,
  value: unknown,
): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (values instanceof Map) {
    for (const [key, item] of values) map.set(key, item);
  } else if (values instanceof URLSearchParams) {
    for (const [key, item] of values) if (!map.has(key)) map.set(key, item);
  } else {
    for (const [key, item] of Object.entries(values)) map.set(key, item);
  }
  return map.set(name, value);
}

/** Fills a resolved template and, in place of each include, its own. */
function fillResolved(node: Resolved, values: TemplateValues): string {
  return renderTemplate(
    node.template,
    values,
    (part) => fillResolved(node.children.get(part)!, values),
  );
}

/**
 * Resolves `path` against the directory of the root-relative file `from`,
 * as URLs resolve ("../x.tpl", "/x.tpl"). `undefined` when it leaves the root.
 */
export function resolveTemplatePath(
  from: string,
  path: string,
): string[] | undefined {
  const segments = path.startsWith("/") ? [] : from.split("/").slice(0, -1);
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (segments.length === 0) return undefined;
      segments.pop();
    } else {
      segments.push(part);
    }
  }
  return segments;
}

/** Options for {@linkcode createTemplates}. */
export interface TemplatesOptions {
  /** Where templates are read. */
  files: SiteFiles;
  /** The body limit and budget, for POSTed forms. */
  bodyLimits: LimitBodyOptions;
  /** The most fields a POSTed form may have. */
  maxFields: number;
}

/** Creates the template handler and renderer for a site. */
export function createTemplates(options: TemplatesOptions): Templates {
  const { files, bodyLimits, maxFields } = options;
  const root = files.root;
  /** A parsed template, or why it does not parse (kept until the file changes). */
  type Parsed = { template: Template } | { error: unknown };
  const load = createSourceCache((file, source): Parsed => {
    const name = relativeName(root, file.path);
    try {
      if (mayWrite(file.path)) {
        // An upload must never become a template (stored XSS).
        throw new TemplateError(
          `Refusing to render template "${name}": the server may write to it (--allow-write covers it). Grant write access to a folder outside ROOT only.`,
          undefined,
        );
      }
      return { template: parseTemplate(source, name, file.path) };
    } catch (error) {
      return { error };
    }
  }, { files });

  function parsedOf(parsed: Parsed): Template {
    if ("error" in parsed) throw parsed.error;
    return parsed.template;
  }

  /**
   * The template file at `path` from the root-relative file `fromName`, or
   * why there is none.
   */
  async function locate(
    fromName: string,
    path: string,
  ): Promise<FileInfo | string> {
    const segments = resolveTemplatePath(fromName, path);
    if (segments === undefined) return "it is outside the root";
    const file = await files.stat(segments);
    return file === undefined || file.isDirectory
      ? "there is no such template"
      : file;
  }

  /**
   * The templates `template` includes, and theirs. `chain` holds the files
   * from the first template to this one (its file last): a file already on
   * it is a cycle (which would never end), and a chain longer than
   * {@linkcode MAX_INCLUDE_DEPTH} is refused (a deep tree of includes
   * multiplies its output).
   */
  async function resolveIncludes(
    template: Template,
    chain: FileInfo[],
  ): Promise<Resolved> {
    const children = new Map<Include, Resolved>();
    const file = chain.at(-1)!;
    const name = relativeName(root, file.path);
    for (const part of template.includes) {
      const refuse = (why: string) =>
        new TemplateError(
          `Cannot include "${part.include}" in template "${name}" (line ${part.line}): ${why}`,
          { path: file.path, line: part.line, column: part.column },
        );
      const child = await locate(name, part.include);
      if (typeof child === "string") throw refuse(child);
      const through = () =>
        [...chain, child].map((step) => `"${relativeName(root, step.path)}"`)
          .join(" → ");
      if (chain.some((step) => step.path === child.path)) {
        throw refuse(`the includes go round in a cycle: ${through()}`);
      }
      if (chain.length > MAX_INCLUDE_DEPTH) {
        throw refuse(
          `includes nest deeper than ${MAX_INCLUDE_DEPTH}: ${through()}`,
        );
      }
      const loaded = parsedOf(await load(child));
      children.set(part, await resolveIncludes(loaded, [...chain, child]));
    }
    return { template, children };
  }

  /**
   * The output of the template in `file`: at once when it is parsed and
   * current and includes nothing.
   */
  function textOf(
    file: FileInfo,
    values: TemplateValues,
  ): string | Promise<string> {
    const parsed = load(file);
    if (!(parsed instanceof Promise)) {
      const template = parsedOf(parsed);
      if (template.includes.length === 0) {
        return renderTemplate(template, values);
      }
    }
    return Promise.resolve(parsed).then(async (ready) => {
      const template = parsedOf(ready);
      if (template.includes.length === 0) {
        return renderTemplate(template, values);
      }
      return fillResolved(await resolveIncludes(template, [file]), values);
    });
  }

  /** The template in `file`, rendered into an HTML response. */
  function respond(
    file: FileInfo,
    values: TemplateValues,
  ): Response | Promise<Response> {
    const text = textOf(file, values);
    return typeof text === "string"
      ? memoryResponse(text, { headers: HTML })
      : text.then((ready) => memoryResponse(ready, { headers: HTML }));
  }

  /** The template at `path` from the file `from`, for `render`. */
  async function find(from: FileInfo, path: string): Promise<FileInfo> {
    const fromName = relativeName(root, from.path);
    const file = await locate(fromName, path);
    if (typeof file === "string") {
      throw new TemplateError(
        `Cannot render "${path}" from "${fromName}": ${file}`,
        undefined,
      );
    }
    return file;
  }

  return {
    handler(request, target) {
      const { method } = request;
      if (method !== "GET" && method !== "HEAD" && method !== "POST") {
        throw methodNotAllowed(TEMPLATE_METHODS);
      }
      // The first value of each query parameter, looked up in place.
      if (method !== "POST") return respond(target.file, target.query);
      // For a POSTed form, the first value of each field wins over the query.
      return parseForm(limitBody(request, bodyLimits), maxFields).then(
        (form) => {
          const values = new Map<string, string>();
          for (const [name, value] of target.query) {
            if (!values.has(name)) values.set(name, value);
          }
          const fromForm = new Set<string>();
          for (const [name, value] of form) {
            if (typeof value !== "string" || fromForm.has(name)) continue;
            fromForm.add(name);
            values.set(name, value);
          }
          return respond(target.file, values);
        },
      );
    },

    async render(from, path, values, options) {
      const file = await find(from, path);
      const layout = options?.layout === undefined
        ? undefined
        : await find(from, options.layout);
      if (layout === undefined) return await respond(file, values);
      const body = html(await textOf(file, values));
      return await respond(layout, withValue(values, "body", body));
    },
  };
}
