#!/usr/bin/env node
// The benchmark harness: every scenario of docs/performance.md against the same upstream stub in
// one run, the sidecar side by side with nginx, printed as a table of figures and ratios and kept
// in bench/results/. scripts/bench.sh builds what it needs and runs this.
//
//   node bench/run.mjs --build build/release [--seconds 3] [--rounds 3] [--smoke] [--out DIR]
//
// Pinning: the load generator and the stub share CPU 0, every proxy under test (the sidecar,
// both sidecars of a pair, nginx, both nginx of a pair) runs on CPU 1, so each proxy's figures
// are for one core whatever the machine. Throughput and latency scenarios are interleaved over
// --rounds rounds and each figure is the median, so drift on a noisy machine hits every path
// alike. --smoke runs every scenario briefly and checks that figures come out (never their value).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { freePort, startServer, waitForExit } from '../examples/kyc/launch.mjs';
import { profileText, readCallgrind } from './callgrind.mjs';
import { ARGUMENT_SETS, callBody, callHeaders, cpuSeconds, echoCall, median } from './common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const { values: opts } = parseArgs({
  options: {
    build: { type: 'string', default: path.join(ROOT, 'build/release') },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    smoke: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(HERE, 'results') },
    only: { type: 'string' },
    arguments: { type: 'string', default: 'small' }
  }
});
if (!ARGUMENT_SETS.includes(opts.arguments)) {
  console.error(`bench: --arguments is one of ${ARGUMENT_SETS.join(', ')}`);
  process.exit(2);
}
// The tools/call every hop scenario, the memory scenario and callgrind make.
const ECHO = echoCall(opts.arguments);
const smoke = opts.smoke;
const SECONDS = smoke ? 0.3 : Number(opts.seconds);
const ROUNDS = smoke ? 1 : Number(opts.rounds);
const WARMUP = smoke ? 0.1 : 0.5;
const BIN = {
  sidecar: path.resolve(opts.build, 'src/mcp-sidecar'),
  stub: path.resolve(opts.build, 'bench/mcp-bench-stub'),
  load: path.resolve(opts.build, 'bench/mcp-bench-load'),
  relay: path.resolve(opts.build, 'bench/mcp-bench-relay')
};
for (const [name, file] of Object.entries(BIN)) {
  if (!fs.existsSync(file)) {
    console.error(`bench: no ${name} at ${file}: run scripts/bench.sh (it builds them)`);
    process.exit(2);
  }
}
const CPUS = os.cpus().length;
const LOAD_CPU = '0';
const PROXY_CPU = CPUS > 1 ? '1' : '0';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-bench-'));
const children = [];
process.on('exit', () => children.forEach((p) => p.exitCode === null && p.kill('SIGKILL')));

// ---------------------------------------------------------------------------------------------
// Processes

// Spawns `cmd` pinned to `cpu`, resolving once a stdout line matches `ready`.
async function spawnReady(cpu, cmd, args, ready, name, wrapper = ['taskset', '-c', cpu]) {
  const proc = spawn(wrapper[0], [...wrapper.slice(1), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const err = fs.createWriteStream(path.join(dir, `${name}.stderr`));
  proc.stderr.pipe(err);
  const rl = readline.createInterface({ input: proc.stdout });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s`)), 20000);
    rl.on('line', (l) => {
      if (ready.test(l)) {
        clearTimeout(timer);
        resolve(l);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}; see ${dir}/${name}.stderr`)));
  });
  return { proc, line };
}

async function startStub(extra = []) {
  const { proc, line } = await spawnReady(LOAD_CPU, BIN.stub, ['--listen', '127.0.0.1:0', ...extra], /^listening /, 'stub');
  const port = Number(line.split(' ')[1]);
  return { proc, port, base: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/mcp` };
}

async function stubCalls(stub) {
  return (await (await fetch(`${stub.base}/stats`)).json()).calls;
}

// A process's memory, from /proc (its CPU time: common.mjs's cpuSeconds).
function memoryKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

// Runs the load generator (pinned with the stub) and resolves with its figures. Asynchronous:
// the harness's own event loop must keep running meanwhile.
async function load(target, { connections, seconds = SECONDS, body, headers = [], mode = 'call', extra = [] }) {
  const args = ['-c', LOAD_CPU, BIN.load, '--target', target, '--connections', String(connections), '--seconds',
    String(seconds), '--warmup-seconds', String(WARMUP), '--mode', mode, '--body', body, ...extra];
  for (const h of headers) args.push('--header', h);
  const proc = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const code = await waitForExit(proc, (seconds + WARMUP) * 1000 + 60000);
  if (code !== 0 && code !== 1) throw new Error(`load generator exited with ${code}`);
  const r = JSON.parse(out.trim().split('\n').pop());
  if (r.errors > 0) throw new Error(`${r.errors} of ${r.ok + r.errors} calls to ${target} failed`);
  return r;
}

function waitForPort(port, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

// One nginx, one worker process and no master (so its PID is the worker's), pinned to PROXY_CPU.
async function startNginx(name, server, wrapper = ['taskset', '-c', PROXY_CPU]) {
  const prefix = path.join(dir, name);
  fs.mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = `
worker_processes 1;
master_process off;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  ${server(port)}
}`;
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const proc = spawn(wrapper[0], [...wrapper.slice(1), 'nginx', '-p', prefix, '-c', path.join(prefix, 'nginx.conf')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  await waitForPort(port, 60000);  // under valgrind nginx takes seconds to start
  return { proc, port, pid: proc.pid, url: `http://127.0.0.1:${port}/mcp` };
}

