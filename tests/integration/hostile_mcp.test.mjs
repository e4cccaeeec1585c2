// Hostile and malformed input on the outbound MCP endpoint (/mcp/{server}), against a counting
// upstream. Every case asserts the exact answer, that nothing it should not have done reached
// the upstream, and that the sidecar still serves a good call afterwards.
//
// The contract (docs/api.md "The MCP endpoint", src/outbound/mcp_endpoint.cpp, src/mcp/modern.cpp):
// - HTTP framing: as on every listener (raw_http.mjs framingCases): 400/413/431 and close,
//   timeouts close, pipelined requests answered in order.
// - A body that is not JSON (malformed, nested past 128, invalid UTF-8, empty): 400 -32700; not
//   application/json: 415 -32600; not one JSON-RPC request (a batch for 2026-07-28, a response
//   without a session, a wrong jsonrpc, an id that is not a string or integer, a method that is
//   not a string): 400 -32600; a notification: 202, and nothing forwarded.
// - 2026-07-28 requests are checked as a 2026-07-28 server must: MCP-Protocol-Version absent or
//   unequal to _meta, Mcp-Method or Mcp-Name absent or unequal to the body (after base64-sentinel
//   decoding), an Mcp-Param-* header unequal to its argument: 400 -32020; an unsupported version:
//   400 -32022; _meta without its fields: 400 -32602; an unknown method: 404 -32601; an unknown
//   tool or arguments that are not an object: a JSON-RPC error -32602. Never forwarded.
// - Session clients: an unknown session: 404 -32001; batches outside 2025-03-26, a second
//   initialize: 400 -32600. A server name that is not configured: 404 unknown_server.
// - An upstream answer over upstream.max_response_bytes (a body or an SSE event) or nested too
//   deep: 502 with a JSON-RPC error (-32603, data.code upstream_protocol_error), sent once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { VERBATIM_CONTENT, VERBATIM_STRUCTURED, startWithSidecar } from './counting_upstream.mjs';
import { SMALL_LIMITS, framingCases, httpRequest, only, rawExchange, testCases } from './raw_http.mjs';

const dir = fs.mkdtempSync('/tmp/it-hostile-mcp-');
const V = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'hostile', version: '1' }
};
// A 2026-07-28 tools/call and the headers that mirror it.
const call = (name = 'echo', args = {}, extra = {}) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: META }, ...extra });
const modernHeaders = ({ method = 'tools/call', name = 'echo', version = V } = {}) => [
  ['Host', 'localhost'],
  ['Content-Type', 'application/json'],
  ['Accept', 'application/json, text/event-stream'],
  ['MCP-Protocol-Version', version],
  ['Mcp-Method', method],
  ...(name === null ? [] : [['Mcp-Name', name]])
];
const without = (headers, name) => headers.filter(([n]) => n !== name);

let up;
let sidecar;
let session;  // a 2025-11-25 session of the sidecar's own, opened in before()

const L = {
  good: { method: 'POST', path: '/mcp/count', headers: modernHeaders(), body: JSON.stringify(call('echo', { text: 'ok' })) },
  status: 200,
  headStatus: 405,
  limits: SMALL_LIMITS,
  effects: async () => up.counts.requests
};
const post = (body, headers = modernHeaders(), path = '/mcp/count') =>
  httpRequest('POST', path, { headers, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });

before(async () => {
  ({ up, sidecar } = await startWithSidecar(dir));
  Object.assign(L, { target: { port: Number(new URL(sidecar.outbound).port) }, proc: sidecar.proc });
  const init = only(await rawExchange(L.target, post({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'hostile', version: '1' } } },
  [['Host', 'localhost'], ['Content-Type', 'application/json']]), { responses: 1 }));
  session = init.headers['mcp-session-id'];
  assert.ok(session, init.body);
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await up.close();
});

testCases(test, L, framingCases(L));

const refused = (status, code, extra = {}) => ({ statuses: [status], code, runs: 0, ...extra });
const utf8 = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const callText = (args) => JSON.stringify(call('echo', args));
// A good call whose text argument is `raw` bytes.
const withText = (raw) => utf8(...callText({ text: '@' }).split('@').flatMap((part, i) => (i ? [raw, part] : [part])));
// A POST in the session opened in before() (so built when the case runs).
const sessionPost = (body, extra = []) => ({
  exchange: (L) => rawExchange(L.target, post(body, [['Host', 'localhost'], ['Content-Type', 'application/json'], ['Mcp-Session-Id', session], ...extra]), { responses: 1 })
});

