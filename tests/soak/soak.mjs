#!/usr/bin/env node
// Soak (issue 10): calls at a fixed rate for a while, through the production path, with faults on
// a schedule, then a verdict. The path, all real processes on loopback:
//
//   this driver --REST--> outbound mcp-sidecar --mTLS--> [TCP proxy] --> inbound gate --> KYC server
//
// The calls are the server's non-idempotent test tool `sleep` (1 ms), each with its own case id;
// the proxy is this driver's, so it can drop live connections. The faults, one every F seconds
// of load (F = min(20 s, run / 6)): first the gate is restarted (SIGTERM, then a new one on its
// port), within the warm-up, so that the gate measured afterwards has lived through the whole
// measured time; then, alternating,
//   - kill -9 the KYC server and start a new one on the same port (every MCP session is lost),
//   - drop every live connection between the sidecar and the gate (TCP reset, both sides).
// The load pauses twice, at the end of the warm-up (W = min(60 s, run / 4) of load) and at the
// end: every answer is awaited and the sidecars are left idle for 14 s, for a quiet measurement
// of what they hold.
//
// Verdict (exit 1 if any fails):
//   - lost: 0. Every call gets exactly one HTTP answer within its timeout (call timeout + 5 s);
//     an error answer during a fault counts as answered (errors are reported by kind);
//   - no call executed twice (the server's log, kept across its restarts, names each execution's
//     case id), and every call answered 200 was executed;
//   - no 500 and no 200 without the tool's result;
//   - after each fault a call succeeds again before the next fault (recovery times reported);
//   - RSS and open file descriptors of each sidecar process are flat between the two quiet
//     points: the descriptors at the second within FLAT_FDS (4) of the first (under load the
//     count swings with the connections in flight, from about 25 to the pools' caps; quiet, it
//     falls back to what the process holds for good, which a leak raises); RSS (/proc, sampled
//     every S seconds) over the second half of the measured time at most 10% + 2 MB above its
//     maximum over the first half (RSS hardly shrinks: its maximum is its trend);
//   - every process exits 0 on SIGTERM at the end (under ASan, LeakSanitizer runs then).
//
//   MCP_SIDECAR_BIN=build/release/src/mcp-sidecar node tests/soak/soak.mjs [--seconds N | --minutes M] [--rate 200]
// scripts/soak.sh [minutes] runs it (default 10 minutes).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { readJsonLines, startServer, startSidecar, waitForExit } from '../../examples/kyc/launch.mjs';
import { request } from '../integration/helpers.mjs';
import { procUsage, sampleUsage, watchedEnv } from './proc.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: { seconds: { type: 'string' }, minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '200' } }
});
const RUN_S = opts.seconds !== undefined ? Number(opts.seconds) : Number(opts.minutes) * 60;
const RATE = Number(opts.rate);
if (!(RUN_S >= 20) || !(RATE > 0)) {
  console.error('usage: soak.mjs [--seconds N (>= 20) | --minutes M] [--rate CALLS_PER_SECOND]');
  process.exit(2);
}
const BIN = process.env.MCP_SIDECAR_BIN;
const FAULT_EVERY_S = Math.min(20, RUN_S / 6);
const WARMUP_S = Math.min(60, RUN_S / 4);
const SAMPLE_EVERY_S = Math.min(5, RUN_S / 20);
const CALL_TIMEOUT_S = 10;
const CLIENT_TIMEOUT_MS = (CALL_TIMEOUT_S + 5) * 1000;
const FLAT_RSS = (firstMaxKb) => firstMaxKb * 1.1 + 2048;
const FLAT_FDS = (quietFirst) => quietFirst + 4;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-'));
const pki = path.join(dir, 'pki');
execFileSync(path.join(HERE, '../../certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
const ID = (sa) => `spiffe://kyc.local/ns/kyc/sa/${sa}`;
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;
const problems = [];  // what fails the soak
const say = (line) => console.log(`[${now().toFixed(1).padStart(6)} s] ${line}`);

// ---- the processes -------------------------------------------------------------------------

let server = await startServer('registry', { dir, testTools: true });
const restartServer = async () => {
  server.proc.kill('SIGKILL');
  await waitForExit(server.proc, 5000);
  server = await startServer('registry', { dir, testTools: true, port: server.port });
};

// Every sidecar process, with its samples and quiet measurements: [{name, sc, usage, quiet: []}].
const processes = [];
async function sidecar(name, config, expectRoles) {
  const sc = await startSidecar({ bin: BIN, dir, name, env: watchedEnv(), config, expectRoles });
  processes.push({ name, sc, usage: sampleUsage(sc.proc.pid, SAMPLE_EVERY_S * 1000), quiet: [] });
  return sc;
}
const alive = (p) => p.sc.proc.exitCode === null && p.sc.proc.signalCode === null;

const gateConfig = (port) => ({
  inbound: {
    name: 'registry', listen: `127.0.0.1:${port}`, forward_to: server.base, require_auth: true,
    auth: { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, client_ca_file: `${pki}/ca.crt` } },
    policy: [{ callers: [ID('orchestrator')], tools: ['*'] }]
  },
  admin: { listen: '127.0.0.1:0' },
  shutdown: { delay_seconds: 0, grace_seconds: 2 }
});
let gates = 0;
let gate = await sidecar(`gate-${++gates}`, gateConfig(0), ['inbound', 'admin']);
const gatePort = Number(gate.addresses.inbound.split(':')[1]);
const restartGate = async () => {
  const code = await gate.stop('SIGTERM');
  if (code !== 0) problems.push(`gate-${gates} exited with ${code} on SIGTERM`);
  gate = await sidecar(`gate-${++gates}`, gateConfig(gatePort), ['inbound', 'admin']);
};

// The TCP proxy between the sidecar and the gate: TLS passes through it untouched.
const links = new Set();
const proxy = net.createServer((down) => {
  const up = net.connect(gatePort, '127.0.0.1');
  const link = { down, up };
  links.add(link);
  const end = () => {
    links.delete(link);
    down.destroy();
    up.destroy();
  };
  down.on('error', end).on('close', end);
  up.on('error', end).on('close', end);
  down.pipe(up);
  up.pipe(down);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const dropConnections = () => {
  const n = links.size;
  for (const { down, up } of [...links]) {
    down.resetAndDestroy();
    up.resetAndDestroy();
  }
  return n;
};

const outbound = await sidecar('outbound', {
  outbound: {
    listen: '127.0.0.1:0', call_timeout_seconds: CALL_TIMEOUT_S,
    servers: [{
      name: 'registry', url: `https://localhost:${proxy.address().port}/mcp`,
      tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key`, expect_identity: ID('registry') }
    }]
  },
  admin: { listen: '127.0.0.1:0' },
  shutdown: { delay_seconds: 0, grace_seconds: 5 }
});

// ---- the load --------------------------------------------------------------------------------

const outcomes = [];  // {sentAt (s), kind, ms}
let sent = 0;
const pending = new Set();

function classify(r) {
  if (r.status === 200) return r.json?.structuredContent?.slept === 1 ? 'ok' : '200 without the result';
  return `${r.status} ${r.json?.error?.code ?? r.body.slice(0, 40)}`;
}

function call() {
  const n = ++sent;
  const sentAt = now();
  const started = performance.now();
  const p = request(`${outbound.outbound}/v1/servers/registry/tools/sleep`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-case-id': `soak-${n}` }, body: { ms: 1 },
    timeoutMs: CLIENT_TIMEOUT_MS
  }).then(classify, (e) => `lost: ${e.code ?? e.message}`)
    .then((kind) => outcomes.push({ n, sentAt, kind, ms: performance.now() - started }))
    .finally(() => pending.delete(p));
  pending.add(p);
}

// ---- the run ---------------------------------------------------------------------------------

say(`soak: ${RUN_S} s at ${RATE} calls/s; a fault every ${FAULT_EVERY_S} s; warm-up ${WARMUP_S} s; samples every ${SAMPLE_EVERY_S} s; logs in ${dir}`);
const first = await request(`${outbound.outbound}/v1/servers/registry/tools/sleep`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-case-id': 'soak-0' }, body: { ms: 1 }
});
if (classify(first) !== 'ok') throw new Error(`the first call failed: ${first.status} ${first.body}`);

const faults = [];  // {kind, at, done (s, wall clock), detail}
const schedule = [];
for (let at = FAULT_EVERY_S, i = 0; at < RUN_S - FAULT_EVERY_S / 2; at += FAULT_EVERY_S, i++)
  schedule.push({ at, kind: i === 0 ? 'restart gate' : i % 2 === 1 ? 'kill -9 server' : 'drop connections' });
const runFault = {
  'kill -9 server': async () => { await restartServer(); return `new server pid ${server.proc.pid}`; },
  'drop connections': async () => `${dropConnections()} connections reset`,
  'restart gate': async () => { await restartGate(); return `new gate pid ${gate.proc.pid}`; }
};
let faultRunning = Promise.resolve();

// Open loop: as many calls as the rate says by now, whatever happened to the earlier ones, and
// the faults when their time comes; until `untilS` seconds of load in all.
let loadS = 0;
async function runLoad(untilS) {
  const start = Date.now() - loadS * 1000;
  for (let t = loadS; t < untilS; t = (Date.now() - start) / 1000) {
    while (sent < Math.floor(t * RATE)) call();
    if (schedule[0] && t >= schedule[0].at) {
      const f = { ...schedule.shift(), at: now() };
      faults.push(f);
      // Run without blocking the load; the schedule leaves F seconds for each fault.
      faultRunning = runFault[f.kind]().then((detail) => { f.done = now(); f.detail = detail; say(`fault: ${f.kind}: ${detail}`); },
        (e) => { f.done = now(); problems.push(`fault ${f.kind} failed: ${e.message}`); });
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  loadS = untilS;
}

// A quiet point: every answer in and the running fault done; then 10 s pass, for idle
// connections to close (the pools sweep every 4 s those idle for 4 s: up to 8 s), and each live
// sidecar's lowest descriptor count over the next 4 s is recorded (a heartbeat may hold a
// connection for a moment); {label, at, rssKb, fds, sockets (TCP states and peers, from ss)}.
async function quiet(label) {
  await Promise.all([...pending, faultRunning]);
  await new Promise((r) => setTimeout(r, 10000));
  const live = processes.filter(alive);
  const lowest = new Map();
  for (const end = Date.now() + 4000; Date.now() < end; await new Promise((r) => setTimeout(r, 250)))
    for (const p of live) {
      const u = procUsage(p.sc.proc.pid);
      if (u && !(lowest.get(p)?.fds <= u.fds)) lowest.set(p, { ...u, sockets: sockets(p.sc.proc.pid) });
    }
  for (const p of live) p.quiet.push({ label, at: Date.now(), ...lowest.get(p) });
  say(`quiet point (${label}): ${live.map((p) => `${p.name} ${p.quiet.at(-1).rssKb} kB, ${p.quiet.at(-1).fds} fds`).join('; ')}`);
}

// The TCP sockets of `pid` as `ss` lists them (state, local, peer), for a report on descriptors.
function sockets(pid) {
  try {
    return execFileSync('ss', ['-tanp'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${pid},`))
      .map((l) => l.split(/\s+/).filter((_, i) => i === 0 || i === 3 || i === 4).join(' '));
  } catch {
    return [];
  }
}

await runLoad(WARMUP_S);
await quiet('after warm-up');
await runLoad(RUN_S);
say(`load stopped after ${sent} calls; waiting for ${pending.size} answers`);
const loadEnded = now();
await quiet('at the end');

// ---- the verdict -----------------------------------------------------------------------------

const byKind = {};
for (const o of outcomes) byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;
const lost = outcomes.filter((o) => o.kind.startsWith('lost'));
const answered = outcomes.length - lost.length;
console.log(`\ncalls sent ${sent}, answered ${answered}, lost ${lost.length + (sent - outcomes.length)}`);
console.log('answers by kind:');
for (const [kind, n] of Object.entries(byKind).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(7)}  ${kind}`);
if (lost.length || outcomes.length !== sent) problems.push(`${lost.length} calls lost (no HTTP answer within ${CLIENT_TIMEOUT_MS} ms)`);
for (const kind of Object.keys(byKind))
  if (kind.startsWith('500') || kind.startsWith('200 without')) problems.push(`${byKind[kind]} answers "${kind}"`);
const slowest = Math.max(...outcomes.map((o) => o.ms));
console.log(`slowest answer ${slowest.toFixed(0)} ms (call timeout ${CALL_TIMEOUT_S * 1000} ms)`);

// Executions, from every server process's log (one file, appended across restarts).
const executions = new Map();
for (const l of readJsonLines(server.logFile))
  if (l.event === 'tool_call' && l.tool === 'sleep' && /^soak-\d+$/.test(l.case_id ?? ''))
    executions.set(l.case_id, (executions.get(l.case_id) ?? 0) + 1);
const twice = [...executions].filter(([, n]) => n > 1);
const okNotRun = outcomes.filter((o) => o.kind === 'ok' && executions.get(`soak-${o.n}`) !== 1);
console.log(`executions logged by the server: ${executions.size} calls, ${twice.length} executed more than once`);
if (twice.length) problems.push(`${twice.length} calls executed more than once, e.g. ${twice.slice(0, 5).map(([id, n]) => `${id} x${n}`).join(', ')}`);
if (okNotRun.length) problems.push(`${okNotRun.length} calls answered 200 but not executed exactly once, e.g. soak-${okNotRun[0].n}`);

console.log('faults (recovery: from the end of the fault to the first call sent after it that succeeded):');
for (const [i, f] of faults.entries()) {
  const until = faults[i + 1]?.at ?? loadEnded;
  const firstOk = outcomes.filter((o) => o.kind === 'ok' && o.sentAt >= (f.done ?? f.at)).reduce((m, o) => Math.min(m, o.sentAt), Infinity);
  const errors = outcomes.filter((o) => o.kind !== 'ok' && o.sentAt >= f.at && o.sentAt < until).length;
  const recovery = firstOk - (f.done ?? f.at);
  console.log(`  ${f.at.toFixed(1).padStart(6)} s  ${f.kind.padEnd(17)} ${String(f.detail).padEnd(26)} recovery ${
    Number.isFinite(recovery) ? `${(recovery * 1000).toFixed(0)} ms` : 'never'}, ${errors} errors until the next fault`);
  if (!(firstOk < until)) problems.push(`no call succeeded between the ${f.kind} at ${f.at.toFixed(1)} s and the next fault`);
}

// Resources: flat between the quiet points.
console.log(`resources: RSS kB / open descriptors every ${SAMPLE_EVERY_S} s; judged between the quiet points:`);
for (const p of processes) {
  const samples = p.usage.stop();
  const series = samples.map((s) => `${s.rssKb}/${s.fds}`).join(' ');
  if (p.quiet.length < 2) {
    console.log(`  ${p.name} (pid ${p.sc.proc.pid}): not judged (not alive at both quiet points): ${series}`);
    continue;
  }
  const [q1, q2] = p.quiet;
  const measured = samples.filter((s) => s.at + p.usage.t0 >= q1.at && s.at + p.usage.t0 <= q2.at);
  const half = Math.floor(measured.length / 2);
  const rss = [measured.slice(0, half), measured.slice(half)].map((h) => Math.max(...h.map((s) => s.rssKb)));
  const flat = q2.fds <= FLAT_FDS(q1.fds) && rss[1] <= FLAT_RSS(rss[0]);
  console.log(`  ${p.name} (pid ${p.sc.proc.pid}): quiet fds ${q1.fds} -> ${q2.fds}, quiet RSS ${q1.rssKb} -> ${q2.rssKb} kB, ` +
    `max RSS ${rss[0]} -> ${rss[1]} kB (halves of ${measured.length} samples), fds under load up to ` +
    `${Math.max(...measured.map((s) => s.fds))}: ${flat ? 'flat' : 'GROWING'}`);
  console.log(`    ${series}`);
  if (!flat) {
    problems.push(`${p.name}: quiet fds ${q1.fds} -> ${q2.fds}, max RSS ${rss[0]} -> ${rss[1]} kB`);
    for (const q of [q1, q2]) console.log(`    TCP sockets ${q.label}: ${q.sockets.join(' | ') || 'none'}`);
  }
}

const last = await request(`${outbound.outbound}/v1/servers/registry/tools/sleep`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-case-id': 'soak-last' }, body: { ms: 1 }
});
if (classify(last) !== 'ok') problems.push(`the call after the soak failed: ${last.status} ${last.body}`);
for (const [name, sc] of [['outbound', outbound], [`gate-${gates}`, gate]]) {
  const code = await sc.stop('SIGTERM');
  if (code !== 0) problems.push(`${name} exited with ${code} on SIGTERM`);
}
await server.stop('SIGTERM');
proxy.close();

if (problems.length) {
  console.log(`\nSOAK FAILED (logs in ${dir}):`);
  for (const p of problems) console.log(`  - ${p}`);
  process.exit(1);
}
console.log(`\nsoak passed: ${sent} calls, none lost, none executed twice, resources flat (logs in ${dir})`);
