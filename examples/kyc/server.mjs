#!/usr/bin/env node
// One launcher for the four example KYC MCP servers.
//
//   node server.mjs <registry|sanctions|pep|risk> [--host 127.0.0.1] [--port 0] [--log FILE]
//                   [--transport streamable-http|sse|stateless] [--stateless-only]
//
// Streamable HTTP (stateful: one StreamableHTTPServerTransport + one McpServer per
// session) on POST/GET/DELETE /mcp, optional bearer auth (MCP_BEARER_TOKEN), JSON-line
// logs, and test hooks (GET /_test/stats; extra tools when KYC_TEST_TOOLS=1).
// `--transport stateless` serves protocol revision 2026-07-28 on POST /mcp instead, with
// the v2 SDK (@modelcontextprotocol/server): one McpServer per HTTP request, no sessions.
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
  process.stderr.write(
    'usage: node server.mjs <registry|sanctions|pep|risk> [--host 127.0.0.1] [--port 0] [--log FILE]\n' +
      '                      [--transport streamable-http|sse|stateless] [--stateless-only]\n'
  );
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
      'stateless-only': { type: 'boolean', default: false },
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
// streamable-http (revisions 2025-03-26..2025-11-25, sessions), sse (the 2024-11-05 HTTP+SSE
// transport: GET /sse opens the stream, POST /messages?sessionId=... carries requests) or
// stateless (revision 2026-07-28: every POST /mcp carries its own _meta envelope, no sessions;
// 2025-era requests are served statelessly too unless --stateless-only or KYC_STATELESS_ONLY=1).
const TRANSPORT = cli.values.transport;
if (!['streamable-http', 'sse', 'stateless'].includes(TRANSPORT)) usage(`invalid --transport ${TRANSPORT}`);
if (cli.values['stateless-only'] && TRANSPORT !== 'stateless') usage('--stateless-only needs --transport stateless');
const STATELESS_ONLY =
  TRANSPORT === 'stateless' && (cli.values['stateless-only'] || process.env.KYC_STATELESS_ONLY === '1');
// The v2 SDK (2026-07-28) is only loaded for the stateless transport.
const sdkV2 = TRANSPORT === 'stateless' ? await import('@modelcontextprotocol/server') : null;
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
  sessions_stream_closed: 0,  // sse: sessions ended by the client closing its GET stream
  executions: Object.create(null),
  methods: Object.create(null),  // JSON-RPC methods received on POST (pings included)
  inflight: 0,
  max_inflight: 0,
  connections_opened: 0,
  open_connections: 0,
  resumptions: 0,  // GET requests carrying Last-Event-ID
  with_authorization: 0,  // requests that arrived with an Authorization header
  stateless_calls: 0,  // tool calls served without a session (--transport stateless)
  eras: Object.create(null),  // stateless: per-request McpServer instances by protocol era (modern|legacy)
  last_headers: null,  // Mcp-* headers of the most recent JSON-RPC POST (lowercase names)
  meta_seen: null  // `_meta` keys of the most recent JSON-RPC POST's params (null: no _meta)
};

