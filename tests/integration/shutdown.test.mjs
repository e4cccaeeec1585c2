// Clean shutdown: not ready -> still serving local calls for shutdown.delay -> stop accepting ->
// in-flight calls finish within the grace period (the rest are cancelled with a 503) -> every
// upstream session closed with DELETE -> exit 0, with no error lines on either side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ROLES, SIDECAR_BIN, callTool, request, sidecarConfig, startServer, startSidecar, until, waitForExit } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-shutdown-');
let servers;
before(async () => {
  servers = await Promise.all(ROLES.map((role) => startServer(role, { dir, testTools: true })));
});
after(async () => {
  const codes = await Promise.all(servers.map((s) => s.stop()));
  assert.deepEqual(codes, [0, 0, 0, 0]);
  for (const s of servers) {
    const stderr = fs.readFileSync(path.join(dir, `${s.role}.stderr`), 'utf8');
    assert.equal(stderr, '', `${s.role} wrote to stderr`);
    const bad = s.logLines().filter((l) => /error|warn/i.test(l.event) || l.unparsed);
    assert.deepEqual(bad, [], `${s.role} logged problems`);
  }
});

async function sessionTotals() {
  const stats = await Promise.all(servers.map((s) => s.stats()));
  return {
    opened: stats.reduce((n, s) => n + s.sessions_opened, 0),
    deleted: stats.reduce((n, s) => n + s.sessions_deleted, 0),
    active: stats.reduce((n, s) => n + s.active_sessions, 0)
  };
}

function errorLines(sidecar) {
  return sidecar.logLines().filter((l) => l.level === 'error' || l.unparsed);
}

test('SIGTERM: in-flight calls finish, local calls are served during the delay, every session is DELETEd, exit 0', async () => {
  const base = await sessionTotals();
  const sidecar = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'term',
    config: sidecarConfig(servers, { pool_size: 2 }, { shutdown: { delay_seconds: 1.5, grace_seconds: 10 } })
  });
  for (const s of servers) assert.equal((await callTool(sidecar, s.role, 'ping')).status, 200);
  await until(async () => (await sessionTotals()).opened - base.opened === 8, { what: 'eight sessions open' });

  const risk = servers.find((s) => s.role === 'risk');
  const before = (await risk.stats()).executions.sleep ?? 0;
  const inflight = callTool(sidecar, 'risk', 'sleep', { ms: 1000 }, { 'X-Case-Id': 'drain-1' });
  await until(async () => ((await risk.stats()).executions.sleep ?? 0) > before, { what: 'the sleep call to start' });
  const t0 = Date.now();
  sidecar.proc.kill('SIGTERM');

  // Not ready at once, but the application in the pod still gets its calls served.
  await until(async () => (await request(`${sidecar.admin}/readyz`)).status === 503, { what: 'readyz 503' });
  const late = await callTool(sidecar, 'pep', 'ping');
  assert.equal(late.status, 200, 'a call during the shutdown delay was refused');
  assert.ok(Date.now() - t0 < 1500, 'the check ran after the delay; make the delay longer');

  const finished = await inflight;
  assert.equal(finished.status, 200, finished.body);
  assert.equal(await waitForExit(sidecar.proc, 20000), 0);
  const totals = await sessionTotals();
  assert.equal(totals.opened - base.opened, 8);
  assert.equal(totals.deleted - base.deleted, 8, 'every session opened was closed with DELETE');
  assert.equal(totals.active, base.active);
  assert.deepEqual(errorLines(sidecar), []);
  const events = sidecar.logLines().map((l) => l.event);
  assert.ok(events.includes('shutdown_started') && events.includes('shutdown_complete'));
});

test('SIGINT behaves the same', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'int', config: sidecarConfig(servers) });
  assert.equal((await callTool(sidecar, 'registry', 'ping')).status, 200);
  assert.equal(await sidecar.stop('SIGINT'), 0);
  assert.deepEqual(errorLines(sidecar), []);
});

test('a call still running after the grace period is cancelled with a 503, and its session is still DELETEd', async () => {
  const base = await sessionTotals();
  const sidecar = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'grace',
    config: sidecarConfig(servers, { pool_size: 1 }, { shutdown: { delay_seconds: 0, grace_seconds: 0.3 } })
  });
  assert.equal((await callTool(sidecar, 'risk', 'ping')).status, 200);
  const risk = servers.find((s) => s.role === 'risk');
  const before = (await risk.stats()).executions.sleep ?? 0;
  const long = callTool(sidecar, 'risk', 'sleep', { ms: 5000 }, { 'X-Case-Id': 'too-long' });
  await until(async () => ((await risk.stats()).executions.sleep ?? 0) > before, { what: 'the sleep call to start' });
  const t0 = Date.now();
  sidecar.proc.kill('SIGTERM');
  const r = await long;
  assert.equal(r.status, 503, r.body);
  assert.equal(r.json.error.code, 'cancelled');
  assert.equal(await waitForExit(sidecar.proc, 20000), 0);
  assert.ok(Date.now() - t0 < 3000, `shutdown took ${Date.now() - t0} ms`);
  const totals = await sessionTotals();
  assert.equal(totals.deleted - base.deleted, totals.opened - base.opened);
  assert.deepEqual(errorLines(sidecar), []);
});
