#!/usr/bin/env node
// Leak check (issue 10): no secret (a bearer token, a line of a private key's PEM body) and no
// personal value of the KYC fixtures (examples/kyc/fixtures.mjs: legal names, beneficial owners'
// names, PEP names and roles, sanctioned names) appears in any log, metric or debug output.
//
//   node scripts/leak-check.mjs --artifacts DIR [--artifacts DIR ...]
//       Scans what a test run left in DIR: every file, except the files the secrets are read
//       from (below). Secrets: the private keys of every PEM file under DIR (and certs-dev/out),
//       the tokens of tokens files under DIR (a file named token*, or one a sidecar config names
//       as bearer_tokens_file / bearer_token_file; "name=token" lines or the bare token), and the
//       token literals of the test sources (MCP_BEARER_TOKEN: '...', const ..TOKEN.. / T_... = '...').
//   node scripts/leak-check.mjs --stack [--sidecar BIN]
//       Runs its own KYC stack (four servers, each behind a gate: two with mTLS, two with bearer
//       tokens; an outbound sidecar; every sidecar at log level debug), drives it through the
//       orchestrator's cases and through calls that carry personal values where they go wrong
//       (unknown tool, invalid arguments, malformed JSON, a wrong token, a policy refusal, the MCP
//       endpoint), saves every sidecar's /metrics and /debug/* answers, stops everything, and
//       scans the lot. BIN defaults to $MCP_SIDECAR_BIN.
//   node scripts/leak-check.mjs --self-check
//       Plants a legal name, a token and a key line in scratch logs and runs this script on them:
//       passes only if it fails there (naming each) and passes on clean logs.
// The match is exact and case-sensitive on whole values. Findings name the file, the line and
// the kind of value, never the value. Exit 0 clean, 1 leaks (or a failed run), 2 usage.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { COMPANIES, PEPS, SANCTIONS } from '../examples/kyc/fixtures.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);

// ---- what must not leak ------------------------------------------------------------------------

// [{value, what}], one per distinct value; `what` says what it is without saying it.
function piiNeedles() {
  const needles = [];
  for (const c of Object.values(COMPANIES)) {
    needles.push({ value: c.legal_name, what: `legal_name of ${c.company_number}` });
    c.beneficial_owners.forEach((o, i) => needles.push({ value: o.name, what: `beneficial owner ${i + 1} of ${c.company_number}` }));
  }
  SANCTIONS.forEach((s, i) => needles.push({ value: s.name, what: `sanctions list name #${i + 1}` }));
  Object.entries(PEPS).forEach(([name, role], i) => {
    needles.push({ value: name, what: `PEP name #${i + 1} (normalised)` });
    needles.push({ value: role, what: `pep_role #${i + 1}` });
  });
  return distinct(needles);
}

function distinct(needles) {
  const seen = new Set();
  return needles.filter((n) => !seen.has(n.value) && seen.add(n.value));
}

// The body lines of the private keys in a PEM text (a partial key in a log is a leak too), but
// for lines that hold public material only (an RSA modulus, an EC public point: certificates
// carry them too). A full PEM line is 48 bytes of the DER on their own, so that is checked by
// looking for its bytes in the public key's DER.
function pemNeedles(text, where) {
  const needles = [];
  for (const block of text.matchAll(/-----BEGIN ([A-Z ]*PRIVATE KEY)-----([\s\S]*?)-----END \1-----/g)) {
    let publicDer = Buffer.alloc(0);
    try {
      publicDer = crypto.createPublicKey(block[0]).export({ type: 'spki', format: 'der' });
    } catch {}  // a key node cannot read: every line counts
    for (const line of block[2].split(/\s+/))
      if (line.length >= 32 && !publicDer.includes(Buffer.from(line, 'base64')))
        needles.push({ value: line, what: `a line of the private key in ${where}`, secret: true });
  }
  return needles;
}

// Tokens of a tokens file ("name=token" lines) or a token file (the token alone).
function tokenNeedles(text, where) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean)
    .map((l) => (l.includes('=') ? l.slice(l.indexOf('=') + 1) : l))
    .filter((t) => /^[\x21-\x7e]{16,}$/.test(t))
    .map((value) => ({ value, what: `a bearer token of ${where}`, secret: true }));
}

