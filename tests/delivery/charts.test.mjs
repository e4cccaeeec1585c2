// The Helm charts (charts/mcp-sidecar, charts/kyc) checked with the real helm, offline: lint,
// `helm template` in every documented mode validated against the Kubernetes API schemas, what
// matters asserted on the parsed objects (only the gate exposed, probes, identities, policy,
// NetworkPolicies, sidecar placement, securityContext, checksums, grace periods), bad values
// rejected by the schemas, every rendered sidecar config accepted by `mcp-sidecar
// --check-config` inside a copy of the files its pod mounts, and the bearer -> mTLS upgrade proven
// seamless: in each step's rolling update, the real sidecars of old and new pods call each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, helm, helmOk, parseDocs, podSpecOf, run, skipOrFail, validateAll } from './lib.mjs';

const SIDECAR_CHART = path.join(ROOT, 'charts/mcp-sidecar');
const KYC_CHART = path.join(ROOT, 'charts/kyc');
const example = (name) => ['-f', path.join(KYC_CHART, 'examples', `${name}.yaml`)];
const SIDECAR_BIN = process.env.MCP_SIDECAR_BIN || path.join(ROOT, 'build/release/src/mcp-sidecar');
// The integration helpers (real KYC server, sidecar launcher, REST calls) read the binary from the
// environment when imported.
process.env.MCP_SIDECAR_BIN = SIDECAR_BIN;
const { callTool, metrics, metricValue, startServer, startSidecar, until } = await import('../integration/helpers.mjs');
// The sidecars run here see no MCP_* variables of the test's environment (they would override
// the rendered config).
const NO_MCP_ENV = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('MCP_')).map((k) => [k, undefined]));

const SERVERS = ['registry', 'sanctions', 'pep', 'risk'];
const WORKLOADS = [...SERVERS, 'orchestrator'];
const NS = 'kyc';
const spiffe = (sa) => `spiffe://cluster.local/ns/${NS}/sa/${sa}`;

// Every documented mode of the kyc chart (README.md), the gates' auth mode and what the
// orchestrator presents.
const KYC_MODES = {
  bearer: { args: [], auth: 'bearer' },
  'mtls-or-bearer': { args: example('mtls-or-bearer'), auth: 'mtls-or-bearer' },
  'orchestrator-mtls': { args: example('orchestrator-mtls'), auth: 'mtls-or-bearer', orchestrator: 'mtls' },
  mtls: { args: example('mtls'), auth: 'mtls', orchestrator: 'mtls' },
  classic: { args: example('classic'), auth: 'bearer' },
  monitoring: { args: example('monitoring'), auth: 'bearer' },
  scale: { args: example('scale'), auth: 'bearer' },
  'kube-play': { args: example('kube-play'), auth: 'bearer' }
};

const renderKyc = (args = []) => parseDocs(helmOk(['template', 'kyc', KYC_CHART, '--namespace', NS, ...args]));
const renderSidecar = (args = []) => parseDocs(helmOk(['template', 'edge', SIDECAR_CHART, '--namespace', NS, ...args]));

const find = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const ofKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const allContainers = (spec) => [...(spec.initContainers ?? []), ...spec.containers];
const sidecarOf = (spec) => allContainers(spec).find((c) => c.name === 'mcp-sidecar');

// The parsed config.yaml a pod's sidecar mounts.
function sidecarConfig(objs, spec) {
  const volume = spec.volumes.find((v) => v.name === 'mcp-sidecar-config');
  const cm = find(objs, 'ConfigMap', volume.configMap.name);
  assert.ok(cm, `ConfigMap ${volume.configMap.name} is rendered`);
  return parseDocs(cm.data['config.yaml'])[0];
}

