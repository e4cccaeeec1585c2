// Upstreams of every MCP revision, against real KYC servers: stateless 2026-07-28 (v2 SDK),
// Streamable HTTP with sessions (2025-era, v1 SDK) and legacy HTTP+SSE (2024-11-05). Each
// transport set explicitly and found by `transport: auto`, a server that changes revision on
// restart, Mcp-Param headers, input_required through the REST API, the tools/list cache and its
// ttlMs, heartbeats per era, a legacy server killed and restarted, and forced mismatches.
// Every assertion about the wire is made on what the server itself saw (/_test/stats).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import {
  SIDECAR_BIN, callTool, freePort, metricValue, metrics, request, sidecarConfig, startServer, startSidecar, until, waitForExit
} from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-eras-');
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const FAST = {
  call_timeout_seconds: 5,
  connect_timeout_seconds: 1,
  session_open_timeout_seconds: 2,
  retry: { max_attempts: 3, base_delay_ms: 50, max_delay_ms: 400 },
  heartbeat_interval_seconds: 0
};
const MODERN = '2026-07-28';
const ENVELOPE = ['io.modelcontextprotocol/protocolVersion', 'io.modelcontextprotocol/clientInfo',
  'io.modelcontextprotocol/clientCapabilities'];
const ERAS = ['stateless', 'streamable-http', 'sse'];
// What a tool call returns per KYC role (fixtures.mjs), and the arguments that produce it.
const CALLS = {
  registry: ['lookup_company', { company_number: 'GB-10001' }, (sc) => assert.equal(sc.legal_name, 'Albion Widget Works Ltd')],
  sanctions: ['screen_entity', { name: 'Oranjekade Maritime Trading BV', entity_type: 'company' },
    (sc) => assert.deepEqual(sc, { sanctions_clear: false, matches: [{ list: 'EU-CFSP-FICTIONAL', score: 0.97 }] })],
  pep: ['check_pep', { name: 'Harriet Mole' }, (sc) => assert.deepEqual(sc, { is_pep: false, pep_role: null })],
  risk: ['ping', {}, (sc) => assert.deepEqual(sc, { ok: true })]
};

// A KYC server of one revision: 'stateless' (dual-era unless env KYC_STATELESS_ONLY=1),
// 'streamable-http' or 'sse'.
async function server(role, transport, options = {}) {
  const s = await startServer(role, { dir: fs.mkdtempSync(`${dir}/${role}-`), testTools: true, transport, ...options });
  s.transport = transport;
  cleanup.push(() => s.stop('SIGKILL'));
  return s;
}

// The sidecar config entry for `s`, with `transport` unless it is left to the default (auto).
const upstream = (s, transport) => ({ name: s.role, url: s.url, ...(transport ? { transport } : {}) });

let sidecars = 0;
async function sidecar(upstreams, outbound = {}, name = `sidecar-${++sidecars}`) {
  const config = sidecarConfig([], { ...FAST, ...outbound });
  config.outbound.servers = upstreams;
  const sc = await startSidecar({ bin: SIDECAR_BIN, dir, name, config });
  cleanup.push(() => sc.stop('SIGKILL'));
  return sc;
}

async function kill(s) {
  s.proc.kill('SIGKILL');
  await waitForExit(s.proc, 5000);
}

async function kycCall(sc, role, caseId = `eras-${role}`) {
  const [tool, args, check] = CALLS[role];
  const r = await callTool(sc, role, tool, args, { 'X-Case-Id': caseId });
  assert.equal(r.status, 200, r.body);
  assert.notEqual(r.json.isError, true, r.body);
  check(r.json.structuredContent);
  return r;
}

async function untilCallSucceeds(sc, role, timeoutMs = 15000) {
  const [tool, args] = CALLS[role];
  const t0 = Date.now();
  let last;
  try {
    await until(async () => {
      last = await callTool(sc, role, tool, args, { 'X-Case-Id': 'recovery' });
      return last.status === 200 && last.json.isError !== true;
    }, { timeoutMs, intervalMs: 50, what: `${role}/${tool} to succeed` });
  } catch (e) {
    e.message += `; the last answer: ${last?.status} ${last?.body}`;
    throw e;
  }
  return Date.now() - t0;
}

