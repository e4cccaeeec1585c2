#!/usr/bin/env node
// Added latency of the inbound gate per call, plain and mTLS, in one run: the same outbound
// sidecar path to the same KYC server, directly, through a plain gate, and through an mTLS gate.
// Rounds are interleaved so drift on a noisy machine hits every path alike.
//
//   node bench/gate-latency.mjs --sidecar build/release/src/mcp-sidecar [--seconds 6]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { startServer, startSidecar } from '../examples/kyc/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({ options: { sidecar: { type: 'string' }, seconds: { type: 'string', default: '6' } } });
if (!opts.sidecar) {
  console.error('usage: node bench/gate-latency.mjs --sidecar PATH [--seconds N]');
  process.exit(2);
}
const dir = fs.mkdtempSync('/tmp/gate-latency-');
const pki = path.join(dir, 'pki');
execFileSync(path.join(HERE, '../certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
const quiet = { admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } };

const server = await startServer('registry', { dir });
const gate = async (name, auth) => startSidecar({ bin: opts.sidecar, dir, name, expectRoles: ['inbound', 'admin'],
  config: { ...quiet, inbound: { name: 'registry', listen: '127.0.0.1:0', forward_to: server.base, auth } } });
const plainGate = await gate('gate-plain', { mode: 'none' });
const tlsGate = await gate('gate-mtls', { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, client_ca_file: `${pki}/ca.crt` } });
const outbound = await startSidecar({ bin: opts.sidecar, dir, name: 'outbound', config: { ...quiet, outbound: {
  listen: '127.0.0.1:0', pool_size: 1, heartbeat_interval_seconds: 0,
  servers: [
    { name: 'direct', url: server.url },
    { name: 'plain', url: `http://${plainGate.addresses.inbound}/mcp` },
    { name: 'mtls', url: `https://localhost:${tlsGate.addresses.inbound.split(':')[1]}/mcp`,
      tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` } }
  ] } } });

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const port = Number(new URL(outbound.outbound).port);
const call = (name) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  const req = http.request({ host: '127.0.0.1', port, path: `/v1/servers/${name}/tools/ping`, method: 'POST', agent,
    headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
    res.resume();
    res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`${name}: ${res.statusCode}`))));
  });
  req.on('error', reject);
  req.end('{}');
});

const paths = ['direct', 'plain', 'mtls'];
for (const p of paths) for (let i = 0; i < 50; i++) await call(p);  // warm: sessions, connections, JIT
const samples = Object.fromEntries(paths.map((p) => [p, []]));
const end = Date.now() + Number(opts.seconds) * 1000;
while (Date.now() < end) for (const p of paths) for (let i = 0; i < 10; i++) samples[p].push(await call(p));

const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const stats = Object.fromEntries(paths.map((p) => [p, { n: samples[p].length, p50: pct(samples[p], 0.5), p90: pct(samples[p], 0.9), p99: pct(samples[p], 0.99) }]));
console.log(`machine: ${(await import('node:os')).cpus().length} cores, ${(await import('node:os')).cpus()[0].model}`);
console.log('path     calls     p50 ms   p90 ms   p99 ms   added p50 vs direct');
for (const p of paths) {
  const s = stats[p];
  const added = p === 'direct' ? '' : `${(s.p50 - stats.direct.p50).toFixed(3)} ms`;
  console.log(`${p.padEnd(8)} ${String(s.n).padStart(6)}  ${s.p50.toFixed(3).padStart(8)} ${s.p90.toFixed(3).padStart(8)} ${s.p99.toFixed(3).padStart(8)}   ${added}`);
}
const handshakes = (await (await fetch(`${tlsGate.admin}/metrics`)).text()).split('\n').filter((l) => l.startsWith('mcp_sidecar_tls_handshakes_total{'));
console.log(`mTLS gate handshakes during the run: ${handshakes.map((l) => l.replace(/.*outcome="([^"]+)".* (\d+)/, '$1=$2')).join(', ')}`);
agent.destroy();
for (const p of [outbound, plainGate, tlsGate]) await p.stop();
await server.stop();
fs.rmSync(dir, { recursive: true, force: true });
