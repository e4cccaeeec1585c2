// Fault injection on loopback: the real sidecar (outbound role, and behind it the inbound gate
// where a second hop changes what the caller sees) in front of the chaos upstream
// (chaos_upstream.mjs), which breaks responses at chosen bytes and counts every tool execution.
// Each case checks its written contract (docs/reliability.md): the answer, its time, the
// executions, and the pool's recovery. Last, a network partition between namespaces.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  SIDECAR_BIN, hasCommand, metricValue, metrics, request, sidecarConfig, skipOrFail, startSidecar, until
} from './helpers.mjs';
import { Session } from './mcp_raw.mjs';
import { remoteChaos, startChaos } from './chaos_upstream.mjs';
import { waitForJsonLine } from '../../examples/kyc/launch.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync('/tmp/it-faults-');
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// Small timeouts, backoff and heartbeat so that every case settles in a few seconds.
const CALL_TIMEOUT_MS = 1500;
const POOL_SIZE = 2;
const FAST = {
  pool_size: POOL_SIZE,
  call_timeout_seconds: CALL_TIMEOUT_MS / 1000,
  connect_timeout_seconds: 0.5,
  session_open_timeout_seconds: 1,
  retry: { max_attempts: 3, base_delay_ms: 50, max_delay_ms: 400 },
  heartbeat_interval_seconds: 0.5,
  heartbeat_timeout_seconds: 0.5
};
// A call may answer this much after its timeout (scheduling, a 3-5x slower sanitizer build).
const TOLERANCE_MS = 1000;
// A fault the sidecar sees at once (a reset, a 500, a refused connection) is answered within this.
const FAST_MS = 750;
// After a fault stops, the pool is whole again within this.
const RECOVERY_MS = 8000;
const TOKEN = 'faults-0123456789abcdef0123456789abcdef';

// ---------------------------------------------------------------------------------------------
// Fixtures and the contract every case checks
// ---------------------------------------------------------------------------------------------

async function chaos(options) {
  const c = await startChaos(options);
  cleanup.push(() => c.close());
  return c;
}

// Every sidecar process started here (outbound and gates), checked at the end.
const processes = [];

let sidecars = 0;
// An outbound sidecar with one server, `chaos`, at `url`. `wrap`: {bin, argsPrefix} to run it
// through another program (unshare).
async function sidecar(url, { transport = 'streamable-http', outbound = {}, server = {}, wrap } = {}) {
  const config = sidecarConfig([], { ...FAST, ...outbound });
  config.outbound.servers = [{ name: 'chaos', url, transport, ...server }];
  const sc = await startSidecar({ bin: wrap?.bin ?? SIDECAR_BIN, argsPrefix: wrap?.argsPrefix, dir,
    name: `sidecar-${++sidecars}`, config, env: { MCP_BEARER_TOKEN: TOKEN } });
  cleanup.push(() => sc.stop('SIGKILL'));
  processes.push(sc);
  return sc;
}

// The inbound gate in front of `upstream` (bearer auth, the outbound sidecar's token); returns
// it with .url, its MCP endpoint.
async function gate(upstream, inbound = {}, rest = {}) {
  const g = await startSidecar({ bin: SIDECAR_BIN, dir, name: `gate-${++sidecars}`, expectRoles: ['inbound', 'admin'],
    env: { MCP_BEARER_TOKEN: TOKEN },
    config: {
      inbound: { name: 'chaos', listen: '127.0.0.1:0', forward_to: upstream.base, require_auth: true,
        connect_timeout_seconds: 0.5, ...inbound },
      admin: { listen: '127.0.0.1:0' },
      shutdown: { delay_seconds: 0, grace_seconds: 2 },
      ...rest
    } });
  cleanup.push(() => g.stop('SIGKILL'));
  processes.push(g);
  const scheme = inbound.auth?.tls ? 'https' : 'http';
  g.url = `${scheme}://${g.addresses.inbound.replace('127.0.0.1', 'localhost')}/mcp`;
  return g;
}

// One REST call of `tool` with {key}; never throws: a call left without an HTTP answer is
// recorded with status 0.
async function call(sc, tool, key) {
  const t0 = performance.now();
  const r = await request(`${sc.outbound}/v1/servers/chaos/tools/${tool}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-case-id': key }, body: { key },
    timeoutMs: CALL_TIMEOUT_MS + TOLERANCE_MS + 5000
  }).catch((e) => ({ status: 0, error: e.message }));
  return { key, tool, ms: performance.now() - t0, status: r.status, code: r.json?.error?.code,
    message: r.json?.error?.message ?? r.error, retryAfter: r.headers?.['retry-after'], result: r.json?.structuredContent };
}

// What holds under every fault (docs/reliability.md): each call got one HTTP answer, never later
// than its timeout allows; a non-idempotent tool never ran twice, and one answered 200 ran
// exactly once; an idempotent one ran at most twice (resent once when its answer was lost); every
// failure is a JSON error with a code. (Retry-After on every 503: its own test, below.)
async function assertContract(calls, upstream, timeoutMs = CALL_TIMEOUT_MS) {
  const { executions } = await upstream.stats();
  for (const c of calls) {
    const ran = executions[c.key] ?? 0;
    assert.ok(c.status >= 200, `${c.key}: no HTTP answer (${c.message})`);
    assert.ok(c.ms <= timeoutMs + TOLERANCE_MS, `${c.key} answered after ${Math.round(c.ms)} ms (timeout ${timeoutMs} ms)`);
    assert.ok(ran <= (c.tool === 'work' ? 1 : 2), `${c.key} (${c.tool}) ran ${ran} times`);
    if (c.status === 200) {
      assert.ok(ran >= 1, `${c.key} answered 200 but never ran`);
      assert.equal(c.result?.key, c.key, `${c.key} got another call's result`);
    } else {
      assert.equal(typeof c.code, 'string', `${c.key}: ${c.status} without a JSON error`);
    }
  }
}

