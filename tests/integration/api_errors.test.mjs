// Every status of the REST API's error table (docs/api.md), each produced for real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { SIDECAR_BIN, callTool, request, sidecarConfig, startServer, startSidecar, until } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-api-');
let servers;
let sidecar;
before(async () => {
  servers = await Promise.all(['registry', 'pep', 'risk'].map((role) => startServer(role, { dir, testTools: true })));
  sidecar = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    config: sidecarConfig(servers, {
      limits: { max_body_bytes: 4096, max_header_bytes: 8192 },
      retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 1000 },
      servers: [
        ...servers.map((s) => ({ name: s.role, url: s.url })),
        { name: 'slow', url: servers.find((s) => s.role === 'risk').url, call_timeout_seconds: 0.5 },
        { name: 'down', url: 'http://127.0.0.1:1/mcp' }
      ]
    })
  });
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await Promise.all(servers.map((s) => s.stop()));
});

function assertError(r, status, code) {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.json.error.code, code, r.body);
  assert.equal(typeof r.json.error.message, 'string');
}

test('200: the CallToolResult as the upstream sent it', async () => {
  const r = await callTool(sidecar, 'registry', 'lookup_company', { company_number: 'GB-10001' }, { 'X-Case-Id': 'api-200' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-case-id'], 'api-200');
  assert.equal(r.json.structuredContent.company_number, 'GB-10001');
  assert.ok(Array.isArray(r.json.content));
});

test('200 with isError: a tool that ran and failed is not an HTTP error', async () => {
  const r = await callTool(sidecar, 'registry', 'lookup_company', { company_number: 'XX-0' });
  assert.equal(r.status, 200);
  assert.equal(r.json.isError, true);
});

test('400: body that is not JSON', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers/registry/tools/ping`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"unterminated":'
  });
  assertError(r, 400, 'bad_request');
});

test('400: body that is not an object', async () => {
  assertError(await callTool(sidecar, 'registry', 'ping', [1, 2]), 400, 'bad_request');
});

test('400: Content-Type other than JSON', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers/registry/tools/ping`, {
    method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}'
  });
  assertError(r, 400, 'bad_request');
});

test('400: invalid case id', async () => {
  assertError(await callTool(sidecar, 'registry', 'ping', {}, { 'X-Case-Id': 'no spaces allowed' }), 400, 'bad_case_id');
  assertError(await callTool(sidecar, 'registry', 'ping', {}, { 'X-Case-Id': 'x'.repeat(129) }), 400, 'bad_case_id');
});

test('400: case id header and argument disagree', async () => {
  const r = await callTool(sidecar, 'registry', 'lookup_company', { company_number: 'GB-10001', case_id: 'b' }, { 'X-Case-Id': 'a' });
  assertError(r, 400, 'bad_case_id');
});

test('403: a Host that is not a loopback name (DNS rebinding)', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers`, { headers: { host: 'attacker.example:7001' } });
  assertError(r, 403, 'forbidden');
});

test('403: a foreign Origin', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers`, { headers: { origin: 'http://attacker.example' } });
  assertError(r, 403, 'forbidden');
  const local = await request(`${sidecar.outbound}/v1/servers`, { headers: { origin: 'http://localhost:3000' } });
  assert.equal(local.status, 200);
});

test('404: unknown server', async () => {
  assertError(await callTool(sidecar, 'nosuch', 'ping'), 404, 'unknown_server');
  assertError(await request(`${sidecar.outbound}/v1/servers/nosuch/tools`), 404, 'unknown_server');
  assertError(await callTool(sidecar, '..%2Fregistry', 'ping'), 404, 'unknown_server');
});

test('404: unknown tool, and the server never saw it', async () => {
  const registry = servers.find((s) => s.role === 'registry');
  const before = (await registry.stats()).executions;
  assertError(await callTool(sidecar, 'registry', 'no_such_tool'), 404, 'unknown_tool');
  assert.deepEqual((await registry.stats()).executions, before);
});

test('404: unknown route', async () => {
  assertError(await request(`${sidecar.outbound}/v2/anything`), 404, 'not_found');
});

test('405: wrong method, with Allow', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers/registry/tools/ping`);
  assertError(r, 405, 'method_not_allowed');
  assert.ok(r.headers.allow);
});

test('413: body over the limit', async () => {
  const r = await callTool(sidecar, 'registry', 'ping', { pad: 'x'.repeat(10000) });
  assertError(r, 413, 'payload_too_large');
});

test('413 reaches a client still sending a large body: the sidecar stops reading but lingers before closing', async () => {
  const { hostname, port } = new URL(sidecar.outbound);
  const sock = net.connect(Number(port), hostname);
  let got = '';
  sock.on('data', (d) => { got += d; });
  sock.on('error', () => {});  // the reset that may follow the lingering close
  const closed = new Promise((resolve) => sock.on('close', resolve));
  const size = 8 << 20;
  sock.write(`POST /v1/servers/registry/tools/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
  const chunk = Buffer.alloc(64 << 10, 0x20);
  for (let sent = 0; sent < size && !sock.destroyed && !got; sent += chunk.length) {
    if (!sock.write(chunk)) await new Promise((resolve) => { sock.once('drain', resolve); sock.once('close', resolve); });
  }
  await closed;
  assert.match(got, /^HTTP\/1\.1 413 /, `the refusal was lost (${got.length} bytes read)`);
  assert.match(got, /payload_too_large/);
});

