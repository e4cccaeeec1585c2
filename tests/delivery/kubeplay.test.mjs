// The pods charts/kyc renders run under `podman kube play` and serve a KYC case: the chart with
// examples/kube-play.yaml (classic sidecars, since podman runs init containers to completion; local
// images; a fixed bearer token), its Deployments, ConfigMaps and tokens Secret played on a podman
// network of this run whose DNS (aardvark-dns) resolves pod names, so the orchestrator's sidecar
// calls each gate at <pod name>:7443 as the example's addresses say. Every port the pods declare
// is published on a free loopback port; the test reaches the pods through those only, and from
// inside the orchestrator's pod checks that a server app is reachable through its gate only.
//
// What podman 4.3 (Debian 12) needs besides, applied to the rendered objects by forPodman43():
//   - it publishes every containerPort on the host at the same number on all addresses (no
//     --publish yet; podman 5 publishes only hostPorts): the four gates would all want 7443, so
//     each port gets hostIP 127.0.0.1 and a free hostPort;
//   - a secret volume without `optional` crashes it (containers/podman#16636): `optional: false`;
//   - it writes a Secret's `data` into the volume still base64-encoded, and takes only base64 in
//     a kube file's Secret: the test stores the Secret with `podman secret create`, values decoded.
// Also seen and harmless here: volume `items` and `defaultMode` are ignored (every key, mode
// 0644), emptyDirs of the same name are shared between pods, probes become healthchecks that
// need systemd (none here, so podman logs an error and runs none; this test polls /readyz), and
// `kube down` leaves ConfigMap and Secret volumes and secrets, which the test removes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  MINUTE, ROOT, ensureImages, freePort, helmOk, parseDocs, podSpecOf, podman, podmanOk, podmanUsable, toYaml, untilAnswers
} from './lib.mjs';

const CHART = path.join(ROOT, 'charts/kyc');
const EXAMPLE = path.join(CHART, 'examples/kube-play.yaml');
const SERVERS = ['registry', 'sanctions', 'pep', 'risk'];
const TOKEN = 'kube-play-orchestrator-token-0123456789'; // the example's, not a secret

