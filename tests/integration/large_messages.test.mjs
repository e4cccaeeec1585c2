// Messages larger than a socket takes in one send, through the outbound sidecar. The sidecar
// sends a whole message with one non-blocking send first and writes what is left asynchronously
// (src/http/send_now.hpp): these cases make sure the rest is always written, in order, both to
// the upstream (a request of 6 MiB) and to the client (answers of 8 and 12 MiB). A send buffer
// holds at most net.ipv4.tcp_wmem's maximum (4 MiB here) and the receiver's window starts far
// smaller, so the first send of such a message leaves a rest: making either side drop it fails
// these cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { startCountingUpstream } from './counting_upstream.mjs';
import { SIDECAR_BIN, callTool, request, startSidecar } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-large-');
const MiB = 1 << 20;
const WMEM_MAX = Number(fs.readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
const V = '2026-07-28';

let up;
let sidecar;

before(async () => {
  up = await startCountingUpstream();
  sidecar = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    config: {
      outbound: {
        listen: '127.0.0.1:0',
        servers: [{ name: 'count', url: up.url, transport: 'stateless' }],
        heartbeat_interval_seconds: 0,
        limits: { max_body_bytes: 8 * MiB },
        upstream: { max_response_bytes: 32 * MiB }
      },
      admin: { listen: '127.0.0.1:0' },
      shutdown: { delay_seconds: 0, grace_seconds: 1 }
    }
  });
});
after(async () => {
  assert.equal(await sidecar.stop(), 0);
  await up.close();
});

test('the sizes exceed what one send can take', () => {
  assert.ok(WMEM_MAX < 6 * MiB, `net.ipv4.tcp_wmem allows ${WMEM_MAX} bytes: raise the sizes of this file`);
});

test('a 6 MiB request reaches the upstream whole, and its 12 MiB echo reaches the client whole', async () => {
  // Varied text (not one repeated byte), so a part written twice or out of order cannot pass.
  const text = Array.from({ length: 6 * MiB / 8 }, (_, i) => (i % 99991).toString(36).padStart(8, '.')).join('');
  const r = await callTool(sidecar, 'count', 'echo', { text }, { 'X-Case-Id': 'large-1' });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.equal(r.json.structuredContent.text.length, text.length);
  // assert.ok, not assert.equal: a failure must not print megabytes.
  assert.ok(r.json.structuredContent.text === text, 'the echoed arguments differ from what was sent');
  assert.ok(JSON.parse(r.json.content[0].text).text === text, 'the echoed text content differs from what was sent');
  const seen = up.seen.at(-1);
  assert.ok(JSON.parse(seen.body).params.arguments.text === text, 'the upstream got other arguments');
});

test('an 8 MiB tool result reaches a 2026-07-28 client of /mcp whole, as the upstream wrote it', async () => {
  up.hugeBytes = 8 * MiB;
  const r = await request(`${sidecar.outbound}/mcp/count`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V,
      'mcp-method': 'tools/call',
      'mcp-name': 'huge'
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: {
        name: 'huge',
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          'io.modelcontextprotocol/clientCapabilities': {},
          'io.modelcontextprotocol/clientInfo': { name: 'large', version: '1' }
        }
      }
    })
  });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.equal(r.json.id, 7);
  const got = r.json.result.content[0].text;
  assert.equal(got.length, 8 * MiB);
  assert.ok(/^x+$/.test(got), 'the result holds bytes the upstream did not send');
});