const poolOf = async (sc) => (await request(`${sc.admin}/debug/pools`)).json.servers.find((p) => p.server === 'chaos');
const readySessions = async (sc) => (await poolOf(sc)).sessions.filter((s) => s.state === 'ready').length;

// Recovery, as a caller sees it: calls until one succeeds (each held to the contract), then
// the pool whole again in /debug/pools and the metrics. Returns the ms until the first success.
async function untilRecovered(sc, upstream, prefix, timeoutMs = RECOVERY_MS) {
  const t0 = performance.now();
  const calls = [];
  try {
    await until(async () => {
      const c = await call(sc, 'work', `${prefix}-recover-${calls.length}`);
      calls.push(c);
      return c.status === 200;
    }, { timeoutMs, intervalMs: 50, what: `${prefix}: a call to succeed again` });
  } catch (e) {
    e.message += `; the last answer: ${JSON.stringify(calls.at(-1))}`;
    throw e;
  }
  const recovered = performance.now() - t0;
  await assertContract(calls, upstream);
  await until(async () => (await readySessions(sc)) === POOL_SIZE, { timeoutMs, what: `${prefix}: every session ready` });
  const m = await metrics(sc);
  assert.equal(metricValue(m, 'mcp_sidecar_pool_sessions', { server: 'chaos', state: 'ready' }), POOL_SIZE);
  return Math.round(recovered);
}

// The dev PKI (certs-dev/make-certs.sh), made once.
let pkiDir;
function pki() {
  if (!pkiDir) {
    pkiDir = path.join(dir, 'pki');
    execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pkiDir], { stdio: 'ignore' });
  }
  return pkiDir;
}
const pem = (name) => ({ cert: fs.readFileSync(`${pki()}/${name}.crt`), key: fs.readFileSync(`${pki()}/${name}.key`) });

