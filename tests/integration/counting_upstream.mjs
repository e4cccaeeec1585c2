// A small MCP server that counts what reaches it, for hostile-input tests: every HTTP request
// (including those Node's parser refuses) and every message whose method is tools/call, valid
// JSON-RPC or not, so a test can assert that nothing got through the sidecar in front of it.
//
// It speaks 2026-07-28 (stateless: server/discover, tools/list, tools/call; chosen by an
// MCP-Protocol-Version header or _meta) and the session revisions (initialize hands out an
// Mcp-Session-Id; requests are answered with or without one: it counts, it does not police).
// Answers are JSON, or SSE when a tool says so. Tools:
//   echo        {text?, region?} -> the arguments back; `region` is an x-mcp-header (Region)
//   forbidden   for policy tests: any call of it that arrives is a bypass
//   huge        a JSON answer of `hugeBytes` (set on the handle)
//   huge_event  an SSE answer whose one event carries `hugeBytes`
//   deep        a JSON answer nested 5000 levels deep (the sidecar parses 128)
//   verbatim    VERBATIM_CONTENT and VERBATIM_STRUCTURED, written as they are (spaces, escapes,
//               member order, 2.50): what the sidecar must pass on byte for byte
//   deep_content, broken_content   a result whose content is nested 200 deep, or malformed
// Runs in the test's process: the counters are read directly.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { SIDECAR_BIN, callTool, startSidecar } from './helpers.mjs';
import { SMALL_LIMITS, limitsConfig } from './raw_http.mjs';

const STATELESS = '2026-07-28';
const SESSION_REVISIONS = ['2025-11-25', '2025-06-18', '2025-03-26'];

export const TOOLS = [
  {
    name: 'echo',
    description: 'Returns its arguments',
    inputSchema: {
      type: 'object',
      properties: { text: { type: 'string' }, region: { type: 'string', 'x-mcp-header': 'Region' } }
    }
  },
  { name: 'forbidden', description: 'Must never run for a caller the policy refuses', inputSchema: { type: 'object' } },
  { name: 'huge', description: 'An oversized answer', inputSchema: { type: 'object' } },
  { name: 'huge_event', description: 'An oversized SSE event', inputSchema: { type: 'object' } },
  { name: 'deep', description: 'An answer nested too deep', inputSchema: { type: 'object' } },
  { name: 'verbatim', description: 'An answer written byte by byte', inputSchema: { type: 'object' } },
  { name: 'deep_content', description: 'Content nested too deep', inputSchema: { type: 'object' } },
  { name: 'broken_content', description: 'Malformed content', inputSchema: { type: 'object' } }
];
export const VERBATIM_CONTENT = '[ {"type":"text", "text":"caf\\u00e9 \\/ 2.50"} ]';
export const VERBATIM_STRUCTURED = '{"zeta":1,"alpha":2.50,"nested":{"b":[1.0e2,-0],"a":null}}';

const result = (id, value) => ({ jsonrpc: '2.0', id, result: value });
const failure = (id, code, message) => ({ jsonrpc: '2.0', id, error: { code, message } });

