// Pods as network namespaces: the MCP server listens on its pod's loopback only, the gate on the
// pod's address. A caller in another pod cannot reach the server directly, and reaches it
// through the gate only with credentials. Needs root (ip netns); SKIPPED loudly otherwise.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

import { SIDECAR_BIN, skipOrFail, startServer, startSidecar } from './helpers.mjs';

const tag = crypto.randomBytes(3).toString('hex');
const SERVER_NS = `mcps-srv-${tag}`;
const CLIENT_NS = `mcps-cli-${tag}`;
const net = `10.${100 + (parseInt(tag.slice(0, 2), 16) % 100)}.${parseInt(tag.slice(2, 4), 16)}`;
const SERVER_IP = `${net}.1`;
const CLIENT_IP = `${net}.2`;
const TOKEN = crypto.randomBytes(20).toString('hex');
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });

function canUseNetns() {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  if (spawnSync('sh', ['-c', 'command -v ip']).status !== 0) return 'iproute2 (ip) is not installed';
  const probe = `mcps-probe-${tag}`;
  const r = spawnSync('ip', ['netns', 'add', probe]);
  if (r.status !== 0) return `ip netns add failed: ${r.stderr}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

// Runs a small Node script inside the client pod and returns its JSON output.
function fromClientPod(script) {
  const out = execFileSync('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 20000 });
  return JSON.parse(out.trim().split('\n').at(-1));
}

test('a caller in another pod reaches the MCP server only through the gate, and only with credentials', async (t) => {
  const why = canUseNetns();
  if (why) return skipOrFail(t, why);
  ip('netns', 'add', SERVER_NS);
  cleanup.push(() => spawnSync('ip', ['netns', 'del', SERVER_NS]));
  ip('netns', 'add', CLIENT_NS);
  cleanup.push(() => spawnSync('ip', ['netns', 'del', CLIENT_NS]));
  ip('link', 'add', `veth-s-${tag}`, 'type', 'veth', 'peer', 'name', `veth-c-${tag}`);
  ip('link', 'set', `veth-s-${tag}`, 'netns', SERVER_NS);
  ip('link', 'set', `veth-c-${tag}`, 'netns', CLIENT_NS);
  ip('-n', SERVER_NS, 'addr', 'add', `${SERVER_IP}/24`, 'dev', `veth-s-${tag}`);
  ip('-n', CLIENT_NS, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', `veth-c-${tag}`);
  for (const [ns, dev] of [[SERVER_NS, `veth-s-${tag}`], [CLIENT_NS, `veth-c-${tag}`]]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }

  const dir = fs.mkdtempSync('/tmp/it-netns-');
  const inPod = ['ip', 'netns', 'exec', SERVER_NS];
  const server = await startServer('sanctions', { dir, port: 8000, host: '127.0.0.1', prefix: inPod });
  cleanup.push(() => server.stop());
  const gate = await startSidecar({
    bin: 'ip', argsPrefix: ['netns', 'exec', SERVER_NS, SIDECAR_BIN], dir, name: 'gate', expectRoles: ['inbound', 'admin'],
    env: { MCP_BEARER_TOKEN: TOKEN },
    config: {
      inbound: { name: 'sanctions', listen: `${SERVER_IP}:7443`, forward_to: 'http://127.0.0.1:8000', require_auth: true },
      admin: { listen: '0.0.0.0:9901' }, shutdown: { delay_seconds: 0 }
    }
  });
  cleanup.push(() => gate.stop());

  const result = fromClientPod(`
    import net from 'node:net';
    const probe = (host, port) => new Promise((resolve) => {
      const s = net.connect({ host, port, timeout: 3000 }, () => { s.destroy(); resolve('connected'); });
      s.on('error', (e) => resolve(e.code));
      s.on('timeout', () => { s.destroy(); resolve('timeout'); });
    });
    const post = (headers) => fetch('http://${SERVER_IP}:7443/mcp', { method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pod', version: '1' } } }) })
      .then(async (r) => ({ status: r.status, body: await r.text() }));
    const out = {
      server_direct: await probe('${SERVER_IP}', 8000),
      gate_without_token: (await post({})).status,
      gate_with_token: (await post({ authorization: 'Bearer ${TOKEN}' })).status,
      admin_probe: (await fetch('http://${SERVER_IP}:9901/readyz')).status,
      admin_debug: (await fetch('http://${SERVER_IP}:9901/debug/config')).status
    };
    console.log(JSON.stringify(out));
  `);
  assert.equal(result.server_direct, 'ECONNREFUSED', 'the MCP server was reachable from another pod');
  assert.equal(result.gate_without_token, 401);
  assert.equal(result.gate_with_token, 200);
  assert.equal(result.admin_probe, 200, 'probes reach the admin port');
  assert.equal(result.admin_debug, 403, 'debug views must refuse other pods');
  const callers = server.logLines().filter((l) => l.event === 'session_opened').length;
  assert.equal(callers, 1, 'only the authenticated initialize reached the server');
});
