// The MCP endpoint /mcp/{server}: an unmodified official SDK client (v2,
// @modelcontextprotocol/client, speaking 2026-07-28) pointed at the sidecar reaches upstreams of
// every revision; requests are validated as a 2026-07-28 server must, and refused ones never
// reach the upstream; session-revision clients get sessions of the sidecar's own (the full
// client x upstream matrix is matrix.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { SIDECAR_BIN, metricValue, metrics, request, sidecarConfig, startServer, startSidecar } from './helpers.mjs';
import { Client, StreamableHTTPClientTransport } from '../../examples/kyc/node_modules/@modelcontextprotocol/client/dist/index.mjs';

const dir = fs.mkdtempSync('/tmp/it-mcp-endpoint-');
const MODERN = '2026-07-28';
let servers;
let sidecar;
before(async () => {
  servers = await Promise.all([['registry', 'stateless'], ['sanctions', 'streamable-http'], ['pep', 'sse']].map(
    ([role, transport]) => startServer(role, { dir, transport, testTools: true })));
  sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config: sidecarConfig(servers, { pool_size: 1 }) });
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await Promise.all(servers.map((s) => s.stop()));
});
const server = (role) => servers.find((s) => s.role === role);
const endpoint = (role) => `${sidecar.outbound}/mcp/${role}`;

async function sdkClient(role, mode = 'auto', options = {}) {
  const client = new Client({ name: 'endpoint-test', version: '1.0.0' }, { versionNegotiation: { mode }, ...options });
  await client.connect(new StreamableHTTPClientTransport(new URL(endpoint(role))));
  return client;
}

// A raw 2026-07-28 request, with every header right unless `override` says otherwise.
function raw(role, method, params = {}, { headers = {}, meta = {} } = {}) {
  const body = { jsonrpc: '2.0', id: 7, method, params: { ...params, _meta: {
    'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, ...meta } } };
  const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN, 'mcp-method': method, ...(params.name ? { 'mcp-name': params.name } : {}), ...headers };
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  return request(endpoint(role), { method: 'POST', headers: h, body: JSON.stringify(body) });
}

test('the official v2 SDK client works through the endpoint against upstreams of all three revisions', async () => {
  for (const s of servers) {
    for (const mode of ['auto', { pin: MODERN }]) {
      const client = await sdkClient(s.role, mode);
      try {
        assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === 'ping'), `${s.role}: ping listed`);
        const r = await client.callTool({ name: 'ping', arguments: {} });
        assert.deepEqual(r.structuredContent, { ok: true });
      } finally {
        await client.close();
      }
    }
  }
  // The calls went through the pools, with metrics, to servers of each era.
  const m = await metrics(sidecar);
  for (const s of servers)
    assert.equal(metricValue(m, 'mcp_sidecar_calls_total', { server: s.role, tool: 'ping', outcome: 'ok' }), 2);
  assert.ok((await server('sanctions').stats()).methods.initialize >= 1, 'a session upstream was bridged');
});

test('x-mcp-header parameters: the SDK client\'s Mcp-Param headers are checked, then mirrored upstream', async () => {
  const client = await sdkClient('registry');
  try {
    const r = await client.callTool({ name: 'tenant_echo', arguments: { tenant: 'Zürich' } });
    assert.deepEqual(r.structuredContent, { tenant: 'Zürich', header: '=?base64?WsO8cmljaA==?=' });
  } finally {
    await client.close();
  }
  const before = (await server('registry').stats()).executions.tenant_echo;
  const wrong = await raw('registry', 'tools/call', { name: 'tenant_echo', arguments: { tenant: 'acme' } },
    { headers: { 'mcp-param-tenant': 'evil' } });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error.code, -32020);
  const missing = await raw('registry', 'tools/call', { name: 'tenant_echo', arguments: { tenant: 'acme' } });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.error.code, -32020);
  assert.equal((await server('registry').stats()).executions.tenant_echo, before, 'a refused call reached the server');
});

test('input_required: the SDK client fulfils the elicitation and retries; the sidecar passes both rounds on', async () => {
  const client = await sdkClient('registry', 'auto', { capabilities: { elicitation: { form: {} } } });
  let asked = 0;
  client.setRequestHandler('elicitation/create', async () => {
    asked += 1;
    return { action: 'accept', content: { confirm: true } };
  });
  try {
    const r = await client.callTool({ name: 'confirm_case', arguments: { case_id: 'endpoint-mrtr' } });
    assert.equal(asked, 1);
    assert.deepEqual(r.structuredContent, { case_id: 'endpoint-mrtr', confirmed: true });
  } finally {
    await client.close();
  }
  // Without the capability the upstream's -32021 comes back as the 400 it is.
  const refused = await raw('registry', 'tools/call', { name: 'confirm_case', arguments: { case_id: 'endpoint-nocap' } });
  assert.equal(refused.status, 400, refused.body);
  assert.equal(refused.json.error.code, -32021);
  const m = await metrics(sidecar);
  assert.equal(metricValue(m, 'mcp_sidecar_calls_total', { server: 'registry', tool: 'confirm_case', outcome: 'input_required' }), 1);
  assert.equal(metricValue(m, 'mcp_sidecar_calls_total', { server: 'registry', tool: 'confirm_case', outcome: 'ok' }), 1);
});

