#!/usr/bin/env node
// Before and after: two builds of the outbound sidecar side by side, on the same stub, in one run.
// A change's effect on this noisy machine is smaller than the drift between two runs of
// bench/run.mjs, so both binaries run at once (both on CPU 1, the load generator and the stub on
// CPU 0, as in run.mjs) and take turns, round by round, on the same request as run.mjs's
// `sidecar` scenario: latency at one connection, throughput at 16. Each figure is the median over
// the rounds, and each ratio the median of the per-round ratios (B over A), with their range.
//
//   node bench/ab.mjs --a OLD/mcp-sidecar --b NEW/mcp-sidecar [--rounds 8] [--seconds 3] [--build build/release]
//                     [--arguments small|kyc]
//
// A binary from another commit: `git worktree add /tmp/old REV`, then build its mcp-sidecar there
// (cmake -S /tmp/old -B /tmp/old/build -G Ninja -DCMAKE_BUILD_TYPE=Release, target mcp-sidecar).
// Nothing is kept: the figures are printed.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { ARGUMENT_SETS, cpuSeconds, echoCall, median } from './common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    build: { type: 'string', default: path.join(HERE, '../build/release') },
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    arguments: { type: 'string', default: 'small' }
  }
});
if (!opts.a || !opts.b || !ARGUMENT_SETS.includes(opts.arguments)) {
  console.error('usage: node bench/ab.mjs --a BINARY --b BINARY [--rounds N] [--seconds S] [--build DIR] ' +
                `[--arguments ${ARGUMENT_SETS.join('|')}]`);
  process.exit(2);
}
const BIN = {
  a: path.resolve(opts.a),
  b: path.resolve(opts.b),
  stub: path.resolve(opts.build, 'bench/mcp-bench-stub'),
  load: path.resolve(opts.build, 'bench/mcp-bench-load')
};
for (const [name, file] of Object.entries(BIN)) {
  if (!fs.existsSync(file)) {
    const hint = name === 'a' || name === 'b' ? 'a built mcp-sidecar' : 'scripts/bench.sh builds it';
    console.error(`ab: no ${name} at ${file} (${hint})`);
    process.exit(2);
  }
}
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const LOAD_CPU = '0';
const PROXY_CPU = os.cpus().length > 1 ? '1' : '0';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-ab-'));
const children = [];
process.on('exit', () => children.forEach((p) => p.exitCode === null && p.kill('SIGKILL')));

// Starts a pinned process and resolves with the first line of its output that matches `ready`.
function start(cpu, cmd, args, ready, name, stdoutFile) {
  const out = stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe';
  const proc = spawn('taskset', ['-c', cpu, cmd, ...args], { stdio: ['ignore', 'pipe', out] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 10000);
    proc.on('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = line.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, match: m });
      }
    });
  });
}

const cpuTotal = (pid) => {
  const { user, system } = cpuSeconds(pid);
  return user + system;
};

const stub = await start(LOAD_CPU, BIN.stub, ['--listen', '127.0.0.1:0'], /^listening (\d+)/, 'stub');
const stubBase = `http://127.0.0.1:${stub.match[1]}`;
const stubCalls = async () => (await (await fetch(`${stubBase}/stats`)).json()).calls;

// Each sidecar logs its listening address; its log goes to a file, as in run.mjs.
async function sidecar(name, bin) {
  const config = {
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 2 },
    outbound: {
      listen: '127.0.0.1:0',
      pool_size: 2,
      servers: [{ name: 'stub', url: `${stubBase}/mcp`, transport: 'streamable-http' }]
    }
  };
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const log = path.join(dir, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const proc = spawn('taskset', ['-c', PROXY_CPU, bin, '--config', file], { stdio: ['ignore', 'ignore', fd] });
  fs.closeSync(fd);
  children.push(proc);
  const deadline = Date.now() + 30000;
  for (;;) {
    const lines = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const listening = lines.find((l) => l.event === 'listening' && l.role === 'outbound');
    if (listening && lines.some((l) => l.event === 'ready')) return { name, proc, url: `http://${listening.address}/mcp/stub` };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`sidecar ${name} did not start; see ${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The request of run.mjs's `sidecar` scenario: a 2026-07-28 tools/call of the stub's echo tool.
const { body, headers } = echoCall(opts.arguments);

async function load(side, connections) {
  const args = ['-c', LOAD_CPU, BIN.load, '--target', side.url, '--connections', String(connections), '--seconds',
    String(SECONDS), '--warmup-seconds', '0.5', '--mode', 'call', '--body', body];
  for (const h of headers) args.push('--header', h);
  const cpuBefore = cpuTotal(side.proc.pid);
  const callsBefore = await stubCalls();
  const out = execFileSync('taskset', args, { encoding: 'utf8' });
  const calls = (await stubCalls()) - callsBefore;
  const r = JSON.parse(out.trim().split('\n').pop());
  if (r.errors > 0) throw new Error(`${r.errors} of ${r.ok + r.errors} calls through ${side.name} failed`);
  return { ...r, cpu_us: ((cpuTotal(side.proc.pid) - cpuBefore) * 1e6) / calls };
}

const sides = [await sidecar('a', BIN.a), await sidecar('b', BIN.b)];
const figures = { a: [], b: [] };
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so that a drift within a round favours neither.
  for (const side of round % 2 ? [...sides].reverse() : sides) {
    const one = await load(side, 1);
    const many = await load(side, 16);
    figures[side.name].push({ p50: one.latency.p50_us, p99: one.latency.p99_us, rps: many.rps, cpu: many.cpu_us });
    console.error(`round ${round + 1} ${side.name}: p50 ${one.latency.p50_us.toFixed(1)} us, ${many.rps.toFixed(0)} calls/s`);
  }
}

const rows = [
  ['p50 us (1 conn)', 'p50'],
  ['p99 us (1 conn)', 'p99'],
  ['calls/s (16 conns)', 'rps'],
  ['CPU us/call (16 conns)', 'cpu']
];
console.log(`A: ${BIN.a}\nB: ${BIN.b}\n${ROUNDS} rounds of ${SECONDS} s, alternating; '${opts.arguments}' arguments\n`);
console.log('| figure | A | B | B/A (median of rounds) | B/A range |\n|---|---|---|---|---|');
for (const [label, key] of rows) {
  const a = figures.a.map((f) => f[key]);
  const b = figures.b.map((f) => f[key]);
  const ratios = b.map((x, i) => x / a[i]);
  console.log(`| ${label} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(ratios).toFixed(3)} | ` +
    `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)} |`);
}
for (const p of children) p.kill();
fs.rmSync(dir, { recursive: true, force: true });
// Every figure came out of real calls (a failed call already stopped the run above).
const missing = rows.filter(([, key]) => [...figures.a, ...figures.b].some((f) => !(f[key] > 0 && Number.isFinite(f[key]))));
if (missing.length > 0) {
  console.error(`ab: no figure for ${missing.map(([label]) => label).join(', ')}`);
  process.exit(1);
}
