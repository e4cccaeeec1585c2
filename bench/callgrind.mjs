// Reads a callgrind output file (name-compressed, as valgrind 3.19 writes it) into per-function
// costs: self (the function's own instructions) and inclusive (with what it called). The
// callgrind_annotate of Debian 12 puts every cost on __libc_start_main for these files, hence this.
//   node bench/callgrind.mjs FILE [CALLS] [PATTERN]   prints the top functions, per call
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export function readCallgrind(file) {
  const names = new Map();
  const self = new Map();
  const inclusive = new Map();
  const add = (map, id, cost) => map.set(id, (map.get(id) ?? 0) + cost);
  let fn = null;
  let callCost = false;  // the cost line after `calls=` is the callee's inclusive cost
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const def = line.match(/^(c?fn)=\((\d+)\)(?: (.*))?$/);
    if (def) {
      if (def[3]) names.set(def[2], def[3]);
      if (def[1] === 'fn') fn = def[2];
      continue;
    }
    if (line.startsWith('calls=')) {
      callCost = true;
      continue;
    }
    if (fn === null || !/^([+-]?\d|\*)/.test(line)) continue;
    const cost = Number(line.trim().split(/\s+/)[1] ?? 0);
    add(inclusive, fn, cost);
    if (!callCost) add(self, fn, cost);
    callCost = false;
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const rows = (map) => [...map.entries()].map(([id, cost]) => ({ name: names.get(id) ?? `(${id})`, cost }))
    .sort((a, b) => b.cost - a.cost);
  return { total, self: rows(self), inclusive: rows(inclusive) };
}

// A short text profile: the top functions by self cost and the project's by inclusive cost.
export function profileText(file, calls, top = 25) {
  const p = readCallgrind(file);
  const short = (name) => name.replace(/\(.*$/, '').slice(0, 110);
  const row = (r) => `${String(Math.round(r.cost / calls)).padStart(9)}  ${short(r.name)}`;
  return [`instructions per call: ${Math.round(p.total / calls)}`, '', 'self, per call:', ...p.self.slice(0, top).map(row), '',
    'inclusive, per call (mcp_sidecar::):', ...p.inclusive.filter((r) => r.name.startsWith('mcp_sidecar::')).slice(0, top).map(row)]
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, calls = '1'] = process.argv.slice(2);
  console.log(profileText(file, Number(calls)));
}
