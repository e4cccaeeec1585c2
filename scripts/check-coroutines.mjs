#!/usr/bin/env node
// g++ 12 destroys a braced aggregate temporary (`T{...}`, `f({...})`) twice when it appears in a
// co_await expression (a double free; clang is fine), and an object made in a branch of a
// conditional there too. This check fails on any such statement
// under src/ and tests/: build the value in a named local first, then co_await.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const files = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cpp|hpp)$/.test(e.name)) files.push(p);
  }
};
walk(path.join(root, 'src'));
walk(path.join(root, 'tests'));
// Whether a branch of a conditional in `stmt` calls or casts (`c ? T(x) : y`, `c ? x : std::move(y)`):
// the branches run from ` ? ` to the ` : ` and from there to the next `,` or `)` outside parentheses.
const conditionalMakesObject = (stmt) => {
  for (const q of stmt.matchAll(/\s\?\s/g)) {
    const rest = stmt.slice(q.index + 3);
    const colon = rest.search(/\s:\s/);
    if (colon < 0) continue;
    let depth = 0;
    let end = colon + 3;
    for (; end < rest.length; end++) {
      const c = rest[end];
      if (c === '(') depth++;
      else if (c === ')' && depth-- === 0) break;
      else if (c === ',' && depth === 0) break;
    }
    if (rest.slice(0, end).includes('(')) return true;
  }
  return false;
};

let bad = 0;
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  for (const m of text.matchAll(/co_await\b/g)) {
    const end = text.indexOf(';', m.index);
    const stmt = text.slice(m.index, end);
    // An argument list with a co_await and then a lambda temporary (`co_spawn(co_await ex, [..] {..})`).
    if (/^co_await\s+[\w:.>-]+\s*,\s*\[/.test(stmt)) {
      const line = text.slice(0, m.index).split('\n').length;
      console.log(`${path.relative(root, f)}:${line}: lambda temporary in a co_await statement: ${stmt.replace(/\s+/g, ' ').slice(0, 80)}`);
      bad++;
      continue;
    }
    if (/->\s*asio::awaitable|\[[^\]]*\]\s*\(/.test(stmt)) continue;  // a lambda body: its own statements
    // ...and the statement so far: `T x{a, co_await b}` puts the co_await inside the braces.
    const starts = [';', '{\n', '}\n'].map((t) => text.lastIndexOf(t, m.index) + t.length);
    const before = text.slice(Math.max(...starts), m.index);
    // A conditional whose branch makes an object (`f(c ? T(x) : std::move(y))`): seen to free
    // the value twice as well (seen here: the heap corrupted, a crash on the next call).
    if (conditionalMakesObject(stmt)) {
      const line = text.slice(0, m.index).split('\n').length;
      console.log(`${path.relative(root, f)}:${line}: conditional temporary in a co_await expression: ${stmt.replace(/\s+/g, ' ').slice(0, 120)}`);
      bad++;
      continue;
    }
    if (/(\w\{|\(\{|,\s*\{)/.test(stmt) || /\w\{[^}]*$/.test(before)) {
      const line = text.slice(0, m.index).split('\n').length;
      console.log(`${path.relative(root, f)}:${line}: braced temporary in a co_await expression: ${stmt.replace(/\s+/g, ' ').slice(0, 120)}`);
      bad++;
    }
  }
}
if (bad) {
  console.log(`${bad} statement(s) would be miscompiled by g++ 12 (double destruction); hoist the value into a local.`);
  process.exit(1);
}
