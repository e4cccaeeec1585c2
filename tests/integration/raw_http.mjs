// Raw HTTP/1.1 over a socket, plain or TLS, for hostile-input tests: the test writes exact bytes
// (in one write or several), and gets back every response as it came off the wire (pipelined
// ones in order) and whether the server closed the connection. Every wait has a timeout.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';

// Strings (as latin1: one byte per character, so any byte can be written) and Buffers, joined.
const bytes = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(String(p), 'latin1'))));

// Where to connect: {host, port, tls} where `tls` (optional) holds tls.connect options (ca,
// cert, key, servername).
function connect({ host = '127.0.0.1', port, tls: tlsOptions }) {
  if (tlsOptions) return tls.connect({ host, port, servername: 'localhost', ...tlsOptions });
  return net.connect(port, host);
}

// The chunked body starting at `at` in `buf`: {body, end} (end: just past it), or null while
// it is incomplete.
function readChunked(buf, at) {
  const chunks = [];
  for (let p = at; ;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
    if (size === 0) {
      const trailerEnd = buf.indexOf('\r\n\r\n', eol);  // no trailers: the CRLF right after
      return trailerEnd < 0 ? null : { body: Buffer.concat(chunks), end: trailerEnd + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return null;
    chunks.push(buf.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
}

// Parses the complete responses at the start of `buf` (a Buffer). Returns {responses, rest}:
// `rest` is the unparsed tail. A response without a length ends with the connection (`closed`).
// 1xx interim responses are returned too (status 100), so a test sees them. With `head`, the
// first response answers a HEAD: it has no body, whatever its headers say.
export function parseResponses(buf, { closed = false, head = false } = {}) {
  const responses = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
    const headers = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const status = Number(m[2]);
    const start = end + 4;
    let body;
    if ((head && responses.length === 0) || status < 200 || status === 204 || status === 304) {
      body = { body: Buffer.alloc(0), end: start };
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      body = readChunked(buf, start);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = buf.length < start + length ? null : { body: buf.subarray(start, start + length), end: start + length };
    } else {
      body = closed ? { body: buf.subarray(start), end: buf.length } : null;  // until the connection closes
    }
    if (!body) break;
    responses.push(response(m, status, headers, body.body));
    at = body.end;
  }
  return { responses, rest: buf.subarray(at) };
}

function response(m, status, headers, body) {
  const text = body.toString('utf8');
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { version: m[1], status, reason: m[3] ?? '', headers, body: text, json };
}

/**
 * Writes `send` on a new connection and collects what comes back.
 *   send: a string or Buffer, or an array of them written one by one (`gapMs` apart)
 *   responses: resolve as soon as this many final (non-1xx) responses are complete; by default,
 *     wait until the server closes the connection
 *   closeWithinMs: with `responses`, then wait this long for the server to close the connection
 *   end: half-close the writing side after sending (the server sees EOF)
 *   head: the first request is a HEAD (its response has no body)
 *   timeoutMs: give up and resolve with `timedOut: true`
 * Resolves {responses, closed, timedOut, error, raw, ms}: `closed` once the server ended or
 * reset the connection; `error` is the socket error (a TLS refusal, a reset), if any.
 */
export function rawExchange(target, send, { responses: wanted, closeWithinMs, end = false, head = false, gapMs = 0, timeoutMs = 10000 } = {}) {
  const pieces = Array.isArray(send) ? send : [send];
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(target);
    let buf = Buffer.alloc(0);
    let closed = false;
    let error;
    let settled = false;
    const finish = (timedOut = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      let parsed;
      try {
        parsed = parseResponses(buf, { closed, head });
      } catch (e) {
        parsed = { responses: [], rest: buf };
        error ??= e;
      }
      socket.destroy();
      resolve({ responses: parsed.responses, closed, timedOut, error, raw: buf.toString('latin1'), ms: performance.now() - started });
    };
    let timer = setTimeout(() => finish(true), timeoutMs);
    const enough = () => {
      if (wanted === undefined) return false;
      try {
        return parseResponses(buf, { head }).responses.filter((r) => r.status >= 200).length >= wanted;
      } catch {
        return false;
      }
    };
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!enough()) return;
      if (closeWithinMs === undefined) return finish();
      clearTimeout(timer);
      timer = setTimeout(() => finish(), closeWithinMs);
    });
    socket.on('error', (e) => {
      error = e;
      closed = true;
      finish();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.once(target.tls ? 'secureConnect' : 'connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (settled || socket.destroyed) return;
        socket.write(piece);
      }
      if (end) socket.end();
    });
  });
}