const pool = async (sc, name) => (await request(`${sc.admin}/debug/pools`)).json.servers.find((p) => p.server === name);
const readySessions = async (sc, name) => (await pool(sc, name)).sessions.filter((s) => s.state === 'ready').length;

function eraGauges(m, name) {
  return Object.fromEntries(ERAS.map((era) => [era, metricValue(m, 'mcp_sidecar_upstream_era', { server: name, era })]));
}

// The sum of every sample of `name` whose labels include `labels`.
function metricSum(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = line.match(/^([^{ ]+)(?:\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

function detections(m, name) {
  return Object.fromEntries(ERAS.map((era) => [era, metricValue(m, 'mcp_sidecar_era_detections_total', { server: name, era }) ?? 0]));
}

// ---------------------------------------------------------------------------------------------
// 1. Each transport set explicitly, against a server of that revision.
// ---------------------------------------------------------------------------------------------

test('transport: stateless speaks 2026-07-28: server/discover, never initialize; _meta envelope and Mcp-* headers on every request', async () => {
  const registry = await server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } });
  const sc = await sidecar([upstream(registry, 'stateless')]);
  const tools = await request(`${sc.outbound}/v1/servers/registry/tools`);
  assert.equal(tools.status, 200, tools.body);
  assert.ok(tools.json.tools.some((t) => t.name === 'lookup_company'));
  await kycCall(sc, 'registry', 'eras-stateless-1');

  const st = await registry.stats();
  assert.ok(st.methods['server/discover'] >= 1, JSON.stringify(st.methods));
  assert.equal(st.methods.initialize, undefined, 'a stateless upstream got initialize');
  assert.equal(st.methods['notifications/initialized'], undefined);
  assert.equal(st.methods.ping, undefined);
  assert.equal(st.eras.legacy, undefined, 'a request was served as 2025-era');
  assert.deepEqual(st.last_headers, {
    'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'lookup_company'
  });
  for (const key of ENVELOPE) assert.ok(st.meta_seen.includes(key), `_meta lacks ${key}: ${st.meta_seen}`);
  assert.ok(st.meta_seen.includes('io.mcp-sidecar/case_id'));
  assert.deepEqual(st.executions, { lookup_company: 1 });

  const p = await pool(sc, 'registry');
  assert.equal(p.transport, 'stateless');
  assert.equal(p.era, 'stateless');
  assert.deepEqual(eraGauges(await metrics(sc), 'registry'), { stateless: 1, 'streamable-http': 0, sse: 0 });
  assert.equal(await sc.stop(), 0);
  const end = await registry.stats();
  assert.equal(end.methods.initialize, undefined);
  assert.equal(end.sessions_deleted, 0);
});

test('transport: sse speaks 2024-11-05 HTTP+SSE: a GET event stream per session, answers on the stream', async () => {
  const sanctions = await server('sanctions', 'sse');
  assert.match(sanctions.url, /\/sse$/);
  const sc = await sidecar([upstream(sanctions, 'sse')], { pool_size: 2 });
  const tools = await request(`${sc.outbound}/v1/servers/sanctions/tools`);
  assert.equal(tools.status, 200, tools.body);
  assert.ok(tools.json.tools.some((t) => t.name === 'screen_entity'));
  await kycCall(sc, 'sanctions');
  await until(async () => (await readySessions(sc, 'sanctions')) === 2, { what: 'two ready sse sessions' });

  const st = await sanctions.stats();
  // The legacy server counts a session per GET /sse stream, and keeps it while the stream is open.
  assert.equal(st.sessions_opened, 2);
  assert.equal(st.active_sessions, 2);
  assert.equal(st.methods.initialize, 2);
  assert.equal(st.methods['server/discover'], undefined);
  assert.equal(st.methods['tools/call'], 1);
  assert.deepEqual(st.executions, { screen_entity: 1 });
  const opened = sanctions.logLines().filter((l) => l.event === 'session_opened');
  assert.ok(opened.length === 2 && opened.every((l) => l.transport === 'sse'), JSON.stringify(opened));
  const p = await pool(sc, 'sanctions');
  assert.equal(p.transport, 'sse');
  assert.equal(p.era, 'sse');
  assert.deepEqual(eraGauges(await metrics(sc), 'sanctions'), { stateless: 0, 'streamable-http': 0, sse: 1 });

  // Closing a legacy session is closing its stream.
  assert.equal(await sc.stop(), 0);
  await until(async () => (await sanctions.stats()).active_sessions === 0, { what: 'the streams to close' });
  const closed = sanctions.logLines().filter((l) => l.event === 'session_closed');
  assert.deepEqual(closed.map((l) => l.reason), ['stream_closed', 'stream_closed']);
});

test('transport: streamable-http speaks the session revisions: initialize, Mcp-Session-Id, DELETE at the end', async () => {
  const pep = await server('pep', 'streamable-http');
  const sc = await sidecar([upstream(pep, 'streamable-http')], { pool_size: 2 });
  const tools = await request(`${sc.outbound}/v1/servers/pep/tools`);
  assert.equal(tools.status, 200, tools.body);
  assert.ok(tools.json.tools.some((t) => t.name === 'check_pep'));
  await kycCall(sc, 'pep');
  await until(async () => (await readySessions(sc, 'pep')) === 2, { what: 'two ready sessions' });
  const st = await pep.stats();
  assert.equal(st.methods.initialize, 2);
  assert.equal(st.methods['notifications/initialized'], 2);
  assert.equal(st.methods['server/discover'], undefined);
  assert.equal(st.active_sessions, 2);
  assert.equal(st.last_headers['mcp-protocol-version'], '2025-11-25');
  assert.equal(st.last_headers['mcp-method'], undefined, 'a 2026-07-28 header on a session revision');
  assert.ok(!(st.meta_seen ?? []).includes(ENVELOPE[0]), 'a 2026-07-28 envelope on a session revision');
  const p = await pool(sc, 'pep');
  assert.equal(p.transport, 'streamable-http');
  assert.equal(p.era, 'streamable-http');
  assert.deepEqual(eraGauges(await metrics(sc), 'pep'), { stateless: 0, 'streamable-http': 1, sse: 0 });
  assert.equal(await sc.stop(), 0);
  assert.equal((await pep.stats()).sessions_deleted, 2);
});

// ---------------------------------------------------------------------------------------------
// 2. transport: auto finds each revision, once per server.
// ---------------------------------------------------------------------------------------------

test('transport: auto detects every revision, and concludes once per server while a pool of 2 fills', async () => {
  const servers = await Promise.all([
    server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } }),  // modern only
    server('sanctions', 'stateless'),  // dual-era: answers initialize too, but 2026-07-28 comes first
    server('pep', 'streamable-http'),
    server('risk', 'sse')
  ]);
  const expected = { registry: 'stateless', sanctions: 'stateless', pep: 'streamable-http', risk: 'sse' };
  const sc = await sidecar(servers.map((s) => upstream(s)), { pool_size: 2 });
  let m = await metrics(sc);
  for (const s of servers) {
    assert.deepEqual(eraGauges(m, s.role), { stateless: 0, 'streamable-http': 0, sse: 0 }, `${s.role} has an era before any call`);
    assert.equal((await pool(sc, s.role)).era, undefined);
  }
  for (const s of servers) await kycCall(sc, s.role, `auto-${s.role}`);
  await until(async () => {
    for (const s of servers) if ((await readySessions(sc, s.role)) !== 2) return false;
    return true;
  }, { what: 'every pool full' });

  m = await metrics(sc);
  for (const s of servers) {
    const era = expected[s.role];
    const p = await pool(sc, s.role);
    assert.equal(p.transport, 'auto');
    assert.equal(p.era, era, `${s.role}: /debug/pools era`);
    const gauges = eraGauges(m, s.role);
    assert.deepEqual(gauges, Object.fromEntries(ERAS.map((e) => [e, e === era ? 1 : 0])), `${s.role}: era gauge`);
    assert.deepEqual(detections(m, s.role), Object.fromEntries(ERAS.map((e) => [e, e === era ? 1 : 0])), `${s.role}: detections`);
  }
  const detected = sc.logLines().filter((l) => l.event === 'upstream_era_detected');
  assert.deepEqual(Object.fromEntries(detected.map((l) => [l.server, l.era])), expected);
  assert.equal(detected.length, 4, JSON.stringify(detected));
  assert.deepEqual(sc.logLines().filter((l) => l.event === 'upstream_era_changed'), []);

  // The wire, as each server saw it.
  const [registry, sanctions, pep, risk] = await Promise.all(servers.map((s) => s.stats()));
  assert.equal(registry.methods.initialize, undefined);
  assert.equal(sanctions.methods.initialize, undefined, 'the dual-era server was spoken to as 2025-era');
  assert.equal(sanctions.last_headers['mcp-protocol-version'], MODERN);
  assert.equal(pep.methods.initialize, 2);
  // The probe each session of the first fill sends (the server counts it, then refuses it).
  assert.ok((pep.methods['server/discover'] ?? 0) <= 2, JSON.stringify(pep.methods));
  assert.equal(risk.methods.initialize, 2);
  assert.equal(risk.sessions_opened, 2);
  assert.equal(await sc.stop(), 0);
});