// The MCP-specific headers of a POST (MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*)
// and the `_meta` keys of its message, for tests asserting what a client sent.
function recordRequestShape(req, body) {
  const seen = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (['mcp-protocol-version', 'mcp-method', 'mcp-name'].includes(name) || name.startsWith('mcp-param-')) {
      seen[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  stats.last_headers = seen;
  const message = Array.isArray(body) ? body[0] : body;
  const meta = message?.params?._meta;
  stats.meta_seen = meta && typeof meta === 'object' ? Object.keys(meta) : null;
}

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
 * The handler-side view of one tool call, the same for both SDKs: v1 hands a tool
 * `extra` (RequestHandlerExtra), v2 a `ctx` (ServerContext, recognisable by `mcpReq`).
 *   sessionId, meta (request `_meta`; v2 lifts the io.modelcontextprotocol/* envelope keys
 *   out into `envelope`), headers (lowercase name -> value), signal, notify(notification),
 *   closeSSEStream (resumable streams, v1 only), inputResponses / requestState (multi
 *   round-trip, v2 only), sdk (per-SDK helpers: UrlElicitationRequiredError, inputRequired,
 *   acceptedContent).
 */
function toolContext(extra) {
  if (extra?.mcpReq) {
    const req = extra.http?.req;
    return {
      sessionId: extra.sessionId,
      meta: extra.mcpReq._meta ?? {},
      envelope: extra.mcpReq.envelope,
      headers: req ? Object.fromEntries(req.headers) : {},
      signal: extra.mcpReq.signal,
      notify: (notification) => extra.mcpReq.notify(notification),
      closeSSEStream: extra.http?.closeSSE,
      inputResponses: extra.mcpReq.inputResponses,
      requestState: extra.mcpReq.requestState(),
      sdk: sdkV2
    };
  }
  return {
    sessionId: extra?.sessionId,
    meta: extra?._meta ?? {},
    envelope: undefined,
    headers: extra?.requestInfo?.headers ?? {},
    signal: extra?.signal,
    notify: (notification) => extra.sendNotification(notification),
    closeSSEStream: extra?.closeSSEStream,
    inputResponses: undefined,
    requestState: undefined,
    sdk: { UrlElicitationRequiredError }
  };
}

/**
 * Registers a tool on a v1 or v2 McpServer (both have registerTool(name, config, cb) and
 * accept zod raw shapes), wrapped with the entry bookkeeping: execution counter and the
 * `tool_call` log line. The handler always receives (args, ctx) with ctx from
 * toolContext(); tools without an inputSchema get args = {}.
 */
function addTool(server, name, config, handler) {
  const wrapped = async (...params) => {
    const ctx = toolContext(params.length > 1 ? params[1] : params[0]);
    const args = params.length > 1 ? (params[0] ?? {}) : {};
    stats.executions[name] = (stats.executions[name] ?? 0) + 1;
    const session = ctx.sessionId ? sessions.get(ctx.sessionId) : undefined;
    if (session) session.calls += 1;
    else if (TRANSPORT === 'stateless') stats.stateless_calls += 1;
    let caseId = null;
    if (typeof args.case_id === 'string') caseId = args.case_id;
    else if (typeof ctx.meta[CASE_ID_META_KEY] === 'string') caseId = ctx.meta[CASE_ID_META_KEY];
    log('tool_call', {
      tool: name,
      case_id: caseId,
      case_id_header: headerValue(ctx.headers, 'x-case-id'),
      caller: headerValue(ctx.headers, 'x-mcp-client-identity')
    });
    stats.inflight += 1;
    stats.max_inflight = Math.max(stats.max_inflight, stats.inflight);
    try {
      return await handler(args, ctx);
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
    async ({ ms }, ctx) => {
      await new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', done);
          resolve();
        }
        ctx.signal.addEventListener('abort', done, { once: true });
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
    async ({ ms }, ctx) => {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        ctx.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
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
    async ({ ms }, ctx) => {
      if (!ctx.closeSSEStream) return toolError('this request cannot be resumed (no event store or old protocol version)');
      ctx.closeSSEStream();
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
    async (_args, ctx) => {
      throw new ctx.sdk.UrlElicitationRequiredError([
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
    async ({ steps, interval_ms }, ctx) => {
      const token = ctx.meta.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (ctx.signal.aborted) break;
        if (interval_ms > 0) await new Promise((r) => setTimeout(r, interval_ms));
        if (token !== undefined) {
          await ctx.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps, message: `step ${i}/${steps}` }
          });
        }
      }
      return ok({ steps });
    }
  );

  // SEP-2243 (2026-07-28): `tenant` is annotated x-mcp-header, so a 2026-07-28 client mirrors
  // the argument into an `Mcp-Param-Tenant` request header, and the v2 SDK answers 400/-32020
  // before the handler runs when header and argument disagree.
  addTool(
    server,
    'tenant_echo',
    {
      title: 'Tenant echo (test)',
      description: 'Test hook: returns the tenant argument and the Mcp-Param-Tenant header the request carried.',
      inputSchema: { tenant: z.string().meta({ 'x-mcp-header': 'Tenant' }) },
      annotations: READ_ONLY
    },
    async ({ tenant }, ctx) => ok({ tenant, header: headerValue(ctx.headers, 'mcp-param-tenant') })
  );

  // Multi round-trip request (2026-07-28): the first call answers resultType "input_required"
  // with a form elicitation `confirm` and requestState; the client re-sends the call with
  // inputResponses.confirm and the requestState echoed. (Test tool: the state is a plain,
  // unprotected string; a real server would seal it, e.g. with createRequestStateCodec.)
  addTool(
    server,
    'confirm_case',
    {
      title: 'Confirm case (test)',
      description: 'Test hook: asks the client to confirm the case (multi round-trip, input_required), then returns {case_id, confirmed}.',
      inputSchema: { case_id: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
    },
    async ({ case_id }, ctx) => {
      const { inputRequired, acceptedContent } = ctx.sdk;
      if (!inputRequired) return toolError('confirm_case needs multi round-trip requests (protocol revision 2026-07-28)');
      const state = `confirm:${case_id}`;
      const response = ctx.inputResponses?.confirm;
      if (response !== undefined && ctx.requestState === state) {
        const content = acceptedContent(ctx.inputResponses, 'confirm');
        return ok({ case_id, confirmed: content?.confirm === true });
      }
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: `Confirm KYC case ${case_id}?`,
            requestedSchema: {
              type: 'object',
              properties: { confirm: { type: 'boolean', title: 'Confirm' } },
              required: ['confirm']
            }
          })
        },
        requestState: state
      });
    }
  );
}

// 2026-07-28 caching hints for tools/list: KYC_CACHE_TTL_MS (default 60000: the tool list of a
// KYC server changes only with a deployment) and KYC_CACHE_SCOPE (public|private, default public).
function cacheHints() {
  const ttlMs = Number(process.env.KYC_CACHE_TTL_MS ?? 60000);
  const cacheScope = process.env.KYC_CACHE_SCOPE ?? 'public';
  return { 'tools/list': { ttlMs, cacheScope } };
}

// One McpServer with this role's tools: SDK v1 for streamable-http and sse, SDK v2 for stateless.
function createMcpServer() {
  const server = sdkV2
    ? new sdkV2.McpServer({ name: `kyc-${ROLE}`, version: VERSION }, { cacheHints: cacheHints() })
    : new McpServer({ name: `kyc-${ROLE}`, version: VERSION });
  registerPing(server);
  if (ROLE === 'registry') registerRegistry(server);
  else if (ROLE === 'sanctions') registerSanctions(server);
  else if (ROLE === 'pep') registerPep(server);
  else if (ROLE === 'risk') registerRisk(server);
  if (TEST_TOOLS) registerTestTools(server);
  if (TEST_TOOLS && lateToolAdded) registerLateTool(server);
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
  recordRequestShape(req, body);
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

// Test hook (stateless): POST /_test/tools_changed adds the tool `late_tool` and tells every open
// subscriptions/listen stream (notifications/tools/list_changed).
let lateToolAdded = false;
function registerLateTool(server) {
  addTool(
    server,
    'late_tool',
    { title: 'Late tool (test)', description: 'Test hook: listed only after /_test/tools_changed.', annotations: READ_ONLY },
    async () => ok({ late: true })
  );
}

function handleToolsChanged(req, res) {
  req.resume();
  if (!statelessHandler) {
    sendJson(res, 409, { error: 'tools_changed needs --transport stateless' });
    return;
  }
  lateToolAdded = true;
  statelessHandler.notify.toolsChanged();
  sendJson(res, 200, { changed: true });
}

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
    stats.sessions_stream_closed += 1;
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

// Stateless (2026-07-28) on /mcp with the v2 SDK: createMcpHandler runs one fresh McpServer per
// HTTP request (no sessions, no GET stream). It speaks web-standard Request/Response, so the
// node:http request is converted on the way in and the Response streamed out on the way back.
// By default (the SDK's `legacy: 'stateless'`) 2025-era requests, initialize included, are also
// served statelessly by the same factory; --stateless-only (`legacy: 'reject'`) refuses them.
const statelessHandler = sdkV2
  ? sdkV2.createMcpHandler(
      (context) => {
        stats.eras[context.era] = (stats.eras[context.era] ?? 0) + 1;
        return createMcpServer();
      },
      {
        legacy: STATELESS_ONLY ? 'reject' : 'stateless',
        maxRequestBodySize: MAX_BODY_BYTES,
        // Logged by validation-ladder cell or error code only: SDK messages may quote argument values.
        onerror: (err) => {
          const cell = /^Rejected [^(]*\(([\w-]+)\)/.exec(err.message)?.[1];
          if (cell) log('mcp_rejected', { reason: cell });
          else if (typeof err.code === 'number') log('mcp_rejected', { reason: err.name, code: err.code });
          else log('mcp_error', { error: err.name });
        }
      }
    )
  : null;

function toWebRequest(req, signal) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  return new Request(new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method,
    headers,
    signal
  });
}

async function sendWebResponse(res, response) {
  if (res.destroyed) return;
  const headers = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => reader.cancel().catch(() => {});
  res.once('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) {
        await new Promise((resolve) => {
          const settle = () => {
            res.off('drain', settle);
            res.off('close', settle);
            resolve();
          };
          res.on('drain', settle);
          res.on('close', settle);
        });
      }
    }
  } finally {
    res.off('close', onClose);
    res.end();
  }
}

