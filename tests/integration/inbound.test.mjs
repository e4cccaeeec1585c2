// The inbound gate in front of the real KYC servers, with certificates from certs-dev: every
// authentication mode and refusal, per-tool policy, tools/list filtering, identity spoofing,
// token and certificate rotation, the bearer -> mtls-or-bearer -> mtls upgrade with calls
// flowing, streaming without buffering, and a legacy HTTP+SSE server behind the gate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';

import { SIDECAR_BIN, callTool, metricValue, metrics, request, startServer, startSidecar, until } from './helpers.mjs';
import { Session, exchange, parseSse } from './mcp_raw.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync('/tmp/it-inbound-');
const pki = path.join(dir, 'pki');
const ID = (sa) => `spiffe://kyc.local/ns/kyc/sa/${sa}`;
const T_ORCH = 'orch-0123456789abcdef0123456789abcdef';
const T_AUDIT = 'audit-0123456789abcdef0123456789abcd';
const cleanup = [];
let registry;

before(async () => {
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
  registry = await startServer('registry', { dir: fs.mkdtempSync(`${dir}/registry-`), testTools: true });
});
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await registry.stop();
});

const certOf = (name) => ({ cert: fs.readFileSync(`${pki}/${name}.crt`), key: fs.readFileSync(`${pki}/${name}.key`) });
const trust = () => ({ ca: fs.readFileSync(`${pki}/ca.crt`), servername: 'localhost' });
let gates = 0;

// Starts an inbound sidecar in front of `server`; returns it with .url (its /mcp) and .base.
async function gate(server, inbound, { env = {}, configFile } = {}) {
  const name = `gate-${++gates}`;
  const config = {
    inbound: { name: server.role, listen: '127.0.0.1:0', forward_to: server.base, ...inbound },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 2 },
    reload: { interval_seconds: 0.1 }
  };
  const g = await startSidecar({ bin: SIDECAR_BIN, dir, name, env, config, expectRoles: ['inbound', 'admin'] });
  if (configFile) fs.copyFileSync(g.configFile, configFile);
  cleanup.push(() => g.stop('SIGKILL'));
  const address = g.addresses.inbound;
  const scheme = inbound.auth?.tls?.cert_file ? 'https' : 'http';
  g.base = `${scheme}://${address.replace('127.0.0.1', 'localhost')}`;
  g.url = `${g.base}/mcp`;
  return g;
}

function tokensFile(name, lines) {
  const f = path.join(dir, name);
  fs.writeFileSync(`${f}.tmp`, lines.join('\n') + '\n');
  fs.renameSync(`${f}.tmp`, f);  // atomic, like a Secret update
  return f;
}

const serverTls = (extra = {}) => ({ cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, ...extra });
const callersSeen = async () => registry.logLines().filter((l) => l.event === 'tool_call').map((l) => l.caller);

test('none: calls pass as "anonymous", said loudly at startup and in a metric', async () => {
  const g = await gate(registry, {});
  const s = new Session(g.url);
  assert.equal((await s.open()).status, 200);
  const { answer } = await s.request('tools/call', { name: 'ping', arguments: {} });
  assert.deepEqual(answer.result.structuredContent, { ok: true });
  assert.equal((await callersSeen()).at(-1), 'anonymous');
  assert.ok(g.logLines().some((l) => l.event === 'auth_disabled' && l.level === 'warn' && l.direction === 'inbound'));
  assert.equal(metricValue(await metrics(g), 'mcp_sidecar_auth_disabled', { direction: 'inbound' }), 1);
});

test('require_auth refuses to start without authentication', async () => {
  await assert.rejects(
    startSidecar({ bin: SIDECAR_BIN, dir, name: 'refuse', expectRoles: ['inbound'],
      config: { inbound: { listen: '127.0.0.1:0', forward_to: registry.base, require_auth: true } } }),
    /exited with 1/);
  // The log is copied from the process's stderr, which may still be flushing after its exit.
  await until(() => /authentication is required but none is configured/.test(fs.readFileSync(path.join(dir, 'refuse.log'), 'utf8')),
    { timeoutMs: 3000, what: 'the refusal in the log' });
});

test('bearer: named tokens, constant-time checked; missing and wrong tokens are 401; Authorization never reaches the server', async () => {
  const tokens = tokensFile('tokens-bearer', [`orchestrator=${T_ORCH}`, `auditor=${T_AUDIT}`]);
  const g = await gate(registry, { auth: { bearer_tokens_file: tokens } }, { env: { MCP_BEARER_TOKEN: 'shared-0123456789abcdef0123456789' } });
  const none = await exchange(g.url, { body: { jsonrpc: '2.0', id: 1, method: 'ping' } });
  assert.equal(none.status, 401);
  assert.match(none.headers['www-authenticate'], /^Bearer/);
  const wrong = await exchange(g.url, { headers: { authorization: `Bearer ${T_ORCH.replace(/.$/, 'x')}` }, body: { jsonrpc: '2.0', id: 1, method: 'ping' } });
  assert.equal(wrong.status, 401);
  const before = (await registry.stats()).with_authorization;
  for (const [token, who] of [[T_ORCH, 'bearer:orchestrator'], [T_AUDIT, 'bearer:auditor'], ['shared-0123456789abcdef0123456789', 'bearer:default']]) {
    const s = new Session(g.url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await s.open()).status, 200);
    const { answer } = await s.request('tools/call', { name: 'ping', arguments: {} });
    assert.ok(answer.result, JSON.stringify(answer));
    assert.equal((await callersSeen()).at(-1), who);
  }
  assert.equal((await registry.stats()).with_authorization, before, 'the gate forwarded an Authorization header');
  const m = await metrics(g);
  assert.ok(metricValue(m, 'mcp_sidecar_auth_total', { method: 'bearer', outcome: 'ok' }) >= 3);
  assert.equal(metricValue(m, 'mcp_sidecar_auth_total', { method: 'bearer', outcome: 'missing_token' }), 1);
  assert.equal(metricValue(m, 'mcp_sidecar_auth_total', { method: 'bearer', outcome: 'bad_token' }), 1);
  assert.equal(fs.readFileSync(g.logFile, 'utf8').includes(T_ORCH), false, 'a token in the log');
});