// Resolves with a started upstream: {url, base, port, counts, seen, snapshot(), since(snap),
// hugeBytes, close()}. `counts`: {requests, toolCalls, tools: {name: n}, methods: {m: n}};
// `seen`: the last 100 requests as {method, path, rawHeaders, body}.
export async function startCountingUpstream() {
  const counts = { requests: 0, toolCalls: 0, tools: {}, methods: {} };
  const seen = [];
  const up = {
    counts,
    seen,
    hugeBytes: 2 << 20,
    // A copy of the counters now, and what changed since one.
    snapshot: () => structuredClone(counts),
    since(snap) {
      const delta = { requests: counts.requests - snap.requests, toolCalls: counts.toolCalls - snap.toolCalls, tools: {}, methods: {} };
      for (const key of ['tools', 'methods'])
        for (const [name, n] of Object.entries(counts[key])) if (n !== (snap[key][name] ?? 0)) delta[key][name] = n - (snap[key][name] ?? 0);
      return delta;
    }
  };

  const count = (message) => {
    if (!message || typeof message !== 'object') return;
    const method = typeof message.method === 'string' ? message.method : undefined;
    if (method) counts.methods[method] = (counts.methods[method] ?? 0) + 1;
    if (method === 'tools/call') {
      counts.toolCalls++;
      const name = String(message.params?.name);
      counts.tools[name] = (counts.tools[name] ?? 0) + 1;
    }
  };

  const answerCall = (id, params) => {
    const name = params?.name;
    const args = params?.arguments ?? {};
    if (name === 'echo' || name === 'forbidden')
      return { json: result(id, { content: [{ type: 'text', text: JSON.stringify(args) }], structuredContent: args, isError: false }) };
    if (name === 'huge') return { json: result(id, { content: [{ type: 'text', text: 'x'.repeat(up.hugeBytes) }] }) };
    if (name === 'huge_event') return { sse: result(id, { content: [{ type: 'text', text: 'x'.repeat(up.hugeBytes) }] }) };
    if (name === 'deep') return { raw: `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${'['.repeat(5000)}${']'.repeat(5000)}}` };
    const withResult = (members) => ({ raw: `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{${members}}}` });
    if (name === 'verbatim')
      return withResult(`"structuredContent":${VERBATIM_STRUCTURED},"content":${VERBATIM_CONTENT},"isError":false`);
    if (name === 'deep_content') return withResult(`"content":${'['.repeat(200)}${']'.repeat(200)}`);
    if (name === 'broken_content') return withResult('"content":[{"type":"text","text":"x"},]');
    return { json: failure(id, -32602, `Unknown tool: ${name}`) };
  };

  // The answer to one request message (null for a notification or a response).
  const answer = (m, stateless) => {
    if (!m || typeof m !== 'object' || typeof m.method !== 'string' || m.id === undefined) return null;
    const { id, method, params } = m;
    switch (method) {
      case 'server/discover':
        return { json: result(id, { supportedVersions: [STATELESS], capabilities: { tools: {} }, serverInfo: { name: 'counting', version: '1' }, resultType: 'complete' }) };
      case 'initialize': {
        const wanted = params?.protocolVersion;
        const version = SESSION_REVISIONS.includes(wanted) ? wanted : SESSION_REVISIONS[0];
        return { json: result(id, { protocolVersion: version, capabilities: { tools: {} }, serverInfo: { name: 'counting', version: '1' } }), session: true };
      }
      case 'ping':
        return { json: result(id, {}) };
      case 'tools/list':
        return { json: result(id, stateless ? { tools: TOOLS, resultType: 'complete' } : { tools: TOOLS }) };
      case 'tools/call':
        return answerCall(id, params);
      default:
        return { json: failure(id, -32601, 'Method not found'), status: stateless ? 404 : 200 };
    }
  };

  const server = http.createServer((req, res) => {
    counts.requests++;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method, path: req.url, rawHeaders: req.rawHeaders, body });
      if (seen.length > 100) seen.shift();
      if (req.method === 'DELETE') return res.writeHead(200).end();
      if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST, DELETE' }).end();
      let message;
      try {
        message = JSON.parse(body);
      } catch {
        return res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(failure(null, -32700, 'Parse error')));
      }
      const messages = Array.isArray(message) ? message : [message];
      messages.forEach(count);
      const stateless = req.headers['mcp-protocol-version'] === STATELESS ||
        messages.some((m) => m?.params?._meta?.['io.modelcontextprotocol/protocolVersion'] === STATELESS);
      const answers = messages.map((m) => answer(m, stateless)).filter(Boolean);
      if (answers.length === 0) return res.writeHead(202).end();
      const [a] = answers;
      const headers = { 'content-type': 'application/json' };
      if (a.session) headers['mcp-session-id'] = crypto.randomUUID();
      if (a.sse) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        return res.end(`event: message\ndata: ${JSON.stringify(a.sse)}\n\n`);
      }
      if (a.raw) return res.writeHead(200, headers).end(a.raw);
      const out = Array.isArray(message) ? answers.map((x) => x.json) : a.json;
      res.writeHead(a.status ?? 200, headers).end(JSON.stringify(out));
    });
  });
  // What Node's own parser refuses, and CONNECT or Upgrade requests, still reached this server:
  // counted too, then the connection is dropped.
  server.on('clientError', (err, socket) => {
    if (String(err.code).startsWith('HPE_')) counts.requests++;
    socket.destroy();
  });
  for (const event of ['connect', 'upgrade'])
    server.on(event, (req, socket) => {
      counts.requests++;
      seen.push({ method: req.method, path: req.url, rawHeaders: req.rawHeaders, body: '' });
      socket.destroy();
    });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  up.port = port;
  up.base = `http://127.0.0.1:${port}`;
  up.url = `${up.base}/mcp`;
  up.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return up;
}

// The outbound section of a sidecar in front of `up` (as server `count`, 2026-07-28) that sends
// it nothing but the calls it is asked for: no heartbeats, no tool list refreshes; small request
// limits (SMALL_LIMITS) and a 64 KiB bound on answers.
export function quietOutbound(up) {
  return {
    listen: '127.0.0.1:0',
    servers: [{ name: 'count', url: up.url, transport: 'stateless' }],
    heartbeat_interval_seconds: 0,
    tools_refresh_min_interval_seconds: 3600,
    tools_cache_ttl_seconds: 3600,
    limits: limitsConfig(SMALL_LIMITS),
    upstream: { max_response_bytes: 65536 }
  };
}

// A counting upstream with an mcp-sidecar in front of it (quietOutbound; its admin listener on
// `admin`, with the same small limits), the pool open and the tool list cached: one good call is
// then exactly one upstream request. Resolves {up, sidecar}.
export async function startWithSidecar(dir, { admin = '127.0.0.1:0', hugeBytes = 256 << 10 } = {}) {
  const up = await startCountingUpstream();
  up.hugeBytes = hugeBytes;
  const sidecar = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    config: {
      outbound: quietOutbound(up),
      admin: { listen: admin, limits: limitsConfig(SMALL_LIMITS) },
      shutdown: { delay_seconds: 0, grace_seconds: 1 }
    }
  });
  const warm = await callTool(sidecar, 'count', 'echo');
  assert.equal(warm.status, 200, warm.body);
  return { up, sidecar };
}
