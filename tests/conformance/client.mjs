#!/usr/bin/env node
// The client command the MCP conformance suite runs in client mode (see RESEARCH.md).
//
//   node tests/conformance/client.mjs <server-url>
//
// The suite starts a mock MCP server for one scenario, appends its URL as the last argument and
// sets MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_PROTOCOL_VERSION, MCP_CONFORMANCE_CONTEXT).
// The client under test is mcp-sidecar: this script starts it with a temporary config whose one
// upstream (`conf`) is that URL, waits for /healthz, does what the scenario asks through the
// sidecar's REST API only (list tools, call tools, answer input_required results as an app
// would), checks on /debug/pools that the sidecar spoke the scenario's MCP revision, stops the
// sidecar with SIGTERM and exits 0 (everything the scenario needs was done) or 1. The suite judges
// the sidecar by what reached its mock server; the exit code says whether this driver got as far
// as it should (run.mjs counts it even where the suite does not).
//
// Environment:
//   MCP_SIDECAR_BIN        the binary (default <repo>/build/release/src/mcp-sidecar)
//   MCP_SIDECAR_TRANSPORT  the upstream's transport: auto (default), streamable-http, stateless, sse
//   MCP_SIDECAR_WORKDIR    where to keep the sidecar's config and log (run.mjs: the results);
//                          otherwise a temporary directory, removed unless the run failed
//   MCP_SIDECAR_KEEP_LOGS  1: keep that temporary directory in any case
//   MCP_SIDECAR_DRIVER_DEADLINE_MS  give up (and kill the sidecar) after this long
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSidecar } from '../../examples/kyc/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const SERVER = 'conf';

const serverUrl = process.argv[process.argv.length - 1];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const protocolVersion = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION ?? '';
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const transport = process.env.MCP_SIDECAR_TRANSPORT || 'auto';
const bin = process.env.MCP_SIDECAR_BIN
  ? path.resolve(process.env.MCP_SIDECAR_BIN)
  : path.join(REPO, 'build/release/src/mcp-sidecar');

let logged = '';
const log = (...a) => {
  const line = ['[client]', ...a].join(' ');
  logged += line + '\n';
  console.error(line);
};

class Failure extends Error {}
function expect(cond, message) {
  if (!cond) throw new Failure(message);
}

// ---- the REST API ---------------------------------------------------------------------------

function api(sidecar) {
  const base = `${sidecar.outbound}/v1/servers/${SERVER}`;
  async function send(method, url, body, headers = {}) {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(12000)
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, text };
  }
  return {
    async listTools() {
      const r = await send('GET', `${base}/tools`);
      log(`GET tools -> ${r.status} ${r.json?.tools ? r.json.tools.map((t) => t.name).join(', ') || '(none)' : r.text}`);
      expect(r.status === 200 && Array.isArray(r.json?.tools), `GET /v1/servers/${SERVER}/tools: ${r.status} ${r.text}`);
      return r.json.tools;
    },
    // Resolve {status, json, text}; never throw on an HTTP error status.
    async call(tool, args = {}, headers = {}) {
      const r = await send('POST', `${base}/tools/${encodeURIComponent(tool)}`, args, headers);
      log(`POST ${tool} -> ${r.status} ${r.text.length > 300 ? r.text.slice(0, 300) + '...' : r.text}`);
      return r;
    },
    async retry(tool, body, headers = {}) {
      const r = await send('POST', `${base}/tools/${encodeURIComponent(tool)}/retry`, body, headers);
      log(`POST ${tool}/retry -> ${r.status} ${r.text.length > 300 ? r.text.slice(0, 300) + '...' : r.text}`);
      return r;
    },
    async callOk(tool, args = {}, headers = {}) {
      const r = await this.call(tool, args, headers);
      expect(r.status === 200 && r.json && typeof r.json === 'object', `POST ${tool}: ${r.status} ${r.text}`);
      return r.json;
    }
  };
}

