// Scaling out a session server: two replicas of one streamable-http (session revision) KYC server,
// each a "pod" of the server and its inbound gate, behind one address: haproxy in TCP mode, the
// stand-in for a Kubernetes Service (`balance source` is its `sessionAffinity: ClientIP`; health
// checks stand for the endpoints controller dropping a dead pod). An outbound sidecar calls
// through it. Affinity keeps every session on the replica that created it; without affinity
// sessions are lost (the negative control); a killed replica costs a re-initialize.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import {
  SIDECAR_BIN, callTool, freePort, metricValue, metrics, sidecarConfig, skipOrFail, startDaemon, startServer, startSidecar,
  until, waitForExit
} from './helpers.mjs';

const HAPROXY = '/usr/sbin/haproxy';
const CALL_TIMEOUT_S = 5;
// Every call started this long after a replica is killed must succeed. Measured: about 0.5 s
// (haproxy's health check takes the replica out within 2 x 200 ms; until then new sessions are
// routed to the dead replica and fail, the sidecar reports the server unavailable after three
// attempts and tries again after its backoff); the bound leaves room for a loaded machine.
const RECOVERY_MS = 3000;

const dir = fs.mkdtempSync('/tmp/it-scaling-');
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// One "pod": a sanctions server (sessions) and its inbound gate (no auth: only loopback).
async function replica(name) {
  const server = await startServer('sanctions', { dir: fs.mkdtempSync(`${dir}/${name}-`), testTools: true });
  cleanup.push(() => server.stop('SIGKILL'));
  const gate = await startSidecar({
    bin: SIDECAR_BIN, dir, name: `gate-${name}`, expectRoles: ['inbound', 'admin'],
    config: {
      inbound: { name: 'sanctions', listen: '127.0.0.1:0', forward_to: server.base },
      admin: { listen: '127.0.0.1:0' },
      shutdown: { delay_seconds: 0, grace_seconds: 2 }
    }
  });
  cleanup.push(() => gate.stop('SIGKILL'));
  return { name, server, gate };
}

const connects = (port) => new Promise((resolve) => {
  const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
  c.on('error', () => resolve(false));
});

// The "Service": haproxy in TCP mode on a free loopback port in front of the replicas' gates.
async function service(balance, replicas) {
  const port = await freePort();
  const name = `haproxy-${replicas.map((r) => r.name).join('-')}`;
  const config = `${dir}/${name}.cfg`;
  fs.writeFileSync(config, [
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A connection sent to a dead replica is closed at once (not retried: with `balance source`
    // a retry goes to the same replica); health checks take it out within 2 x 200 ms.
    '  retries 0',
    'frontend service',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    'backend replicas',
    `  balance ${balance}`,
    ...replicas.map((r) => `  server ${r.name} ${r.gate.addresses.inbound} check inter 200ms fall 2 rise 1`),
    ''
  ].join('\n'));
  const haproxy = await startDaemon(HAPROXY, ['-db', '-f', config], { dir, name, ready: () => connects(port) });
  cleanup.push(() => haproxy.stop());
  return { ...haproxy, url: `http://127.0.0.1:${port}/mcp` };
}

// The outbound sidecar calling the Service: two sessions, a short heartbeat, short timeouts.
async function caller(svc, name) {
  const sc = await startSidecar({
    bin: SIDECAR_BIN, dir, name,
    config: sidecarConfig([{ role: 'sanctions', url: svc.url }], {
      pool_size: 2,
      call_timeout_seconds: CALL_TIMEOUT_S,
      connect_timeout_seconds: 1,
      session_open_timeout_seconds: 1,
      retry: { max_attempts: 3, base_delay_ms: 50, max_delay_ms: 400 },
      heartbeat_interval_seconds: 0.5,
      heartbeat_timeout_seconds: 1
    })
  });
  cleanup.push(() => sc.stop('SIGKILL'));
  return sc;
}

// One call of the non-idempotent `sleep` tool, timed; a reply later than the call timeout (plus
// slack) counts as a hang. Resolves {started, ended, status, code}.
async function timedCall(sc, ms, caseId) {
  const started = Date.now();
  try {
    const r = await callTool(sc, 'sanctions', 'sleep', { ms }, { 'X-Case-Id': caseId });
    return { started, ended: Date.now(), status: r.status, code: r.json?.error?.code };
  } catch (e) {
    return { started, ended: Date.now(), status: 'hang', code: e.message };
  }
}

// `workers` concurrent callers, each starting calls until `done(answered, started)` says stop.
async function load(sc, { workers, done, ms = 10 }) {
  const calls = [];
  let started = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!done(calls, started)) calls.push(await timedCall(sc, ms, `scale-${started++}`));
  }));
  return calls;
}

