#!/usr/bin/env node
// Runs KYC cases through the MCP sidecar's REST API.
//
//   node orchestrator.mjs --sidecar http://127.0.0.1:7001 [--cases N] [--company GB-10001 ...]
//
// Per case: registry.lookup_company, registry.get_filings, sanctions.screen_entity
// (company), then for each beneficial owner at or above the UBO threshold
// sanctions.screen_entity (person) and pep.check_pep, then risk.score_case and
// risk.record_decision. Output never contains legal names or person names.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { COMPANY_NUMBERS } from './fixtures.mjs';

// Owners below this share are not beneficial owners for screening purposes
// (the usual ">= 25%" UBO rule); keeps a case at 9 calls for the fixtures.
const UBO_THRESHOLD_PCT = 25;
const CALL_TIMEOUT_MS = 30000;

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
      help: { type: 'boolean', short: 'h' }
    }
  });
} catch (err) {
  fail(`${err.message}\nusage: node orchestrator.mjs --sidecar http://127.0.0.1:7001 [--cases N] [--company GB-10001 ...]`);
}
if (cli.values.help) {
  process.stdout.write('usage: node orchestrator.mjs --sidecar http://127.0.0.1:7001 [--cases N] [--company GB-10001 ...]\n');
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

class CallError extends Error {}

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
    throw new CallError(`${server}/${tool}: cannot reach sidecar at ${sidecar} (${cause})`);
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
    throw new CallError(`${server}/${tool} failed: HTTP ${res.status}, sidecar error code ${code}: ${message}`);
  }
  if (!body || typeof body !== 'object') {
    throw new CallError(`${server}/${tool} failed: sidecar answered 200 with a body that is not a JSON object`);
  }
  if (body.isError) {
    const detail = Array.isArray(body.content) ? body.content.find((c) => c?.type === 'text')?.text : undefined;
    throw new CallError(`${server}/${tool} failed: tool error (isError): ${detail ?? 'no detail'}`);
  }
  if (body.structuredContent && typeof body.structuredContent === 'object') return body.structuredContent;
  const first = Array.isArray(body.content) ? body.content.find((c) => c?.type === 'text') : undefined;
  try {
    return JSON.parse(first?.text ?? '');
  } catch {
    throw new CallError(`${server}/${tool} failed: result has neither structuredContent nor JSON text content`);
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

const now = new Date();
const day = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}`;
const runTag = randomBytes(2).toString('hex');

const done = [];
for (let n = 1; n <= caseCount; n++) {
  const caseId = `kyc-${day}-${runTag}-${n}`;
  const companyNumber = companies[(n - 1) % companies.length];
  let result;
  try {
    result = await runCase(caseId, companyNumber);
  } catch (err) {
    if (err instanceof CallError) fail(`case ${caseId}: ${err.message}`);
    throw err;
  }
  process.stdout.write(`case ${caseId}: company ${companyNumber} -> ${result.decision} (${result.calls} calls, ${result.ms} ms)\n`);
  done.push({ case_id: caseId, decision: result.decision, calls: result.calls });
}
process.stdout.write(JSON.stringify({ event: 'orchestrator_done', cases: done }) + '\n');
