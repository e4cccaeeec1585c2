#!/usr/bin/env node
// Runs the MCP conformance suite (pinned in package.json) in client mode against mcp-sidecar,
// with client.mjs as the client command, for each upstream transport setting, and prints a table
// scenario x transport. Exit 0 only when every run passed; a run that could not happen (suite
// not installed, no binary, scenario skipped by the suite, no checks recorded, timeout) fails.
//
//   node tests/conformance/run.mjs [options] [scenario[@spec-version] ...]
//
//   (no options)            the matrix: every scenario below with transport auto, the 2026-07-28
//                           ones with `stateless`, the session-era ones with `streamable-http`
//   --transport T           only transport T (repeatable): auto, stateless, streamable-http
//   --session | --stateless only the session-era / 2026-07-28 scenarios
//   scenario@2026-07-28     run exactly these, at that wire (without @ the suite picks: 2026-07-28
//                           for scenarios introduced then, else 2025-11-25), with every chosen
//                           transport (default auto)
//   --jobs N                runs in parallel (default 3)
//   --timeout MS            per run, for the client (default 15000; the run is killed 15 s later)
//   --verbose               print each failing check and the client's output on failure
//
// Needs Node >= 22 (tools/node; start run.mjs with it) and `npm ci` here (scripts/setup.sh does
// both). Sidecar: MCP_SIDECAR_BIN (default <repo>/build/release/src/mcp-sidecar).
// Results: tests/conformance/results/<run>/<transport>/<nn-scenario>/ (the last 10 runs are kept).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { findFile, pool, prune } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const CLI = path.join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const RESULTS = path.join(HERE, 'results');

// What a sidecar driven through its REST API can honestly run (README.md, RESEARCH.md).
export const SESSION_SCENARIOS = [
  'initialize',
  'tools_call@2025-11-25',
  'sse-retry',
  'json-schema-2020-12-preservation@2025-11-25'
];
export const STATELESS_SCENARIOS = [
  'tools_call@2026-07-28',
  'json-schema-2020-12-preservation@2026-07-28',
  'request-metadata',
  'http-standard-headers',
  'http-custom-headers',
  'http-invalid-tool-headers',
  'json-schema-ref-no-deref',
  'sep-2322-client-request-state'
];
const TRANSPORTS = ['auto', 'streamable-http', 'stateless'];
const DEFAULT_LISTS = { auto: null, 'streamable-http': 'session', stateless: 'stateless' };

function usage() {
  return fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 23).join('\n');
}

function parseArgs(argv) {
  const o = { specs: [], transports: [], lists: [], jobs: 3, timeout: 15000, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--transport') o.transports.push(value());
    else if (a === '--jobs') o.jobs = Number(value());
    else if (a === '--timeout') o.timeout = Number(value());
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--session') o.lists.push('session');
    else if (a === '--stateless') o.lists.push('stateless');
    else if (a === '-h' || a === '--help') {
      console.log(usage());
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else o.specs.push(...a.split(',').filter(Boolean));
  }
  for (const t of o.transports) if (!TRANSPORTS.includes(t)) throw new Error(`--transport ${t}: one of ${TRANSPORTS.join(', ')}`);
  if (!(o.jobs >= 1)) throw new Error('--jobs must be >= 1');
  if (!(o.timeout >= 1000)) throw new Error('--timeout must be >= 1000 ms');
  return o;
}

// The (transport, scenario) pairs to run, in table order.
function plan(o) {
  const lists = { session: SESSION_SCENARIOS, stateless: STATELESS_SCENARIOS };
  const pick = (names) => names.flatMap((n) => lists[n]);
  if (o.specs.length) return (o.transports.length ? o.transports : ['auto']).flatMap((t) => o.specs.map((s) => ({ transport: t, spec: s })));
  if (!o.transports.length && !o.lists.length) {
    return TRANSPORTS.flatMap((t) => (DEFAULT_LISTS[t] ? lists[DEFAULT_LISTS[t]] : pick(['session', 'stateless'])).map((s) => ({ transport: t, spec: s })));
  }
  const chosen = o.lists.length ? o.lists : ['session', 'stateless'];
  return (o.transports.length ? o.transports : ['auto']).flatMap((t) =>
    pick(chosen.filter((l) => !DEFAULT_LISTS[t] || DEFAULT_LISTS[t] === l)).map((s) => ({ transport: t, spec: s }))
  );
}

function runOne({ transport, spec }, index, runDir, opts, bin) {
  const at = spec.lastIndexOf('@');
  const scenario = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : undefined;
  const outDir = path.join(runDir, transport, String(index).padStart(2, '0') + '-' + spec.replace(/[^A-Za-z0-9._@-]/g, '_'));
  fs.mkdirSync(outDir, { recursive: true });
  // The suite splits --command on spaces and runs it through a shell; paths must not hold spaces.
  const command = `${process.execPath} ${path.join(HERE, 'client.mjs')}`;
  const args = [CLI, 'client', '--command', command, '--scenario', scenario, '--timeout', String(opts.timeout), '-o', outDir];
  if (version) args.push('--spec-version', version);
  const env = { ...process.env, MCP_SIDECAR_TRANSPORT: transport, MCP_SIDECAR_BIN: bin, MCP_SIDECAR_WORKDIR: outDir,
    // The driver gives up before the suite's timeout, so that its own verdict is recorded.
    MCP_SIDECAR_DRIVER_DEADLINE_MS: String(opts.timeout - 1000) };
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group: a run that hangs is killed with everything it started.
    const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let killed = false;
    const watchdog = setTimeout(() => {
      killed = true;
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }, opts.timeout + 15000);
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('close', (code) => {
      clearTimeout(watchdog);
      // Whatever the run left behind (a sidecar of a client killed while it started) goes too.
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
      fs.writeFileSync(path.join(outDir, 'runner.txt'), out);
      const checksFile = findFile(outDir, 'checks.json');
      let checks = [];
      try {
        checks = checksFile ? JSON.parse(fs.readFileSync(checksFile, 'utf8')) : [];
      } catch {}
      const stderrFile = findFile(outDir, 'stderr.txt');
      const clientLog = stderrFile ? fs.readFileSync(stderrFile, 'utf8') : '';
      const era = /\[client\] era=(\S+)/.exec(clientLog)?.[1];
      const failedDriver = /\[client\] (?:FAILED|ERROR): (.*)/.exec(clientLog)?.[1];
      const count = (s) => checks.filter((c) => c.status === s).length;
      const notes = [];
      if (killed) notes.push(`killed after ${opts.timeout + 15000} ms`);
      if (/SKIPPED: scenario/.test(out)) notes.push('skipped by the suite');
      if (/CLIENT TIMED OUT/.test(out)) notes.push('client timed out');
      if (!checksFile) notes.push('no checks.json');
      else if (count('SUCCESS') === 0) notes.push('no check passed');
      if (failedDriver) notes.push(`driver: ${failedDriver}`);
      else if (/CLIENT EXITED WITH ERROR/.test(out)) notes.push('client exit != 0');
      const failures = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
      // The suite ignores the client's exit code for scenarios with allowClientError
      // (http-invalid-tool-headers): the driver's own verdict counts here all the same.
      const pass = code === 0 && !killed && !!checksFile && count('SUCCESS') > 0 && !/SKIPPED: scenario/.test(out) && !failedDriver;
      resolve({
        transport,
        spec,
        pass,
        ok: count('SUCCESS'),
        failed: count('FAILURE'),
        warnings: count('WARNING'),
        era,
        notes,
        failures,
        outDir,
        clientLog,
        seconds: (Date.now() - started) / 1000
      });
    });
  });
}



