#!/usr/bin/env node
// The local KYC demo, laid out as in Kubernetes but on loopback: four MCP servers, each behind
// its own inbound mcp-sidecar (the gate: mutual TLS with per-caller SPIFFE identities and a
// per-tool policy, or bearer tokens with --auth bearer), and the orchestrator behind an outbound
// mcp-sidecar (pools, case_id, timeouts, its client certificate). The servers speak the three
// MCP revisions found in production: registry the stateless 2026-07-28 (v2 SDK), sanctions and
// risk Streamable HTTP with sessions, pep the legacy HTTP+SSE (v1 SDK); the sidecar detects
// each (transport: auto) and the orchestrator never knows. It runs a few cases, then
// prints the trace of one case (from every log and from /debug/calls), a metrics summary, and
// shuts everything down cleanly. scripts/demo.sh builds and runs this.
//
//   node demo.mjs --sidecar PATH_TO_mcp-sidecar [--cases 3] [--auth mtls|bearer] [--keep-logs]
import { execFileSync, spawn } from 'node:child_process';
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
    auth: { type: 'string', default: 'mtls' },
    'keep-logs': { type: 'boolean', default: false }
  }
});
if (!opts.sidecar || !['mtls', 'bearer'].includes(opts.auth)) {
  console.error('usage: node demo.mjs --sidecar PATH [--cases N] [--auth mtls|bearer] [--keep-logs]');
  process.exit(2);
}
const mtls = opts.auth === 'mtls';

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const section = (title) => console.log(`\n${bold(`== ${title}`)}`);
const dir = fs.mkdtempSync('/tmp/kyc-demo-');
const token = crypto.randomBytes(24).toString('hex');
const problems = [];

