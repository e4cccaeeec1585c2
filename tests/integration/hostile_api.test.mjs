// Hostile and malformed input on the outbound REST API (/v1/...), against a counting upstream.
// Every case asserts the exact answer, that nothing it should not have done reached the
// upstream (its request counter), and that the sidecar still serves a good call afterwards.
//
// The contract (docs/api.md, src/http/server.cpp, src/outbound/api.cpp):
// - HTTP framing the parser cannot trust: 400 and close (malformed lines, bad or conflicting
//   lengths, Content-Length with Transfer-Encoding, a coding other than chunked, bad chunks, no
//   Host or two); head over max_header_bytes: 431; body over max_body_bytes: 413 before it is
//   read; a request not complete within request_timeout: 408 and closed; a silent connection
//   past idle_timeout: closed. Pipelined requests are answered in order; nothing after a refusal
//   or a Connection: close is read.
// - A body that is not one JSON object of arguments (malformed, nested past 128, invalid UTF-8,
//   another type, trailing bytes): 400 bad_request; a bad case id: 400 bad_case_id; a Host that is
//   not loopback or a foreign Origin: 403 forbidden; a server name that is not configured: 404
//   unknown_server, however it is spelled; a tool the server does not list: 404 unknown_tool;
//   a method the endpoint does not take: 405 with Allow; a target that is not origin-form: 400.
//   None of them reaches the upstream.
// - Duplicate JSON keys: the last one counts, and the upstream receives the arguments
//   re-serialized (one key), so it cannot read them differently.
// - An upstream answer over upstream.max_response_bytes (a body or one SSE event), or nested too
//   deep: 502 upstream_protocol_error at once, the call sent once and never retried.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { startWithSidecar } from './counting_upstream.mjs';
import { SMALL_LIMITS, framingCases, goodRequest, httpRequest, testCases } from './raw_http.mjs';

const dir = fs.mkdtempSync('/tmp/it-hostile-api-');
let up;
let sidecar;

const JSON_HEADERS = [['Host', 'localhost'], ['Content-Type', 'application/json']];
const ECHO = '/v1/servers/count/tools/echo';

// The listener as raw_http.mjs's cases see it.
const L = {
  good: { method: 'POST', path: ECHO, headers: JSON_HEADERS, body: '{"text":"ok"}' },
  status: 200,
  headStatus: 405,
  limits: SMALL_LIMITS,
  effects: async () => up.counts.requests
};

before(async () => {
  ({ up, sidecar } = await startWithSidecar(dir));
  Object.assign(L, { target: { port: Number(new URL(sidecar.outbound).port) }, proc: sidecar.proc });
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await up.close();
});

testCases(test, L, framingCases(L));

// A request to the REST API: POST `path` with `body` and JSON headers (plus `headers`).
const post = (path, body = '{}', headers = []) => httpRequest('POST', path, { headers: [...JSON_HEADERS, ...headers], body });
const refused = (status, code, extra = {}) => ({ statuses: [status], code, runs: 0, ...extra });
const bad = (name, body) => ({ name: `${name}: 400 bad_request`, send: post(ECHO, body), ...refused(400, 'bad_request') });
const utf8 = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const lastBody = () => JSON.parse(up.seen.at(-1).body);