// nginx as a keep-alive reverse proxy to `upstream` (http://host:port), plain or with TLS.
function nginxProxy(upstream, { listenTls, upstreamTls } = {}) {
  const url = new URL(upstream);
  return (port) => `
  upstream up { server ${url.host}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port}${listenTls ? ' ssl' : ''};
    ${listenTls ? `ssl_certificate ${listenTls.cert}; ssl_certificate_key ${listenTls.key};
    ssl_client_certificate ${listenTls.ca}; ssl_verify_client on; ssl_protocols TLSv1.2 TLSv1.3;` : ''}
    location / {
      proxy_pass ${upstreamTls ? 'https' : 'http'}://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      ${upstreamTls ? `proxy_ssl_certificate ${upstreamTls.cert}; proxy_ssl_certificate_key ${upstreamTls.key};
      proxy_ssl_trusted_certificate ${upstreamTls.ca}; proxy_ssl_verify on; proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;` : ''}
    }
  }`;
}

const quiet = { admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0, grace_seconds: 2 } };

// Starts mcp-sidecar with its log going straight to a file (not through this process, whose
// event loop must never stand between the sidecar and its log), pinned to PROXY_CPU or run
// under `wrapper` (valgrind). Resolves once its `ready` line is logged.
async function sidecar(name, config, roles, wrapper = ['taskset', '-c', PROXY_CPU]) {
  const configFile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(configFile, JSON.stringify({ ...quiet, ...config }));
  const logFile = path.join(dir, `${name}.log`);
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(wrapper[0], [...wrapper.slice(1), BIN.sidecar, '--config', configFile], { stdio: ['ignore', 'ignore', log] });
  fs.closeSync(log);
  children.push(proc);
  const addresses = {};
  const deadline = Date.now() + 60000;
  for (;;) {
    const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    for (const l of lines) if (l.event === 'listening') addresses[l.role] = l.address;
    if (lines.some((l) => l.event === 'ready')) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`sidecar ${name} did not start; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const role of roles) if (!addresses[role]) throw new Error(`sidecar ${name} has no ${role} listener`);
  return {
    name, proc, addresses, logFile,
    outbound: addresses.outbound && `http://${addresses.outbound}`,
    admin: `http://${addresses.admin}`,
    async stop(timeoutMs = 30000) {
      proc.kill('SIGTERM');
      return waitForExit(proc, timeoutMs);
    }
  };
}
const outbound = (name, servers, extra = {}) =>
  sidecar(name, { outbound: { listen: '127.0.0.1:0', pool_size: 2, servers, ...extra } }, ['outbound', 'admin']);
const gate = (name, forwardTo, auth) =>
  sidecar(name, { inbound: { name: 'stub', listen: '127.0.0.1:0', forward_to: forwardTo, auth,
    policy: [{ callers: ['*'], tools: ['*'] }] } }, ['inbound', 'admin']);

// ---------------------------------------------------------------------------------------------
// Scenarios

const results = { machine: machine(), scenarios: {}, targets: [] };

function machine() {
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0].model,
    cpus: CPUS,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    load_average: os.loadavg().map((x) => Math.round(x * 100) / 100),
    sidecar: commandOutput(BIN.sidecar, ['--version']),
    nginx: commandOutput('nginx', ['-v']),  // prints to stderr
    git: commandOutput('git', ['-C', ROOT, 'describe', '--always', '--dirty']),
    arguments: opts.arguments, request_bytes: Buffer.byteLength(ECHO.body),
    pinning: `load generator + stub on CPU ${LOAD_CPU}, proxies on CPU ${PROXY_CPU}`,
    seconds: SECONDS,
    rounds: ROUNDS
  };
}
// What a command prints, on stdout or else on stderr.
function commandOutput(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').trim();
}

