#!/usr/bin/env node
// One launcher for the four example KYC MCP servers.
//
//   node server.mjs <registry|sanctions|pep|risk> [--host 127.0.0.1] [--port 0] [--log FILE]
//
// Streamable HTTP (stateful: one StreamableHTTPServerTransport + one McpServer per
// session) on POST/GET/DELETE /mcp, optional bearer auth (MCP_BEARER_TOKEN), JSON-line
// logs, and test hooks (GET /_test/stats; extra tools when KYC_TEST_TOOLS=1).
import http from 'node:http';
import fs from 'node:fs';
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { isInitializeRequest, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { z } from 'zod';

import {
  COMPANIES,
  SANCTIONS,
  SANCTIONS_HIT_THRESHOLD,
  PEPS,
  PEP_SOURCES,
  JURISDICTION_RISK,
  DEFAULT_JURISDICTION_RISK,
  normaliseName
} from './fixtures.mjs';

const ROLES = ['registry', 'sanctions', 'pep', 'risk'];
const VERSION = '0.1.0';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const CASE_ID_META_KEY = 'io.mcp-sidecar/case_id';

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

function usage(message) {
  if (message) process.stderr.write(`server.mjs: ${message}\n`);
  process.stderr.write('usage: node server.mjs <registry|sanctions|pep|risk> [--host 127.0.0.1] [--port 0] [--log FILE]\n');
  process.exit(2);
}

let cli;
try {
  cli = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      log: { type: 'string' },
      transport: { type: 'string', default: 'streamable-http' },
      help: { type: 'boolean', short: 'h' }
    }
  });
} catch (err) {
  usage(err.message);
}
if (cli.values.help) usage();
if (cli.positionals.length !== 1 || !ROLES.includes(cli.positionals[0])) {
  usage(`expected exactly one role out of ${ROLES.join(', ')}`);
}
const ROLE = cli.positionals[0];
// streamable-http (revisions 2025-03-26..2025-11-25, sessions) or sse (the 2024-11-05 HTTP+SSE
// transport: GET /sse opens the stream, POST /messages?sessionId=... carries requests).
const TRANSPORT = cli.values.transport;
if (!['streamable-http', 'sse'].includes(TRANSPORT)) usage(`invalid --transport ${TRANSPORT}`);
const HOST = cli.values.host;
const PORT = Number(cli.values.port);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) usage(`invalid --port ${cli.values.port}`);
const BEARER_TOKEN = process.env.MCP_BEARER_TOKEN ?? '';
const TEST_TOOLS = process.env.KYC_TEST_TOOLS === '1';
// Test hook: how long an idle kept-alive connection stays open (Node's default is 5000 ms).
const KEEPALIVE_MS = process.env.KYC_KEEPALIVE_MS ? Number(process.env.KYC_KEEPALIVE_MS) : undefined;

// ---------------------------------------------------------------------------
// Logging: one JSON object per line, to --log FILE (append) or stdout.
// Writes are synchronous so nothing is lost on process.exit().
// Never log session ids or tool argument values other than case_id.
// ---------------------------------------------------------------------------

// (process.stdout writes are synchronous for files and pipes on Linux.)
const logFd = cli.values.log ? fs.openSync(cli.values.log, 'a') : null;
// A reader that went away must not crash the server.
process.stdout.on('error', () => {});

function log(event, fields = {}) {
  const line = JSON.stringify({ ts: new Date().toISOString(), server: ROLE, event, ...fields }) + '\n';
  if (logFd !== null) fs.writeSync(logFd, line);
  else process.stdout.write(line);
}

// @hono/node-server (used inside the SDK's Node transport) reports a client that
// drops an open response stream with console.info("The user aborted a request.").
// Keep stdout/stderr JSON-only by routing that into the log as an ordinary event.
const originalConsoleInfo = console.info;
console.info = (...args) => {
  if (args.length === 1 && args[0] === 'The user aborted a request.') {
    log('client_aborted');
    return;
  }
  originalConsoleInfo(...args);
};

// ---------------------------------------------------------------------------
// Counters for GET /_test/stats
// ---------------------------------------------------------------------------

const stats = {
  sessions_opened: 0,
  sessions_deleted: 0,
  executions: Object.create(null),
  methods: Object.create(null),  // JSON-RPC methods received on POST (pings included)
  inflight: 0,
  max_inflight: 0,
  connections_opened: 0,
  open_connections: 0,
  resumptions: 0,  // GET requests carrying Last-Event-ID
  with_authorization: 0  // requests that arrived with an Authorization header
};

