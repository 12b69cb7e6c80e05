/**
 * Live reload, for development: HTML responses meant for a browser tab
 * carry a small script that opens one Server-Sent Events stream, and the
 * file watcher tells every open tab when a file under the root changed. A
 * change to stylesheets only swaps them in place; anything else reloads
 * the tab.
 *
 * Everything lives under one reserved path, {@linkcode LIVE_RELOAD_PREFIX}:
 * names starting with "_" are private, so no file of the site can be
 * there or be shadowed. Nothing here runs in production (`--prod`).
 *
 * @module
 */
import { memoryBodyOf, memoryResponse } from "./compression.ts";
import { isEditorLeftover } from "./url_path.ts";

/** The reserved path: never a file of the site. */
export const LIVE_RELOAD_PREFIX = "/_scriptserver/";
/** The event stream a tab listens to. */
export const LIVE_RELOAD_EVENTS = `${LIVE_RELOAD_PREFIX}live-reload`;
/** The script injected into HTML. */
export const LIVE_RELOAD_SCRIPT = `${LIVE_RELOAD_PREFIX}live-reload.js`;

/**
 * The script a tab runs. Hand-written and tiny: it keeps one EventSource,
 * reloads on "reload", swaps same-origin stylesheets on "css", and reloads
 * when the server comes back as another process (a restart). It guards
 * against running twice (an HTML fragment fetched into the page), and
 * says in `window.__scriptserverLiveReload.connected` whether it listens.
 */
const CLIENT =
  `// scriptserver live reload (development only; off with --no-live-reload or --prod)
(() => {
  if (window.__scriptserverLiveReload) return;
  const state = window.__scriptserverLiveReload = { connected: false };
  const script = document.currentScript;
  const events = new EventSource(new URL("live-reload", script ? script.src : location.href));
  let boot;
  events.addEventListener("hello", (event) => {
    if (boot !== undefined && boot !== event.data) location.reload();
    boot = event.data;
    state.connected = true;
  });
  events.addEventListener("error", () => state.connected = false);
  events.addEventListener("change", (event) => {
    if (event.data !== "css") return location.reload();
    for (const link of document.querySelectorAll('link[rel~="stylesheet"][href]')) {
      const url = new URL(link.href, location.href);
      if (url.origin !== location.origin) continue;
      url.searchParams.set("live-reload", String(Date.now()));
      const fresh = link.cloneNode();
      fresh.href = url.href;
      // The old sheet stays until the new one has loaded: no flash.
      fresh.addEventListener("load", () => link.remove(), { once: true });
      fresh.addEventListener("error", () => fresh.remove(), { once: true });
      link.after(fresh);
    }
  });
})();
`;

const encoder = new TextEncoder();

/** What a tab receives: SSE frames. */
const frame = (event: string, data: string) =>
  encoder.encode(`event: ${event}\ndata: ${data}\n\n`);
/** A comment: keeps proxies from closing an idle stream, and finds tabs gone. */
const PING = encoder.encode(": ping\n\n");

/**
 * What else editors write beside the files they save, besides the
 * leftovers the router hides ({@linkcode isEditorLeftover}): Vim's further
 * swap names and its "4913" probe, temporary files, JetBrains' safe-write
 * copies. Never a reason to reload. Hidden names ("." first) are never
 * served, so they are skipped too (`.git/` churns on every commit).
 */
const SCRATCH = /\.(?:sw[a-nq-x]|tmp)$|___jb_(?:tmp|old)___$|^4913$/;

/**
 * What a change to `paths` means for open tabs: "css" when only
 * stylesheets changed, "reload" for anything else, `undefined` when every
 * path is hidden, an editor's scratch file, or outside `root`.
 */
