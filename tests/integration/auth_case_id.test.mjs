// Credentials at the transport (bearer on and off) and the case_id rules, against the real
// KYC servers: header, argument or generated; injected only where a tool's schema declares it;
// in every server's log and in /debug/calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  ROLES, SIDECAR_BIN, callTool, metrics, metricValue, readJsonLines, request, sidecarConfig, startServer, startSidecar, until
} from './helpers.mjs';
import { exchange } from './mcp_raw.mjs';

const dir = fs.mkdtempSync('/tmp/it-auth-');
const token = crypto.randomBytes(16).toString('hex');
let secured;  // servers requiring the token
let open;     // servers without auth
before(async () => {
  secured = await Promise.all(ROLES.map((role) => startServer(role, { dir: fs.mkdtempSync(`${dir}/s-`), env: { MCP_BEARER_TOKEN: token } })));
  open = await Promise.all(['registry', 'pep'].map((role) => startServer(role, { dir: fs.mkdtempSync(`${dir}/o-`), env: { MCP_BEARER_TOKEN: '' } })));
});
after(async () => {
  await Promise.all([...secured, ...open].map((s) => s.stop()));
});

test('bearer on: the token rides on every upstream request, nothing is refused', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'bearer-on', env: { MCP_BEARER_TOKEN: token }, config: sidecarConfig(secured) });
  try {
    for (const s of secured) assert.equal((await callTool(sidecar, s.role, 'ping')).status, 200);
    for (const s of secured) assert.equal(s.logLines().filter((l) => l.event === 'unauthorized').length, 0, s.role);
    const warned = sidecar.logLines().some((l) => l.event === 'auth_disabled');
    assert.equal(warned, false);
    const m = await metrics(sidecar);
    assert.equal(metricValue(m, 'mcp_sidecar_auth_disabled', { server: 'registry' }), 0);
    // The token never appears in the sidecar's own output.
    assert.equal(fs.readFileSync(sidecar.logFile, 'utf8').includes(token), false);
    const config = (await request(`${sidecar.admin}/debug/config`)).body;
    assert.equal(config.includes(token), false);
    assert.ok(config.includes('<redacted>'));
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('bearer missing: the server refuses the sidecar and the caller gets a clear 502 (a refusal, not an outage)', async () => {
  const sidecar = await startSidecar({
    bin: SIDECAR_BIN, dir, name: 'bearer-missing', env: { MCP_BEARER_TOKEN: '' },
    config: sidecarConfig(secured, { retry: { max_attempts: 2, base_delay_ms: 10, max_delay_ms: 50 } })
  });
  try {
    const r = await callTool(sidecar, 'registry', 'ping');
    assert.equal(r.status, 502, r.body);
    assert.equal(r.json.error.code, 'upstream_protocol_error');
    assert.match(r.json.error.message, /no session could be opened: .*credentials \(HTTP 401\)/);
    assert.ok(Number(r.headers['retry-after']) >= 1);
    const registry = secured.find((s) => s.role === 'registry');
    assert.ok(registry.logLines().some((l) => l.event === 'unauthorized' && l.reason === 'missing_token'));
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('bearer off: calls work, and the sidecar says loudly that auth is off', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'bearer-off', env: { MCP_BEARER_TOKEN: '' }, config: sidecarConfig(open) });
  try {
    assert.equal((await callTool(sidecar, 'registry', 'ping')).status, 200);
    const warning = sidecar.logLines().find((l) => l.event === 'auth_disabled');
    assert.ok(warning, 'no auth_disabled warning at startup');
    assert.equal(warning.level, 'warn');
    assert.deepEqual(warning.servers.sort(), ['pep', 'registry']);
    assert.equal(metricValue(await metrics(sidecar), 'mcp_sidecar_auth_disabled', { server: 'registry' }), 1);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('case_id reaches all four servers, their logs and /debug/calls', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'case', env: { MCP_BEARER_TOKEN: token }, config: sidecarConfig(secured) });
  try {
    const caseId = `case-${crypto.randomBytes(4).toString('hex')}`;
    const h = { 'X-Case-Id': caseId };
    const calls = [
      ['registry', 'lookup_company', { company_number: 'GB-10001' }],
      ['sanctions', 'screen_entity', { name: 'Somebody', entity_type: 'person' }],
      ['pep', 'check_pep', { name: 'Somebody' }],
      ['risk', 'score_case', {
        company: { company_number: 'GB-10001', jurisdiction: 'GB' },
        screening: { company_sanctions_hit: false, owner_sanctions_hits: [], owner_pep_flags: [] }
      }]
    ];
    for (const [server, tool, args] of calls) {
      const r = await callTool(sidecar, server, tool, args, h);
      assert.equal(r.status, 200, `${server}/${tool}: ${r.body}`);
      assert.notEqual(r.json.isError, true, `${server}/${tool}: ${r.body}`);
      assert.equal(r.headers['x-case-id'], caseId);
    }
    for (const s of secured) {
      const entries = s.logLines().filter((l) => l.event === 'tool_call' && l.case_id === caseId);
      assert.equal(entries.length, 1, `${s.role} log`);
      // Injected into the arguments (the schema declares it) and sent as X-Case-Id.
      assert.equal(entries[0].case_id_header, caseId);
    }
    const debug = (await request(`${sidecar.admin}/debug/calls?case_id=${caseId}`)).json;
    assert.deepEqual(debug.calls.map((c) => `${c.server}/${c.tool}/${c.outcome}`), calls.map(([s, t]) => `${s}/${t}/ok`));
    for (const c of debug.calls) assert.equal(c.arguments, undefined);
    // Every sidecar log line of the call carries the case id. The last call_end may still be in
    // the pipe when its response arrives, so wait for the eight lines rather than count once.
    const ours = () => sidecar.logLines()
      .filter((l) => (l.event === 'call_start' || l.event === 'call_end') && l.case_id === caseId);
    await until(() => ours().length >= 8, { timeoutMs: 5000, what: 'eight call_start/call_end lines' });
    assert.equal(ours().length, 8);
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('case_id from the argument alone, or generated when absent', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'case2', env: { MCP_BEARER_TOKEN: token }, config: sidecarConfig(secured) });
  try {
    const registry = secured.find((s) => s.role === 'registry');
    const r = await callTool(sidecar, 'registry', 'get_filings', { company_number: 'GB-10001', case_id: 'from-arg-1' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-case-id'], 'from-arg-1');
    assert.ok(registry.logLines().some((l) => l.tool === 'get_filings' && l.case_id === 'from-arg-1' && l.case_id_header === 'from-arg-1'));

    const g = await callTool(sidecar, 'registry', 'get_filings', { company_number: 'GB-10001' });
    assert.equal(g.status, 200, g.body);
    const generated = g.headers['x-case-id'];
    assert.match(generated, /^c-[0-9a-f]{24}$/);
    assert.ok(registry.logLines().some((l) => l.tool === 'get_filings' && l.case_id === generated));
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

// A 2026-07-28 client's arguments go on as the text it wrote; the case id argument is still read
// from them, and added where the tool declares it and the client left it out.
test('a 2026-07-28 client through /mcp: case_id from the arguments\' text, or generated and injected', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'case-modern', env: { MCP_BEARER_TOKEN: token }, config: sidecarConfig(secured) });
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'case-test', version: '1' }
  };
  const call = (id, argsText) => exchange(`${sidecar.outbound}/mcp/registry`, {
    headers: { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'get_filings' },
    body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"get_filings","arguments":${argsText},"_meta":${JSON.stringify(meta)}}}`
  });
  try {
    const registry = secured.find((s) => s.role === 'registry');
    const given = await call(1, '{ "company_number" : "GB-10001", "case_id":"modern-arg-1" }');
    assert.equal(given.status, 200, given.body);
    assert.equal(given.headers['x-case-id'], 'modern-arg-1');
    assert.ok(registry.logLines().some((l) => l.tool === 'get_filings' && l.case_id === 'modern-arg-1'));

    const left_out = await call(2, '{"company_number":"GB-10001"}');
    assert.equal(left_out.status, 200, left_out.body);
    const generated = left_out.headers['x-case-id'];
    assert.match(generated, /^c-[0-9a-f]{24}$/);
    assert.ok(registry.logLines().some((l) => l.tool === 'get_filings' && l.case_id === generated),
      'the generated case id reached the tool as its case_id argument');
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});

test('case_id is not injected into a tool whose schema does not declare it (a strict server keeps working)', async () => {
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'strict', env: { MCP_BEARER_TOKEN: token }, config: sidecarConfig(secured) });
  try {
    const r = await callTool(sidecar, 'pep', 'list_sources', {}, { 'X-Case-Id': 'strict-1' });
    assert.equal(r.status, 200, r.body);
    assert.notEqual(r.json.isError, true, `the strict tool rejected the call: ${r.body}`);
    // The case still travels in the header and in _meta, so the server can log it.
    const pep = secured.find((s) => s.role === 'pep');
    assert.ok(pep.logLines().some((l) => l.tool === 'list_sources' && l.case_id === 'strict-1' && l.case_id_header === 'strict-1'));
    // With injection forced everywhere, the same strict tool breaks: proof the test can fail.
    const forced = await startSidecar({
      bin: SIDECAR_BIN, dir, name: 'forced', env: { MCP_BEARER_TOKEN: token },
      config: sidecarConfig(secured, { case_id: { inject: 'always' } })
    });
    try {
      const f = await callTool(forced, 'pep', 'list_sources', {}, { 'X-Case-Id': 'strict-2' });
      assert.equal(f.status, 200);
      assert.equal(f.json.isError, true);
    } finally {
      assert.equal(await forced.stop(), 0);
    }
  } finally {
    assert.equal(await sidecar.stop(), 0);
  }
});