// Scratch folders of this file, removed at the end.
const scratch = [];
const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};
after(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

const rendered = {};
before(() => {
  // The kyc chart's dependency (charts/mcp-sidecar) packaged from the tree, as Chart.lock says.
  helmOk(['dependency', 'build', KYC_CHART]);
  for (const [mode, { args }] of Object.entries(KYC_MODES)) rendered[mode] = renderKyc(args);
});

const deployments = (objs) => ofKind(objs, 'Deployment');
const workloadOf = (obj) => obj.metadata.labels['app.kubernetes.io/component'];

test('helm lint is clean, also with --strict, for both charts in every mode', () => {
  const runs = [[SIDECAR_CHART], [SIDECAR_CHART, '--set', 'dashboard.enabled=true']];
  for (const { args } of Object.values(KYC_MODES)) runs.push([KYC_CHART, ...args]);
  for (const args of runs) {
    for (const strict of [[], ['--strict']]) {
      const r = helm(['lint', ...strict, '--namespace', NS, ...args]);
      assert.equal(r.status, 0, `helm lint ${strict} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, `helm lint ${args.join(' ')}:\n${r.stdout}`);
    }
  }
});

test('every documented mode renders objects that pass the Kubernetes schema check', async () => {
  const modes = { ...rendered, 'mcp-sidecar alone': renderSidecar(), 'mcp-sidecar alone with dashboard': renderSidecar(['--set', 'dashboard.enabled=true']) };
  for (const [mode, objs] of Object.entries(modes)) {
    assert.ok(objs.length > 0, `${mode}: something rendered`);
    assert.deepEqual(await validateAll(objs), [], `${mode}: schema errors`);
  }
  // The pieces each mode is about are there.
  const count = (mode, kind) => ofKind(rendered[mode], kind).length;
  assert.equal(count('bearer', 'Deployment'), 5);
  assert.equal(count('bearer', 'ServiceAccount'), 5);
  assert.equal(count('bearer', 'Certificate'), 0);
  assert.equal(count('bearer', 'Secret'), 1);
  assert.equal(count('mtls-or-bearer', 'Certificate'), 5);
  assert.equal(count('mtls-or-bearer', 'Secret'), 1);
  assert.equal(count('orchestrator-mtls', 'Certificate'), 5);
  assert.equal(count('orchestrator-mtls', 'Secret'), 1, 'kept while the gates accept tokens');
  assert.equal(count('mtls', 'Certificate'), 5);
  assert.equal(count('mtls', 'Secret'), 0, 'mtls: the tokens Secret is gone');
  assert.equal(count('bearer', 'PodDisruptionBudget'), 5);
  assert.equal(count('monitoring', 'ServiceMonitor'), 1);
  assert.equal(count('monitoring', 'PodMonitor'), 1);
  assert.equal(count('scale', 'HorizontalPodAutoscaler'), 2);
});

test('server Services expose only the gate port 7443; affinity for session upstreams only', () => {
  for (const [mode, objs] of Object.entries(rendered)) {
    for (const w of WORKLOADS) {
      const svc = find(objs, 'Service', `kyc-${w}`);
      assert.ok(svc, `${mode}: Service kyc-${w}`);
      const ports = svc.spec.ports.map((p) => `${p.name}:${p.port}->${p.targetPort}`);
      assert.deepEqual(ports, w === 'orchestrator' ? ['http:8080->http'] : ['mcp:7443->mcp'], `${mode}: kyc-${w} ports`);
      // The named target port is the sidecar's gate, in the pod the Service selects.
      const dep = deployments(objs).find((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
      assert.equal(workloadOf(dep), w, `${mode}: kyc-${w} selects its own pods`);
      if (w !== 'orchestrator') {
        const mcp = sidecarOf(podSpecOf(dep)).ports.find((p) => p.name === 'mcp');
        assert.equal(mcp.containerPort, 7443);
        const expected = w === 'registry' ? 'None' : 'ClientIP';
        assert.equal(svc.spec.sessionAffinity, expected, `${mode}: ${w} sessionAffinity`);
      }
    }
    // A ServiceMonitor brings headless metrics Services that expose the admin port alone.
    for (const svc of ofKind(objs, 'Service').filter((s) => s.metadata.name.endsWith('-metrics'))) {
      assert.deepEqual(svc.spec.ports.map((p) => p.port), [9901], `${mode}: ${svc.metadata.name}`);
      assert.equal(svc.spec.clusterIP, 'None');
    }
    // No Service reaches the app's loopback port.
    for (const svc of ofKind(objs, 'Service')) assert.ok(svc.spec.ports.every((p) => p.port !== 8000 && p.targetPort !== 8000));
  }
});

test('probes are wired to /healthz and /readyz on the admin port 9901', () => {
  for (const [mode, objs] of Object.entries(rendered)) {
    for (const dep of deployments(objs)) {
      const spec = podSpecOf(dep);
      const sc = sidecarOf(spec);
      const admin = sc.ports.find((p) => p.name === 'admin');
      assert.equal(admin.containerPort, 9901, `${mode}: ${dep.metadata.name} admin port`);
      assert.equal(sidecarConfig(objs, spec).admin.listen, '0.0.0.0:9901');
      for (const [probe, pathname] of [['livenessProbe', '/healthz'], ['startupProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
        assert.equal(sc[probe]?.httpGet?.path, pathname, `${mode}: ${dep.metadata.name} ${probe}`);
        assert.equal(sc[probe].httpGet.port, 'admin', `${mode}: ${dep.metadata.name} ${probe} port`);
      }
      const ann = dep.spec.template.metadata.annotations;
      assert.deepEqual([ann['prometheus.io/scrape'], ann['prometheus.io/port'], ann['prometheus.io/path']], ['true', '9901', '/metrics']);
      assert.deepEqual(sc.args, ['--config', '/etc/mcp-sidecar/config.yaml']);
    }
  }
});

test('each Certificate names the ServiceAccount its pods run as; the orchestrator expects exactly those identities', () => {
  for (const mode of ['mtls-or-bearer', 'orchestrator-mtls', 'mtls']) {
    const objs = rendered[mode];
    const usesMtls = KYC_MODES[mode].orchestrator === 'mtls';
    const identityOf = {}; // workload -> the URI SAN of its certificate
    for (const dep of deployments(objs)) {
      const spec = podSpecOf(dep);
      const sa = spec.serviceAccountName;
      assert.ok(find(objs, 'ServiceAccount', sa), `${mode}: ServiceAccount ${sa} rendered`);
      assert.equal(dep.metadata.namespace, NS);
      // Every pod mounts its certificate, but the orchestrator only once it presents it (step 2).
      const tlsVolume = spec.volumes.find((v) => v.name === 'mcp-sidecar-tls');
      const mounted = workloadOf(dep) !== 'orchestrator' || usesMtls;
      assert.equal(Boolean(tlsVolume), mounted, `${mode}: ${dep.metadata.name} mounts its certificate`);
      const secretName = `${dep.metadata.name}-tls`;
      if (mounted) assert.equal(tlsVolume.secret.secretName, secretName);
      const cert = ofKind(objs, 'Certificate').find((c) => c.spec.secretName === secretName);
      assert.ok(cert, `${mode}: a Certificate issues ${secretName}`);
      assert.equal(cert.metadata.namespace, dep.metadata.namespace);
      assert.deepEqual(cert.spec.uris, [spiffe(sa)], `${mode}: ${cert.metadata.name} URI SAN names ${sa}`);
      assert.ok(cert.spec.usages.includes('server auth') && cert.spec.usages.includes('client auth'));
      identityOf[workloadOf(dep)] = cert.spec.uris[0];
    }
    const orch = deployments(objs).find((d) => workloadOf(d) === 'orchestrator');
    const outbound = sidecarConfig(objs, podSpecOf(orch)).outbound;
    assert.equal(outbound.servers.length, 4);
    // Until step 2 the orchestrator keeps plain HTTP and its token; then its certificate alone.
    assert.equal(outbound.bearer_token_file, usesMtls ? undefined : '/var/run/mcp-sidecar/tokens/token', `${mode}: token`);
    // Follow each outbound URL to the Service, the pods it selects, and their certificate.
    for (const s of outbound.servers) {
      const url = new URL(s.url);
      assert.equal(url.protocol, usesMtls ? 'https:' : 'http:', `${mode}: ${s.name} scheme`);
      if (!usesMtls) {
        assert.equal(s.tls, undefined, `${mode}: ${s.name} no TLS settings`);
        continue;
      }
      const [svcName, svcNs] = url.hostname.split('.');
      assert.equal(svcNs, NS);
      const svc = find(objs, 'Service', svcName);
      const dep = deployments(objs).find((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
      assert.equal(s.tls.expect_identity, identityOf[workloadOf(dep)], `${mode}: ${s.name} expects its server's SAN`);
      assert.equal(s.tls.ca_file, '/var/run/mcp-sidecar/tls/ca.crt');
    }
  }
});

test('each gate requires auth, runs the mode asked for and has the policy that lets the orchestrator in', () => {
  for (const [mode, objs] of Object.entries(rendered)) {
    const { auth } = KYC_MODES[mode];
    const orchestratorCallers = [...(auth !== 'bearer' ? [spiffe('kyc-orchestrator')] : []), ...(auth !== 'mtls' ? ['bearer:orchestrator'] : [])];
    for (const dep of deployments(objs).filter((d) => workloadOf(d) !== 'orchestrator')) {
      const w = workloadOf(dep);
      const cfg = sidecarConfig(objs, podSpecOf(dep));
      assert.equal(cfg.outbound, undefined, `${mode}: ${w} runs no outbound role`);
      const gate = cfg.inbound;
      assert.equal(gate.name, w);
      assert.equal(gate.require_auth, true, `${mode}: ${w} require_auth`);
      assert.equal(gate.auth.mode, auth, `${mode}: ${w} auth.mode`);
      assert.equal(gate.forward_to, 'http://127.0.0.1:8000');
      assert.equal(Boolean(gate.auth.tls?.client_ca_file), auth !== 'bearer', `${mode}: ${w} client CA`);
      assert.equal(Boolean(gate.auth.bearer_tokens_file), auth !== 'mtls', `${mode}: ${w} tokens file`);
      // While it accepts tokens, the TLS port also serves orchestrator pods still on plain HTTP.
      assert.equal(gate.auth.tls?.accept_plaintext, auth === 'mtls-or-bearer' ? true : undefined, `${mode}: ${w} accept_plaintext`);
      assert.ok(gate.policy.length >= 1, `${mode}: ${w} has a policy`);
      assert.deepEqual(gate.policy[0], { callers: orchestratorCallers, tools: ['*'] }, `${mode}: ${w} policy`);
      // The app itself listens on loopback only.
      const app = podSpecOf(dep).containers.find((c) => c.name === w);
      assert.deepEqual(app.args.slice(2, 6), ['--host', '127.0.0.1', '--port', '8000']);
    }
  }
  // Rules from values follow the orchestrator's, per server too.
  const objs = renderKyc(['--set-json', 'policy.extraRules=[{"callers":["bearer:auditor"],"tools":["get_*"]}]',
    '--set-json', 'servers.risk.extraPolicyRules=[{"callers":["bearer:auditor"],"tools":["score_case"]}]']);
  const policy = (w) => sidecarConfig(objs, podSpecOf(find(objs, 'Deployment', `kyc-${w}`))).inbound.policy;
  assert.deepEqual(policy('registry').slice(1), [{ callers: ['bearer:auditor'], tools: ['get_*'] }]);
  assert.deepEqual(policy('risk').slice(1).map((r) => r.tools), [['get_*'], ['score_case']]);
});

test('NetworkPolicies: a gate only from the orchestrator, admin only from monitoring, for each workload', () => {
  for (const [mode, objs] of Object.entries(rendered)) {
    const policies = ofKind(objs, 'NetworkPolicy');
    if (mode === 'kube-play') {
      assert.equal(policies.length, 0, 'switched off for kube play');
      continue;
    }
    const orchLabels = find(objs, 'Deployment', 'kyc-orchestrator').spec.template.metadata.labels;
    const monitoringNs = mode === 'monitoring' ? 'observability' : 'monitoring';
    for (const dep of deployments(objs)) {
      const w = workloadOf(dep);
      const labels = dep.spec.template.metadata.labels;
      const selecting = policies.filter((p) => matches(p.spec.podSelector.matchLabels, labels));
      assert.equal(selecting.length, 1, `${mode}: one NetworkPolicy selects ${w}`);
      const np = selecting[0];
      assert.deepEqual(np.spec.policyTypes, ['Ingress']);
      // No other workload's pods are selected by it.
      for (const other of deployments(objs).filter((d) => d !== dep)) assert.ok(!matches(np.spec.podSelector.matchLabels, other.spec.template.metadata.labels));
      const byPort = Object.fromEntries(np.spec.ingress.map((r) => [r.ports.map((p) => p.port).join(','), r.from]));
      assert.deepEqual(Object.keys(byPort).sort(), w === 'orchestrator' ? ['8080', '9901'] : ['7443', '9901'], `${mode}: ${w} ports`);
      if (w !== 'orchestrator') {
        assert.equal(byPort['7443'].length, 1);
        assert.equal(byPort['7443'][0].namespaceSelector, undefined, 'same namespace only');
        assert.ok(matches(byPort['7443'][0].podSelector.matchLabels, orchLabels), `${mode}: ${w} admits the orchestrator`);
        assert.ok(!matches(byPort['7443'][0].podSelector.matchLabels, labels), `${mode}: ${w} does not admit itself`);
      }
      assert.deepEqual(byPort['9901'].map((f) => f.namespaceSelector.matchLabels), [{ 'kubernetes.io/metadata.name': monitoringNs }]);
    }
  }
});

test('native mode puts the sidecar in initContainers with restartPolicy Always; classic in containers', () => {
  for (const [mode, objs] of Object.entries(rendered)) {
    const classic = mode === 'classic' || mode === 'kube-play';
    for (const dep of deployments(objs)) {
      const spec = podSpecOf(dep);
      const inInit = (spec.initContainers ?? []).filter((c) => c.name === 'mcp-sidecar');
      const inMain = spec.containers.filter((c) => c.name === 'mcp-sidecar');
      assert.equal(inInit.length, classic ? 0 : 1, `${mode}: ${dep.metadata.name} init`);
      assert.equal(inMain.length, classic ? 1 : 0, `${mode}: ${dep.metadata.name} containers`);
      if (!classic) assert.equal(inInit[0].restartPolicy, 'Always');
      else assert.equal(inMain[0].restartPolicy, undefined);
      assert.equal(spec.containers[0].name, workloadOf(dep), 'the app comes first');
    }
  }
  // The sidecar's role label on each pod.
  for (const dep of deployments(rendered.bearer)) {
    const role = workloadOf(dep) === 'orchestrator' ? 'outbound' : 'inbound';
    assert.equal(dep.spec.template.metadata.labels['mcp-sidecar.io/role'], role);
  }
});

test('every container runs with the restrictive securityContext', () => {
  const user = parseDocs(helmOk(['template', 'demo', userChart(), '--namespace', NS]));
  for (const [mode, objs] of Object.entries({ ...rendered, 'user chart': user })) {
    for (const dep of deployments(objs)) {
      const spec = podSpecOf(dep);
      assert.equal(spec.securityContext.runAsNonRoot, true);
      for (const c of allContainers(spec)) {
        const s = c.securityContext;
        const where = `${mode}: ${dep.metadata.name}/${c.name}`;
        assert.ok(s, `${where}: securityContext`);
        assert.equal(s.runAsNonRoot, true, where);
        assert.equal(s.runAsUser, 65532, where);
        assert.equal(s.runAsGroup, 65532, where);
        assert.equal(s.readOnlyRootFilesystem, true, where);
        assert.equal(s.allowPrivilegeEscalation, false, where);
        assert.deepEqual(s.capabilities?.drop, ['ALL'], where);
        assert.equal(s.capabilities.add, undefined, where);
        assert.equal(s.seccompProfile?.type, 'RuntimeDefault', where);
      }
    }
  }
});

test('checksum annotations roll the pods on changes live reload cannot apply, and only then', () => {
  const checksums = (objs) =>
    Object.fromEntries(deployments(objs).map((d) => [workloadOf(d), d.spec.template.metadata.annotations]));
  const fixed = ['--set', 'auth.bearer.orchestratorToken=0123456789abcdef0123'];
  const base = checksums(renderKyc(fixed));
  assert.deepEqual(checksums(renderKyc(fixed)), base, 'same values, same checksums');
  const changed = (set) => {
    const next = checksums(renderKyc([...fixed, ...set]));
    return (key) => WORKLOADS.filter((w) => next[w][key] !== base[w][key]);
  };
  // A restart-only setting of the outbound role rolls the orchestrator alone.
  assert.deepEqual(changed(['--set', 'sidecar.config.outbound.pool_size=4'])('checksum/config'), ['orchestrator']);
  // Shutdown settings are in every config.
  assert.deepEqual(changed(['--set', 'sidecar.config.shutdown.grace_seconds=25'])('checksum/config'), WORKLOADS);
  // A server's address changes the orchestrator's config only.
  assert.deepEqual(changed(['--set', 'servers.pep.address=10.0.0.7:7443'])('checksum/config'), ['orchestrator']);
  // The gates apply policy and log level live: their ConfigMaps change, their pods stay.
  const policySet = ['--set-json', 'policy.extraRules=[{"callers":["bearer:auditor"],"tools":["get_*"]}]', '--set', 'sidecar.config.log.level=debug'];
  assert.deepEqual(changed(policySet)('checksum/config'), []);
  const cm = (objs) => find(objs, 'ConfigMap', 'kyc-risk-mcp-sidecar').data['config.yaml'];
  assert.notEqual(cm(renderKyc([...fixed, ...policySet])), cm(renderKyc(fixed)));
  // The orchestrator reads its token at startup: a new token rolls it; the gates re-read theirs.
  const token = changed(['--set', 'auth.bearer.orchestratorToken=fedcba9876543210fedc']);
  assert.deepEqual(token('checksum/secret'), ['orchestrator']);
  assert.deepEqual(token('checksum/config'), []);
  // The secret checksum is the token's, as the Secret holds it (also when generated).
  const objs = renderKyc();
  const secret = find(objs, 'Secret', 'kyc-tokens');
  const own = Buffer.from(secret.data.token, 'base64').toString();
  assert.ok(own.length >= 32, 'a generated token is long');
  assert.equal(Buffer.from(secret.data.tokens, 'base64').toString(), `orchestrator=${own}`);
  assert.equal(find(objs, 'Deployment', 'kyc-orchestrator').spec.template.metadata.annotations['checksum/secret'],
    createHash('sha256').update(own).digest('hex'));
});

test('terminationGracePeriodSeconds covers the sidecar drain (delay + grace + close) plus the app', () => {
  const check = (objs, mode) => {
    for (const dep of deployments(objs)) {
      const spec = podSpecOf(dep);
      const s = sidecarConfig(objs, spec).shutdown;
      const drain = s.delay_seconds + s.grace_seconds + s.close_timeout_seconds;
      assert.ok(spec.terminationGracePeriodSeconds >= drain + 5, `${mode}: ${dep.metadata.name}: ${spec.terminationGracePeriodSeconds} < ${drain} + 5`);
      assert.ok(spec.terminationGracePeriodSeconds <= Math.ceil(drain) + 5, `${mode}: no more than needed`);
    }
  };
  for (const [mode, objs] of Object.entries(rendered)) check(objs, mode);
  const long = renderKyc(['--set-json', 'sidecar.config.shutdown.delay_seconds=30.5', '--set', 'sidecar.config.shutdown.grace_seconds=60']);
  check(long, 'long drain');
  assert.equal(podSpecOf(find(long, 'Deployment', 'kyc-risk')).terminationGracePeriodSeconds, 101); // 30.5+60+5 -> 96, +5
});

test('outbound addresses: Service DNS by default, per-server overrides, http for bearer', () => {
  const servers = (objs) => sidecarConfig(objs, podSpecOf(find(objs, 'Deployment', 'kyc-orchestrator'))).outbound.servers;
  assert.deepEqual(servers(rendered.bearer).map((s) => [s.name, s.url, s.transport]), [
    ['registry', 'http://kyc-registry.kyc.svc.cluster.local:7443/mcp', 'stateless'],
    ['sanctions', 'http://kyc-sanctions.kyc.svc.cluster.local:7443/mcp', 'streamable-http'],
    ['pep', 'http://kyc-pep.kyc.svc.cluster.local:7443/sse', 'sse'],
    ['risk', 'http://kyc-risk.kyc.svc.cluster.local:7443/mcp', 'streamable-http']
  ]);
  assert.deepEqual(servers(rendered['kube-play']).map((s) => s.url), [
    'http://kyc-registry-pod-0:7443/mcp', 'http://kyc-sanctions-pod-0:7443/mcp', 'http://kyc-pep-pod-0:7443/sse',
    'http://kyc-risk-pod-0:7443/mcp'
  ]);
  // Each server app runs the transport its outbound entry speaks.
  for (const s of servers(rendered.bearer)) {
    const app = podSpecOf(find(rendered.bearer, 'Deployment', `kyc-${s.name}`)).containers[0];
    assert.deepEqual(app.args, ['server.mjs', s.name, '--host', '127.0.0.1', '--port', '8000', '--transport', s.transport]);
  }
  const orchApp = podSpecOf(find(rendered.bearer, 'Deployment', 'kyc-orchestrator')).containers[0];
  assert.deepEqual(orchApp.args, ['orchestrator.mjs', '--serve', '8080', '--sidecar', 'http://127.0.0.1:7001']);
});

test('kube-play values: local images never pulled, classic sidecars, fixed token, optional objects off', () => {
  const objs = rendered['kube-play'];
  for (const kind of ['NetworkPolicy', 'Certificate', 'ServiceMonitor', 'PodMonitor', 'PodDisruptionBudget']) assert.equal(ofKind(objs, kind).length, 0, kind);
  for (const dep of deployments(objs)) {
    const spec = podSpecOf(dep);
    assert.deepEqual([spec.containers[0].image, spec.containers[0].imagePullPolicy], ['localhost/mcp-sidecar-kyc:test', 'Never']);
    assert.deepEqual([sidecarOf(spec).image, sidecarOf(spec).imagePullPolicy], ['localhost/mcp-sidecar:test', 'Never']);
  }
  const secret = find(objs, 'Secret', 'kyc-tokens');
  assert.equal(Buffer.from(secret.data.token, 'base64').toString(), 'kube-play-orchestrator-token-0123456789');
  // The default images are the contract's, at the charts' appVersion.
  const dep = podSpecOf(find(rendered.bearer, 'Deployment', 'kyc-risk'));
  assert.deepEqual([dep.containers[0].image, sidecarOf(dep).image], ['mcp-sidecar-kyc:0.1.0', 'mcp-sidecar:0.1.0']);
});

test('scaling out: replicas per server, HPAs own the replica count of the servers they scale, PDBs for all', () => {
  const objs = rendered.scale;
  const replicas = Object.fromEntries(deployments(objs).map((d) => [workloadOf(d), d.spec.replicas]));
  assert.deepEqual(replicas, { registry: 3, sanctions: undefined, pep: 2, risk: undefined, orchestrator: 2 });
  const hpas = ofKind(objs, 'HorizontalPodAutoscaler');
  assert.deepEqual(hpas.map((h) => [h.spec.scaleTargetRef.name, h.spec.minReplicas, h.spec.maxReplicas]).sort(),
    [['kyc-risk', 2, 4], ['kyc-sanctions', 2, 8]]);
  for (const h of hpas) assert.equal(h.spec.scaleTargetRef.kind, 'Deployment');
  for (const dep of deployments(objs)) {
    const pdb = ofKind(objs, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, dep.spec.template.metadata.labels));
    assert.equal(pdb.length, 1, `${dep.metadata.name}: one PDB`);
    assert.equal(pdb[0].spec.maxUnavailable, 1);
  }
});

test('monitoring: ServiceMonitor and PodMonitor scrape the admin port; the dashboard ConfigMap is labelled for Grafana', () => {
  const objs = rendered.monitoring;
  const sm = ofKind(objs, 'ServiceMonitor')[0];
  assert.deepEqual(sm.spec.endpoints.map((e) => [e.port, e.path]), [['admin', '/metrics']]);
  assert.equal(sm.metadata.labels.release, 'prometheus');
  const metricsServices = ofKind(objs, 'Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
  assert.deepEqual(metricsServices.map((s) => s.metadata.name).sort(), WORKLOADS.map((w) => `kyc-${w}-metrics`).sort());
  const pm = ofKind(objs, 'PodMonitor')[0];
  assert.deepEqual(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path]), [['admin', '/metrics']]);
  for (const dep of deployments(objs)) assert.ok(matches(pm.spec.selector.matchLabels, dep.spec.template.metadata.labels));
  const dashboards = ofKind(objs, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
  assert.equal(dashboards.length, 1);
  assert.equal(JSON.parse(dashboards[0].data['mcp-sidecar.json']).uid, 'mcp-sidecar');
  assert.equal(ofKind(rendered.bearer, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard).length, 0, 'off by default');
});

test('the dashboard queries only metrics the sidecar exports, and covers every one of them', () => {
  const source = fs.readFileSync(path.join(ROOT, 'src/telemetry/metrics.cpp'), 'utf8');
  const exported = new Set([...source.matchAll(/"(mcp_sidecar_[a-z_]+)"/g)].map((m) => m[1]));
  assert.ok(exported.size >= 20, 'metric names found in src/telemetry/metrics.cpp');
  const dashboard = JSON.parse(fs.readFileSync(path.join(SIDECAR_CHART, 'dashboards/mcp-sidecar.json'), 'utf8'));
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/mcp_sidecar_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
  for (const name of used) assert.ok(exported.has(name), `dashboard queries ${name}, which the sidecar does not export`);
  for (const name of exported) assert.ok(used.has(name), `the dashboard shows nothing of ${name}`);
});

test('the mcp-sidecar chart alone renders its default ConfigMap, the dashboard when asked', () => {
  const objs = renderSidecar();
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), ['ConfigMap/edge-mcp-sidecar']);
  const cfg = parseDocs(objs[0].data['config.yaml'])[0];
  assert.equal(cfg.inbound.require_auth, true);
  assert.equal(cfg.inbound.auth.bearer_tokens_file, '/var/run/mcp-sidecar/tokens/tokens');
  const withDashboard = renderSidecar(['--set', 'dashboard.enabled=true', '--set', 'dashboard.namespace=grafana']);
  const dash = find(withDashboard, 'ConfigMap', 'edge-mcp-sidecar-dashboard');
  assert.equal(dash.metadata.namespace, 'grafana');
  assert.equal(dash.metadata.labels.grafana_dashboard, '1');
  // An outbound sidecar needs servers: said at render time.
  const r = helm(['template', 'edge', SIDECAR_CHART, '--set', 'role=outbound']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /config\.outbound\.servers/);
  const chart = parseDocs(fs.readFileSync(path.join(SIDECAR_CHART, 'Chart.yaml'), 'utf8'))[0];
  const values = parseDocs(fs.readFileSync(path.join(SIDECAR_CHART, 'values.yaml'), 'utf8'))[0];
  assert.equal(values.image.tag, chart.appVersion, 'the default image tag is the appVersion');
});

