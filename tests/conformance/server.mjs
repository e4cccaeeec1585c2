#!/usr/bin/env node
// Runs the MCP conformance suite (pinned in package.json) in SERVER mode, one scenario per run,
// against fixture-server.mjs directly and behind mcp-sidecar's MCP endpoint, and prints a table
// scenario x leg per wire. Exit 0 only when every run passed or is an expected failure listed
// below with its reason; a run the suite skipped, that recorded no checks or no passing check, or
// that timed out, fails.
//
//   node tests/conformance/server.mjs [options] [scenario[@wire] ...]
//
//   --leg L        direct    the suite -> the fixture's own endpoint (http://127.0.0.1:P/mcp)
//                  outbound  the suite -> mcp-sidecar POST /mcp/conf -> the fixture
//                  gate      the suite -> mcp-sidecar /mcp/conf -> an inbound gate sidecar over
//                            mutual TLS (certs-dev certificates) -> the fixture
//                  (repeatable; default all three)
//   --wire W       2026-07-28 (fixture --mode stateless) or 2025-11-25 (--mode sessions);
//                  repeatable, default both. The scenarios are those the suite's
//                  requirements/<wire>.yaml scores
//   --unscored     also the scenarios it runs but does not score (pending, added after the
//                  release; not the tasks/skills extensions)
//   --upstream M   the fixture mode behind the sidecar (outbound, gate): stateless, sessions or
//                  sse (default: the wire's own mode)
//   scenario@wire  run exactly these (a bare name: on every chosen wire that lists it)
//   --jobs N       runs in parallel (default 4)
//   --timeout MS   per run, the suite's --timeout (default 20000; the run is killed 15 s later)
//   --verbose      print every failing check and where the logs are
//
// Needs Node >= 22 (tools/node) and `npm ci` here (scripts/setup.sh does both); the sidecar legs
// need MCP_SIDECAR_BIN (default <repo>/build/release/src/mcp-sidecar) and openssl.
// Results: tests/conformance/results/server/<run>/<wire>/<leg>/ holds each run's checks.json and
// the suite's output, the fixture's request trace (fixture.trace.jsonl: what reached the server)
// and the sidecars' configs and logs (the last 10 runs are kept).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { findFile, pool, prune } from './lib.mjs';

import { startSidecar, waitForExit, waitForJsonLine } from '../../examples/kyc/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const SUITE = path.join(HERE, 'node_modules/@modelcontextprotocol/conformance');
const CLI = path.join(SUITE, 'dist/index.js');
const FIXTURE = path.join(HERE, 'fixture-server.mjs');
const RESULTS = path.join(HERE, 'results/server');
const LEGS = ['direct', 'outbound', 'gate'];
const WIRES = { '2026-07-28': 'stateless', '2025-11-25': 'sessions' };
const UPSTREAM_TRANSPORT = { stateless: 'stateless', sessions: 'streamable-http', sse: 'sse' };
const CALLER = 'spiffe://kyc.local/ns/kyc/sa/orchestrator';

// Runs known to fail, keyed `leg wire scenario`, each with its reason: the suite's failing check
// and what is missing. A listed run that passes is reported (XPASS) and fails the run, so the
// list only shrinks. The direct leg has no entries: the fixture passes every scored scenario of
// both wires, and an entry there would hide a broken fixture.
export const EXPECTED_FAILURES = {
  // 'outbound 2026-07-28 resources-list': 'resources-list: -32601 from POST /mcp/conf (the endpoint does not serve resources/list yet)',
};

function usage() {
  return fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 30).join('\n');
}

