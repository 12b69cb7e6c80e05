/**
 * The reference server: a bare Deno.serve answering fixed bytes from
 * memory, as fast as Deno answers them. A text body is sent as a string
 * (Deno's fastest body), anything else as bytes.
 *
 * Usage: deno run --allow-net --allow-read bare.ts PORT FILE TYPE
 */
const [port = "8000", file = "", type = "text/plain"] = Deno.args;
const bytes = Deno.readFileSync(file);
let body: BodyInit = bytes;
try {
  body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
} catch {
  // Not text: keep the bytes.
}
const headers = { "content-type": type };
Deno.serve(
  { hostname: "127.0.0.1", port: Number(port), onListen() {} },
  () => new Response(body, { headers }),
);