// The README's example of a user's chart, with its dependency pointing at this tree.
let userChartDir;
function userChart() {
  if (userChartDir) return userChartDir;
  userChartDir = tempDir('user-chart-');
  fs.cpSync(path.join(SIDECAR_CHART, 'examples/user-chart'), userChartDir, { recursive: true });
  const chartFile = path.join(userChartDir, 'Chart.yaml');
  fs.writeFileSync(chartFile, fs.readFileSync(chartFile, 'utf8').replace('file://../..', `file://${SIDECAR_CHART}`));
  helmOk(['dependency', 'build', userChartDir]);
  return userChartDir;
}

test("the helpers add the sidecar to a user's own chart, in both modes", async () => {
  for (const mode of ['native', 'classic']) {
    const objs = parseDocs(helmOk(['template', 'demo', userChart(), '--namespace', NS, '--set', `mcp-sidecar.mode=${mode}`]));
    assert.deepEqual(await validateAll(objs), []);
    const spec = podSpecOf(find(objs, 'Deployment', 'demo'));
    const sc = sidecarOf(spec);
    assert.ok(sc, `${mode}: sidecar added`);
    assert.equal((spec.initContainers ?? []).includes(sc), mode === 'native');
    assert.equal(sc.image, 'mcp-sidecar:0.1.0', 'the sidecar chart\'s version, not the user chart\'s');
    assert.deepEqual(spec.volumes.map((v) => v.name).sort(), ['mcp-sidecar-config', 'mcp-sidecar-tmp', 'mcp-sidecar-tokens']);
    assert.deepEqual(sidecarConfig(objs, spec).inbound.policy, [{ callers: ['bearer:my-client'], tools: ['*'] }]);
  }
});