async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    return 2;
  }
  if (!fs.existsSync(CLI)) {
    console.error(`conformance suite not installed: run scripts/setup.sh (npm ci in ${HERE})`);
    return 2;
  }
  if (Number(process.versions.node.split('.')[0]) < 22) {
    console.error(`the conformance suite needs Node >= 22 (this is ${process.version}); use tools/node`);
    return 2;
  }
  const bin = path.resolve(process.env.MCP_SIDECAR_BIN || path.join(REPO, 'build/release/src/mcp-sidecar'));
  if (!fs.existsSync(bin)) {
    console.error(`no sidecar binary at ${bin} (set MCP_SIDECAR_BIN)`);
    return 2;
  }
  const runs = plan(opts);
  const started = Date.now();
  prune(RESULTS, 9);
  const runDir = path.join(RESULTS, new Date().toISOString().replace(/[:.]/g, '-'));
  console.log(`conformance: ${runs.length} runs, ${opts.jobs} at a time, sidecar ${bin}`);
  const rows = await pool(runs, opts.jobs, (r, i) => runOne(r, i + 1, runDir, opts, bin));

  // scenario x transport
  const transports = TRANSPORTS.filter((t) => rows.some((r) => r.transport === t));
  const specs = [...new Set(rows.map((r) => r.spec))];
  const w = Math.max(...specs.map((s) => s.length), 8);
  const cell = (r) => (r ? `${r.pass ? 'pass' : 'FAIL'} ${r.ok}/${r.failed}/${r.warnings}${r.transport === 'auto' && r.era ? ' ' + r.era.replace('streamable-http', 'sessions') : ''}` : '-');
  const cw = Math.max(...transports.map((t) => t.length), ...rows.map((r) => cell(r).length));
  console.log(`\n${'scenario'.padEnd(w)}  ${transports.map((t) => t.padEnd(cw)).join('  ')}`.trimEnd());
  for (const s of specs) {
    const cells = transports.map((t) => cell(rows.find((r) => r.spec === s && r.transport === t)).padEnd(cw));
    console.log(`${s.padEnd(w)}  ${cells.join('  ')}`.trimEnd());
  }
  console.log('(checks ok/failed/warn; for auto, the era the sidecar chose)');
  const failed = rows.filter((r) => !r.pass);
  for (const r of failed) {
    const checks = r.failures.map((c) => `${c.status} ${c.id}${c.errorMessage ? ': ' + c.errorMessage : ''}`);
    console.log(`\nFAIL ${r.spec} (transport ${r.transport}): ${path.relative(process.cwd(), r.outDir)}`);
    for (const line of [...r.notes, ...checks].slice(0, opts.verbose ? 50 : 6)) console.log(`  ${line.length > 300 ? line.slice(0, 300) + '...' : line}`);
    if (opts.verbose) console.log(r.clientLog.replace(/^/gm, '  | '));
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n${rows.length - failed.length}/${rows.length} passed in ${secs} s; results in ${path.relative(process.cwd(), runDir)}`);
  return failed.length ? 1 : 0;
}

process.exitCode = await main();
