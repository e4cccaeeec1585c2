// A minimal MCP client over raw HTTP(S), for talking to the inbound gate directly: any header,
// any client certificate, and the arrival time of every SSE event as it comes off the socket.
import http from 'node:http';
import https from 'node:https';

export const PROTOCOL = '2025-11-25';

// Splits an SSE text into events; returns [{data, id, event}].
export function parseSse(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const ev = { data: '', id: undefined, event: 'message' };
    let any = false;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':') || line === '') continue;
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'data') {
        ev.data += (any ? '\n' : '') + value;
        any = true;
      } else if (field === 'id') ev.id = value;
      else if (field === 'event') ev.event = value;
    }
    if (any) events.push(ev);
  }
  return events;
}

// One request; resolves {status, headers, body, events: [{at, data, json}]} where `at` is the
// time (ms, performance.now) each SSE event was complete on the wire.
export function exchange(url, { method = 'POST', headers = {}, body, tls, timeoutMs = 20000 } = {}) {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent: false,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      ...(tls ?? {})
    }, (res) => {
      let text = '';
      let pending = '';
      const events = [];
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
        pending += chunk;
        let cut;
        while ((cut = pending.search(/\r?\n\r?\n/)) >= 0) {
          const block = pending.slice(0, cut);
          pending = pending.slice(cut).replace(/^\r?\n\r?\n/, '');
          for (const ev of parseSse(block + '\n\n')) {
            let json;
            try { json = JSON.parse(ev.data); } catch {}
            events.push({ at: performance.now(), data: ev.data, json, id: ev.id });
          }
        }
      });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, events });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

// The JSON-RPC answer of a response, whether it came as JSON or as an SSE event.
export function answerOf(r, id) {
  if (r.json && !Array.isArray(r.json)) return r.json;
  if (Array.isArray(r.json)) return r.json.find((m) => m.id === id);
  return r.events.map((e) => e.json).find((m) => m && m.id === id && ('result' in m || 'error' in m));
}

// An MCP session through `url` (Streamable HTTP), with fixed extra headers and TLS options.
export class Session {
  constructor(url, { headers = {}, tls } = {}) {
    this.url = url;
    this.headers = headers;
    this.tls = tls;
    this.nextId = 1;
  }

  async open() {
    const r = await exchange(this.url, {
      headers: this.headers, tls: this.tls,
      body: { jsonrpc: '2.0', id: this.nextId++, method: 'initialize',
        params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'it', version: '1' } } }
    });
    if (r.status !== 200) return r;
    this.sessionId = r.headers['mcp-session-id'];
    await exchange(this.url, { headers: this.sessionHeaders(), tls: this.tls,
      body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
    return r;
  }

  sessionHeaders() {
    return { ...this.headers, 'mcp-session-id': this.sessionId, 'mcp-protocol-version': PROTOCOL };
  }

  // Sends one request; resolves {r, answer}.
  async request(method, params = {}, extraHeaders = {}) {
    const id = this.nextId++;
    const r = await exchange(this.url, { headers: { ...this.sessionHeaders(), ...extraHeaders }, tls: this.tls,
      body: { jsonrpc: '2.0', id, method, params } });
    return { r, answer: answerOf(r, id), id };
  }

  async batch(messages) {
    return exchange(this.url, { headers: this.sessionHeaders(), tls: this.tls, body: messages });
  }
}
