/**
 * Imports flow one way: no module of ours imports itself back, through any
 * chain of imports, type imports included. Read from `deno info --json` of
 * every entry point.
 */
import { assertEquals } from "./_assert.ts";
import { join, toFileUrl } from "@std/path";
import { LOCK_FLAG, REPO } from "./_helpers.ts";

const ENTRIES = ["main.ts", "serve.ts", "lib/mod.ts", "lib/page_api.ts"];

interface Info {
  modules: {
    specifier: string;
    dependencies?: {
      code?: { specifier?: string };
      type?: { specifier?: string };
    }[];
  }[];
}

/** Our modules and what each imports (code or types), from deno info. */
async function graphOf(entry: string): Promise<Map<string, string[]>> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", LOCK_FLAG, join(REPO, entry)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`deno info ${entry} failed`);
  const info: Info = JSON.parse(new TextDecoder().decode(stdout));
  const ours = toFileUrl(REPO).href;
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!module.specifier.startsWith(ours)) continue;
    const imports = (module.dependencies ?? []).flatMap((dependency) =>
      [dependency.code?.specifier, dependency.type?.specifier]
        .filter((s): s is string => s?.startsWith(ours) === true)
    );
    graph.set(module.specifier, imports);
  }
  return graph;
}

/** The strongly connected components with more than one module (Tarjan). */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfLoop = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfLoop) cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

for (const entry of ENTRIES) {
  Deno.test(`no import cycle is reachable from ${entry}`, async () => {
    const graph = await graphOf(entry);
    const ours = toFileUrl(REPO).href;
    const cycles = cyclesOf(graph).map((cycle) =>
      cycle.map((specifier) => specifier.slice(ours.length + 1))
    );
    assertEquals(cycles, []);
  });
}

Deno.test("cyclesOf() finds a cycle, type imports and self-imports included", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
    ["d", ["d"]],
    ["e", ["a"]],
  ]);
  assertEquals(cyclesOf(graph), [["a", "b", "c"], ["d"]]);
});
