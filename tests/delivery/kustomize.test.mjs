// The plain manifests (k8s/): `kubectl kustomize` renders the base and its dev (bearer) and prod
// (mTLS) overlays; every object passes the Kubernetes schema check, and what the KYC layout
// promises (docs/kubernetes.md) holds on the rendered objects: only the gate port
// exposed, native sidecars with their probes, NetworkPolicies, identities that match the
// ServiceAccounts, restricted containers, and sidecar configs that the real binary accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, kubectl, parseDocs, podSpecOf, run, skipOrFail, validateAll } from './lib.mjs';

const NS = 'kyc';
const SERVERS = {
  registry: { transport: 'stateless', path: '/mcp', affinity: 'None' },
  sanctions: { transport: 'streamable-http', path: '/mcp', affinity: 'ClientIP' },
  pep: { transport: 'sse', path: '/sse', affinity: 'ClientIP' },
  risk: { transport: 'streamable-http', path: '/mcp', affinity: 'ClientIP' },
};
const WORKLOADS = [...Object.keys(SERVERS), 'orchestrator'];
const COMMON_LABELS = {
  'app.kubernetes.io/name': 'kyc',
  'app.kubernetes.io/instance': 'kyc',
  'app.kubernetes.io/part-of': 'kyc',
  'app.kubernetes.io/managed-by': 'kustomize',
};
const CONFIG = '/etc/mcp-sidecar/config.yaml';
const TLS_DIR = '/var/run/mcp-sidecar/tls';
const TOKENS_DIR = '/var/run/mcp-sidecar/tokens';
const CERT_MANAGER_KEYS = ['tls.crt', 'tls.key', 'ca.crt'];
const SIDECAR_BIN = path.resolve(ROOT, process.env.MCP_SIDECAR_BIN || 'build/release/src/mcp-sidecar');

const spiffe = (serviceAccount) => `spiffe://cluster.local/ns/${NS}/sa/${serviceAccount}`;
const serviceHost = (workload) => `kyc-${workload}.${NS}.svc.cluster.local`;

// A selector selects labels when every one of its (at least one) pairs is among them.
const selects = (selector, labels) =>
  Object.keys(selector ?? {}).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

// The objects of one rendering, and the ways the checks look into them.
class Layout {
  constructor(objs) {
    this.objs = objs;
  }
  all(kind) {
    return this.objs.filter((o) => o.kind === kind);
  }
  find(kind, name) {
    return this.objs.find((o) => o.kind === kind && o.metadata?.name === name);
  }
  get(kind, name) {
    const o = this.find(kind, name);
    assert.ok(o, `${kind}/${name} is not rendered`);
    return o;
  }
  deployment(workload) {
    return this.get('Deployment', `kyc-${workload}`);
  }
  pod(workload) {
    return podSpecOf(this.deployment(workload));
  }
  podLabels(workload) {
    return this.deployment(workload).spec.template.metadata.labels;
  }
  sidecar(workload) {
    const c = (this.pod(workload).initContainers ?? []).find((c) => c.name === 'mcp-sidecar');
    assert.ok(c, `kyc-${workload} has no mcp-sidecar init container`);
    return c;
  }
  app(workload) {
    const containers = this.pod(workload).containers;
    assert.equal(containers.length, 1, `kyc-${workload}: one app container`);
    return containers[0];
  }
  // The volume mounted at mountPath in the container, or undefined.
  volumeAt(workload, container, mountPath) {
    const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === mountPath);
    return mount && (this.pod(workload).volumes ?? []).find((v) => v.name === mount.name);
  }
  // A volume's files as rendered ({name: content}), or null when the rendering does not hold them
  // (a Secret made by cert-manager or by the user).
  files(volume) {
    if (volume.configMap) return this.get('ConfigMap', volume.configMap.name).data;
    if (volume.emptyDir) return {};
    const secret = volume.secret && this.find('Secret', volume.secret.secretName);
    if (!secret) return null;
    return Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  }
  configText(workload) {
    const volume = this.volumeAt(workload, this.sidecar(workload), path.dirname(CONFIG));
    assert.ok(volume?.configMap, `kyc-${workload}: the sidecar mounts no ConfigMap at ${path.dirname(CONFIG)}`);
    const text = this.files(volume)[path.basename(CONFIG)];
    assert.ok(text, `kyc-${workload}: ConfigMap ${volume.configMap.name} has no ${path.basename(CONFIG)}`);
    return text;
  }
  config(workload) {
    return parseDocs(this.configText(workload))[0];
  }
}

