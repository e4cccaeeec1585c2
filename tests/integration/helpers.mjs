// Shared by the integration tests: where the binary is, raw HTTP requests (node:http, so Host
// and any header can be set), waiting on conditions, and loud skips.
import http from 'node:http';
import { spawnSync } from 'node:child_process';

import { startSidecar as launchSidecar } from '../../examples/kyc/launch.mjs';

export { startServer, outboundConfig, readJsonLines, waitForExit, ROLES } from '../../examples/kyc/launch.mjs';

// Tests read a sidecar's log right after what made a line: its lines are written after every
// event-loop turn (log.flush_interval_ms 0), not in the batches of the default interval, unless
// a test says otherwise (env MCP_LOG_FLUSH_INTERVAL_MS: undefined keeps the default).
export function startSidecar(options) {
  return launchSidecar({ ...options, env: { MCP_LOG_FLUSH_INTERVAL_MS: '0', ...(options.env ?? {}) } });
}

export const SIDECAR_BIN = process.env.MCP_SIDECAR_BIN;
if (!SIDECAR_BIN) throw new Error('MCP_SIDECAR_BIN must point at the mcp-sidecar binary under test');

// A test that cannot run here says so loudly; with MCP_REQUIRE_ALL_TESTS=1 (CI) it fails instead.
export function skipOrFail(t, reason) {
  if (process.env.MCP_REQUIRE_ALL_TESTS === '1') throw new Error(`required test cannot run: ${reason}`);
  console.log(`SKIPPED: ${t.name}: ${reason}`);
  t.skip(reason);
}

// One HTTP request with full control of headers. Resolves {status, headers, body, json}.
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 30000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      }
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}

// POST /v1/servers/{server}/tools/{tool} with JSON arguments.
export function callTool(sidecar, server, tool, args = {}, headers = {}) {
  return request(`${sidecar.outbound}/v1/servers/${server}/tools/${tool}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: args
  });
}

// Polls `probe` until it returns a truthy value; rejects after timeoutMs. For conditions that
// have no event to wait on (a counter in another process); never a fixed sleep.
export async function until(probe, { timeoutMs = 10000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// The value of one sample in a Prometheus exposition, or undefined.
export function metricValue(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = line.match(/^([^{ ]+)(?:\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export async function metrics(sidecar) {
  return (await request(`${sidecar.admin}/metrics`)).body;
}

export function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// Base sidecar config for tests: ephemeral ports, short shutdown.
export function sidecarConfig(servers, outbound = {}, rest = {}) {
  return {
    outbound: {
      listen: '127.0.0.1:0',
      servers: servers.map((s) => ({ name: s.role, url: s.url })),
      ...outbound
    },
    admin: { listen: '127.0.0.1:0' },
    shutdown: { delay_seconds: 0, grace_seconds: 5 },
    ...rest
  };
}

import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { waitForExit } from '../../examples/kyc/launch.mjs';

export { freePort } from '../../examples/kyc/launch.mjs';

// Runs a third-party daemon (Prometheus, haproxy) in the foreground with its output in
// <dir>/<name>.log, and resolves once `ready()` holds; rejects with the log's tail if the program
// exits first or is not ready within timeoutMs. Returns {proc, logFile, stop()}.
export async function startDaemon(cmd, args, { dir, name, ready, timeoutMs = 20000 }) {
  const logFile = `${dir}/${name}.log`;
  const out = fs.openSync(logFile, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const tail = () => fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  try {
    await until(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode})`);
      return Promise.resolve().then(ready).catch(() => false);
    }, { timeoutMs, intervalMs: 50, what: `${name} to be ready` });
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}; ${logFile}:\n${tail()}`);
  }
  return {
    proc,
    logFile,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
      proc.kill('SIGTERM');
      return waitForExit(proc, 15000);
    }
  };
}
