#!/usr/bin/env node
// Smoke test for one running example server, using the SDK's own client.
//
//   node smoke-client.mjs http://127.0.0.1:PORT/mcp [--token TOKEN] [--case-id ID]
//
// Connects (Streamable HTTP, with session), lists the tools, calls every tool the
// server has with fixture arguments, checks the results, terminates the session
// (DELETE) and compares GET /_test/stats before/after. Exit 0 when all checks pass.
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { token: { type: 'string' }, 'case-id': { type: 'string', default: 'smoke-case-1' } }
});
if (positionals.length !== 1) {
  process.stderr.write('usage: node smoke-client.mjs http://127.0.0.1:PORT/mcp [--token TOKEN] [--case-id ID]\n');
  process.exit(2);
}
const mcpUrl = new URL(positionals[0]);
const statsUrl = new URL('/_test/stats', mcpUrl);
const caseId = values['case-id'];

const failures = [];
function check(cond, what) {
  if (!cond) failures.push(what);
  process.stdout.write(`${cond ? 'ok  ' : 'FAIL'} ${what}\n`);
}

async function stats() {
  const r = await fetch(statsUrl);
  return r.json();
}

// Arguments per tool; `expect` checks the structured result.
const CALLS = {
  ping: [{ args: {}, expect: (s) => s.ok === true }],
  lookup_company: [
    { args: { company_number: 'GB-10001', case_id: caseId }, expect: (s) => s.beneficial_owners.length >= 2 },
    { args: { company_number: 'XX-0', case_id: caseId }, error: /company not found/ }
  ],
  get_filings: [{ args: { company_number: 'DE-20002', case_id: caseId }, expect: (s) => s.filings.length > 0 }],
  screen_entity: [
    { args: { name: 'Oranjekade Maritime Trading BV', entity_type: 'company', case_id: caseId }, expect: (s) => s.sanctions_clear === false },
    { args: { name: 'Harriet Mole', entity_type: 'person', case_id: caseId }, expect: (s) => s.sanctions_clear === true }
  ],
  check_pep: [
    { args: { name: 'Mira Albrechtsen', case_id: caseId }, expect: (s) => s.is_pep === true && typeof s.pep_role === 'string' },
    { args: { name: 'Harriet Mole', case_id: caseId }, expect: (s) => s.is_pep === false && s.pep_role === null }
  ],
  list_sources: [
    { args: {}, expect: (s) => Array.isArray(s.sources) && s.sources.length > 0 },
    { args: { case_id: caseId }, error: /Unrecognized key|unrecognized/i, notExecuted: true }
  ],
  score_case: [
    {
      args: {
        case_id: caseId,
        company: { company_number: 'DE-20002', jurisdiction: 'DE', owner_count: 2 },
        screening: { company_sanctions_hit: false, owner_sanctions_hits: [false, false], owner_pep_flags: [false, true] }
      },
      expect: (s) => s.decision === 'review'
    }
  ],
  record_decision: [{ args: { case_id: caseId, decision: 'review' }, expect: (s) => s.recorded === true && s.sequence >= 1 }],
  sleep: [{ args: { ms: 50, case_id: caseId }, expect: (s) => s.slept === 50 }],
  counter: [
    { args: { key: 'smoke' }, expect: (s) => s.key === 'smoke' && s.count >= 1 },
    { args: { key: 'smoke' }, expect: (s) => s.count >= 2 }
  ],
  progress: [{ args: { steps: 3, interval_ms: 10 }, progress: 3, expect: (s) => s.steps === 3 }]
};

const before = await stats();
const headers = { 'X-Case-Id': caseId, 'X-MCP-Client-Identity': 'smoke-client' };
if (values.token) headers.Authorization = `Bearer ${values.token}`;
const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers } });
const client = new Client({ name: 'kyc-smoke-client', version: '0.1.0' });
await client.connect(transport);
check(typeof transport.sessionId === 'string', 'session established');

const { tools } = await client.listTools();
process.stdout.write(`tools: ${tools.map((t) => t.name).join(', ')}\n`);
const expectedExec = {};
for (const tool of tools) {
  const calls = CALLS[tool.name];
  if (!calls) {
    check(false, `no smoke arguments for tool ${tool.name}`);
    continue;
  }
  for (const c of calls) {
    let progressSeen = 0;
    const opts = c.progress ? { onprogress: () => (progressSeen += 1) } : undefined;
    const res = await client.callTool({ name: tool.name, arguments: c.args, _meta: { 'io.mcp-sidecar/case_id': caseId } }, undefined, opts);
    const label = `${tool.name}(${Object.keys(c.args).join(',')})`;
    if (c.error) {
      check(res.isError === true && c.error.test(res.content?.[0]?.text ?? ''), `${label} -> isError matching ${c.error}`);
    } else {
      check(!res.isError && c.expect(res.structuredContent) && JSON.parse(res.content[0].text) !== null, `${label} -> expected result`);
    }
    if (c.progress) check(progressSeen === c.progress, `${label} -> ${progressSeen} progress notifications`);
    if (!c.notExecuted) expectedExec[tool.name] = (expectedExec[tool.name] ?? 0) + 1;
  }
}

await transport.terminateSession();
await client.close();

const after = await stats();
check(after.sessions_opened - before.sessions_opened === 1, 'stats: one session opened');
check(after.sessions_deleted - before.sessions_deleted === 1, 'stats: one session deleted');
check(after.active_sessions === before.active_sessions, 'stats: active sessions back to before');
for (const [name, n] of Object.entries(expectedExec)) {
  const delta = (after.executions[name] ?? 0) - (before.executions[name] ?? 0);
  check(delta === n, `stats: ${name} executed ${delta} time(s), expected ${n}`);
}

if (failures.length) {
  process.stdout.write(`${failures.length} check(s) failed\n`);
  process.exit(1);
}
process.stdout.write('all checks passed\n');