function parseArgs(argv) {
  const o = { specs: [], legs: [], wires: [], unscored: false, upstream: undefined, jobs: 4, timeout: 20000, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--leg') o.legs.push(value());
    else if (a === '--wire') o.wires.push(value());
    else if (a === '--upstream') o.upstream = value();
    else if (a === '--unscored') o.unscored = true;
    else if (a === '--jobs') o.jobs = Number(value());
    else if (a === '--timeout') o.timeout = Number(value());
    else if (a === '--verbose') o.verbose = true;
    else if (a === '-h' || a === '--help') {
      console.log(usage());
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else o.specs.push(...a.split(',').filter(Boolean));
  }
  for (const l of o.legs) if (!LEGS.includes(l)) throw new Error(`--leg ${l}: one of ${LEGS.join(', ')}`);
  for (const w of o.wires) if (!WIRES[w]) throw new Error(`--wire ${w}: one of ${Object.keys(WIRES).join(', ')}`);
  if (o.upstream !== undefined && !UPSTREAM_TRANSPORT[o.upstream]) throw new Error(`--upstream: one of ${Object.keys(UPSTREAM_TRANSPORT).join(', ')}`);
  if (!(o.jobs >= 1)) throw new Error('--jobs must be >= 1');
  if (!(o.timeout >= 1000)) throw new Error('--timeout must be >= 1000 ms');
  if (!o.legs.length) o.legs = [...LEGS];
  if (!o.wires.length) o.wires = Object.keys(WIRES);
  return o;
}

// The suite's own word on what a revision requires: requirements/<wire>.yaml lists the scored
// server scenarios under `server:` and the others under `not_scored:` (scenario, leg, reason).
function suiteScenarios(wire) {
  const lines = fs.readFileSync(path.join(SUITE, 'requirements', `${wire}.yaml`), 'utf8').split('\n');
  const scored = [];
  const unscored = [];
  let section;
  let entry;
  for (const line of lines) {
    if (/^\S/.test(line) && !line.startsWith('#')) section = line.replace(/:.*/, '');
    let m;
    if (section === 'server' && (m = /^ {2}- (\S+)\s*$/.exec(line))) scored.push(m[1]);
    if (section === 'not_scored' && (m = /^ {2}- scenario: (\S+)/.exec(line))) unscored.push((entry = { scenario: m[1] }));
    if (section === 'not_scored' && entry && (m = /^ {4}(leg|reason): (\S+)/.exec(line))) entry[m[1]] = m[2];
  }
  if (!scored.length) throw new Error(`no server scenarios found in requirements/${wire}.yaml: has its format changed?`);
  return { scored, unscored: unscored.filter((e) => e.leg === 'server' && e.reason !== 'extension').map((e) => e.scenario) };
}

// The (wire, scenario) pairs to run on every chosen leg, in table order.
function plan(o) {
  const lists = Object.fromEntries(o.wires.map((w) => [w, suiteScenarios(w)]));
  if (!o.specs.length) return o.wires.flatMap((w) => [...lists[w].scored, ...(o.unscored ? lists[w].unscored : [])].map((s) => ({ wire: w, scenario: s })));
  return o.specs.flatMap((spec) => {
    const [scenario, wire] = spec.split('@');
    if (wire !== undefined) {
      if (!WIRES[wire]) throw new Error(`${spec}: wire must be one of ${Object.keys(WIRES).join(', ')}`);
      return [{ wire, scenario }];
    }
    const on = o.wires.filter((w) => [...lists[w].scored, ...lists[w].unscored].includes(scenario));
    if (!on.length) throw new Error(`${scenario}: not a server scenario of ${o.wires.join(' or ')} (name@wire runs it anyway)`);
    return on.map((w) => ({ wire: w, scenario }));
  });
}

// ---------------------------------------------------------------------------
// The servers under test: a fixture per (wire, leg), with a sidecar (and a gate) in front.
// ---------------------------------------------------------------------------

async function startFixture(mode, dir) {
  const trace = path.join(dir, 'fixture.trace.jsonl');
  const proc = spawn(process.execPath, [FIXTURE, '--mode', mode, '--port', '0', '--trace', trace], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = fs.createWriteStream(path.join(dir, 'fixture.stderr'));
  proc.stderr.pipe(stderr);
  const { port } = await waitForJsonLine(proc.stdout, (o) => o.event === 'listening', 20000, `the fixture (--mode ${mode}) to listen`);
  proc.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  return { name: 'fixture', proc, base, path: mode === 'sse' ? '/sse' : '/mcp', trace };
}

// An inbound gate in front of the fixture: mutual TLS, callers allowed by SPIFFE identity.
async function startGate(fixture, dir, bin, pki) {
  const config = {
    inbound: {
      name: 'conf', listen: '127.0.0.1:0', forward_to: fixture.base,
      auth: { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, client_ca_file: `${pki}/ca.crt` } },
      policy: [{ callers: [CALLER], tools: ['*'], prompts: ['*'], resources: ['*'] }]
    },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 2 }
  };
  const g = await startSidecar({ bin, dir, name: 'gate', config, expectRoles: ['inbound', 'admin'] });
  return { ...g, name: 'gate', base: `https://localhost:${g.addresses.inbound.split(':').pop()}` };
}