// ---------------------------------------------------------------------------
// Tool helpers
// ---------------------------------------------------------------------------

function headerValue(headers, name) {
  if (!headers) return null;
  const v = headers[name];
  if (Array.isArray(v)) return v.length ? String(v[0]) : null;
  return v === undefined || v === null ? null : String(v);
}

function ok(obj) {
  return { content: [{ type: 'text', text: JSON.stringify(obj) }], structuredContent: obj };
}

function toolError(text) {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Registers a tool whose handler is wrapped with the entry bookkeeping: execution
 * counter and the `tool_call` log line. The handler always receives (args, extra);
 * tools without an inputSchema get args = {}.
 */
function addTool(server, name, config, handler) {
  const wrapped = async (...params) => {
    const extra = params.length > 1 ? params[1] : params[0];
    const args = params.length > 1 ? (params[0] ?? {}) : {};
    stats.executions[name] = (stats.executions[name] ?? 0) + 1;
    const session = extra?.sessionId ? sessions.get(extra.sessionId) : undefined;
    if (session) session.calls += 1;
    const headers = extra?.requestInfo?.headers;
    let caseId = null;
    if (typeof args.case_id === 'string') caseId = args.case_id;
    else if (extra?._meta && typeof extra._meta[CASE_ID_META_KEY] === 'string') caseId = extra._meta[CASE_ID_META_KEY];
    log('tool_call', {
      tool: name,
      case_id: caseId,
      case_id_header: headerValue(headers, 'x-case-id'),
      caller: headerValue(headers, 'x-mcp-client-identity')
    });
    stats.inflight += 1;
    stats.max_inflight = Math.max(stats.max_inflight, stats.inflight);
    try {
      return await handler(args, extra);
    } finally {
      stats.inflight -= 1;
    }
  };
  server.registerTool(name, config, wrapped);
}

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

// ---------------------------------------------------------------------------
// Domain tools per role
// ---------------------------------------------------------------------------

function registerPing(server) {
  addTool(
    server,
    'ping',
    {
      title: 'Ping',
      description: 'Liveness check. No arguments, no I/O; returns {ok:true}.',
      outputSchema: { ok: z.boolean() },
      annotations: READ_ONLY
    },
    async () => ok({ ok: true })
  );
}

function registerRegistry(server) {
  addTool(
    server,
    'lookup_company',
    {
      title: 'Look up company',
      description: 'Company registry record (legal name, jurisdiction, incorporation date, beneficial owners) by company number.',
      inputSchema: {
        company_number: z.string().describe('Registry company number, e.g. GB-10001'),
        case_id: z.string().describe('KYC case identifier')
      },
      outputSchema: {
        company_number: z.string(),
        legal_name: z.string(),
        jurisdiction: z.string(),
        incorporated: z.string(),
        beneficial_owners: z.array(z.object({ name: z.string(), ownership_pct: z.number() }))
      },
      annotations: READ_ONLY
    },
    async ({ company_number }) => {
      const c = COMPANIES[company_number];
      if (!c) return toolError('company not found');
      return ok({
        company_number: c.company_number,
        legal_name: c.legal_name,
        jurisdiction: c.jurisdiction,
        incorporated: c.incorporated,
        beneficial_owners: c.beneficial_owners.map((o) => ({ ...o }))
      });
    }
  );

  addTool(
    server,
    'get_filings',
    {
      title: 'Get filings',
      description: 'Filing history of a company by company number.',
      inputSchema: {
        company_number: z.string().describe('Registry company number, e.g. GB-10001'),
        case_id: z.string().describe('KYC case identifier')
      },
      outputSchema: {
        company_number: z.string(),
        filings: z.array(z.object({ type: z.string(), date: z.string() }))
      },
      annotations: READ_ONLY
    },
    async ({ company_number }) => {
      const c = COMPANIES[company_number];
      if (!c) return toolError('company not found');
      return ok({ company_number: c.company_number, filings: c.filings.map((f) => ({ ...f })) });
    }
  );
}

function registerSanctions(server) {
  addTool(
    server,
    'screen_entity',
    {
      title: 'Screen entity',
      description: 'Screen a company or person against the (fictional) sanctions lists.',
      inputSchema: {
        name: z.string().describe('Name of the company or person'),
        entity_type: z.enum(['company', 'person']),
        case_id: z.string().describe('KYC case identifier')
      },
      outputSchema: {
        sanctions_clear: z.boolean(),
        matches: z.array(z.object({ list: z.string(), score: z.number() }))
      },
      annotations: READ_ONLY
    },
    async ({ name, entity_type }) => {
      const n = normaliseName(name);
      const matches = SANCTIONS.filter((e) => e.entity_type === entity_type && normaliseName(e.name) === n).map((e) => ({
        list: e.list,
        score: e.score
      }));
      const sanctions_clear = !matches.some((m) => m.score >= SANCTIONS_HIT_THRESHOLD);
      return ok({ sanctions_clear, matches });
    }
  );
}

function registerPep(server) {
  addTool(
    server,
    'check_pep',
    {
      title: 'Check PEP',
      description: 'Is this person a politically exposed person (PEP)?',
      inputSchema: {
        name: z.string().describe('Full name of the person'),
        case_id: z.string().describe('KYC case identifier')
      },
      outputSchema: { is_pep: z.boolean(), pep_role: z.string().nullable() },
      annotations: READ_ONLY
    },
    async ({ name }) => {
      const role = PEPS[normaliseName(name)] ?? null;
      return ok({ is_pep: role !== null, pep_role: role });
    }
  );

  // Deliberately has no case_id and a strict schema: unknown arguments (such as an
  // injected case_id) fail validation with an isError result. z.strictObject is
  // passed as a full zod object schema (registerTool accepts raw shapes or schemas);
  // the advertised JSON Schema then carries additionalProperties:false.
  addTool(
    server,
    'list_sources',
    {
      title: 'List PEP sources',
      description: 'Sources consulted by check_pep. Takes no arguments; unknown arguments are rejected.',
      inputSchema: z.strictObject({}),
      outputSchema: {
        sources: z.array(z.object({ id: z.string(), name: z.string(), updated: z.string() }))
      },
      annotations: READ_ONLY
    },
    async () => ok({ sources: PEP_SOURCES.map((s) => ({ ...s })) })
  );
}

let decisionSequence = 0;

function registerRisk(server) {
  addTool(
    server,
    'score_case',
    {
      title: 'Score case',
      description:
        'Deterministic risk score from a screening summary: any sanctions hit -> reject; any PEP -> review; else approve.',
      inputSchema: {
        case_id: z.string().describe('KYC case identifier'),
        company: z
          .object({
            company_number: z.string(),
            jurisdiction: z.string(),
            owner_count: z.number().int().min(0).optional()
          })
          .describe('Company summary (no names)'),
        screening: z
          .object({
            company_sanctions_hit: z.boolean(),
            owner_sanctions_hits: z.array(z.boolean()),
            owner_pep_flags: z.array(z.boolean())
          })
          .describe('Screening flags: one boolean per screened beneficial owner')
      },
      outputSchema: {
        score: z.number().int().min(0).max(100),
        decision: z.enum(['approve', 'review', 'reject']),
        reasons: z.array(z.string())
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
    },
    async ({ company, screening }) => {
      const reasons = [];
      const jr = JURISDICTION_RISK[company.jurisdiction] ?? DEFAULT_JURISDICTION_RISK;
      let score = jr;
      reasons.push(`jurisdiction ${company.jurisdiction} baseline ${jr}`);
      const ownerHits = screening.owner_sanctions_hits.filter(Boolean).length;
      const peps = screening.owner_pep_flags.filter(Boolean).length;
      if (screening.company_sanctions_hit) {
        score += 60;
        reasons.push('sanctions hit on company');
      }
      if (ownerHits > 0) {
        score += 50 * ownerHits;
        reasons.push(`sanctions hit on ${ownerHits} beneficial owner(s)`);
      }
      if (peps > 0) {
        score += 25 * peps;
        reasons.push(`${peps} beneficial owner(s) are PEPs`);
      }
      score = Math.max(0, Math.min(100, score));
      let decision = 'approve';
      if (screening.company_sanctions_hit || ownerHits > 0) decision = 'reject';
      else if (peps > 0) decision = 'review';
      if (decision === 'approve') reasons.push('no sanctions hits or PEPs');
      return ok({ score, decision, reasons });
    }
  );

  addTool(
    server,
    'record_decision',
    {
      title: 'Record decision',
      description: 'Append the decision for a case to the decision log. Not idempotent: every call records a new entry.',
      inputSchema: {
        case_id: z.string().describe('KYC case identifier'),
        decision: z.enum(['approve', 'review', 'reject'])
      },
      outputSchema: { recorded: z.boolean(), sequence: z.number().int() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }
    },
    async () => {
      decisionSequence += 1;
      return ok({ recorded: true, sequence: decisionSequence });
    }
  );
}

// ---------------------------------------------------------------------------
// Test-only tools (KYC_TEST_TOOLS=1)
// ---------------------------------------------------------------------------

const counters = new Map();

function registerTestTools(server) {
  addTool(
    server,
    'sleep',
    {
      title: 'Sleep (test)',
      description: 'Test hook: waits ms milliseconds, then returns {slept: ms}.',
      inputSchema: {
        ms: z.number().int().min(0).max(600000),
        case_id: z.string()
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }
    },
    async ({ ms }, extra) => {
      await new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          extra.signal.removeEventListener('abort', done);
          resolve();
        }
        extra.signal.addEventListener('abort', done, { once: true });
      });
      return ok({ slept: ms });
    }
  );

  addTool(
    server,
    'sleep_idempotent',
    {
      title: 'Idempotent sleep (test)',
      description: 'Test hook: like sleep, but annotated idempotent, so a proxy may safely send it again.',
      inputSchema: { ms: z.number().int().min(0).max(600000), case_id: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
    },
    async ({ ms }, extra) => {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        extra.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
      return ok({ slept: ms });
    }
  );

  addTool(
    server,
    'resumable',
    {
      title: 'Resumable stream (test)',
      description:
        'Test hook: closes the SSE stream of this request right away (the client must resume with GET + Last-Event-ID), then answers after ms.',
      inputSchema: { ms: z.number().int().min(0).max(60000), case_id: z.string() },
      annotations: READ_ONLY
    },
    async ({ ms }, extra) => {
      if (!extra.closeSSEStream) return toolError('this request cannot be resumed (no event store or old protocol version)');
      extra.closeSSEStream();
      await new Promise((r) => setTimeout(r, ms));
      return ok({ resumed: true });
    }
  );

  addTool(
    server,
    'rpc_error',
    {
      title: 'JSON-RPC error (test)',
      description:
        'Test hook: answers with a JSON-RPC error instead of a result (SDK 1.x turns every other tool failure into isError).',
      inputSchema: { case_id: z.string() },
      annotations: READ_ONLY
    },
    async () => {
      throw new UrlElicitationRequiredError([
        { mode: 'url', elicitationId: 'test', url: 'https://example.invalid/consent', message: 'consent needed' }
      ]);
    }
  );

  addTool(
    server,
    'counter',
    {
      title: 'Counter (test)',
      description: 'Test hook: increments a per-key counter and returns {key, count}.',
      inputSchema: { key: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }
    },
    async ({ key }) => {
      const count = (counters.get(key) ?? 0) + 1;
      counters.set(key, count);
      return ok({ key, count });
    }
  );

  addTool(
    server,
    'progress',
    {
      title: 'Progress (test)',
      description:
        'Test hook: sends `steps` notifications/progress, `interval_ms` apart, when the request has a progressToken; returns {steps}.',
      inputSchema: {
        steps: z.number().int().min(0).max(1000),
        interval_ms: z.number().int().min(0).max(60000)
      },
      annotations: READ_ONLY
    },
    async ({ steps, interval_ms }, extra) => {
      const token = extra?._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (extra.signal.aborted) break;
        if (interval_ms > 0) await new Promise((r) => setTimeout(r, interval_ms));
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps, message: `step ${i}/${steps}` }
          });
        }
      }
      return ok({ steps });
    }
  );
}