// ---------------------------------------------------------------------------------------------
// 3. A server that comes back as another revision.
// ---------------------------------------------------------------------------------------------

test('a server restarted as 2026-07-28 stateless-only: auto notices, detects again, and calls succeed', async () => {
  const port = await freePort();
  const old = await server('registry', 'streamable-http', { port });
  // No heartbeat: the calls alone must find out (a heartbeat could evict the sessions while the
  // port is closed, before the new server is up, and hide what the calls do).
  const sc = await sidecar([upstream(old)], { pool_size: 2 });
  await kycCall(sc, 'registry', 'switch-1');
  await until(async () => (await readySessions(sc, 'registry')) === 2, { what: 'two ready sessions' });
  let m = await metrics(sc);
  assert.deepEqual(eraGauges(m, 'registry'), { stateless: 0, 'streamable-http': 1, sse: 0 });
  assert.deepEqual(detections(m, 'registry'), { stateless: 0, 'streamable-http': 1, sse: 0 });

  await kill(old);
  const modern = await server('registry', 'stateless', { port, env: { KYC_STATELESS_ONLY: '1' } });
  const recovery = await untilCallSucceeds(sc, 'registry', 8000);
  console.log(`streamable-http -> stateless: first success ${recovery} ms after the restart`);

  m = await metrics(sc);
  assert.deepEqual(eraGauges(m, 'registry'), { stateless: 1, 'streamable-http': 0, sse: 0 });
  assert.deepEqual(detections(m, 'registry'), { stateless: 1, 'streamable-http': 1, sse: 0 });
  assert.equal(metricSum(m, 'mcp_sidecar_era_detections_total', { server: 'registry' }), 2);
  assert.equal((await pool(sc, 'registry')).era, 'stateless');
  const changed = sc.logLines().filter((l) => l.event === 'upstream_era_changed');
  assert.ok(changed.length >= 1, 'no upstream_era_changed in the log');
  assert.equal(changed[0].level, 'warn');
  assert.equal(changed[0].server, 'registry');
  assert.equal(changed[0].was, 'streamable-http');
  const st = await modern.stats();
  assert.deepEqual(st.last_headers, { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'lookup_company' });
  assert.equal(st.executions.lookup_company, 1, 'the successful call ran once');
});