const progress = (msg) => process.stderr.write(`kubeplay: ${msg}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

// podman 4.3 names the pod of Deployment <name> "<name>-pod-0" and its containers
// "<pod>-<container>"; aardvark-dns answers the pod name on the pod's networks.
const podOf = (deployment) => `${deployment}-pod-0`;

// The rendered objects as podman 4.3 can play them (see the top of this file): the kube file's
// documents, the Secrets to store with `podman secret create` (values decoded), and per pod the
// loopback port each declared port is published on.
async function forPodman43(objs) {
  const play = [];
  const secrets = [];
  const published = {};
  for (const obj of objs) {
    if (obj.kind === 'Secret') {
      const data = Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
      secrets.push({ ...obj, data });
      continue;
    }
    play.push(obj);
    if (obj.kind !== 'Deployment') continue;
    const spec = podSpecOf(obj);
    for (const volume of spec.volumes ?? []) if (volume.secret) volume.secret.optional ??= false;
    const ports = (published[podOf(obj.metadata.name)] = {});
    for (const port of spec.containers.flatMap((c) => c.ports ?? [])) {
      Object.assign(port, { hostIP: '127.0.0.1', hostPort: await freePort() });
      ports[port.name] = port.hostPort;
    }
  }
  return { play, secrets, published };
}

test('charts/kyc under podman kube play: classic-mode pods serve a KYC case', { timeout: 45 * MINUTE }, async (t) => {
  if (!(await podmanUsable(t))) return;
  await ensureImages({ rebuild: false, log: progress });
  progress(`podman ${(await podmanOk(['version', '--format', '{{.Client.Version}}'])).trim()}`);

  // The example's addresses are the pod names podman gives release `kyc`; this run plays its own
  // release, so its own pod names.
  const example = parseDocs(fs.readFileSync(EXAMPLE, 'utf8'))[0];
  for (const name of SERVERS) assert.equal(example.servers[name].address, `${podOf(`kyc-${name}`)}:7443`, `${EXAMPLE}: ${name}`);
  const release = `kyc-${randomBytes(3).toString('hex')}`;
  const pods = Object.fromEntries([...SERVERS, 'orchestrator'].map((w) => [w, podOf(`${release}-${w}`)]));

  helmOk(['dependency', 'build', CHART]);
  const addresses = SERVERS.flatMap((name) => ['--set', `servers.${name}.address=${pods[name]}:7443`]);
  const rendered = parseDocs(helmOk(['template', release, CHART, '-n', 'kyc', '-f', EXAMPLE, ...addresses]));
  // podman plays Pods/Deployments, ConfigMaps and Secrets; the rest must be what a runtime without
  // a cluster has no use for.
  const played = new Set(['Deployment', 'ConfigMap', 'Secret']);
  assert.deepEqual([...new Set(rendered.map((o) => o.kind).filter((k) => !played.has(k)))].sort(), ['Service', 'ServiceAccount']);
  const { play, secrets, published } = await forPodman43(rendered.filter((o) => played.has(o.kind)));
  assert.equal(Object.keys(published).length, 5);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeplay-'));
  const kubeFile = path.join(dir, 'kyc.yaml');
  fs.writeFileSync(kubeFile, play.map(toYaml).join('---\n'));
  const network = `${release}-net`;
  t.after(async () => {
    const started = Date.now();
    const quiet = (args) => podman(args, { timeoutMs: 2 * MINUTE }).catch(() => {});
    await quiet(['kube', 'down', kubeFile]);
    await quiet(['pod', 'rm', '--force', '--ignore', ...Object.values(pods)]); // a half-played run
    // kube down leaves the volumes podman made of ConfigMaps and Secrets (named after them).
    const volumes = play.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name);
    for (const v of [...volumes, ...secrets.map((s) => s.metadata.name)]) await quiet(['volume', 'rm', '--force', v]);
    for (const s of secrets) await quiet(['secret', 'rm', s.metadata.name]);
    await quiet(['network', 'rm', '--force', network]);
    fs.rmSync(dir, { recursive: true, force: true });
    progress(`torn down in ${seconds(started)}`);
  });

  // A bridge network of this run with DNS (netavark + aardvark-dns). Not --internal: netavark
  // forwards no published ports there.
  await podmanOk(['network', 'create', network]);
  for (const secret of secrets) {
    const file = path.join(dir, `${secret.metadata.name}.yaml`);
    fs.writeFileSync(file, toYaml(secret), { mode: 0o600 });
    await podmanOk(['secret', 'create', secret.metadata.name, file]);
  }
  let started = Date.now();
  await podmanOk(['kube', 'play', '--network', network, kubeFile], { timeoutMs: 3 * MINUTE });
  progress(`kube play: ${Object.values(pods).join(', ')} in ${seconds(started)}`);
  for (const pod of Object.values(pods)) assert.equal((await podman(['pod', 'exists', pod])).status, 0, `pod ${pod}`);

  const local = (pod, port, p = '') => `http://127.0.0.1:${published[pod][port]}${p}`;
  // Why a pod is not ready yet, for the failure message: its containers' states.
  const states = async (pod) => (await podman(['ps', '--all', '--filter', `pod=${pod}`, '--format', '{{.Names}}: {{.Status}}'])).stdout;

  await t.test('every sidecar ready, the orchestrator up', async () => {
    started = Date.now();
    for (const pod of Object.values(pods)) {
      try {
        await untilAnswers(local(pod, 'admin', '/readyz'), MINUTE, `${pod} sidecar`, { until: (s) => s === 200 });
      } catch (err) {
        throw new Error(`${err.message}\n${await states(pod)}`);
      }
    }
    await untilAnswers(local(pods.orchestrator, 'http', '/healthz'), MINUTE, 'orchestrator', { until: (s) => s === 200 });
    progress(`all ready ${seconds(started)} after kube play`);
  });

  await t.test('POST /cases: GB-10001 is approved after 9 calls through the gates', async () => {
    started = Date.now();
    const res = await fetch(local(pods.orchestrator, 'http', '/cases'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ company: 'GB-10001', case_id: `${release}-1` }),
      signal: AbortSignal.timeout(MINUTE)
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual({ ...body, ms: 0 }, { case_id: `${release}-1`, company: 'GB-10001', decision: 'approve', calls: 9, ms: 0 });
    progress(`case answered in ${seconds(started)} (${body.ms} ms in the orchestrator)`);
  });

  await t.test('the gates authenticated the orchestrator by its token, and refuse callers without it', async () => {
    for (const name of SERVERS) {
      const metrics = await (await fetch(local(pods[name], 'admin', '/metrics'))).text();
      const ok = Number(metrics.match(/^mcp_sidecar_auth_total\{method="bearer",outcome="ok"\} (\d+)$/m)?.[1] ?? 0);
      assert.ok(ok > 0, `${name}: no authenticated bearer calls`);
    }
    const mcpPath = (name) => (name === 'pep' ? '/sse' : '/mcp');
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'kubeplay', version: '1' } } };
    for (const name of SERVERS) {
      for (const authorization of [undefined, `Bearer not-${TOKEN}`]) {
        const res = await fetch(local(pods[name], 'mcp', mcpPath(name)), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...(authorization && { Authorization: authorization }) },
          body: JSON.stringify(initialize),
          signal: AbortSignal.timeout(10_000)
        });
        assert.equal(res.status, 401, `${name} ${authorization ? 'with a wrong token' : 'without a token'}: ${await res.text()}`);
      }
    }
  });

  await t.test("from another pod, a server's gate answers and its app port 8000 does not", async () => {
    // Connects from inside the orchestrator's pod (its app container has Node) to each server pod
    // by name: the gate must accept, the app (127.0.0.1:8000 in its own pod) must refuse.
    const probe = `
      const net = require('node:net');
      const hosts = ${JSON.stringify(SERVERS.map((s) => pods[s]))};
      const dial = (host, port) => new Promise((done) => {
        const s = net.connect({ host, port, timeout: 5000 }, () => { s.destroy(); done('connected'); });
        s.on('timeout', () => { s.destroy(); done('timeout'); });
        s.on('error', (e) => done(e.code));
      });
      (async () => {
        const out = {};
        for (const h of hosts) out[h] = { 7443: await dial(h, 7443), 8000: await dial(h, 8000) };
        console.log(JSON.stringify(out));
      })();`;
    const out = await podmanOk(['exec', `${pods.orchestrator}-orchestrator`, 'node', '-e', probe], { timeoutMs: MINUTE });
    const expected = Object.fromEntries(SERVERS.map((s) => [pods[s], { 7443: 'connected', 8000: 'ECONNREFUSED' }]));
    assert.deepEqual(JSON.parse(out), expected);
  });
});