function createMcpServer() {
  const server = new McpServer({ name: `kyc-${ROLE}`, version: VERSION });
  registerPing(server);
  if (ROLE === 'registry') registerRegistry(server);
  else if (ROLE === 'sanctions') registerSanctions(server);
  else if (ROLE === 'pep') registerPep(server);
  else if (ROLE === 'risk') registerRisk(server);
  if (TEST_TOOLS) registerTestTools(server);
  return server;
}

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

/** sessionId -> { transport, server, deleted } */
const sessions = new Map();

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function jsonRpcError(res, status, code, message, headers) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

const tokenDigest = BEARER_TOKEN ? createHash('sha256').update(BEARER_TOKEN).digest() : null;

/** Constant-time bearer check. Both sides are hashed, so timingSafeEqual always sees equal-length buffers. */
function authorized(req) {
  if (!tokenDigest) return true;
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer[ \t]+(.+)$/i.exec(header.trim());
  if (!m) return false;
  const presented = createHash('sha256').update(m[1]).digest();
  return timingSafeEqual(presented, tokenDigest);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// Answers 401 and returns true when the request lacks the bearer token (if one is required).
function refuseUnauthorized(req, res) {
  if (authorized(req)) return false;
  req.resume();
  log('unauthorized', { method: req.method, reason: req.headers.authorization ? 'invalid_token' : 'missing_token' });
  jsonRpcError(res, 401, -32001, 'unauthorized', { 'WWW-Authenticate': 'Bearer' });
  return true;
}

// The JSON-RPC body of a POST, counted in the stats (and armed for fault injection); undefined
// after answering 413 or 400.
async function readJsonRpc(req, res) {
  const raw = await readBody(req);
  if (raw === null) {
    jsonRpcError(res, 413, -32600, 'Request body too large');
    return undefined;
  }
  let body;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    jsonRpcError(res, 400, -32700, 'Parse error');
    return undefined;
  }
  for (const m of Array.isArray(body) ? body : [body]) {
    if (m && typeof m.method === 'string') stats.methods[m.method] = (stats.methods[m.method] ?? 0) + 1;
    if (m?.method === 'tools/call' && dropNext.delete(m.params?.name)) dropResultOf(req, res);
  }
  return body;
}

