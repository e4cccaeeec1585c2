// The TLS listeners as a scanner sees them, with the real `openssl s_client` (issue 10): the
// inbound gate in mTLS mode (an ECDSA certificate from certs-dev) and the injection webhook (an
// RSA certificate made here, so both key types are covered). docs/configuration.md: "TLS 1.2 is
// the minimum and 1.3 preferred, with AEAD ciphers only"; src/tls/tls.cpp allows, in TLS 1.2,
// ECDHE with AES-GCM or ChaCha20-Poly1305 only, and OpenSSL's default TLS 1.3 suites.
// Every refusal must be the server's: each one is also counted by the listener's
// mcp_sidecar_tls_handshakes_total (a client that gave up before sending its hello would not
// be), and the client's own security level is lowered (@SECLEVEL=0) so it offers what it can.
// Suites this OpenSSL no longer offers at all (RC4, 3DES, DES, EXPORT) are offered in a
// hand-made ClientHello instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

import { SIDECAR_BIN, metricValue, metrics, skipOrFail, hasCommand, startServer, startSidecar, until } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-tls-'));
const pki = path.join(dir, 'pki');
const cleanup = [];
const listeners = {};  // name -> {port, sidecar, metric (the listener label), clientCert (args), keyType}

before(async () => {
  if (!hasCommand('openssl')) return;
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
  // An RSA serving certificate for the webhook, from the same CA.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext', 'extendedKeyUsage=serverAuth',
    '-CA', `${pki}/ca.crt`, '-CAkey', `${pki}/ca.key`, '-keyout', `${pki}/webhook-rsa.key`, '-out', `${pki}/webhook-rsa.crt`],
  { stdio: 'ignore' });
  const registry = await startServer('registry', { dir });
  cleanup.push(() => registry.stop('SIGKILL'));
  const common = { bin: SIDECAR_BIN, dir };
  const gate = await startSidecar({ ...common, name: 'gate', expectRoles: ['inbound', 'admin'], config: {
    inbound: { name: 'registry', listen: '127.0.0.1:0', forward_to: registry.base, auth: { mode: 'mtls', tls:
      { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key`, client_ca_file: `${pki}/ca.crt` } } },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0, grace_seconds: 1 }
  } });
  cleanup.push(() => gate.stop('SIGKILL'));
  const webhook = await startSidecar({ ...common, name: 'webhook', argsPrefix: ['inject', '--webhook'], expectRoles: ['inject', 'admin'], config: {
    inject: { listen: '127.0.0.1:0', tls: { cert_file: `${pki}/webhook-rsa.crt`, key_file: `${pki}/webhook-rsa.key` } },
    admin: { listen: '127.0.0.1:0' }, shutdown: { delay_seconds: 0, grace_seconds: 1 }
  } });
  cleanup.push(() => webhook.stop('SIGKILL'));
  const port = (sc, role) => Number(sc.addresses[role].split(':')[1]);
  listeners['inbound gate (mTLS, ECDSA)'] = { port: port(gate, 'inbound'), sidecar: gate, metric: 'inbound',
    clientCert: ['-cert', `${pki}/orchestrator.crt`, '-key', `${pki}/orchestrator.key`], keyType: 'ECDSA' };
  listeners['injection webhook (RSA)'] = { port: port(webhook, 'inject'), sidecar: webhook, metric: 'inject', clientCert: [], keyType: 'RSA' };
});
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// One `openssl s_client -brief` connection that sends a GET once the handshake is done and
// waits for the server to close. Resolves {accepted (an HTTP answer came back over TLS: on
// stdout), protocol, cipher (from the handshake summary on stderr), output}. An s_client that
// hangs is killed after 15 s (and counts as not accepted).
function sClient(port, args) {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-brief', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
      '-CAfile', `${pki}/ca.crt`, '-verify_return_error', '-ign_eof', ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    // A refused handshake can end s_client before it reads the request: the write then fails
    // (EPIPE), and the outcome is judged from what s_client printed, as for any other refusal.
    p.stdin.on('error', () => {});
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.on('close', () => {
      clearTimeout(timer);
      resolve({ accepted: /^HTTP\/1\.1 \d{3} /.test(stdout), protocol: stderr.match(/^Protocol version: (\S+)$/m)?.[1],
        cipher: stderr.match(/^Ciphersuite: (\S+)$/m)?.[1], output: `${stderr}${stdout}` });
    });
    p.stdin.end('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  });
}

// Runs `fn` over `items`, `limit` at a time (openssl's start-up dominates a handshake).
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }));
  return results;
}

const handshakes = async (l, outcome) =>
  metricValue(await metrics(l.sidecar), 'mcp_sidecar_tls_handshakes_total', { listener: l.metric, outcome }) ?? 0;

// Runs s_client attempts that the server must refuse; asserts none got an answer, each left
// `expect` in the output, and the listener counted exactly that many refusals as `outcome`.
async function assertRefused(l, attempts, { outcome, expect }) {
  const before = await handshakes(l, outcome);
  const results = await pool(attempts, 4, (args) => sClient(l.port, args));
  for (const [i, r] of results.entries()) {
    assert.equal(r.accepted, false, `accepted: s_client ${attempts[i].join(' ')}`);
    assert.match(r.output, expect, `s_client ${attempts[i].join(' ')}:\n${r.output}`);
  }
  assert.equal(await handshakes(l, outcome) - before, attempts.length, `refusals counted as ${outcome}`);
}

function requireOpenssl(t) {
  if (hasCommand('openssl')) return true;
  skipOrFail(t, 'openssl is not installed (scripts/setup.sh installs it)');
  return false;
}

const legacy = ['-cipher', 'DEFAULT:@SECLEVEL=0'];

for (const name of ['inbound gate (mTLS, ECDSA)', 'injection webhook (RSA)']) {
  test(`${name}: TLS 1.0 and 1.1 refused by the server (protocol version alert), TLS 1.2 and 1.3 accepted`, async (t) => {
    if (!requireOpenssl(t)) return;
    const l = listeners[name];
    await assertRefused(l, [['-tls1', ...legacy, ...l.clientCert], ['-tls1_1', ...legacy, ...l.clientCert]],
      { outcome: 'handshake', expect: /alert protocol version/ });
    for (const [flag, protocol] of [['-tls1_2', 'TLSv1.2'], ['-tls1_3', 'TLSv1.3']]) {
      const r = await sClient(l.port, [flag, ...l.clientCert]);
      assert.ok(r.accepted, `${protocol} refused:\n${r.output}`);
      assert.equal(r.protocol, protocol);
    }
  });

  test(`${name}: of every TLS 1.2 suite this OpenSSL can offer with the listener's key type, only ECDHE with AES-GCM or ChaCha20-Poly1305 is accepted`, async (t) => {
    if (!requireOpenssl(t)) return;
    const l = listeners[name];
    // `openssl ciphers -v`: name, min version, Kx=, Au=, Enc=, Mac=. Suites for another key type
    // cannot be negotiated with this certificate whatever the policy, PSK and SRP ones need
    // credentials s_client is not given: left out.
    const suites = execFileSync('openssl', ['ciphers', '-v', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' })
      .trim().split('\n').map((line) => line.trim().split(/\s+/))
      .filter(([, version, kx, au]) => version !== 'TLSv1.3' && !/PSK|SRP/.test(kx) && (au === `Au=${l.keyType}` || au === 'Au=None'))
      .map(([suite, , kx, , enc]) => ({ suite, allowed: kx === 'Kx=ECDH' && /^Enc=(AESGCM\(\d+\)|CHACHA20\/POLY1305\(256\))$/.test(enc) }));
    const allowed = suites.filter((s) => s.allowed);
    assert.equal(allowed.length, 3, `expected 3 allowed suites for ${l.keyType}: ${JSON.stringify(allowed)}`);
    for (const s of allowed) {
      const r = await sClient(l.port, ['-tls1_2', '-cipher', `${s.suite}:@SECLEVEL=0`, ...l.clientCert]);
      assert.ok(r.accepted, `${s.suite} refused:\n${r.output}`);
      assert.equal(r.cipher, s.suite);
    }
    const weak = suites.filter((s) => !s.allowed);
    console.log(`${name}: ${allowed.length} suites accepted, ${weak.length} refused: ${weak.map((s) => s.suite).join(' ')}`);
    // Among them: NULL (no encryption), aNULL (ADH-*, AECDH-*: no authentication), CBC with
    // SHA-1 and SHA-2 MACs, static RSA key exchange, DHE, CCM, CCM8, ARIA, Camellia.
    assert.ok(weak.some((s) => /NULL/.test(s.suite)) && weak.some((s) => /^(ADH|AECDH)-/.test(s.suite)) &&
      weak.some((s) => /-SHA$/.test(s.suite)), 'the sweep lacks a class of weak suites');
    await assertRefused(l, weak.map((s) => ['-tls1_2', '-cipher', `${s.suite}:@SECLEVEL=0`, ...l.clientCert]),
      { outcome: 'handshake', expect: /alert handshake failure/ });
  });

  test(`${name}: TLS 1.3 accepts OpenSSL's default AEAD suites and refuses the CCM ones`, async (t) => {
    if (!requireOpenssl(t)) return;
    const l = listeners[name];
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
      const r = await sClient(l.port, ['-tls1_3', '-ciphersuites', suite, ...l.clientCert]);
      assert.ok(r.accepted, `${suite} refused:\n${r.output}`);
      assert.equal(r.cipher, suite);
    }
    await assertRefused(l, ['TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256'].map((s) => ['-tls1_3', '-ciphersuites', s, ...l.clientCert]),
      { outcome: 'handshake', expect: /alert handshake failure/ });
  });

  test(`${name}: a ClientHello offering only RC4, 3DES, DES or EXPORT suites gets a handshake_failure alert`, async (t) => {
    if (!requireOpenssl(t)) return;  // the listeners need openssl-made certificates
    const l = listeners[name];
    // IANA code points, for both key types (ECDHE-ECDSA, ECDHE-RSA, RSA, DHE-RSA).
    const classes = {
      RC4: [0xc007, 0xc011, 0x0005, 0x0004],
      '3DES': [0xc008, 0xc012, 0x000a, 0x0016],
      DES: [0x0009, 0x0015],
      EXPORT: [0x0003, 0x0006, 0x0008, 0x0014]
    };
    // The hello is well-formed: the same hello offering an allowed suite gets a ServerHello.
    const prior = await handshakes(l, 'handshake');
    assert.deepEqual(await firstRecord(l.port, [0xc02b, 0xc02f]), { type: 0x16, handshakeType: 2 });
    // That client left within the handshake, which the listener counts too: once it has, so that
    // it is not taken for one of the refusals below (the count races the client's next request).
    await until(async () => (await handshakes(l, 'handshake')) > prior, { what: 'the abandoned handshake counted' });
    const before = await handshakes(l, 'handshake');
    for (const [cls, suites] of Object.entries(classes))
      assert.deepEqual(await firstRecord(l.port, suites), { type: 0x15, alert: [2, 40] }, `${cls} suites were not refused`);
    const refused = Object.keys(classes).length;
    await until(async () => (await handshakes(l, 'handshake')) - before >= refused, { what: 'the refusals counted' });
    assert.equal(await handshakes(l, 'handshake') - before, refused, 'refusals counted');
  });
}

test('inbound gate: without a client certificate, or with one from another CA, nothing gets through (TLS 1.2 and 1.3)', async (t) => {
  if (!requireOpenssl(t)) return;
  const l = listeners['inbound gate (mTLS, ECDSA)'];
  const foreign = ['-cert', `${pki}/foreign.crt`, '-key', `${pki}/foreign.key`];
  // TLS 1.2 refuses within the handshake; TLS 1.3 after the client's Finished, before any data.
  await assertRefused(l, [['-tls1_2'], ['-tls1_3']], { outcome: 'no_certificate', expect: /alert (handshake failure|certificate required)/ });
  await assertRefused(l, [['-tls1_2', ...foreign], ['-tls1_3', ...foreign]], { outcome: 'unknown_ca', expect: /alert unknown ca/ });
});

test('the images run as a numeric non-root user (the built images: tests/delivery/images.test.mjs)', () => {
  // images.test.mjs inspects the images podman built (Config.User 65532:65532); this checks the
  // Dockerfiles that make them: the last stage's last USER is a numeric uid:gid other than 0.
  for (const file of ['Dockerfile', 'examples/kyc/Dockerfile']) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const lastStage = text.slice(text.lastIndexOf('\nFROM '));
    const user = [...lastStage.matchAll(/^USER\s+(\S+)\s*$/gm)].at(-1)?.[1];
    assert.match(user ?? '', /^[1-9]\d*:[1-9]\d*$/, `${file}: the final stage runs as ${user ?? 'root (no USER)'}`);
  }
});

// Sends a TLS 1.2 ClientHello offering `suites` (IANA code points) and resolves the server's
// first record: {type: 0x16, handshakeType} for a handshake message, {type: 0x15, alert:
// [level, description]} for an alert.
function firstRecord(port, suites) {
  const u16 = (n) => [n >> 8, n & 0xff];
  const ext = (type, body) => [...u16(type), ...u16(body.length), ...body];
  const list16 = (values) => [...u16(values.length * 2), ...values.flatMap(u16)];
  const extensions = [
    ...ext(0x000a, list16([0x001d, 0x0017, 0x0018])),           // supported_groups: x25519, P-256, P-384
    ...ext(0x000b, [1, 0]),                                      // ec_point_formats: uncompressed
    ...ext(0x000d, list16([0x0403, 0x0804, 0x0401, 0x0201]))    // signature_algorithms
  ];
  const body = [0x03, 0x03, ...crypto.randomBytes(32), 0, ...list16(suites), 1, 0, ...u16(extensions.length), ...extensions];
  const handshake = [1, 0, ...u16(body.length), ...body];
  const hello = Buffer.from([0x16, 0x03, 0x01, ...u16(handshake.length), ...handshake]);
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(hello));
    let got = Buffer.alloc(0);
    s.setTimeout(10000, () => s.destroy(new Error('no answer to the ClientHello within 10 s')));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length < 7) return;
      s.destroy();
      resolve(got[0] === 0x15 ? { type: 0x15, alert: [got[5], got[6]] } : { type: got[0], handshakeType: got[5] });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed after ${got.length} bytes`)));
  });
}