// Token literals of the test sources: tokens given to processes through the environment leave
// no file behind.
function sourceTokenNeedles() {
  const needles = [];
  const files = [...walk(path.join(ROOT, 'tests')), ...walk(path.join(ROOT, 'examples'))].filter((f) => f.endsWith('.mjs'));
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const rel = path.relative(ROOT, file);
    for (const m of text.matchAll(/MCP_BEARER_TOKEN\s*:\s*'([^']{16,})'/g)) needles.push({ value: m[1], what: `a token literal of ${rel}`, secret: true });
    for (const m of text.matchAll(/const\s+(\w*TOKEN\w*|T_[A-Z0-9_]+)\s*=\s*'([^']{16,})'/gi)) needles.push({ value: m[2], what: `${m[1]} of ${rel}`, secret: true });
  }
  return needles;
}

// Every regular file below `root`, node_modules and symbolic links left out.
function* walk(root) {
  let entries;
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(root, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

// The secrets found under `roots`: needles, and the files they were read from (not scanned).
function harvestSecrets(roots) {
  const needles = [];
  const sources = new Set();
  const tokenFiles = new Set();
  const keyDirs = [...roots, path.join(ROOT, 'certs-dev/out')];
  for (const root of keyDirs)
    for (const file of walk(root)) {
      const name = path.basename(file);
      if (/^tokens?\b/.test(name)) tokenFiles.add(file);
      if (/\.(ya?ml|json)$/.test(name)) for (const f of tokenFilesOf(file)) tokenFiles.add(f);
      const size = fs.statSync(file).size;
      if (size > 1 << 20) continue;  // keys are small; logs can be large
      const text = fs.readFileSync(file, 'latin1');
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
        needles.push(...pemNeedles(text, path.relative(root, file) || name));
        sources.add(file);
      }
    }
  for (const file of tokenFiles) {
    if (!fs.existsSync(file)) continue;
    needles.push(...tokenNeedles(fs.readFileSync(file, 'utf8'), path.basename(file)));
    sources.add(file);
  }
  return { needles, sources };
}

// The token files a sidecar config names (the configs the tests write are JSON, which is YAML).
function tokenFilesOf(configFile) {
  let config;
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch {
    return [];
  }
  const found = [];
  (function visit(v) {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'bearer_tokens_file' || k === 'bearer_token_file') && typeof x === 'string') found.push(x);
        else visit(x);
      }
  })(config);
  return found;
}

// ---- the scan --------------------------------------------------------------------------------

// Findings [{file, line, what}] of `needles` in every file under `roots` but `skip`.
function scan(roots, needles, skip) {
  const findings = [];
  let files = 0;
  for (const root of roots)
    for (const file of walk(root)) {
      if (skip.has(file)) continue;
      files++;
      const text = fs.readFileSync(file, 'utf8');
      for (const n of needles) {
        let at = text.indexOf(n.value);
        for (let shown = 0; at >= 0 && shown < 3; shown++, at = text.indexOf(n.value, at + 1)) {
          const line = text.slice(0, at).split('\n').length;
          findings.push({ file, line, what: n.what });
        }
      }
    }
  return { findings, files };
}

function report(roots, needles, skip) {
  const { findings, files } = scan(roots, needles, skip);
  console.log(`leak-check: ${files} files under ${roots.join(', ')}; ${needles.length} values looked for ` +
    `(${needles.filter((n) => !n.secret).length} personal, ${needles.filter((n) => n.secret).length} secrets); ${skip.size} secret sources left out`);
  for (const f of findings) console.log(`LEAK ${f.file}:${f.line}: ${f.what}`);
  console.log(findings.length ? `leak-check: FAILED, ${findings.length} findings` : 'leak-check: clean');
  return findings.length === 0;
}

function checkArtifacts(dirs) {
  const roots = dirs.map((d) => path.resolve(d));
  for (const r of roots) if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) usage(`no directory ${r}`);
  const { needles, sources } = harvestSecrets(roots);
  return report(roots, distinct([...piiNeedles(), ...needles, ...sourceTokenNeedles()]), sources);
}

// ---- its own stack ---------------------------------------------------------------------------