// A server certificate for localhost from the dev CA valid from a minute ago for `seconds`
// (openssl ca: the only openssl 3.0 command that takes validity to the second). Returns
// {cert, key} file paths and notAfter (ms since the epoch).
function issueShortLived(name, seconds) {
  const d = fs.mkdtempSync(path.join(dir, `${name}-`));
  fs.writeFileSync(`${d}/index.txt`, '');
  fs.writeFileSync(`${d}/serial`, `${Date.now().toString(16).padStart(16, '0')}\n`);
  fs.writeFileSync(`${d}/ca.cnf`, [
    '[ca]', 'default_ca = short', '[short]', `database = ${d}/index.txt`, `new_certs_dir = ${d}`, `serial = ${d}/serial`,
    'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied',
    '[leaf]', 'basicConstraints = critical,CA:FALSE', 'extendedKeyUsage = serverAuth',
    'subjectAltName = DNS:localhost,IP:127.0.0.1'].join('\n'));
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${d}/key.pem`);
  openssl('req', '-new', '-key', `${d}/key.pem`, '-subj', `/CN=${name}`, '-out', `${d}/req.csr`);
  const notAfter = (Math.floor(Date.now() / 1000) + seconds) * 1000;
  const asn1 = (ms) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  openssl('ca', '-batch', '-config', `${d}/ca.cnf`, '-extensions', 'leaf', '-cert', `${pki()}/ca.crt`,
    '-keyfile', `${pki()}/ca.key`, '-startdate', asn1(Date.now() - 60000), '-enddate', asn1(notAfter),
    '-in', `${d}/req.csr`, '-out', `${d}/cert.pem`, '-notext');
  return { cert: `${d}/cert.pem`, key: `${d}/key.pem`, notAfter };
}

// Puts `file` at `dest` in one step, as a Kubernetes Secret update does.
function replace(file, dest) {
  fs.copyFileSync(file, `${dest}.tmp`);
  fs.renameSync(`${dest}.tmp`, dest);
}

// ---------------------------------------------------------------------------------------------
// 1. Responses broken at a chosen byte, for both revisions, directly and through the gate.
// ---------------------------------------------------------------------------------------------

// What the caller gets for each broken response. `timeout`: cut at the call timeout (504);
// otherwise answered within FAST_MS. `ran`: executions of the call's key afterwards.
const RESPONSE_FAULTS = [
  { fault: 'drip', tool: 'work', status: 504, code: 'timeout', ran: 1, timeout: true },
  { fault: 'drip', tool: 'work_idempotent', status: 504, code: 'timeout', ran: 1, timeout: true },
  { fault: 'drip_body', tool: 'work', status: 504, code: 'timeout', ran: 1, timeout: true },
  { fault: 'drip_body', tool: 'work_idempotent', status: 504, code: 'timeout', ran: 1, timeout: true },
  { fault: 'reset', tool: 'work', status: 503, code: 'upstream_unavailable', ran: 1 },
  { fault: 'reset', tool: 'work_idempotent', status: 200, ran: 2 },
  { fault: 'half_body', tool: 'work', status: 503, code: 'upstream_unavailable', ran: 1 },
  { fault: 'half_body', tool: 'work_idempotent', status: 200, ran: 2 },
  { fault: 'http_500', tool: 'work', status: 503, code: 'upstream_unavailable', ran: 0 },
  { fault: 'http_500', tool: 'work_idempotent', status: 200, ran: 1 }
];

const PATHS = [
  { era: 'streamable-http', via: 'direct' },
  { era: 'stateless', via: 'direct' },
  { era: 'streamable-http', via: 'gate' },
  { era: 'stateless', via: 'gate' }
];

// Each path's chaos + sidecar (+ gate), made on first use and shared by its rows.
const paths = new Map();
async function pathFixture({ era, via }) {
  const name = `${era}/${via}`;
  if (!paths.has(name)) {
    paths.set(name, (async () => {
      const upstream = await chaos();
      const g = via === 'gate' ? await gate(upstream) : null;
      const sc = await sidecar(g ? g.url : upstream.url, { transport: era });
      const warm = await call(sc, 'work', `${era}-${via}-warm`);
      assert.equal(warm.status, 200, warm.message);
      return { upstream, sc };
    })());
  }
  return paths.get(name);
}

describe('broken responses', { concurrency: true }, () => {
  for (const p of PATHS) {
    describe(`${p.era} ${p.via === 'gate' ? 'through the inbound gate' : 'directly'}`, { concurrency: 1 }, () => {
      for (const row of RESPONSE_FAULTS) {
        const what = row.status === 200 ? `resent once, 200` : `${row.status} ${row.code}${row.timeout ? ' at the call timeout' : ' at once'}`;
        test(`${row.fault} on ${row.tool}: ${what}, ran ${row.ran}x, the next call succeeds`, async () => {
          const { upstream, sc } = await pathFixture(p);
          const key = `${p.era}-${p.via}-${row.fault}-${row.tool}`.replace(/_/g, '-');
          const dripsBefore = (await upstream.stats()).drips_abandoned_ms.length;
          upstream.setFault({ kind: row.fault, count: 1 });
          const c = await call(sc, row.tool, key);
          upstream.setFault();
          assert.equal(c.status, row.status, JSON.stringify(c));
          if (row.code) assert.equal(c.code, row.code, c.message);
          assert.equal(upstream.executions(key), row.ran);
          if (row.timeout) {
            assert.ok(c.ms >= CALL_TIMEOUT_MS - 50, `gave up early, after ${Math.round(c.ms)} ms`);
            // The dripping connection is dropped (by the sidecar, or by the gate once the sidecar left).
            await until(async () => (await upstream.stats()).drips_abandoned_ms.length > dripsBefore,
              { timeoutMs: 3000, what: 'the dripping connection to be closed' });
            const heldFor = (await upstream.stats()).drips_abandoned_ms.at(-1);
            assert.ok(heldFor <= CALL_TIMEOUT_MS + TOLERANCE_MS, `the dripping connection was held ${heldFor} ms`);
            console.log(`${key}: ${c.status} after ${Math.round(c.ms)} ms, the upstream connection closed after ${heldFor} ms`);
          } else {
            assert.ok(c.ms < FAST_MS, `answered after ${Math.round(c.ms)} ms`);
            console.log(`${key}: ${c.status} after ${Math.round(c.ms)} ms`);
          }
          const next = await call(sc, row.tool, `${key}-next`);
          assert.equal(next.status, 200, JSON.stringify(next));
          await assertContract([c, next], upstream);
          await until(async () => (await readySessions(sc)) === POOL_SIZE, { timeoutMs: RECOVERY_MS, what: 'every session ready' });
        });
      }
    });
  }
});

test('every 503 upstream_unavailable says when to come back (Retry-After), whatever broke', async () => {
  const upstream = await chaos();
  const sc = await sidecar(upstream.url);
  const answers = {};
  for (const kind of ['reset', 'half_body', 'http_500', 'session_gone']) {
    upstream.setFault({ kind, method: kind === 'session_gone' ? '*' : 'tools/call' });
    answers[kind] = await call(sc, 'work', `retry-after-${kind}`.replace(/_/g, '-'));
    upstream.setFault();
    await untilRecovered(sc, upstream, `retry-after-${kind}`.replace(/_/g, '-'));
  }
  for (const [kind, c] of Object.entries(answers)) {
    assert.equal(c.status, 503, `${kind}: ${JSON.stringify(c)}`);
    assert.ok(Number(c.retryAfter) >= 1, `${kind}: 503 ${c.code} without Retry-After`);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. A storm of 404 session-not-found.
// ---------------------------------------------------------------------------------------------

// Drives `n` REST calls, `workers` at a time, alternating the two tools; returns them.
async function drive(sc, prefix, { n, workers = 4, pauseMs = 0 }) {
  const calls = [];
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (next < n) {
      const i = next++;
      calls.push(await call(sc, i % 2 ? 'work' : 'work_idempotent', `${prefix}-${i}`));
      if (pauseMs) await new Promise((r) => setTimeout(r, Math.random() * pauseMs));
    }
  }));
  return calls;
}

for (const via of ['directly', 'through the inbound gate']) {
  test(`404 storm ${via}: half the requests find their session forgotten; calls are resent on fresh sessions, none runs twice, the MCP endpoint's clients never see a 404`, async () => {
    const upstream = await chaos();
    const g = via === 'directly' ? null : await gate(upstream);
    const sc = await sidecar(g ? g.url : upstream.url);
    const prefix = `storm-${g ? 'gate' : 'direct'}`;
    assert.equal((await call(sc, 'work', `${prefix}-warm`)).status, 200);
    // An application using the MCP endpoint, with a session of its own at the sidecar.
    const client = new Session(`${sc.outbound}/mcp/chaos`);
    assert.equal((await client.open()).status, 200);

    upstream.setFault({ kind: 'session_gone', probability: 0.5 });
    const mcpCalls = [];
    const [calls] = await Promise.all([
      drive(sc, prefix, { n: 40 }),
      (async () => {
        for (let i = 0; i < 10; i++) {
          const key = `${prefix}-mcp-${i}`;
          const t0 = performance.now();
          const { r, answer } = await client.request('tools/call', { name: 'work', arguments: { key } });
          mcpCalls.push({ key, ms: performance.now() - t0, r, answer });
        }
      })()
    ]);
    upstream.setFault();
    const stormed = (await upstream.stats()).sessions_forgotten;

    await assertContract(calls, upstream);
    // Each call is sent until it runs, pool_size + 1 times at most (an idempotent one: once
    // more); every send that failed was a 404, so a failed call ran nowhere.
    const { executions, refusals } = await upstream.stats();
    const sends = (tool) => POOL_SIZE + (tool === 'work' ? 1 : 2);
    for (const c of calls) {
      const refused = refusals[c.key] ?? 0;
      if (c.status === 200) {
        assert.equal(executions[c.key], 1, `${c.key} ran ${executions[c.key]} times`);
        assert.ok(refused < sends(c.tool), `${c.key} succeeded after ${refused} refusals`);
      } else {
        assert.equal(c.status, 503, JSON.stringify(c));
        assert.equal(c.code, 'upstream_unavailable');
        assert.equal(executions[c.key] ?? 0, 0, `${c.key} failed but ran`);
        assert.equal(refused, sends(c.tool), `${c.key} failed after ${refused} sends`);
      }
    }
    for (const m of mcpCalls) {
      assert.equal(m.r.status, 200, `the sidecar's own session must outlive the upstream's: ${m.r.status} ${m.r.body}`);
      assert.ok(m.answer && ('result' in m.answer) !== ('error' in m.answer), `${m.key}: not one answer: ${m.r.body}`);
      assert.ok(m.ms <= CALL_TIMEOUT_MS + TOLERANCE_MS, `${m.key} answered after ${Math.round(m.ms)} ms`);
      assert.equal(executions[m.key] ?? 0, m.answer.result ? 1 : 0, `${m.key}: ${m.r.body}`);
    }
    const resent = calls.filter((c) => c.status === 200 && refusals[c.key]).length;
    assert.ok(resent >= 5, `only ${resent} calls succeeded after a 404`);
    const ok = calls.filter((c) => c.status === 200).length + mcpCalls.filter((m) => m.answer.result).length;
    const m = await metrics(sc);
    assert.ok(metricValue(m, 'mcp_sidecar_session_evictions_total', { server: 'chaos', reason: 'session_gone' }) >= 1);
    assert.ok(metricValue(m, 'mcp_sidecar_retries_total', { server: 'chaos' }) >= 1);
    const recovery = await untilRecovered(sc, upstream, prefix);
    console.log(`404 storm ${via}: ${stormed} sessions forgotten, ${ok}/50 calls succeeded (${resent} of them after a 404), ` +
      `slowest answer ${Math.round(Math.max(...calls.map((c) => c.ms), ...mcpCalls.map((c) => c.ms)))} ms; first success ${recovery} ms after the storm`);
  });
}

