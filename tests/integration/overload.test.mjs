// Overload (issue 10): the bounds the sidecar already has, driven at 5x their capacity for four
// seconds by concurrent clients, each case on its own sidecar and server (counters from zero):
//   - max in-flight calls per upstream (outbound REST API, upstream.max_inflight),
//   - max connections of a listener (outbound REST API, and the inbound gate; limits.max_connections).
// The contract, checked for each: callers within capacity are served; callers beyond it get a
// fast 503 (well under the call timeout: nothing queues) with Retry-After; every request gets
// exactly one answer (an HTTP status, never a reset, a hang-up or a timeout; the server executed
// exactly the calls answered 200); the refusals are counted by their metric, one for one; the
// sidecar's resident memory stays within a bound; once the load drops, calls succeed at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  SIDECAR_BIN, callTool, metricValue, metrics, sidecarConfig, startServer, startSidecar
} from './helpers.mjs';
import { exchange, answerOf, Session } from './mcp_raw.mjs';
import { procUsage, sampleUsage, watchedEnv } from '../soak/proc.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-overload-'));
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const STORM_MS = 4000;           // how long 5x capacity is offered
const HOLD_MS = 2000;            // how long the server takes for a call within capacity
const CALL_TIMEOUT_SECONDS = 10;
// "Fast": the median refusal within a quarter of HOLD_MS (a refusal that queued for a slot would
// wait half of it on average), none past a fifth of the call timeout. Room for a sidecar 3-5x
// slower (ASan) on two cores that the client loops and other tests keep busy (measured: median
// 7-50 ms, max 60-350 ms; with the machine's load at 8, median 310 ms and max 1030 ms under ASan).
const FAST_MEDIAN_MS = HOLD_MS / 4;
const FAST_MAX_MS = (CALL_TIMEOUT_SECONDS * 1000) / 5;
// Growth of the sidecar's RSS over its warmed-up value during the storm: a queue, or a leak per
// refused request, would grow with the thousands of requests; the allocator's churn stays far
// below (measured: under 1 MB). Under ASan, with its quarantine capped (watchedEnv), the bound is
// looser (measured: about 27 MB).
const RSS_GROWTH_KB = { release: 8 * 1024, sanitized: 48 * 1024 };
// Open descriptors beyond the warmed-up count at any moment of the storm: the connections the
// bounds allow (at most 40 callers, each with one upstream connection) and refusals in progress
// (at most 64), far below the thousands a descriptor leak per request would hold.
const FD_GROWTH = 200;

async function server(role) {
  const s = await startServer(role, { dir: fs.mkdtempSync(`${dir}/${role}-`), testTools: true });
  cleanup.push(() => s.stop('SIGKILL'));
  return s;
}

async function sidecar(name, config, expectRoles) {
  const sc = await startSidecar({ bin: SIDECAR_BIN, dir, name, env: watchedEnv(), config, expectRoles });
  cleanup.push(() => sc.stop('SIGKILL'));
  return sc;
}

// `clients` concurrent loops, each sending one request after the other (`send()`, which
// resolves {status, headers, json}) until `durationMs` has passed, while the sidecar's memory is
// sampled. Every request yields one outcome: the response, or {error} for anything that is not
// an HTTP answer.
async function storm(pid, { clients, durationMs, send }) {
  const usage = sampleUsage(pid, 100);
  const end = Date.now() + durationMs;
  const outcomes = [];
  await Promise.all(Array.from({ length: clients }, async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      const r = await send().catch((e) => ({ error: e.code ?? e.message }));
      outcomes.push({ ...r, ms: performance.now() - t0 });
    }
  }));
  return { outcomes, usage: usage.stop() };
}

const percentile = (values, p) => values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

// Asserts the contract over a storm's outcomes (`served(o)`: a 200 that carries the call's
// result) and returns {served, refused} counts; logs the figures.
function judge(label, { outcomes, usage }, { served, baseline }) {
  const unanswered = outcomes.filter((o) => o.error);
  assert.deepEqual(unanswered.slice(0, 5).map((o) => o.error), [], `${unanswered.length} of ${outcomes.length} requests got no HTTP answer`);
  const ok = outcomes.filter((o) => o.status === 200);
  const refused = outcomes.filter((o) => o.status === 503);
  const other = outcomes.filter((o) => o.status !== 200 && o.status !== 503);
  assert.deepEqual(other.slice(0, 3).map((o) => `${o.status} ${o.body}`), [], `${other.length} answers neither 200 nor 503`);
  for (const o of ok) assert.ok(served(o), `a 200 without the call's result: ${o.body}`);
  for (const o of refused) {
    assert.equal(o.headers['retry-after'], '1', 'a 503 without Retry-After: 1');
    assert.equal(o.json?.error?.code, 'overloaded', o.body);
  }
  const latencies = refused.map((o) => o.ms);
  const peakKb = Math.max(...usage.map((s) => s.rssKb));
  const peakFds = Math.max(...usage.map((s) => s.fds));
  console.log(`${label}: ${outcomes.length} requests, ${ok.length} served, ${refused.length} refused; 503 latency ` +
    `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms, ` +
    `max ${Math.max(...latencies).toFixed(1)} ms; RSS ${baseline.rssKb} kB before, peak ${peakKb} kB; ` +
    `fds ${baseline.fds} before, peak ${peakFds}${baseline.sanitized ? ' (sanitized build)' : ''}`);
  assert.ok(refused.length > 0, 'nothing was refused: the load did not exceed capacity');
  assert.ok(percentile(latencies, 0.5) < FAST_MEDIAN_MS, `median 503 after ${percentile(latencies, 0.5).toFixed(0)} ms (bound ${FAST_MEDIAN_MS} ms)`);
  assert.ok(Math.max(...latencies) < FAST_MAX_MS, `a 503 took ${Math.max(...latencies).toFixed(0)} ms (bound ${FAST_MAX_MS} ms)`);
  const rssBound = RSS_GROWTH_KB[baseline.sanitized ? 'sanitized' : 'release'];
  assert.ok(peakKb - baseline.rssKb < rssBound, `RSS grew by ${peakKb - baseline.rssKb} kB during the storm (bound ${rssBound})`);
  assert.ok(peakFds - baseline.fds < FD_GROWTH, `open descriptors grew by ${peakFds - baseline.fds} during the storm`);
  return { served: ok.length, refused: refused.length };
}