function sessionIdOf(req) {
  const v = req.headers['mcp-session-id'];
  return Array.isArray(v) ? v[0] : v;
}

async function newSession(req, res, body) {
  const server = createMcpServer();
  const entry = { transport: null, server, deleted: false, registered: false, calls: 0 };
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    // Resumable streams (2025-11-25) in test mode: priming events with ids, a retry hint, and
    // replay after Last-Event-ID.
    ...(TEST_TOOLS ? { eventStore: new InMemoryEventStore(), retryInterval: 50 } : {}),
    onsessioninitialized: (sid) => {
      entry.registered = true;
      sessions.set(sid, entry);
      stats.sessions_opened += 1;
      log('session_opened');
    },
    onsessionclosed: () => {
      // Called for a client DELETE, just before the transport closes.
      entry.deleted = true;
      stats.sessions_deleted += 1;
    }
  });
  entry.transport = transport;
  transport.onclose = () => {
    const sid = transport.sessionId;
    if (sid && sessions.get(sid) === entry) {
      sessions.delete(sid);
      log('session_closed', { reason: entry.deleted ? 'delete' : 'close' });
    }
  };
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
  if (!entry.registered) {
    // The initialize request was rejected; nothing to keep.
    await server.close().catch(() => {});
  }
}

async function handleMcp(req, res) {
  if (refuseUnauthorized(req, res)) return;

  const sid = sessionIdOf(req);

  if (req.method === 'POST') {
    const body = await readJsonRpc(req, res);
    if (body === undefined) return;
    if (sid) {
      const entry = sessions.get(sid);
      if (!entry) {
        jsonRpcError(res, 404, -32001, 'Session not found');
        return;
      }
      await entry.transport.handleRequest(req, res, body);
      return;
    }
    if (isInitializeRequest(body)) {
      await newSession(req, res, body);
      return;
    }
    jsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    return;
  }

  if (req.method === 'GET' || req.method === 'DELETE') {
    req.resume();
    if (req.method === 'GET' && req.headers['last-event-id']) stats.resumptions += 1;
    if (!sid) {
      jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      return;
    }
    const entry = sessions.get(sid);
    if (!entry) {
      jsonRpcError(res, 404, -32001, 'Session not found');
      return;
    }
    await entry.transport.handleRequest(req, res);
    return;
  }

  req.resume();
  jsonRpcError(res, 405, -32000, 'Method not allowed', { Allow: 'GET, POST, DELETE' });
}

