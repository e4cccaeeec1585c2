// Hostile and malformed input on the admin listener (probes, metrics, debug views) of a sidecar
// in front of a counting upstream. Every case asserts the exact answer, that it changed nothing
// (no log level change, no request upstream) unless it should, and that the listener still
// answers afterwards.
//
// The contract (src/admin/admin.cpp, src/http/server.cpp; the admin listener's limits are
// admin.limits, here the small ones every hostile test uses):
// - HTTP framing: as on every listener (raw_http.mjs framingCases).
// - Only the listed paths exist, spelled exactly (no trailing slash, no case folding, no dot
//   segments): else 404; a target that is not origin-form or cannot be parsed: 400; a method
//   the endpoint does not take: 405.
// - /debug/log-level changes the level only to one of trace, debug, info, warn, error: else 400
//   and the level stays; /debug/calls needs a case_id (else 400) and answers any other value
//   with valid JSON.
// - Debug views answer loopback peers only, however the path is encoded: else 403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';

import { request, skipOrFail, until } from './helpers.mjs';
import { startWithSidecar } from './counting_upstream.mjs';
import { SMALL_LIMITS, framingCases, httpRequest, only, rawExchange, testCases } from './raw_http.mjs';

const dir = fs.mkdtempSync('/tmp/it-hostile-admin-');
const HOST = [['Host', 'localhost']];
let up;
let sidecar;
let markers = 0;

// Lines of the sidecar's log saying the level changed to `level`.
const levelLines = (level) => sidecar.logLines().filter((l) => l.event === 'log_level_changed' && l.level === level).length;

const L = {
  // The one admin request with an effect to count: each logs a log_level_changed line.
  good: { method: 'PUT', path: '/debug/log-level?level=info', headers: HOST },
  status: 200,
  headStatus: 405,
  limits: SMALL_LIMITS,
  // Good requests served so far (their log lines), and requests upstream. Log lines reach the
  // file a moment after the answer: a marker request (level=debug) is sent, and once its line
  // is there every earlier line is too.
  async effects() {
    markers++;
    assert.equal((await request(`${sidecar.admin}/debug/log-level?level=debug`, { method: 'PUT' })).status, 200);
    await until(() => levelLines('debug') >= markers, { timeoutMs: 5000, what: 'the marker in the log' });
    return levelLines('info') + up.counts.requests;
  },
  async alive() {
    assert.equal(only(await rawExchange(L.target, httpRequest('GET', '/healthz', { headers: [...HOST, ['Connection', 'close']] }))).status, 200);
  }
};

before(async () => {
  // The admin listener on every address, as in a pod, so a non-loopback peer can reach it.
  ({ up, sidecar } = await startWithSidecar(dir, { admin: '0.0.0.0:0' }));
  sidecar.admin = sidecar.admin.replace('0.0.0.0', '127.0.0.1');
  Object.assign(L, { target: { port: Number(new URL(sidecar.admin).port) }, proc: sidecar.proc });
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await up.close();
});

testCases(test, L, framingCases(L));

const get = (path, method = 'GET') => httpRequest(method, path, { headers: HOST });
const answered = (status, extra = {}) => ({ statuses: [status], runs: 0, ...extra });
const levelIs = (level) => async () => assert.equal((await request(`${sidecar.admin}/debug/log-level`)).json.level, level);

testCases(test, L, [
  // The log level: one of five words, or nothing changes.
  ...['loud', 'DEBUG', 'debug%00', 'debug%0aX', 'x'.repeat(3000), '', '%FF'].map((level) => ({
    name: `PUT /debug/log-level?level=${level.length > 40 ? `<${level.length} characters>` : level}: 400, the level stays`,
    send: get(`/debug/log-level?level=${level}`, 'PUT'),
    ...answered(400, { code: 'bad_request', check: levelIs('debug') })
  })),
  { name: 'PUT /debug/log-level without a level: 400', send: get('/debug/log-level', 'PUT'), ...answered(400, { code: 'bad_request', check: levelIs('debug') }) },
  { name: 'DELETE /debug/log-level: 405', send: get('/debug/log-level', 'DELETE'), ...answered(405, { code: 'method_not_allowed' }) },
  // /debug/calls with odd case ids: valid JSON, never a crash.
  { name: '/debug/calls without a case_id: 400', send: get('/debug/calls'), ...answered(400, { code: 'bad_request' }) },
  ...[['%00', '\u0000'], ['%FF', '\ufffd'], ['c'.repeat(3000), 'c'.repeat(3000)], ['%22%7D%5D', '"}]']].map(([raw, decoded]) => ({
    name: `/debug/calls?case_id=${raw.length > 40 ? `<${raw.length} characters>` : raw}: 200, no calls, valid JSON`,
    send: get(`/debug/calls?case_id=${raw}`),
    ...answered(200, { check: (r) => assert.deepEqual(r.responses[0].json, { case_id: decoded, calls: [] }) })
  })),
  // Paths: spelled exactly, or 404.
  ...['/healthz/', '//healthz', '/HEALTHZ', '/healthz%00', '/healthz/..', '/debug', '/debug/', '/debug/pools/..', '/debug/%2e%2e/metrics', '/debug/../metrics', '/nothing']
    .map((path) => ({ name: `GET ${path}: 404`, send: get(path), ...answered(404, { code: 'not_found' }) })),
  { name: 'a query the URL parser refuses: 400', send: get('/metrics?name[]=x'), ...answered(400, { code: 'bad_request' }) },
  { name: 'an absolute-form target: 400', send: get('http://evil.example/healthz'), ...answered(400, { code: 'bad_request' }) },
  { name: 'CONNECT to an authority: 400', send: httpRequest('CONNECT', 'localhost:9901', { headers: HOST }), ...answered(400, { code: 'bad_request' }) },
  { name: 'OPTIONS *: 400', send: get('*', 'OPTIONS'), ...answered(400, { code: 'bad_request' }) },
  // Methods.
  ...[['POST', '/healthz'], ['TRACE', '/healthz'], ['PROPFIND', '/metrics'], ['get', '/readyz'], ['DELETE', '/debug/pools'], ['POST', '/debug/config']].map(([method, path]) => ({
    name: `${method} ${path}: 405`,
    send: get(path, method),
    ...answered(405, { code: 'method_not_allowed' })
  }))
]);

// Debug views from a peer that is not loopback, however the path is written: 403.
const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const remote = (path) => ({
  name: `${path} from a non-loopback peer: 403`,
  exchange: (L) => rawExchange({ host: address, port: L.target.port }, get(path), { responses: 1 }),
  ...answered(403, { code: 'forbidden' })
});
if (address) testCases(test, L, ['/debug/config', '/%64ebug/config', '/debug%2Fconfig', '/debug/calls?case_id=c-1', '/debug/pools?x=/healthz'].map(remote));
else test('debug views from a non-loopback peer: 403', (t) => skipOrFail(t, 'this machine has no non-loopback IPv4 address to connect from'));