const slept = (o) => o.json?.structuredContent?.slept === HOLD_MS;

test('outbound, max in-flight per upstream: 5x the calls get fast 503s, the bound holds at the server, service resumes', async () => {
  const INFLIGHT = 4;
  const registry = await server('registry');
  const sc = await sidecar('inflight', sidecarConfig([registry], {
    call_timeout_seconds: CALL_TIMEOUT_SECONDS, upstream: { max_inflight: INFLIGHT }
  }));
  assert.equal((await callTool(sc, 'registry', 'sleep', { ms: 1 }, { 'X-Case-Id': 'warm' })).status, 200);
  const baseline = procUsage(sc.proc.pid);
  const run = await storm(sc.proc.pid, {
    clients: 5 * INFLIGHT, durationMs: STORM_MS,
    send: () => callTool(sc, 'registry', 'sleep', { ms: HOLD_MS }, { 'X-Case-Id': 'storm' })
  });
  const { served, refused } = judge('outbound in-flight', run, { served: slept, baseline });

  const stats = await registry.stats();
  assert.equal(stats.max_inflight, INFLIGHT, 'the server saw another number of concurrent calls than the bound');
  assert.equal(stats.executions.sleep - 1, served, 'calls executed by the server != calls answered 200');
  // Slots are given back: calls were admitted after the first round (HOLD_MS) ended.
  assert.ok(served > INFLIGHT, `only ${served} calls served in ${STORM_MS} ms`);
  assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_fast_fails_total', { server: 'registry' }), refused);

  assert.equal((await callTool(sc, 'registry', 'sleep', { ms: 1 }, { 'X-Case-Id': 'after' })).status, 200);
});

// Connection bounds: every request on its own connection (node:http with agent: false closes
// it), so the connections open at the listener are the callers in flight.
const connectionCases = [
  {
    name: 'outbound REST API',
    async start(registry) {
      const sc = await sidecar('maxconn-outbound', sidecarConfig([registry], {
        call_timeout_seconds: CALL_TIMEOUT_SECONDS, limits: { max_connections: 8 }
      }));
      return { sc, listener: 'outbound', call: () => callTool(sc, 'registry', 'sleep', { ms: HOLD_MS }, { 'X-Case-Id': 'storm' }), served: slept };
    }
  },
  {
    name: 'inbound gate',
    async start(registry) {
      const sc = await sidecar('maxconn-gate', {
        inbound: { name: 'registry', listen: '127.0.0.1:0', forward_to: registry.base, limits: { max_connections: 8 } },
        admin: { listen: '127.0.0.1:0' },
        shutdown: { delay_seconds: 0, grace_seconds: 2 }
      }, ['inbound', 'admin']);
      // One MCP session (opened before the storm), many concurrent calls on it.
      const session = new Session(`http://${sc.addresses.inbound}/mcp`);
      assert.equal((await session.open()).status, 200);
      let id = 1000;
      const call = async () => {
        const rpcId = ++id;
        const r = await exchange(session.url, { headers: session.sessionHeaders(), body:
          { jsonrpc: '2.0', id: rpcId, method: 'tools/call', params: { name: 'sleep', arguments: { ms: HOLD_MS, case_id: 'storm' } } } });
        return { ...r, answer: answerOf(r, rpcId) };
      };
      return { sc, listener: 'inbound', call, served: (o) => o.answer?.result?.structuredContent?.slept === HOLD_MS };
    }
  }
];

for (const c of connectionCases) {
  test(`${c.name}, max connections: 5x the connections get fast 503s, the bound holds at the server, service resumes`, async () => {
    const MAX = 8;
    const registry = await server('registry');
    const { sc, listener, call, served: isServed } = await c.start(registry);
    assert.equal((await call()).status, 200);
    const baseline = procUsage(sc.proc.pid);
    const run = await storm(sc.proc.pid, { clients: 5 * MAX, durationMs: STORM_MS, send: call });
    const { served, refused } = judge(`${c.name} max connections`, run, { served: isServed, baseline });

    const stats = await registry.stats();
    assert.ok(stats.max_inflight <= MAX, `the server saw ${stats.max_inflight} concurrent calls through ${MAX} connections`);
    assert.equal(stats.executions.sleep - 1, served, 'calls executed by the server != calls answered 200');
    assert.ok(served > MAX, `only ${served} calls served in ${STORM_MS} ms: connections are not given back`);
    assert.equal(metricValue(await metrics(sc), 'mcp_sidecar_http_rejections_total', { listener, reason: 'max_connections' }), refused,
      'refusals counted != 503s received (a refusal without an answer?)');

    assert.equal((await call()).status, 200);
  });
}
