// Shared by the conformance runners (run.mjs: client mode; server.mjs: server mode).
import fs from 'node:fs';
import path from 'node:path';

// Runs fn over items, at most `jobs` at a time; the results in the items' order.
export async function pool(items, jobs, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }));
  return results;
}

// Keeps the newest `keep` run directories under `dir` (their names sort by time).
export function prune(dir, keep) {
  if (!fs.existsSync(dir)) return;
  const runs = fs.readdirSync(dir).sort();
  for (const r of runs.slice(0, Math.max(0, runs.length - keep))) fs.rmSync(path.join(dir, r), { recursive: true, force: true });
}

// The first file called `name` under `dir` (depth first), or undefined.
export function findFile(dir, name) {
  if (!fs.existsSync(dir)) return undefined;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
    if (e.isDirectory()) {
      const f = findFile(p, name);
      if (f) return f;
    }
  }
  return undefined;
}