test('mtls: identity from the SPIFFE URI SAN; no certificate, unknown CA, expired, not yet valid and disallowed identities are refused and counted', async () => {
  const g = await gate(registry, {
    auth: { mode: 'mtls', tls: serverTls({ client_ca_file: `${pki}/ca.crt` }) },
    policy: [{ callers: [ID('orchestrator')], tools: ['*'] }]
  });
  const s = new Session(g.url, { tls: { ...trust(), ...certOf('orchestrator') } });
  assert.equal((await s.open()).status, 200);
  const { answer } = await s.request('tools/call', { name: 'ping', arguments: {} });
  assert.ok(answer.result);
  assert.equal((await callersSeen()).at(-1), ID('orchestrator'));

  for (const [cert, reason] of [[null, 'no_certificate'], ['foreign', 'unknown_ca'], ['expired', 'expired'], ['not-yet-valid', 'not_yet_valid']]) {
    const opts = { tls: { ...trust(), ...(cert ? certOf(cert) : {}) } };
    const r = await exchange(g.url, { ...opts, body: { jsonrpc: '2.0', id: 1, method: 'ping' } }).catch((e) => ({ error: e }));
    assert.ok(r.error, `${reason}: the gate answered ${r.status}`);
    await until(async () => metricValue(await metrics(g), 'mcp_sidecar_tls_handshakes_total', { outcome: reason }) >= 1,
      { what: `a ${reason} refusal counted` });
  }
  // A valid certificate whose identity the policy does not allow: a JSON-RPC error, not a call.
  const auditor = new Session(g.url, { tls: { ...trust(), ...certOf('auditor') } });
  assert.equal((await auditor.open()).status, 200);
  const executed = (await registry.stats()).executions.ping;
  const denied = await auditor.request('tools/call', { name: 'ping', arguments: {} });
  assert.equal(denied.r.status, 200);
  assert.equal(denied.answer.error.code, -32003);
  assert.equal((await registry.stats()).executions.ping, executed);
  assert.ok(metricValue(await metrics(g), 'mcp_sidecar_authz_denied_total', { server: 'registry' }) >= 1);
  assert.ok(metricValue(await metrics(g), 'mcp_sidecar_cert_expiry_timestamp_seconds', { cert: 'inbound' }) > Date.now() / 1000);
});

test('mtls-or-bearer: a certificate if presented (never falling back when it is bad), else a token', async () => {
  const tokens = tokensFile('tokens-upgrade', [`orchestrator=${T_ORCH}`]);
  const g = await gate(registry, { auth: { bearer_tokens_file: tokens, tls: serverTls({ client_ca_file: `${pki}/ca.crt` }) } });
  const cert = new Session(g.url, { tls: { ...trust(), ...certOf('orchestrator') } });
  assert.equal((await cert.open()).status, 200);
  await cert.request('tools/call', { name: 'ping', arguments: {} });
  assert.equal((await callersSeen()).at(-1), ID('orchestrator'));
  const token = new Session(g.url, { tls: trust(), headers: { authorization: `Bearer ${T_ORCH}` } });
  assert.equal((await token.open()).status, 200);
  await token.request('tools/call', { name: 'ping', arguments: {} });
  assert.equal((await callersSeen()).at(-1), 'bearer:orchestrator');
  const badCert = await exchange(g.url, { tls: { ...trust(), ...certOf('expired') }, headers: { authorization: `Bearer ${T_ORCH}` },
    body: { jsonrpc: '2.0', id: 1, method: 'ping' } }).catch((e) => ({ error: e }));
  assert.ok(badCert.error, 'an expired certificate fell back to the token');
  const nothing = await exchange(g.url, { tls: trust(), body: { jsonrpc: '2.0', id: 1, method: 'ping' } });
  assert.equal(nothing.status, 401);
});