async function handleStateless(req, res) {
  if (refuseUnauthorized(req, res)) return;
  // The body is read here (size limit, stats, fault injection) and handed over as parsedBody.
  let body;
  if (req.method === 'POST') {
    body = await readJsonRpc(req, res);
    if (body === undefined) return;
  } else {
    req.resume();
  }
  // A client that goes away aborts the exchange (ctx.signal in the tool handlers).
  const aborter = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  const response = await statelessHandler.fetch(
    toWebRequest(req, aborter.signal),
    body === undefined ? undefined : { parsedBody: body }
  );
  await sendWebResponse(res, response);
}

function handleStats(req, res) {
  req.resume();
  sendJson(res, 200, {
    server: ROLE,
    sessions_opened: stats.sessions_opened,
    sessions_deleted: stats.sessions_deleted,
    sessions_stream_closed: stats.sessions_stream_closed,
    active_sessions: sessions.size,
    // Tool calls per open session, in opening order (no session ids: they are credentials).
    // Stateless: one pseudo-session holding every tool call.
    calls_per_session:
      TRANSPORT === 'stateless' ? [stats.stateless_calls] : [...sessions.values()].map((e) => e.calls),
    max_inflight: stats.max_inflight,
    inflight: stats.inflight,
    connections_opened: stats.connections_opened,
    open_connections: stats.open_connections,
    resumptions: stats.resumptions,
    with_authorization: stats.with_authorization,
    methods: { ...stats.methods },
    executions: { ...stats.executions },
    eras: { ...stats.eras },
    last_headers: stats.last_headers,
    meta_seen: stats.meta_seen
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
  else if (pathname === '/mcp' && TRANSPORT === 'stateless') work = handleStateless(req, res);
  else if (pathname === '/sse' && TRANSPORT === 'sse' && req.method === 'GET') work = handleLegacySse(req, res);
  else if (pathname === '/messages' && TRANSPORT === 'sse' && req.method === 'POST') work = handleLegacyMessage(req, res);
  else if (pathname === '/_test/stats' && req.method === 'GET') work = Promise.resolve(handleStats(req, res));
  else if (pathname === '/_test/drop_next' && req.method === 'POST') work = Promise.resolve(handleDropNext(req, res));
  else if (pathname === '/_test/tools_changed' && req.method === 'POST' && TEST_TOOLS)
    work = Promise.resolve(handleToolsChanged(req, res));
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
  await Promise.allSettled([...entries.map((e) => e.server.close()), statelessHandler?.close()]);
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