const rendered = new Map();
function render(variant) {
  if (!rendered.has(variant)) {
    const r = kubectl(['kustomize', path.join(ROOT, 'k8s', variant)]);
    assert.equal(r.status, 0, `kubectl kustomize k8s/${variant} failed:\n${r.stderr}`);
    rendered.set(variant, new Layout(parseDocs(r.stdout)));
  }
  return rendered.get(variant);
}

// A port as a number: named ports are looked up in the container that declares them.
function portNumber(container, port) {
  if (typeof port === 'number') return port;
  const found = (container.ports ?? []).find((p) => p.name === port);
  assert.ok(found, `container ${container.name} declares no port named ${port}`);
  return found.containerPort;
}

// Every `*_file` value of a sidecar config, as [key, path].
function configFiles(node, at = '') {
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => {
    const key = at ? `${at}.${k}` : k;
    return k.endsWith('_file') && typeof v === 'string' ? [[key, v]] : configFiles(v, key);
  });
}

// Moves every path in text that starts with one of the mount points under root, in one pass, so
// that a moved path is not moved again (by /tmp, say).
function moveUnder(root, text, mountPoints) {
  const longestFirst = [...mountPoints].sort((a, b) => b.length - a.length);
  const escaped = longestFirst.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`(?<![\\w./-])(${escaped.join('|')})/`, 'g');
  return text.replace(pattern, (_, m) => `${path.join(root, m)}/`);
}

const VARIANTS = ['base', 'overlays/dev', 'overlays/prod'];
const MTLS_VARIANTS = ['base', 'overlays/prod'];