test('a server restarted as a 2025-era session server: the stateless verdict is dropped, auto finds initialize', async () => {
  // The reverse of the above. (Not to legacy SSE: that server answers on /sse, never on /mcp, so
  // the same URL cannot reach it; a session server on the same /mcp is the real-world case.)
  const port = await freePort();
  const modern = await server('sanctions', 'stateless', { port, env: { KYC_STATELESS_ONLY: '1' } });
  const sc = await sidecar([upstream(modern)], { pool_size: 2 });
  await kycCall(sc, 'sanctions', 'switch-back-1');
  let m = await metrics(sc);
  assert.deepEqual(eraGauges(m, 'sanctions'), { stateless: 1, 'streamable-http': 0, sse: 0 });

  await kill(modern);
  const older = await server('sanctions', 'streamable-http', { port });
  const recovery = await untilCallSucceeds(sc, 'sanctions', 8000);
  console.log(`stateless -> streamable-http: first success ${recovery} ms after the restart`);

  m = await metrics(sc);
  assert.deepEqual(eraGauges(m, 'sanctions'), { stateless: 0, 'streamable-http': 1, sse: 0 });
  assert.deepEqual(detections(m, 'sanctions'), { stateless: 1, 'streamable-http': 1, sse: 0 });
  assert.equal((await pool(sc, 'sanctions')).era, 'streamable-http');
  const changed = sc.logLines().filter((l) => l.event === 'upstream_era_changed');
  assert.ok(changed.some((l) => l.level === 'warn' && l.was === 'stateless'), JSON.stringify(changed));
  const st = await older.stats();
  assert.ok(st.methods.initialize >= 1);
  assert.equal(st.executions.screen_entity, 1, 'the successful call ran once');
});