// The sidecar's session evictions, every reason it reported: {reason: count}.
const evictions = (m) => Object.fromEntries([...m.matchAll(/^mcp_sidecar_session_evictions_total\{(.*)\} (\S+)$/gm)]
  .map(([, labels, v]) => [labels.match(/reason="([^"]*)"/)[1], Number(v)]));
const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
const failures = (calls) => calls.filter((c) => c.status !== 200);
const tally = (calls) => calls.reduce((t, c) => ({ ...t, [c.code ?? c.status]: (t[c.code ?? c.status] ?? 0) + 1 }), {});

function needHaproxy(t) {
  if (fs.existsSync(HAPROXY)) return true;
  skipOrFail(t, `${HAPROXY} is missing (Debian package haproxy)`);
  return false;
}

// Contract (affinity, steady state): with `balance source` every connection of the sidecar
// reaches the same replica, so 200 calls, four at a time, all succeed; no session is ever
// evicted (no 404 session-not-found, no retry); one replica holds all the pool's sessions and ran
// every call, the other saw no MCP traffic at all.
test('affinity: a steady stream of calls through the Service never loses a session', async (t) => {
  if (!needHaproxy(t)) return;
  const replicas = [await replica('a1'), await replica('a2')];
  const sc = await caller(await service('source', replicas), 'caller-affinity');

  const calls = await load(sc, { workers: 4, done: (_, started) => started >= 200 });
  assert.deepEqual(failures(calls), []);
  const m = await metrics(sc);
  console.log(`affinity: ${calls.length} calls, 0 failed; evictions ${JSON.stringify(evictions(m))}`);
  assert.deepEqual(evictions(m), {});
  assert.equal(metricValue(m, 'mcp_sidecar_retries_total', { server: 'sanctions' }) ?? 0, 0);
  assert.equal(metricValue(m, 'mcp_sidecar_session_opens_total', { server: 'sanctions', outcome: 'ok' }), 2);

  const stats = await Promise.all(replicas.map((r) => r.server.stats()));
  const [holder, idle] = stats[0].sessions_opened ? stats : [...stats].reverse();
  assert.equal(holder.sessions_opened, 2);
  assert.equal(holder.executions.sleep, calls.length);
  assert.equal(idle.sessions_opened, 0);
  assert.deepEqual(idle.methods, {}, 'the other replica saw MCP traffic');
});

// Contract (negative control, no affinity): with `balance roundrobin` the sidecar's several
// connections reach both replicas, so requests of a session land on the replica that never
// created it: 404 session-not-found, seen as `session_gone` evictions and retries in the sidecar's
// metrics, and sessions opened on both replicas. The sidecar recovers most calls (a 404 proves
// the call never ran, so it is re-sent on a new session); failures are counted, not forbidden.
// Proves the affinity test above can fail.
test('no affinity (negative control): sessions land on the wrong replica and are evicted', async (t) => {
  if (!needHaproxy(t)) return;
  const replicas = [await replica('b1'), await replica('b2')];
  const sc = await caller(await service('roundrobin', replicas), 'caller-roundrobin');

  const calls = await load(sc, { workers: 4, done: (_, started) => started >= 200 });
  const m = await metrics(sc);
  const lost = evictions(m);
  console.log(`no affinity: ${calls.length} calls, ${failures(calls).length} failed ${JSON.stringify(tally(failures(calls)))}; ` +
    `evictions ${JSON.stringify(lost)}; retries ${metricValue(m, 'mcp_sidecar_retries_total', { server: 'sanctions' }) ?? 0}`);
  assert.ok(lost.session_gone >= 1, `no session_gone eviction: ${JSON.stringify(lost)}`);
  assert.ok(metricValue(m, 'mcp_sidecar_retries_total', { server: 'sanctions' }) >= 1);
  const stats = await Promise.all(replicas.map((r) => r.server.stats()));
  for (const s of stats) assert.ok(s.sessions_opened >= 1, 'both replicas got sessions');
  // Whatever failed, failed cleanly.
  for (const c of failures(calls)) assert.ok([503, 504].includes(c.status) && c.code, JSON.stringify(c));
});

// Contract (affinity, recovery): calls flow four at a time (the tool takes 100 ms, so calls are
// always in flight); the replica holding the sessions is SIGKILLed, server and gate. Each call
// gets exactly one answer: a success, or one clean error (503/504 with an error code): the calls
// in flight at the kill (their tool is not idempotent, so they are not sent again), and calls
// started while the Service still routes new sessions to the dead replica (refused at once with
// a 503, not queued). None hangs past the call timeout (5 s). Every call started later
// than RECOVERY_MS (3 s) after the kill succeeds, through the other replica, on sessions opened
// there (a re-initialize); the sidecar's metrics show the evictions and the new sessions.
test('affinity: a killed replica costs a re-initialize, then every call succeeds on the other one', async (t) => {
  if (!needHaproxy(t)) return;
  const replicas = [await replica('c1'), await replica('c2')];
  const sc = await caller(await service('source', replicas), 'caller-recovery');

  for (let i = 0; i < 10; i++) assert.equal((await timedCall(sc, 1, `warm-${i}`)).status, 200);
  const stats = await Promise.all(replicas.map((r) => r.server.stats()));
  const victim = replicas[stats.findIndex((s) => s.sessions_opened > 0)];
  const survivor = replicas.find((r) => r !== victim);
  assert.equal((await survivor.server.stats()).sessions_opened, 0);
  const opensBefore = metricValue(await metrics(sc), 'mcp_sidecar_session_opens_total', { server: 'sanctions', outcome: 'ok' });

  let killedAt;
  let giveUp = false;
  const loading = load(sc, {
    workers: 4,
    ms: 100,
    // Runs until 100 calls started after the recovery bound have answered (or the test failed).
    done: (calls) => giveUp || (killedAt !== undefined &&
      (calls.filter((c) => c.started > killedAt + RECOVERY_MS).length >= 100 || Date.now() > killedAt + 30000))
  });
  try {
    await until(async () => (await victim.server.stats()).inflight >= 2, { what: 'calls in flight on the victim' });
  } catch (e) {
    giveUp = true;
    await loading;
    throw e;
  }
  killedAt = Date.now();
  victim.server.proc.kill('SIGKILL');
  victim.gate.proc.kill('SIGKILL');
  await Promise.all([waitForExit(victim.server.proc, 5000), waitForExit(victim.gate.proc, 5000)]);
  const calls = await loading;

  const inFlight = calls.filter((c) => c.started <= killedAt && c.ended >= killedAt);
  const failed = failures(calls);
  const late = calls.filter((c) => c.started > killedAt + RECOVERY_MS);
  const lastFailure = Math.max(0, ...failed.map((c) => c.started - killedAt));
  const slowest = Math.max(...calls.map((c) => c.ended - c.started));
  const m = await metrics(sc);
  const opensAfter = metricValue(m, 'mcp_sidecar_session_opens_total', { server: 'sanctions', outcome: 'ok' });
  const inFlightAnswered = Math.max(...inFlight.map((c) => c.ended - killedAt));
  console.log(`recovery: ${calls.length} calls, ${inFlight.length} in flight at the kill (answered within ` +
    `${inFlightAnswered} ms: ${JSON.stringify(tally(inFlight))}), ${failed.length} failed ` +
    `${JSON.stringify(tally(failed))}, the last failed one started ${lastFailure} ms after the kill; slowest call ` +
    `${slowest} ms; evictions ${JSON.stringify(evictions(m))}; sessions opened ${opensBefore} -> ${opensAfter}`);

  assert.ok(inFlight.length >= 2, 'no call was in flight at the kill');
  for (const c of failed) assert.ok([503, 504].includes(c.status) && c.code, `not a clean error: ${JSON.stringify(c)}`);
  assert.ok(slowest < (CALL_TIMEOUT_S + 1) * 1000, `a call took ${slowest} ms`);
  assert.ok(failed.every((c) => c.started <= killedAt + RECOVERY_MS), `a call failed ${lastFailure} ms after the kill`);
  assert.ok(late.length >= 100, `only ${late.length} calls after the recovery bound`);
  assert.deepEqual(failures(late), []);
  assert.ok(sum(evictions(m)) >= 1, 'no eviction after the kill');
  assert.ok(opensAfter > opensBefore, 'no session opened after the kill');
  const survived = await survivor.server.stats();
  assert.ok(survived.sessions_opened >= 1, 'no session on the survivor');
  assert.ok(survived.executions.sleep >= late.length, 'the calls after the kill did not run on the survivor');
});