test('bad values are rejected by the schemas with a message naming the key', () => {
  const bad = [
    [KYC_CHART, { bogus: 1 }, /additional properties 'bogus' not allowed/],
    [KYC_CHART, { servers: { registry: { replicas: 'two' } } }, /\/servers\/registry\/replicas.*(integer|number)/],
    [KYC_CHART, { servers: { ledger: { transport: 'sse' } } }, /\/servers.*additional properties 'ledger' not allowed/],
    [KYC_CHART, { auth: { mode: 'tokens' } }, /\/auth\/mode.*bearer/],
    // The orchestrator cannot present what the gates refuse.
    [KYC_CHART, { auth: { mode: 'mtls', orchestratorUses: 'bearer' } }, /\/auth\/orchestratorUses.*'mtls'/],
    [KYC_CHART, { auth: { mode: 'bearer', orchestratorUses: 'mtls' } }, /\/auth\/orchestratorUses.*'bearer'/],
    [KYC_CHART, { auth: { bearer: { orchestratorToken: 'short' } } }, /\/auth\/bearer\/orchestratorToken/],
    [KYC_CHART, { servers: { pep: { sessionAffinity: 'Sticky' } } }, /\/servers\/pep\/sessionAffinity/],
    // Through the alias into the sidecar chart's own schema.
    [KYC_CHART, { sidecar: { mode: 'sidecar' } }, /\/mode.*native/],
    [KYC_CHART, { sidecar: { config: { outbound: { pool_sizee: 4 } } } }, /\/config\/outbound.*additional properties 'pool_sizee' not allowed/],
    [SIDECAR_CHART, { config: { inbound: { auth: { mode: 'tokens' } } } }, /\/config\/inbound\/auth\/mode/],
    [SIDECAR_CHART, { config: { shutdown: { grace_seconds: '20s' } } }, /\/config\/shutdown\/grace_seconds.*number/],
    [SIDECAR_CHART, { image: { pullPolicy: 'Sometimes' } }, /\/image\/pullPolicy/]
  ];
  const dir = tempDir('bad-values-');
  bad.forEach(([chart, values, message], i) => {
    const file = path.join(dir, `bad-${i}.yaml`);
    fs.writeFileSync(file, JSON.stringify(values));
    for (const cmd of [['template', 'x', chart, '-f', file], ['lint', chart, '-f', file]]) {
      const r = helm(cmd);
      assert.notEqual(r.status, 0, `helm ${cmd[0]} accepted ${JSON.stringify(values)}`);
      assert.match(r.stdout + r.stderr, message, `helm ${cmd[0]} ${JSON.stringify(values)}`);
    }
  });
  // The templates say the same without the schema.
  for (const [mode, uses] of [['mtls', 'bearer'], ['bearer', 'mtls']]) {
    const r = helm(['template', 'x', KYC_CHART, '--skip-schema-validation', '--set', `auth.mode=${mode}`, '--set', `auth.orchestratorUses=${uses}`]);
    assert.notEqual(r.status, 0, `${mode} with an orchestrator on ${uses} rendered`);
    assert.match(r.stderr, new RegExp(`auth.orchestratorUses=${uses} contradicts auth.mode=${mode}`));
  }
});

