// Starts the pieces of the local KYC layout as real processes and hands back handles:
// the four MCP servers (server.mjs) and mcp-sidecar. Shared by demo.mjs and the integration
// tests. Every wait is on an observable event (a "listening" line, a process exit) with a
// timeout; nothing sleeps for a fixed time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROLES = ['registry', 'sanctions', 'pep', 'risk'];

// A TCP port free on loopback now, for programs that cannot bind port 0 and report the port they
// got (Prometheus, haproxy, podman's published ports). Another process could take it before the
// program binds it; the program then fails to start, loudly.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves with the first parsed JSON line of `stream` that satisfies `predicate`.
export function waitForJsonLine(stream, predicate, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: stream });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    rl.on('line', (line) => {
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        return;
      }
      if (predicate(obj)) {
        clearTimeout(timer);
        resolve(obj);
        rl.close();
      }
    });
    rl.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`stream ended while waiting for ${what}`));
    });
  });
}

// Resolves with the exit code (or signal name) once `proc` exits, rejects after timeoutMs.
export function waitForExit(proc, timeoutMs = 30000) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode ?? proc.signalCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${proc.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
  });
}

// Copies a child's stream into a file while also keeping it readable by waitForJsonLine.
function tee(stream, file) {
  const out = fs.createWriteStream(file, { flags: 'a' });
  stream.on('data', (chunk) => out.write(chunk));
  stream.on('end', () => out.end());
}

/**
 * Starts one KYC server. Returns {role, port, url, statsUrl, logFile, proc, stats(), stop()}.
 * options: {dir (for logs), env, host, port, testTools}
 */
export async function startServer(role, options = {}) {
  const dir = options.dir ?? fs.mkdtempSync('/tmp/kyc-');
  const logFile = path.join(dir, `${role}.log`);
  const env = { ...process.env, ...(options.env ?? {}) };
  if (options.testTools) env.KYC_TEST_TOOLS = '1';
  const args = [path.join(HERE, 'server.mjs'), role, '--host', options.host ?? '127.0.0.1', '--port',
    String(options.port ?? 0), '--log', logFile, '--transport', options.transport ?? 'streamable-http'];
  // `prefix` runs the server through a wrapper, e.g. ['ip', 'netns', 'exec', 'pod-a'].
  const [cmd, ...pre] = [...(options.prefix ?? []), process.execPath];
  const proc = spawn(cmd, [...pre, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  tee(proc.stderr, path.join(dir, `${role}.stderr`));
  const listening = await waitForJsonLine(proc.stdout, (o) => o.event === 'listening', 20000, `${role} to listen`);
  proc.stdout.resume();
  const base = `http://127.0.0.1:${listening.port}`;
  return {
    role,
    port: listening.port,
    url: options.transport === 'sse' ? `${base}/sse` : `${base}/mcp`,
    base,
    statsUrl: `${base}/_test/stats`,
    logFile,
    proc,
    async stats() {
      const r = await fetch(`${base}/_test/stats`);
      return r.json();
    },
    logLines() {
      return readJsonLines(logFile);
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
      proc.kill(signal);
      return waitForExit(proc, 15000);
    }
  };
}

export function readJsonLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { unparsed: l };
      }
    });
}

/**
 * Starts mcp-sidecar with `config` (an object written as YAML; JSON is YAML) on ports chosen
 * by the kernel. Returns {proc, outbound, admin, logFile, logLines(), stop()}.
 * options: {bin, dir, env, config}
 */
export async function startSidecar(options) {
  const dir = options.dir ?? fs.mkdtempSync('/tmp/kyc-');
  const name = options.name ?? 'sidecar';
  const configFile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(configFile, JSON.stringify(options.config, null, 2));
  const logFile = path.join(dir, `${name}.log`);
  const env = { ...process.env, ...(options.env ?? {}) };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  // argsPrefix runs the sidecar through a wrapper (e.g. prlimit): bin is then the wrapper.
  const args = [...(options.argsPrefix ?? []), '--config', configFile];
  const proc = spawn(options.bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  tee(proc.stderr, logFile);
  proc.stdout.resume();
  const roles = {};
  const wanted = options.expectRoles ?? ['outbound', 'admin'];
  await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stderr });
    const timer = setTimeout(() => reject(new Error(`sidecar did not start within 20 s; see ${logFile}`)), 20000);
    const onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`sidecar exited with ${code} while starting; see ${logFile}`));
    };
    proc.once('exit', onExit);
    rl.on('line', (line) => {
      let o;
      try {
        o = JSON.parse(line);
      } catch {
        return;
      }
      if (o.event === 'listening') roles[o.role] = o.address;
      if (o.event === 'ready') {
        clearTimeout(timer);
        proc.off('exit', onExit);
        const missing = wanted.filter((r) => !roles[r]);
        if (missing.length) reject(new Error(`sidecar ready without ${missing.join(', ')}`));
        else resolve();
        rl.close();
      }
    });
  });
  proc.stderr.resume();
  return {
    proc,
    configFile,
    logFile,
    addresses: roles,
    outbound: roles.outbound ? `http://${roles.outbound}` : undefined,
    admin: roles.admin ? `http://${roles.admin}` : undefined,
    logLines() {
      return readJsonLines(logFile);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
      proc.kill(signal);
      return waitForExit(proc, timeoutMs);
    }
  };
}

// The outbound part of a sidecar config for these servers.
export function outboundConfig(servers, extra = {}) {
  return {
    listen: '127.0.0.1:0',
    servers: servers.map((s) => ({ name: s.role, url: s.url })),
    ...extra
  };
}
