// Hostile and malformed input on the inbound gate, bearer and mTLS, in front of a counting
// upstream (and, for one case, the official SDK's server). Every case asserts the exact answer
// (or that the connection is closed), that nothing it should not have let through reached the
// server behind the gate, and that the gate still serves a good call afterwards.
//
// The contract (docs/configuration.md "inbound", src/inbound/*.cpp, src/http/server.cpp):
// - HTTP framing: as on every listener (raw_http.mjs framingCases).
// - Authentication first: no Authorization, another scheme, a wrong, empty, spaced or oversized
//   token: 401 with WWW-Authenticate: Bearer, whatever the method or path. The token check
//   takes the same time wherever the token is wrong (SHA-256 then CRYPTO_memcmp).
// - mTLS: no certificate, another CA, expired, not yet valid, not for client auth, a CA
//   certificate: the handshake is refused and the connection closed; plain HTTP or garbage on
//   the TLS port: closed; a silent or stalled handshake: closed at request_timeout.
// - Authorization by the body: a tools/call of a tool the caller's rule does not list is never
//   forwarded, whatever its JSON-RPC framing: answered -32003 (in a batch, escaped, the last of
//   duplicate keys), 403 as a notification, 400 -32600 when it is not JSON-RPC 2.0 (odd ids, no
//   jsonrpc) or repeats a key the gate would allow; a body that is not JSON: 400 -32700;
//   2026-07-28 headers unequal to the body: 400 -32020; never forwarded.
// - Identity: the server sees exactly one X-MCP-Client-Identity, the verified one, whatever the
//   caller sent (several, other spellings, listed in Connection), no caller-made
//   X-Forwarded-Client-Cert and no Authorization.
// - Methods: MCP uses POST, GET and DELETE (and HEAD, GET without the body); anything else is
//   not forwarded (405), nor a target that is not a path (400).
// - Answers: a JSON answer over 16 MiB: 502 -32603; an SSE event over 16 MiB: the stream ends
//   with a JSON-RPC error for the call, never with a truncated event; HEAD is answered at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { SIDECAR_BIN, startServer, startSidecar } from './helpers.mjs';
import { startCountingUpstream } from './counting_upstream.mjs';
import { SMALL_LIMITS, framingCases, goodRequest, httpRequest, keepAlive, limitsConfig, only, rawExchange, testCases, tlsCases } from './raw_http.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync('/tmp/it-hostile-gate-');
const pki = path.join(dir, 'pki');
const ID = (sa, domain = 'kyc.local') => `spiffe://${domain}/ns/kyc/sa/${sa}`;
const T_AUDIT = 'audit-0123456789abcdef0123456789abcd';
const T_ORCH = 'orch-0123456789abcdef0123456789abcdef';
const cleanup = [];
let up;

const headersFor = (token, extra = []) => [
  ['Host', 'localhost'],
  ['Content-Type', 'application/json'],
  ['Accept', 'application/json, text/event-stream'],
  ...(token === undefined ? [] : [['Authorization', `Bearer ${token}`]]),
  ...extra
];
const call = (name, extra = {}) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} }, ...extra });
const text = (body) => (typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));

// The bearer gate (plain HTTP): the auditor may call echo only, the orchestrator anything.
const L = {
  good: { method: 'POST', path: '/mcp', headers: headersFor(T_AUDIT), body: JSON.stringify(call('echo')) },
  status: 200,
  limits: SMALL_LIMITS,
  effects: async () => up.counts.requests,
  snapshot: () => up.snapshot()
};
// The mTLS gate: the orchestrator's certificate may call anything, nobody else anything.
const M = {
  good: { method: 'POST', path: '/mcp', headers: headersFor(undefined), body: JSON.stringify(call('echo')) },
  status: 200,
  limits: SMALL_LIMITS,
  effects: L.effects,
  snapshot: L.snapshot
};