async function checkStack(bin) {
  const { startServer, startSidecar, waitForExit } = await import('../examples/kyc/launch.mjs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leak-check-'));
  const pki = path.join(dir, 'pki');
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
  const ID = (sa) => `spiffe://kyc.local/ns/kyc/sa/${sa}`;
  const secret = (name, text) => {
    fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
    return path.join(dir, name);
  };
  // The outbound sidecar's own token (environment) for pep, a token file for risk, a wrong token.
  const [envToken, riskToken, wrongToken] = [0, 1, 2].map(() => crypto.randomBytes(24).toString('hex'));
  secret('tokens-pep', `orchestrator=${envToken}\n`);
  secret('tokens-risk', `orchestrator=${riskToken}\n`);
  secret('token-risk', `${riskToken}\n`);
  secret('token-wrong', `${wrongToken}\n`);
  fs.writeFileSync(path.join(dir, 'tokens-env'), `outbound=${envToken}\n`);  // a record of the env token, for the scan

  const problems = [];
  const processes = [];
  const TRANSPORTS = { registry: 'stateless', sanctions: 'streamable-http', pep: 'sse', risk: 'streamable-http' };
  const MTLS = new Set(['registry', 'sanctions']);  // the other gates take bearer tokens
  const servers = {};
  const gates = {};
  for (const [role, transport] of Object.entries(TRANSPORTS)) {
    servers[role] = await startServer(role, { dir, transport, testTools: true });
    processes.push(servers[role]);
    const mtls = MTLS.has(role);
    gates[role] = await startSidecar({ bin, dir, name: `gate-${role}`, expectRoles: ['inbound', 'admin'], config: {
      inbound: {
        name: role, listen: '127.0.0.1:0', forward_to: servers[role].base, require_auth: true,
        auth: mtls
          ? { mode: 'mtls', tls: { cert_file: `${pki}/${role}.crt`, key_file: `${pki}/${role}.key`, client_ca_file: `${pki}/ca.crt` } }
          : { mode: 'bearer', bearer_tokens_file: path.join(dir, `tokens-${role}`) },
        // risk: the orchestrator's tools only, so a test tool is refused by the policy.
        policy: [{ callers: [ID('orchestrator'), 'bearer:orchestrator'], tools: role === 'risk' ? ['score_case', 'record_decision', 'ping'] : ['*'] }],
        // What an operator may log (company numbers are no personal data), except on the
        // registry, where a call puts a name into company_number: a value logged because the
        // configuration names its argument is the operator's choice, not a leak.
        log_arguments: role === 'registry' ? [] : ['company_number']
      },
      admin: { listen: '127.0.0.1:0' }, log: { level: 'debug' }, shutdown: { delay_seconds: 0, grace_seconds: 2 }
    } });
    processes.push(gates[role]);
  }
  const gateUrl = (role) => {
    const scheme = MTLS.has(role) ? 'https' : 'http';
    return `${scheme}://localhost:${gates[role].addresses.inbound.split(':')[1]}${new URL(servers[role].url).pathname}`;
  };
  const clientTls = (role) => ({ ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key`, expect_identity: ID(role) });
  const outbound = await startSidecar({ bin, dir, name: 'outbound', env: { MCP_BEARER_TOKEN: envToken }, config: {
    outbound: {
      listen: '127.0.0.1:0', call_timeout_seconds: 10, legacy_sse_endpoint: true,
      servers: [
        { name: 'registry', url: gateUrl('registry'), tls: clientTls('registry') },
        { name: 'sanctions', url: gateUrl('sanctions'), tls: clientTls('sanctions') },
        { name: 'pep', url: gateUrl('pep') },
        { name: 'risk', url: gateUrl('risk'), bearer_token_file: path.join(dir, 'token-risk') },
        { name: 'risk-wrong', url: gateUrl('risk'), bearer_token_file: path.join(dir, 'token-wrong') }
      ]
    },
    admin: { listen: '127.0.0.1:0' }, log: { level: 'debug' }, shutdown: { delay_seconds: 0, grace_seconds: 2 }
  } });
  processes.push(outbound);
  const sidecars = { outbound, ...Object.fromEntries(Object.entries(gates).map(([r, g]) => [`gate-${r}`, g])) };

  // The orchestrator's cases: personal values flow through every server's answers.
  const orchestrator = spawn(process.execPath, [path.join(ROOT, 'examples/kyc/orchestrator.mjs'), '--sidecar', outbound.outbound, '--cases', '4'],
    { stdio: ['ignore', fs.openSync(path.join(dir, 'orchestrator.stdout'), 'w'), fs.openSync(path.join(dir, 'orchestrator.stderr'), 'w')] });
  const code = await waitForExit(orchestrator, 120000);
  if (code !== 0) problems.push(`the orchestrator exited with ${code}`);

  // Calls with personal values in their arguments, most of them going wrong somewhere.
  const caseIds = [];
  const post = async (urlPath, body, headers = {}) => {
    const caseId = `leak-${caseIds.push(0)}`;
    caseIds[caseIds.length - 1] = caseId;
    const r = await fetch(`${outbound.outbound}${urlPath}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-case-id': caseId, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body)
    });
    return { status: r.status, headers: r.headers, text: await r.text() };
  };
  const tool = (server, name, args) => post(`/v1/servers/${server}/tools/${name}`, args);
  const expect = async (what, promise, status) => {
    const r = await promise;
    if (r.status !== status) problems.push(`${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 200)}`);
    return r;
  };
  const [company, pep] = [COMPANIES['NL-40004'], Object.keys(PEPS)[0]];
  await expect('a sanctions hit', tool('sanctions', 'screen_entity', { name: company.beneficial_owners[0].name, entity_type: 'person' }), 200);
  await expect('a PEP', tool('pep', 'check_pep', { name: COMPANIES['DE-20002'].beneficial_owners[1].name }), 200);
  await expect('a name where a company number goes', tool('registry', 'lookup_company', { company_number: company.legal_name }), 200);
  await expect('an invalid enum value', tool('sanctions', 'screen_entity', { name: company.legal_name, entity_type: company.beneficial_owners[1].name }), 200);
  await expect('an unknown tool', tool('registry', 'no_such_tool', { name: COMPANIES['FR-30003'].beneficial_owners[2].name }), 404);
  await expect('malformed JSON', post('/v1/servers/sanctions/tools/screen_entity', `{"name": "${COMPANIES['FR-30003'].legal_name}", `), 400);
  await expect('a wrong token', tool('risk-wrong', 'score_case', { company_number: 'GB-10001', owner: COMPANIES['GB-10001'].beneficial_owners[0].name }), 502);
  await expect('a tool the gate does not list', tool('risk', 'counter', { key: pep }), 404);
  // The MCP endpoint (Streamable HTTP, protocol 2025-11-25): initialize, then a call.
  const mcpHeaders = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
  const init = await expect('MCP initialize', post('/mcp/pep', { jsonrpc: '2.0', id: 1, method: 'initialize', params:
    { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'leak-check', version: '1' } } }, mcpHeaders), 200);
  const session = { ...mcpHeaders, 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' };
  await post('/mcp/pep', { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
  await expect('MCP tools/call', post('/mcp/pep', { jsonrpc: '2.0', id: 2, method: 'tools/call', params:
    { name: 'check_pep', arguments: { name: COMPANIES['NL-40004'].beneficial_owners[1].name } } }, session), 200);

  // A refusal of the policy happens at the gate (the sidecar does not even list the tool):
  // straight to the risk gate with its token.
  const direct = { ...mcpHeaders, authorization: `Bearer ${riskToken}`, 'content-type': 'application/json' };
  const gateInit = await fetch(gateUrl('risk'), { method: 'POST', headers: direct, body: JSON.stringify({ jsonrpc: '2.0', id: 1,
    method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'leak-check', version: '1' } } }) });
  await gateInit.text();
  const refused = await fetch(gateUrl('risk'), { method: 'POST', headers: { ...direct, 'mcp-session-id': gateInit.headers.get('mcp-session-id') ?? '', 'x-case-id': 'leak-policy' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'counter', arguments: { key: pep, case_id: 'leak-policy' } } }) });
  if (!(await refused.text()).includes('-32003')) problems.push('the policy refusal at the risk gate did not happen');
  caseIds.push('leak-policy');

  // Every sidecar's metrics and debug views, saved for the scan.
  const scrapes = path.join(dir, 'scrapes');
  fs.mkdirSync(scrapes);
  for (const [name, sc] of Object.entries(sidecars)) {
    const views = ['/metrics', '/debug/config', '/debug/pools', '/debug/log-level', ...caseIds.map((id) => `/debug/calls?case_id=${id}`)];
    for (const view of views) {
      const r = await fetch(`${sc.admin}${view}`);
      fs.writeFileSync(path.join(scrapes, `${name}${view.replace(/[^a-z0-9-]+/gi, '_')}.txt`), `${r.status}\n${await r.text()}`);
    }
  }
  for (const p of processes.reverse()) {
    const exit = await p.stop('SIGTERM');
    if (exit !== 0) problems.push(`a process exited with ${exit} on SIGTERM (${p.logFile})`);
  }
  for (const p of problems) console.log(`leak-check: the stack run went wrong: ${p}`);
  const clean = checkArtifacts([dir]);
  return clean && problems.length === 0;
}

