#!/usr/bin/env node
// The local KYC demo: four MCP servers and mcp-sidecar on loopback, an orchestrator running a few
// cases through the sidecar, then the trace of one case (from every log and from
// /debug/calls), a metrics summary, and a clean shutdown. scripts/demo.sh builds and runs this.
//
//   node demo.mjs --sidecar PATH_TO_mcp-sidecar [--cases 3] [--keep-logs]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { ROLES, startServer, startSidecar, outboundConfig, waitForExit, readJsonLines } from './launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    sidecar: { type: 'string' },
    cases: { type: 'string', default: '3' },
    'keep-logs': { type: 'boolean', default: false }
  }
});
if (!opts.sidecar) {
  console.error('usage: node demo.mjs --sidecar PATH [--cases N] [--keep-logs]');
  process.exit(2);
}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const section = (title) => console.log(`\n${bold(`== ${title}`)}`);
const dir = fs.mkdtempSync('/tmp/kyc-demo-');
const token = crypto.randomBytes(24).toString('hex');
const problems = [];

section('Starting four MCP servers (official TypeScript SDK, Streamable HTTP, bearer auth) and mcp-sidecar');
const servers = await Promise.all(ROLES.map((role) => startServer(role, { dir, env: { MCP_BEARER_TOKEN: token } })));
for (const s of servers) console.log(`  ${s.role.padEnd(10)} ${s.url}`);
const sidecar = await startSidecar({
  bin: opts.sidecar,
  dir,
  env: { MCP_BEARER_TOKEN: token },
  config: {
    outbound: outboundConfig(servers, { pool_size: 2, call_timeout_seconds: 10 }),
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0.5, grace_seconds: 5 }
  }
});
console.log(`  sidecar    outbound API ${sidecar.outbound}   admin ${sidecar.admin}`);
const before = await Promise.all(servers.map((s) => s.stats()));
console.log(`  sessions open before the first call: ${before.reduce((n, s) => n + s.sessions_opened, 0)} (pools fill lazily)`);

section(`Running ${opts.cases} KYC cases through the sidecar's REST API`);
const orchestrator = spawn(process.execPath, [path.join(HERE, 'orchestrator.mjs'), '--sidecar', sidecar.outbound,
  '--cases', opts.cases], { stdio: ['ignore', 'pipe', 'inherit'] });
let done = null;
orchestrator.stdout.setEncoding('utf8');
let buffered = '';
orchestrator.stdout.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.startsWith('{')) {
      try {
        const o = JSON.parse(line);
        if (o.event === 'orchestrator_done') done = o;
        continue;
      } catch {}
    }
    console.log(`  ${line}`);
  }
});
const orchestratorExit = await waitForExit(orchestrator, 120000);
if (orchestratorExit !== 0 || !done) problems.push(`orchestrator exited with ${orchestratorExit}`);

if (done && done.cases.length > 0) {
  const caseId = done.cases[0].case_id;
  section(`Trace of case ${caseId}: one grep of the case_id over all five logs`);
  const lines = [];
  for (const s of servers)
    for (const l of readJsonLines(s.logFile))
      if (l.case_id === caseId) lines.push({ ts: l.ts, who: s.role, what: `${l.event} ${l.tool}${l.caller ? ` caller=${l.caller}` : ''}` });
  for (const l of sidecar.logLines())
    if (l.case_id === caseId && l.event === 'call_end')
      lines.push({ ts: l.ts, who: 'sidecar', what: `${l.event} ${l.server}/${l.tool} ${l.outcome} ${l.duration_ms.toFixed(1)} ms` });
  lines.sort((a, b) => a.ts.localeCompare(b.ts));
  for (const l of lines) console.log(`  ${l.ts}  ${l.who.padEnd(9)} ${l.what}`);

  section(`GET ${sidecar.admin}/debug/calls?case_id=${caseId}`);
  const calls = await (await fetch(`${sidecar.admin}/debug/calls?case_id=${encodeURIComponent(caseId)}`)).json();
  for (const c of calls.calls)
    console.log(`  ${c.server.padEnd(10)} ${c.tool.padEnd(16)} ${c.outcome.padEnd(10)} ${c.duration_ms.toFixed(1).padStart(7)} ms`);
  const serverCalls = lines.filter((l) => l.who !== 'sidecar').length;
  if (calls.calls.length !== done.cases[0].calls || serverCalls !== done.cases[0].calls)
    problems.push(`case ${caseId}: ${done.cases[0].calls} calls made, ${calls.calls.length} in /debug/calls, ${serverCalls} in server logs`);
}