test('accept_plaintext: one port serves plain-HTTP callers with tokens and TLS callers with certificates, so clients can move to mTLS in any order', async () => {
  const tokens = tokensFile('tokens-plaintext', [`orchestrator=${T_ORCH}`]);
  const g = await gate(registry, {
    auth: { mode: 'mtls-or-bearer', bearer_tokens_file: tokens, tls: serverTls({ client_ca_file: `${pki}/ca.crt`, accept_plaintext: true }) },
    policy: [{ callers: ['bearer:orchestrator', ID('orchestrator')], tools: ['*'] }]
  });
  // The log file is written by this process's pipe from the sidecar's stderr: wait for the line.
  await until(() => g.logLines().some((l) => l.event === 'plaintext_accepted' && l.level === 'warn'),
    { what: 'the plaintext_accepted startup warning' });
  const port = g.addresses.inbound.split(':')[1];
  // An orchestrator not yet moved: plain HTTP with its token, through a real outbound sidecar.
  const plain = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'plaintext-client', env: { MCP_BEARER_TOKEN: T_ORCH }, config: {
    outbound: { listen: '127.0.0.1:0', servers: [{ name: 'registry', url: `http://localhost:${port}/mcp` }] },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } } });
  cleanup.push(() => plain.stop('SIGKILL'));
  // One already moved: TLS with its certificate, no token.
  const moved = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'mtls-client', config: {
    outbound: { listen: '127.0.0.1:0', servers: [{ name: 'registry', url: `https://localhost:${port}/mcp`,
      tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` } }] },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } } });
  cleanup.push(() => moved.stop('SIGKILL'));
  for (const [client, caller] of [[plain, 'bearer:orchestrator'], [moved, ID('orchestrator')]]) {
    const r = await callTool(client, 'registry', 'get_filings', { company_number: 'GB-10001' }, { 'X-Case-Id': 'plaintext' });
    assert.equal(r.status, 200, r.body);
    assert.equal((await callersSeen()).at(-1), caller);
  }
  // Plain HTTP without a token is refused like any caller without credentials.
  const anonymous = await exchange(`http://localhost:${port}/mcp`, { body: { jsonrpc: '2.0', id: 1, method: 'ping' } });
  assert.equal(anonymous.status, 401);
  const m = await metrics(g);
  assert.ok(metricValue(m, 'mcp_sidecar_plaintext_connections_total', { listener: 'inbound' }) >= 2, 'plaintext connections not counted');
  assert.ok(metricValue(m, 'mcp_sidecar_auth_total', { method: 'mtls', outcome: 'ok' }) >= 1);
  assert.ok(metricValue(m, 'mcp_sidecar_auth_total', { method: 'bearer', outcome: 'ok' }) >= 1);
  // Strict mTLS with a plain-HTTP door makes no sense: refused at load.
  const strict = path.join(dir, 'strict-plaintext.yaml');
  fs.writeFileSync(strict, JSON.stringify({ inbound: { forward_to: registry.base, auth: { mode: 'mtls',
    tls: serverTls({ client_ca_file: `${pki}/ca.crt`, accept_plaintext: true }) } } }));
  const check = spawnSync(SIDECAR_BIN, ['--check-config', '--config', strict], { encoding: 'utf8' });
  assert.equal(check.status, 1);
  assert.match(check.stderr + check.stdout, /accept_plaintext.*bearer/);
});

test('per-tool policy: denied calls never reach the server; batches are authorized element by element; tools/list is filtered', async () => {
  const tokens = tokensFile('tokens-policy', [`orchestrator=${T_ORCH}`, `auditor=${T_AUDIT}`]);
  const g = await gate(registry, {
    auth: { bearer_tokens_file: tokens },
    policy: [{ callers: ['bearer:orchestrator'], tools: ['*'] }, { callers: ['bearer:auditor'], tools: ['get_*', 'ping'] }]
  });
  const auditor = new Session(g.url, { headers: { authorization: `Bearer ${T_AUDIT}` } });
  await auditor.open();
  const list = await auditor.request('tools/list');
  assert.deepEqual(list.answer.result.tools.map((t) => t.name).sort(), ['get_filings', 'ping']);
  const orch = new Session(g.url, { headers: { authorization: `Bearer ${T_ORCH}` } });
  await orch.open();
  const full = await orch.request('tools/list');
  assert.ok(full.answer.result.tools.some((t) => t.name === 'lookup_company'));

  const before = { ...(await registry.stats()).executions };
  const denied = await auditor.request('tools/call', { name: 'lookup_company', arguments: { company_number: 'GB-10001', case_id: 'p-1' } });
  assert.equal(denied.answer.error.code, -32003);
  assert.match(denied.answer.error.message, /lookup_company/);
  const batch = await auditor.batch([
    { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'get_filings', arguments: { company_number: 'GB-10001', case_id: 'p-2' } } },
    { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'lookup_company', arguments: { company_number: 'GB-10001', case_id: 'p-2' } } }
  ]);
  const answers = batch.json ?? batch.events.map((e) => e.json);
  const flat = [answers].flat(2).filter(Boolean);
  // The SDK (2025-11-25) may refuse batches itself; either way lookup_company never ran.
  const b = flat.find((m) => m.id === 'b');
  assert.equal(b?.error?.code, -32003, JSON.stringify(flat));
  const after = (await registry.stats()).executions;
  assert.equal(after.lookup_company ?? 0, before.lookup_company ?? 0, 'a denied call reached the server');
  await until(() => g.logLines().filter((l) => l.event === 'call_end' && l.outcome === 'rejected' && l.tool === 'lookup_company').length >= 2,
    { what: 'two rejected call_end lines' });
});