// The one response of an exchange that must have exactly one (else the assertion message says what came).
export function only(exchange) {
  if (exchange.responses.length !== 1)
    throw new Error(`expected one response, got ${exchange.responses.length}: ${exchange.raw.slice(0, 300)} (error ${exchange.error?.code ?? exchange.error?.message ?? 'none'})`);
  return exchange.responses[0];
}

/**
 * Slowloris: writes `head` (an unfinished request), then one more byte of `drip` every
 * `intervalMs` until the server closes the connection (or `timeoutMs`). Resolves as
 * rawExchange does ({ms} is when the server closed).
 */
export function slowloris(target, head, { drip = 'X-Slow: 1\r\n', intervalMs = 100, timeoutMs = 20000 } = {}) {
  const bytes = Array.from({ length: Math.ceil(timeoutMs / intervalMs) }, (_, i) => drip[i % drip.length]);
  return rawExchange(target, [head, ...bytes], { gapMs: intervalMs, timeoutMs });
}

/**
 * A kept-alive connection for request after request (timing probes): `send(bytes)` resolves with
 * the next response and the milliseconds it took; `close()` ends the connection.
 */
export async function keepAlive(target, { timeoutMs = 10000 } = {}) {
  const socket = connect(target);
  await new Promise((resolve, reject) => {
    socket.once(target.tls ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  let waiting;
  const settle = () => {
    if (!waiting) return;
    const { responses, rest } = parseResponses(buf);
    if (responses.length === 0) return;
    buf = rest;
    const w = waiting;
    waiting = undefined;
    clearTimeout(w.timer);
    w.resolve({ ...responses[0], ms: performance.now() - w.started });
  };
  const fail = (e) => {
    if (!waiting) return;
    clearTimeout(waiting.timer);
    waiting.reject(e);
    waiting = undefined;
  };
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    settle();
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the connection')));
  return {
    send(request) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        waiting = { resolve, reject, timer, started: performance.now() };
        socket.write(request);
      });
    },
    close: () => socket.destroy()
  };
}