export function changeKind(
  root: string,
  paths: readonly string[],
): "css" | "reload" | undefined {
  let kind: "css" | "reload" | undefined;
  for (const path of paths) {
    if (!path.startsWith(root) || !/[/\\]/.test(path[root.length] ?? "")) {
      continue;
    }
    const relative = path.slice(root.length).replaceAll("\\", "/");
    const segments = relative.split("/").filter((part) => part !== "");
    if (segments.length === 0) continue;
    if (segments.some((part) => part.startsWith("."))) continue;
    const name = segments.at(-1)!;
    if (isEditorLeftover(name) || SCRATCH.test(name)) continue;
    if (!relative.endsWith(".css")) return "reload";
    kind = "css";
  }
  return kind;
}

/** A CSP policy's directives: their sources by lower-cased name. */
function directivesOf(policy: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of policy.split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    const key = name.toLowerCase();
    // The first of a repeated directive counts (CSP3 §2.2.1).
    if (!directives.has(key)) directives.set(key, sources);
  }
  return directives;
}

/** The sources of the first of `names` a policy has (its fallbacks, in order). */
function firstOf(
  directives: Map<string, string[]>,
  names: readonly string[],
): string[] | undefined {
  for (const name of names) {
    const sources = directives.get(name);
    if (sources !== undefined) return sources;
  }
  return undefined;
}

/**
 * Whether the page's Content-Security-Policy (each of the policies in the
 * header) lets the live reload script load from this origin and open its
 * event stream; with the nonce to give the script, when a policy asks for
 * one. `false` when a policy forbids it: the page's own rules win.
 */
export function cspAllowsLiveReload(
  csp: string | null,
): { nonce: string | undefined } | false {
  if (csp === null) return { nonce: undefined };
  const allowsSelf = (sources: string[]) =>
    sources.some((source) =>
      source.toLowerCase() === "'self'" || source === "*"
    );
  let nonce: string | undefined;
  // Several headers are joined with ", ": each is a policy of its own, and
  // every one must allow the script.
  for (const policy of csp.split(",")) {
    const directives = directivesOf(policy);
    const scripts = firstOf(directives, [
      "script-src-elem",
      "script-src",
      "default-src",
    ]);
    if (scripts !== undefined) {
      // 'strict-dynamic' makes a policy ignore 'self' and hosts.
      const strict = scripts.some((source) =>
        source.toLowerCase() === "'strict-dynamic'"
      );
      if (strict || !allowsSelf(scripts)) {
        // Only a nonce lets the script in. A nonce is base64: anything
        // else is not copied into the markup.
        const nonces = scripts.flatMap((source) =>
          /^'nonce-([A-Za-z0-9+/_=-]+)'$/.exec(source)?.[1] ?? []
        );
        if (nonces.length === 0) return false;
        const chosen = nonce ??= nonces[0]!;
        if (!nonces.includes(chosen)) return false;
      }
    }
    const connects = firstOf(directives, ["connect-src", "default-src"]);
    if (connects !== undefined && !allowsSelf(connects)) return false;
  }
  return { nonce };
}

/** Sec-Fetch-Dest values of a browsing context: a tab or a frame. */
const DOCUMENT_DESTINATIONS = new Set(["document", "iframe", "frame"]);

/**
 * Whether `request` is a browser loading a document into a tab or frame:
 * `Sec-Fetch-Dest` says so where browsers send it (secure contexts, such
 * as localhost); elsewhere (plain http to a LAN address) a navigation's
 * `Accept` names text/html, which `fetch()` and curl do not send, and htmx
 * says `HX-Request`.
 */
export function isDocumentRequest(request: Request): boolean {
  const { method, headers } = request;
  if (method !== "GET" && method !== "HEAD" && method !== "POST") {
    return false;
  }
  const destination = headers.get("sec-fetch-dest");
  if (destination !== null) return DOCUMENT_DESTINATIONS.has(destination);
  // htmx names its requests (fragments swapped into a page).
  if (headers.has("hx-request")) return false;
  return headers.get("accept")?.includes("text/html") ?? false;
}