test('an incoming X-MCP-Client-Identity is replaced by the verified identity', async () => {
  const tokens = tokensFile('tokens-spoof', [`auditor=${T_AUDIT}`]);
  const g = await gate(registry, {
    auth: { bearer_tokens_file: tokens },
    policy: [{ callers: [ID('orchestrator')], tools: ['*'] }, { callers: ['bearer:auditor'], tools: ['ping'] }]
  });
  const spoof = new Session(g.url, { headers: { authorization: `Bearer ${T_AUDIT}`, 'X-MCP-Client-Identity': ID('orchestrator') } });
  await spoof.open();
  const denied = await spoof.request('tools/call', { name: 'get_filings', arguments: { company_number: 'GB-10001', case_id: 's-1' } });
  assert.equal(denied.answer.error.code, -32003, 'the spoofed identity was believed');
  await spoof.request('tools/call', { name: 'ping', arguments: {} });
  assert.equal((await callersSeen()).at(-1), 'bearer:auditor');
});

test('token rotation: a new token works as soon as the file changes, the old one until it is removed', async () => {
  const T_NEW = 'new-0123456789abcdef0123456789abcdef';
  const file = tokensFile('tokens-rotate', [`orchestrator=${T_ORCH}`]);
  const g = await gate(registry, { auth: { bearer_tokens_file: file } });
  const call = (token) => exchange(g.url, { headers: { authorization: `Bearer ${token}` },
    body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } } });
  assert.equal((await call(T_ORCH)).status, 200);
  assert.equal((await call(T_NEW)).status, 401);
  tokensFile('tokens-rotate', [`orchestrator=${T_ORCH}`, `orchestrator-next=${T_NEW}`]);
  await until(async () => (await call(T_NEW)).status === 200, { what: 'the new token to be accepted' });
  assert.equal((await call(T_ORCH)).status, 200);
  tokensFile('tokens-rotate', [`orchestrator-next=${T_NEW}`]);
  await until(async () => (await call(T_ORCH)).status === 401, { what: 'the old token to be refused' });
  assert.equal((await call(T_NEW)).status, 200);
  // A broken file keeps the tokens in use.
  tokensFile('tokens-rotate', ['this line is not a token']);
  await until(async () => metricValue(await metrics(g), 'mcp_sidecar_file_reloads_total', { file: 'tokens', outcome: 'error' }) >= 1,
    { what: 'the bad file to be refused' });
  assert.equal((await call(T_NEW)).status, 200);
});

test('certificate rotation under load: the Secret symlink swaps, new connections get the new certificate, no call fails', async () => {
  // A Kubernetes Secret volume: files are symlinks through ..data, swapped atomically.
  const secret = path.join(dir, 'secret');
  const v1 = path.join(secret, 'v1');
  const v2 = path.join(secret, 'v2');
  fs.mkdirSync(v1, { recursive: true });
  fs.copyFileSync(`${pki}/registry.crt`, `${v1}/tls.crt`);
  fs.copyFileSync(`${pki}/registry.key`, `${v1}/tls.key`);
  fs.symlinkSync('v1', path.join(secret, '..data'));
  fs.symlinkSync('..data/tls.crt', path.join(secret, 'tls.crt'));
  fs.symlinkSync('..data/tls.key', path.join(secret, 'tls.key'));
  // The next certificate: same identity, another serial, signed by the same CA.
  const next = path.join(dir, 'pki-next');
  fs.cpSync(pki, next, { recursive: true });
  for (const f of ['registry.crt', 'registry.key']) fs.rmSync(path.join(next, f));
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [next], { stdio: 'ignore' });
  fs.mkdirSync(v2);
  fs.copyFileSync(`${next}/registry.crt`, `${v2}/tls.crt`);
  fs.copyFileSync(`${next}/registry.key`, `${v2}/tls.key`);
  const serialOf = (pem) => new crypto.X509Certificate(pem).serialNumber;
  const crypto = await import('node:crypto');

  const g = await gate(registry, { auth: { tls: { cert_file: path.join(secret, 'tls.crt'), key_file: path.join(secret, 'tls.key') } } });
  const out = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'rotation-client', config: {
    outbound: { listen: '127.0.0.1:0', servers: [{ name: 'registry', url: g.url, tls: { ca_file: `${pki}/ca.crt` } }],
      upstream: { idle_timeout_seconds: 0.2 } },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } } });
  cleanup.push(() => out.stop('SIGKILL'));
  const peerSerial = () => new Promise((resolve, reject) => {
    const u = new URL(g.base);
    const sock = tls.connect({ host: '127.0.0.1', port: Number(u.port), ...trust() }, () => {
      resolve(sock.getPeerCertificate().serialNumber);
      sock.end();
    });
    sock.on('error', reject);
  });
  assert.equal(await peerSerial(), serialOf(fs.readFileSync(`${v1}/tls.crt`)));

  let stop = false;
  let ok = 0;
  const failures = [];
  const load = async () => {
    while (!stop) {
      const r = await callTool(out, 'registry', 'ping').catch((e) => ({ status: 0, body: e.message }));
      if (r.status === 200) ok++;
      else failures.push(r.body);
    }
  };
  const workers = [load(), load(), load()];
  await until(async () => ok > 20, { what: 'load before the rotation' });
  fs.symlinkSync('v2', path.join(secret, '..data.tmp'));
  fs.renameSync(path.join(secret, '..data.tmp'), path.join(secret, '..data'));
  await until(async () => (await peerSerial()) === serialOf(fs.readFileSync(`${v2}/tls.crt`)), { what: 'the new certificate on new connections' });
  const atRotation = ok;
  await until(async () => ok > atRotation + 20, { what: 'load after the rotation' });
  stop = true;
  await Promise.all(workers);
  assert.deepEqual(failures, []);
  assert.equal(metricValue(await metrics(g), 'mcp_sidecar_file_reloads_total', { file: 'inbound', outcome: 'ok' }), 1);
  console.log(`certificate rotation under load: ${ok} calls, 0 failed`);
});

