/** nginx (one worker) serving the same folder: measured beside, when installed. */
import { join } from "@std/path";
import {
  freePort,
  pinned,
  type Server,
  startProcess,
  which,
} from "./_common.ts";

/** Whether nginx is installed (it is optional: its column stays empty). */
export const NGINX: boolean = which("nginx");

/** What to install for the nginx column, for the report. */
export const NGINX_HINT = "sudo apt-get install nginx-light";

/** nginx on `root` with autoindex, pinned to core 0; its worker's pid. */
export async function startNginx(root: string): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "nginx_" });
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `${Deno.uid() === 0 ? "user root;\n" : ""}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  include /etc/nginx/mime.types;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex on;
  }
}
`,
  );
  const server = await startProcess(
    "nginx",
    pinned(0, ["nginx", "-c", conf, "-g", "daemon off;"]),
    port,
  );
  // nginx forks its worker: the CPU that counts is the worker's.
  const workers = new TextDecoder().decode(
    new Deno.Command("pgrep", { args: ["-P", String(server.pid)] }).outputSync()
      .stdout,
  ).trim().split("\n").filter(Boolean);
  return {
    ...server,
    pid: Number(workers[0] ?? server.pid),
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
