#!/usr/bin/env node
// Runs KYC cases through the MCP sidecar's REST API, as a batch or as an HTTP service.
//
//   node orchestrator.mjs --sidecar http://127.0.0.1:7001 [--cases N] [--company GB-10001 ...]
//   node orchestrator.mjs --sidecar http://127.0.0.1:7001 --serve PORT [--host 0.0.0.0]
//
// The service answers POST /cases {"company": "GB-10001", "case_id"?: "..."} with the case's
// decision, and GET /healthz; it logs JSON lines to stdout.
//
// Per case: registry.lookup_company, registry.get_filings, sanctions.screen_entity
// (company), then for each beneficial owner at or above the UBO threshold
// sanctions.screen_entity (person) and pep.check_pep, then risk.score_case and
// risk.record_decision. Output never contains legal names or person names.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { COMPANY_NUMBERS } from './fixtures.mjs';

// Owners below this share are not beneficial owners for screening purposes
// (the usual ">= 25%" UBO rule); keeps a case at 9 calls for the fixtures.
const UBO_THRESHOLD_PCT = 25;
const CALL_TIMEOUT_MS = 30000;
const USAGE =
  'usage: node orchestrator.mjs --sidecar http://127.0.0.1:7001 [--cases N] [--company GB-10001 ...]\n' +
  '       node orchestrator.mjs --sidecar http://127.0.0.1:7001 --serve PORT [--host 0.0.0.0]';

function fail(message) {
  process.stderr.write(`orchestrator: ${message}\n`);
  process.exit(1);
}

let cli;
try {
  cli = parseArgs({
    options: {
      sidecar: { type: 'string', default: 'http://127.0.0.1:7001' },
      cases: { type: 'string' },
      company: { type: 'string', multiple: true },
      serve: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  });
} catch (err) {
  fail(`${err.message}\n${USAGE}`);
}
if (cli.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const sidecar = cli.values.sidecar.replace(/\/+$/, '');
try {
  new URL(sidecar);
} catch {
  fail(`invalid --sidecar URL: ${cli.values.sidecar}`);
}
const companies = cli.values.company?.length ? cli.values.company : COMPANY_NUMBERS;
const caseCount = cli.values.cases !== undefined ? Number(cli.values.cases) : 3;
if (!Number.isInteger(caseCount) || caseCount < 1) fail(`invalid --cases ${cli.values.cases}`);

/** A failed tool call: `server`, `tool` and the sidecar's error `code` (no arguments, no PII). */
class CallError extends Error {
  constructor(message, { server, tool, code }) {
    super(message);
    Object.assign(this, { server, tool, code });
  }
}

/**
 * One tool call through the sidecar. Returns the structured result; throws
 * CallError naming server/tool and the sidecar's error code on any failure.
 */
async function callTool(ctx, server, tool, args) {
  const url = `${sidecar}/v1/servers/${encodeURIComponent(server)}/tools/${encodeURIComponent(tool)}`;
  ctx.calls += 1;
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Case-Id': ctx.caseId },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS)
    });
  } catch (err) {
    const cause = err?.cause?.code ?? err?.name ?? 'network_error';
    throw new CallError(`${server}/${tool}: cannot reach sidecar at ${sidecar} (${cause})`, { server, tool, code: cause });
  }
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.status !== 200) {
    const code = body?.error?.code ?? 'unknown';
    const message = body?.error?.message ?? text.slice(0, 200);
    throw new CallError(`${server}/${tool} failed: HTTP ${res.status}, sidecar error code ${code}: ${message}`, { server, tool, code });
  }
  if (!body || typeof body !== 'object') {
    throw new CallError(`${server}/${tool} failed: sidecar answered 200 with a body that is not a JSON object`, {
      server,
      tool,
      code: 'bad_response'
    });
  }
  if (body.isError) {
    const detail = Array.isArray(body.content) ? body.content.find((c) => c?.type === 'text')?.text : undefined;
    throw new CallError(`${server}/${tool} failed: tool error (isError): ${detail ?? 'no detail'}`, { server, tool, code: 'tool_error' });
  }
  if (body.structuredContent && typeof body.structuredContent === 'object') return body.structuredContent;
  const first = Array.isArray(body.content) ? body.content.find((c) => c?.type === 'text') : undefined;
  try {
    return JSON.parse(first?.text ?? '');
  } catch {
    throw new CallError(`${server}/${tool} failed: result has neither structuredContent nor JSON text content`, {
      server,
      tool,
      code: 'bad_response'
    });
  }
}

async function runCase(caseId, companyNumber) {
  const ctx = { caseId, calls: 0 };
  const started = performance.now();

  // case_id is passed in the arguments for some calls only; for the others the
  // sidecar injects it from X-Case-Id because the tool schemas declare it.
  const company = await callTool(ctx, 'registry', 'lookup_company', { company_number: companyNumber, case_id: caseId });
  await callTool(ctx, 'registry', 'get_filings', { company_number: companyNumber });
  const companyScreen = await callTool(ctx, 'sanctions', 'screen_entity', {
    name: company.legal_name,
    entity_type: 'company',
    case_id: caseId
  });

  const owners = (company.beneficial_owners ?? []).filter((o) => (o.ownership_pct ?? 0) >= UBO_THRESHOLD_PCT);
  const ownerSanctionsHits = [];
  const ownerPepFlags = [];
  for (const owner of owners) {
    const screen = await callTool(ctx, 'sanctions', 'screen_entity', { name: owner.name, entity_type: 'person' });
    ownerSanctionsHits.push(screen.sanctions_clear !== true);
    const pep = await callTool(ctx, 'pep', 'check_pep', { name: owner.name });
    ownerPepFlags.push(pep.is_pep === true);
  }

  const score = await callTool(ctx, 'risk', 'score_case', {
    case_id: caseId,
    company: { company_number: company.company_number, jurisdiction: company.jurisdiction, owner_count: owners.length },
    screening: {
      company_sanctions_hit: companyScreen.sanctions_clear !== true,
      owner_sanctions_hits: ownerSanctionsHits,
      owner_pep_flags: ownerPepFlags
    }
  });
  await callTool(ctx, 'risk', 'record_decision', { decision: score.decision });

  return { decision: score.decision, calls: ctx.calls, ms: Math.round(performance.now() - started) };
}