async function gate(name, inbound) {
  const config = {
    inbound: {
      name: 'count', listen: '127.0.0.1:0', forward_to: up.base, response_timeout_seconds: 3,
      limits: limitsConfig(SMALL_LIMITS),
      ...inbound
    },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 1 }
  };
  const g = await startSidecar({ bin: SIDECAR_BIN, dir, name, config, expectRoles: ['inbound', 'admin'] });
  cleanup.push(async () => assert.equal(await g.stop(), 0, `the ${name} gate's exit status`));
  return g;
}

const certOf = (name) => ({ cert: fs.readFileSync(`${pki}/${name}.crt`), key: fs.readFileSync(`${pki}/${name}.key`) });
const trust = () => ({ ca: fs.readFileSync(`${pki}/ca.crt`), servername: 'localhost' });

// A client certificate signed by the dev CA with the given extensions (openssl, like make-certs.sh).
function issue(name, subject, extensions) {
  const [key, csr, crt, ext] = ['key', 'csr', 'crt', 'ext'].map((x) => `${pki}/${name}.${x}`);
  fs.writeFileSync(ext, `${extensions.join('\n')}\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', subject, '-out', csr], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', `${pki}/ca.crt`, '-CAkey', `${pki}/ca.key`, '-set_serial', String(Date.now()), '-days', '1', '-extfile', ext, '-out', crt], { stdio: 'ignore' });
}

before(async () => {
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
  issue('server-only', '/CN=orchestrator', [`subjectAltName=URI:${ID('orchestrator')}`, 'extendedKeyUsage=serverAuth', 'basicConstraints=critical,CA:FALSE']);
  issue('other-domain', '/CN=orchestrator', [`subjectAltName=URI:${ID('orchestrator', 'evil.local')}`, 'extendedKeyUsage=clientAuth', 'basicConstraints=critical,CA:FALSE']);
  issue('cn-only', '/CN=orchestrator', ['extendedKeyUsage=clientAuth', 'basicConstraints=critical,CA:FALSE']);
  up = await startCountingUpstream();
  up.hugeBytes = 17 << 20;  // over the gate's 16 MiB for one answer or one event
  fs.writeFileSync(`${dir}/tokens`, `auditor=${T_AUDIT}\norchestrator=${T_ORCH}\n`);
  const [bearer, mtls] = await Promise.all([
    gate('bearer', {
      auth: { bearer_tokens_file: `${dir}/tokens` },
      policy: [{ callers: ['bearer:auditor'], tools: ['echo'] }, { callers: ['bearer:orchestrator'], tools: ['*'] }]
    }),
    gate('mtls', {
      auth: { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, client_ca_file: `${pki}/ca.crt` } },
      policy: [{ callers: [ID('orchestrator')], tools: ['*'] }]
    })
  ]);
  Object.assign(L, { target: { port: Number(bearer.addresses.inbound.split(':')[1]) }, proc: bearer.proc });
  Object.assign(M, { target: { port: Number(mtls.addresses.inbound.split(':')[1]), tls: { ...trust(), ...certOf('orchestrator') } }, proc: mtls.proc });
});
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await up.close();
});

testCases(test, L, framingCases(L));

// ---- the bearer gate ---------------------------------------------------------------------------

const post = (body, headers = headersFor(T_AUDIT), target = '/mcp') => httpRequest('POST', target, { headers, body: text(body) });
const unauthorized = (send) => ({
  send,
  statuses: [401],
  code: -32001,
  runs: 0,
  check: (r) => assert.match(r.responses[0].headers['www-authenticate'], /^Bearer /)
});
// The header `name` as the server behind the gate received it in the last request: every line.
const forwarded = (name) => {
  const raw = up.seen.at(-1).rawHeaders;
  return raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === name.toLowerCase());
};
// Nothing named `forbidden` reached the server, in any form, since `snap`.
const neverForbidden = (r, snap) => assert.equal(up.since(snap).tools.forbidden, undefined, 'a forbidden tools/call reached the server');
const denied = (name, body, extra = {}) => ({ name, send: post(body), statuses: [200], code: -32003, runs: 0, check: neverForbidden, ...extra });

testCases(test, L, [
  // Authentication.
  { name: 'no Authorization: 401 with WWW-Authenticate', ...unauthorized(post(call('echo'), headersFor(undefined))) },
  { name: 'an empty Authorization: 401', ...unauthorized(post(call('echo'), headersFor(undefined, [['Authorization', '']]))) },
  { name: 'the scheme without a token: 401', ...unauthorized(post(call('echo'), headersFor(undefined, [['Authorization', 'Bearer']]))) },
  { name: 'Basic with the token as password: 401', ...unauthorized(post(call('echo'), headersFor(undefined, [['Authorization', `Basic ${Buffer.from(`auditor:${T_AUDIT}`).toString('base64')}`]]))) },
  { name: 'a wrong token: 401', ...unauthorized(post(call('echo'), headersFor('wrong-0123456789abcdef0123456789ab'))) },
  { name: 'the token in capitals: 401', ...unauthorized(post(call('echo'), headersFor(T_AUDIT.toUpperCase()))) },
  { name: 'the token and more after a space: 401', ...unauthorized(post(call('echo'), headersFor(`${T_AUDIT} ${T_AUDIT}`))) },
  { name: 'two spaces before the token: 401', ...unauthorized(post(call('echo'), headersFor(` ${T_AUDIT}`))) },
  { name: 'the token cut by one character: 401', ...unauthorized(post(call('echo'), headersFor(T_AUDIT.slice(0, -1)))) },
  { name: 'a token of 3000 characters: 401', ...unauthorized(post(call('echo'), headersFor('t'.repeat(3000)))) },
  { name: 'a token with bytes outside ASCII: 401', ...unauthorized(post(call('echo'), headersFor(`${T_AUDIT}\xff`))) },
  { name: 'the token in the query string only: 401', ...unauthorized(post(call('echo'), headersFor(undefined), `/mcp?access_token=${T_AUDIT}`)) },
  { name: 'the token in a cookie only: 401', ...unauthorized(post(call('echo'), headersFor(undefined, [['Cookie', `token=${T_AUDIT}`]]))) },
  { name: 'two Authorization lines, the wrong one first: 401', ...unauthorized(post(call('echo'), headersFor('wrong-0123456789abcdef0123456789ab', [['Authorization', `Bearer ${T_AUDIT}`]]))) },
  ...['TRACE', 'PROPFIND', 'get', 'DELETE'].map((method) => ({ name: `${method} without a token: 401`, ...unauthorized(httpRequest(method, '/mcp', { headers: headersFor(undefined) })) })),
  { name: 'CONNECT without a token: 401', ...unauthorized(httpRequest('CONNECT', '127.0.0.1:22', { headers: [['Host', '127.0.0.1:22']] })) },
  // Bodies that are not JSON-RPC.
  ...[
    ['malformed JSON', '{"jsonrpc":"2.0","id":1,'],
    ['JSON nested 200 deep', `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${'['.repeat(199)}${']'.repeat(199)}}}`],
    ['60000 unclosed brackets', '['.repeat(60000)],
    ['invalid UTF-8 in a string', Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')])],
    ['a JSON string', '"tools/call"'],
    ['a JSON number', '42']
  ].map(([what, body]) => ({ name: `${what}: 400 -32700, not forwarded`, send: post(body), statuses: [400], code: -32700, runs: 0 })),
  // Authorization by the body, whatever the framing.
  denied('a tools/call of a tool the rule does not list: -32003, not forwarded', call('forbidden')),
  denied('the tool name escaped (forbidde\\u006e): -32003', JSON.stringify(call('forbidden')).replace('forbidden', 'forbidde\\u006e')),
  denied('the method escaped (tools\\/call): -32003', JSON.stringify(call('forbidden')).replace('tools/call', 'tools\\/call')),
  denied('duplicate "name" keys, the last one forbidden: -32003', JSON.stringify(call('echo')).replace('"name":"echo"', '"name":"echo","name":"forbidden"')),
  {
    name: 'duplicate "name" keys, the first one forbidden: refused, or forwarded with one name',
    send: post(JSON.stringify(call('echo')).replace('"name":"echo"', '"name":"forbidden","name":"echo"')),
    check: (r, snap) => {
      neverForbidden(r, snap);
      if (r.responses[0].status !== 200 || r.responses[0].json?.error) return;
      // Forwarded: a server whose parser keeps the first key must not read "forbidden".
      assert.equal(up.seen.at(-1).body.match(/"name"/g).length, 1, `forwarded as ${up.seen.at(-1).body}`);
    }
  },
  {
    name: 'a batch with a forbidden element: that element -32003, the other forwarded alone',
    send: post([call('echo'), { ...call('forbidden'), id: 2 }]),
    statuses: [200],
    runs: 1,
    check: (r, snap) => {
      neverForbidden(r, snap);
      assert.equal(r.responses[0].json.find((m) => m.id === 2).error.code, -32003);
    }
  },
  ...[
    ['an id written as 3.0 (the official SDK reads 3)', JSON.stringify(call('forbidden')).replace('"id":1', '"id":3.0')],
    ['an id that is a fraction', call('forbidden', { id: 1.5 })],
    ['an id that is null', call('forbidden', { id: null })],
    ['an id that is a boolean', call('forbidden', { id: true })],
    ['no jsonrpc member', { ...call('forbidden'), jsonrpc: undefined }],
    ['jsonrpc "1.0"', call('forbidden', { jsonrpc: '1.0' })],
    ['a notification (no id)', { ...call('forbidden'), id: undefined }],
    ['params that are a list', { ...call('forbidden'), params: ['forbidden'] }]
  ].map(([what, body]) => ({
    name: `a tools/call of a forbidden tool with ${what}: never forwarded`,
    send: post(body),
    check: neverForbidden,
    runs: 0
  })),
  {
    name: '2026-07-28: Mcp-Name naming an allowed tool over a body calling a forbidden one: 400 -32020',
    send: post({ ...call('forbidden'), params: { name: 'forbidden', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } },
      headersFor(T_AUDIT, [['MCP-Protocol-Version', '2026-07-28'], ['Mcp-Method', 'tools/call'], ['Mcp-Name', 'echo']])),
    statuses: [400],
    code: -32020,
    runs: 0,
    check: neverForbidden
  },
  {
    name: '2026-07-28: Mcp-Name twice, the second line naming another tool: 400 -32020',
    send: post({ ...call('echo'), params: { name: 'echo', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } },
      headersFor(T_AUDIT, [['MCP-Protocol-Version', '2026-07-28'], ['Mcp-Method', 'tools/call'], ['Mcp-Name', 'echo'], ['Mcp-Name', 'forbidden']])),
    statuses: [400],
    code: -32020,
    runs: 0
  },
  {
    name: '2026-07-28: a batch: 400 -32600, not forwarded',
    send: post([call('echo')], headersFor(T_AUDIT, [['MCP-Protocol-Version', '2026-07-28']])),
    statuses: [400],
    code: -32600,
    runs: 0
  },
  // Identity: only the verified one reaches the server.
  ...[
    ['a spoofed X-MCP-Client-Identity', [['X-MCP-Client-Identity', ID('orchestrator')]]],
    ['two spoofed X-MCP-Client-Identity lines', [['x-mcp-client-identity', ID('orchestrator')], ['X-Mcp-Client-Identity', 'admin']]],
    ['X-MCP-Client-Identity named in Connection', [['Connection', 'X-MCP-Client-Identity'], ['X-MCP-Client-Identity', ID('orchestrator')]]]
  ].map(([what, extra]) => ({
    name: `${what}: the server sees one identity, the verified one`,
    send: post(call('echo'), headersFor(T_AUDIT, extra)),
    statuses: [200],
    runs: 1,
    check: () => {
      assert.deepEqual(forwarded('X-MCP-Client-Identity'), ['bearer:auditor']);
      assert.deepEqual(forwarded('Authorization'), [], 'the caller\'s token was forwarded');
    }
  })),
  ...[
    ['X_MCP_Client_Identity (underscores: CGI and WSGI servers read it as the identity header)', 'X_MCP_Client_Identity'],
    ['X-Forwarded-Client-Cert', 'X-Forwarded-Client-Cert']
  ].map(([what, header]) => ({
    name: `a caller-made ${what} never reaches the server`,
    send: post(call('echo'), headersFor(T_AUDIT, [[header, `URI=${ID('orchestrator')}`]])),
    statuses: [200],
    runs: 1,
    check: () => assert.deepEqual(forwarded(header), [])
  })),
  // Methods MCP does not use, and targets that are not paths.
  ...[['TRACE', '/mcp'], ['PROPFIND', '/mcp'], ['get', '/mcp'], ['CONNECT', '127.0.0.1:22'], ['OPTIONS', '*']].map(([method, target]) => ({
    name: `${method} ${target} with a token: 405, not forwarded`,
    send: httpRequest(method, target, { headers: headersFor(T_AUDIT) }),
    statuses: [405],
    runs: 0
  })),
  {
    name: 'an absolute-form target with a token: 400, not forwarded',
    send: httpRequest('GET', 'http://evil.example/mcp', { headers: headersFor(T_AUDIT) }),
    statuses: [400],
    runs: 0
  },
  {
    name: 'HEAD with a token: the server\'s answer comes back at once, without a body',
    exchange: async (L) => {
      const r = await rawExchange(L.target, httpRequest('HEAD', '/mcp', { headers: headersFor(T_AUDIT) }), { responses: 1, head: true });
      assert.ok(r.ms < 2000, `answered after ${Math.round(r.ms)} ms`);
      return r;
    },
    statuses: [405],
    runs: 1
  },
  // Oversized answers from the server behind the gate.
  {
    name: 'a JSON answer over 16 MiB: 502 -32603, sent once',
    send: post(call('huge'), headersFor(T_ORCH)),
    statuses: [502],
    code: -32603,
    runs: 1,
    timeoutMs: 20000
  },
  {
    name: 'an SSE event over 16 MiB: the stream ends with a JSON-RPC error for the call, not with a truncated event',
    exchange: (L) => rawExchange(L.target, post(call('huge_event'), headersFor(T_ORCH)), { responses: 1, timeoutMs: 20000 }),
    statuses: [200],
    runs: 1,
    check: (r) => {
      const body = r.responses[0].body;
      assert.ok(body.length < 1 << 20, `${body.length} bytes of the oversized event were passed on`);
      assert.match(body, /"error"/);
    }
  }
]);

// The token check must not tell, by its time, how much of a token was right: a token wrong in
// its first byte and one wrong in its last are refused alike. Requests alternate on two kept-
// alive connections, so drift and warm-up hit both; the bound is wide (an HTTP round trip is
// hundreds of microseconds, a leaking comparison of 36 bytes a few nanoseconds per byte), so
// this catches gross asymmetries (an early exit that skips work, a per-byte delay), not cache
// effects.
test('timing: a token wrong in its first byte and one wrong in its last are refused in the same time', async () => {
  const first = `X${T_AUDIT.slice(1)}`;
  const last = `${T_AUDIT.slice(0, -1)}X`;
  const request = (token) => post('{"jsonrpc":"2.0","id":1,"method":"ping"}', headersFor(token));
  const [a, b] = [await keepAlive(L.target), await keepAlive(L.target)];
  try {
    const times = { first: [], last: [] };
    for (let i = 0; i < 350; i++) {
      const pair = i % 2 ? [[a, first], [b, last]] : [[b, last], [a, first]];
      for (const [conn, token] of pair) {
        const r = await conn.send(request(token));
        assert.equal(r.status, 401);
        if (i >= 50) times[token === first ? 'first' : 'last'].push(r.ms);
      }
    }
    // Means without the slowest and fastest tenth (scheduling noise on shared cores).
    const trimmed = (xs) => {
      const s = [...xs].sort((p, q) => p - q).slice(xs.length / 10, xs.length - xs.length / 10);
      return s.reduce((p, q) => p + q, 0) / s.length;
    };
    const [f, l] = [trimmed(times.first), trimmed(times.last)];
    console.log(`token refusal: wrong first byte ${(f * 1000).toFixed(0)} us, wrong last byte ${(l * 1000).toFixed(0)} us (300 each)`);
    assert.ok(Math.abs(f - l) < 0.5 * Math.min(f, l) + 0.1, `first ${f.toFixed(3)} ms, last ${l.toFixed(3)} ms`);
  } finally {
    a.close();
    b.close();
  }
  assert.equal(up.counts.tools.ping ?? 0, 0);
});

// ---- the mTLS gate ------------------------------------------------------------------------------

// An exchange with the mTLS gate presenting the certificate `name` of the PKI (made in before()),
// or none.
const withCert = (name, send) => (M) =>
  rawExchange({ ...M.target, tls: { ...trust(), ...(name ? certOf(name) : {}) } }, send ?? goodRequest(M), { responses: send && 1, timeoutMs: 5000 });
const handshakeRefused = (what, cert) => ({ name: `${what}: the handshake is refused, nothing forwarded`, exchange: withCert(cert), statuses: [], closed: true, runs: 0 });

testCases(test, M, [
  handshakeRefused('no client certificate', null),
  handshakeRefused('a certificate from another CA (same SPIFFE id)', 'foreign'),
  handshakeRefused('an expired certificate', 'expired'),
  handshakeRefused('a certificate valid only from 2099', 'not-yet-valid'),
  handshakeRefused('a certificate for server auth only', 'server-only'),
  handshakeRefused('the CA\'s own certificate as a client certificate', 'ca'),
  ...[
    ['a SPIFFE id the policy does not allow', 'auditor'],
    ['the right service account in another trust domain', 'other-domain'],
    ['no SAN, the right name in the CN only', 'cn-only']
  ].map(([what, cert]) => ({
    name: `${what}: -32003, not forwarded`,
    exchange: withCert(cert, post(call('echo'), headersFor(undefined))),
    statuses: [200],
    code: -32003,
    runs: 0
  })),
  {
    name: 'a spoofed X-MCP-Client-Identity with a valid certificate: the server sees the certificate\'s identity once',
    send: post(call('echo'), headersFor(undefined, [['X-MCP-Client-Identity', ID('admin')], ['X-MCP-Client-Identity', ID('admin')]])),
    statuses: [200],
    runs: 1,
    check: () => assert.deepEqual(forwarded('X-MCP-Client-Identity'), [ID('orchestrator')])
  },
  {
    name: 'a caller-made X-Forwarded-Client-Cert with a valid certificate never reaches the server',
    send: post(call('echo'), headersFor(undefined, [['X-Forwarded-Client-Cert', `URI=${ID('admin')}`]])),
    statuses: [200],
    runs: 1,
    check: () => assert.deepEqual(forwarded('X-Forwarded-Client-Cert'), [])
  },
  ...tlsCases(M)
]);

// With the official SDK's server behind the gate: the odd-id bypass runs a tool the caller may
// not call, and returns its data.
test('with the official SDK behind the gate, a forbidden tools/call with id 3.0 never runs', async () => {
  const registry = await startServer('registry', { dir: fs.mkdtempSync(`${dir}/registry-`), testTools: true });
  cleanup.push(() => registry.stop());
  const g = await gate('sdk', { forward_to: registry.base, auth: { bearer_tokens_file: `${dir}/tokens` }, policy: [{ callers: ['bearer:auditor'], tools: ['ping'] }] });
  const target = { port: Number(g.addresses.inbound.split(':')[1]) };
  const init = only(await rawExchange(target, post({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'hostile', version: '1' } } }), { responses: 1 }));
  const session = [['Mcp-Session-Id', init.headers['mcp-session-id']], ['MCP-Protocol-Version', '2025-11-25']];
  await rawExchange(target, post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headersFor(T_AUDIT, session)), { responses: 1 });
  const lookup = (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"lookup_company","arguments":{"company_number":"GB-10001","case_id":"c-1"}}}`;
  const plain = only(await rawExchange(target, post(lookup('2'), headersFor(T_AUDIT, session)), { responses: 1 }));
  assert.equal(plain.json.error.code, -32003, plain.body);
  await rawExchange(target, post(lookup('3.0'), headersFor(T_AUDIT, session)), { responses: 1 });
  assert.equal((await registry.stats()).executions.lookup_company ?? 0, 0, 'lookup_company ran for a caller allowed ping only');
});
