// The admin listener: probes, the Prometheus exposition (checked by promtool), and debug views
// that answer loopback peers only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import { SIDECAR_BIN, callTool, hasCommand, metricValue, request, sidecarConfig, skipOrFail, startServer, startSidecar, until } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-admin-');
let server;
let sidecar;
before(async () => {
  server = await startServer('registry', { dir });
  const config = sidecarConfig([server]);
  config.admin.listen = '0.0.0.0:0';  // reachable on every address, like in a pod
  sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config });
  sidecar.admin = sidecar.admin.replace('0.0.0.0', '127.0.0.1');
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await server.stop();
});

test('healthz and readyz', async () => {
  const h = await request(`${sidecar.admin}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  const r = await request(`${sidecar.admin}/readyz`);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ready');
});

test('metrics: the families of the product sheet, after a call', async () => {
  assert.equal((await callTool(sidecar, 'registry', 'lookup_company', { company_number: 'GB-10001' }, { 'X-Case-Id': 'm-1' })).status, 200);
  assert.equal((await callTool(sidecar, 'registry', 'no_such_tool', {}, { 'X-Case-Id': 'm-2' })).status, 404);
  // The first call opens the whole pool and goes out on the first session ready: the other may
  // still be opening when the calls return.
  await until(async () => metricValue((await request(`${sidecar.admin}/metrics`)).body, 'mcp_sidecar_pool_sessions',
    { server: 'registry', state: 'ready' }) === 2, { what: 'both pooled sessions ready' });
  const m = await request(`${sidecar.admin}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = m.body;
  assert.equal(metricValue(text, 'mcp_sidecar_calls_total', { server: 'registry', tool: 'lookup_company', outcome: 'ok' }), 1);
  // An unlisted tool name never becomes a label.
  assert.equal(metricValue(text, 'mcp_sidecar_calls_total', { server: 'registry', tool: 'other', outcome: 'rejected' }), 1);
  assert.equal(text.includes('no_such_tool'), false);
  assert.equal(metricValue(text, 'mcp_sidecar_call_duration_seconds_count', { server: 'registry', tool: 'lookup_company' }), 1);
  assert.equal(metricValue(text, 'mcp_sidecar_call_duration_seconds_bucket', { server: 'registry', tool: 'lookup_company', le: '60' }), 1);
  assert.equal(metricValue(text, 'mcp_sidecar_call_duration_seconds_bucket', { server: 'registry', tool: 'lookup_company', le: '0.0001' }), 0);
  assert.equal(metricValue(text, 'mcp_sidecar_session_opens_total', { server: 'registry', outcome: 'ok' }), 2);
  assert.equal(metricValue(text, 'mcp_sidecar_pool_sessions', { server: 'registry', state: 'ready' }), 2);
  assert.equal(metricValue(text, 'mcp_sidecar_inflight_calls', { server: 'registry' }), 0);
  assert.ok(metricValue(text, 'mcp_sidecar_build_info') === 1);
  // Never a case id in the metrics.
  assert.equal(text.includes('m-1'), false);
});

test('promtool check metrics accepts the exposition', async (t) => {
  if (!hasCommand('promtool')) return skipOrFail(t, 'promtool is not installed (Debian package prometheus)');
  const text = (await request(`${sidecar.admin}/metrics`)).body;
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('debug views answer loopback peers', async () => {
  const pools = await request(`${sidecar.admin}/debug/pools`);
  assert.equal(pools.status, 200);
  const registry = pools.json.servers.find((p) => p.server === 'registry');
  assert.equal(registry.sessions.length, 2);
  for (const s of registry.sessions) {
    assert.equal(s.state, 'ready');
    assert.equal(typeof s.age_seconds, 'number');
    assert.equal(typeof s.inflight, 'number');
  }
  const config = await request(`${sidecar.admin}/debug/config`);
  assert.equal(config.status, 200);
  assert.equal(config.json.outbound.servers[0].name, 'registry');
  const calls = await request(`${sidecar.admin}/debug/calls?case_id=m-1`);
  assert.equal(calls.status, 200);
  assert.equal(calls.json.calls.length, 1);
  assert.equal((await request(`${sidecar.admin}/debug/calls`)).status, 400);
  const level = await request(`${sidecar.admin}/debug/log-level?level=debug`, { method: 'PUT' });
  assert.equal(level.json.level, 'debug');
  assert.equal((await request(`${sidecar.admin}/debug/log-level`)).json.level, 'debug');
  await request(`${sidecar.admin}/debug/log-level?level=info`, { method: 'PUT' });
  assert.equal((await request(`${sidecar.admin}/debug/log-level?level=loud`, { method: 'PUT' })).status, 400);
  assert.equal((await request(`${sidecar.admin}/debug/nothing`)).status, 404);
});

test('debug views refuse peers that are not loopback; probes and metrics do not', async (t) => {
  const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) return skipOrFail(t, 'this machine has no non-loopback IPv4 address to connect from');
  const base = sidecar.admin.replace('127.0.0.1', address);
  assert.equal((await request(`${base}/debug/pools`)).status, 403);
  assert.equal((await request(`${base}/debug/config`)).status, 403);
  assert.equal((await request(`${base}/debug/calls?case_id=m-1`)).status, 403);
  assert.equal((await request(`${base}/metrics`)).status, 200);
  assert.equal((await request(`${base}/healthz`)).status, 200);
});