// An HTTP/1.1 request as bytes: `headers` is an array of [name, value] (so duplicates and odd
// spellings survive); Content-Length is added for a body unless `length: false`.
export function httpRequest(method, path, { headers = [['Host', 'localhost']], body, length = true, version = '1.1' } = {}) {
  const bodyBuf = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/${version}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body !== undefined && length) lines.push(`Content-Length: ${bodyBuf.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), bodyBuf]);
}

// ---- hostile-input cases every listener answers alike --------------------------------------
//
// Small listener limits, so that refusals and timeouts come fast, and the same limits as a
// listener's `limits:` configuration section.
export const SMALL_LIMITS = { body: 65536, header: 4096, requestTimeoutMs: 1000, idleTimeoutMs: 1000 };
export const limitsConfig = (l) => ({
  max_body_bytes: l.body,
  max_header_bytes: l.header,
  request_timeout_seconds: l.requestTimeoutMs / 1000,
  idle_timeout_seconds: l.idleTimeoutMs / 1000
});
//
// A listener under test, as the hostile_*.test.mjs files describe it:
//   target   {host, port, tls} to connect to
//   good     {method, path, headers: [[name, value]], body}: a request that succeeds...
//   status   ...with this status, and takes effect once (reaches the upstream, is reviewed...)
//   headStatus  the answer to HEAD on the good request's path (undefined: not checked here)
//   limits   {body, header, requestTimeoutMs, idleTimeoutMs} as configured (idleTimeoutMs
//            undefined: not configurable, too long to wait for)
//   effects  async () => how many requests have taken effect so far
//   snapshot (optional) () => a state a row's check(r, snapshot) compares with
//   proc     the process behind it: it must still run after every case...
//   alive    (optional) async () => ...and still answer `good`: by default, checked with `good`

// The listener's good request as bytes: its head with `extra` header lines, and its body
// framed by Content-Length (`framing: 'length'`), chunked, or not at all (`'none'`).
export function goodRequest(L, { extra = [], framing = 'length', version = '1.1' } = {}) {
  const { method, path, headers, body = '' } = L.good;
  const all = [...headers, ...extra];
  if (framing === 'none') return httpRequest(method, path, { headers: all, version });
  if (framing === 'length') return httpRequest(method, path, { headers: all, body, version });
  const payload = Buffer.from(body);
  const chunk = payload.length ? bytes(`${payload.length.toString(16)}\r\n`, payload, '\r\n') : '';
  return httpRequest(method, path, { headers: [...all, ['Transfer-Encoding', 'chunked']], body: bytes(chunk, '0\r\n\r\n'), length: false, version });
}

// The listener's good request head, unfinished (no blank line), for attacks on the head.
const openHead = (L, extra = []) => httpRequest(L.good.method, L.good.path, { headers: [...L.good.headers, ...extra] }).subarray(0, -2);

// Slow exchanges take a timeout each: they start together, once per listener, and each test
// awaits its own.
function slowExchanges(L) {
  L.slow ??= (() => {
    const wait = L.limits.requestTimeoutMs + 5000;
    const head = openHead(L);
    return {
      head: slowloris(L.target, head, { intervalMs: 50, timeoutMs: wait }),
      body: slowloris(L.target, goodRequest(L, { extra: [['Content-Length', '1000']], framing: 'none' }), { drip: ' ', intervalMs: 50, timeoutMs: wait }),
      stalled: rawExchange(L.target, head, { timeoutMs: wait })
    };
  })();
  return L.slow;
}

// A connection the server closed `ms` after it opened: at its `timeoutMs`, give or take the 1 s a
// refusal may linger (RFC 9112 9.6) and scheduling on a loaded machine.
function closedWithin(ms, timeoutMs) {
  assert.ok(ms >= timeoutMs * 0.9, `closed after ${Math.round(ms)} ms, before the ${timeoutMs} ms timeout`);
  assert.ok(ms < timeoutMs + 1000 + 1500, `closed after ${Math.round(ms)} ms, not at the ${timeoutMs} ms timeout`);
}

/**
 * HTTP framing attacks on listener `L`, answered by the HTTP layer (src/http/server.cpp) before
 * any handler. Each row: {name, send, statuses (every response, in order; 1xx included),
 * closed (the server closes the connection), runs (requests that take effect), check(r),
 * todo, exchange(L) (instead of sending `send`)}.
 */
export function framingCases(L) {
  const S = L.status;
  const refused = (status, extra = {}) => ({ statuses: [status], closed: true, runs: 0, ...extra });
  const head = (extra) => openHead(L, extra);
  const hidden = goodRequest(L, { extra: [['Connection', 'close']] });
  const over = (n) => 'x'.repeat(n + 100);
  const withBody = (headers, body) => bytes(head(headers), '\r\n', body);
  // A slow exchange (slowExchanges) the server must close at request_timeout.
  const slow = (name, key, extra = {}) => ({
    name,
    exchange: async () => {
      const r = await slowExchanges(L)[key];
      closedWithin(r.ms, L.limits.requestTimeoutMs);
      return r;
    },
    runs: 0,
    ...extra
  });
  // Header lines of 10 bytes ("h00000: v" CRLF) adding up to `total` bytes.
  const smallHeaders = (total) => Array.from({ length: Math.ceil(total / 11) }, (_, i) => [`h${String(i).padStart(5, '0')}`, 'v']);
  return [
    { name: 'binary garbage instead of a request line: 400', send: '\x00\x01\x02\xffgarbage\r\n\r\n', ...refused(400) },
    { name: 'an HTTP/2 prior-knowledge preface: 400', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', ...refused(400) },
    { name: 'an HTTP/0.9 request line: 400', send: `GET ${L.good.path}\r\n\r\n`, ...refused(400) },
    { name: 'an unknown HTTP version (9.9): 400', send: goodRequest(L, { version: '9.9' }), ...refused(400) },
    { name: 'bare LF line endings: 400', send: goodRequest(L).toString('latin1').replaceAll('\r\n', '\n'), ...refused(400) },
    { name: 'a header line without a colon: 400', send: goodRequest(L, { extra: [['X-Broken', 'x']] }).toString('latin1').replace('X-Broken: x', 'X-Broken'), ...refused(400) },
    { name: 'whitespace between a field name and its colon: 400', send: goodRequest(L).toString('latin1').replace(`${L.good.headers[0][0]}:`, `${L.good.headers[0][0]} :`), ...refused(400) },
    { name: 'a NUL byte in a header value: 400', send: goodRequest(L, { extra: [['X-Nul', 'a\x00b']] }), ...refused(400) },
    { name: 'a control character in a field name: 400', send: goodRequest(L, { extra: [['X\x01Ctl', 'a']] }), ...refused(400) },
    { name: 'two Host lines: 400', send: goodRequest(L, { extra: [['Host', 'other.example']] }), ...refused(400) },
    { name: 'one header over max_header_bytes: 431', send: goodRequest(L, { extra: [['X-Pad', over(L.limits.header)]] }), ...refused(431) },
    { name: 'many small headers, 2000 bytes over max_header_bytes together: 431', send: goodRequest(L, { extra: smallHeaders(L.limits.header + 2000) }), ...refused(431) },
    { name: 'thousands of small headers, 4 times max_header_bytes: 431', send: goodRequest(L, { extra: smallHeaders(4 * L.limits.header) }), ...refused(431) },
    { name: 'a request target over max_header_bytes: 431', send: `${L.good.method} /${over(L.limits.header)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, ...refused(431) },
    { name: 'a Content-Length over max_body_bytes: 413 before the body is read', send: bytes(head([['Content-Length', L.limits.body + 1]]), '\r\n'), ...refused(413) },
    {
      name: 'Expect: 100-continue with a Content-Length over the limit: 413 and no 100 Continue',
      send: bytes(head([['Content-Length', L.limits.body + 1], ['Expect', '100-continue']]), '\r\n'),
      ...refused(413)
    },
    { name: 'a chunked body growing over max_body_bytes: 413', send: withBody([['Transfer-Encoding', 'chunked']], `${(L.limits.body + 1).toString(16)}\r\nxx`), ...refused(413) },
    { name: 'Content-Length together with Transfer-Encoding: 400', send: withBody([['Content-Length', '5'], ['Transfer-Encoding', 'chunked']], '0\r\n\r\n'), ...refused(400) },
    {
      name: 'request smuggling (CL.TE): the request hidden behind Content-Length + Transfer-Encoding never runs',
      send: withBody([['Content-Length', String(5 + hidden.length)], ['Transfer-Encoding', 'chunked']], bytes('0\r\n\r\n', hidden)),
      ...refused(400)
    },
    {
      name: 'request smuggling (TE.CL): Transfer-Encoding then Content-Length, a request hidden in the chunk, never runs',
      send: withBody([['Transfer-Encoding', 'chunked'], ['Content-Length', '4']], bytes(`${hidden.length.toString(16)}\r\n`, hidden, '\r\n0\r\n\r\n')),
      ...refused(400)
    },
    { name: 'two different Content-Lengths: 400', send: withBody([['Content-Length', '2'], ['Content-Length', '3']], '{}x'), ...refused(400) },
    { name: 'a Content-Length that is not a number: 400', send: withBody([['Content-Length', 'abc']], '{}'), ...refused(400) },
    { name: 'a negative Content-Length: 400', send: withBody([['Content-Length', '-2']], '{}'), ...refused(400) },
    { name: 'a Content-Length with a sign: 400', send: withBody([['Content-Length', '+2']], '{}'), ...refused(400) },
    { name: 'a Content-Length past 64 bits: 400', send: withBody([['Content-Length', '99999999999999999999999999']], '{}'), ...refused(400) },
    { name: 'Transfer-Encoding with whitespace before the colon: 400', send: withBody([['Transfer-Encoding ', 'chunked']], '0\r\n\r\n'), ...refused(400) },
    {
      name: 'request smuggling (TE: gzip): the request in the body of a Transfer-Encoding not ending in chunked never runs',
      send: withBody([['Transfer-Encoding', 'gzip']], hidden),
      ...refused(400)
    },
    { name: 'Transfer-Encoding: chunked, gzip (chunked not last): 400', send: withBody([['Transfer-Encoding', 'chunked, gzip']], bytes('2\r\n{}\r\n0\r\n\r\n', hidden)), ...refused(400) },
    { name: 'Transfer-Encoding: chunked, chunked (applied twice): 400', send: withBody([['Transfer-Encoding', 'chunked, chunked']], '2\r\n{}\r\n0\r\n\r\n'), ...refused(400) },
    { name: 'a chunk size that is not hex: 400', send: withBody([['Transfer-Encoding', 'chunked']], 'zz\r\n{}\r\n0\r\n\r\n'), ...refused(400) },
    { name: 'a chunk size past 64 bits: 400', send: withBody([['Transfer-Encoding', 'chunked']], 'fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n'), ...refused(400) },
    { name: 'chunk data longer than its size: 400', send: withBody([['Transfer-Encoding', 'chunked']], '1\r\n{}\r\n0\r\n\r\n'), ...refused(400) },
    { name: 'chunk data without its CRLF: 400', send: withBody([['Transfer-Encoding', 'chunked']], '2\r\n{}XX0\r\n\r\n'), ...refused(400) },
    {
      name: 'a body shorter than its Content-Length, then EOF: no answer, nothing runs',
      send: bytes(head([['Content-Length', '100']]), '\r\n{'),
      end: true,
      statuses: [],
      closed: true,
      runs: 0
    },
    slow('slowloris: a head dripping a byte every 50 ms is cut at request_timeout', 'head'),
    slow('a body dripping a byte every 50 ms is cut at request_timeout', 'body'),
    slow('a request not finished within request_timeout gets the documented 408, then the connection closes', 'stalled', { statuses: [408] }),
    ...(L.limits.idleTimeoutMs === undefined ? [] : [{
      name: 'a connection that sends nothing is closed at idle_timeout, without an answer',
      exchange: async () => {
        const r = await rawExchange(L.target, '', { timeoutMs: L.limits.idleTimeoutMs + 5000 });
        closedWithin(r.ms, L.limits.idleTimeoutMs);
        return r;
      },
      statuses: [],
      runs: 0
    }]),
    { name: 'two pipelined requests: both answered, in order', send: bytes(goodRequest(L), hidden), statuses: [S, S], closed: true, runs: 2 },
    { name: 'a pipelined request after Connection: close is never read', send: bytes(hidden, goodRequest(L)), statuses: [S], closed: true, runs: 1 },
    { name: 'a pipelined request after a malformed one never runs', send: bytes('GARBAGE\r\n\r\n', goodRequest(L)), ...refused(400) },
    { name: 'a good request then garbage on the same connection: answered, then 400 and closed', send: bytes(goodRequest(L), 'GARBAGE\r\n\r\n'), statuses: [S, 400], closed: true, runs: 1 },
    {
      name: 'a chunked body with extensions and a trailer is read whole',
      send: goodRequest(L, { framing: 'chunked' }).toString('latin1').replace(/\r\n([0-9a-f]+)\r\n/, '\r\n$1;ext=1\r\n').replace(/0\r\n\r\n$/, '0\r\nX-Trailer: 1\r\n\r\n'),
      statuses: [S],
      runs: 1
    },
    {
      name: 'an h2c Upgrade request is answered as HTTP/1.1',
      send: goodRequest(L, { extra: [['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']] }),
      statuses: [S],
      runs: 1,
      check: (r) => assert.equal(r.responses[0].version, '1.1')
    },
    ...(L.headStatus === undefined ? [] : [{
      name: `HEAD: ${L.headStatus} without a body (RFC 9110 9.3.2), so a pipelined request after it reads right`,
      send: bytes(httpRequest('HEAD', L.good.path, { headers: L.good.headers }), hidden),
      head: true,
      statuses: [L.headStatus, S],
      closed: true,
      runs: 1
    }]),
    {
      name: 'an HTTP/1.0 request is answered in HTTP/1.0 and closed',
      send: goodRequest(L, { version: '1.0' }),
      statuses: [S],
      closed: true,
      runs: 1,
      check: (r) => assert.equal(r.responses[0].version, '1.0')
    }
  ];
}

