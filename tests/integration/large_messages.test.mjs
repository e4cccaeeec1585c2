// Messages larger than a socket takes in one send, through the outbound sidecar. The sidecar
// sends a whole message with one non-blocking send first and writes what is left asynchronously
// (src/http/send_now.hpp): these cases make sure the rest is always written, in order, both to
// the upstream (a request of 6 MiB) and to the client (answers of 8 and 12 MiB). A send buffer
// holds at most net.ipv4.tcp_wmem's maximum (4 MiB here) and the receiver's window starts far
// smaller, so the first send of such a message leaves a rest: making either side drop it fails
// these cases. The last case sends them through a pair of sidecars over mTLS
// (src/http/tls_stream.hpp), where a message is encrypted in pieces and written asynchronously.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { startCountingUpstream } from './counting_upstream.mjs';
import { SIDECAR_BIN, callTool, request, startSidecar } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync('/tmp/it-large-');
const pki = path.join(dir, 'pki');
const MiB = 1 << 20;
const WMEM_MAX = Number(fs.readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
const V = '2026-07-28';

let up;
let sidecar;
let gate;
let client;

before(async () => {
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
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
  for (const s of [client, gate, sidecar]) if (s) assert.equal(await s.stop(), 0);
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

test('the same 6 MiB request and 12 MiB echo cross a pair of sidecars over mTLS whole', async () => {
  const shutdown = { delay_seconds: 0, grace_seconds: 1 };
  gate = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    name: 'large-gate',
    expectRoles: ['inbound', 'admin'],
    config: {
      inbound: {
        name: 'count',
        listen: '127.0.0.1:0',
        forward_to: up.url.replace(/\/mcp$/, ''),
        limits: { max_body_bytes: 8 * MiB },
        auth: { mode: 'mtls', tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`,
          client_ca_file: `${pki}/ca.crt` } },
        policy: [{ callers: ['*'], tools: ['*'] }]
      },
      admin: { listen: '127.0.0.1:0' },
      shutdown
    }
  });
  const port = gate.addresses.inbound.split(':')[1];
  client = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    name: 'large-client',
    config: {
      outbound: {
        listen: '127.0.0.1:0',
        servers: [{ name: 'count', url: `https://localhost:${port}/mcp`, transport: 'stateless',
          tls: { ca_file: `${pki}/ca.crt`, cert_file: `${pki}/orchestrator.crt`, key_file: `${pki}/orchestrator.key` } }],
        heartbeat_interval_seconds: 0,
        limits: { max_body_bytes: 8 * MiB },
        upstream: { max_response_bytes: 32 * MiB }
      },
      admin: { listen: '127.0.0.1:0' },
      shutdown
    }
  });
  const text = Array.from({ length: 6 * MiB / 8 }, (_, i) => (i % 99989).toString(36).padStart(8, ':')).join('');
  const before = up.counts.toolCalls;
  const r = await callTool(client, 'count', 'echo', { text }, { 'X-Case-Id': 'large-tls' });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.ok(r.json.structuredContent.text === text, 'the echoed arguments differ from what was sent');
  assert.ok(JSON.parse(r.json.content[0].text).text === text, 'the echoed text content differs from what was sent');
  assert.equal(up.counts.toolCalls, before + 1);
  assert.ok(JSON.parse(up.seen.at(-1).body).params.arguments.text === text, 'the upstream got other arguments');
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