section(`Metrics summary (${sidecar.admin}/metrics)`);
const metrics = await (await fetch(`${sidecar.admin}/metrics`)).text();
const sample = (name) =>
  metrics
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => {
      const m = l.match(/^[^{]+\{(.*)\} (\S+)$/);
      const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      return { labels, value: Number(m[2]) };
    });
const perServer = {};
for (const { labels, value } of sample('mcp_sidecar_calls_total')) {
  const row = (perServer[labels.server] ??= {});
  row[labels.outcome] = (row[labels.outcome] ?? 0) + value;
}
const opens = Object.fromEntries(sample('mcp_sidecar_session_opens_total').filter((s) => s.labels.outcome === 'ok').map((s) => [s.labels.server, s.value]));
const durations = Object.fromEntries(sample('mcp_sidecar_call_duration_seconds_sum').map((s) => [`${s.labels.server}/${s.labels.tool}`, s.value]));
const counts = Object.fromEntries(sample('mcp_sidecar_call_duration_seconds_count').map((s) => [`${s.labels.server}/${s.labels.tool}`, s.value]));
console.log(`  ${'server'.padEnd(10)} ${'calls'.padStart(6)}  outcomes                sessions opened`);
for (const role of ROLES) {
  const row = perServer[role] ?? {};
  const total = Object.values(row).reduce((a, b) => a + b, 0);
  const outcomes = Object.entries(row).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`  ${role.padEnd(10)} ${String(total).padStart(6)}  ${outcomes.padEnd(23)} ${opens[role] ?? 0}`);
}
console.log('  mean call duration per tool:');
for (const key of Object.keys(counts).sort())
  console.log(`    ${key.padEnd(28)} ${((durations[key] / counts[key]) * 1000).toFixed(2)} ms over ${counts[key]} calls`);

section('Clean shutdown (SIGTERM to the sidecar, then to the servers)');
const sidecarExit = await sidecar.stop('SIGTERM');
const after = await Promise.all(servers.map((s) => s.stats()));
const opened = after.reduce((n, s) => n + s.sessions_opened, 0);
const deleted = after.reduce((n, s) => n + s.sessions_deleted, 0);
console.log(`  sidecar exit code ${sidecarExit}; ${deleted}/${opened} upstream sessions closed with DELETE`);
if (sidecarExit !== 0) problems.push(`sidecar exited with ${sidecarExit}`);
if (deleted !== opened) problems.push(`${opened - deleted} sessions were not closed with DELETE`);
const serverExits = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
console.log(`  server exit codes ${serverExits.join(', ')}`);
if (serverExits.some((c) => c !== 0)) problems.push(`a server exited with ${serverExits}`);
const errorLines = sidecar.logLines().filter((l) => l.level === 'error' || l.unparsed);
for (const s of servers) {
  const stderr = fs.readFileSync(path.join(dir, `${s.role}.stderr`), 'utf8');
  if (stderr.trim()) problems.push(`${s.role} wrote to stderr: ${stderr.trim().slice(0, 200)}`);
}
if (errorLines.length) problems.push(`sidecar logged ${errorLines.length} error lines`);

if (!opts['keep-logs'] && problems.length === 0) fs.rmSync(dir, { recursive: true, force: true });
else console.log(`\n  logs kept in ${dir}`);
if (problems.length) {
  section('Problems');
  for (const p of problems) console.log(`  - ${p}`);
  process.exit(1);
}
console.log(`\n${bold('Demo complete: every case decided, every call traced by its case_id, clean shutdown.')}`);