/**
 * What a TLS listener does with connections that never complete a TLS handshake: plain HTTP,
 * a garbage record, silence, a stalled ClientHello. All closed (the silent and stalled ones at
 * request_timeout, the handshake deadline), none reaches a handler.
 */
export function tlsCases(L) {
  // The listener's address without TLS (known once the listener started).
  const plain = () => ({ port: L.target.port, host: L.target.host });
  const timeout = L.limits.requestTimeoutMs;
  const stalled = (what, send) => ({
    name: `${what}: closed at request_timeout`,
    exchange: async () => {
      const r = await rawExchange(plain(), send, { timeoutMs: timeout + 5000 });
      assert.ok(r.closed, 'still open');
      closedWithin(r.ms, timeout);
      return r;
    },
    runs: 0
  });
  return [
    {
      name: 'plain HTTP on the TLS port: closed without an HTTP answer',
      exchange: () => rawExchange(plain(), goodRequest(L), { timeoutMs: 5000 }),
      check: (r) => assert.ok(r.closed && !r.raw.startsWith('HTTP/'), r.raw),
      runs: 0
    },
    {
      name: 'a TLS record of garbage: closed',
      exchange: () => rawExchange(plain(), bytes(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x20]), Buffer.alloc(32, 0xee)), { timeoutMs: 5000 }),
      check: (r) => assert.ok(r.closed),
      runs: 0
    },
    stalled('a connection that never starts its handshake', ''),
    stalled('a handshake stalled after half a ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03]))
  ];
}