// ---------------------------------------------------------------------------------------------
// 4. Mcp-Param headers (x-mcp-header).
// ---------------------------------------------------------------------------------------------

test('x-mcp-header parameters travel as Mcp-Param headers; non-ASCII values in the base64 sentinel', async () => {
  const registry = await server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } });
  const sc = await sidecar([upstream(registry, 'stateless')]);
  const cases = [
    ['acme-eu', 'acme-eu'],
    ['Zürich Straße', `=?base64?${Buffer.from('Zürich Straße', 'utf8').toString('base64')}?=`],
    ['東京', `=?base64?${Buffer.from('東京', 'utf8').toString('base64')}?=`],
    // Leading or trailing white space would be trimmed by HTTP: encoded too.
    [' padded ', `=?base64?${Buffer.from(' padded ', 'utf8').toString('base64')}?=`]
  ];
  for (const [tenant, header] of cases) {
    const r = await callTool(sc, 'registry', 'tenant_echo', { tenant });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.structuredContent, { tenant, header }, `tenant ${JSON.stringify(tenant)}`);
    const st = await registry.stats();
    assert.equal(st.last_headers['mcp-param-tenant'], header);
    assert.equal(st.last_headers['mcp-name'], 'tenant_echo');
  }
  assert.equal((await registry.stats()).executions.tenant_echo, cases.length);
  // Every value was read back as sent: no -32020 refusal made the sidecar refetch and resend.
  assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_retries_total', { server: 'registry' }) ?? 0, 0,
    'a -32020 refusal made the sidecar send a call again');
});

// ---------------------------------------------------------------------------------------------
// 5. input_required and /retry.
// ---------------------------------------------------------------------------------------------

test('input_required comes back intact; /retry completes it; a missing capability is a 502', async () => {
  const registry = await server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } });
  const sc = await sidecar([upstream(registry, 'stateless')]);
  const caps = { 'X-MCP-Client-Capabilities': JSON.stringify({ elicitation: { form: {} } }) };
  const caseId = 'kyc-confirm-1';

  const first = await callTool(sc, 'registry', 'confirm_case', { case_id: caseId }, caps);
  assert.equal(first.status, 200, first.body);
  assert.equal(first.json.resultType, 'input_required');
  assert.equal(first.json.requestState, `confirm:${caseId}`);
  const ask = first.json.inputRequests.confirm;
  assert.equal(ask.method, 'elicitation/create');
  assert.equal(ask.params.mode, 'form');
  assert.equal(ask.params.message, `Confirm KYC case ${caseId}?`);
  assert.deepEqual(ask.params.requestedSchema.required, ['confirm']);
  let st = await registry.stats();
  assert.deepEqual(st.meta_seen.filter((k) => ENVELOPE.includes(k)).sort(), [...ENVELOPE].sort());
  assert.equal(st.executions.confirm_case, 1);
  assert.equal(st.methods['tools/call'], 1);
  assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_calls_total',
    { server: 'registry', tool: 'confirm_case', outcome: 'input_required' }), 1);

  const retry = await request(`${sc.outbound}/v1/servers/registry/tools/confirm_case/retry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...caps },
    body: {
      arguments: { case_id: caseId },
      inputResponses: { confirm: { action: 'accept', content: { confirm: true } } },
      requestState: first.json.requestState
    }
  });
  assert.equal(retry.status, 200, retry.body);
  assert.notEqual(retry.json.resultType, 'input_required', retry.body);
  assert.deepEqual(retry.json.structuredContent, { case_id: caseId, confirmed: true });

  // Without the capability: the server refuses (-32021), the caller learns why.
  const bare = await callTool(sc, 'registry', 'confirm_case', { case_id: 'kyc-confirm-2' });
  assert.equal(bare.status, 502, bare.body);
  assert.equal(bare.json.error.code, 'upstream_capability_required');
  assert.equal(bare.json.error.upstream_error.code, -32021);

  // A retry body with a key the API does not know.
  const bad = await request(`${sc.outbound}/v1/servers/registry/tools/confirm_case/retry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...caps },
    body: { arguments: { case_id: caseId }, inputResponses: {}, requestState: 'x', resume: true }
  });
  assert.equal(bad.status, 400, bad.body);
  assert.equal(bad.json.error.code, 'bad_request');
  // A header that is not a JSON object.
  const badCaps = await callTool(sc, 'registry', 'confirm_case', { case_id: caseId }, { 'X-MCP-Client-Capabilities': '[1]' });
  assert.equal(badCaps.status, 400, badCaps.body);

  // Nothing was sent twice by the sidecar on its own: three calls were accepted by the REST API,
  // three reached the server, and the handler ran three times (the capability check is the
  // tool's own: it refuses from inside the handler).
  st = await registry.stats();
  assert.equal(st.methods['tools/call'], 3, JSON.stringify(st.methods));
  assert.equal(st.executions.confirm_case, 3);
  assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_retries_total', { server: 'registry' }) ?? 0, 0);
});

