/**
 * Code and writable places never mix: what the server may itself write
 * (an upload a page saved, say) must never be run as a page or template,
 * nor served as a web page (stored XSS). Permission queries need no
 * permission, so these checks cost nothing to grant.
 *
 * @module
 */
import { join } from "./_std.ts";

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * Whether this process may write anywhere: `-A` or a bare
 * `--allow-write`, which are for development (the README says so).
 */
export function writesAnywhere(): boolean {
  return granted({ name: "write" });
}

/** Whether this process was granted writing to `path` specifically. */
export function mayWrite(path: string): boolean {
  return !writesAnywhere() && granted({ name: "write", path });
}

/**
 * The first place in `root` (the root itself included) that this process
 * may write, or `undefined`. Looks at every directory and file under
 * `root`, up to `limit` entries. A grant for a path that does not exist
 * yet cannot be seen here; pages and templates are also checked before
 * they run ({@linkcode mayWrite}).
 */
export function writablePlaceIn(
  root: string,
  limit = 10_000,
): string | undefined {
  if (writesAnywhere()) return undefined;
  if (granted({ name: "write", path: root })) return root;
  const pending = [root];
  let seen = 0;
  while (pending.length > 0 && seen < limit) {
    const directory = pending.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(directory)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (++seen > limit) break;
      const path = join(directory, entry.name);
      if (granted({ name: "write", path })) return path;
      if (entry.isDirectory) pending.push(path);
    }
  }
  return undefined;
}