const text = (result) => (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');

function requireTool(tools, name) {
  const t = tools.find((x) => x.name === name);
  expect(t, `the server's tool '${name}' is not in the sidecar's tool list`);
  return t;
}

// ---- input_required (2026-07-28 MRTR) through the REST API (docs/api.md) -------------------
// A tools/call whose result is an InputRequiredResult comes back as is with 200
// ({resultType: "input_required", inputRequests, requestState?}). The application answers the
// input requests itself and POSTs {"arguments", "inputResponses", "requestState"?} to
// .../tools/{tool}/retry; the sidecar sends a fresh tools/call (new JSON-RPC id, fresh _meta and
// headers). The application declares what it can answer with the header
// X-MCP-Client-Capabilities on the call and on the retry; the sidecar puts it into
// _meta["io.modelcontextprotocol/clientCapabilities"] of that request.
const CAPABILITIES = { 'x-mcp-client-capabilities': JSON.stringify({ elicitation: { form: {} } }) };
function isInputRequired(result) {
  return result?.resultType === 'input_required';
}
async function retryWithInput(rest, tool, args, inputResponses, requestState) {
  const body = { arguments: args, inputResponses };
  if (requestState !== undefined) body.requestState = requestState;
  const r = await rest.retry(tool, body, CAPABILITIES);
  expect(r.status === 200 && r.json, `retry of ${tool} with inputResponses: ${r.status} ${r.text}`);
  return r.json;
}
// What this driver answers for one input request: accept elicitations with the schema's
// defaults (or true for booleans); other request kinds are not something an app behind the
// sidecar is asked for in these scenarios.
function answer(request) {
  if (request?.method === 'elicitation/create') {
    const props = request.params?.requestedSchema?.properties ?? {};
    const content = {};
    for (const [k, s] of Object.entries(props)) {
      if ('default' in s) content[k] = s.default;
      else if (s.type === 'boolean') content[k] = true;
      else if (s.type === 'string') content[k] = 'ok';
      else if (s.type === 'number' || s.type === 'integer') content[k] = 1;
    }
    return { action: 'accept', content };
  }
  throw new Failure(`no answer for input request ${JSON.stringify(request)}`);
}
function answerAll(inputRequests) {
  return Object.fromEntries(Object.entries(inputRequests ?? {}).map(([k, req]) => [k, answer(req)]));
}

// ---- what each scenario needs the client to do ----------------------------------------------

const SCENARIOS = {
  // 2025-06-18/2025-11-25: the handshake itself is checked; listing tools makes a session open.
  async initialize(rest) {
    await rest.listTools();
  },

  // Both wires: call add_numbers with two numbers.
  async tools_call(rest) {
    requireTool(await rest.listTools(), 'add_numbers');
    const r = await rest.callOk('add_numbers', { a: 5, b: 3 });
    expect(text(r) === 'The sum of 5 and 3 is 8', `unexpected add_numbers result ${JSON.stringify(r)}`);
  },

  // 2025-11-25: the tools/call stream closes after a priming event with retry: 500; the answer
  // arrives on the GET the client must resume with (Last-Event-ID, after >= retry ms).
  async 'sse-retry'(rest) {
    requireTool(await rest.listTools(), 'test_reconnection');
    const r = await rest.callOk('test_reconnection', {});
    expect(/completed successfully/.test(text(r)), `unexpected test_reconnection result ${JSON.stringify(r)}`);
  },

  // 2026-07-28: every POST carries MCP-Protocol-Version and the _meta fields; the first request
  // is refused with -32022 (supported: [2026-07-28]) and must be retried with that version.
  async 'request-metadata'(rest) {
    await rest.listTools();
  },

  // 2026-07-28: Mcp-Method on every POST, Mcp-Name on tools/call (the first of each is checked).
  async 'http-standard-headers'(rest) {
    const tools = await rest.listTools();
    requireTool(tools, 'test_headers');
    await rest.callOk('test_headers', {});
    requireTool(tools, 'my-hyphenated-tool');
    await rest.callOk('my-hyphenated-tool', {});
  },

  // 2026-07-28: x-mcp-header parameters mirrored as Mcp-Param-* with the value encoding; the
  // calls and their arguments come from MCP_CONFORMANCE_CONTEXT.toolCalls.
  async 'http-custom-headers'(rest) {
    const calls = context.toolCalls;
    expect(Array.isArray(calls) && calls.length > 0, 'MCP_CONFORMANCE_CONTEXT has no toolCalls');
    const tools = await rest.listTools();
    for (const c of calls) {
      requireTool(tools, c.name);
      await rest.callOk(c.name, c.arguments);
    }
  },

  // 2026-07-28: tools whose x-mcp-header annotations are invalid MUST be excluded by the client.
  // The application is not trusted to know that: this driver tries every tool the scenario
  // serves, and the sidecar (the MCP client) must forward only valid_tool.
  async 'http-invalid-tool-headers'(rest) {
    const listed = (await rest.listTools()).map((t) => t.name);
    await rest.callOk('valid_tool', { region: 'us-west1' });
    const invalid = {
      invalid_empty_header: { value: 'x' },
      invalid_object_header: { data: { a: 1 } },
      invalid_array_header: { items: ['a'] },
      invalid_null_header: { nil: null },
      invalid_number_header: { score: 1.5 },
      invalid_duplicate_same_case: { field1: 'a', field2: 'b' },
      invalid_duplicate_diff_case: { field1: 'a', field2: 'b' },
      invalid_space_in_name: { value: 'x' },
      invalid_colon_in_name: { value: 'x' },
      invalid_non_ascii_name: { value: 'x' },
      invalid_control_char_name: { value: 'x' }
    };
    const forwarded = [];
    for (const [name, args] of Object.entries(invalid)) {
      const r = await rest.call(name, args);
      if (r.status === 200) forwarded.push(name);
    }
    const shown = listed.filter((n) => n in invalid);
    if (shown.length) log(`the sidecar lists invalid tools: ${shown.join(', ')}`);
    expect(forwarded.length === 0, `the sidecar forwarded calls to invalid tools: ${forwarded.join(', ')}`);
  },

  // 2026-07-28: a tool schema with a network $ref; listing must not fetch it.
  async 'json-schema-ref-no-deref'(rest) {
    requireTool(await rest.listTools(), 'lookup_user');
  },

  // 2025-11-25 and 2026-07-28: the schema the sidecar lists is echoed back to the server, which
  // checks that the 2020-12 keywords survived.
  async 'json-schema-2020-12-preservation'(rest) {
    const tools = await rest.listTools();
    const focal = requireTool(tools, 'json_schema_2020_12_tool');
    requireTool(tools, 'json_schema_echo');
    await rest.callOk('json_schema_echo', { schema: focal.inputSchema });
  },

  // 2026-07-28 MRTR (SEP-2322): input_required results go back to the application, which retries
  // with inputResponses and the untouched requestState; an unrelated call in between carries
  // neither; a result without resultType is complete.
  async 'sep-2322-client-request-state'(rest) {
    requireTool(await rest.listTools(), 'test_mrtr_echo_state');
    const first = await rest.callOk('test_mrtr_echo_state', {}, CAPABILITIES);
    expect(isInputRequired(first), `test_mrtr_echo_state: expected an input_required result, got ${JSON.stringify(first)}`);
    expect(typeof first.requestState === 'string', 'test_mrtr_echo_state: the input_required result lost its requestState');
    const unrelated = await rest.callOk('test_mrtr_unrelated', {}, CAPABILITIES);
    expect(text(unrelated) === 'unrelated-ok', `test_mrtr_unrelated: ${JSON.stringify(unrelated)}`);
    const echoed = await retryWithInput(rest, 'test_mrtr_echo_state', {}, answerAll(first.inputRequests), first.requestState);
    expect(text(echoed) === 'echo-state-ok', `test_mrtr_echo_state retry: ${JSON.stringify(echoed)}`);

    const noState = await rest.callOk('test_mrtr_no_state', {}, CAPABILITIES);
    expect(isInputRequired(noState), `test_mrtr_no_state: expected an input_required result, got ${JSON.stringify(noState)}`);
    const done = await retryWithInput(rest, 'test_mrtr_no_state', {}, answerAll(noState.inputRequests), noState.requestState);
    expect(text(done) === 'no-state-ok', `test_mrtr_no_state retry: ${JSON.stringify(done)}`);

    const plain = await rest.callOk('test_mrtr_no_result_type', {}, CAPABILITIES);
    expect(!isInputRequired(plain), 'test_mrtr_no_result_type: a result without resultType must be complete');
  }
};

// ---- main -----------------------------------------------------------------------------------

function sidecarConfig(url) {
  return {
    outbound: {
      listen: '127.0.0.1:0',
      pool_size: 1,
      heartbeat_interval_seconds: 0,
      call_timeout_seconds: 10,
      retry: { max_attempts: 3, base_delay_ms: 50, max_delay_ms: 500 },
      servers: [{ name: SERVER, url, transport }]
    },
    admin: { listen: '127.0.0.1:0' },
    log: { level: 'debug' },
    shutdown: { delay_seconds: 0, grace_seconds: 2, close_timeout_seconds: 2 }
  };
}

// The sidecar's own MCP_* overrides must not leak in from the caller's environment.
function cleanEnv() {
  const env = {};
  for (const k of Object.keys(process.env))
    if (k.startsWith('MCP_') && !k.startsWith('MCP_CONFORMANCE_') && !k.startsWith('MCP_SIDECAR_')) env[k] = undefined;
  return env;
}

async function waitHealthy(admin, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${admin}/healthz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The MCP revision the sidecar settled on for `conf` (admin /debug/pools). The mock servers of the
// dated scenarios speak only session revisions and those of 2026-07-28 scenarios offer 2026-07-28,
// so the sidecar must have used the scenario's wire; otherwise the suite may pass a scenario whose
// subject was never exercised (e.g. `initialize` with no initialize sent, which has no check).
// The line `[client] era=...` is also what run.mjs shows in its table.
async function readEra(admin) {
  const r = await fetch(`${admin}/debug/pools`, { signal: AbortSignal.timeout(5000) });
  const pool = (await r.json()).servers?.find((s) => s.server === SERVER);
  const versions = [...new Set((pool?.sessions ?? []).map((s) => s.protocol_version).filter(Boolean))];
  const era = pool?.era ?? 'undetected';
  log(`era=${era} protocol_version=${versions.join(',') || '-'}`);
  return era;
}
async function checkEra(admin) {
  const era = await readEra(admin);
  const wanted = protocolVersion === '2026-07-28' ? 'stateless' : 'streamable-http';
  expect(era === wanted, `the scenario's wire is ${protocolVersion}, but the sidecar spoke to its server as era '${era}' (expected '${wanted}')`);
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function main() {
  log(`scenario=${scenario} protocolVersion=${protocolVersion} transport=${transport} server=${serverUrl}`);
  const run = SCENARIOS[scenario];
  if (!run) {
    log(`scenario '${scenario}' cannot be driven through the sidecar's REST API (see RESEARCH.md)`);
    return 1;
  }
  if (!/^https?:\/\//.test(serverUrl ?? '')) {
    log(`usage: client.mjs <server-url> (got ${serverUrl})`);
    return 1;
  }
  if (!fs.existsSync(bin)) {
    log(`no sidecar binary at ${bin} (set MCP_SIDECAR_BIN)`);
    return 1;
  }
  // run.mjs keeps config and log with the scenario's results; alone, a temporary directory.
  const workdir = process.env.MCP_SIDECAR_WORKDIR;
  if (workdir) fs.mkdirSync(workdir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(workdir || os.tmpdir(), workdir ? 'sidecar-' : 'mcp-conformance-'));
  let sidecar;
  let code = 1;
  // The suite kills only the shell it ran this under at its --timeout; run.mjs sets a deadline
  // below that. Either way the sidecar must not outlive this process.
  const abort = (why) => {
    log(`${why}: giving up (sidecar log in ${dir})`);
    sidecar?.proc.kill('SIGKILL');
    process.exit(1);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.once(signal, () => abort(signal));
  const deadlineMs = Number(process.env.MCP_SIDECAR_DRIVER_DEADLINE_MS);
  if (deadlineMs > 0) setTimeout(() => abort(`FAILED: no result within ${deadlineMs} ms`), deadlineMs).unref();
  try {
    try {
      sidecar = await startSidecar({ bin, dir, config: sidecarConfig(serverUrl), env: cleanEnv() });
    } catch (e) {
      // Say why (e.g. a transport this build refuses): the config check prints the reason.
      const check = spawnSync(bin, ['--check-config', '--config', path.join(dir, 'sidecar.yaml')], { encoding: 'utf8' });
      log(`sidecar did not start; --check-config says: ${(check.stderr || check.stdout).trim().split('\n')[0]}`);
      throw e;
    }
    await waitHealthy(sidecar.admin);
    log(`sidecar up: outbound ${sidecar.outbound}, admin ${sidecar.admin}`);
    await run(api(sidecar));
    await checkEra(sidecar.admin);
    log('done');
    code = 0;
  } catch (e) {
    log(e instanceof Failure ? `FAILED: ${e.message}` : `ERROR: ${e.stack ?? e}`);
    if (sidecar && !/\] era=/.test(logged)) await readEra(sidecar.admin).catch(() => {});
  } finally {
    if (sidecar) {
      const exit = await sidecar.stop('SIGTERM', 10000).catch((e) => `stop failed: ${e.message}`);
      if (exit !== 0) {
        log(`sidecar exited with ${exit}`);
        code = 1;
      }
    }
    if (code !== 0) log(`sidecar log (${dir}), last lines:\n${tail(path.join(dir, 'sidecar.log'))}`);
    if (code !== 0 || workdir || process.env.MCP_SIDECAR_KEEP_LOGS === '1') {
      log(`sidecar config and log kept in ${dir}`);
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return code;
}

process.exitCode = await main();