// Lays out a pod's sidecar files under `dir` as the kubelet would mount them (ConfigMaps and
// Secrets from the render; cert-manager's Secrets from `issued` (secret name -> files), else
// placeholders) and returns the config path, its mount paths rewritten into `dir`.
function mountSidecarFiles(objs, spec, dir, issued = {}) {
  for (const m of sidecarOf(spec).volumeMounts) {
    const target = path.join(dir, m.mountPath);
    fs.mkdirSync(target, { recursive: true });
    const v = spec.volumes.find((x) => x.name === m.name);
    let files = {};
    if (v.configMap) files = find(objs, 'ConfigMap', v.configMap.name).data;
    else if (v.secret) {
      const secret = find(objs, 'Secret', v.secret.secretName);
      if (secret) files = Object.fromEntries(Object.entries(secret.data).map(([k, b64]) => [k, Buffer.from(b64, 'base64').toString()]));
      else {
        assert.ok(ofKind(objs, 'Certificate').some((c) => c.spec.secretName === v.secret.secretName), `${v.secret.secretName} comes from a Certificate`);
        files = issued[v.secret.secretName] ?? { 'tls.crt': 'placeholder', 'tls.key': 'placeholder', 'ca.crt': 'placeholder' };
      }
      if (v.secret.items) files = Object.fromEntries(v.secret.items.map((it) => [it.path, files[it.key]]));
    }
    for (const [name, text] of Object.entries(files)) {
      assert.notEqual(text, undefined, `${m.name}: key ${name} exists`);
      fs.writeFileSync(path.join(target, name), text);
    }
  }
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, localConfigText(objs, spec, dir));
  return file;
}

