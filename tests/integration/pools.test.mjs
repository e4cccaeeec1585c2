// The outbound role's session pools against the real KYC servers (official MCP SDK):
// lazy fill, round-robin over N sessions, many concurrent calls on one session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { ROLES, SIDECAR_BIN, callTool, request, sidecarConfig, startServer, startSidecar, until } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-pools-');
let servers;
before(async () => {
  servers = await Promise.all(ROLES.map((role) => startServer(role, { dir, testTools: true })));
});
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});
const server = (role) => servers.find((s) => s.role === role);

test('nothing is opened at startup; the first call fills only its server\'s pool', async () => {
  const before = await Promise.all(servers.map((s) => s.stats()));
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config: sidecarConfig(servers, { pool_size: 2 }) });
  try {
    const pools = (await request(`${sidecar.admin}/debug/pools`)).json;
    assert.equal(pools.servers.length, 4);
    for (const p of pools.servers) assert.equal(p.started, false, `${p.server} started before any call`);
    const idle = await Promise.all(servers.map((s) => s.stats()));
    assert.deepEqual(idle.map((s) => s.sessions_opened), before.map((s) => s.sessions_opened));

    const r = await callTool(sidecar, 'registry', 'ping');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.structuredContent, { ok: true });
    const registry = server('registry');
    const opened0 = before.find((s) => s.server === 'registry').sessions_opened;
    await until(async () => (await registry.stats()).sessions_opened === opened0 + 2, { what: 'two registry sessions' });
    const others = await Promise.all(servers.filter((s) => s.role !== 'registry').map((s) => s.stats()));
    for (const s of others)
      assert.equal(s.sessions_opened, before.find((b) => b.server === s.server).sessions_opened, `${s.server} was opened`);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('ready while every upstream is down', async () => {
  const sidecar = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    config: sidecarConfig([{ role: 'nowhere', url: 'http://127.0.0.1:1/mcp' }])
  });
  try {
    const ready = await request(`${sidecar.admin}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await request(`${sidecar.admin}/healthz`)).status, 200);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('calls are spread round-robin over the N sessions of a pool', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config: sidecarConfig(servers, { pool_size: 3 }) });
  try {
    assert.equal((await callTool(sidecar, 'pep', 'ping')).status, 200);
    await until(async () => {
      const pools = (await request(`${sidecar.admin}/debug/pools`)).json;
      const pep = pools.servers.find((p) => p.server === 'pep');
      return pep.sessions.filter((s) => s.state === 'ready').length === 3;
    }, { what: 'three ready pep sessions' });
    for (let i = 0; i < 9; i++) assert.equal((await callTool(sidecar, 'pep', 'ping')).status, 200);
    // Only this sidecar's sessions are open on pep: 10 calls over 3 sessions, round-robin.
    const stats = await server('pep').stats();
    assert.equal(stats.active_sessions, 3);
    assert.deepEqual([...stats.calls_per_session].sort(), [3, 3, 4]);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('one session carries many concurrent calls', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config: sidecarConfig(servers, { pool_size: 1 }) });
  try {
    const risk = server('risk');
    assert.equal((await callTool(sidecar, 'risk', 'ping')).status, 200);
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => callTool(sidecar, 'risk', 'sleep', { ms: 500 }, { 'X-Case-Id': `conc-${i}` }))
    );
    const elapsed = Date.now() - started;
    for (const r of replies) assert.equal(r.status, 200, r.body);
    const stats = await risk.stats();
    assert.equal(stats.active_sessions, 1);
    assert.deepEqual(stats.calls_per_session, [9]);
    // All eight were executing at the same moment on the server.
    assert.ok(stats.max_inflight >= 8, `max_inflight ${stats.max_inflight}`);
    assert.ok(elapsed < 8 * 500, `took ${elapsed} ms: the calls were serialized`);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});