// ---------------------------------------------------------------------------------------------
// 6. The tools/list cache follows the server's ttlMs.
// ---------------------------------------------------------------------------------------------

test('tools/list is cached for the server\'s ttlMs (1500 ms), and not at all with ttlMs 0', async () => {
  const [short, none, priv] = await Promise.all([
    server('registry', 'stateless', { env: { KYC_CACHE_TTL_MS: '1500' } }),
    server('sanctions', 'stateless', { env: { KYC_CACHE_TTL_MS: '0' } }),
    server('pep', 'stateless', { env: { KYC_CACHE_SCOPE: 'private' } })
  ]);
  // The configured TTL (300 s) would keep every list: only the server's ttlMs can expire them.
  const sc = await sidecar([upstream(short, 'stateless'), upstream(none, 'stateless'), upstream(priv, 'stateless')],
    { tools_cache_ttl_seconds: 300 });
  const fetches = async (name) => metricValue(await metrics(sc), 'mcp_sidecar_tools_list_fetches_total', { server: name }) ?? 0;
  const ping = async (name) => assert.equal((await callTool(sc, name, 'ping')).status, 200);

  const t0 = Date.now();
  await ping('registry');
  await ping('registry');
  assert.equal(await fetches('registry'), 1);
  assert.equal((await short.stats()).methods['tools/list'], 1);
  // Call until the list is fetched again: not before the TTL, and soon after it.
  await until(async () => {
    await ping('registry');
    return (await fetches('registry')) === 2;
  }, { timeoutMs: 5000, intervalMs: 100, what: 'the tools/list TTL to expire' });
  const refetchedAfter = Date.now() - t0;
  console.log(`ttlMs 1500: fetched again ${refetchedAfter} ms after the first fetch`);
  assert.ok(refetchedAfter >= 1500, `fetched again after ${refetchedAfter} ms, before the TTL`);
  assert.ok(refetchedAfter < 4000, `fetched again only after ${refetchedAfter} ms`);
  assert.equal((await short.stats()).methods['tools/list'], 2);

  for (let i = 0; i < 3; i++) await ping('sanctions');
  assert.equal(await fetches('sanctions'), 3);
  assert.equal((await none.stats()).methods['tools/list'], 3);

  // cacheScope private: reused while the sidecar's credentials stay the same (plain HTTP: always).
  for (let i = 0; i < 3; i++) await ping('pep');
  assert.equal(await fetches('pep'), 1);
  assert.equal((await priv.stats()).methods['tools/list'], 1);
});

test('stateless: a call past its timeout is cancelled by closing its stream (no notifications/cancelled in 2026-07-28)', async () => {
  const s = await server('registry', 'stateless');
  const sc = await sidecar([upstream(s, 'stateless')], { call_timeout_seconds: 1 });
  const t0 = Date.now();
  const r = await callTool(sc, 'registry', 'sleep', { ms: 60000, case_id: 'eras-cancel' });
  assert.equal(r.status, 504, r.body);
  assert.ok(Date.now() - t0 < 3000);
  // The tool would sleep a minute: only the closed stream ends it now.
  await until(async () => (await s.stats()).inflight === 0, { timeoutMs: 3000, what: 'the server to cancel the tool' });
  assert.equal((await s.stats()).methods['notifications/cancelled'], undefined);
});