for (const variant of VARIANTS) {
  test(`${variant}: renders the whole layout, every object valid against the Kubernetes schemas`, async () => {
    const layout = render(variant);
    const errors = await validateAll(layout.objs);
    assert.deepEqual(errors, [], `schema errors:\n${errors.join('\n')}`);

    const perWorkload = ['ServiceAccount', 'Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ConfigMap'];
    const expected = Object.fromEntries([['Namespace', 1], ...perWorkload.map((kind) => [kind, WORKLOADS.length])]);
    Object.assign(expected, { 'overlays/dev': { Secret: 1 }, 'overlays/prod': { Certificate: WORKLOADS.length } }[variant]);
    const counts = {};
    for (const o of layout.objs) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
    assert.deepEqual(counts, expected);

    for (const w of WORKLOADS) {
      for (const kind of perWorkload.filter((k) => k !== 'ConfigMap')) layout.get(kind, `kyc-${w}`);
      // A config's name carries a hash of its content: a changed config rolls the pods.
      const { configMap } = layout.volumeAt(w, layout.sidecar(w), path.dirname(CONFIG));
      assert.match(configMap.name, new RegExp(`^kyc-${w}-sidecar-[a-z0-9]{10}$`), `kyc-${w}: config name`);
    }
    for (const o of layout.objs) {
      const where = `${o.kind}/${o.metadata.name}`;
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, NS, `${where}: namespace`);
      for (const [k, v] of Object.entries(COMMON_LABELS)) assert.equal(o.metadata.labels?.[k], v, `${where}: label ${k}`);
    }
    for (const w of WORKLOADS) {
      const labels = layout.podLabels(w);
      const role = w === 'orchestrator' ? 'outbound' : 'inbound';
      const want = { ...COMMON_LABELS, 'app.kubernetes.io/component': w, 'mcp-sidecar.io/role': role };
      for (const [k, v] of Object.entries(want)) assert.equal(labels[k], v, `kyc-${w} pods: label ${k}`);
      assert.ok(selects(layout.deployment(w).spec.selector.matchLabels, labels), `kyc-${w}: selector`);
      const pdb = layout.get('PodDisruptionBudget', `kyc-${w}`);
      assert.ok(selects(pdb.spec.selector.matchLabels, labels), `PodDisruptionBudget/kyc-${w} selects its pods`);
    }
  });

  test(`${variant}: server Services expose only the gate port 7443, with affinity for session servers`, () => {
    const layout = render(variant);
    for (const [w, server] of Object.entries(SERVERS)) {
      const svc = layout.get('Service', `kyc-${w}`);
      assert.ok([undefined, 'ClusterIP'].includes(svc.spec.type), `Service/kyc-${w}: type ${svc.spec.type}`);
      assert.deepEqual(svc.spec.ports.map((p) => p.port), [7443], `Service/kyc-${w}: ports`);
      assert.equal(portNumber(layout.sidecar(w), svc.spec.ports[0].targetPort), 7443, `Service/kyc-${w}: target`);
      assert.ok(layout.sidecar(w).ports.some((p) => p.containerPort === 7443), `kyc-${w}: the gate declares 7443`);
      for (const other of WORKLOADS)
        assert.equal(selects(svc.spec.selector, layout.podLabels(other)), other === w, `Service/kyc-${w} vs kyc-${other}`);
      assert.equal(svc.spec.sessionAffinity ?? 'None', server.affinity, `Service/kyc-${w}: sessionAffinity`);
      const gate = layout.config(w).inbound;
      assert.equal(gate.listen, '0.0.0.0:7443', `kyc-${w}: the gate listens on 7443`);
      assert.equal(gate.forward_to, 'http://127.0.0.1:8000', `kyc-${w}: the gate forwards to loopback`);
    }
    const svc = layout.get('Service', 'kyc-orchestrator');
    assert.deepEqual(svc.spec.ports.map((p) => p.port), [8080]);
    assert.equal(portNumber(layout.app('orchestrator'), svc.spec.ports[0].targetPort), 8080);
  });

  test(`${variant}: every sidecar is a native sidecar with /healthz and /readyz probes on 9901`, () => {
    const layout = render(variant);
    for (const w of WORKLOADS) {
      const pod = layout.pod(w);
      assert.deepEqual(pod.initContainers.map((c) => c.name), ['mcp-sidecar'], `kyc-${w}: init containers`);
      const sidecar = layout.sidecar(w);
      assert.equal(sidecar.restartPolicy, 'Always', `kyc-${w}: native sidecar`);
      assert.equal(sidecar.image, 'mcp-sidecar:0.1.0');
      assert.deepEqual(sidecar.args, ['--config', CONFIG]);
      for (const [probe, want] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
        const get = sidecar[probe]?.httpGet;
        assert.equal(get?.path, want, `kyc-${w}: ${probe} path`);
        assert.equal(portNumber(sidecar, get.port), 9901, `kyc-${w}: ${probe} port`);
      }
      assert.equal(layout.config(w).admin?.listen, '0.0.0.0:9901', `kyc-${w}: admin listener`);
      const annotations = layout.deployment(w).spec.template.metadata.annotations ?? {};
      assert.equal(annotations['prometheus.io/scrape'], 'true', `kyc-${w}: scrape annotation`);
      assert.equal(annotations['prometheus.io/port'], '9901', `kyc-${w}: scrape port`);
      for (const c of [...pod.initContainers, ...pod.containers])
        for (const need of ['requests', 'limits'])
          assert.ok(c.resources?.[need]?.cpu && c.resources[need].memory, `kyc-${w}/${c.name}: resources.${need}`);
    }
    for (const [w, server] of Object.entries(SERVERS)) {
      const app = layout.app(w);
      assert.equal(app.image, 'mcp-sidecar-kyc:0.1.0');
      const args = ['server.mjs', w, '--host', '127.0.0.1', '--port', '8000', '--transport', server.transport];
      assert.deepEqual(app.args, args, `kyc-${w}: server args`);
    }
    const orchestrator = layout.app('orchestrator');
    assert.equal(orchestrator.image, 'mcp-sidecar-kyc:0.1.0');
    assert.deepEqual(orchestrator.args, ['orchestrator.mjs', '--serve', '8080', '--sidecar', 'http://127.0.0.1:7001']);
    assert.equal(layout.config('orchestrator').outbound.listen, '127.0.0.1:7001');
  });

  test(`${variant}: NetworkPolicies admit MCP only from the orchestrator, metrics only from monitoring`, () => {
    const layout = render(variant);
    const orchestratorPods = layout.podLabels('orchestrator');
    const fromMonitoring = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    for (const w of WORKLOADS) {
      const pods = layout.podLabels(w);
      const policies = layout.all('NetworkPolicy').filter((np) => selects(np.spec.podSelector.matchLabels, pods));
      assert.equal(policies.length, 1, `kyc-${w}: one NetworkPolicy selects its pods`);
      const { spec } = policies[0];
      assert.ok(spec.policyTypes.includes('Ingress'), `kyc-${w}: the policy governs ingress`);
      // Each port, and the sources its rules admit (a rule without `from` admits everyone).
      const sources = new Map();
      for (const rule of spec.ingress ?? [])
        for (const { port } of rule.ports ?? [{ port: 'any' }])
          sources.set(port, [...(sources.get(port) ?? []), rule.from ?? 'anyone']);
      const metrics = sources.get(9901);
      assert.deepEqual(metrics, [fromMonitoring], `kyc-${w}: 9901 only from the monitoring namespace`);
      if (w === 'orchestrator') {
        assert.deepEqual([...sources.keys()].sort(), [8080, 9901], 'kyc-orchestrator: its API and metrics only');
        continue;
      }
      assert.deepEqual([...sources.keys()].sort(), [7443, 9901], `kyc-${w}: no port but the gate's and the admin's`);
      const mcp = sources.get(7443);
      assert.equal(mcp.length, 1, `kyc-${w}: one rule for 7443`);
      assert.equal(mcp[0].length, 1, `kyc-${w}: one source for 7443`);
      const [peer] = mcp[0];
      assert.deepEqual(Object.keys(peer), ['podSelector'], `kyc-${w}: 7443 from pods of this namespace only`);
      for (const other of WORKLOADS)
        assert.equal(selects(peer.podSelector.matchLabels, layout.podLabels(other)), other === 'orchestrator',
          `kyc-${w}: 7443 from the orchestrator pods only (kyc-${other})`);
      assert.ok(selects(peer.podSelector.matchLabels, orchestratorPods));
    }
  });

  test(`${variant}: every container runs restricted: non-root 65532, read-only root, no privileges`, () => {
    const layout = render(variant);
    for (const w of WORKLOADS) {
      const pod = layout.pod(w);
      assert.equal(layout.get('ServiceAccount', `kyc-${w}`).automountServiceAccountToken, false, `kyc-${w}: no API token`);
      assert.notEqual(pod.automountServiceAccountToken, true, `kyc-${w}: no API token`);
      for (const c of [...pod.initContainers, ...pod.containers]) {
        const where = `kyc-${w}/${c.name}`;
        const sc = { ...pod.securityContext, ...c.securityContext }; // the container's settings win
        assert.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.equal(sc.runAsUser, 65532, `${where}: runAsUser`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
        assert.notEqual(c.securityContext?.privileged, true, `${where}: privileged`);
        assert.ok(c.securityContext?.capabilities?.drop?.includes('ALL'), `${where}: drops ALL capabilities`);
        assert.equal(c.securityContext?.capabilities?.add, undefined, `${where}: adds no capability`);
        assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
        assert.ok(layout.volumeAt(w, c, '/tmp')?.emptyDir, `${where}: /tmp is an emptyDir`);
      }
    }
  });

  test(`${variant}: the termination grace period covers the app's preStop and the sidecar's drain`, () => {
    const layout = render(variant);
    for (const w of WORKLOADS) {
      const pod = layout.pod(w);
      // docs/configuration.md's defaults where the config says nothing
      const shutdown = { delay_seconds: 5, grace_seconds: 20, close_timeout_seconds: 5, ...layout.config(w).shutdown };
      const preStop = Math.max(0, ...pod.containers.map((c) => c.lifecycle?.preStop?.sleep?.seconds ?? 0));
      const needed = preStop + shutdown.delay_seconds + shutdown.grace_seconds + shutdown.close_timeout_seconds;
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      assert.ok(grace >= needed, `kyc-${w}: terminationGracePeriodSeconds ${grace} < ${needed}`);
    }
  });

  test(`${variant}: every file a sidecar config names is in a volume its sidecar mounts`, () => {
    const layout = render(variant);
    for (const w of WORKLOADS) {
      const sidecar = layout.sidecar(w);
      const files = configFiles(layout.config(w));
      assert.ok(files.length > 0, `kyc-${w}: the config names its credentials`);
      for (const [key, file] of files) {
        const where = `kyc-${w}: ${key} ${file}`;
        const volume = layout.volumeAt(w, sidecar, path.dirname(file));
        assert.ok(volume, `${where}: no volume mounted at ${path.dirname(file)}`);
        const content = layout.files(volume);
        if (content) assert.ok(path.basename(file) in content, `${where}: not in the mounted ${volume.name}`);
        else {
          // A certificate Secret: cert-manager's layout, and in prod a Certificate fills it.
          assert.ok(volume.secret, `${where}: ${volume.name} is not a Secret`);
          assert.ok(CERT_MANAGER_KEYS.includes(path.basename(file)), `${where}: not a cert-manager Secret key`);
          const { secretName } = volume.secret;
          if (variant === 'overlays/prod')
            assert.ok(layout.all('Certificate').some((c) => c.spec.secretName === secretName), `${where}: no Certificate fills ${secretName}`);
        }
      }
    }
  });

  test(`${variant}: the real mcp-sidecar accepts every sidecar config (--check-config)`, (t) => {
    if (!fs.existsSync(SIDECAR_BIN)) return skipOrFail(t, `no sidecar binary at ${SIDECAR_BIN} (set MCP_SIDECAR_BIN)`);
    const layout = render(variant);
    for (const w of WORKLOADS) {
      // The sidecar's files as the pod would mount them, under a scratch root where the config
      // finds them (an outbound token file is read at load).
      const sidecar = layout.sidecar(w);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kustomize-${w}-`));
      try {
        const mountPoints = sidecar.volumeMounts.map((m) => m.mountPath);
        for (const mountPath of mountPoints) {
          const files = layout.files(layout.volumeAt(w, sidecar, mountPath)) ?? {};
          fs.mkdirSync(path.join(dir, mountPath), { recursive: true });
          for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, mountPath, name), content);
        }
        const file = path.join(dir, CONFIG);
        fs.writeFileSync(file, moveUnder(dir, layout.configText(w), mountPoints));
        const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value]));
        const r = run(SIDECAR_BIN, ['--check-config', '--config', file], { env });
        assert.equal(r.status, 0, `kyc-${w} (${variant}): the sidecar rejects its config:\n${r.stderr}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
}

for (const variant of MTLS_VARIANTS) {
  test(`${variant}: mTLS between the sidecars, each expecting the other's ServiceAccount identity`, () => {
    const layout = render(variant);
    assert.deepEqual(layout.all('Secret'), [], 'no bearer token Secret');
    const secrets = new Set();
    for (const w of WORKLOADS) {
      const sidecar = layout.sidecar(w);
      const tls = layout.volumeAt(w, sidecar, TLS_DIR);
      assert.ok(tls?.secret, `kyc-${w}: a certificate Secret at ${TLS_DIR}`);
      secrets.add(tls.secret.secretName);
      assert.equal(layout.volumeAt(w, sidecar, TOKENS_DIR), undefined, `kyc-${w}: no tokens`);
      const text = layout.configText(w);
      assert.doesNotMatch(text, /bearer/, `kyc-${w}: no bearer tokens in the config`);
    }
    assert.equal(secrets.size, WORKLOADS.length, 'a certificate per workload');

    const orchestratorId = spiffe(layout.pod('orchestrator').serviceAccountName);
    const outbound = layout.config('orchestrator').outbound;
    assert.deepEqual(outbound.servers.map((s) => s.name), Object.keys(SERVERS));
    for (const [w, server] of Object.entries(SERVERS)) {
      const inbound = layout.config(w).inbound;
      assert.equal(inbound.require_auth, true, `kyc-${w}: require_auth`);
      assert.equal(inbound.auth.mode, 'mtls', `kyc-${w}: auth.mode`);
      for (const k of ['cert_file', 'key_file', 'client_ca_file'])
        assert.ok(inbound.auth.tls?.[k]?.startsWith(`${TLS_DIR}/`), `kyc-${w}: auth.tls.${k}`);
      assert.deepEqual(inbound.policy, [{ callers: [orchestratorId], tools: ['*'] }], `kyc-${w}: only the orchestrator calls`);

      // The URL's host is a Service; the identity expected is that of the pods behind it.
      const entry = outbound.servers.find((s) => s.name === w);
      const url = new URL(entry.url);
      assert.equal(`${url.protocol}//${url.host}${url.pathname}`, `https://${serviceHost(w)}:7443${server.path}`);
      assert.equal(entry.transport, server.transport, `${w}: transport`);
      const [svcName, svcNs] = url.hostname.split('.');
      assert.equal(svcNs, NS);
      const svc = layout.get('Service', svcName);
      const behind = WORKLOADS.filter((o) => selects(svc.spec.selector, layout.podLabels(o)));
      assert.deepEqual(behind, [w], `${url.hostname} reaches kyc-${w}`);
      assert.equal(entry.tls?.expect_identity, spiffe(layout.pod(w).serviceAccountName), `${w}: expect_identity`);
      for (const k of ['ca_file', 'cert_file', 'key_file'])
        assert.ok(entry.tls[k]?.startsWith(`${TLS_DIR}/`), `${w}: tls.${k}`);
    }
  });
}

test('overlays/prod: each Certificate names the ServiceAccount its workload runs as', () => {
  const layout = render('overlays/prod');
  const certificates = layout.all('Certificate');
  const issuers = new Set(certificates.map((c) => `${c.spec.issuerRef.kind}/${c.spec.issuerRef.name}`));
  assert.equal(issuers.size, 1, 'one issuer for all');
  assert.match([...issuers][0], /^ClusterIssuer\/./);
  for (const w of WORKLOADS) {
    const pod = layout.pod(w);
    layout.get('ServiceAccount', pod.serviceAccountName);
    const secretName = layout.volumeAt(w, layout.sidecar(w), TLS_DIR).secret.secretName;
    const matching = certificates.filter((c) => c.spec.secretName === secretName);
    assert.equal(matching.length, 1, `kyc-${w}: one Certificate fills ${secretName}`);
    const { spec } = matching[0];
    assert.deepEqual(spec.uris, [spiffe(pod.serviceAccountName)], `kyc-${w}: URI SAN`);
    for (const usage of ['digital signature', 'client auth', 'server auth']) assert.ok(spec.usages.includes(usage), `kyc-${w}: ${usage}`);
    if (w in SERVERS) assert.ok(spec.dnsNames.includes(serviceHost(w)), `kyc-${w}: DNS name of its Service`);
  }
});

test('overlays/dev: bearer tokens from one generated Secret, the gates accept the orchestrator\'s, no Certificate', () => {
  const layout = render('overlays/dev');
  assert.deepEqual(layout.all('Certificate'), []);
  const [secret] = layout.all('Secret');
  assert.match(secret.metadata.name, /^kyc-tokens-[a-z0-9]+$/, 'the generated name with its content hash');
  for (const w of WORKLOADS) {
    const sidecar = layout.sidecar(w);
    assert.equal(layout.volumeAt(w, sidecar, TLS_DIR), undefined, `kyc-${w}: no certificate`);
    assert.equal(layout.volumeAt(w, sidecar, TOKENS_DIR)?.secret?.secretName, secret.metadata.name, `kyc-${w}: tokens`);
  }
  const files = layout.files({ secret: { secretName: secret.metadata.name } });
  assert.deepEqual(Object.keys(files).sort(), ['token', 'tokens']);
  // `tokens`: name=token lines (the sidecar's format, comments and blank lines aside)
  const lines = files.tokens.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const accepted = Object.fromEntries(lines.map((l) => l.split('=').map((s) => s.trim())));
  assert.equal(accepted.orchestrator, files.token.trim(), 'the gates accept the orchestrator\'s token (bearer:orchestrator)');

  for (const [w, server] of Object.entries(SERVERS)) {
    const inbound = layout.config(w).inbound;
    assert.equal(inbound.require_auth, true, `kyc-${w}: require_auth`);
    assert.equal(inbound.auth.mode, 'bearer', `kyc-${w}: auth.mode`);
    assert.equal(inbound.auth.bearer_tokens_file, `${TOKENS_DIR}/tokens`, `kyc-${w}: tokens file`);
    assert.equal(inbound.auth.tls, undefined, `kyc-${w}: no TLS`);
    assert.deepEqual(inbound.policy, [{ callers: ['bearer:orchestrator'], tools: ['*'] }], `kyc-${w}: policy`);
    const entry = layout.config('orchestrator').outbound.servers.find((s) => s.name === w);
    assert.equal(entry.url, `http://${serviceHost(w)}:7443${server.path}`);
    assert.equal(entry.transport, server.transport);
  }
  assert.equal(layout.config('orchestrator').outbound.bearer_token_file, `${TOKENS_DIR}/token`);
});