const pki = path.join(dir, 'pki');
const ID = (sa) => `spiffe://kyc.local/ns/kyc/sa/${sa}`;
if (mtls) execFileSync(path.join(HERE, '../../certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
const tokensFile = path.join(dir, 'tokens');
fs.writeFileSync(tokensFile, `orchestrator=${token}\n`, { mode: 0o600 });

section(mtls
  ? 'Starting four MCP servers (official TypeScript SDK), each behind an inbound mcp-sidecar with mTLS'
  : 'Starting four MCP servers (official TypeScript SDK), each behind an inbound mcp-sidecar with bearer tokens');
// Which MCP revision each server speaks: the sidecar finds out by itself (transport: auto).
const TRANSPORTS = { registry: 'stateless', sanctions: 'streamable-http', pep: 'sse', risk: 'streamable-http' };
const servers = await Promise.all(ROLES.map((role) => startServer(role, { dir, transport: TRANSPORTS[role] })));
// The gates: require_auth, and a policy: the orchestrator may call every tool.
const gates = await Promise.all(servers.map((s) => startSidecar({
  bin: opts.sidecar, dir, name: `gate-${s.role}`, expectRoles: ['inbound', 'admin'],
  config: {
    inbound: {
      name: s.role, listen: '127.0.0.1:0', forward_to: s.base, require_auth: true,
      auth: mtls
        ? { mode: 'mtls', tls: { cert_file: `${pki}/${s.role}.crt`, key_file: `${pki}/${s.role}.key`, client_ca_file: `${pki}/ca.crt` } }
        : { mode: 'bearer', bearer_tokens_file: tokensFile },
      policy: [{ callers: [ID('orchestrator'), 'bearer:orchestrator'], tools: ['*'] }]
    },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 5 }
  }
})));
const gateUrl = (i) =>
  `${mtls ? 'https' : 'http'}://localhost:${gates[i].addresses.inbound.split(':')[1]}${new URL(servers[i].url).pathname}`;
for (const [i, s] of servers.entries())
  console.log(`  ${s.role.padEnd(10)} ${TRANSPORTS[s.role].padEnd(15)} server ${s.url}  <- gate ${gateUrl(i)}`);
const sidecar = await startSidecar({
  bin: opts.sidecar,
  dir,
  env: mtls ? {} : { MCP_BEARER_TOKEN: token },
  config: {
    outbound: {
      listen: '127.0.0.1:0', pool_size: 2, call_timeout_seconds: 10,
      servers: servers.map((s, i) => ({
        name: s.role, url: gateUrl(i),
        ...(mtls ? { tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key`,
          expect_identity: ID(s.role) } } : {})
      }))
    },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0.5, grace_seconds: 5 }
  }
});
console.log(`  orchestrator's outbound sidecar: API ${sidecar.outbound}   admin ${sidecar.admin}`);
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

section(`MCP revisions the sidecar detected (GET ${sidecar.admin}/debug/pools)`);
const pools = await (await fetch(`${sidecar.admin}/debug/pools`)).json();
for (const p of pools.servers) {
  const expected = TRANSPORTS[p.server] === 'streamable-http' ? 'streamable-http' : TRANSPORTS[p.server];
  console.log(`  ${p.server.padEnd(10)} transport ${p.transport.padEnd(5)} -> ${String(p.era).padEnd(15)} (server speaks ${TRANSPORTS[p.server]})`);
  if (p.era !== expected) problems.push(`${p.server}: detected ${p.era}, the server speaks ${TRANSPORTS[p.server]}`);
}

if (done && done.cases.length > 0) {
  const caseId = done.cases[0].case_id;
  section(`Trace of case ${caseId}: one grep of the case_id over all logs`);
  const lines = [];
  for (const s of servers)
    for (const l of readJsonLines(s.logFile))
      if (l.case_id === caseId) lines.push({ ts: l.ts, who: s.role, what: `${l.event} ${l.tool} caller=${l.caller}` });
  for (const [i, g] of gates.entries())
    for (const l of g.logLines())
      if (l.case_id === caseId && l.event === 'call_end')
        lines.push({ ts: l.ts, who: `gate-${servers[i].role}`, what: `${l.event} ${l.tool} ${l.outcome} caller=${l.caller}` });
  for (const l of sidecar.logLines())
    if (l.case_id === caseId && l.event === 'call_end')
      lines.push({ ts: l.ts, who: 'sidecar', what: `${l.event} ${l.server}/${l.tool} ${l.outcome} ${l.duration_ms.toFixed(1)} ms` });
  lines.sort((a, b) => a.ts.localeCompare(b.ts));
  for (const l of lines) console.log(`  ${l.ts}  ${l.who.padEnd(15)} ${l.what}`);

  section(`GET ${sidecar.admin}/debug/calls?case_id=${caseId}`);
  const calls = await (await fetch(`${sidecar.admin}/debug/calls?case_id=${encodeURIComponent(caseId)}`)).json();
  for (const c of calls.calls)
    console.log(`  ${c.server.padEnd(10)} ${c.tool.padEnd(16)} ${c.outcome.padEnd(10)} ${c.duration_ms.toFixed(1).padStart(7)} ms`);
  const serverCalls = lines.filter((l) => ROLES.includes(l.who)).length;
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

section('Clean shutdown (SIGTERM to the outbound sidecar, then to the gates and the servers)');
const sidecarExit = await sidecar.stop('SIGTERM');
// Sessions end as their revision says: DELETE (Streamable HTTP), closing the GET stream
// (HTTP+SSE); stateless 2026-07-28 has none to end.
const pep = servers.find((s) => s.role === 'pep');
for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
  const st = await pep.stats();  // the gate passes the closed stream on to the server
  if (st.sessions_stream_closed === st.sessions_opened) break;
}
const after = await Promise.all(servers.map((s) => s.stats()));
console.log(`  sidecar exit code ${sidecarExit}`);
if (sidecarExit !== 0) problems.push(`sidecar exited with ${sidecarExit}`);
for (const s of after) {
  const ended = s.sessions_deleted + s.sessions_stream_closed;
  const how = TRANSPORTS[s.server] === 'sse' ? 'closed their event stream' : 'closed with DELETE';
  console.log(`  ${s.server.padEnd(10)} ${TRANSPORTS[s.server] === 'stateless'
    ? 'stateless: no sessions to end'
    : `${ended}/${s.sessions_opened} sessions ${how}`}`);
  if (ended !== s.sessions_opened) problems.push(`${s.server}: ${s.sessions_opened - ended} sessions were not ended`);
}
const gateExits = await Promise.all(gates.map((g) => g.stop('SIGTERM')));
console.log(`  gate exit codes ${gateExits.join(', ')}`);
if (gateExits.some((c) => c !== 0)) problems.push(`a gate exited with ${gateExits}`);
const serverExits = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
console.log(`  server exit codes ${serverExits.join(', ')}`);
if (serverExits.some((c) => c !== 0)) problems.push(`a server exited with ${serverExits}`);
const errorLines = [sidecar, ...gates].flatMap((x) => x.logLines()).filter((l) => l.level === 'error' || l.unparsed);
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