test('sse: a call past its timeout is cancelled upstream with notifications/cancelled', async () => {
  const s = await server('pep', 'sse');
  const sc = await sidecar([upstream(s, 'sse')], { call_timeout_seconds: 1 });
  const r = await callTool(sc, 'pep', 'sleep', { ms: 60000, case_id: 'eras-sse-cancel' });
  assert.equal(r.status, 504, r.body);
  await until(async () => (await s.stats()).methods['notifications/cancelled'] === 1, { timeoutMs: 3000, what: 'the cancellation' });
  await until(async () => (await s.stats()).inflight === 0, { timeoutMs: 3000, what: 'the server to stop the tool' });
  // The session survives a slow call.
  assert.equal((await callTool(sc, 'pep', 'ping')).status, 200);
});

test('subscriptions/listen: a changed tool list is fetched again at once; the listen outlives the call timeout', async () => {
  // Caching and refresh-on-unknown both set to keep the old list for minutes: only the
  // notification can explain a new one.
  const s = await server('registry', 'stateless', { env: { KYC_CACHE_TTL_MS: '600000' } });
  const sc = await sidecar([upstream(s)], { call_timeout_seconds: 1, tools_refresh_min_interval_seconds: 600 });
  assert.equal((await callTool(sc, 'registry', 'ping')).status, 200);
  await until(async () => metricValue(await metrics(sc), 'mcp_sidecar_upstream_listening', { server: 'registry' }) === 1,
    { what: 'the listen stream to be acknowledged' });
  assert.equal((await callTool(sc, 'registry', 'late_tool')).status, 404);

  const changed = await fetch(`${s.base}/_test/tools_changed`, { method: 'POST' });
  assert.equal(changed.status, 200);
  await until(async () => metricValue(await metrics(sc), 'mcp_sidecar_upstream_notifications_total',
    { server: 'registry', method: 'notifications/tools/list_changed' }) === 1, { what: 'the list_changed notification' });
  const late = await callTool(sc, 'registry', 'late_tool');
  assert.equal(late.status, 200, late.body);
  assert.deepEqual(late.json.structuredContent, { late: true });
  assert.equal((await s.stats()).methods['tools/list'], 2);

  // Three call timeouts later the same listen is still open: it is not a call.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_upstream_listening', { server: 'registry' }), 1);
  assert.equal((await s.stats()).methods['subscriptions/listen'], 1);
  const t0 = Date.now();
  assert.equal(await sc.stop(), 0);
  assert.ok(Date.now() - t0 < 3000, 'the open listen held up the shutdown');
});

// ---------------------------------------------------------------------------------------------
// 7. Heartbeats per era.
// ---------------------------------------------------------------------------------------------

test('heartbeat: server/discover on a stateless upstream (2026-07-28 has no ping), ping on legacy SSE', async () => {
  const registry = await server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } });
  const sanctions = await server('sanctions', 'sse');
  const sc = await sidecar([upstream(registry, 'stateless'), upstream(sanctions, 'sse')],
    { heartbeat_interval_seconds: 0.2, heartbeat_timeout_seconds: 1 });
  await kycCall(sc, 'registry', 'hb-1');
  await kycCall(sc, 'sanctions', 'hb-2');
  const base = (await registry.stats()).methods['server/discover'];
  await until(async () => (await registry.stats()).methods['server/discover'] >= base + 4, { what: 'server/discover heartbeats' });
  await until(async () => ((await sanctions.stats()).methods.ping ?? 0) >= 4, { what: 'ping heartbeats on sse' });
  const [reg, san] = await Promise.all([registry.stats(), sanctions.stats()]);
  assert.equal(reg.methods.ping, undefined, 'ping sent to a 2026-07-28 server');
  assert.equal(san.methods['server/discover'], undefined);
  assert.equal(san.active_sessions, 2, 'the sse sessions were replaced');
  const m = await metrics(sc);
  assert.ok(metricValue(m, 'mcp_sidecar_heartbeats_total', { server: 'registry', outcome: 'ok' }) >= 4);
  assert.ok(metricValue(m, 'mcp_sidecar_heartbeats_total', { server: 'sanctions', outcome: 'ok' }) >= 4);
  assert.equal(metricSum(m, 'mcp_sidecar_session_evictions_total'), 0);
});