/** Options for {@linkcode createLiveReload}. */
export interface LiveReloadOptions {
  /** The root's absolute real path: changes elsewhere are ignored. */
  root: string;
  /**
   * How long to gather a burst of file events (an editor's save is often
   * several, within a few ms) before telling tabs, in ms. Default: 20.
   */
  settleMs?: number;
  /** Most tabs listening at once; more get 503. Default: 200. */
  maxTabs?: number;
  /**
   * Bytes of events a tab may leave unread (a connection that stopped
   * reading but stays open) before its stream is ended. Default: 64 KiB.
   */
  maxUnreadBytes?: number;
  /** Told of pages whose policy forbids the script. Default: stderr. */
  log?: (message: string) => void;
  /**
   * Called once open tabs were told to reload: their requests follow within
   * milliseconds, so page isolates for the new code can start now.
   */
  onReload?: () => void;
}

/** Live reload for one site: see the module documentation. */
export interface LiveReload {
  /** Answers a request for the reserved path. */
  serve(request: Request, path: string): Response;
  /**
   * `response` with the script added at the end of its body, when it is
   * HTML for a tab (see {@linkcode isDocumentRequest}) that may take it;
   * otherwise `response` itself.
   */
  inject(request: Request, response: Response): Response | Promise<Response>;
  /** Tells tabs that these absolute paths changed (a file watcher's event). */
  changed(paths: readonly string[]): void;
  /** How many tabs listen now. */
  readonly tabs: number;
  /** Ends every event stream (shutdown). */
  close(): void;
}

/** Larger HTML bodies of known size are streamed with the script, not read whole. */
const MAX_READ_BODY = 1024 * 1024;

