// A controllable chaos MCP upstream for the fault tests (faults.test.mjs, docs/reliability.md).
//
// Speaks Streamable HTTP on POST/DELETE /mcp, over plain HTTP or TLS, in both revisions the pool
// uses: 2025-11-25 with sessions (initialize, Mcp-Session-Id, 404 once a session is forgotten)
// and 2026-07-28 stateless (server/discover, _meta on every request). Written by hand, below any
// SDK, so that a response can be broken at any byte: dripped, reset after its headers, cut in
// half, replaced by a 500 or a 404, or its connection closed while idle.
//
// Its tools count EXECUTIONS per `key` argument, so a test proves that no call ran twice:
//   work            {key, ms?}  not idempotent (the sidecar must never send it twice)
//   work_idempotent {key, ms?}  annotated idempotentHint (the sidecar may resend it once)
//
// Faults are switched at runtime, in-process (`startChaos` returns the API) or, for a chaos
// running as its own process (another network namespace), through its control endpoint:
//   node chaos_upstream.mjs [--host H] [--port P] [--cert F --key F]   prints {"event":"listening","port"}
//   POST /_chaos/fault {kind, ...}   GET /_chaos/stats   POST /_chaos/forget   (remoteChaos() wraps them)
//
// Fault kinds (one at a time; `method` defaults to tools/call, `probability` to 1, `count` to
// unlimited). "after" faults run the tool first, as a server whose answer is lost would:
//   drip          after: the whole response, status line included, one byte per `intervalMs`
//   drip_body     after: the head at once, then the body one byte per `intervalMs`
//   reset         after: the head, then a TCP reset
//   half_body     after: the head and half the body, then the connection closed
//   http_500      before: 500 with a text body (the tool did not run)
//   session_gone  before: the session is forgotten and the request answered 404 (not run)
//   close_idle    every kept-alive connection is closed by the server after a random idle time
//                 in [0, `maxIdleMs`): between requests, as a server's keep-alive timer does
//   close_after_response  every connection is closed after one response: announced with
//                 `Connection: close` when `announce`, else a bare FIN behind its last byte
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const SESSION_REVISION = '2025-11-25';
const MODERN = '2026-07-28';
const MAX_BODY = 1 << 20;

const TOOLS = [
  { name: 'work', description: 'Counts its executions per key.', inputSchema: schema() },
  { name: 'work_idempotent', description: 'Counts its executions per key; safe to repeat.', inputSchema: schema(),
    annotations: { idempotentHint: true } }
];

function schema() {
  return { type: 'object', properties: { key: { type: 'string' }, ms: { type: 'number' } }, required: ['key'] };
}

const rpcResult = (id, result) => JSON.stringify({ jsonrpc: '2.0', id, result });
const rpcError = (id, code, message) => JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });

// Starts a chaos upstream; resolves with its API once it listens.
// options: {host = '127.0.0.1', port = 0, tls: {cert, key} (PEM text) for https}
export async function startChaos({ host = '127.0.0.1', port = 0, tls } = {}) {
  const chaos = new Chaos(host, tls);
  await chaos.listen(port);
  return chaos;
}

class Chaos {
  constructor(host, tls) {
    this.host = host;
    this.tls = tls;
    this.fault = { kind: 'none' };
    this.sessions = new Set();
    this.sockets = new Set();  // connections that carry requests (TLS sockets under TLS)
    this.tcp = new Set();
    this.reset();
  }

  // Counters of everything seen, zeroed.
  reset() {
    this.counts = {
      executions: {},        // tool key -> times it ran
      refusals: {},          // tool key -> calls answered 404/400/500 without running
      methods: {},           // JSON-RPC method -> requests received
      faults: 0,             // faults applied
      sessions_opened: 0,
      sessions_forgotten: 0,
      connections_opened: 0,
      connections_closed_by_server: 0,
      // Dripped responses whose connection the client closed, and how long after the request.
      drips_abandoned_ms: []
    };
  }

