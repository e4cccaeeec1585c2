// The interoperability matrix: unmodified official SDK clients (rows) through mcp-sidecar's MCP
// endpoint to upstreams of each MCP revision (the conformance fixture in its three modes), five
// behaviours per cell: list tools, a plain call, progress, an elicitation round trip and
// cancellation. One test per cell (`<client> -> <upstream> upstream`), one subtest per
// behaviour; a behaviour the sidecar does not give yet is a subtest marked `todo` with its
// reason (TODO below), and a cell the specification rules out says why in the table (NOT_APPLICABLE)
// instead of asserting. The matrix is printed at the end.
//
// Evidence is taken where the behaviour happens: the client's own results and callbacks, the
// sidecar's metrics, and the fixture's request trace (what reached the upstream).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  SIDECAR_BIN, metricValue, metrics, readJsonLines, sidecarConfig, skipOrFail, startSidecar, until, waitForExit
} from './helpers.mjs';
import { waitForJsonLine } from '../../examples/kyc/launch.mjs';
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from '../../examples/kyc/node_modules/@modelcontextprotocol/client/dist/index.mjs';
import { Client as V1Client } from '../../examples/kyc/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StreamableHTTPClientTransport as V1Http } from '../../examples/kyc/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
import { SSEClientTransport as V1Sse } from '../../examples/kyc/node_modules/@modelcontextprotocol/sdk/dist/esm/client/sse.js';
import { CallToolResultSchema, ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '../../examples/kyc/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.resolve(HERE, '../conformance/fixture-server.mjs');
// The fixture loads its SDKs from tests/conformance/node_modules (scripts/setup.sh installs them).
const FIXTURE_SDKS = ['@modelcontextprotocol/server', '@modelcontextprotocol/sdk']
  .map((p) => path.resolve(HERE, '../conformance/node_modules', p));
const dir = fs.mkdtempSync('/tmp/it-matrix-');

const CALL_MS = 10000;  // every SDK request's own timeout
const CELL_MS = 45000;  // every cell, all five behaviours
const PROMPT_ABORT_MS = 1000;  // an aborted call must reject within this

// ---------------------------------------------------------------------------------------------
// Upstreams: one fixture process per mode, the sidecar transport that speaks it.
// ---------------------------------------------------------------------------------------------

const UPSTREAMS = [
  { name: 'stateless', mode: 'stateless', transport: 'stateless', path: '/mcp', elicitTool: 'test_input_required_result_elicitation' },
  { name: 'sessions', mode: 'sessions', transport: 'streamable-http', path: '/mcp', elicitTool: 'test_elicitation' },
  // 2024-11-05 HTTP+SSE: the sidecar is given the GET URL of the event stream.
  { name: 'sse', mode: 'sse', transport: 'sse', path: '/sse', elicitTool: 'test_elicitation' }
];

// What the client's elicitation handler answers, per field the server asks for; the result of
// each elicitation tool shows what it received (test_elicitation as JSON, whose key order is
// not part of what an answer means).
const ANSWERS = { name: 'Matrix Tester', username: 'matrix-user', email: 'matrix@example.test' };
const ELICITED = {
  test_input_required_result_elicitation: (content) => assert.deepEqual(content, [{ type: 'text', text: `Hello, ${ANSWERS.name}!` }]),
  test_elicitation: (content) => {
    assert.equal(content.length, 1, JSON.stringify(content));
    const m = /^User response: action=accept, content=(\{.*\})$/.exec(content[0].text ?? '');
    assert.ok(m, `not an accepted elicitation: ${JSON.stringify(content)}`);
    assert.deepEqual(JSON.parse(m[1]), { username: ANSWERS.username, email: ANSWERS.email });
  }
};
const SIMPLE_TEXT = [{ type: 'text', text: 'This is a simple text response for testing.' }];
const PROGRESS_TEXT = [{ type: 'text', text: 'Progress test completed' }];
// test_tool_with_progress reports 0, 50, 100 (of 100) 50 ms apart: it cannot finish in less.
const PROGRESS_TOOL_MIN_MS = 100;

async function startFixture(upstream) {
  const trace = path.join(dir, `${upstream.name}.trace.jsonl`);
  const proc = spawn(process.execPath, [FIXTURE, '--mode', upstream.mode, '--port', '0', '--trace', trace],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.pipe(fs.createWriteStream(path.join(dir, `${upstream.name}.stderr`)));
  const { port } = await waitForJsonLine(proc.stdout, (o) => o.event === 'listening', 20000, `the fixture --mode ${upstream.mode}`);
  proc.stdout.resume();
  return {
    ...upstream,
    proc,
    url: `http://127.0.0.1:${port}${upstream.path}`,
    trace: () => readJsonLines(trace),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await waitForExit(proc, 5000).catch(() => proc.kill('SIGKILL'));
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Clients (rows). Each connects one SDK client to `url` and adapts its calls to one shape:
//   callTool(name, {onprogress, signal}) -> CallToolResult; listTools() -> {tools}; close()
// and answers elicitation/create with ANSWERS.
// ---------------------------------------------------------------------------------------------

// The form the server asked for, filled from ANSWERS.
function fillForm(params) {
  const fields = Object.keys(params?.requestedSchema?.properties ?? {});
  return { action: 'accept', content: Object.fromEntries(fields.filter((f) => f in ANSWERS).map((f) => [f, ANSWERS[f]])) };
}

function v1Adapter(client, transport, revision) {
  return {
    revision,
    listTools: () => client.listTools(undefined, { timeout: CALL_MS }),
    callTool: (name, opts = {}) => client.callTool({ name, arguments: {} }, CallToolResultSchema, { timeout: CALL_MS, ...opts }),
    async close() {
      await transport.terminateSession?.().catch(() => {});
      await client.close();
    }
  };
}

function v2Adapter(client) {
  return {
    revision: client.getNegotiatedProtocolVersion?.(),
    listTools: () => client.listTools(undefined, { timeout: CALL_MS }),
    callTool: (name, opts = {}) => client.callTool({ name, arguments: {} }, { timeout: CALL_MS, ...opts }),
    close: () => client.close()
  };
}

async function v1Client(transport, elicited) {
  const client = new V1Client({ name: 'matrix-v1', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    elicited.push(request.params);
    return fillForm(request.params);
  });
  // The v1 client tells its transport the revision initialize agreed on; noted on the way.
  let revision;
  const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    revision = v;
    setProtocolVersion?.(v);
  };
  try {
    await client.connect(transport, { timeout: CALL_MS });
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return v1Adapter(client, transport, revision);
}

async function v2Client(url, mode, elicited) {
  const client = new V2Client({ name: 'matrix-v2', version: '1.0.0' },
    { versionNegotiation: { mode }, capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler('elicitation/create', async (request) => {
    elicited.push(request.params);
    return fillForm(request.params);
  });
  try {
    await client.connect(track(new V2Http(new URL(url))), { timeout: CALL_MS });
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return v2Adapter(client);
}

// The legacy HTTP+SSE downstream (2024-11-05) these tests expect of the sidecar: the client
// GETs this URL for the event stream; its `endpoint` event names where to POST.
const legacySseUrl = (server) => `${sidecar.outbound}/mcp/${server}/sse`;

const CLIENTS = [
  { name: 'v1 sessions client', revision: '2025-11-25',
    connect: (server, elicited) => v1Client(track(new V1Http(new URL(`${sidecar.outbound}/mcp/${server}`))), elicited) },
  // Over HTTP+SSE the v1 client still asks for its newest revision in initialize (the transport
  // is 2024-11-05's; the revision is whatever initialize agrees on).
  { name: 'v1 legacy sse client', revision: '2025-11-25',
    connect: (server, elicited) => v1Client(track(new V1Sse(new URL(legacySseUrl(server)))), elicited) },
  { name: 'v2 auto client', revision: '2026-07-28',
    connect: (server, elicited) => v2Client(`${sidecar.outbound}/mcp/${server}`, 'auto', elicited) },
  { name: 'v2 pinned 2026-07-28 client', revision: '2026-07-28',
    connect: (server, elicited) => v2Client(`${sidecar.outbound}/mcp/${server}`, { pin: '2026-07-28' }, elicited) },
  // The v2 SDK pins modern revisions only ({ pin: '2025-11-25' } throws a TypeError): its session
  // revision is 'legacy' mode, the plain initialize handshake.
  { name: 'v2 legacy-mode client', revision: '2025-11-25',
    connect: (server, elicited) => v2Client(`${sidecar.outbound}/mcp/${server}`, 'legacy', elicited) }
];

// ---------------------------------------------------------------------------------------------
// What is not asserted, and what is expected to fail today.
// ---------------------------------------------------------------------------------------------

const BEHAVIOURS = ['tools/list', 'plain call', 'progress', 'elicitation', 'cancellation'];
const key = (client, upstream, behaviour) => `${client}|${upstream}|${behaviour}`;

// Cells the specification rules out, with the reason printed in the table instead of a result.
// None in this matrix: every behaviour is possible in every cell when one call runs at a time
// (see the note printed with the table on server requests over a legacy SSE upstream).
const NOT_APPLICABLE = {};

// Behaviours the sidecar does not give yet: the subtest runs and asserts the real behaviour,
// marked todo so that CI passes (none now; a todo that passes shows as XPASS in the table).
const TODO = {};

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

let fixtures = [];
let sidecar;
let missing;
const results = new Map();  // key -> { ok, todo, detail }
const failures = [];        // { cell, behaviour, error }
const revisions = new Map();  // `${client}|${upstream}` -> negotiated revision

before(async () => {
  missing = FIXTURE_SDKS.find((p) => !fs.existsSync(p));
  if (missing) return;
  fixtures = await Promise.all(UPSTREAMS.map(startFixture));
  const config = sidecarConfig([], {
    servers: fixtures.map((f) => ({ name: f.name, url: f.url, transport: f.transport })),
    // One upstream session per server: a legacy SSE session attributes a server request only
    // while exactly one request is in flight on it, and the cells run one call at a time.
    pool_size: 1,
    legacy_sse_endpoint: true,
    heartbeat_interval_seconds: 0,
    call_timeout_seconds: 10
  });
  sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config });
});

// Every transport a test opened, closed at the end whatever happened to its test: a client left
// connecting (an event stream reconnecting) would keep this file's process alive.
const transports = [];
function track(transport) {
  transports.push(transport);
  return transport;
}

after(async () => {
  await Promise.allSettled(transports.map((t) => Promise.race([t.close(), new Promise((r) => setTimeout(r, 2000))])));
  printMatrix();
  if (sidecar) assert.equal(await sidecar.stop(), 0);
  await Promise.all(fixtures.map((f) => f.stop()));
});

const fixture = (name) => fixtures.find((f) => f.name === name);

// The fixture's trace lines of one kind so far (written when each HTTP request ends).
const tracedCancels = (f) => f.trace().filter((l) => (l.rpc ?? []).includes('notifications/cancelled')).length;
// A 2026-07-28 upstream's tools/call requests of one tool (named in their Mcp-Name header).
const tracedCalls = (f, tool) => f.trace().filter((l) => (l.rpc ?? []).includes('tools/call') && l.headers?.['mcp-name'] === tool);
const calls = async (server, tool, outcome) =>
  metricValue(await metrics(sidecar), 'mcp_sidecar_calls_total', { server, tool, outcome }) ?? 0;

// One behaviour of one cell, as a subtest: recorded for the table, todo when listed.
async function behaviour(t, client, upstream, name, fn) {
  const k = key(client.name, upstream.name, name);
  if (NOT_APPLICABLE[k]) {
    results.set(k, { na: NOT_APPLICABLE[k] });
    return;
  }
  const todo = TODO[k];
  await t.test(name, todo ? { todo } : {}, async () => {
    try {
      const detail = await fn();
      results.set(k, { ok: true, todo, detail });
    } catch (err) {
      results.set(k, { ok: false, todo, detail: err.message });
      failures.push({ cell: `${client.name} -> ${upstream.name} upstream`, behaviour: name, todo, error: err });
      throw err;
    }
  });
}

for (const client of CLIENTS) {
  for (const upstream of UPSTREAMS) {
    test(`${client.name} -> ${upstream.name} upstream`, { timeout: CELL_MS }, async (t) => {
      if (missing) return skipOrFail(t, `the fixture's SDKs are not installed (${missing}): run scripts/setup.sh`);
      const f = fixture(upstream.name);
      const elicited = [];
      // Connecting is part of every behaviour: if it fails, each of them fails with its error.
      const connecting = client.connect(upstream.name, elicited);
      connecting.catch(() => {});
      const connected = async () => {
        const c = await connecting;
        revisions.set(`${client.name}|${upstream.name}`, c.revision);
        assert.equal(c.revision, client.revision, 'the revision the client and the sidecar agreed on');
        return c;
      };
      try {
        await behaviour(t, client, upstream, 'tools/list', async () => {
          const { tools } = await (await connected()).listTools();
          const names = tools.map((x) => x.name);
          for (const want of ['test_simple_text', 'test_tool_with_progress', upstream.elicitTool])
            assert.ok(names.includes(want), `${want} is not listed: ${names.join(', ')}`);
          return `${tools.length} tools`;
        });

        await behaviour(t, client, upstream, 'plain call', async () => {
          const r = await (await connected()).callTool('test_simple_text');
          assert.notEqual(r.isError, true, JSON.stringify(r));
          assert.deepEqual(r.content, SIMPLE_TEXT);
        });

        await behaviour(t, client, upstream, 'progress', async () => {
          const seen = [];
          const r = await (await connected()).callTool('test_tool_with_progress', { onprogress: (p) => seen.push(p) });
          assert.deepEqual(r.content, PROGRESS_TEXT);
          assert.ok(seen.length >= 1, 'no progress notification reached the client');
          for (let i = 1; i < seen.length; i++)
            assert.ok(seen[i].progress > seen[i - 1].progress, `progress did not increase: ${JSON.stringify(seen)}`);
          for (const p of seen) assert.equal(p.total, 100, JSON.stringify(p));
          return `${seen.length} of 3: ${seen.map((p) => p.progress).join(',')}`;
        });

        await behaviour(t, client, upstream, 'elicitation', async () => {
          const c = await connected();
          const asked = elicited.length;
          const r = await c.callTool(upstream.elicitTool);
          assert.notEqual(r.isError, true, `the tool failed: ${JSON.stringify(r.content)}`);
          assert.equal(elicited.length, asked + 1, 'the client\'s elicitation handler was not called exactly once');
          ELICITED[upstream.elicitTool](r.content);
        });

        await behaviour(t, client, upstream, 'cancellation', async () => {
          const c = await connected();
          const cancelsBefore = tracedCancels(f);
          const callsBefore = tracedCalls(f, 'test_tool_with_progress').length;
          const cancelledBefore = await calls(upstream.name, 'test_tool_with_progress', 'cancelled');
          // Aborted as soon as the tool is seen running (its first progress report): it would
          // take another PROGRESS_TOOL_MIN_MS to finish.
          const aborter = new AbortController();
          let abortedAt;
          const onprogress = () => {
            if (abortedAt !== undefined) return;
            abortedAt = Date.now();
            aborter.abort();
          };
          let outcome;
          try {
            outcome = { result: await c.callTool('test_tool_with_progress', { onprogress, signal: aborter.signal }) };
          } catch (err) {
            outcome = { error: err, after: Date.now() - abortedAt };
          }
          assert.ok(abortedAt !== undefined, 'no progress arrived to abort on');
          assert.ok(outcome.error, `the aborted call resolved: ${JSON.stringify(outcome.result)}`);
          assert.ok(outcome.error.name === 'AbortError' || aborter.signal.reason === outcome.error ||
            /abort/i.test(String(outcome.error?.message)), `not an abort error: ${outcome.error}`);
          assert.ok(outcome.after < PROMPT_ABORT_MS, `the abort took ${outcome.after} ms to reach the caller`);

          // The sidecar counted the call as cancelled by its client.
          await until(async () => (await calls(upstream.name, 'test_tool_with_progress', 'cancelled')) === cancelledBefore + 1,
            { timeoutMs: 3000, what: 'mcp_sidecar_calls_total{outcome="cancelled"} to count the call' });
          // The upstream saw it: notifications/cancelled in the session revisions; in 2026-07-28
          // the closed stream, which the fixture's trace shows as a tools/call that ended before
          // the tool could have finished.
          let upstreamSaw;
          if (upstream.mode === 'stateless') {
            const ended = await until(() => {
              const lines = tracedCalls(f, 'test_tool_with_progress');
              return lines.length > callsBefore && lines.at(-1);
            }, { timeoutMs: 3000, what: 'the upstream tools/call to end' });
            // The sidecar closed the stream before the answer was complete (not a timing guess).
            assert.equal(ended.complete, false,
              `the upstream stream stayed open to its end (${JSON.stringify(ended)}): the tool was not cancelled`);
            upstreamSaw = `stream closed after ${ended.ms} ms, before the answer`;
          } else {
            await until(() => tracedCancels(f) > cancelsBefore,
              { timeoutMs: 3000, what: 'notifications/cancelled to reach the upstream' });
            upstreamSaw = 'notifications/cancelled';
          }
          // The client's connection survives its cancelled call.
          assert.deepEqual((await c.callTool('test_simple_text')).content, SIMPLE_TEXT);
          return `rejected ${outcome.after} ms after abort; upstream: ${upstreamSaw}`;
        });
      } finally {
        const c = await connecting.catch(() => undefined);
        await c?.close().catch(() => {});
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

function printMatrix() {
  if (!results.size) return;
  const cellText = (r) => {
    if (!r) return '-';
    if (r.na) return `n/a: ${r.na}`;
    if (r.ok) return r.todo ? 'pass (XPASS: drop its todo)' : 'pass';
    return r.todo ? 'FAIL (todo)' : 'FAIL';
  };
  const rows = [['client -> upstream', 'revision', ...BEHAVIOURS]];
  for (const client of CLIENTS) {
    for (const upstream of UPSTREAMS) {
      rows.push([`${client.name} -> ${upstream.name}`, revisions.get(`${client.name}|${upstream.name}`) ?? '-',
        ...BEHAVIOURS.map((b) => cellText(results.get(key(client.name, upstream.name, b))))]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
  const out = ['', 'interoperability matrix (official SDK client -> mcp-sidecar /mcp/{server} -> fixture upstream)',
    line(rows[0]), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.slice(1).map(line)];
  const details = [...results].filter(([, r]) => r.ok && r.detail).map(([k, r]) => `  ${k.replaceAll('|', ' / ')}: ${r.detail}`);
  if (details.length) out.push('', 'details:', ...details);
  if (failures.length) {
    out.push('', 'failures:');
    for (const f of failures) out.push(`  ${f.cell} / ${f.behaviour}${f.todo ? ` (todo: ${f.todo})` : ''}: ${f.error.message.split('\n')[0]}`);
  }
  out.push('', 'notes: a legacy SSE upstream (2024-11-05) cannot say which request a server request belongs to; the sidecar',
    'passes one on only while exactly one request is in flight on that upstream session (pool_size 1, one call at a time here).');
  console.log(out.join('\n'));
}

// State that cannot be shared: a client's resource subscriptions live on an upstream session of
// its own (not the pooled one), and the updates reach that client's GET stream only.
test('resource subscriptions: each subscribing client gets its own upstream session; updates reach the subscriber only', { timeout: CELL_MS }, async (t) => {
  if (missing) return skipOrFail(t, `the fixture's SDKs are not installed (${missing})`);
  const sessions = fixture('sessions');
  const initializes = () => sessions.trace().filter((l) => (l.rpc ?? []).includes('initialize')).length;
  const connect = async () => {
    const updates = [];
    const client = new V1Client({ name: 'matrix-subscriber', version: '1.0.0' }, { capabilities: {} });
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
    await client.connect(track(new V1Http(new URL(`${sidecar.outbound}/mcp/sessions`))), { timeout: CALL_MS });
    return { client, updates };
  };
  const a = await connect();
  const b = await connect();
  try {
    assert.equal(a.client.getServerCapabilities().resources?.subscribe, true);
    await b.client.listResources();  // the pooled session exists before anyone subscribes
    const before = initializes();
    assert.deepEqual(await a.client.subscribeResource({ uri: 'test://watched-resource' }), {});
    // The fixture announces an update of the resource on the subscribing session's GET stream.
    await until(() => a.updates.length > 0, { what: 'the resource update at the subscriber' });
    assert.deepEqual(a.updates, ['test://watched-resource']);
    assert.equal(initializes(), before + 1, 'the subscription did not get an upstream session of its own');
    // B shares the pool, not A's session: a call of B's and a second update of A's (A
    // subscribes again) come and go, and B has seen no update.
    await b.client.listResources();
    assert.deepEqual(await a.client.subscribeResource({ uri: 'test://watched-resource' }), {});
    await until(() => a.updates.length > 1, { what: 'the second update at the subscriber' });
    assert.equal(initializes(), before + 1, 'a second subscription opened another upstream session');
    assert.deepEqual(b.updates, []);
    assert.deepEqual(await a.client.unsubscribeResource({ uri: 'test://watched-resource' }), {});
  } finally {
    await a.client.close();
    await b.client.close();
  }
});

// Many clients, one upstream session (pool_size 1): the clients pick the same JSON-RPC ids and
// progress tokens (each SDK counts from the same start), the sidecar gives the upstream its own,
// and each client sees its own progress and its own answers only.
test('clients sharing one upstream session never see each other\'s messages', { timeout: CELL_MS }, async (t) => {
  if (missing) return skipOrFail(t, `the fixture's SDKs are not installed (${missing})`);
  const clients = await Promise.all([0, 1, 2, 3].map(async () => {
    const client = new V1Client({ name: 'matrix-sharing', version: '1.0.0' }, { capabilities: {} });
    await client.connect(track(new V1Http(new URL(`${sidecar.outbound}/mcp/sessions`))), { timeout: CALL_MS });
    return client;
  }));
  const pool = async () => (await (await fetch(`${sidecar.admin}/debug/pools`)).json()).servers.find((s) => s.server === 'sessions');
  const initializes = () => fixture('sessions').trace().filter((l) => (l.rpc ?? []).includes('initialize')).length;
  try {
    const before = await pool();
    const opened = initializes();
    const seen = clients.map(() => []);
    const results = await Promise.all(clients.map((c, i) => c.callTool({ name: 'test_tool_with_progress', arguments: {} },
      CallToolResultSchema, { onprogress: (p) => seen[i].push(p.progress), timeout: CALL_MS })));
    for (const [i, r] of results.entries()) {
      assert.notEqual(r.isError, true, JSON.stringify(r));
      // Exactly its own three reports, in order: none of another client's.
      assert.deepEqual(seen[i], [0, 50, 100], `client ${i}`);
    }
    // The four calls really shared the upstream's one pooled session: no session was opened
    // for them, and that session carried all four.
    const after = await pool();
    assert.equal(after.size, 1);
    assert.equal(initializes(), opened, 'an upstream session was opened for these clients');
    assert.ok(after.sessions[0].calls - before.sessions[0].calls >= 4, JSON.stringify({ before, after }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});