/** Creates the live reload of a site. */
export function createLiveReload(options: LiveReloadOptions): LiveReload {
  const root = options.root.replace(/[/\\]+$/, "");
  const settleMs = options.settleMs ?? 20;
  const maxTabs = options.maxTabs ?? 200;
  const maxUnreadBytes = options.maxUnreadBytes ?? 64 * 1024;
  const log = options.log ?? ((message) => console.error(message));
  /** Told apart from a restarted server's by tabs that reconnect. */
  const boot = crypto.randomUUID();
  const tabs = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let ping: ReturnType<typeof setInterval> | undefined;
  let pending: "css" | "reload" | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  /**
   * Paths already reported as forbidding the script: at most 1,000, each
   * cut to 200 characters (a page takes any PATH_INFO a client invents).
   */
  const reported = new Set<string>();

  function send(bytes: Uint8Array): void {
    for (const tab of tabs) {
      try {
        tab.enqueue(bytes);
        // Queued in bytes (the stream's strategy): a tab that reads nothing
        // must not make the server keep every event for it.
        if ((tab.desiredSize ?? 0) < -maxUnreadBytes) {
          drop(tab);
          tab.close();
        }
      } catch {
        drop(tab);
      }
    }
  }

  function drop(tab: ReadableStreamDefaultController<Uint8Array>): void {
    tabs.delete(tab);
    if (tabs.size === 0 && ping !== undefined) {
      clearInterval(ping);
      ping = undefined;
    }
  }

  function events(): Response {
    if (closed || tabs.size >= maxTabs) {
      return new Response("Too many live reload connections\n", {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(opened) {
        controller = opened;
        tabs.add(controller);
        // Reconnect soon after a restart; say which server this is.
        controller.enqueue(encoder.encode("retry: 500\n\n"));
        controller.enqueue(frame("hello", boot));
        if (ping === undefined) {
          const timer = setInterval(() => send(PING), 30_000);
          Deno.unrefTimer(timer);
          ping = timer;
        }
      },
      cancel() {
        drop(controller);
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  }

  function flush(): void {
    timer = undefined;
    const kind = pending;
    pending = undefined;
    if (kind === undefined || tabs.size === 0) return;
    send(frame("change", kind));
    // After the event has gone out: starting an isolate blocks this thread
    // for tens of milliseconds, while the tabs' requests take as long to come.
    if (kind === "reload" && options.onReload) setTimeout(options.onReload, 0);
  }

  function report(request: Request): void {
    const path = new URL(request.url).pathname.slice(0, 200);
    if (reported.has(path) || reported.size >= 1000) return;
    reported.add(path);
    log(
      `scriptserver: live reload is off for ${path}: its Content-Security-Policy allows no script or event stream from ${LIVE_RELOAD_PREFIX} (add 'self' to script-src and connect-src while developing)`,
    );
  }

  return {
    serve(request, path) {
      const { method } = request;
      if (method !== "GET" && method !== "HEAD") {
        return new Response("Method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD" },
        });
      }
      if (path === LIVE_RELOAD_EVENTS) return events();
      if (path === LIVE_RELOAD_SCRIPT) {
        return memoryResponse(CLIENT, {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "no-cache",
          },
        });
      }
      return new Response("Not found\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    },

    inject(request, response) {
      const { status, headers } = response;
      if (
        (status !== 200 && status < 400) ||
        !headers.get("content-type")?.startsWith("text/html") ||
        headers.has("content-encoding") || headers.has("content-range") ||
        !isDocumentRequest(request)
      ) {
        return response;
      }
      const allowed = cspAllowsLiveReload(
        headers.get("content-security-policy"),
      );
      if (allowed === false) {
        report(request);
        return response;
      }
      const tag = `<script src="${LIVE_RELOAD_SCRIPT}"${
        allowed.nonce === undefined ? "" : ` nonce="${allowed.nonce}"`
      }></script>\n`;
      return withTag(response, tag);
    },

    changed(paths) {
      const kind = changeKind(root, paths);
      if (kind === undefined || closed) return;
      pending = pending === "reload" ? "reload" : kind;
      timer ??= setTimeout(flush, settleMs);
    },

    get tabs() {
      return tabs.size;
    },

    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (ping !== undefined) clearInterval(ping);
      ping = undefined;
      for (const tab of tabs) {
        try {
          tab.close();
        } catch {
          // Already gone.
        }
      }
      tabs.clear();
    },
  };
}

/** `body` then `tail`, as bytes: HTML in another charset is never decoded. */
function joined(
  body: Uint8Array,
  tail: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const all = new Uint8Array(body.byteLength + tail.byteLength);
  all.set(body);
  all.set(tail, body.byteLength);
  return all;
}

/**
 * `response` with `tag` after its body. A body of known, modest size is
 * read and sent from memory (so it is compressed whole, with a
 * Content-Length); a streamed one gets the tag after its last chunk and
 * stays a stream. A bodiless one (HEAD) says the length GET would send.
 */
function withTag(
  response: Response,
  tag: string,
): Response | Promise<Response> {
  const headers = new Headers(response.headers);
  // The copy is decided here; compression may still vary it.
  if (headers.get("vary")?.toLowerCase() === "accept-encoding") {
    headers.delete("vary");
  }
  const init = {
    status: response.status,
    statusText: response.statusText,
    headers,
  };
  const known = memoryBodyOf(response);
  const tagBytes = encoder.encode(tag);
  if (known !== undefined) {
    headers.delete("content-length");
    if (typeof known === "string") return memoryResponse(known + tag, init);
    return memoryResponse(joined(known, tagBytes), init);
  }
  const declared = headers.get("content-length");
  if (declared !== null) {
    headers.set(
      "content-length",
      String(Number(declared) + tagBytes.byteLength),
    );
  }
  if (response.body === null) return new Response(null, init);
  if (declared !== null && Number(declared) <= MAX_READ_BODY) {
    headers.delete("content-length");
    return response.bytes().then((bytes) =>
      memoryResponse(joined(bytes, tagBytes), init)
    );
  }
  const appended = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush(controller) {
        controller.enqueue(tagBytes);
      },
    }),
  );
  return new Response(appended, init);
}