  // Listens on `port` (0: any); again after down(), on the same port.
  async listen(port) {
    const handler = (req, res) => this.handle(req, res).catch(() => res.destroy());
    this.server = this.tls ? https.createServer({ ...this.tls }, handler) : http.createServer(handler);
    this.server.keepAliveTimeout = 60000;  // connections end by fault, not by Node's timer
    // Every TCP connection (to drop them all at down(), handshakes included); requests run on
    // the TLS socket over it when there is one.
    this.server.on('connection', (socket) => {
      this.counts.connections_opened += 1;
      this.tcp.add(socket);
      socket.on('close', () => this.tcp.delete(socket));
      if (!this.tls) this.track(socket);
    });
    this.server.on('secureConnection', (socket) => this.track(socket));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, resolve);
    });
    this.port = this.server.address().port;
    const scheme = this.tls ? 'https' : 'http';
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.base = `${scheme}://${host}:${this.port}`;
    this.url = `${this.base}/mcp`;
  }

  // Stops listening and drops every connection: the port refuses from now on. `forget` also
  // drops the sessions, as a restarted process would.
  async down({ forget = true } = {}) {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const s of this.tcp) s.destroy();
    await closed;
    if (forget) this.forget();
  }

  async up() {
    await this.listen(this.port);
  }

  async close() {
    await this.down();
  }

  // Serves a new certificate to new connections (a renewed one, or an expired one).
  setCertificate({ cert, key }) {
    this.tls = { cert, key };
    this.server.setSecureContext({ cert, key });
  }

  setFault(fault = { kind: 'none' }) {
    this.fault = { method: 'tools/call', probability: 1, count: Infinity, intervalMs: 1000, ...fault };
    for (const s of this.sockets) this.scheduleIdleClose(s);
  }

  // Forgets every session: requests naming them get 404 from now on.
  forget() {
    this.counts.sessions_forgotten += this.sessions.size;
    this.sessions.clear();
  }

  stats() {
    return structuredClone({ ...this.counts, sessions: this.sessions.size, open_connections: this.tcp.size });
  }

  executions(key) {
    return this.counts.executions[key] ?? 0;
  }

  track(socket) {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.busy = false;
    this.scheduleIdleClose(socket);
  }

  // close_idle: a kept-alive connection left idle is closed after a random time, never while
  // a request is being served (what a server's keep-alive timer does; the client may still be
  // sending a request on it at that very moment: that is the race under test).
  scheduleIdleClose(socket) {
    clearTimeout(socket.idleTimer);
    if (this.fault.kind !== 'close_idle' || socket.busy) return;
    socket.idleTimer = setTimeout(() => this.closeConnection(socket), Math.random() * (this.fault.maxIdleMs ?? 50));
  }

  // Closes a connection from the server side; what arrives after the FIN is refused.
  closeConnection(socket) {
    if (socket.busy || socket.destroyed) return;
    this.counts.connections_closed_by_server += 1;
    socket.end();
    socket.once('finish', () => socket.destroy());
  }

  // Whether the fault applies to this request (and uses one of its `count`).
  strikes(message, modern) {
    const f = this.fault;
    if (['none', 'close_idle', 'close_after_response'].includes(f.kind) || f.count <= 0) return false;
    if (f.kind === 'session_gone' && modern) return false;  // no sessions to lose
    if (f.method !== '*' && message.method !== f.method) return false;
    if (Math.random() >= f.probability) return false;
    f.count -= 1;
    this.counts.faults += 1;
    return true;
  }

  async handle(req, res) {
    const socket = req.socket;
    socket.busy = true;
    clearTimeout(socket.idleTimer);
    res.on('finish', () => {
      socket.busy = false;
      this.scheduleIdleClose(socket);
    });
    res.chaos = this.fault;
    const url = new URL(req.url, 'http://chaos');
    if (url.pathname.startsWith('/_chaos/')) return this.control(url.pathname, req, res);
    if (url.pathname !== '/mcp') return send(res, 404, 'text/plain', 'not found');
    if (req.method === 'DELETE') {
      this.sessions.delete(req.headers['mcp-session-id']);
      return send(res, 200, 'text/plain', '');
    }
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed', { allow: 'POST, DELETE' });
    let message;
    try {
      message = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, 'application/json', rpcError(null, -32700, 'parse error'));
    }
    this.counts.methods[message.method] = (this.counts.methods[message.method] ?? 0) + 1;
    await this.answer(message, req, res);
    if (this.fault.kind === 'close_after_response' && !this.fault.announce && res.writableEnded) {
      socket.busy = false;
      this.closeConnection(socket);  // the FIN queued right behind the response's last byte
    }
  }

  async answer(message, req, res) {
    const { id, method, params = {} } = message;
    const modern = req.headers['mcp-protocol-version'] === MODERN ||
      params._meta?.['io.modelcontextprotocol/protocolVersion'] === MODERN;
    let sessionId = req.headers['mcp-session-id'];
    if (!modern && method === 'initialize') {
      sessionId = crypto.randomUUID();
      this.sessions.add(sessionId);
      this.counts.sessions_opened += 1;
      const result = { protocolVersion: SESSION_REVISION, capabilities: { tools: {} },
        serverInfo: { name: 'chaos', version: '1.0.0' } };
      return send(res, 200, 'application/json', rpcResult(id, result), { 'mcp-session-id': sessionId });
    }
    // Answers refused before anything ran, counted per tool key.
    const refuse = (status, contentType, body) => {
      if (method === 'tools/call') {
        const key = String(params.arguments?.key ?? '');
        this.counts.refusals[key] = (this.counts.refusals[key] ?? 0) + 1;
      }
      return send(res, status, contentType, body);
    };
    const notFound = rpcError(null, -32001, 'Session not found');
    if (!modern && !this.sessions.has(sessionId)) return refuse(sessionId ? 404 : 400, 'application/json', notFound);

    const fault = this.strikes(message, modern) ? this.fault.kind : null;
    if (fault === 'http_500') return refuse(500, 'text/plain', 'Internal Server Error');
    if (fault === 'session_gone') {
      this.sessions.delete(sessionId);
      this.counts.sessions_forgotten += 1;
      return refuse(404, 'application/json', notFound);
    }
    if (id === undefined) return send(res, 202, 'text/plain', '');  // a notification
    const body = rpcResult(id, await this.result(method, params));
    if (!fault) return send(res, 200, 'application/json', body);
    return this.breakResponse(fault, req, res, body);
  }

  async result(method, params) {
    switch (method) {
      case 'server/discover':
        return { supportedVersions: [MODERN], capabilities: { tools: {} },
          _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'chaos', version: '1.0.0' } } };
      case 'tools/list':
        return { tools: TOOLS };
      case 'tools/call': {
        const key = String(params.arguments?.key ?? '');
        this.counts.executions[key] = (this.counts.executions[key] ?? 0) + 1;
        const executions = this.counts.executions[key];
        if (params.arguments?.ms) await new Promise((r) => setTimeout(r, params.arguments.ms));
        return { content: [{ type: 'text', text: `${key} ran` }], structuredContent: { key, executions } };
      }
      default:
        return {};  // ping and anything else
    }
  }

  // Sends `body` broken as `fault` says, on the raw socket.
  breakResponse(fault, req, res, body) {
    const socket = req.socket;
    const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    if (fault === 'reset') {
      socket.write(head, () => socket.resetAndDestroy());
    } else if (fault === 'half_body') {
      socket.end(head + body.slice(0, body.length >> 1));
    } else {
      const started = Date.now();
      const bytes = Buffer.from(fault === 'drip' ? head + body : body);
      if (fault === 'drip_body') socket.write(head);
      let at = 0;
      const timer = setInterval(() => {
        if (at < bytes.length) socket.write(bytes.subarray(at, ++at));
      }, this.fault.intervalMs);
      socket.on('close', () => {
        clearInterval(timer);
        this.counts.drips_abandoned_ms.push(Date.now() - started);
      });
    }
  }

  // The control endpoint (for a chaos in another process).
  async control(path, req, res) {
    if (path === '/_chaos/stats') return send(res, 200, 'application/json', JSON.stringify(this.stats()));
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed');
    const body = await readBody(req);
    if (path === '/_chaos/fault') this.setFault(JSON.parse(body || '{}'));
    else if (path === '/_chaos/forget') this.forget();
    else if (path === '/_chaos/reset') this.reset();
    else return send(res, 404, 'text/plain', 'not found');
    return send(res, 200, 'application/json', '{}');
  }
}