// How many 404s in a row one call survives: a request refused with 404 was not run, so it is sent
// again on another session, pool_size + 1 times in all; an idempotent tool gets one try more.
const IN_A_ROW = [
  { tool: 'work', n: POOL_SIZE, status: 200, ran: 1 },
  { tool: 'work', n: POOL_SIZE + 1, status: 503, ran: 0 },
  { tool: 'work_idempotent', n: POOL_SIZE + 1, status: 200, ran: 1 },
  { tool: 'work_idempotent', n: POOL_SIZE + 2, status: 503, ran: 0 }
];
test(`404s in a row: a call is sent on a fresh session up to pool_size + 1 = ${POOL_SIZE + 1} times (idempotent: once more), then 503; it never ran twice`, async () => {
  const upstream = await chaos();
  const sc = await sidecar(upstream.url, { outbound: { heartbeat_interval_seconds: 0 } });
  assert.equal((await call(sc, 'work', 'row-warm')).status, 200);
  for (const { tool, n, status, ran } of IN_A_ROW) {
    const key = `row-${tool}-${n}`.replace(/_/g, '-');
    await until(async () => (await readySessions(sc)) === POOL_SIZE, { what: 'every session ready' });
    upstream.setFault({ kind: 'session_gone', count: n });
    const c = await call(sc, tool, key);
    upstream.setFault();
    assert.equal(c.status, status, `${tool} after ${n} 404s: ${JSON.stringify(c)}`);
    assert.equal(upstream.executions(key), ran, key);
    assert.ok(c.ms < FAST_MS, `${key} answered after ${Math.round(c.ms)} ms`);
    await assertContract([c], upstream);
  }
});