test('the upgrade bearer -> mtls-or-bearer -> mtls, by config reloads, with calls flowing throughout', async () => {
  const tokens = tokensFile('tokens-steps', [`orchestrator=${T_ORCH}`]);
  const configFile = path.join(dir, 'upgrade.yaml');
  const base = {
    inbound: {
      name: 'registry', listen: '127.0.0.1:0', forward_to: registry.base,
      auth: { mode: 'bearer', bearer_tokens_file: tokens, tls: serverTls() },
      policy: [{ callers: ['bearer:orchestrator', ID('orchestrator')], tools: ['*'] }]
    },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 }, reload: { interval_seconds: 0.1 }
  };
  fs.writeFileSync(configFile, JSON.stringify(base));
  const g = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'upgrade-gate', config: base, expectRoles: ['inbound', 'admin'] });
  cleanup.push(() => g.stop('SIGKILL'));
  // startSidecar wrote its own copy: reload that one.
  const live = g.configFile;
  const address = g.addresses.inbound;
  const out = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'upgrade-client', env: { MCP_BEARER_TOKEN: T_ORCH }, config: {
    outbound: { listen: '127.0.0.1:0', servers: [{ name: 'registry', url: `https://${address.replace('127.0.0.1', 'localhost')}/mcp`,
      tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` } }] },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } } });
  cleanup.push(() => out.stop('SIGKILL'));

  let stop = false;
  let ok = 0;
  const failures = [];
  const load = async () => {
    while (!stop) {
      const r = await callTool(out, 'registry', 'get_filings', { company_number: 'GB-10001' }, { 'X-Case-Id': 'upgrade' })
        .catch((e) => ({ status: 0, body: e.message }));
      if (r.status === 200 && !r.json.isError) ok++;
      else failures.push(`${r.status} ${r.body}`);
    }
  };
  const workers = [load(), load()];
  const auth = async (method) => metricValue(await metrics(g), 'mcp_sidecar_auth_total', { method, outcome: 'ok' }) ?? 0;
  const step = async (mode, extraTls) => {
    const next = structuredClone(base);
    next.inbound.auth.mode = mode;
    Object.assign(next.inbound.auth.tls, extraTls);
    fs.writeFileSync(`${live}.tmp`, JSON.stringify(next));
    fs.renameSync(`${live}.tmp`, live);
    await until(() => g.logLines().some((l) => l.event === 'auth_mode_changed' && l.to === mode), { what: `mode ${mode}` });
  };

  await until(async () => (await auth('bearer')) > 10, { what: 'bearer calls' });
  await step('mtls-or-bearer', { client_ca_file: `${pki}/ca.crt` });
  const mtlsBefore = await auth('mtls');
  await until(async () => (await auth('mtls')) > mtlsBefore + 10, { what: 'callers moving to mTLS' });
  await step('mtls', { client_ca_file: `${pki}/ca.crt` });
  const bearerAtMtls = await auth('bearer');
  const mtlsAtMtls = await auth('mtls');
  await until(async () => (await auth('mtls')) > mtlsAtMtls + 10, { what: 'calls under strict mTLS' });
  stop = true;
  await Promise.all(workers);
  assert.deepEqual(failures, [], 'calls failed during the upgrade');
  assert.equal(await auth('bearer'), bearerAtMtls, 'bearer was still accepted under mtls');
  assert.equal((await callersSeen()).at(-1), ID('orchestrator'));
  console.log(`upgrade bearer -> mtls-or-bearer -> mtls: ${ok} calls, 0 failed`);
});

test('streams are not buffered: events 200 ms apart upstream arrive 200 ms apart through the gate', async () => {
  const g = await gate(registry, {});
  for (const [label, url] of [['direct', registry.url], ['gate', g.url]]) {
    const s = new Session(url);
    await s.open();
    const { r, answer } = await s.request('tools/call', { name: 'progress', arguments: { steps: 5, interval_ms: 200 }, _meta: { progressToken: 'p' } });
    assert.deepEqual(answer.result.structuredContent, { steps: 5 });
    const progress = r.events.filter((e) => e.json?.method === 'notifications/progress').map((e) => e.at);
    assert.equal(progress.length, 5, label);
    const gaps = progress.slice(1).map((t, i) => t - progress[i]);
    for (const gap of gaps) assert.ok(gap > 120 && gap < 320, `${label}: gaps ${gaps.map(Math.round)}`);
    const last = r.events.at(-1).at;
    assert.ok(last - progress[0] > 700, `${label}: the first event arrived only with the last`);
    console.log(`${label}: progress gaps ${gaps.map(Math.round).join(', ')} ms`);
  }
});

test('a legacy HTTP+SSE server behind the gate: GET /sse streams through, POST /messages is authorized, tools/list filtered', async () => {
  const pep = await startServer('pep', { dir: fs.mkdtempSync(`${dir}/legacy-`), transport: 'sse' });
  cleanup.push(() => pep.stop());
  const tokens = tokensFile('tokens-legacy', [`auditor=${T_AUDIT}`]);
  const g = await gate(pep, { auth: { bearer_tokens_file: tokens }, policy: [{ callers: ['bearer:auditor'], tools: ['ping', 'check_pep'] }] });
  const auth = { authorization: `Bearer ${T_AUDIT}` };
  const u = new URL(g.base);
  const events = [];
  let endpoint;
  const stream = await new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/sse', headers: { ...auth, accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        const parts = buf.split('\n\n');
        buf = parts.pop();
        for (const p of parts) for (const ev of parseSse(p + '\n\n')) {
          if (ev.event === 'endpoint') endpoint = ev.data;
          else events.push(JSON.parse(ev.data));
        }
      });
      resolve({ req, res });
    });
    req.on('error', reject);
    req.end();
  });
  cleanup.push(() => stream.req.destroy());
  await until(() => endpoint, { what: 'the endpoint event' });
  const post = (body) => exchange(`${g.base}${endpoint}`, { headers: auth, body });
  const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } } });
  assert.equal(init.status, 202);
  await until(() => events.some((e) => e.id === 1), { what: 'the initialize answer on the stream' });
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal((await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' })).status, 202);
  await until(() => events.some((e) => e.id === 2), { what: 'the tools/list answer' });
  assert.deepEqual(events.find((e) => e.id === 2).result.tools.map((t) => t.name).sort(), ['check_pep', 'ping']);
  assert.equal((await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'check_pep', arguments: { name: 'X', case_id: 'legacy-1' } } })).status, 202);
  await until(() => events.some((e) => e.id === 3), { what: 'the tools/call answer' });
  const denied = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'list_sources', arguments: {} } });
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error.code, -32003);
  assert.equal((await pep.stats()).executions.list_sources ?? 0, 0);
  await until(() => g.logLines().some((l) => l.event === 'call_end' && l.tool === 'check_pep' && l.case_id === 'legacy-1' && l.outcome === 'ok'),
    { what: 'the call_end line of check_pep' });
});

test('readiness includes "the local server accepts connections"', async () => {
  const probe = await startServer('risk', { dir: fs.mkdtempSync(`${dir}/ready-`) });
  const port = probe.port;
  await probe.stop();
  const g = await gate({ role: 'risk', base: `http://127.0.0.1:${port}` }, { readiness_interval_seconds: 0.1 });
  const ready = await request(`${g.admin}/readyz`);
  assert.equal(ready.status, 503);
  assert.ok(ready.json.failing.local_server);
  const back = await startServer('risk', { dir: fs.mkdtempSync(`${dir}/ready-`), port });
  cleanup.push(() => back.stop());
  await until(async () => (await request(`${g.admin}/readyz`)).status === 200, { what: 'ready once the server listens' });
});

test('TLS policy: 1.3 by default, 1.2 only with AEAD ciphers, 1.1 and legacy ciphers refused', async (t) => {
  const g = await gate(registry, { auth: { tls: serverTls() } });
  const port = new URL(g.base).port;
  const sclient = (...args) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
    '-CAfile', `${pki}/ca.crt`, ...args], { input: '', encoding: 'utf8', timeout: 10000 });
  const v13 = sclient('-brief');
  assert.match(v13.stdout + v13.stderr, /Protocol version: TLSv1\.3/);
  const v12 = sclient('-brief', '-tls1_2');
  assert.match(v12.stdout + v12.stderr, /Protocol version: TLSv1\.2/);
  assert.match(v12.stdout + v12.stderr, /Ciphersuite: ECDHE-[A-Z]+-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
  const weak = sclient('-tls1_2', '-cipher', 'AES128-SHA:DES-CBC3-SHA:RC4-SHA');
  assert.notEqual(weak.status, 0, 'a legacy cipher was accepted');
  const old = sclient('-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0');
  assert.notEqual(old.status, 0, 'TLS 1.1 was accepted');
});

test('upstream TLS: the expected identity is checked; sessions are resumed across connections', async () => {
  const g = await gate(registry, { auth: { mode: 'mtls', tls: serverTls({ client_ca_file: `${pki}/ca.crt` }) } });
  const client = async (name, expect) => {
    const out = await startSidecar({ bin: SIDECAR_BIN, dir, name, config: {
      outbound: { listen: '127.0.0.1:0', retry: { max_attempts: 1, base_delay_ms: 1, max_delay_ms: 1 }, heartbeat_interval_seconds: 0,
        upstream: { idle_timeout_seconds: 0.05 },
        servers: [{ name: 'registry', url: g.url, tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`,
          key_file: `${pki}/orchestrator.key`, expect_identity: expect } }] },
      admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 } } });
    cleanup.push(() => out.stop('SIGKILL'));
    return out;
  };
  const wrong = await client('expect-wrong', ID('sanctions'));
  const r = await callTool(wrong, 'registry', 'ping');
  assert.equal(r.status, 503);
  assert.match(r.json.error.message, /expected identity/);

  const right = await client('expect-right', ID('registry'));
  const gateConnections = async () => metricValue(await metrics(g), 'mcp_sidecar_connections', { listener: 'inbound' });
  for (let i = 0; i < 6; i++) {
    assert.equal((await callTool(right, 'registry', 'ping')).status, 200);
    // The client drops idle connections after 50 ms: the next call needs a new one.
    await until(async () => (await gateConnections()) === 0, { what: 'the idle connections to close' });
  }
  const m = await metrics(right);
  const full = metricValue(m, 'mcp_sidecar_upstream_connections_total', { server: 'registry', outcome: 'tls' }) ?? 0;
  const resumed = metricValue(m, 'mcp_sidecar_upstream_connections_total', { server: 'registry', outcome: 'tls_resumed' }) ?? 0;
  console.log(`upstream TLS: ${full} full handshakes, ${resumed} resumed`);
  assert.ok(resumed >= 3, `${resumed} resumed of ${full + resumed}`);
  assert.ok(metricValue(await metrics(g), 'mcp_sidecar_tls_handshakes_total', { outcome: 'resumed' }) >= 3);
});

test('config reload: the policy changes live, log_arguments show only named arguments, a bad file keeps the old config, other changes are reported', async () => {
  const tokens = tokensFile('tokens-reload', [`auditor=${T_AUDIT}`]);
  const g = await gate(registry, {
    auth: { bearer_tokens_file: tokens }, log_arguments: ['company_number'],
    policy: [{ callers: ['bearer:auditor'], tools: ['ping'] }]
  });
  const s = new Session(g.url, { headers: { authorization: `Bearer ${T_AUDIT}` } });
  await s.open();
  const args = { company_number: 'GB-10001', case_id: 'reload-1' };
  assert.equal((await s.request('tools/call', { name: 'get_filings', arguments: args })).answer.error.code, -32003);
  const config = JSON.parse(fs.readFileSync(g.configFile, 'utf8'));
  config.inbound.policy = [{ callers: ['bearer:auditor'], tools: ['ping', 'get_*'] }];
  fs.writeFileSync(`${g.configFile}.tmp`, JSON.stringify(config));
  fs.renameSync(`${g.configFile}.tmp`, g.configFile);
  await until(async () => (await s.request('tools/call', { name: 'get_filings', arguments: args })).answer.result,
    { what: 'the new policy to apply' });
  const start = g.logLines().find((l) => l.event === 'call_start' && l.tool === 'get_filings' && l.case_id === 'reload-1');
  assert.deepEqual(start.arguments, { company_number: 'GB-10001' });

  fs.writeFileSync(`${g.configFile}.tmp`, 'inbound: [this is not: valid');
  fs.renameSync(`${g.configFile}.tmp`, g.configFile);
  await until(async () => metricValue(await metrics(g), 'mcp_sidecar_config_reloads_total', { outcome: 'error' }) >= 1,
    { what: 'the bad file to be counted' });
  assert.ok((await s.request('tools/call', { name: 'get_filings', arguments: args })).answer.result, 'the old config was lost');

  config.inbound.listen = '127.0.0.1:1';
  fs.writeFileSync(`${g.configFile}.tmp`, JSON.stringify(config));
  fs.renameSync(`${g.configFile}.tmp`, g.configFile);
  await until(() => g.logLines().some((l) => l.event === 'config_restart_required' && l.changed.includes('/inbound/listen')),
    { what: 'the restart to be reported' });
});

test('a client that leaves is seen at once: the server gets the close (an HTTP+SSE stream ends its session, a 2026-07-28 call is cancelled)', async () => {
  // The gate's stream_idle_timeout (300 s) and the tool's 60 s are far beyond these waits: only
  // the gate passing the close on explains them.
  const pep = await startServer('pep', { dir: fs.mkdtempSync(`${dir}/leave-sse-`), transport: 'sse' });
  cleanup.push(() => pep.stop());
  const g = await gate(pep, {});
  const stream = await new Promise((resolve, reject) => {
    const u = new URL(g.base);
    const req = http.request({ host: u.hostname, port: u.port, path: '/sse', headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => chunk.includes('event: endpoint') && resolve(req));
    });
    req.on('error', reject);
    req.end();
  });
  await until(async () => (await pep.stats()).sessions_opened === 1, { what: 'the stream to open a session' });
  stream.destroy();
  await until(async () => (await pep.stats()).sessions_stream_closed === 1, { timeoutMs: 3000, what: 'the server to see the stream closed' });

  const modern = await startServer('registry', { dir: fs.mkdtempSync(`${dir}/leave-modern-`), transport: 'stateless', testTools: true });
  cleanup.push(() => modern.stop());
  const g2 = await gate(modern, {});
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'inbound-test', version: '1' }
  };
  const abort = new AbortController();
  const call = fetch(g2.url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'sleep'
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 60000, case_id: 'leave-1' }, _meta: meta } })
  }).catch((e) => e);
  await until(async () => (await modern.stats()).inflight === 1, { what: 'the tool to start' });
  abort.abort();
  await call;
  await until(async () => (await modern.stats()).inflight === 0, { timeoutMs: 3000, what: 'the server to cancel the tool' });
  await until(() => g2.logLines().some((l) => l.event === 'call_end' && l.outcome === 'cancelled' && l.case_id === 'leave-1'),
    { what: 'the gate to log the call as cancelled' });
});

test('cacheScope private: a tool list is not reused once the sidecar presents another certificate; public lists are', async () => {
  // Two 2026-07-28 servers behind mTLS gates: registry scopes its tool list `private`, sanctions
  // `public`; both cache it for 10 minutes, so only the credentials can make the sidecar fetch again.
  const priv = await startServer('registry', { dir: fs.mkdtempSync(`${dir}/scope-private-`), transport: 'stateless',
    env: { KYC_CACHE_SCOPE: 'private', KYC_CACHE_TTL_MS: '600000' } });
  const pub = await startServer('sanctions', { dir: fs.mkdtempSync(`${dir}/scope-public-`), transport: 'stateless',
    env: { KYC_CACHE_SCOPE: 'public', KYC_CACHE_TTL_MS: '600000' } });
  cleanup.push(() => priv.stop(), () => pub.stop());
  const gated = async (s) => gate(s, { auth: { mode: 'mtls', tls: {
    cert_file: `${pki}/${s.role}.crt`, key_file: `${pki}/${s.role}.key`, client_ca_file: `${pki}/ca.crt` } } });
  const [gPriv, gPub] = [await gated(priv), await gated(pub)];
  // The client certificate the sidecar presents, as a Secret mount would hold it.
  const certDir = fs.mkdtempSync(`${dir}/client-cert-`);
  const install = (name) => {
    for (const ext of ['crt', 'key']) {
      fs.copyFileSync(`${pki}/${name}.${ext}`, `${certDir}/tls.${ext}.tmp`);
      fs.renameSync(`${certDir}/tls.${ext}.tmp`, `${certDir}/tls.${ext}`);
    }
  };
  install('orchestrator');
  const tlsTo = { ca_file: `${pki}/ca.crt`, cert_file: `${certDir}/tls.crt`, key_file: `${certDir}/tls.key` };
  const sc = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'scope', config: {
    outbound: { listen: '127.0.0.1:0', heartbeat_interval_seconds: 0, servers: [
      { name: 'registry', url: gPriv.url, tls: tlsTo }, { name: 'sanctions', url: gPub.url, tls: tlsTo }] },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0 }, reload: { interval_seconds: 0.1 } } });
  cleanup.push(() => sc.stop('SIGKILL'));
  const lists = async () => [(await priv.stats()).methods['tools/list'], (await pub.stats()).methods['tools/list']];
  for (let i = 0; i < 2; i++) {
    assert.equal((await callTool(sc, 'registry', 'ping')).status, 200);
    assert.equal((await callTool(sc, 'sanctions', 'ping')).status, 200);
  }
  assert.deepEqual(await lists(), [1, 1]);

  install('auditor');  // the same CA, another identity
  const reloaded = async () =>
    (metricValue(await metrics(sc), 'mcp_sidecar_file_reloads_total', { file: 'upstream:registry', outcome: 'ok' }) ?? 0) >= 1 &&
    (metricValue(await metrics(sc), 'mcp_sidecar_file_reloads_total', { file: 'upstream:sanctions', outcome: 'ok' }) ?? 0) >= 1;
  await until(reloaded, { what: 'the sidecar to load the new client certificate' });
  assert.equal((await callTool(sc, 'registry', 'ping')).status, 200);
  assert.equal((await callTool(sc, 'sanctions', 'ping')).status, 200);
  assert.deepEqual(await lists(), [2, 1], 'private list fetched again under the new identity; public list reused');
  assert.equal(priv.logLines().filter((l) => l.event === 'tool_call').at(-1).caller, ID('auditor'));
});

test('2026-07-28 header rules at the gate: Mcp-Method and Mcp-Name must agree with the body, so a header naming an allowed tool cannot smuggle a forbidden call', async () => {
  const modern = await startServer('registry', { dir: fs.mkdtempSync(`${dir}/smuggle-`), transport: 'stateless', testTools: true });
  cleanup.push(() => modern.stop());
  const tokens = tokensFile('tokens-smuggle', [`auditor=${T_AUDIT}`]);
  const g = await gate(modern, { auth: { bearer_tokens_file: tokens }, policy: [{ callers: ['bearer:auditor'], tools: ['ping'] }] });
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
  const post = (name, headers) => request(g.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${T_AUDIT}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call',
      params: { name, arguments: { company_number: 'GB-10001', case_id: 'smuggle-1' }, _meta: meta } })
  });
  const executed = async () => (await modern.stats()).executions.lookup_company ?? 0;

  const smuggled = await post('lookup_company', { 'mcp-name': 'ping' });
  assert.equal(smuggled.status, 400, smuggled.body);
  assert.equal(smuggled.json.error.code, -32020);
  const unnamed = await post('lookup_company', {});
  assert.equal(unnamed.status, 400);
  assert.equal(unnamed.json.error.code, -32020);
  const denied = await post('lookup_company', { 'mcp-name': 'lookup_company' });
  assert.equal(denied.status, 200);
  assert.equal(denied.json.error.code, -32003);
  assert.equal(await executed(), 0, 'the forbidden tool ran');

  const allowed = await request(g.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${T_AUDIT}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'ping' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'ping', arguments: {}, _meta: meta } })
  });
  assert.equal(allowed.status, 200, allowed.body);
  assert.deepEqual(allowed.json.result.structuredContent, { ok: true });
  assert.equal(metricValue(await metrics(g), 'mcp_sidecar_http_rejections_total', { listener: 'inbound', reason: 'header_mismatch' }), 2);
  // The v2 SDK answers with a chunked JSON body: the gate still sees the answer and ends the call.
  await until(() => g.logLines().some((l) => l.event === 'call_end' && l.tool === 'ping' && l.outcome === 'ok'),
    { what: 'the call_end line of the allowed call' });
  assert.equal(metricValue(await metrics(g), 'mcp_sidecar_calls_total',
    { direction: 'inbound', server: 'registry', method: 'tools/call', tool: 'other', outcome: 'ok' }), 1);
});
