/**
 * The reference server: a bare Deno.serve answering fixed bytes from
 * memory, as fast as Deno answers them: the same status, headers and body
 * as scriptserver's response for the workload. A text body is sent as a
 * string (Deno's fastest body), anything else as bytes.
 *
 * With "reads" as the fourth argument it also reads the Host header and the
 * URL of each request, as any server must before it can route safely: the
 * floor for a real server. With "form" it reads each request's form
 * (`request.formData()`) before answering.
 *
 * Usage: deno run --allow-net --allow-read bare.ts PORT BODY_FILE HEADERS_JSON [reads|form]
 */
const [port = "8000", file = "", headersFile = "", mode = ""] = Deno.args;
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
const options = { hostname: "127.0.0.1", port: Number(port), onListen() {} };
if (mode === "form") {
  Deno.serve(options, async (request) => {
    // (The readiness probe is a GET, with no form.)
    if (request.method === "POST") await request.formData();
    return new Response(body, { headers });
  });
} else if (mode === "reads") {
  Deno.serve(options, (request) => {
    if (request.headers.get("host") === null || request.url === "") {
      return new Response(null, { status: 400 });
    }
    return new Response(body, { headers });
  });
} else {
  Deno.serve(options, () => new Response(body, { headers }));
}