test('an evicted session the server may still hold is ended with DELETE (no orphans upstream)', async () => {
  const upstream = await chaos();
  const sc = await sidecar(upstream.url, { outbound: { heartbeat_interval_seconds: 0 } });
  assert.equal((await call(sc, 'work', 'orphan-warm')).status, 200);
  upstream.setFault({ kind: 'reset', count: 1 });
  assert.equal((await call(sc, 'work', 'orphan-reset')).status, 503);
  await until(async () => (await readySessions(sc)) === POOL_SIZE, { what: 'the pool refilled' });
  await until(async () => (await upstream.stats()).sessions === POOL_SIZE,
    { timeoutMs: 3000, what: `the server to hold only the pool's ${POOL_SIZE} sessions` });
});

// ---------------------------------------------------------------------------------------------
// 3. Kept-alive connections closed by the server.
// ---------------------------------------------------------------------------------------------

for (const era of ['streamable-http', 'stateless']) {
  test(`${era}: a server that closes every connection after its response (Connection: close): none is reused, every call succeeds`, async () => {
    const upstream = await chaos();
    const sc = await sidecar(upstream.url, { transport: era });
    upstream.setFault({ kind: 'close_after_response', announce: true });
    const calls = [];
    for (let i = 0; i < 20; i++) calls.push(await call(sc, i % 2 ? 'work' : 'work_idempotent', `announced-${era}-${i}`));
    upstream.setFault();
    await assertContract(calls, upstream);
    assert.deepEqual(calls.filter((c) => c.status !== 200), []);
    assert.ok((await upstream.stats()).connections_opened >= 20, 'connections were reused');
    assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_retries_total', { server: 'chaos' }) ?? 0, 0, 'a call was resent');
  });

  // Without the header the client learns of the close only from the FIN, which may come after
  // it sent its next request: then that request is lost with the connection. What the server
  // may safely get twice (a session's initialized notification, a ping, an idempotent call) is
  // sent again on a new connection; only a non-idempotent call may fail, with 503.
  test(`${era}: a server that closes every connection right after its response, unannounced: sessions open, idempotent calls succeed, none runs twice`, async () => {
    const upstream = await chaos();
    const sc = await sidecar(upstream.url, { transport: era });
    upstream.setFault({ kind: 'close_after_response' });
    const calls = [];
    for (let i = 0; i < 20; i++) calls.push(await call(sc, i % 2 ? 'work' : 'work_idempotent', `unannounced-${era}-${i}`));
    const { executions, connections_closed_by_server: closed } = await upstream.stats();
    await assertContract(calls, upstream);
    assert.deepEqual(calls.filter((c) => c.tool === 'work_idempotent' && c.status !== 200), []);
    for (const c of calls.filter((c) => c.status !== 200)) assert.equal(executions[c.key] ?? 0, 0, `${c.key} failed but ran`);
    assert.ok(closed >= 20, `the server closed only ${closed} connections`);
    assert.equal(await readySessions(sc), POOL_SIZE);
    upstream.setFault();
  });
}

test('kept-alive connections closed at random while calls flow: a call caught in the race fails cleanly or is resent if idempotent; none runs twice', async () => {
  const upstream = await chaos();
  const sc = await sidecar(upstream.url, { outbound: { upstream: { idle_timeout_seconds: 30 } } });
  assert.equal((await call(sc, 'work', 'random-warm')).status, 200);
  upstream.setFault({ kind: 'close_idle', maxIdleMs: 30 });
  const calls = await drive(sc, 'random', { n: 200, pauseMs: 40 });
  upstream.setFault();
  const { executions, connections_closed_by_server: closed } = await upstream.stats();
  await assertContract(calls, upstream);
  // A request caught in the race is lost with its connection (it did not run): 503, except
  // that an idempotent one is resent once (and fails only when the resend meets the race too).
  const failed = calls.filter((c) => c.status !== 200);
  for (const c of failed) {
    assert.equal(c.status, 503, JSON.stringify(c));
    assert.equal(executions[c.key] ?? 0, 0, `${c.key} failed but ran`);
  }
  // The race needs the close and the next request within the same instant: most closes are
  // seen before the connection is reused.
  assert.ok(failed.length * 4 < closed, `${failed.length} calls failed for ${closed} connections closed`);
  const recovery = await untilRecovered(sc, upstream, 'random');
  console.log(`random keep-alive closes: ${closed} connections closed under 200 calls, ${failed.length} calls lost in the race (503, not run), ` +
    `slowest answer ${Math.round(Math.max(...calls.map((c) => c.ms)))} ms; pool whole ${recovery} ms after`);
});

// ---------------------------------------------------------------------------------------------
// 4. Connection refused, unresolvable host.
// ---------------------------------------------------------------------------------------------

test('connection refused mid-run: 503 at once, nothing runs; the server back on its port (sessions forgotten) is used again without a restart', async () => {
  const upstream = await chaos();
  const sc = await sidecar(upstream.url);
  assert.equal((await call(sc, 'work', 'refused-warm')).status, 200);
  await upstream.down();
  const calls = [];
  for (let i = 0; i < 10; i++) calls.push(await call(sc, i % 2 ? 'work' : 'work_idempotent', `refused-${i}`));
  await assertContract(calls, upstream);
  for (const c of calls) {
    assert.equal(c.status, 503, JSON.stringify(c));
    assert.equal(c.code, 'upstream_unavailable');
    assert.ok(c.ms < FAST_MS, `${c.key} answered after ${Math.round(c.ms)} ms`);
  }
  // The heartbeat and the failed opens turn the pool unavailable: calls then fail without trying.
  await until(async () => (await poolOf(sc)).unavailable, { timeoutMs: RECOVERY_MS, what: 'the pool to be unavailable' });
  const fast = await call(sc, 'work', 'refused-fast');
  assert.equal(fast.status, 503);
  assert.ok(Number(fast.retryAfter) >= 1, 'an unavailable server says when to come back');
  await upstream.up();
  const recovery = await untilRecovered(sc, upstream, 'refused');
  console.log(`connection refused: 503 within ${Math.round(Math.max(...calls.map((c) => c.ms)))} ms (unavailable: ${Math.round(fast.ms)} ms); ` +
    `first success ${recovery} ms after the server came back`);
});