// ---------------------------------------------------------------------------------------------
// 8. A legacy SSE server killed and restarted.
// ---------------------------------------------------------------------------------------------

test('legacy SSE server killed: the lost streams evict their sessions, calls get 503 fast, a restart brings it back', async () => {
  const risk = await server('risk', 'sse');
  // No heartbeat: only the loss of the event stream can tell the sidecar.
  const sc = await sidecar([upstream(risk, 'sse')], { pool_size: 2 });
  await kycCall(sc, 'risk', 'sse-kill-1');
  await until(async () => (await readySessions(sc, 'risk')) === 2, { what: 'two ready sse sessions' });

  await kill(risk);
  const t0 = Date.now();
  // Checked at the end, so that what the caller sees is tested even when this fails.
  let evictedAfter;
  try {
    await until(async () => metricSum(await metrics(sc), 'mcp_sidecar_session_evictions_total', { server: 'risk' }) >= 2,
      { timeoutMs: 3000, what: 'both sessions evicted without any call' });
    evictedAfter = Date.now() - t0;
    console.log(`sse killed: both sessions evicted ${evictedAfter} ms after SIGKILL, without any call`);
  } catch {}
  const stillReady = await readySessions(sc, 'risk');

  const t1 = Date.now();
  const r = await callTool(sc, 'risk', 'ping');
  const answeredAfter = Date.now() - t1;
  assert.equal(r.status, 503, r.body);
  assert.equal(r.json.error.code, 'upstream_unavailable');
  assert.ok(answeredAfter < 1500, `503 after ${answeredAfter} ms`);

  const back = await server('risk', 'sse', { port: risk.port });
  const recovery = await untilCallSucceeds(sc, 'risk');
  console.log(`sse killed: 503 after ${answeredAfter} ms; first success ${recovery} ms after the restart`);
  await until(async () => (await readySessions(sc, 'risk')) === 2, { what: 'the pool refilled' });
  const st = await back.stats();
  assert.equal(st.active_sessions, 2);
  assert.ok(st.methods.initialize >= 2);
  assert.ok(evictedAfter !== undefined,
    `3 s after SIGKILL the lost streams had not evicted their sessions (${stillReady} still "ready" in /debug/pools)`);
});

// ---------------------------------------------------------------------------------------------
// 9. Forced mismatches: a clear error, not a hang.
// ---------------------------------------------------------------------------------------------

test('transport: streamable-http forced against a stateless-only server: 502 upstream_version_unsupported with the -32022', async () => {
  const registry = await server('registry', 'stateless', { env: { KYC_STATELESS_ONLY: '1' } });
  const sc = await sidecar([upstream(registry, 'streamable-http')], { retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 50 } });
  const t0 = Date.now();
  const r = await callTool(sc, 'registry', 'ping');
  const elapsed = Date.now() - t0;
  console.log(`forced streamable-http vs stateless-only: ${r.status} ${r.body} (${elapsed} ms)`);
  assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
  const st = await registry.stats();
  assert.ok(st.methods.initialize >= 1);
  assert.deepEqual(st.executions, {});
  // The server said exactly what is wrong (no version in common): the caller should hear it.
  assert.equal(r.status, 502, r.body);
  assert.equal(r.json.error.code, 'upstream_version_unsupported');
  assert.equal(r.json.error.upstream_error?.code, -32022);
});

test('transport: stateless forced against a legacy SSE server: 502 upstream_protocol_error, not a retryable 503', async () => {
  const sanctions = await server('sanctions', 'sse');
  const sc = await sidecar([upstream(sanctions, 'stateless')], { retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 50 } });
  const t0 = Date.now();
  const r = await callTool(sc, 'sanctions', 'ping');
  const elapsed = Date.now() - t0;
  console.log(`forced stateless vs legacy sse: ${r.status} ${r.body} (${elapsed} ms)`);
  assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
  assert.deepEqual((await sanctions.stats()).methods, {}, 'the legacy server got a JSON-RPC message');
  assert.match(r.json?.error?.message ?? '', /does not speak this MCP revision|HTTP 404/);
  assert.equal(r.status, 502, r.body);
  assert.equal(r.json.error.code, 'upstream_protocol_error');
});