// Case ids: kyc-<yyyymmdd>-<4 hex per process>-<n>.
const runTag = randomBytes(2).toString('hex');
function caseId(n) {
  const now = new Date();
  const day = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}`;
  return `kyc-${day}-${runTag}-${n}`;
}

async function runBatch() {
  const done = [];
  for (let n = 1; n <= caseCount; n++) {
    const id = caseId(n);
    const companyNumber = companies[(n - 1) % companies.length];
    let result;
    try {
      result = await runCase(id, companyNumber);
    } catch (err) {
      if (err instanceof CallError) fail(`case ${id}: ${err.message}`);
      throw err;
    }
    process.stdout.write(`case ${id}: company ${companyNumber} -> ${result.decision} (${result.calls} calls, ${result.ms} ms)\n`);
    done.push({ case_id: id, decision: result.decision, calls: result.calls });
  }
  process.stdout.write(JSON.stringify({ event: 'orchestrator_done', cases: done }) + '\n');
}

// --serve: company numbers and case ids are plain tokens (a case id travels as a header).
const COMPANY_RE = /^[A-Za-z0-9-]{1,64}$/;
const CASE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_REQUEST_BYTES = 64 * 1024;

const logLine = (obj) => process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), ...obj }) + '\n');

let stopping = false;
function reply(res, status, body, headers = {}) {
  // While stopping, each answer closes its connection, so the server's close completes.
  if (stopping) headers = { ...headers, Connection: 'close' };
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

class BadRequest extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The JSON object of a request body, at most MAX_REQUEST_BYTES.
async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) throw new BadRequest(413, `request body over ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (body && typeof body === 'object' && !Array.isArray(body)) return body;
  } catch {}
  throw new BadRequest(400, 'the body must be a JSON object: {"company": "GB-10001"}');
}

let served = 0;
async function postCase(req, res) {
  const body = await readJson(req);
  if (typeof body.company !== 'string' || !COMPANY_RE.test(body.company)) {
    throw new BadRequest(400, '"company" must be a company number such as "GB-10001"');
  }
  if (body.case_id !== undefined && (typeof body.case_id !== 'string' || !CASE_ID_RE.test(body.case_id))) {
    throw new BadRequest(400, '"case_id" must be 1-128 characters of letters, digits and ._:-');
  }
  const id = body.case_id ?? caseId(++served);
  try {
    const result = await runCase(id, body.company);
    // Company numbers and decisions are not personal data; names and owners never leave runCase.
    logLine({ event: 'case_done', case_id: id, company: body.company, ...result });
    reply(res, 200, { case_id: id, company: body.company, ...result });
  } catch (err) {
    if (!(err instanceof CallError)) throw err;
    // The message may quote a server's error text: it goes to the caller, the log keeps the codes.
    logLine({ event: 'case_failed', case_id: id, company: body.company, server: err.server, tool: err.tool, code: err.code });
    // The registry refusing the company number is the caller's mistake, anything else a bad gateway.
    const unknownCompany = err.tool === 'lookup_company' && err.code === 'tool_error';
    reply(res, unknownCompany ? 404 : 502, { case_id: id, error: err.message });
  }
}

async function handle(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  const routes = { '/cases': 'POST', '/healthz': 'GET' };
  if (!routes[pathname]) return reply(res, 404, { error: `no route ${pathname}: POST /cases, GET /healthz` });
  if (req.method !== routes[pathname]) {
    return reply(res, 405, { error: `${pathname} takes ${routes[pathname]}` }, { Allow: routes[pathname] });
  }
  if (pathname === '/healthz') return reply(res, 200, { status: 'ok' });
  return postCase(req, res);
}

function serve(port, host) {
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof BadRequest) return reply(res, err.status, { error: err.message });
      logLine({ event: 'internal_error', error: err?.name ?? 'Error' });
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.listen(port, host, () => logLine({ event: 'listening', host, port: server.address().port, sidecar }));
  server.on('error', (err) => fail(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`));
  // As a container's PID 1, node has no default signal handling: stop on SIGTERM/SIGINT, letting
  // cases in flight finish within the bound.
  const stop = (signal) => {
    stopping = true;
    logLine({ event: 'shutdown', signal });
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), CALL_TIMEOUT_MS).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (cli.values.serve !== undefined) {
  const port = Number(cli.values.serve);
  if (!/^\d{1,5}$/.test(cli.values.serve) || port > 65535) fail(`invalid --serve ${cli.values.serve}\n${USAGE}`);
  if (cli.values.cases !== undefined || cli.values.company) fail(`--serve takes no --cases or --company\n${USAGE}`);
  serve(port, cli.values.host ?? '0.0.0.0');
} else {
  if (cli.values.host !== undefined) fail(`--host needs --serve\n${USAGE}`);
  await runBatch();
}