test('an unresolvable host: 503 at once; once the name resolves, calls succeed without a restart', async (t) => {
  if (process.getuid?.() !== 0 || !hasCommand('unshare')) return skipOrFail(t, 'needs root and unshare for a private /etc/hosts');
  const upstream = await chaos();
  // The sidecar runs in a mount namespace of its own, with its own /etc/hosts (edited in place
  // below: the bind mount holds the inode) and a resolver that answers nothing at once.
  const hosts = path.join(dir, 'hosts');
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(hosts, '127.0.0.1 localhost\n');
  fs.writeFileSync(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  const probe = spawnSync('unshare', ['-m', 'mount', '--bind', hosts, '/etc/hosts']);
  if (probe.status !== 0) return skipOrFail(t, `unshare -m cannot bind-mount: ${probe.stderr}`);
  const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';
  const sc = await sidecar(`http://chaos-upstream.test:${upstream.port}/mcp`, {
    wrap: { bin: 'unshare', argsPrefix: ['-m', 'sh', '-c', script, 'sh', hosts, resolv, SIDECAR_BIN] }
  });
  const calls = [];
  for (let i = 0; i < 4; i++) calls.push(await call(sc, 'work', `unresolvable-${i}`));
  await assertContract(calls, upstream);
  for (const c of calls) {
    assert.equal(c.status, 503, JSON.stringify(c));
    assert.match(c.message, /cannot resolve upstream host/);
  }
  // The first call waits for the pool's open attempts (within its timeout); the others fail at once.
  for (const c of calls.slice(1)) assert.ok(c.ms < FAST_MS, `${c.key} answered after ${Math.round(c.ms)} ms`);
  fs.appendFileSync(hosts, '127.0.0.1 chaos-upstream.test\n');
  const recovery = await untilRecovered(sc, upstream, 'resolvable');
  console.log(`unresolvable host: 503 after ${Math.round(calls[0].ms)} ms, then within ${Math.round(Math.max(...calls.slice(1).map((c) => c.ms)))} ms; ` +
    `first success ${recovery} ms after the name resolved`);
});

// ---------------------------------------------------------------------------------------------
// 5. TLS: handshakes that fail, a certificate that expires during the run.
// ---------------------------------------------------------------------------------------------

// Each: what the upstream serves, how the sidecar is told to reach it, what the caller reads.
const TLS_FAILURES = [
  { what: 'a certificate from a CA the sidecar does not trust', serve: 'foreign', message: /certificate refused: unable to get local issuer/ },
  { what: 'an expired certificate', serve: 'expired', message: /certificate refused: certificate has expired/ },
  { what: 'a certificate for another name', serve: 'pep', server_name: 'registry', message: /certificate refused: hostname mismatch/ },
  { what: 'no TLS where TLS is expected', serve: null, message: /TLS handshake with the upstream failed/ },
  { what: 'TLS where plain HTTP is expected', serve: 'registry', scheme: 'http', message: /upstream connection lost before the response/ }
];
for (const row of TLS_FAILURES) {
  test(`TLS: ${row.what}: 503 at once, nothing runs${row.serve && !row.scheme ? '; a trusted certificate brings calls back' : ''}`, async () => {
    const upstream = await chaos({ tls: row.serve ? pem(row.serve) : undefined });
    const url = `${row.scheme ?? 'https'}://localhost:${upstream.port}/mcp`;
    const sc = await sidecar(url, { server: row.scheme ? {} : { tls: { ca_file: `${pki()}/ca.crt`, ...(row.server_name ? { server_name: row.server_name } : {}) } } });
    const key = `tls-${row.serve ?? 'plain'}-${row.scheme ?? 'https'}`;
    // The first call waits for the pool's open attempts (within its timeout); the next fails at once.
    const calls = [await call(sc, 'work', `${key}-0`), await call(sc, 'work', `${key}-1`)];
    await assertContract(calls, upstream);
    for (const c of calls) {
      assert.equal(c.status, 503, JSON.stringify(c));
      assert.match(c.message, row.message);
    }
    assert.ok(calls[1].ms < FAST_MS, `the second call answered after ${Math.round(calls[1].ms)} ms`);
    assert.equal((await upstream.stats()).methods.initialize, undefined, 'a request got through');
    if (!row.scheme) assert.ok(metricValue(await metrics(sc), 'mcp_sidecar_upstream_connections_total', { server: 'chaos', outcome: 'tls_error' }) >= 1);
    if (row.serve && !row.scheme) {
      upstream.setCertificate(pem(row.server_name ?? 'registry'));
      console.log(`TLS, ${row.what}: refused after ${Math.round(calls[0].ms)} ms, then ${Math.round(calls[1].ms)} ms; ` +
        `first success ${await untilRecovered(sc, upstream, key)} ms after a trusted certificate was served`);
    }
  });
}

test('a certificate expiring during the run: refused once expired (no TLS session resumed past it), calls recover when the gate has a fresh one', async () => {
  const upstream = await chaos();
  // The gate serves a certificate that expires 4 s from now, and reloads its files every 0.2 s.
  const short = issueShortLived('expiring', 4);
  const [certFile, keyFile] = [path.join(dir, 'expiring.crt'), path.join(dir, 'expiring.key')];
  replace(short.cert, certFile);
  replace(short.key, keyFile);
  const g = await gate(upstream, { auth: { tls: { cert_file: certFile, key_file: keyFile } } }, { reload: { interval_seconds: 0.2 } });
  // Idle connections close after 0.3 s, so every call after a pause needs a new connection.
  const sc = await sidecar(g.url, { server: { tls: { ca_file: `${pki()}/ca.crt` } },
    outbound: { heartbeat_interval_seconds: 0, upstream: { idle_timeout_seconds: 0.3 } } });
  const before = await call(sc, 'work', 'expiry-before');
  assert.equal(before.status, 200, JSON.stringify(before));
  assert.ok(Date.now() < short.notAfter, 'the first call came after the certificate expired: too slow a start');

  await until(() => Date.now() > short.notAfter + 1000, { timeoutMs: 8000, what: 'the certificate to expire' });
  await until(async () => (await poolOf(sc)).connections.open === 0, { what: 'connections from before the expiry to close' });
  const expired = await call(sc, 'work', 'expiry-after');
  await assertContract([before, expired], upstream);
  assert.equal(expired.status, 503, JSON.stringify(expired));
  assert.match(expired.message, /certificate has expired/);
  assert.equal(upstream.executions('expiry-after'), 0);

  const fresh = issueShortLived('renewed', 3600);
  replace(fresh.key, keyFile);
  replace(fresh.cert, certFile);
  const recovery = await untilRecovered(sc, upstream, 'expiry');
  await until(async () => metricValue(await metrics(g), 'mcp_sidecar_cert_expiry_timestamp_seconds', { cert: 'inbound' }) === fresh.notAfter / 1000,
    { what: 'the gate to report the fresh certificate' });
  console.log(`certificate expiry: refused ${Math.round((Date.now() - short.notAfter) / 1000)} s after notAfter; first success ${recovery} ms after the renewal`);
});

// ---------------------------------------------------------------------------------------------
// 6. A network partition: the upstream in a network namespace of its own ("its pod"), joined to
//    the sidecar's by a veth pair; its end of the link goes down (packets vanish, nothing is
//    refused), then up again. Needs root (ip netns); SKIPPED loudly otherwise.
// ---------------------------------------------------------------------------------------------

const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
let pod;

// The upstream's pod, made once: a namespace, a veth pair (10.x.y.2 here, 10.x.y.1 there), and a
// chaos upstream running inside it (its own process, driven through its control endpoint).
// Returns {upstream, url, partition(), heal()}, or the reason it cannot be made.
async function upstreamPod() {
  if (pod) return pod;
  if (process.getuid?.() !== 0) return (pod = { why: 'needs root for ip netns' });
  if (!hasCommand('ip')) return (pod = { why: 'iproute2 (ip) is not installed' });
  const tag = crypto.randomBytes(3).toString('hex');
  const [ns, here, there] = [`mcpf-${tag}`, `vfh-${tag}`, `vfs-${tag}`];
  const subnet = `10.${200 + (parseInt(tag.slice(0, 2), 16) % 50)}.${parseInt(tag.slice(2, 4), 16)}`;
  const made = spawnSync('ip', ['netns', 'add', ns]);
  if (made.status !== 0) return (pod = { why: `ip netns add failed: ${made.stderr}` });
  cleanup.push(() => spawnSync('ip', ['netns', 'del', ns]));  // takes the veth pair with it
  ip('link', 'add', here, 'type', 'veth', 'peer', 'name', there);
  ip('link', 'set', there, 'netns', ns);
  ip('addr', 'add', `${subnet}.2/30`, 'dev', here);
  ip('-n', ns, 'addr', 'add', `${subnet}.1/30`, 'dev', there);
  ip('link', 'set', here, 'up');
  ip('-n', ns, 'link', 'set', there, 'up');
  // Each end knows the other's MAC for good, as a CNI's static gateway entry does: a link going
  // down flushes learned entries, and the kernel would park the next packet in the ARP queue
  // and send it once the link is back, past any socket's reach. With these, packets vanish.
  const mac = (dev, ...netns) => JSON.parse(ip('-j', ...netns, 'link', 'show', 'dev', dev).toString())[0].address;
  ip('neigh', 'replace', `${subnet}.1`, 'lladdr', mac(there, '-n', ns), 'dev', here, 'nud', 'permanent');
  ip('-n', ns, 'neigh', 'replace', `${subnet}.2`, 'lladdr', mac(here), 'dev', there, 'nud', 'permanent');
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(ROOT, 'tests/integration/chaos_upstream.mjs'),
    '--host', `${subnet}.1`], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => proc.kill('SIGKILL'));
  const { port } = await waitForJsonLine(proc.stdout, (o) => o.event === 'listening', 10000, 'the chaos upstream in its pod');
  const upstream = remoteChaos(`http://${subnet}.1:${port}`);
  return (pod = {
    upstream,
    partition: () => ip('-n', ns, 'link', 'set', there, 'down'),
    heal: () => ip('-n', ns, 'link', 'set', there, 'up')
  });
}