function send(res, status, contentType, body, headers = {}) {
  if (res.chaos?.kind === 'close_after_response' && res.chaos.announce) headers = { ...headers, connection: 'close' };
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > MAX_BODY) throw new Error('body too large');
  }
  return body;
}

// The same API as startChaos's, for a chaos in another process: through its control endpoint.
export function remoteChaos(base) {
  const post = async (path, body) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body ?? {}),
      signal: AbortSignal.timeout(5000) });
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
  };
  return {
    base,
    url: `${base}/mcp`,
    setFault: (fault) => post('/_chaos/fault', fault),
    forget: () => post('/_chaos/forget'),
    reset: () => post('/_chaos/reset'),
    stats: async () => (await fetch(`${base}/_chaos/stats`, { signal: AbortSignal.timeout(5000) })).json(),
    async executions(key) {
      return (await this.stats()).executions[key] ?? 0;
    }
  };
}

// Command line: a chaos of its own, e.g. inside another network namespace.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: {
    host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' },
    cert: { type: 'string' }, key: { type: 'string' }
  } });
  const tls = values.cert ? { cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key) } : undefined;
  const chaos = await startChaos({ host: values.host, port: Number(values.port), tls });
  console.log(JSON.stringify({ event: 'listening', port: chaos.port }));
  process.on('SIGTERM', () => process.exit(0));
}