testCases(test, L, [
  // Bodies that are not one JSON object of arguments.
  bad('malformed JSON', '{"text":'),
  bad('JSON nested 200 deep', `{"a":${'['.repeat(199)}${']'.repeat(199)}}`),
  bad('60000 unclosed brackets (no stack overflow)', '['.repeat(60000)),
  bad('a JSON array', '[{"text":"a"}]'),
  bad('a JSON string', '"text"'),
  bad('JSON null', 'null'),
  bad('a JSON number', '42'),
  bad('invalid UTF-8 in a string', utf8('{"text":"', Buffer.from([0xff, 0xfe]), '"}')),
  bad('an overlong UTF-8 encoding of "/"', utf8('{"text":"', Buffer.from([0xc0, 0xaf]), '"}')),
  bad('an unpaired UTF-16 surrogate escape', '{"text":"\\ud800"}'),
  bad('a UTF-16 body', Buffer.from('{"text":"a"}', 'utf16le')),
  bad('trailing bytes after the object', '{"text":"a"}x'),
  bad('two JSON documents', '{"text":"a"}{"text":"b"}'),
  { name: 'Content-Type text/plain: 400 bad_request', send: httpRequest('POST', ECHO, { headers: [['Host', 'localhost'], ['Content-Type', 'text/plain']], body: '{}' }), ...refused(400, 'bad_request') },
  // Wrong types and duplicate keys.
  { name: 'a case_id argument that is a number: 400 bad_case_id', send: post(ECHO, '{"case_id":5}'), ...refused(400, 'bad_case_id') },
  { name: 'a case_id argument that is an object: 400 bad_case_id', send: post(ECHO, '{"case_id":{"id":"c-1"}}'), ...refused(400, 'bad_case_id') },
  { name: 'duplicate case_id keys, the last one malformed: 400 bad_case_id', send: post(ECHO, '{"case_id":"c-ok","case_id":"not valid!"}'), ...refused(400, 'bad_case_id') },
  {
    name: 'duplicate argument keys: the last one counts, and the upstream gets one key',
    send: post(ECHO, '{"text":"first","text":"last"}'),
    statuses: [200],
    runs: 1,
    check: () => {
      assert.deepEqual(lastBody().params.arguments, { text: 'last' });
      assert.equal(up.seen.at(-1).body.match(/"text"/g).length, 1, up.seen.at(-1).body);
    }
  },
  { name: 'an X-Case-Id with bytes outside ASCII: 400 bad_case_id', send: post(ECHO, '{}', [['X-Case-Id', 'case-\xff\xfe']]), ...refused(400, 'bad_case_id') },
  { name: 'an X-Case-Id with a path in it: 400 bad_case_id', send: post(ECHO, '{}', [['X-Case-Id', '../../etc/passwd']]), ...refused(400, 'bad_case_id') },
  { name: 'X-MCP-Client-Capabilities that is not JSON: 400 bad_request', send: post(ECHO, '{}', [['X-MCP-Client-Capabilities', 'elicitation']]), ...refused(400, 'bad_request') },
  { name: 'X-MCP-Client-Capabilities that is an array: 400 bad_request', send: post(ECHO, '{}', [['X-MCP-Client-Capabilities', '["elicitation"]']]), ...refused(400, 'bad_request') },
  { name: 'X-MCP-Client-Capabilities nested 200 deep: 400 bad_request', send: post(ECHO, '{}', [['X-MCP-Client-Capabilities', `${'{"a":'.repeat(200)}1${'}'.repeat(200)}`]]), ...refused(400, 'bad_request') },
  // Retry bodies.
  { name: 'a retry body with an unknown key: 400 bad_request', send: post(`${ECHO}/retry`, '{"requestState":"s","bogus":1}'), ...refused(400, 'bad_request') },
  { name: 'a retry whose requestState is a number: 400 bad_request', send: post(`${ECHO}/retry`, '{"requestState":5}'), ...refused(400, 'bad_request') },
  { name: 'a retry whose inputResponses is an array: 400 bad_request', send: post(`${ECHO}/retry`, '{"inputResponses":[]}'), ...refused(400, 'bad_request') },
  { name: 'a retry without a body: 400 bad_request', send: post(`${ECHO}/retry`, ''), ...refused(400, 'bad_request') },
  // DNS rebinding: Host and Origin.
  ...[['localhost.evil.example'], ['localhost@evil.example'], ['127.1'], ['2130706433'], ['[::1]evil'], ['']].map(([host]) => ({
    name: `Host ${JSON.stringify(host)}: 403 forbidden`,
    send: httpRequest('POST', ECHO, { headers: [['Host', host], ['Content-Type', 'application/json']], body: '{}' }),
    ...refused(403, 'forbidden')
  })),
  // RFC 9112 3.2: a 400 from the HTTP layer, before the DNS-rebinding check sees the request.
  { name: 'no Host at all (HTTP/1.1): 400 bad_request', send: httpRequest('POST', ECHO, { headers: [['Content-Type', 'application/json']], body: '{}' }), ...refused(400, 'bad_request') },
  ...['null', 'http://localhost.evil.example', 'http://localhost/page', 'file://'].map((origin) => ({
    name: `Origin ${origin}: 403 forbidden`,
    send: post(ECHO, '{}', [['Origin', origin]]),
    ...refused(403, 'forbidden')
  })),
  // Path tricks in the server name: never another server, never another endpoint.
  ...['..', '%2e%2e', 'count%2Ftools%2Fecho', 'count%00', 'c'.repeat(3000), '%C3%A7ount', '%FF', 'COUNT', 'count%20'].map((server) => ({
    name: `server name ${server.length > 40 ? `of ${server.length} characters` : JSON.stringify(server)}: 404 unknown_server`,
    send: post(`/v1/servers/${server}/tools/echo`),
    ...refused(404, 'unknown_server')
  })),
  { name: 'dot segments before the server name: 404 unknown_server', send: post('/v1/servers/../servers/count/tools/echo'), ...refused(404, 'unknown_server') },
  { name: 'dot segments after the tool name: 404 not_found', send: post('/v1/servers/count/tools/echo/../echo'), ...refused(404, 'not_found') },
  { name: 'an empty segment before the server name: 404 unknown_server', send: post('/v1/servers//count/tools/echo'), ...refused(404, 'unknown_server') },
  // Tool names: never another tool, and no tool list refresh for garbage.
  ...['..%2Fecho', 'echo%00', '%2e%2e', 'e'.repeat(3000), '%C3%A9cho', 'echo%0d%0aX-Injected:%201'].map((tool) => ({
    name: `tool name ${tool.length > 40 ? `of ${tool.length} characters` : JSON.stringify(tool)}: 404 unknown_tool`,
    send: post(`/v1/servers/count/tools/${tool}`),
    ...refused(404, 'unknown_tool')
  })),
  // Request targets that are not origin-form.
  { name: 'an invalid percent-encoding in the target: 400 bad_request', send: post('/v1/servers/%zz/tools/echo'), ...refused(400, 'bad_request') },
  { name: 'a raw byte 0xFF in the target: 400 bad_request', send: post('/v1/servers/\xff/tools/echo'), ...refused(400, 'bad_request') },
  { name: 'a fragment in the target: 400 bad_request', send: post(`${ECHO}#frag`), ...refused(400, 'bad_request') },
  { name: 'an absolute-form target: 400 bad_request', send: post(`http://evil.example${ECHO}`), ...refused(400, 'bad_request') },
  { name: 'CONNECT to an authority: 400 bad_request', send: httpRequest('CONNECT', '127.0.0.1:22', { headers: [['Host', '127.0.0.1:22']] }), ...refused(400, 'bad_request') },
  { name: 'OPTIONS *: 400 bad_request', send: httpRequest('OPTIONS', '*', { headers: [['Host', 'localhost']] }), ...refused(400, 'bad_request') },
  // Methods the endpoint does not take.
  ...['TRACE', 'PROPFIND', 'post', 'DELETE', 'OPTIONS', 'PUT'].map((method) => ({
    name: `${method} on a tool: 405 method_not_allowed with Allow`,
    send: httpRequest(method, ECHO, { headers: JSON_HEADERS, body: '{}' }),
    ...refused(405, 'method_not_allowed'),
    check: (r) => assert.equal(r.responses[0].headers.allow, 'GET, POST')
  })),
  // Oversized and malformed upstream answers: a clear 502 at once, the call sent once.
  ...[['huge', 'a JSON answer over max_response_bytes'], ['huge_event', 'an SSE event over max_response_bytes'], ['deep', 'a JSON answer nested 5000 deep']].map(([tool, what]) => ({
    name: `${what}: 502 upstream_protocol_error, sent once`,
    send: post(`/v1/servers/count/tools/${tool}`),
    statuses: [502],
    code: 'upstream_protocol_error',
    runs: 1,
    check: () => assert.equal(JSON.parse(up.seen.at(-1).body).params.name, tool)
  }))
]);