// The config.yaml a pod's sidecar mounts, with its mount paths rewritten into `dir`.
function localConfigText(objs, spec, dir) {
  const volume = spec.volumes.find((v) => v.name === 'mcp-sidecar-config');
  const mounts = sidecarOf(spec).volumeMounts.map((m) => m.mountPath).sort((a, b) => b.length - a.length);
  // One pass, longest mount first, so a rewritten path is never rewritten again.
  const escaped = mounts.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return find(objs, 'ConfigMap', volume.configMap.name).data['config.yaml']
    .replace(new RegExp(`(${escaped.join('|')})/`, 'g'), (_, mount) => `${path.join(dir, mount)}/`);
}

// Every file a config names: keys ending in _file, anywhere.
function filesIn(node, out = []) {
  if (Array.isArray(node)) node.forEach((n) => filesIn(n, out));
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) (k.endsWith('_file') ? out.push(v) : filesIn(v, out));
  return out;
}

function checkConfig(file) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));
  return run(SIDECAR_BIN, ['--check-config', '--config', file], { env });
}

test('every rendered sidecar config is accepted by mcp-sidecar --check-config, with the files its pod mounts', (t) => {
  if (!fs.existsSync(SIDECAR_BIN)) return skipOrFail(t, `no sidecar binary at ${SIDECAR_BIN} (set MCP_SIDECAR_BIN or build release)`);
  const root = tempDir('chart-configs-');
  let checked = 0;
  for (const [mode, objs] of Object.entries(rendered)) {
    for (const dep of deployments(objs)) {
      const dir = path.join(root, mode, dep.metadata.name);
      const file = mountSidecarFiles(objs, podSpecOf(dep), dir);
      const parsed = parseDocs(fs.readFileSync(file, 'utf8'))[0];
      for (const f of filesIn(parsed)) assert.ok(fs.existsSync(f), `${mode}: ${dep.metadata.name}: ${f} is not mounted in the pod`);
      const r = checkConfig(file);
      assert.equal(r.status, 0, `${mode}: ${dep.metadata.name}:\n${r.stderr}`);
      checked++;
    }
  }
  assert.equal(checked, Object.keys(rendered).length * 5);
  // The sidecar chart's own ConfigMap, both roles.
  const outbound = ['--set', 'role=outbound', '--set-json', 'config.outbound.servers=[{"name":"tools","url":"http://tools.default.svc:7443/mcp"}]'];
  for (const args of [[], outbound]) {
    const cm = renderSidecar(args).find((o) => o.kind === 'ConfigMap');
    const file = path.join(root, `standalone-${args.length}.yaml`);
    fs.writeFileSync(file, cm.data['config.yaml']);
    const r = checkConfig(file);
    assert.equal(r.status, 0, `mcp-sidecar chart ${args.join(' ')}:\n${r.stderr}`);
  }
});