const PARTITION = { call_timeout_seconds: 2 };  // room for pool_size + 1 connect timeouts (0.5 s)

// A sidecar in front of the pod's upstream, its first call made (so a kept-alive connection
// waits) and every session ready; null when the pod cannot be made (the test is then SKIPPED).
async function podSidecar(t, outbound) {
  const p = await upstreamPod();
  if (p.why) {
    skipOrFail(t, p.why);
    return null;
  }
  const sc = await sidecar(p.upstream.url, { outbound });
  assert.equal((await call(sc, 'work', `pod-warm-${sidecars}`)).status, 200);
  await until(async () => (await readySessions(sc)) === POOL_SIZE, { what: 'every session ready' });
  return { ...p, sc };
}

test('a network partition: the call in flight gets 504 at its timeout, new calls 503 or 504 within theirs, nothing runs twice; after healing the pool recovers without a restart', async (t) => {
  const p = await podSidecar(t, PARTITION);
  if (!p) return;
  const { upstream, sc } = p;
  const timeoutMs = PARTITION.call_timeout_seconds * 1000;

  // A call whose tool is running when the link goes down: its answer never comes.
  const t0 = performance.now();
  const inFlight = request(`${sc.outbound}/v1/servers/chaos/tools/work`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: { key: 'partition-inflight', ms: 500 } })
    .then((r) => ({ ...r, ms: performance.now() - t0 }));
  await until(async () => (await upstream.executions('partition-inflight')) === 1, { what: 'the tool to be running' });
  p.partition();
  let healed = false;
  try {
    const calls = [];
    while (performance.now() - t0 < 4000) calls.push(await call(sc, calls.length % 2 ? 'work' : 'work_idempotent', `partition-${calls.length}`));
    const first = await inFlight;
    assert.equal(first.status, 504, first.body);
    assert.ok(first.ms <= timeoutMs + TOLERANCE_MS, `the call in flight answered after ${Math.round(first.ms)} ms`);
    for (const c of calls) assert.ok([503, 504].includes(c.status), JSON.stringify(c));
    p.heal();
    healed = true;
    const recovery = await untilRecovered(sc, upstream, 'partition', 15000);
    // (A request the partition swallowed may still run once the link heals: the test below.)
    await assertContract(calls, upstream, timeoutMs);
    const { executions } = await upstream.stats();
    console.log(`partition: in-flight call 504 after ${Math.round(first.ms)} ms; ${calls.length} calls during it answered ` +
      `${[...new Set(calls.map((c) => c.status))].join('/')} in ${Math.round(Math.min(...calls.map((c) => c.ms)))}-${Math.round(Math.max(...calls.map((c) => c.ms)))} ms; ` +
      `first success ${recovery} ms after healing`);
  } finally {
    if (!healed) p.heal();
  }
});