testCases(test, L, [
  // Not JSON, or not JSON-RPC.
  { name: 'Content-Type text/plain: 415 -32600', send: post(call(), [...without(modernHeaders(), 'Content-Type'), ['Content-Type', 'text/plain']]), ...refused(415, -32600) },
  { name: 'no Content-Type: 415 -32600', send: post(call(), without(modernHeaders(), 'Content-Type')), ...refused(415, -32600) },
  ...[
    ['malformed JSON', '{"jsonrpc":"2.0","id":1,'],
    ['JSON nested 200 deep', callText({ x: JSON.parse(`${'['.repeat(150)}${']'.repeat(150)}`) })],
    ['60000 unclosed brackets (no stack overflow)', '['.repeat(60000)],
    ['invalid UTF-8 in a string', withText(Buffer.from([0xff, 0xfe]))],
    ['an overlong UTF-8 encoding', withText(Buffer.from([0xc0, 0xaf]))],
    ['an unpaired UTF-16 surrogate escape', callText({ text: 'X' }).replace('"X"', '"\\udc00"')],
    ['an empty body', '']
  ].map(([what, body]) => ({ name: `${what}: 400 -32700`, send: post(body), ...refused(400, -32700) })),
  ...[
    ['a JSON string', '"tools/call"'],
    ['a batch (not in 2026-07-28)', [call(), call()]],
    ['an empty batch', []],
    ['a JSON-RPC response without a session', { jsonrpc: '2.0', id: 1, result: {} }],
    ['no jsonrpc member', { ...call(), jsonrpc: undefined }],
    ['jsonrpc "1.0"', call('echo', {}, { jsonrpc: '1.0' })],
    ['an id that is a fraction', call('echo', {}, { id: 1.5 })],
    ['an id written as 3.0', JSON.stringify(call()).replace('"id":1', '"id":3.0')],
    ['an id that is null', call('echo', {}, { id: null })],
    ['an id that is an object', call('echo', {}, { id: { n: 1 } })],
    ['a method that is a number', call('echo', {}, { method: 42 })]
  ].map(([what, body]) => ({ name: `${what}: 400 -32600`, send: post(body), ...refused(400, -32600) })),
  { name: 'a tools/call sent as a notification: 202, nothing forwarded', send: post({ ...call(), id: undefined }), statuses: [202], runs: 0 },
  // 2026-07-28: headers against the body.
  { name: 'no MCP-Protocol-Version: 400 -32020', send: post(call(), without(modernHeaders(), 'MCP-Protocol-Version')), ...refused(400, -32020) },
  { name: 'MCP-Protocol-Version unequal to _meta: 400 -32020', send: post(call(), modernHeaders({ version: '2025-11-25' })), ...refused(400, -32020) },
  {
    name: 'an unsupported version in header and _meta: 400 -32022 naming the supported ones',
    send: post({ ...call(), params: { name: 'echo', _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, modernHeaders({ version: '2099-01-01' })),
    ...refused(400, -32022),
    check: (r) => assert.deepEqual(r.responses[0].json.error.data.supported, [V])
  },
  { name: 'no _meta: 400 -32602', send: post({ ...call(), params: { name: 'echo' } }), ...refused(400, -32602) },
  { name: '_meta that is a string: 400 -32602', send: post({ ...call(), params: { name: 'echo', _meta: V } }), ...refused(400, -32602) },
  { name: 'params that are an array: 400 -32602', send: post({ ...call(), params: ['echo'] }), ...refused(400, -32602) },
  {
    name: '_meta without clientCapabilities: 400 -32602',
    send: post({ ...call(), params: { name: 'echo', _meta: { 'io.modelcontextprotocol/protocolVersion': V } } }),
    ...refused(400, -32602)
  },
  { name: 'no Mcp-Method: 400 -32020', send: post(call(), without(modernHeaders(), 'Mcp-Method')), ...refused(400, -32020) },
  { name: 'Mcp-Method naming another method: 400 -32020', send: post(call(), modernHeaders({ method: 'tools/list' })), ...refused(400, -32020) },
  { name: 'no Mcp-Name: 400 -32020', send: post(call(), modernHeaders({ name: null })), ...refused(400, -32020) },
  { name: 'Mcp-Name naming another tool: 400 -32020', send: post(call(), modernHeaders({ name: 'forbidden' })), ...refused(400, -32020) },
  { name: 'Mcp-Name with malformed base64: 400 -32020', send: post(call(), modernHeaders({ name: '=?base64?!!notbase64!!?=' })), ...refused(400, -32020) },
  {
    name: 'Mcp-Name base64 of another tool: 400 -32020',
    send: post(call(), modernHeaders({ name: `=?base64?${Buffer.from('forbidden').toString('base64')}?=` })),
    ...refused(400, -32020)
  },
  { name: 'Mcp-Name twice, the second line naming another tool: 400 -32020', send: post(call(), [...modernHeaders(), ['Mcp-Name', 'forbidden']]), ...refused(400, -32020) },
  {
    name: 'duplicate "method" keys, the last one unequal to Mcp-Method: 400 -32020',
    send: post(JSON.stringify(call()).replace('"method":"tools/call"', '"method":"tools/call","method":"tools/list"')),
    ...refused(400, -32020)
  },
  {
    name: 'duplicate "name" keys, the last one unequal to Mcp-Name: 400 -32020',
    send: post(JSON.stringify(call()).replace('"name":"echo"', '"name":"echo","name":"forbidden"')),
    ...refused(400, -32020)
  },
  { name: 'an x-mcp-header argument without its Mcp-Param header: 400 -32020', send: post(call('echo', { region: 'eu' })), ...refused(400, -32020) },
  { name: 'an Mcp-Param header unequal to its argument: 400 -32020', send: post(call('echo', { region: 'eu' }), [...modernHeaders(), ['Mcp-Param-Region', 'us']]), ...refused(400, -32020) },
  {
    name: 'an Mcp-Param header twice, the second line unequal to its argument: 400 -32020',
    send: post(call('echo', { region: 'eu' }), [...modernHeaders(), ['Mcp-Param-Region', 'eu'], ['Mcp-Param-Region', 'us']]),
    ...refused(400, -32020)
  },
  { name: 'a tool name that is a number: 400 -32020', send: post(call(42), modernHeaders({ name: '42' })), ...refused(400, -32020) },
  { name: 'an unknown logLevel in _meta: 400 -32602', send: post({ ...call(), params: { name: 'echo', _meta: { ...META, 'io.modelcontextprotocol/logLevel': 'loud' } } }), ...refused(400, -32602) },
  // Wrong types and unknown names: JSON-RPC errors, never forwarded.
  { name: 'arguments that are an array: -32602, not forwarded', send: post(call('echo', [1, 2])), ...refused(200, -32602) },
  { name: 'a tool the upstream does not list: -32602, not forwarded', send: post(call('no_such_tool'), modernHeaders({ name: 'no_such_tool' })), ...refused(200, -32602) },
  { name: 'a tool name with a path in it: -32602, not forwarded', send: post(call('../echo'), modernHeaders({ name: '../echo' })), ...refused(200, -32602) },
  { name: 'an unknown method: 404 -32601', send: post({ jsonrpc: '2.0', id: 1, method: 'admin/shutdown', params: { _meta: META } }, modernHeaders({ method: 'admin/shutdown', name: null })), ...refused(404, -32601) },
  { name: 'initialize in 2026-07-28: 404 -32601', send: post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { _meta: META } }, modernHeaders({ method: 'initialize', name: null })), ...refused(404, -32601) },
  // Session clients.
  { name: 'an unknown Mcp-Session-Id: 404 -32001', send: post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, [['Host', 'localhost'], ['Content-Type', 'application/json'], ['Mcp-Session-Id', 'f'.repeat(32)]]), ...refused(404, -32001) },
  { name: 'an Mcp-Session-Id of 3000 bytes: 404 -32001', send: post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, [['Host', 'localhost'], ['Content-Type', 'application/json'], ['Mcp-Session-Id', 's'.repeat(3000)]]), ...refused(404, -32001) },
  {
    name: 'initialize with a protocolVersion that is a number: -32602, not forwarded',
    send: post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 20251125, capabilities: {} } }, [['Host', 'localhost'], ['Content-Type', 'application/json']]),
    ...refused(200, -32602)
  },
  { name: 'a batch in a 2025-11-25 session: 400 -32600', ...sessionPost([{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' }]), ...refused(400, -32600) },
  { name: 'initialize again in a session: 400 -32600', ...sessionPost({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } }), ...refused(400, -32600) },
  { name: 'a session request with MCP-Protocol-Version 2026-07-28: 400 -32600', ...sessionPost({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, [['MCP-Protocol-Version', V]]), ...refused(400, -32600) },
  { name: 'a response to a request the sidecar never made: 202, nothing forwarded', ...sessionPost({ jsonrpc: '2.0', id: 424242, result: { action: 'accept' } }), statuses: [202], runs: 0 },
  // Methods and paths.
  ...['GET', 'DELETE'].map((method) => ({
    name: `${method} without a session: 405 with Allow: POST`,
    send: httpRequest(method, '/mcp/count', { headers: [['Host', 'localhost']] }),
    ...refused(405, -32600),
    check: (r) => assert.equal(r.responses[0].headers.allow, 'POST')
  })),
  ...['TRACE', 'PROPFIND', 'post'].map((method) => ({ name: `${method}: 405 -32600`, send: httpRequest(method, '/mcp/count', { headers: modernHeaders(), body: JSON.stringify(call()) }), ...refused(405, -32600) })),
  ...['/mcp/count/sse', '/mcp/count/messages?sessionId=x'].map((path) => ({ name: `${path} while the HTTP+SSE endpoint is off: 404 -32600`, send: post(call(), modernHeaders(), path), ...refused(404, -32600) })),
  ...['..', '%2e%2e', 'count%2F..', 'count%00', 'c'.repeat(3000), '%C3%A7ount', ''].map((server) => ({
    name: `server name ${server.length > 40 ? `of ${server.length} characters` : JSON.stringify(server)}: 404 unknown_server`,
    send: post(call(), modernHeaders(), `/mcp/${server}`),
    ...refused(404, 'unknown_server')
  })),
  { name: 'a path below the endpoint: 404 not_found', send: post(call(), modernHeaders(), '/mcp/count/tools'), ...refused(404, 'not_found') },
  // Oversized and malformed upstream answers.
  ...[['huge', 'a JSON answer over max_response_bytes'], ['huge_event', 'an SSE event over max_response_bytes'], ['deep', 'a JSON answer nested 5000 deep'],
    ['deep_content', 'a tool result whose content is nested 200 deep'], ['broken_content', 'a tool result whose content is malformed']].map(([tool, what]) => ({
    name: `${what}: 502 -32603 upstream_protocol_error, sent once`,
    send: post(call(tool), modernHeaders({ name: tool })),
    statuses: [502],
    code: -32603,
    runs: 1,
    check: (r) => {
      assert.equal(r.responses[0].json.error.data.code, 'upstream_protocol_error');
      assert.equal(JSON.parse(up.seen.at(-1).body).params.name, tool);
    }
  }))
]);

// What a tool returned is passed on as the upstream wrote it (kept as text, checked as JSON):
// member order, spaces, escapes and number forms reach the client unchanged.
test('a tool result\'s content and structuredContent reach the client byte for byte', async () => {
  const r = only(await rawExchange(L.target, post(call('verbatim'), modernHeaders({ name: 'verbatim' })), { responses: 1 }));
  assert.equal(r.status, 200, r.body);
  assert.ok(r.body.includes(`"content":${VERBATIM_CONTENT}`), r.body);
  assert.ok(r.body.includes(`"structuredContent":${VERBATIM_STRUCTURED}`), r.body);
  const { result } = JSON.parse(r.body);
  assert.equal(result.content[0].text, 'caf\u00e9 / 2.50');
  assert.deepEqual(Object.keys(result.structuredContent), ['zeta', 'alpha', 'nested']);
  assert.equal(result.isError, false);
  assert.equal(result.resultType, 'complete');
});

// A 2026-07-28 client's arguments go on as the client wrote them (read in place, checked as
// JSON, never built as values): spaces, escapes, member order and numbers past what a double
// holds reach the upstream unchanged. A request in which an object repeats a key is read as
// values instead (the last one counts), so that the upstream cannot read what the sidecar did not.
test('a 2026-07-28 client\'s arguments reach the upstream as written; with a repeated key, as values', async () => {
  const callText = (id, args) =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"verbatim","arguments":${args},"_meta":${JSON.stringify(META)}}}`;
  const written = '{ "zeta" : 1,"alpha":2.50, "s":"caf\\u00e9 \\/","big":123456789012345678901234567890,"nested":{"b":[1.0e2,-0],"a":null} }';
  let r = only(await rawExchange(L.target, post(callText(7, written), modernHeaders({ name: 'verbatim' })), { responses: 1 }));
  assert.equal(r.status, 200, r.body);
  let sent = up.seen.at(-1).body;
  assert.ok(sent.includes(`"arguments":${written},`), sent);

  r = only(await rawExchange(L.target, post(callText(8, '{"k":"first","other":{"k":1,"k":2},"k":"last"}'), modernHeaders({ name: 'verbatim' })), { responses: 1 }));
  assert.equal(r.status, 200, r.body);
  sent = up.seen.at(-1).body;
  assert.deepEqual(JSON.parse(sent).params.arguments, { k: 'last', other: { k: 2 } });
  assert.ok(sent.includes('"arguments":{"k":"last","other":{"k":2}}'), sent);
});