test('431: headers over the limit', async () => {
  const r = await request(`${sidecar.outbound}/v1/servers`, { headers: { 'x-pad': 'x'.repeat(10000) } });
  assertError(r, 431, 'headers_too_large');
});

test('502: the upstream\'s JSON-RPC error passed along', async () => {
  const r = await callTool(sidecar, 'registry', 'rpc_error', {}, { 'X-Case-Id': 'api-502' });
  assertError(r, 502, 'upstream_error');
  assert.equal(r.json.error.upstream_error.code, -32042);
  assert.equal(r.headers['x-case-id'], 'api-502');
});

test('502: an upstream that does not speak MCP', async () => {
  // A plain HTTP server answering 200 text/html to everything.
  const garbage = net.createServer((sock) => {
    sock.on('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello'));
  });
  await new Promise((r) => garbage.listen(0, '127.0.0.1', r));
  const port = garbage.address().port;
  const other = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'garbage',
    config: sidecarConfig([{ role: 'web', url: `http://127.0.0.1:${port}/` }], { retry: { max_attempts: 1, base_delay_ms: 1, max_delay_ms: 1 } })
  });
  try {
    const r = await callTool(other, 'web', 'ping');
    // The server answered, but not in MCP: a refusal (502), not an outage (503).
    assertError(r, 502, 'upstream_protocol_error');
    assert.match(r.json.error.message, /no session could be opened: .*unexpected content type/);
    assert.ok(Number(r.headers['retry-after']) >= 1);
  } finally {
    assert.equal(await other.stop(), 0);
    garbage.close();
  }
});

test('503: upstream unavailable, with Retry-After', async () => {
  const r = await callTool(sidecar, 'down', 'ping');
  assertError(r, 503, 'upstream_unavailable');
  assert.ok(Number(r.headers['retry-after']) >= 1);
  // Now it fails fast instead of queueing.
  const t0 = Date.now();
  const again = await callTool(sidecar, 'down', 'ping');
  assertError(again, 503, 'upstream_unavailable');
  assert.ok(Date.now() - t0 < 1000);
});

test('503: overloaded past max in-flight calls, with Retry-After', async () => {
  const other = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'overload',
    config: sidecarConfig(servers, { upstream: { max_inflight: 1 } })
  });
  try {
    assert.equal((await callTool(other, 'risk', 'ping')).status, 200);
    const risk = servers.find((s) => s.role === 'risk');
    const before = (await risk.stats()).executions.sleep ?? 0;
    const slow = callTool(other, 'risk', 'sleep', { ms: 1500 }, { 'X-Case-Id': 'hold' });
    // The first call holds the only slot while the server runs it.
    await until(async () => ((await risk.stats()).executions.sleep ?? 0) > before, { what: 'the sleep call to start' });
    const r = await callTool(other, 'risk', 'ping');
    assertError(r, 503, 'overloaded');
    assert.ok(Number(r.headers['retry-after']) >= 1);
    assert.equal((await slow).status, 200);
  } finally {
    assert.equal(await other.stop(), 0);
  }
});

test('503: over the connection limit, with Retry-After; served again once a connection closes', async () => {
  const other = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'maxconn',
    config: sidecarConfig(servers, { limits: { max_connections: 2 } })
  });
  const port = Number(new URL(other.outbound).port);
  const connect = () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
  const held = [await connect(), await connect()];
  try {
    // The sidecar counts both before it accepts a third (they are accepted in order).
    await until(async () => {
      const m = (await request(`${other.admin}/metrics`)).body;
      return /mcp_sidecar_connections\{listener="outbound"\} 2/.test(m);
    }, { what: 'two open connections' });
    const r = await request(`${other.outbound}/v1/servers`);
    assertError(r, 503, 'overloaded');
    assert.equal(r.headers['retry-after'], '1');
    held.pop().destroy();
    await until(async () => (await request(`${other.outbound}/v1/servers`)).status === 200, { what: 'service after a connection closed' });
  } finally {
    for (const s of held) s.destroy();
    assert.equal(await other.stop(), 0);
  }
});

test('504: call timeout', async () => {
  const t0 = Date.now();
  const r = await callTool(sidecar, 'slow', 'sleep', { ms: 3000 }, { 'X-Case-Id': 'api-504' });
  const elapsed = Date.now() - t0;
  assertError(r, 504, 'timeout');
  assert.ok(elapsed >= 450 && elapsed < 2500, `answered after ${elapsed} ms`);
});
