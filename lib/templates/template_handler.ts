/**
 * Serving `.tpl` files, and rendering templates for pages (`ctx.render`).
 * Templates are parsed once per version of their file.
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
  parseTemplate,
  renderTemplate,
  type Template,
  TemplateError,
  type TemplateValues,
} from "./template.ts";

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
   * @throws {TemplateError} when there is no such template, it is outside
   * the root, it does not parse, or a value is missing.
   */
  render(
    from: FileInfo,
    path: string,
    values: TemplateValues,
  ): Promise<Response>;
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

  function fill(parsed: Parsed, values: TemplateValues): Response {
    if ("error" in parsed) throw parsed.error;
    return memoryResponse(renderTemplate(parsed.template, values), {
      headers: HTML,
    });
  }

  /** Renders at once when the template is parsed and current. */
  function respond(
    file: FileInfo,
    values: TemplateValues,
  ): Response | Promise<Response> {
    const parsed = load(file);
    return parsed instanceof Promise
      ? parsed.then((ready) => fill(ready, values))
      : fill(parsed, values);
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

    async render(from, path, values) {
      const fromName = relativeName(root, from.path);
      const segments = resolveTemplatePath(fromName, path);
      const file = segments && await files.stat(segments);
      if (file === undefined || file.isDirectory) {
        throw new TemplateError(
          `Cannot render "${path}" from "${fromName}": ${
            segments === undefined
              ? "it is outside the root"
              : "there is no such template"
          }`,
          undefined,
        );
      }
      return await respond(file, values);
    },
  };
}
