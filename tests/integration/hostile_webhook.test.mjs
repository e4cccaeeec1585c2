// Hostile and malformed input on the injection webhook (`mcp-sidecar inject --webhook`, POST
// /inject over TLS). Every case asserts the exact answer, that no patch was produced for it (the
// injected count of mcp_sidecar_inject_reviews_total, and the answer itself), and that the
// webhook still injects a good review afterwards.
//
// The contract (docs/configuration.md "inject", src/inject/review.cpp, src/inject/webhook.cpp):
// - TLS only: plain HTTP, garbage, a silent or stalled handshake: closed.
// - HTTP framing: as on every listener (raw_http.mjs framingCases); a review over
//   max_review_bytes: 413 before it is read.
// - A body that is not an AdmissionReview v1 (not JSON, nested past 128, invalid UTF-8, another
//   type, apiVersion or kind, a request without uid, kind or, to create, an object, fields of
//   the wrong type): 400 {"error": {"code": "bad_request"}}, no patch.
// - A review of something that is not a pod to inject (another kind, a subresource, DELETE or
//   an unknown operation, an object whose metadata is not an object): allowed, no patch; a pod
//   whose annotations or spec cannot be injected: allowed: false with status 400, no patch.
//   Duplicate keys: the last counts, as in the API server's decoder.
// - Another path: 404; another method: 405.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { SIDECAR_BIN, metricValue, request, startSidecar } from './helpers.mjs';
import { SMALL_LIMITS, framingCases, httpRequest, limitsConfig, testCases, tlsCases } from './raw_http.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = fs.mkdtempSync('/tmp/it-hostile-webhook-');
const pki = path.join(dir, 'pki');
let webhook;

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'agent', namespace: 'agents', annotations: { 'mcp-sidecar.io/inject': 'true' } },
  spec: { containers: [{ name: 'agent', image: 'registry.example/agent:1.0' }] }
};
// An AdmissionReview v1 creating `object` (a Pod by default); `request` overrides its fields.
const review = (object = POD, request = {}) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'agents',
    operation: 'CREATE',
    object,
    ...request
  }
});
const HEADERS = [['Host', 'localhost'], ['Content-Type', 'application/json']];

const L = {
  good: { method: 'POST', path: '/inject', headers: HEADERS, body: JSON.stringify(review()) },
  status: 200,
  headStatus: 405,
  limits: SMALL_LIMITS,
  // Reviews answered with a patch so far.
  effects: async () => metricValue((await request(`${webhook.admin}/metrics`)).body, 'mcp_sidecar_inject_reviews_total', { outcome: 'injected' })
};

before(async () => {
  execFileSync(path.join(ROOT, 'certs-dev/make-certs.sh'), [pki], { stdio: 'ignore' });
  webhook = await startSidecar({
    bin: SIDECAR_BIN,
    dir,
    argsPrefix: ['inject', '--webhook'],
    expectRoles: ['inject', 'admin'],
    config: {
      // registry's certificate names localhost and 127.0.0.1.
      inject: {
        listen: '127.0.0.1:0',
        tls: { cert_file: `${pki}/registry.crt`, key_file: `${pki}/registry.key` },
        // The webhook's body limit is max_review_bytes (an undefined key is not written).
        max_review_bytes: SMALL_LIMITS.body,
        limits: { ...limitsConfig(SMALL_LIMITS), max_body_bytes: undefined }
      },
      admin: { listen: '127.0.0.1:0' },
      shutdown: { delay_seconds: 0, grace_seconds: 1 }
    }
  });
  const port = Number(webhook.addresses.inject.split(':')[1]);
  Object.assign(L, { target: { port, tls: { ca: fs.readFileSync(`${pki}/ca.crt`), servername: 'localhost' } }, proc: webhook.proc });
});
after(async () => {
  assert.equal(await webhook.stop(), 0);
});

testCases(test, L, [...tlsCases(L), ...framingCases(L)]);