// ---- self-check ------------------------------------------------------------------------------

function selfCheck() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leak-check-self-'));
  const [clean, planted] = ['clean', 'planted'].map((d) => path.join(dir, d));
  for (const d of [clean, planted]) fs.mkdirSync(path.join(d, 'pki'), { recursive: true });
  const token = crypto.randomBytes(20).toString('hex');
  const key = path.join(planted, 'pki/gate.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], { stdio: 'ignore' });
  const keyLine = fs.readFileSync(key, 'utf8').split('\n')[1];
  const benign = JSON.stringify({ level: 'info', event: 'call_end', server: 'registry', tool: 'lookup_company', case_id: 'c-1', outcome: 'ok' });
  fs.writeFileSync(path.join(clean, 'sidecar.log'), `${benign}\n`);
  fs.writeFileSync(path.join(planted, 'tokens'), `orchestrator=${token}\n`);
  fs.writeFileSync(path.join(planted, 'sidecar.log'), `${benign}\n${JSON.stringify({ event: 'call_end', error: `no match for ${COMPANIES['GB-10001'].legal_name}` })}\n`);
  fs.writeFileSync(path.join(planted, 'gate.log'), `${benign}\n${benign}\n{"event":"auth","authorization":"Bearer ${token}"}\n`);
  fs.writeFileSync(path.join(planted, 'debug_config.txt'), `200\n{"key":"${keyLine}"}\n`);

  const run = (d) => spawnSync(process.execPath, [SELF, '--artifacts', d], { encoding: 'utf8', timeout: 60000 });
  const problems = [];
  const onClean = run(clean);
  if (onClean.status !== 0) problems.push(`clean logs: exit ${onClean.status}\n${onClean.stdout}${onClean.stderr}`);
  const onPlanted = run(planted);
  if (onPlanted.status !== 1) problems.push(`planted leaks: exit ${onPlanted.status}, expected 1`);
  for (const expected of [
    /^LEAK .*\/sidecar\.log:2: legal_name of GB-10001$/m,
    /^LEAK .*\/gate\.log:3: a bearer token of tokens$/m,
    /^LEAK .*\/debug_config\.txt:2: a line of the private key in pki\/gate\.key$/m
  ]) if (!expected.test(onPlanted.stdout)) problems.push(`planted leaks: no finding matching ${expected}`);
  const leaks = onPlanted.stdout.split('\n').filter((l) => l.startsWith('LEAK '));
  if (leaks.length !== 3) problems.push(`planted leaks: ${leaks.length} findings, expected 3 (the secret sources themselves must not count)`);
  for (const value of [token, keyLine, COMPANIES['GB-10001'].legal_name])
    if (onPlanted.stdout.includes(value)) problems.push('the report shows a leaked value itself');
  fs.rmSync(dir, { recursive: true, force: true });
  if (problems.length) {
    console.log(`leak-check --self-check: FAILED\n${problems.map((p) => `  - ${p}`).join('\n')}\n--- output on the planted logs:\n${onPlanted.stdout}${onPlanted.stderr}`);
    return false;
  }
  console.log('leak-check --self-check: passed (clean logs pass; a planted legal name, token and key line are each found; values never printed)');
  return true;
}

// ---- main ------------------------------------------------------------------------------------

function usage(message) {
  console.error(`leak-check: ${message}\nusage: leak-check.mjs --artifacts DIR [--artifacts DIR ...] | --stack [--sidecar BIN] | --self-check`);
  process.exit(2);
}

const { values: opts } = (() => {
  try {
    return parseArgs({ options: { artifacts: { type: 'string', multiple: true }, stack: { type: 'boolean' },
      sidecar: { type: 'string' }, 'self-check': { type: 'boolean' } } });
  } catch (e) {
    return usage(e.message);
  }
})();
if (!opts.artifacts && !opts.stack && !opts['self-check']) usage('nothing to do');
let ok = true;
if (opts['self-check']) ok = selfCheck() && ok;
if (opts.artifacts) ok = checkArtifacts(opts.artifacts) && ok;
if (opts.stack) {
  const bin = opts.sidecar ?? process.env.MCP_SIDECAR_BIN;
  if (!bin) usage('--stack needs --sidecar BIN or MCP_SIDECAR_BIN');
  ok = (await checkStack(bin)) && ok;
}
process.exit(ok ? 0 : 1);