test('a network partition under steady traffic: within 4 s the pool shows no ready session and calls fail fast (503 with Retry-After)', async (t) => {
  const p = await podSidecar(t, PARTITION);
  if (!p) return;
  const { upstream, sc } = p;
  p.partition();
  const calls = [];
  try {
    const t0 = performance.now();
    await until(async () => {
      const c = await call(sc, 'work', `steady-${calls.length}`);
      calls.push(c);
      return c.status === 503 && c.ms < 200 && Number(c.retryAfter) >= 1;
    }, { timeoutMs: 4000, intervalMs: 0, what: 'calls to fail fast' });
    assert.equal(await readySessions(sc), 0, '/debug/pools shows sessions ready through a partition');
    console.log(`partition under traffic: calls fail fast ${Math.round(performance.now() - t0)} ms after it began`);
  } finally {
    p.heal();
  }
  // The upstream's counts can be read once the link is back.
  await assertContract(calls, upstream, PARTITION.call_timeout_seconds * 1000);
  await untilRecovered(sc, upstream, 'steady', 15000);
});

test('a request the partition swallowed does not run after the link heals (the connection given up on is reset, its unsent request dropped)', async (t) => {
  const p = await podSidecar(t, { call_timeout_seconds: 1, heartbeat_interval_seconds: 0 });
  if (!p) return;
  const { upstream, sc } = p;
  p.partition();
  const t0 = performance.now();
  let swallowed;
  try {
    swallowed = await call(sc, 'work', 'swallowed');  // written on that connection, never answered
  } finally {
    p.heal();
  }
  const partitionMs = performance.now() - t0;
  assert.equal(swallowed.status, 504, JSON.stringify(swallowed));
  // TCP retransmits with a doubling timeout: what is still queued arrives within about twice the
  // partition's length after the link is back. Until then the tool must not run.
  const ranLate = await until(async () => (await upstream.executions('swallowed')) > 0,
    { timeoutMs: 2 * partitionMs + 2000, intervalMs: 100, what: 'the swallowed request to run' }).then(() => true, () => false);
  assert.equal(ranLate, false, 'the tool ran after the caller was told 504');
});

// ---------------------------------------------------------------------------------------------
// Last: whatever they went through, the processes are sound.
// ---------------------------------------------------------------------------------------------

test('every sidecar and gate of these faults exits 0 on SIGTERM, without a sanitizer report', async () => {
  const exits = await Promise.all(processes.map((sc) => sc.stop('SIGTERM', 20000)));
  processes.forEach((sc, i) => {
    const log = fs.readFileSync(sc.logFile, 'utf8');
    assert.equal(exits[i], 0, `${path.basename(sc.logFile)} exited with ${exits[i]}`);
    assert.doesNotMatch(log, /AddressSanitizer|LeakSanitizer|runtime error/, path.basename(sc.logFile));
  });
});
