/**
 * The reference server: a bare Deno.serve answering fixed bytes from
 * memory, as fast as Deno answers them: the same status, headers and body
 * as scriptserver's response for the workload. A text body is sent as a
 * string (Deno's fastest body), anything else as bytes.
 *
 * Usage: deno run --allow-net --allow-read bare.ts PORT BODY_FILE HEADERS_JSON
 */
const [port = "8000", file = "", headersFile = ""] = Deno.args;
const bytes = Deno.readFileSync(file);
const headers: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(headersFile),
);
let body: BodyInit = bytes;
try {
  body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
} catch {
  // Not text: keep the bytes.
}
Deno.serve(
  { hostname: "127.0.0.1", port: Number(port), onListen() {} },
  () => new Response(body, { headers }),
);