// The hop scenarios (1)-(5): each a target URL and the proxy processes whose CPU is counted.
async function hopScenarios(stub, pki) {
  const tls = (id) => ({ cert: `${pki}/${id}.crt`, key: `${pki}/${id}.key`, ca: `${pki}/ca.crt` });
  const mtlsAuth = { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`,
    client_ca_file: `${pki}/ca.crt` } };
  const clientTls = { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` };

  const side = await outbound('outbound', [{ name: 'stub', url: stub.url, transport: 'streamable-http' }]);
  const plainGate = await gate('gate-plain', stub.base, { mode: 'none' });
  const plainOut = await outbound('outbound-plain', [{ name: 'stub', url: `http://${plainGate.addresses.inbound}/mcp`,
    transport: 'streamable-http' }]);
  const mtlsGate = await gate('gate-mtls', stub.base, mtlsAuth);
  const mtlsPort = mtlsGate.addresses.inbound.split(':')[1];
  const mtlsOut = await outbound('outbound-mtls', [{ name: 'stub', url: `https://localhost:${mtlsPort}/mcp`,
    transport: 'streamable-http', tls: clientTls }]);

  const nginx = await startNginx('nginx', nginxProxy(stub.base));
  // The relay floors: Beast's whole HTTP layer, its parser alone, and none of Beast.
  const startRelay = async (name, flags) => {
    const r = await spawnReady(PROXY_CPU, BIN.relay, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${stub.port}`,
      ...flags], /^listening /, name);
    return { pid: r.proc.pid, url: `http://127.0.0.1:${Number(r.line.split(' ')[1])}/mcp` };
  };
  const relay = await startRelay('relay', []);
  const leanRelay = await startRelay('relay-lean', ['--lean']);
  const rawRelay = await startRelay('relay-raw', ['--raw']);
  const nginxB = await startNginx('nginx-b', nginxProxy(stub.base));
  const nginxA = await startNginx('nginx-a', nginxProxy(`http://127.0.0.1:${nginxB.port}`));
  const nginxTlsB = await startNginx('nginx-tls-b', nginxProxy(stub.base, { listenTls: tls('registry') }));
  const nginxTlsA = await startNginx('nginx-tls-a',
    nginxProxy(`http://127.0.0.1:${nginxTlsB.port}`, { upstreamTls: tls('orchestrator') }));

  const viaSidecar = (s) => `${s.outbound}/mcp/stub`;
  return [
    { name: 'direct', label: '(1) direct', target: stub.url, pids: [] },
    { name: 'sidecar', label: '(2) outbound sidecar', target: viaSidecar(side), pids: [side.proc.pid] },
    { name: 'nginx', label: '(2) nginx', target: `http://127.0.0.1:${nginx.port}/mcp`, pids: [nginx.pid] },
    { name: 'relay', label: '(2) Beast relay, no MCP work', target: relay.url, pids: [relay.pid] },
    { name: 'relay_lean', label: '(2) relay, Beast parser only', target: leanRelay.url, pids: [leanRelay.pid] },
    { name: 'relay_raw', label: '(2) relay, no Beast', target: rawRelay.url, pids: [rawRelay.pid] },
    { name: 'sidecar_pair', label: '(3) sidecar pair, plain', target: viaSidecar(plainOut),
      pids: [plainOut.proc.pid, plainGate.proc.pid] },
    { name: 'nginx_pair', label: '(3) nginx pair, plain', target: `http://127.0.0.1:${nginxA.port}/mcp`,
      pids: [nginxA.pid, nginxB.pid] },
    { name: 'sidecar_pair_mtls', label: '(4) sidecar pair, mTLS', target: viaSidecar(mtlsOut),
      pids: [mtlsOut.proc.pid, mtlsGate.proc.pid] },
    { name: 'nginx_pair_mtls', label: '(4) nginx pair, mTLS', target: `http://127.0.0.1:${nginxTlsA.port}/mcp`,
      pids: [nginxTlsA.pid, nginxTlsB.pid] }
  ];
}

// Runs `scenario` once: its figures, the CPU its proxies used per call, and the stub's count.
async function measure(scenario, stub, loadOptions) {
  const cpuBefore = scenario.pids.map(cpuSeconds);
  const callsBefore = await stubCalls(stub);
  const r = await load(scenario.target, loadOptions);
  const upstreamCalls = (await stubCalls(stub)) - callsBefore;
  const used = (kind) => scenario.pids.reduce((sum, pid, i) => sum + cpuSeconds(pid)[kind] - cpuBefore[i][kind], 0);
  const user = used('user');
  const system = used('system');
  // Every call the load generator counted must have reached the stub (warm-up calls too).
  if (upstreamCalls < r.ok) throw new Error(`${scenario.name}: ${r.ok} calls answered but the stub ran ${upstreamCalls}`);
  // The CPU covers the warm-up too: divided by every call the stub served.
  const perCall = (seconds) => (scenario.pids.length ? (seconds / upstreamCalls) * 1e6 : null);
  return { ...r, cpu_us_per_call: perCall(user + system), cpu_user_us_per_call: perCall(user),
    cpu_system_us_per_call: perCall(system) };
}

async function hops(stub, pki) {
  const scenarios = (await hopScenarios(stub, pki)).filter((s) => !opts.only || opts.only.split(',').includes(s.name));
  const runs = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      for (const [kind, connections] of [['throughput', 16], ['latency', 1]]) {
        const r = await measure(s, stub, { connections, ...ECHO });
        ((runs[s.name] ??= {})[kind] ??= []).push(r);
        process.stderr.write(`  round ${round + 1} ${s.label.padEnd(26)} ${kind.padEnd(10)} ${Math.round(r.rps)} calls/s` +
          ` p50 ${r.latency.p50_us.toFixed(1)} us\n`);
      }
    }
  }
  for (const s of scenarios) {
    const t = runs[s.name].throughput;
    const l = runs[s.name].latency;
    const med = (xs, f) => median(xs.map(f));
    results.scenarios[s.name] = {
      label: s.label,
      throughput_rps: med(t, (r) => r.rps),
      throughput_rps_rounds: t.map((r) => r.rps),
      throughput_p50_us: med(t, (r) => r.latency.p50_us),
      throughput_p99_us: med(t, (r) => r.latency.p99_us),
      cpu_us_per_call: s.pids.length ? med(t, (r) => r.cpu_us_per_call) : null,
      cpu_user_us_per_call: s.pids.length ? med(t, (r) => r.cpu_user_us_per_call) : null,
      cpu_system_us_per_call: s.pids.length ? med(t, (r) => r.cpu_system_us_per_call) : null,
      // The same CPU figure over the one-connection run, where every call finds the proxy idle.
      latency_cpu_us_per_call: s.pids.length ? med(l, (r) => r.cpu_us_per_call) : null,
      latency_cpu_user_us_per_call: s.pids.length ? med(l, (r) => r.cpu_user_us_per_call) : null,
      latency_cpu_system_us_per_call: s.pids.length ? med(l, (r) => r.cpu_system_us_per_call) : null,
      latency_p50_us: med(l, (r) => r.latency.p50_us),
      latency_p90_us: med(l, (r) => r.latency.p90_us),
      latency_p99_us: med(l, (r) => r.latency.p99_us),
      latency_p999_us: med(l, (r) => r.latency.p999_us)
    };
  }
}