// The bearer -> mTLS upgrade (README), one `helm upgrade` per step. The token is fixed because in
// a cluster the Secret keeps it across upgrades (kyc.tokenData reads it back), which `helm
// template` cannot show.
const UPGRADE = [
  { name: 'bearer', args: [] },
  { name: 'step 1 (auth.mode=mtls-or-bearer)', args: ['--set', 'auth.mode=mtls-or-bearer'] },
  { name: 'step 2 (auth.orchestratorUses=mtls)', args: ['--set', 'auth.mode=mtls-or-bearer', '--set', 'auth.orchestratorUses=mtls'] },
  { name: 'step 3 (auth.mode=mtls)', args: ['--set', 'auth.mode=mtls', '--set', 'auth.orchestratorUses=mtls'] }
];
const renderState = (args) => renderKyc(['--set', 'auth.bearer.orchestratorToken=upgrade-token-0123456789abcdef', ...args]);
const podSpecOfWorkload = (objs, w) => podSpecOf(find(objs, 'Deployment', `kyc-${w}`));
const configTextOf = (objs, w) => find(objs, 'ConfigMap', `kyc-${w}-mcp-sidecar`).data['config.yaml'];

test('the upgrade: step 1 rolls only the gates, step 2 only the orchestrator, step 3 only the gates', () => {
  const states = UPGRADE.map((s) => renderState(s.args));
  // Whose pods roll, and whose ConfigMap changes (old pods reload a changed one live).
  const template = (objs, w) => JSON.stringify(find(objs, 'Deployment', `kyc-${w}`).spec.template);
  const rolled = (a, b) => WORKLOADS.filter((w) => template(a, w) !== template(b, w));
  const reconfigured = (a, b) => WORKLOADS.filter((w) => configTextOf(a, w) !== configTextOf(b, w));
  for (const [k, moving] of [[1, SERVERS], [2, ['orchestrator']], [3, SERVERS]]) {
    assert.deepEqual(rolled(states[k - 1], states[k]), moving, `${UPGRADE[k].name} rolls`);
    assert.deepEqual(reconfigured(states[k - 1], states[k]), moving, `${UPGRADE[k].name} reconfigures`);
  }
  assert.deepEqual(states.map((objs) => ofKind(objs, 'Certificate').length), [0, 5, 5, 5]);
  assert.deepEqual(states.map((objs) => Boolean(find(objs, 'Secret', 'kyc-tokens'))), [true, true, true, false], 'tokens kept while a gate accepts them');
  // Left empty, the orchestrator's side follows the mode: bearer until mode mtls.
  assert.deepEqual(renderState(['--set', 'auth.mode=mtls']), states[3]);
  assert.deepEqual(renderState(['--set', 'auth.mode=mtls-or-bearer', '--set', 'auth.orchestratorUses=bearer']), states[1]);
});