// The outbound sidecar the suite talks to, with one upstream `conf`.
async function startOutbound(upstream, dir, bin, { transport, tls }) {
  // tests/integration's base config (loopback listeners, no shutdown delay), the one server
  // given in full because it needs `transport` and `tls`.
  const { sidecarConfig } = await import('../integration/helpers.mjs');
  const server = { name: 'conf', url: `${upstream.base}${upstream.path}`, transport, ...(tls ? { tls } : {}) };
  const config = sidecarConfig([], { servers: [server], pool_size: 1 });
  const s = await startSidecar({ bin, dir, name: 'outbound', config });
  return { ...s, name: 'outbound' };
}

async function startLeg(leg, wire, mode, dir, ctx) {
  const procs = [];
  try {
    const fixture = await startFixture(mode, dir);
    procs.push(fixture);
    if (leg === 'direct') return { procs, url: `${fixture.base}/mcp`, mode };
    let upstream = fixture;
    let tls;
    if (leg === 'gate') {
      upstream = await startGate(fixture, dir, ctx.bin, ctx.pki());
      procs.push(upstream);
      const pki = ctx.pki();
      tls = { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` };
      upstream.path = fixture.path;
    }
    const out = await startOutbound(upstream, dir, ctx.bin, { transport: UPSTREAM_TRANSPORT[mode], tls });
    procs.push(out);
    return { procs, url: `${out.outbound}/mcp/conf`, mode };
  } catch (err) {
    await stopAll(procs);
    throw new Error(`${leg} leg at ${wire}: ${err.message}`);
  }
}

async function stopAll(procs) {
  await Promise.allSettled(procs.map(async ({ proc }) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    try {
      await waitForExit(proc, 5000);
    } catch {
      proc.kill('SIGKILL');
    }
  }));
}

// ---------------------------------------------------------------------------
// One suite run
// ---------------------------------------------------------------------------

// Suite runs in flight (process group ids), killed on SIGINT/SIGTERM with the servers.
const inflight = new Set();
const killGroup = (pid) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
};

function runOne({ wire, scenario, leg }, index, url, legDir, opts) {
  const outDir = path.join(legDir, `${String(index).padStart(2, '0')}-${scenario}`);
  fs.mkdirSync(outDir, { recursive: true });
  const args = [CLI, 'server', '--url', url, '--scenario', scenario, '--spec-version', wire, '--timeout', String(opts.timeout), '-o', outDir];
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group: a run that hangs is killed with everything it started.
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    inflight.add(p.pid);
    let out = '';
    let killed = false;
    const watchdog = setTimeout(() => {
      killed = true;
      killGroup(p.pid);
    }, opts.timeout + 15000);
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('close', (code) => {
      clearTimeout(watchdog);
      killGroup(p.pid);
      inflight.delete(p.pid);
      fs.writeFileSync(path.join(outDir, 'runner.txt'), out);
      const checksFile = findFile(outDir, 'checks.json');
      let checks = [];
      try {
        checks = checksFile ? JSON.parse(fs.readFileSync(checksFile, 'utf8')) : [];
      } catch {}
      const count = (s) => checks.filter((c) => c.status === s).length;
      const skipped = /SKIPPED: scenario/.test(out);
      const notes = [];
      if (killed) notes.push(`killed after ${opts.timeout + 15000} ms`);
      if (skipped) notes.push('skipped by the suite');
      if (!checksFile) notes.push('no checks.json');
      else if (count('SUCCESS') === 0) notes.push('no check passed');
      const pass = code === 0 && !killed && !skipped && !!checksFile && count('SUCCESS') > 0 && count('FAILURE') === 0;
      resolve({
        wire, scenario, leg, pass,
        ok: count('SUCCESS'), failed: count('FAILURE'), warnings: count('WARNING'),
        notes,
        failures: checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING'),
        outDir,
        seconds: (Date.now() - started) / 1000
      });
    });
  });
}



async function main() {
  let opts;
  let runs;
  try {
    opts = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(CLI)) throw new Error(`conformance suite not installed: run scripts/setup.sh (npm ci in ${HERE})`);
    runs = plan(opts);
  } catch (e) {
    console.error(e.message);
    return 2;
  }
  if (Number(process.versions.node.split('.')[0]) < 22) {
    console.error(`the conformance suite needs Node >= 22 (this is ${process.version}); use tools/node`);
    return 2;
  }
  const direct = Object.keys(EXPECTED_FAILURES).filter((k) => k.startsWith('direct '));
  if (direct.length) {
    console.error(`EXPECTED_FAILURES must not list the direct leg (${direct.join(', ')}): fix the fixture instead`);
    return 2;
  }
  const bin = path.resolve(process.env.MCP_SIDECAR_BIN || path.join(REPO, 'build/release/src/mcp-sidecar'));
  const sidecarLegs = opts.legs.filter((l) => l !== 'direct');
  if (sidecarLegs.length && !fs.existsSync(bin)) {
    console.error(`no sidecar binary at ${bin} (set MCP_SIDECAR_BIN, or run --leg direct only)`);
    return 2;
  }
  // helpers.mjs (the sidecar config) insists on knowing the binary under test.
  process.env.MCP_SIDECAR_BIN = bin;

  prune(RESULTS, 9);
  const runDir = path.join(RESULTS, new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(runDir, { recursive: true });
  let pkiDir;
  const ctx = {
    bin,
    pki: () => {
      if (!pkiDir) {
        pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-pki-'));
        execFileSync(path.join(REPO, 'certs-dev/make-certs.sh'), [pkiDir], { stdio: 'ignore', timeout: 60000 });
      }
      return pkiDir;
    }
  };
  const wires = [...new Set(runs.map((r) => r.wire))];
  const groups = wires.flatMap((wire) => opts.legs.map((leg) => ({ wire, leg, mode: leg === 'direct' ? WIRES[wire] : opts.upstream ?? WIRES[wire] })));
  const started = Date.now();
  const live = [];
  const stopLive = () => stopAll(live.flatMap((g) => g.procs));
  const onSignal = async () => {
    for (const pid of inflight) killGroup(pid);
    await stopLive();
    if (pkiDir) fs.rmSync(pkiDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows = [];
  try {
    console.log(`conformance (server mode): ${runs.length} scenarios x ${opts.legs.length} legs, ${opts.jobs} at a time` +
      (sidecarLegs.length ? `, sidecar ${bin}` : ''));
    for (const g of groups) {
      g.dir = path.join(runDir, g.wire, g.leg);
      fs.mkdirSync(g.dir, { recursive: true });
      try {
        Object.assign(g, await startLeg(g.leg, g.wire, g.mode, g.dir, ctx));
        live.push(g);
      } catch (err) {
        g.error = err.message;
        console.error(`could not start: ${err.message}`);
      }
    }
    const work = groups.flatMap((g) => runs.filter((r) => r.wire === g.wire).map((r, i) => ({ ...r, leg: g.leg, group: g, index: i + 1 })));
    const done = await pool(work, opts.jobs, async (w) => {
      if (w.group.error) return { ...w, pass: false, ok: 0, failed: 0, warnings: 0, notes: [`leg not started: ${w.group.error}`], failures: [], outDir: w.group.dir };
      return runOne(w, w.index, w.group.url, w.group.dir, opts);
    });
    rows.push(...done);
  } finally {
    await stopLive();
    if (pkiDir) fs.rmSync(pkiDir, { recursive: true, force: true });
  }

  // Verdicts with the expected failures applied.
  for (const r of rows) {
    r.reason = EXPECTED_FAILURES[`${r.leg} ${r.wire} ${r.scenario}`];
    r.verdict = r.pass ? (r.reason ? 'XPASS' : 'pass') : (r.reason ? 'xfail' : 'FAIL');
  }
  for (const wire of wires) {
    const mine = rows.filter((r) => r.wire === wire);
    const legs = opts.legs;
    const scenarios = [...new Set(mine.map((r) => r.scenario))];
    const w = Math.max(...scenarios.map((s) => s.length), 8);
    const cell = (r) => (r ? `${r.verdict} ${r.ok}/${r.failed}/${r.warnings}` : '-');
    const cw = Math.max(...legs.map((l) => l.length), ...mine.map((r) => cell(r).length));
    const modes = groups.filter((g) => g.wire === wire).map((g) => `${g.leg}: fixture --mode ${g.mode}`).join(', ');
    console.log(`\nwire ${wire} (${modes})`);
    console.log(`${'scenario'.padEnd(w)}  ${legs.map((l) => l.padEnd(cw)).join('  ')}`.trimEnd());
    for (const s of scenarios) console.log(`${s.padEnd(w)}  ${legs.map((l) => cell(mine.find((r) => r.scenario === s && r.leg === l)).padEnd(cw)).join('  ')}`.trimEnd());
    const passed = (l) => mine.filter((r) => r.leg === l && r.pass).length;
    console.log(`${'passed'.padEnd(w)}  ${legs.map((l) => `${passed(l)}/${scenarios.length}`.padEnd(cw)).join('  ')}`.trimEnd());
  }
  console.log('(checks ok/failed/warn; xfail = an expected failure, XPASS = expected to fail but passed)');
  const bad = rows.filter((r) => r.verdict === 'FAIL' || r.verdict === 'XPASS');
  const shown = opts.verbose ? bad : bad.slice(0, 12);
  for (const r of shown) {
    console.log(`\n${r.verdict} ${r.scenario} (${r.leg}, ${r.wire}): ${path.relative(process.cwd(), r.outDir)}`);
    if (r.verdict === 'XPASS') console.log(`  remove it from EXPECTED_FAILURES (${r.reason})`);
    const checks = r.failures.map((c) => `${c.status} ${c.id}${c.errorMessage ? ': ' + c.errorMessage : ''}`);
    for (const line of [...r.notes, ...checks].slice(0, opts.verbose ? 50 : 4)) console.log(`  ${line.length > 300 ? line.slice(0, 300) + '...' : line}`);
  }
  if (bad.length > shown.length) console.log(`\n... and ${bad.length - shown.length} more failing runs (--verbose shows all)`);
  if (opts.verbose) {
    for (const g of groups.filter((x) => bad.some((r) => r.leg === x.leg && r.wire === x.wire))) {
      const logs = fs.readdirSync(g.dir).filter((f) => !/^\d\d-/.test(f)).map((f) => path.relative(process.cwd(), path.join(g.dir, f)));
      console.log(`\nlogs of the ${g.leg} leg at ${g.wire}: ${logs.join(', ')}`);
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const xfail = rows.filter((r) => r.verdict === 'xfail').length;
  console.log(`\n${rows.filter((r) => r.pass).length}/${rows.length} passed${xfail ? `, ${xfail} expected failures` : ''} in ${secs} s; ` +
    `results in ${path.relative(process.cwd(), runDir)}`);
  return bad.length ? 1 : 0;
}

process.exitCode = await main();