// (6) The official-SDK KYC server: a new session per call (what applications did) vs pooled.
async function sdkPooling() {
  const server = await startServer('sanctions', { dir, transport: 'streamable-http' });
  const side = await outbound('outbound-sdk', [{ name: 'sanctions', url: server.url, transport: 'streamable-http' }],
    { pool_size: 4 });
  const args = { name: 'Example Holdings Ltd', entity_type: 'company', case_id: 'bench-1' };
  const body = callBody('screen_entity', args);
  const perCall = [];
  const pooled = [];
  for (let round = 0; round < ROUNDS; round++) {
    perCall.push(await load(server.url, { connections: 8, body, mode: 'session-per-call' }));
    pooled.push(await load(`${side.outbound}/mcp/sanctions`, { connections: 8, body, headers: callHeaders('screen_entity') }));
  }
  results.scenarios.sdk_session_per_call = { label: '(6) SDK server, session per call', throughput_rps: median(perCall.map((r) => r.rps)),
    latency_p50_us: median(perCall.map((r) => r.latency.p50_us)) };
  results.scenarios.sdk_pooled = { label: '(6) SDK server, pooled via sidecar', throughput_rps: median(pooled.map((r) => r.rps)),
    latency_p50_us: median(pooled.map((r) => r.latency.p50_us)) };
  await side.stop();
  await server.stop();
}