const post = (body, target = '/inject', method = 'POST') =>
  httpRequest(method, target, { headers: HEADERS, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
const noPatch = (r) => assert.equal(r.responses[0].json?.response?.patch, undefined, r.responses[0].body);
const invalid = (what, body) => ({ name: `${what}: 400 bad_request, no patch`, send: post(body), statuses: [400], code: 'bad_request', runs: 0, check: noPatch });
// Reviewed (200) and answered allowed or not, without a patch; a denial says why, with 400.
const reviewed = (allowed) => (what, body) => ({
  name: `${what}: ${allowed ? 'allowed' : 'denied with status 400'}, no patch`,
  send: post(body),
  statuses: [200],
  runs: 0,
  check: (r) => {
    noPatch(r);
    const { response } = r.responses[0].json;
    assert.equal(response.allowed, allowed);
    if (!allowed) assert.equal(response.status.code, 400);
  }
});
const allowed = reviewed(true);
const denied = reviewed(false);
const { uid, ...noUid } = review().request;
const { kind, ...noKind } = review().request;
const { object, ...noObject } = review().request;
const good = JSON.stringify(review());

testCases(test, L, [
  // Not an AdmissionReview v1.
  invalid('not JSON', 'apiVersion: admission.k8s.io/v1'),
  invalid('JSON cut short', good.slice(0, good.length / 2)),
  invalid('JSON nested 200 deep', JSON.stringify(review({ ...POD, spec: { x: JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) } }))),
  invalid('60000 unclosed brackets', '['.repeat(60000)),
  invalid('invalid UTF-8 in a string', Buffer.concat([Buffer.from(good.split(POD.spec.containers[0].image)[0]), Buffer.from([0xff, 0xfe]), Buffer.from(good.split(POD.spec.containers[0].image)[1])])),
  invalid('a JSON array', [review()]),
  invalid('a JSON string', '"AdmissionReview"'),
  invalid('JSON null', 'null'),
  invalid('an empty body', ''),
  invalid('a Pod instead of a review', POD),
  invalid('apiVersion admission.k8s.io/v1beta1', { ...review(), apiVersion: 'admission.k8s.io/v1beta1' }),
  invalid('apiVersion a number', { ...review(), apiVersion: 1 }),
  invalid('kind AdmissionResponse', { ...review(), kind: 'AdmissionResponse' }),
  invalid('duplicate apiVersion keys, the last one v1beta1', good.replace('"apiVersion":"admission.k8s.io/v1"', '"apiVersion":"admission.k8s.io/v1","apiVersion":"admission.k8s.io/v1beta1"')),
  invalid('no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
  invalid('request null', { ...review(), request: null }),
  invalid('request a list', { ...review(), request: [review().request] }),
  invalid('no request.uid', { ...review(), request: noUid }),
  invalid('request.uid a number', review(POD, { uid: 42 })),
  invalid('request.uid empty', review(POD, { uid: '' })),
  invalid('request.uid of 300 characters', review(POD, { uid: 'u'.repeat(300) })),
  invalid('no request.kind', { ...review(), request: noKind }),
  invalid('request.kind a string', review(POD, { kind: 'Pod' })),
  invalid('request.kind.kind empty', review(POD, { kind: { group: '', version: 'v1', kind: '' } })),
  invalid('request.namespace a number', review(POD, { namespace: 7 })),
  invalid('request.operation a number', review(POD, { operation: 1 })),
  invalid('request.subResource an object', review(POD, { subResource: {} })),
  invalid('no request.object to create', { ...review(), request: noObject }),
  invalid('request.object null', review(null)),
  invalid('request.object a list', review([POD])),
  invalid('request.object a string', review(JSON.stringify(POD))),
  // Reviews of what is not a pod to inject: allowed, no patch.
  allowed('a ConfigMap with the annotation', review({ apiVersion: 'v1', kind: 'ConfigMap', metadata: POD.metadata, data: {} }, { kind: { group: '', version: 'v1', kind: 'ConfigMap' } })),
  allowed('an annotated Pod under request.kind ConfigMap', review(POD, { kind: { group: '', version: 'v1', kind: 'ConfigMap' } })),
  allowed('a kind the injector does not know', review(POD, { kind: { group: 'example.io', version: 'v1', kind: 'Widget' } })),
  allowed('a DELETE with garbage for an object', review('garbage', { operation: 'DELETE' })),
  allowed('an unknown operation', review(POD, { operation: 'EXPLODE' })),
  allowed('a subresource', review(POD, { subResource: 'status' })),
  allowed('metadata that is a string', review({ ...POD, metadata: 'agent' })),
  allowed('annotations that are a list', review({ ...POD, metadata: { name: 'agent', annotations: ['mcp-sidecar.io/inject'] } })),
  allowed('duplicate inject annotations, the last one "false"', good.replace('"mcp-sidecar.io/inject":"true"', '"mcp-sidecar.io/inject":"true","mcp-sidecar.io/inject":"false"')),
  // Pods that ask for injection but cannot have it: denied, no patch.
  denied('containers that are a string', review({ ...POD, spec: { containers: 'agent' } })),
  denied('containers that are not objects', review({ ...POD, spec: { containers: [42] } })),
  denied('no spec', review({ ...POD, spec: undefined })),
  denied('the inject annotation a boolean', review({ ...POD, metadata: { ...POD.metadata, annotations: { 'mcp-sidecar.io/inject': true } } })),
  denied('an image annotation of 7000 characters', review({ ...POD, metadata: { ...POD.metadata, annotations: { ...POD.metadata.annotations, 'mcp-sidecar.io/image': 'x'.repeat(7000) } } })),
  denied('an unknown mcp-sidecar.io annotation', review({ ...POD, metadata: { ...POD.metadata, annotations: { ...POD.metadata.annotations, 'mcp-sidecar.io/evil': '1' } } })),
  denied('a gate port out of range', review({ ...POD, metadata: { ...POD.metadata, annotations: { ...POD.metadata.annotations, 'mcp-sidecar.io/role': 'inbound', 'mcp-sidecar.io/gate-port': '99999' } } })),
  // Paths and methods.
  ...['/inject/', '/inject%00', '//inject', '/mutate', '/inject/../inject', '/INJECT'].map((p) => ({ name: `POST ${p}: 404`, send: post(good, p), statuses: [404], code: 'not_found', runs: 0 })),
  ...[['CONNECT', 'localhost:443'], ['POST', 'https://evil.example/inject'], ['OPTIONS', '*']].map(([method, target]) => ({
    name: `${method} ${target}: 404`,
    send: httpRequest(method, target, { headers: HEADERS }),
    statuses: [404],
    code: 'not_found',
    runs: 0
  })),
  ...['GET', 'PUT', 'TRACE', 'PROPFIND', 'post'].map((method) => ({ name: `${method} /inject: 405`, send: post(good, '/inject', method), statuses: [405], code: 'method_not_allowed', runs: 0 }))
]);