/**
 * Runs one hostile case against listener `L`: sends it, checks every answer's status (and the
 * JSON error `code` when the row names one), that the connection closed when it must, that
 * exactly `runs` requests took effect, then that the process lives and answers a good request.
 */
export async function checkCase(L, row) {
  const snapshot = L.snapshot?.();
  const before = await L.effects();
  const r = row.exchange
    ? await row.exchange(L)
    : await rawExchange(L.target, row.send, {
        // Until the answers came, and then (when it must close) until the connection closed.
        responses: row.closed && !row.statuses?.length ? undefined : (row.statuses?.length || 1),
        closeWithinMs: row.closed ? 2000 : undefined,
        end: row.end,
        head: row.head,
        timeoutMs: row.timeoutMs ?? 10000
      });
  const what = `got: ${(r.raw ?? '').slice(0, 400)}`;
  if (row.statuses) assert.deepEqual(r.responses.map((x) => x.status), row.statuses, what);
  if (row.closed) assert.ok(r.closed, `the connection was left open; ${what}`);
  if (row.code !== undefined) assert.equal(r.responses[0]?.json?.error?.code, row.code, what);
  await row.check?.(r, snapshot);
  assert.equal((await L.effects()) - before, row.runs ?? 0, `requests that took effect (${what})`);
  await alive(L);
}

// The process behind `L` still runs and answers its good request.
export async function alive(L) {
  assert.equal(L.proc.exitCode ?? L.proc.signalCode, null, 'the process exited');
  if (L.alive) return L.alive();
  const r = only(await rawExchange(L.target, goodRequest(L, { extra: [['Connection', 'close']] })));
  assert.equal(r.status, L.status, r.body);
}

// One test per row, todo where the row names a known bug.
export function testCases(test, L, rows) {
  for (const row of rows) test(row.name, row.todo ? { todo: row.todo } : {}, () => checkCase(L, row));
}