// (7) Memory: idle with four upstreams x pool 2 open, then 1,000 downstream connections at once.
async function memory(stub) {
  const names = ['registry', 'sanctions', 'pep', 'risk'];
  const side = await outbound('outbound-memory', names.map((name) => ({ name, url: stub.url, transport: 'streamable-http' })),
    { pool_size: 2 });
  const pid = side.proc.pid;
  for (const name of names) {
    await load(`${side.outbound}/mcp/${name}`, { connections: 2, seconds: 0, ...ECHO, extra: ['--requests', '20'] });
  }
  const servers = await (await fetch(`${side.outbound}/v1/servers`)).json();
  const ready = servers.servers.reduce((n, s) => n + s.ready_sessions, 0);
  const idle = memoryKiB(pid);
  const total = smoke ? 100 : 1000;
  const per = total / names.length;
  // Each load generator keeps its connections open, idle, after its calls until killed.
  const holders = await Promise.all(names.map((name) => spawnReady(LOAD_CPU, BIN.load, ['--target',
    `${side.outbound}/mcp/${name}`, '--connections', String(per), '--requests', String(per * 2), '--hold-seconds', '60',
    '--body', ECHO.body, ...ECHO.headers.flatMap((h) => ['--header', h])], /^holding$/, `holder-${name}`)));
  const loaded = memoryKiB(pid);
  const metricsText = await (await fetch(`${side.admin}/metrics`)).text();
  const open = metricsText.split('\n').filter((l) => l.startsWith('mcp_sidecar_connections{') && l.includes('"outbound"'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  for (const h of holders) h.proc.kill('SIGKILL');
  results.scenarios.memory = { label: '(7) memory', ready_sessions: ready, idle_rss_kib: idle.rss,
    connections: total, open_connections_seen: open, loaded_rss_kib: loaded.rss, peak_rss_kib: loaded.hwm };
  await side.stop();
}

// (8) SSE: time to the first event of a streamed tool result, directly and through the sidecar.
async function sse() {
  const stub = await startStub(['--stream-delay-ms', '5']);
  const side = await outbound('outbound-sse', [{ name: 'stub', url: stub.url, transport: 'streamable-http' }]);
  const body = callBody('stream', { case_id: 'bench-1' }, { progressToken: 'p-1' });
  const run = (target) => load(target, { connections: 4, body, mode: 'first-event', headers: callHeaders('stream') });
  const direct = [];
  const through = [];
  for (let round = 0; round < ROUNDS; round++) {
    direct.push(await run(stub.url));
    through.push(await run(`${side.outbound}/mcp/stub`));
  }
  for (const r of [...direct, ...through]) if (!r.first_event) throw new Error('sse scenario: no first event measured');
  const fe = (rs, key) => median(rs.map((r) => r.first_event[key]));
  results.scenarios.sse = { label: '(8) SSE first event', direct_p50_us: fe(direct, 'p50_us'), direct_p99_us: fe(direct, 'p99_us'),
    sidecar_p50_us: fe(through, 'p50_us'), sidecar_p99_us: fe(through, 'p99_us') };
  await side.stop();
  stub.proc.kill();
}

// (9) Instructions per call under callgrind: warm up, zero the counters, run a fixed number of
// calls, dump. Repeatable to a fraction of a percent whatever the machine's load.
const CALLGRIND_CALLS = smoke ? 50 : 2000;
const underCallgrind = (name) => ['valgrind', '--tool=callgrind', `--callgrind-out-file=${path.join(dir, `${name}.callgrind`)}`,
  `--log-file=${path.join(dir, `${name}.valgrind.log`)}`];

// Runs the calls to `target` (1 connection) with every process of `sides` (started under
// underCallgrind(name): { name, proc, stop }) counted, then stops them. Per side: instructions
// per call, and the profile (kept beside the dump as NAME.txt).
async function countInstructions(target, sides) {
  const calls = CALLGRIND_CALLS;
  const run = (n) => load(target, { connections: 1, seconds: 0, ...ECHO, extra: ['--requests', String(n)] });
  await run(Math.min(200, calls));
  for (const s of sides) execFileSync('callgrind_control', ['--zero', String(s.proc.pid)], { stdio: 'ignore' });
  const r = await run(calls);
  if (r.ok !== calls) throw new Error(`callgrind: ${r.ok}/${calls} calls succeeded`);
  for (const s of sides) execFileSync('callgrind_control', ['--dump', String(s.proc.pid)], { stdio: 'ignore' });
  for (const s of sides) await s.stop(60000);
  return sides.map((s) => {
    // The dump after zeroing is part 1.
    const dump = path.join(dir, `${s.name}.callgrind.1`);
    const profile = profileText(dump, calls);
    fs.writeFileSync(path.join(dir, `${s.name}.txt`), profile + '\n');
    return { instructions_per_call: Math.round(readCallgrind(dump).total / calls), profile };
  });
}

async function callgrind(stub) {
  const config = { outbound: { listen: '127.0.0.1:0', pool_size: 2,
    servers: [{ name: 'stub', url: stub.url, transport: 'streamable-http' }] } };
  const side = await sidecar('outbound-callgrind', config, ['outbound', 'admin'], underCallgrind('outbound-callgrind'));
  const [counted] = await countInstructions(`${side.outbound}/mcp/stub`, [side]);
  results.scenarios.callgrind = { label: '(9) instructions per call (callgrind)', calls: CALLGRIND_CALLS, ...counted };
}

// (9) for the pairs: instructions per call in each sidecar of the plain and the mTLS pair, both
// under callgrind at once. What the mTLS pair costs over the plain one is what TLS costs.
async function callgrindPairs(stub, pki) {
  const pairs = {
    plain: { auth: { mode: 'none' }, scheme: 'http', tls: undefined },
    mtls: { auth: { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`,
      client_ca_file: `${pki}/ca.crt` } }, scheme: 'https',
    tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` } }
  };
  const figures = { label: '(9) instructions per call in each sidecar of the pairs', calls: CALLGRIND_CALLS };
  for (const [kind, p] of Object.entries(pairs)) {
    const gateName = `gate-${kind}-callgrind`;
    const outName = `outbound-${kind}-callgrind`;
    const g = await sidecar(gateName, { inbound: { name: 'stub', listen: '127.0.0.1:0', forward_to: stub.base, auth: p.auth,
      policy: [{ callers: ['*'], tools: ['*'] }] } }, ['inbound', 'admin'], underCallgrind(gateName));
    const host = p.scheme === 'https' ? `localhost:${g.addresses.inbound.split(':')[1]}` : g.addresses.inbound;
    const o = await sidecar(outName, { outbound: { listen: '127.0.0.1:0', pool_size: 2, servers: [{ name: 'stub',
      url: `${p.scheme}://${host}/mcp`, transport: 'streamable-http', tls: p.tls }] } }, ['outbound', 'admin'], underCallgrind(outName));
    const [outbound, inbound] = await countInstructions(`${o.outbound}/mcp/stub`, [o, g]);
    figures[`${kind}_outbound`] = outbound.instructions_per_call;
    figures[`${kind}_inbound`] = inbound.instructions_per_call;
  }
  results.scenarios.callgrind_pairs = figures;
}

// (9) for the reference hops: instructions per call in nginx and in the three relays on the same
// call, each alone under callgrind: the floors the sidecar's own count compares with, free of the
// machine's noise.
async function callgrindHops(stub) {
  const figures = { label: '(9) instructions per call in nginx and the relays', calls: CALLGRIND_CALLS };
  const counted = (name, proc) => ({ name, proc, stop: (timeoutMs) => { proc.kill('SIGTERM'); return waitForExit(proc, timeoutMs); } });
  const nginx = await startNginx('nginx-callgrind', nginxProxy(stub.base), underCallgrind('nginx-callgrind'));
  [{ instructions_per_call: figures.nginx }] = await countInstructions(nginx.url, [counted('nginx-callgrind', nginx.proc)]);
  for (const [key, flags] of [['relay', []], ['relay_lean', ['--lean']], ['relay_raw', ['--raw']]]) {
    const name = `${key.replace('_', '-')}-callgrind`;
    const r = await spawnReady(null, BIN.relay, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${stub.port}`, ...flags],
      /^listening /, name, underCallgrind(name));
    const url = `http://127.0.0.1:${Number(r.line.split(' ')[1])}/mcp`;
    [{ instructions_per_call: figures[key] }] = await countInstructions(url, [counted(name, r.proc)]);
  }
  results.scenarios.callgrind_hops = figures;
}

// ---------------------------------------------------------------------------------------------

const pki = path.join(dir, 'pki');
execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
const stub = await startStub();
const only = opts.only ? opts.only.split(',') : null;
const want = (name) => !only || only.includes(name);
console.error(`bench: ${smoke ? 'smoke run' : `${ROUNDS} rounds of ${SECONDS} s`} in ${dir}`);
const HOPS = ['direct', 'sidecar', 'nginx', 'relay', 'relay_lean', 'relay_raw', 'sidecar_pair', 'nginx_pair', 'sidecar_pair_mtls', 'nginx_pair_mtls'];
if (HOPS.some(want)) await hops(stub, pki);
if (want('sdk')) await sdkPooling();
if (want('memory')) await memory(stub);
if (want('sse')) await sse();
if (want('callgrind')) await callgrind(stub);
if (want('callgrind_pairs')) await callgrindPairs(stub, pki);
if (want('callgrind_hops')) await callgrindHops(stub);
report();

function report() {
  const S = results.scenarios;
  const f = (x, d = 0) => (x === null || x === undefined ? '' : Number(x).toFixed(d));
  const lines = [];
  const m = results.machine;
  lines.push(`# Benchmark ${m.date} (${m.git})`, '',
    `Machine: ${m.cpu}, ${m.cpus} CPUs, ${m.memory_gib} GiB, Linux ${m.kernel}, load average ${m.load_average.join(' ')} at start.`,
    `Pinning: ${m.pinning}. ${m.rounds} rounds of ${m.seconds} s per figure (median). ${m.sidecar}; ${m.nginx}.`,
    `Request: the stub's echo tool with the '${m.arguments}' arguments (${m.request_bytes} bytes of JSON-RPC).`, '');
  const hopsRows = Object.entries(S).filter(([, s]) => s.throughput_p50_us !== undefined);
  if (hopsRows.length) {
    const direct = S.direct;
    lines.push('| scenario | calls/s at 16 conns | vs direct | proxy CPU us/call | of it user / system | proxy CPU us/call (1 conn) | p50 us (1 conn) | p99 us (1 conn) | added p50 us | added p99 us |',
      '|---|---|---|---|---|---|---|---|---|---|');
    for (const [, s] of hopsRows) {
      lines.push(`| ${s.label} | ${f(s.throughput_rps)} | ${direct ? f(s.throughput_rps / direct.throughput_rps, 2) : ''} | ${f(s.cpu_us_per_call, 1)} | ` +
        `${s.cpu_us_per_call === null ? '' : `${f(s.cpu_user_us_per_call, 1)} / ${f(s.cpu_system_us_per_call, 1)}`} | ${f(s.latency_cpu_us_per_call, 1)} | ${f(s.latency_p50_us, 1)} | ${f(s.latency_p99_us, 1)} | ${direct ? f(s.latency_p50_us - direct.latency_p50_us, 1) : ''} | ` +
        `${direct ? f(s.latency_p99_us - direct.latency_p99_us, 1) : ''} |`);
    }
    lines.push('');
    if (S.nginx_pair && S.nginx_pair_mtls) lines.push(`nginx's mTLS pair against its plain pair: ${ratio(S.nginx_pair_mtls, S.nginx_pair).text}.`, '');
  }
  if (S.sdk_pooled) {
    lines.push(`SDK server (8 connections): session per call ${f(S.sdk_session_per_call.throughput_rps)} calls/s ` +
      `(p50 ${f(S.sdk_session_per_call.latency_p50_us)} us), pooled through the sidecar ${f(S.sdk_pooled.throughput_rps)} calls/s ` +
      `(p50 ${f(S.sdk_pooled.latency_p50_us)} us): ${f(S.sdk_pooled.throughput_rps / S.sdk_session_per_call.throughput_rps, 2)}x.`, '');
  }
  if (S.memory) {
    lines.push(`Memory: idle ${f(S.memory.idle_rss_kib / 1024, 1)} MiB with ${S.memory.ready_sessions} upstream sessions open; ` +
      `${f(S.memory.loaded_rss_kib / 1024, 1)} MiB with ${S.memory.connections} downstream connections open ` +
      `(${S.memory.open_connections_seen} counted by the sidecar), peak ${f(S.memory.peak_rss_kib / 1024, 1)} MiB.`, '');
  }
  if (S.sse) {
    lines.push(`SSE first event: direct p50 ${f(S.sse.direct_p50_us)} us (p99 ${f(S.sse.direct_p99_us)}), through the sidecar ` +
      `p50 ${f(S.sse.sidecar_p50_us)} us (p99 ${f(S.sse.sidecar_p99_us)}): +${f(S.sse.sidecar_p50_us - S.sse.direct_p50_us)} us.`, '');
  }
  if (S.callgrind) lines.push(`Instructions per call through the outbound sidecar (callgrind, ${S.callgrind.calls} calls): ${S.callgrind.instructions_per_call}.`, '');
  if (S.callgrind_pairs) {
    const c = S.callgrind_pairs;
    lines.push(`Instructions per call in the pairs (callgrind, ${c.calls} calls, outbound + inbound): plain ${c.plain_outbound} + ${c.plain_inbound}, ` +
      `mTLS ${c.mtls_outbound} + ${c.mtls_inbound} (TLS adds ${c.mtls_outbound - c.plain_outbound} + ${c.mtls_inbound - c.plain_inbound}).`, '');
  }
  if (S.callgrind_hops) {
    const c = S.callgrind_hops;
    lines.push(`Instructions per call in the reference hops (callgrind, ${c.calls} calls): nginx ${c.nginx}, Beast relay ${c.relay}, ` +
      `relay on Beast's parser ${c.relay_lean}, relay without Beast ${c.relay_raw}.`, '');
  }
  targets(lines);
  const text = lines.join('\n');
  console.log(text);
  if (smoke) checkFigures();
  if (!smoke) {
    fs.mkdirSync(opts.out, { recursive: true });
    // A second run of the same code the same day is kept beside the first (-2, -3, ...).
    const named = opts.arguments === 'small' ? '' : `-${opts.arguments}`;
    const base = path.join(opts.out, `${results.machine.date.slice(0, 10)}-${results.machine.git}${named}`);
    let stem = base;
    for (let n = 2; fs.existsSync(`${stem}.md`) || fs.existsSync(`${stem}.json`); n++) stem = `${base}-${n}`;
    fs.writeFileSync(`${stem}.json`, JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(`${stem}.md`, text + '\n');
    console.error(`bench: results in ${stem}.{md,json}`);
  }
}

// The smoke run (CI) judges no timing: it fails when a scenario produced no figure.
function checkFigures() {
  const S = results.scenarios;
  const positive = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;
  const required = {
    ...Object.fromEntries(HOPS.map((name) => [name, ['throughput_rps', 'latency_p50_us', 'latency_p99_us']])),
    sdk_session_per_call: ['throughput_rps'], sdk_pooled: ['throughput_rps'],
    memory: ['idle_rss_kib', 'peak_rss_kib', 'open_connections_seen'],
    sse: ['direct_p50_us', 'sidecar_p50_us'], callgrind: ['instructions_per_call'],
    callgrind_pairs: ['plain_outbound', 'plain_inbound', 'mtls_outbound', 'mtls_inbound'],
    callgrind_hops: ['nginx', 'relay', 'relay_lean', 'relay_raw']
  };
  const missing = Object.entries(required).filter(([name]) => want(name) || (name.startsWith('sdk') && want('sdk')))
    .flatMap(([name, keys]) => keys.filter((k) => !positive(S[name]?.[k])).map((k) => `${name}.${k}`));
  if (missing.length) {
    console.error(`bench smoke: no figure for ${missing.join(', ')}`);
    process.exit(1);
  }
  console.error('bench smoke: every scenario produced its figures');
}

// A ratio of two paths' throughput: the median of its per-round ratios (both measured within
// seconds of each other in the same round, so the machine's drift over the run cancels out),
// with their range and the ratio of the two medians beside it.
function ratio(a, b) {
  const rounds = a.throughput_rps_rounds.map((x, i) => x / b.throughput_rps_rounds[i]);
  const r = median(rounds);
  return { r, text: `${r.toFixed(2)}x (rounds ${Math.min(...rounds).toFixed(2)}-${Math.max(...rounds).toFixed(2)}; ` +
    `ratio of the medians ${(a.throughput_rps / b.throughput_rps).toFixed(2)}x)` };
}

// The targets of docs/performance.md, each with the figures it compares.
function targets(lines) {
  const S = results.scenarios;
  const t = [];
  const add = (name, ok, detail) => t.push({ name, ok, detail });
  if (S.sidecar && S.nginx && S.direct) {
    const added = (s, k) => s[k] - S.direct[k];
    add('added latency p50 <= nginx', added(S.sidecar, 'latency_p50_us') <= added(S.nginx, 'latency_p50_us'),
      `${added(S.sidecar, 'latency_p50_us').toFixed(1)} vs ${added(S.nginx, 'latency_p50_us').toFixed(1)} us`);
    add('added latency p99 <= nginx', added(S.sidecar, 'latency_p99_us') <= added(S.nginx, 'latency_p99_us'),
      `${added(S.sidecar, 'latency_p99_us').toFixed(1)} vs ${added(S.nginx, 'latency_p99_us').toFixed(1)} us`);
    const vs = ratio(S.sidecar, S.nginx);
    add('throughput at 16 conns >= nginx', vs.r >= 1,
      `${S.sidecar.throughput_rps.toFixed(0)} vs ${S.nginx.throughput_rps.toFixed(0)} calls/s: ${vs.text}`);
  }
  if (S.sidecar_pair && S.sidecar_pair_mtls) {
    const vs = ratio(S.sidecar_pair_mtls, S.sidecar_pair);
    add('mTLS pair >= 0.7x plain pair', vs.r >= 0.7, vs.text);
  }
  if (S.sdk_pooled) {
    const r = S.sdk_pooled.throughput_rps / S.sdk_session_per_call.throughput_rps;
    add('pooled >= 3x session per call', r >= 3, `${r.toFixed(2)}x`);
  }
  if (S.memory && !smoke) {
    add('idle RSS < 10 MiB', S.memory.idle_rss_kib < 10 * 1024, `${(S.memory.idle_rss_kib / 1024).toFixed(1)} MiB`);
    add('RSS with 1,000 connections < 40 MiB', S.memory.peak_rss_kib < 40 * 1024, `${(S.memory.peak_rss_kib / 1024).toFixed(1)} MiB peak`);
  }
  if (S.sse) {
    const d = S.sse.sidecar_p50_us - S.sse.direct_p50_us;
    add('SSE first event within 1 ms of direct', d <= 1000, `+${d.toFixed(0)} us (p50)`);
  }
  results.targets = t;
  if (t.length) {
    lines.push('| target | met | figures |', '|---|---|---|');
    for (const x of t) lines.push(`| ${x.name} | ${smoke ? '(smoke: not judged)' : x.ok ? 'yes' : '**no**'} | ${x.detail} |`);
    lines.push('');
  }
}

await Promise.all(children.filter((p) => p.exitCode === null).map(async (p) => {
  p.kill('SIGTERM');
  await waitForExit(p, 10000).catch(() => p.kill('SIGKILL'));
}));
process.exit(0);