// Fault injection (test hook): the next tools/call of the named tool runs, but its response is
// never delivered: the connection is destroyed as the result is written. This is the case a
// proxy must not "fix" by running a non-idempotent tool again.
const dropNext = new Set();

function handleDropNext(req, res) {
  req.resume();
  const tool = new URL(req.url, 'http://localhost').searchParams.get('tool');
  if (!tool) {
    sendJson(res, 400, { error: 'tool query parameter required' });
    return;
  }
  dropNext.add(tool);
  sendJson(res, 200, { armed: tool });
}

function dropResultOf(req, res) {
  const carriesResult = (chunk) =>
    chunk !== undefined && chunk !== null && typeof chunk !== 'function' &&
    (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')).includes('"result"');
  const drop = () => {
    log('test_dropped_response');
    req.socket.destroy();
  };
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.write = (chunk, ...rest) => (carriesResult(chunk) ? (drop(), false) : write(chunk, ...rest));
  res.end = (chunk, ...rest) => (carriesResult(chunk) ? (drop(), res) : end(chunk, ...rest));
}

// Legacy HTTP+SSE (2024-11-05): one long-lived GET /sse stream per session, requests on
// POST /messages?sessionId=..., answers on the stream.
const legacySessions = new Map();

async function handleLegacySse(req, res) {
  if (refuseUnauthorized(req, res)) return;
  req.resume();
  const transport = new SSEServerTransport('/messages', res);
  const server = createMcpServer();
  const entry = { transport, server, calls: 0 };
  legacySessions.set(transport.sessionId, entry);
  sessions.set(transport.sessionId, entry);  // tool bookkeeping looks sessions up by id
  stats.sessions_opened += 1;
  log('session_opened', { transport: 'sse' });
  transport.onclose = () => {
    legacySessions.delete(transport.sessionId);
    sessions.delete(transport.sessionId);
    log('session_closed', { reason: 'stream_closed' });
  };
  await server.connect(transport);
}

async function handleLegacyMessage(req, res) {
  if (refuseUnauthorized(req, res)) return;
  const sid = new URL(req.url, 'http://localhost').searchParams.get('sessionId');
  const entry = sid ? legacySessions.get(sid) : undefined;
  if (!entry) {
    req.resume();
    jsonRpcError(res, 404, -32001, 'Session not found');
    return;
  }
  const body = await readJsonRpc(req, res);
  if (body === undefined) return;
  await entry.transport.handlePostMessage(req, res, body);
}

function handleStats(req, res) {
  req.resume();
  sendJson(res, 200, {
    server: ROLE,
    sessions_opened: stats.sessions_opened,
    sessions_deleted: stats.sessions_deleted,
    active_sessions: sessions.size,
    // Tool calls per open session, in opening order (no session ids: they are credentials).
    calls_per_session: [...sessions.values()].map((e) => e.calls),
    max_inflight: stats.max_inflight,
    connections_opened: stats.connections_opened,
    open_connections: stats.open_connections,
    resumptions: stats.resumptions,
    with_authorization: stats.with_authorization,
    methods: { ...stats.methods },
    executions: { ...stats.executions }
  });
}

const httpServer = http.createServer((req, res) => {
  if (req.headers.authorization) stats.with_authorization += 1;
  let pathname;
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    pathname = '';
  }
  let work;
  if (pathname === '/mcp' && TRANSPORT === 'streamable-http') work = handleMcp(req, res);
  else if (pathname === '/sse' && TRANSPORT === 'sse' && req.method === 'GET') work = handleLegacySse(req, res);
  else if (pathname === '/messages' && TRANSPORT === 'sse' && req.method === 'POST') work = handleLegacyMessage(req, res);
  else if (pathname === '/_test/stats' && req.method === 'GET') work = Promise.resolve(handleStats(req, res));
  else if (pathname === '/_test/drop_next' && req.method === 'POST') work = Promise.resolve(handleDropNext(req, res));
  else {
    req.resume();
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  work.catch((err) => {
    log('internal_error', { message: err instanceof Error ? err.message : String(err) });
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    else res.end();
  });
});

httpServer.on('clientError', (_err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

if (KEEPALIVE_MS !== undefined) httpServer.keepAliveTimeout = KEEPALIVE_MS;
httpServer.on('connection', (socket) => {
  stats.connections_opened += 1;
  stats.open_connections += 1;
  socket.on('close', () => {
    stats.open_connections -= 1;
  });
});

httpServer.listen(PORT, HOST, () => {
  const { port } = httpServer.address();
  // The announcement on stdout has exactly this shape; with --log the same event
  // (plus ts) also goes to the log file. Without --log the announcement is the log line.
  process.stdout.write(JSON.stringify({ event: 'listening', server: ROLE, port }) + '\n');
  if (logFd !== null) log('listening', { host: HOST, port });
});

httpServer.on('error', (err) => {
  process.stderr.write(`server.mjs: ${ROLE}: cannot listen on ${HOST}:${PORT}: ${err.message}\n`);
  process.exit(1);
});

// ---------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------

let shuttingDown = false;

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  const entries = [...new Set([...sessions.values(), ...legacySessions.values()])];
  await Promise.allSettled(entries.map((e) => e.server.close()));
  await new Promise((resolve) => {
    httpServer.close(() => resolve());
    httpServer.closeAllConnections();
  });
  log('shutdown', { signal });
  if (logFd !== null) fs.closeSync(logFd);
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