// A CA and, per ServiceAccount, the certificate cert-manager would issue for the chart's
// Certificate (URI SAN = the account's SPIFFE id), made with openssl as certs-dev/make-certs.sh
// does; that script names its certificates after the workloads, not the chart's
// <release>-<workload> accounts. Returns secret name -> {tls.crt, tls.key, ca.crt}.
function issueCertificates(dir, serviceAccounts) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name) => path.join(dir, name);
  const openssl = (...args) => {
    const r = run('openssl', ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', ...args]);
    assert.equal(r.status, 0, `openssl: ${r.stderr}`);
  };
  openssl('-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=kyc upgrade test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  const issued = {};
  for (const sa of serviceAccounts) {
    openssl('-keyout', f(`${sa}.key`), '-out', f(`${sa}.crt`), '-subj', `/CN=${sa}`, '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
      '-addext', `subjectAltName=URI:${spiffe(sa)}`, '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth,clientAuth');
    const read = (name) => fs.readFileSync(f(name), 'utf8');
    issued[`${sa}-tls`] = { 'tls.crt': read(`${sa}.crt`), 'tls.key': read(`${sa}.key`), 'ca.crt': read('ca.crt') };
  }
  return issued;
}

// A rendered sidecar config moved onto loopback: kernel-chosen ports, the gate forwarding to the
// test's registry server, the orchestrator calling the registry alone at `gateAddress`; no
// shutdown delay and a fast reload check (nothing drains here, and reloads are awaited).
function onLoopback(text, { forwardTo, gateAddress }) {
  const cfg = parseDocs(text)[0];
  cfg.admin.listen = '127.0.0.1:0';
  cfg.shutdown = { delay_seconds: 0, grace_seconds: 1, close_timeout_seconds: 1 };
  cfg.reload = { interval_seconds: 0.1 };
  if (cfg.inbound) Object.assign(cfg.inbound, { listen: '127.0.0.1:0', forward_to: forwardTo });
  if (cfg.outbound) {
    cfg.outbound.listen = '127.0.0.1:0';
    cfg.outbound.servers = cfg.outbound.servers.filter((s) => s.name === 'registry').map((s) => {
      const url = new URL(s.url);
      url.host = gateAddress;
      return { ...s, url: url.href };
    });
  }
  return cfg;
}

test('the upgrade is seamless: in every rolling update of the three steps, old and new orchestrator and registry gate pods call each other (real sidecars, server, certificates); jumping from bearer to mtls is not', async (t) => {
  if (!fs.existsSync(SIDECAR_BIN)) return skipOrFail(t, `no sidecar binary at ${SIDECAR_BIN} (set MCP_SIDECAR_BIN or build release)`);
  const root = tempDir('chart-upgrade-');
  const issued = issueCertificates(path.join(root, 'pki'), ['kyc-registry', 'kyc-orchestrator']);
  const states = UPGRADE.map((s) => renderState(s.args));
  const registry = await startServer('registry', { dir: root, transport: 'stateless' });
  const running = [];
  t.after(async () => {
    for (const p of running) await p.stop('SIGKILL');
    await registry.stop();
  });

  // Starts workload w's sidecar as a pod of state k would run it, in a folder of its own. With
  // `reloadTo`, the pod then sees its ConfigMap become state reloadTo's, as an old pod does while
  // the Deployment rolls (its mounts stay those of state k), and has reloaded it.
  let pods = 0;
  const startPod = async (w, k, { gateAddress, reloadTo } = {}) => {
    const spec = podSpecOfWorkload(states[k], w);
    const dir = path.join(root, `pod-${++pods}-${w}`);
    const place = (text) => onLoopback(text, { forwardTo: registry.base, gateAddress });
    const config = place(fs.readFileSync(mountSidecarFiles(states[k], spec, dir, issued), 'utf8'));
    const pod = await startSidecar({ bin: SIDECAR_BIN, dir, name: 'sidecar', env: NO_MCP_ENV, config,
      expectRoles: [w === 'orchestrator' ? 'outbound' : 'inbound', 'admin'] });
    running.push(pod);
    pod.started = config;
    if (reloadTo !== undefined) {
      const reloads = () => pod.logLines().filter((l) => /^config_reload(ed|_failed)$/.test(l.event));
      const before = reloads().length;
      const next = place(localConfigText(states[reloadTo], podSpecOfWorkload(states[reloadTo], w), dir));
      fs.writeFileSync(`${pod.configFile}.tmp`, JSON.stringify(next));
      fs.renameSync(`${pod.configFile}.tmp`, pod.configFile); // atomic, like the kubelet's swap
      await until(() => reloads().length > before, { what: `${w} to reload the new ConfigMap` });
      assert.equal(reloads().at(-1).event, 'config_reloaded', `${w}: ${JSON.stringify(reloads().at(-1))}`);
    }
    return pod;
  };
  // The variants of a workload's pods while step k rolls: old, old with the new ConfigMap (when
  // it changed), new.
  const variants = (w, k) => [
    { label: 'old', k: k - 1 },
    ...(configTextOf(states[k - 1], w) !== configTextOf(states[k], w) ? [{ label: 'old+new ConfigMap', k: k - 1, reloadTo: k }] : []),
    { label: 'new', k }
  ];

  // The gate's counters the README says to watch between the steps.
  const gateCounters = async (gate) => {
    const m = await metrics(gate);
    const refused = [...m.matchAll(/^mcp_sidecar_tls_handshakes_total\{.*outcome="(\w+)".*\} (\S+)$/gm)]
      .filter(([, outcome]) => outcome !== 'ok' && outcome !== 'resumed');
    return {
      bearer: metricValue(m, 'mcp_sidecar_auth_total', { method: 'bearer', outcome: 'ok' }) ?? 0,
      mtls: metricValue(m, 'mcp_sidecar_auth_total', { method: 'mtls', outcome: 'ok' }) ?? 0,
      plaintext: metricValue(m, 'mcp_sidecar_plaintext_connections_total', { listener: 'inbound' }) ?? 0,
      refusals: refused.reduce((n, [, , value]) => n + Number(value), 0)
    };
  };
  // One tool call from an orchestrator pod through a gate pod; returns what happened.
  const callThrough = async (orchestrator, gate) => {
    const before = await gateCounters(gate);
    const r = await callTool(orchestrator, 'registry', 'get_filings', { company_number: 'GB-10001' }, { 'X-Case-Id': 'upgrade' });
    const after = await gateCounters(gate);
    const delta = Object.fromEntries(Object.keys(after).map((key) => [key, after[key] - before[key]]));
    return { ok: r.status === 200 && r.json?.structuredContent?.company_number === 'GB-10001' && !r.json.isError, r, delta };
  };

  const seen = [];
  for (let k = 1; k < states.length; k++) {
    for (const g of variants('registry', k)) {
      const gate = await startPod('registry', g.k, { reloadTo: g.reloadTo });
      for (const o of variants('orchestrator', k)) {
        const pod = await startPod('orchestrator', o.k, { gateAddress: gate.addresses.inbound, reloadTo: o.reloadTo });
        const where = `${UPGRADE[k].name}: ${o.label} orchestrator -> ${g.label} gate`;
        const { ok, r, delta } = await callThrough(pod, gate);
        assert.ok(ok, `${where}: ${r.status} ${r.body}`);
        // The orchestrator is who it was started as: an outbound config does not change live.
        const usesToken = Boolean(pod.started.outbound.bearer_token_file);
        const caller = registry.logLines().filter((l) => l.event === 'tool_call').at(-1)?.caller;
        assert.equal(caller, usesToken ? 'bearer:orchestrator' : spiffe('kyc-orchestrator'), `${where}: caller`);
        assert.ok(delta[usesToken ? 'bearer' : 'mtls'] > 0, `${where}: mcp_sidecar_auth_total`);
        assert.equal(delta[usesToken ? 'mtls' : 'bearer'], 0, `${where}: mcp_sidecar_auth_total, other method`);
        // Plain HTTP on a TLS port is counted (what to watch before step 3); no handshake refused.
        const plaintext = usesToken && Boolean(gate.started.inbound.auth.tls?.accept_plaintext);
        assert.equal(delta.plaintext > 0, plaintext, `${where}: mcp_sidecar_plaintext_connections_total`);
        assert.equal(delta.refusals, 0, `${where}: refused handshakes`);
        seen.push(`${where}: ${caller}${plaintext ? ' (plain HTTP on the TLS port)' : ''}`);
        await pod.stop();
      }
      await gate.stop();
    }
  }
  t.diagnostic(`${seen.length} overlaps called through:\n${seen.join('\n')}`);

  // The control: the old one-step switch. An orchestrator on plain HTTP and its token meets a
  // strict-mTLS gate (and the other way round): the call fails, so the test above can fail.
  for (const [ko, kg] of [[0, 3], [3, 0]]) {
    const gate = await startPod('registry', kg);
    const pod = await startPod('orchestrator', ko, { gateAddress: gate.addresses.inbound });
    const { ok, r, delta } = await callThrough(pod, gate);
    assert.ok(!ok, `${UPGRADE[ko].name} orchestrator -> ${UPGRADE[kg].name} gate succeeded: ${r.status}`);
    // Plain HTTP at a TLS-only port is a refused handshake there (a TLS hello at a plain port is
    // a bad request the TLS client cannot read: nothing to count at the gate).
    if (kg === 3) assert.ok(delta.refusals > 0, 'the strict gate counted no refused handshake');
    t.diagnostic(`${UPGRADE[ko].name} orchestrator -> ${UPGRADE[kg].name} gate: ${r.status} (refused, as it must be)`);
    await pod.stop();
    await gate.stop();
  }
});