test('requests are validated as a 2026-07-28 server must, and refused ones never reach the upstream', async () => {
  const calls = async () => (await server('registry').stats()).methods['tools/call'] ?? 0;
  const before = await calls();
  const cases = [
    ['no MCP-Protocol-Version', { headers: { 'mcp-protocol-version': undefined } }, 400, -32020],
    ['header and _meta versions differ', { headers: { 'mcp-protocol-version': '2025-11-25' } }, 400, -32020],
    ['unsupported version', { headers: { 'mcp-protocol-version': '2099-01-01' }, meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }, 400, -32022],
    ['no Mcp-Method', { headers: { 'mcp-method': undefined } }, 400, -32020],
    ['Mcp-Method disagrees', { headers: { 'mcp-method': 'tools/list' } }, 400, -32020],
    ['Mcp-Name smuggles another tool', { headers: { 'mcp-name': 'lookup_company' } }, 400, -32020],
    ['no Mcp-Name', { headers: { 'mcp-name': undefined } }, 400, -32020],
    ['no clientCapabilities', { meta: { 'io.modelcontextprotocol/clientCapabilities': undefined } }, 400, -32602]
  ];
  for (const [what, opts, status, code] of cases) {
    const r = await raw('registry', 'tools/call', { name: 'ping', arguments: {} }, opts);
    assert.equal(r.status, status, `${what}: ${r.body}`);
    assert.equal(r.json.error.code, code, what);
    assert.equal(r.json.id, 7, what);
  }
  const unsupported = await raw('registry', 'tools/call', { name: 'ping', arguments: {} },
    { headers: { 'mcp-protocol-version': '2099-01-01' }, meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } });
  assert.deepEqual(unsupported.json.error.data, { supported: [MODERN], requested: '2099-01-01' });
  assert.equal(await calls(), before, 'a refused request reached the server');

  const ok = await raw('registry', 'tools/call', { name: 'ping', arguments: {} }, { headers: { 'x-case-id': 'endpoint-1' } });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.result.resultType, 'complete');
  assert.equal(ok.headers['x-case-id'], 'endpoint-1');
  assert.ok(server('registry').logLines().some((l) => l.event === 'tool_call' && l.case_id === 'endpoint-1'));
});

test('what 2026-07-28 does not have: GET/DELETE without a session are 405, initialize in 2026-07-28 is 404, batches are refused', async () => {
  for (const method of ['GET', 'DELETE']) {
    const r = await request(endpoint('registry'), { method, headers: { accept: 'text/event-stream' } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
  }
  // An initialize that speaks 2026-07-28 (its headers and _meta) asks for a method that revision
  // does not have; without them it opens a session (the session tests).
  const init = await raw('registry', 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'old', version: '1' } });
  assert.equal(init.status, 404);
  assert.equal(init.json.error.code, -32601);
  // The HTTP+SSE endpoint is off unless configured (outbound.legacy_sse_endpoint).
  const legacy = await request(`${endpoint('registry')}/sse`, { headers: { accept: 'text/event-stream' } });
  assert.equal(legacy.status, 404);
  const batch = await request(endpoint('registry'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
  assert.equal(batch.status, 400);
  const unknown = await raw('registry', 'resources/templates/list');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, -32601);
  const discover = await raw('registry', 'server/discover');
  assert.equal(discover.status, 200);
  assert.deepEqual(discover.json.result.supportedVersions, [MODERN]);
});

// A session client speaking raw HTTP: the sidecar's own Mcp-Session-Id, batches only where the
// negotiated revision has them (2025-03-26), 404 for a session it does not know, DELETE ends it.
test('session revisions over raw HTTP: own session ids, batches per revision, 404 after DELETE', async () => {
  const post = (body, headers = {}) => request(endpoint('sanctions'), { method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body) });
  const open = async (protocolVersion) => {
    const r = await post({ jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-session', version: '1' } } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.result.protocolVersion, protocolVersion);
    assert.ok(r.json.result.capabilities.tools);
    const id = r.headers['mcp-session-id'];
    assert.match(id, /^[0-9a-f]{32}$/);
    return id;
  };
  const old = await open('2025-03-26');
  const batch = await post([
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 1, method: 'ping' },
    { jsonrpc: '2.0', id: 2, method: 'tools/list' }
  ], { 'mcp-session-id': old });
  assert.equal(batch.status, 200, batch.body);
  assert.deepEqual(batch.json.map((m) => m.id), [1, 2]);
  assert.deepEqual(batch.json[0].result, {});
  assert.ok(batch.json[1].result.tools.some((t) => t.name === 'screen_entity'));

  const current = await open('2025-11-25');
  assert.notEqual(current, old);
  const refused = await post([{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': current, 'mcp-protocol-version': '2025-11-25' });
  assert.equal(refused.status, 400);
  const ping = await post({ jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': current, 'mcp-protocol-version': '2025-11-25' });
  assert.deepEqual(ping.json, { jsonrpc: '2.0', id: 3, result: {} });

  const unknown = await post({ jsonrpc: '2.0', id: 4, method: 'ping' }, { 'mcp-session-id': 'f'.repeat(32) });
  assert.equal(unknown.status, 404);
  const ended = await request(endpoint('sanctions'), { method: 'DELETE', headers: { 'mcp-session-id': current } });
  assert.equal(ended.status, 200);
  const after = await post({ jsonrpc: '2.0', id: 5, method: 'ping' }, { 'mcp-session-id': current });
  assert.equal(after.status, 404);
  assert.equal(metricValue(await metrics(sidecar), 'mcp_sidecar_client_session_events_total', { event: 'deleted' }), 1);
});
