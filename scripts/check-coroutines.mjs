#!/usr/bin/env node
// g++ 12 destroys a braced aggregate temporary (`T{...}`, `f({...})`) twice when it appears in a
// co_await expression (a double free; clang is fine). This check fails on any such statement
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
