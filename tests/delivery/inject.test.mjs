// Sidecar injection (docs/injection.md), both faces of the real binary:
// - `mcp-sidecar inject -f` over the real-world manifests of tests/delivery/manifests/: every
//   annotated pod template gets what the contract says (placement, image, env, ports, probes,
//   resources, securityContext, volumes, annotations, grace period; inbound: the app's port moved
//   to the gate, so Services naming it reach the gate), everything else comes out deep-equal to
//   the input (read as Kubernetes reads YAML: 1.1), twice is once, bad annotations exit 1 naming
//   the annotation; the output passes the Kubernetes schema check and matches the golden files
//   of tests/delivery/golden/inject/ (MCP_UPDATE_GOLDEN=1 rewrites them; read the diff);
// - the charts' own workloads (charts/kyc, the user-chart example) with their sidecar stripped
//   and the annotations instead, injected, valid and equal in substance to what the charts render;
// - charts/mcp-sidecar with webhook.enabled, in both certificate modes: lint, schema, wiring;
// - `mcp-sidecar inject --webhook` over real TLS with the chart's own config: AdmissionReview v1
//   answers, patches that apply (RFC 6902, the helper at the end of this file) and equal the CLI's
//   output, no patch the second time, denials, 4xx for what is not a review, a slow client cut,
//   certificate reload, metrics per outcome; the process answers /healthz throughout.
// The binary: MCP_SIDECAR_BIN, else build/release/src/mcp-sidecar. One without `inject` fails here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import { ROOT, helm, helmOk, parseDocs, podSpecOf, run, validateAll } from './lib.mjs';

const BIN = process.env.MCP_SIDECAR_BIN || path.join(ROOT, 'build/release/src/mcp-sidecar');
process.env.MCP_SIDECAR_BIN = BIN; // the integration helpers read it when imported
const { until, freePort, metricValue } = await import('../integration/helpers.mjs');

const MANIFESTS = path.join(ROOT, 'tests/delivery/manifests');
const GOLDEN = path.join(ROOT, 'tests/delivery/golden/inject');
const SIDECAR_CHART = path.join(ROOT, 'charts/mcp-sidecar');
const KYC_CHART = path.join(ROOT, 'charts/kyc');
const YAML = createRequire(path.join(ROOT, 'tools/k8s/package.json'))('yaml');
// The binary runs without the test environment's MCP_* variables (they would override its config).
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MCP_')));

// Scratch space of this file, removed at the end.
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'inject-test-'));
after(() => fs.rmSync(SCRATCH, { recursive: true, force: true }));
const tempDir = (prefix) => fs.mkdtempSync(path.join(SCRATCH, prefix));

// ---- reading YAML as Kubernetes does ---------------------------------------------------------

// The documents of a stream as Kubernetes reads them: YAML 1.1 (sigs.k8s.io/yaml), so `0644` is
// 420 and an unquoted `yes` a boolean. Empty documents are left out; a List stays one object.
function readYaml(text) {
  const docs = YAML.parseAllDocuments(text, { version: '1.1' });
  for (const d of docs) if (d.errors.length) throw new Error(`bad YAML: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS({ maxAliasCount: -1 })).filter((o) => o != null);
}
const objectsOf = (docs) => docs.flatMap((d) => (d.kind === 'List' ? d.items : [d]));
const clone = (o) => structuredClone(o);

// The pod template of an object (its metadata and spec), or null: the Pod itself, spec.template,
// or a CronJob's spec.jobTemplate.spec.template.
function templateOf(obj) {
  if (obj.kind === 'Pod') return obj;
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template ?? null;
  return podSpecOf(obj) ? obj.spec.template : null;
}

// ---- the binary ------------------------------------------------------------------------------

const injectCli = (args, input) => run(BIN, ['inject', ...args], { env: ENV, input, timeout: 30_000 });

// `inject -f -` of `text`; it must succeed.
function injectText(text, what = 'input') {
  const r = injectCli(['-f', '-'], text);
  assert.equal(r.status, 0, `mcp-sidecar inject -f - (${what}) exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

// ---- the contract, as a model ----------------------------------------------------------------

const DEFAULTS = {
  role: 'outbound', mode: 'native', 'config-map': 'mcp-sidecar', image: 'mcp-sidecar:0.1.0',
  'gate-port': '7443', 'outbound-port': '7001', 'admin-port': '9901',
  'cpu-request': '50m', 'memory-request': '32Mi', 'cpu-limit': '1', 'memory-limit': '128Mi'
};
const DRAIN_SECONDS = 35;
const PROMETHEUS = ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path'];

const wantsInjection = (t) => t.metadata?.annotations?.['mcp-sidecar.io/inject'] === 'true';
const allContainers = (spec) => [...(spec.initContainers ?? []), ...spec.containers];
const hasSidecar = (spec) => allContainers(spec).some((c) => c.name === 'mcp-sidecar');

// What the annotations of a pod template ask for, defaults filled in.
function settingsOf(template) {
  const a = template.metadata.annotations;
  const get = (key) => a[`mcp-sidecar.io/${key}`] ?? DEFAULTS[key];
  return {
    role: get('role'), mode: get('mode'), configMap: get('config-map'), image: get('image'),
    tokensSecret: a['mcp-sidecar.io/tokens-secret'], tlsSecret: a['mcp-sidecar.io/tls-secret'],
    gatePort: Number(get('gate-port')), outboundPort: Number(get('outbound-port')), adminPort: Number(get('admin-port')),
    resources: {
      requests: { cpu: get('cpu-request'), memory: get('memory-request') },
      limits: { cpu: get('cpu-limit'), memory: get('memory-limit') }
    },
    appPort: a['mcp-sidecar.io/app-port']
  };
}

// Inbound: the app's port entry (container index, port index, entry): the one the annotation names
// (number or name), else the port named `mcp`, else the pod's only declared port.
function appPortOf(spec, wanted) {
  const all = spec.containers.flatMap((c, ci) => (c.ports ?? []).map((p, pi) => ({ ci, pi, entry: p })));
  const found = wanted === undefined
    ? all.filter((p) => p.entry.name === 'mcp').concat(all.length === 1 ? all : [])
    : all.filter((p) => (/^[0-9]+$/.test(wanted) ? p.entry.containerPort === Number(wanted) : p.entry.name === wanted));
  assert.ok(found.length >= 1, `the app port ${wanted ?? '(default)'} is declared`);
  return found[0];
}

// Checks the sidecar container against the contract.
function checkSidecar(c, s, app, where) {
  assert.equal(c.image, s.image, `${where}: image`);
  assert.deepEqual(c.args, ['--config', '/etc/mcp-sidecar/config.yaml'], `${where}: args`);
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  const roleEnv = s.role === 'inbound'
    ? { MCP_INBOUND_LISTEN: `0.0.0.0:${s.gatePort}`, MCP_INBOUND_FORWARD_TO: `http://127.0.0.1:${app.entry.containerPort}` }
    : { MCP_OUTBOUND_LISTEN: `127.0.0.1:${s.outboundPort}` };
  assert.deepEqual(env, { MCP_ADMIN_LISTEN: `0.0.0.0:${s.adminPort}`, ...roleEnv }, `${where}: env`);
  // Ports by number: admin, and for inbound the gate under the app's port name (an unnamed app
  // port leaves the gate's name to the injector).
  const ports = Object.fromEntries(c.ports.map((p) => [p.containerPort, [p.name, p.protocol ?? 'TCP']]));
  const wanted = { [s.adminPort]: ['admin', 'TCP'] };
  if (s.role === 'inbound') wanted[s.gatePort] = [app.entry.name ?? ports[s.gatePort]?.[0], 'TCP'];
  assert.deepEqual(ports, wanted, `${where}: ports`);
  for (const [probe, pathname] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    assert.equal(c[probe]?.httpGet?.path, pathname, `${where}: ${probe}`);
    assert.ok([s.adminPort, 'admin'].includes(c[probe].httpGet.port), `${where}: ${probe} on the admin port`);
  }
  assert.deepEqual(c.resources, s.resources, `${where}: resources`);
  const sc = c.securityContext;
  assert.deepEqual(
    [sc?.runAsNonRoot, sc?.runAsUser, sc?.runAsGroup, sc?.readOnlyRootFilesystem, sc?.allowPrivilegeEscalation, sc?.capabilities?.drop, sc?.capabilities?.add, sc?.seccompProfile?.type],
    [true, 65532, 65532, true, false, ['ALL'], undefined, 'RuntimeDefault'], `${where}: securityContext`);
  const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.name, [m.mountPath, Boolean(m.readOnly), m.subPath]]));
  assert.deepEqual(mounts, {
    'mcp-sidecar-config': ['/etc/mcp-sidecar', true, undefined],
    'mcp-sidecar-tmp': ['/tmp', false, undefined],
    ...(s.tokensSecret ? { 'mcp-sidecar-tokens': ['/var/run/mcp-sidecar/tokens', true, undefined] } : {}),
    ...(s.tlsSecret ? { 'mcp-sidecar-tls': ['/var/run/mcp-sidecar/tls', true, undefined] } : {})
  }, `${where}: volumeMounts (whole, never subPath)`);
}

// Checks one injected pod template against its input and the contract, then undoes in `out` (a
// copy) every change the contract allows, so that the caller can deep-compare it with the input.
function checkAndUndo(input, out, where) {
  const s = settingsOf(input);
  const spec = out.spec;
  // Placement: first init container with restartPolicy Always, or last container.
  let sidecar;
  if (s.mode === 'native') {
    sidecar = spec.initContainers?.[0];
    assert.equal(sidecar?.name, 'mcp-sidecar', `${where}: the sidecar is the first init container`);
    assert.equal(sidecar.restartPolicy, 'Always', `${where}: a native sidecar`);
    spec.initContainers.shift();
    if (!input.spec.initContainers && spec.initContainers.length === 0) delete spec.initContainers;
  } else {
    sidecar = spec.containers.at(-1);
    assert.equal(sidecar?.name, 'mcp-sidecar', `${where}: the sidecar is the last container`);
    assert.equal(sidecar.restartPolicy, undefined, `${where}: a classic container`);
    spec.containers.pop();
  }
  assert.ok(!hasSidecar(spec), `${where}: one sidecar`);
  const app = s.role === 'inbound' ? appPortOf(input.spec, s.appPort) : undefined;
  checkSidecar(sidecar, s, app, where);

  // Volumes: the ConfigMap, /tmp, and the Secrets annotated, mode 0444.
  const added = (spec.volumes ?? []).filter((v) => v.name.startsWith('mcp-sidecar-'));
  const byName = Object.fromEntries(added.map((v) => [v.name, v]));
  assert.deepEqual(Object.keys(byName).sort(), sidecar.volumeMounts.map((m) => m.name).sort(), `${where}: a volume for each mount`);
  assert.equal(byName['mcp-sidecar-config'].configMap?.name, s.configMap, `${where}: the ConfigMap`);
  assert.ok(byName['mcp-sidecar-tmp'].emptyDir, `${where}: /tmp is an emptyDir`);
  for (const [name, secretName] of [['mcp-sidecar-tokens', s.tokensSecret], ['mcp-sidecar-tls', s.tlsSecret]]) {
    if (secretName) assert.deepEqual([byName[name].secret?.secretName, byName[name].secret?.defaultMode, byName[name].secret?.items], [secretName, 0o444, undefined], `${where}: ${name}`);
  }
  spec.volumes = spec.volumes.filter((v) => !v.name.startsWith('mcp-sidecar-'));
  if (!input.spec.volumes && spec.volumes.length === 0) delete spec.volumes;

  // Annotations: status, and Prometheus scraping of the admin port unless the pod has its own.
  const ann = out.metadata.annotations;
  assert.equal(ann['mcp-sidecar.io/status'], 'injected', `${where}: status annotation`);
  delete ann['mcp-sidecar.io/status'];
  if (!('prometheus.io/scrape' in input.metadata.annotations)) {
    assert.deepEqual(PROMETHEUS.map((k) => ann[k]), ['true', String(s.adminPort), '/metrics'], `${where}: prometheus annotations`);
    PROMETHEUS.forEach((k) => delete ann[k]);
  }

  // The grace period covers the drain.
  const grace = input.spec.terminationGracePeriodSeconds;
  assert.equal(spec.terminationGracePeriodSeconds, Math.max(grace ?? 0, DRAIN_SECONDS), `${where}: terminationGracePeriodSeconds`);
  if (grace === undefined) delete spec.terminationGracePeriodSeconds;
  else spec.terminationGracePeriodSeconds = grace;

  // Inbound: the app's port entry is gone (the gate has it); put it back.
  if (app) {
    const c = spec.containers[app.ci];
    assert.ok(!(c.ports ?? []).some((p) => p.containerPort === app.entry.containerPort), `${where}: the app's port entry is moved`);
    c.ports = c.ports ?? [];
    c.ports.splice(app.pi, 0, app.entry);
  }
  return { settings: s, sidecar, app };
}

// Compares a whole injected stream with its input: same documents and kinds, each annotated
// template injected as the contract says, everything else deep-equal. Returns what was injected.
function checkStream(inputText, outputText, name) {
  const inDocs = readYaml(inputText);
  const outDocs = readYaml(outputText);
  assert.deepEqual(outDocs.map((d) => d.kind), inDocs.map((d) => d.kind), `${name}: the same documents`);
  const inObjs = objectsOf(inDocs);
  const outObjs = objectsOf(clone(outDocs));
  assert.equal(outObjs.length, inObjs.length, `${name}: the same objects`);
  const injected = [];
  inObjs.forEach((input, i) => {
    const out = outObjs[i];
    const where = `${name}: ${input.kind}/${input.metadata.name}`;
    const t = templateOf(input);
    if (t && wantsInjection(t) && !hasSidecar(t.spec)) injected.push({ ...checkAndUndo(t, templateOf(out), where), object: objectsOf(outDocs)[i] });
    assert.deepEqual(out, input, `${where}: everything the injection does not own is unchanged`);
  });
  return injected;
}

// ---- the manifests ---------------------------------------------------------------------------

const manifestFiles = fs.readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml')).sort();
const BAD = path.join(MANIFESTS, 'bad');
// Each bad manifest, the annotation (mcp-sidecar.io/...) its error names and the object it names.
const BAD_CASES = {
  'role.yaml': ['role', 'bad-role'],
  'mode.yaml': ['mode', 'bad-mode'],
  'gate-port.yaml': ['gate-port', 'bad-gate-port'],
  'admin-port.yaml': ['admin-port', 'bad-admin-port'],
  'outbound-port.yaml': ['outbound-port', 'bad-outbound-port'],
  'app-port-not-found.yaml': ['app-port', 'bad-app-port'],
  'app-port-ambiguous.yaml': ['app-port', 'ambiguous-app-port'],
  'app-port-none.yaml': ['app-port', 'no-app-port'],
  'memory-limit.yaml': ['memory-limit', 'bad-memory'],
  'cpu-request.yaml': ['cpu-request', 'bad-cpu'],
  'config-map.yaml': ['config-map', 'bad-config-map'],
  'tls-secret.yaml': ['tls-secret', 'bad-tls-secret'],
  'nested-in-cronjob.yaml': ['role', 'nightly-bad']
};

test('the binary has the inject subcommand (`inject -f FILE`, `-f -`)', () => {
  assert.ok(fs.existsSync(BIN), `no binary at ${BIN} (set MCP_SIDECAR_BIN)`);
  const empty = path.join(tempDir('inject-empty-'), 'empty.yaml');
  fs.writeFileSync(empty, '');
  const r = injectCli(['-f', empty]);
  assert.equal(r.status, 0, `${BIN} inject -f ${empty}: exit ${r.status}: ${r.stderr} (no inject subcommand?)`);
  assert.equal(readYaml(r.stdout).length, 0);
});

test('every manifest: annotated pod templates injected as docs/injection.md says, everything else unchanged, golden output', () => {
  const seen = new Set();
  for (const file of manifestFiles) {
    const input = fs.readFileSync(path.join(MANIFESTS, file), 'utf8');
    // From the file (-f FILE) and from stdin (-f -): the same output.
    const r = injectCli(['-f', path.join(MANIFESTS, file)]);
    assert.equal(r.status, 0, `${file}: exit ${r.status}:\n${r.stderr}`);
    assert.equal(injectText(input, file), r.stdout, `${file}: -f FILE and -f - agree`);
    for (const { settings, object } of checkStream(input, r.stdout, file)) seen.add(`${object.kind} ${settings.role} ${settings.mode}`);

    const golden = path.join(GOLDEN, file);
    if (process.env.MCP_UPDATE_GOLDEN === '1') {
      fs.mkdirSync(GOLDEN, { recursive: true });
      fs.writeFileSync(golden, r.stdout);
    }
    assert.ok(fs.existsSync(golden), `${golden} is missing (MCP_UPDATE_GOLDEN=1 writes it; review it)`);
    assert.equal(r.stdout, fs.readFileSync(golden, 'utf8'), `${file}: output differs from ${path.relative(ROOT, golden)} (MCP_UPDATE_GOLDEN=1 rewrites it)`);
  }
  // The manifests cover every kind, both roles and both modes.
  for (const kind of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
    assert.ok([...seen].some((s) => s.startsWith(`${kind} `)), `a ${kind} is injected`);
  }
  for (const role of ['outbound', 'inbound']) {
    for (const mode of ['native', 'classic']) assert.ok([...seen].some((s) => s.endsWith(` ${role} ${mode}`)), `a ${role} ${mode} injection`);
  }
});

test('inbound: a Service that names the app\'s port now reaches the gate', () => {
  for (const file of ['deployment-inbound.yaml', 'statefulset-inbound-classic.yaml']) {
    const objs = objectsOf(readYaml(injectText(fs.readFileSync(path.join(MANIFESTS, file), 'utf8'), file)));
    const services = objs.filter((o) => o.kind === 'Service');
    assert.ok(services.length > 0);
    for (const svc of services) {
      const workload = objs.find((o) => templateOf(o) && Object.entries(svc.spec.selector).every(([k, v]) => templateOf(o).metadata.labels[k] === v));
      const spec = templateOf(workload).spec;
      const gate = allContainers(spec).find((c) => c.name === 'mcp-sidecar');
      const gatePort = Number(templateOf(workload).metadata.annotations['mcp-sidecar.io/gate-port'] ?? 7443);
      for (const p of svc.spec.ports) {
        // A named targetPort resolves to the container port of that name in the selected pods.
        const owners = allContainers(spec).filter((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort));
        assert.deepEqual(owners.map((c) => c.name), ['mcp-sidecar'], `${file}: Service ${svc.metadata.name} port ${p.name}`);
        assert.equal(gate.ports.find((cp) => cp.name === p.targetPort).containerPort, gatePort);
      }
    }
  }
});

test('injecting twice is injecting once (the output piped through inject again)', () => {
  for (const file of manifestFiles) {
    const once = injectText(fs.readFileSync(path.join(MANIFESTS, file), 'utf8'), file);
    const twice = injectText(once, `${file}, again`);
    assert.deepEqual(readYaml(twice), readYaml(once), `${file}: a second pass changes nothing`);
    assert.equal(twice, once, `${file}: not even the text`);
  }
});

test('unannotated, "false" and already injected pods come out unchanged; so does a stream without pods', () => {
  const input = fs.readFileSync(path.join(MANIFESTS, 'untouched.yaml'), 'utf8');
  assert.deepEqual(readYaml(injectText(input)), readYaml(input));
  // The multi-document file's ConfigMap and Service, and the List's other items, alone.
  const objs = objectsOf(readYaml(input));
  for (const file of ['deployment-inbound.yaml', 'list.yaml', 'yaml-scalars.yaml']) {
    const all = objectsOf(readYaml(fs.readFileSync(path.join(MANIFESTS, file), 'utf8')));
    const plain = all.filter((o) => !templateOf(o) || !wantsInjection(templateOf(o)));
    assert.ok(plain.length > 0);
    objs.push(...plain);
  }
  const text = objs.map((o) => YAML.stringify(o, { version: '1.1' })).join('---\n');
  assert.deepEqual(readYaml(injectText(text)), readYaml(text));
});

test('bad annotations: exit 1, nothing written, a message naming the annotation and the object', () => {
  const files = fs.readdirSync(BAD).filter((f) => f.endsWith('.yaml')).sort();
  assert.deepEqual(files, Object.keys(BAD_CASES).sort(), 'every bad manifest has its expectation');
  for (const [file, [key, object]] of Object.entries(BAD_CASES)) {
    const annotation = `mcp-sidecar.io/${key}`;
    const r = injectCli(['-f', path.join(BAD, file)]);
    assert.equal(r.status, 1, `${file}: exit ${r.status}\n${r.stdout}`);
    assert.equal(r.stdout, '', `${file}: no partial output (a pipe into kubectl apply would apply it)`);
    assert.ok(r.stderr.includes(annotation), `${file}: the message names ${annotation}: ${r.stderr}`);
    assert.ok(r.stderr.includes(object), `${file}: the message names ${object}: ${r.stderr}`);
  }
  // Not Kubernetes YAML at all, and a file that is not there: exit 1 with the reason.
  const dir = tempDir('inject-bad-');
  fs.writeFileSync(path.join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n');
  for (const [file, pattern] of [[path.join(dir, 'broken.yaml'), /yaml|line|pars/i], [path.join(dir, 'missing.yaml'), /missing\.yaml/]]) {
    const r = injectCli(['-f', file]);
    assert.equal(r.status, 1, `${file}: exit ${r.status}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, '');
  }
});

test('the injected manifests pass the Kubernetes schema check', async () => {
  for (const file of manifestFiles) {
    const objs = objectsOf(readYaml(injectText(fs.readFileSync(path.join(MANIFESTS, file), 'utf8'), file)));
    assert.deepEqual(await validateAll(objs), [], `${file}: schema errors`);
  }
});

// ---- the charts' own workloads, injected instead of templated --------------------------------

// charts/kyc and the user-chart example, each a copy whose dependency is this tree's
// charts/mcp-sidecar (packaged), rendered.
let chartCopies;
function renderCharts() {
  if (!chartCopies) {
    const dir = tempDir('inject-charts-');
    const pkg = path.join(dir, 'pkg');
    helmOk(['package', SIDECAR_CHART, '-d', pkg]);
    chartCopies = {};
    for (const [name, src] of [['kyc', KYC_CHART], ['user', path.join(SIDECAR_CHART, 'examples/user-chart')]]) {
      const copy = path.join(dir, name);
      fs.cpSync(src, copy, { recursive: true });
      fs.rmSync(path.join(copy, 'charts'), { recursive: true, force: true });
      fs.cpSync(pkg, path.join(copy, 'charts'), { recursive: true });
      chartCopies[name] = copy;
    }
  }
  const kyc = (values) => parseDocs(helmOk(['template', 'kyc', chartCopies.kyc, '--namespace', 'kyc', '-f', path.join(KYC_CHART, 'examples', values)]));
  return {
    'kyc bearer': parseDocs(helmOk(['template', 'kyc', chartCopies.kyc, '--namespace', 'kyc'])),
    'kyc mtls': kyc('mtls.yaml'),
    'kyc classic': kyc('classic.yaml'),
    'user chart': parseDocs(helmOk(['template', 'demo', chartCopies.user, '--namespace', 'demo']))
  };
}

// A Deployment the chart rendered with its sidecar, turned into what a user of the webhook writes:
// no sidecar, its volumes and annotations, but the mcp-sidecar.io annotations that ask for the
// same (role, mode, ConfigMap, Secrets) and, inbound, the app's port declared as `mcp`.
function asAnnotated(dep) {
  const d = clone(dep);
  const t = d.spec.template;
  const spec = t.spec;
  const native = (spec.initContainers ?? []).some((c) => c.name === 'mcp-sidecar');
  spec.initContainers = (spec.initContainers ?? []).filter((c) => c.name !== 'mcp-sidecar');
  if (spec.initContainers.length === 0) delete spec.initContainers;
  spec.containers = spec.containers.filter((c) => c.name !== 'mcp-sidecar');
  const volume = (name) => spec.volumes.find((v) => v.name === name);
  const role = t.metadata.labels['mcp-sidecar.io/role'];
  t.metadata.annotations = {
    'mcp-sidecar.io/inject': 'true',
    'mcp-sidecar.io/role': role,
    'mcp-sidecar.io/mode': native ? 'native' : 'classic',
    'mcp-sidecar.io/config-map': volume('mcp-sidecar-config').configMap.name,
    ...(volume('mcp-sidecar-tokens') ? { 'mcp-sidecar.io/tokens-secret': volume('mcp-sidecar-tokens').secret.secretName } : {}),
    ...(volume('mcp-sidecar-tls') ? { 'mcp-sidecar.io/tls-secret': volume('mcp-sidecar-tls').secret.secretName } : {})
  };
  spec.volumes = spec.volumes.filter((v) => !v.name.startsWith('mcp-sidecar-'));
  if (spec.volumes.length === 0) delete spec.volumes;
  delete spec.terminationGracePeriodSeconds;
  if (role === 'inbound') spec.containers[0].ports = [{ name: 'mcp', containerPort: 8000, protocol: 'TCP' }];
  return d;
}

test("the charts' own workloads, annotated instead of templated, are injected, valid, and get the sidecar the charts render", async () => {
  let injectedPods = 0;
  for (const [mode, objs] of Object.entries(renderCharts())) {
    const deployments = objs.filter((o) => o.kind === 'Deployment');
    const annotated = deployments.map(asAnnotated);
    const text = annotated.map((o) => YAML.stringify(o, { version: '1.1' })).join('---\n');
    const outText = injectText(text, mode);
    checkStream(text, outText, mode);
    const out = objectsOf(readYaml(outText));
    const rest = objs.filter((o) => o.kind !== 'Deployment');
    assert.deepEqual(await validateAll([...out, ...rest]), [], `${mode}: schema errors`);
    deployments.forEach((dep, i) => {
      const where = `${mode}: ${dep.metadata.name}`;
      const rendered = allContainers(dep.spec.template.spec).find((c) => c.name === 'mcp-sidecar');
      const injected = allContainers(out[i].spec.template.spec).find((c) => c.name === 'mcp-sidecar');
      // Both paths give the sidecar the same image, config, ports, mounts, resources and locks.
      assert.equal(injected.image, rendered.image, `${where}: image`);
      assert.deepEqual(injected.args, rendered.args, `${where}: args`);
      assert.equal(injected.restartPolicy, rendered.restartPolicy, `${where}: placement`);
      const ports = (c) => c.ports.map((p) => `${p.name}:${p.containerPort}`).sort();
      assert.deepEqual(ports(injected), ports(rendered), `${where}: ports`);
      const mounts = (c) => c.volumeMounts.map((m) => `${m.name}:${m.mountPath}`).sort();
      assert.deepEqual(mounts(injected), mounts(rendered), `${where}: mounts`);
      assert.deepEqual(injected.resources, rendered.resources, `${where}: resources`);
      assert.deepEqual(injected.securityContext, rendered.securityContext, `${where}: securityContext`);
      assert.ok(out[i].spec.template.spec.terminationGracePeriodSeconds >= DRAIN_SECONDS, `${where}: grace period`);
      // The chart's Service, targeting `mcp` by name, reaches the gate's port in the injected pod.
      for (const svc of rest.filter((o) => o.kind === 'Service' && o.metadata.name === dep.metadata.name && o.spec.ports.some((p) => p.targetPort === 'mcp'))) {
        assert.equal(injected.ports.find((p) => p.name === 'mcp')?.containerPort, 7443, `${where}: Service ${svc.metadata.name} reaches the gate`);
      }
      injectedPods++;
    });
  }
  assert.equal(injectedPods, 3 * 5 + 1);
});

// ---- the webhook in the chart ----------------------------------------------------------------

const NS = 'mcp-system';
const WEBHOOK_MODES = {
  generated: ['--set', 'webhook.enabled=true'],
  'cert-manager': ['--set', 'webhook.enabled=true', '--set', 'webhook.certManager.enabled=true'],
  'cert-manager with an issuer': ['--set', 'webhook.enabled=true', '--set', 'webhook.certManager.enabled=true',
    '--set', 'webhook.certManager.issuerRef.name=platform-ca', '--set', 'webhook.certManager.issuerRef.kind=ClusterIssuer']
};
const renderWebhook = (args) => parseDocs(helmOk(['template', 'edge', SIDECAR_CHART, '--namespace', NS, ...args]));
const find = (objs, kind) => objs.filter((o) => o.kind === kind);
// Does a label selector (matchLabels + matchExpressions) select these labels?
function selects(selector, labels = {}) {
  const exprOk = (e) => {
    const has = e.key in labels;
    switch (e.operator) {
      case 'In': return has && e.values.includes(labels[e.key]);
      case 'NotIn': return !has || !e.values.includes(labels[e.key]);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      default: throw new Error(`operator ${e.operator}`);
    }
  };
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && (selector.matchExpressions ?? []).every(exprOk);
}

test('charts/mcp-sidecar with webhook.enabled: helm lint --strict is clean and every object passes the schema check, in both certificate modes', async () => {
  for (const [mode, args] of Object.entries(WEBHOOK_MODES)) {
    for (const strict of [[], ['--strict']]) {
      const r = helm(['lint', ...strict, SIDECAR_CHART, '--namespace', NS, ...args]);
      assert.equal(r.status, 0, `${mode}: helm lint ${strict}:\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, `${mode}:\n${r.stdout}`);
    }
    const objs = renderWebhook(args);
    assert.deepEqual(await validateAll(objs), [], `${mode}: schema errors`);
    const kinds = objs.map((o) => o.kind).sort();
    const expected = ['ConfigMap', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Service',
      ...(mode === 'generated' ? ['Secret'] : mode === 'cert-manager' ? ['Certificate', 'Issuer'] : ['Certificate'])].sort();
    assert.deepEqual(kinds, expected, `${mode}: what is rendered (no RBAC, no ServiceAccount)`);
  }
  // Off by default.
  assert.ok(!renderWebhook([]).some((o) => o.kind === 'MutatingWebhookConfiguration' || o.kind === 'Deployment'));
});

test('the webhook Deployment, Service, PDB and MutatingWebhookConfiguration are wired together', () => {
  for (const [mode, args] of Object.entries(WEBHOOK_MODES)) {
    const objs = renderWebhook(args);
    const [dep] = find(objs, 'Deployment');
    const [svc] = find(objs, 'Service');
    const [pdb] = find(objs, 'PodDisruptionBudget');
    const [mwc] = find(objs, 'MutatingWebhookConfiguration');
    const pod = dep.spec.template;
    const [c] = pod.spec.containers;
    assert.equal(dep.spec.replicas, 2, mode);
    assert.equal(c.image, 'mcp-sidecar:0.1.0');
    assert.deepEqual(c.args, ['inject', '--webhook', '--config', '/etc/mcp-sidecar-inject/config.yaml']);
    assert.equal(pod.spec.automountServiceAccountToken, false, 'no API access');
    for (const [probe, pathname] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
      assert.deepEqual([c[probe].httpGet.path, c[probe].httpGet.port], [pathname, 'admin'], probe);
    }
    assert.deepEqual(c.ports.map((p) => `${p.name}:${p.containerPort}`), ['https:8443', 'admin:9901']);
    assert.deepEqual([c.securityContext.runAsUser, c.securityContext.readOnlyRootFilesystem, c.securityContext.allowPrivilegeEscalation, c.securityContext.capabilities.drop],
      [65532, true, false, ['ALL']]);
    // The Service 443 -> the container's https port, selecting the Deployment's pods; so does the PDB.
    assert.deepEqual(svc.spec.ports.map((p) => [p.port, c.ports.find((cp) => cp.name === p.targetPort)?.containerPort]), [[443, 8443]]);
    assert.ok(selects({ matchLabels: svc.spec.selector }, pod.metadata.labels));
    assert.ok(selects(pdb.spec.selector, pod.metadata.labels));
    assert.ok(selects(dep.spec.selector, pod.metadata.labels));
    // The config: the inject section listening on 8443 with the mounted certificate, the chart's image.
    const cmName = pod.spec.volumes.find((v) => v.configMap).configMap.name;
    const cm = find(objs, 'ConfigMap').find((o) => o.metadata.name === cmName);
    const mount = (name) => c.volumeMounts.find((m) => m.name === name).mountPath;
    const configVolume = pod.spec.volumes.find((v) => v.configMap).name;
    assert.equal(`${mount(configVolume)}/config.yaml`, c.args[3]);
    const cfg = parseDocs(cm.data['config.yaml'])[0];
    const tlsVolume = pod.spec.volumes.find((v) => v.secret);
    assert.deepEqual(cfg.inject.listen, '0.0.0.0:8443');
    assert.deepEqual(cfg.inject.tls, { cert_file: `${mount(tlsVolume.name)}/tls.crt`, key_file: `${mount(tlsVolume.name)}/tls.key` });
    assert.equal(cfg.inject.image, 'mcp-sidecar:0.1.0');
    assert.equal(cfg.admin.listen, '0.0.0.0:9901');
    assert.ok(cfg.inject.limits.request_timeout_seconds < 5, 'a review is cut before the API server gives up on it');

    // The MutatingWebhookConfiguration.
    assert.equal(mwc.webhooks.length, 1);
    const [wh] = mwc.webhooks;
    assert.deepEqual([wh.admissionReviewVersions, wh.sideEffects, wh.timeoutSeconds, wh.reinvocationPolicy, wh.failurePolicy],
      [['v1'], 'None', 5, 'Never', 'Fail'], mode);
    assert.deepEqual(wh.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    assert.deepEqual(wh.clientConfig.service, { name: svc.metadata.name, namespace: NS, path: '/inject', port: 443 });
    // Only labelled namespaces; never the webhook's own pods; other pods yes.
    assert.ok(selects(wh.namespaceSelector, { 'mcp-sidecar.io/injection': 'enabled', 'kubernetes.io/metadata.name': 'agents' }));
    for (const ns of ['kube-system', NS, 'default']) assert.ok(!selects(wh.namespaceSelector, { 'kubernetes.io/metadata.name': ns }), ns);
    assert.ok(!selects(wh.objectSelector, pod.metadata.labels), 'the webhook\'s own pods are never sent to it');
    assert.ok(selects(wh.objectSelector, { app: 'research-agent' }));

    // The serving certificate: the Secret the pods mount, for the name the API server calls.
    const dnsName = `${svc.metadata.name}.${NS}.svc`;
    if (mode === 'generated') {
      const [secret] = find(objs, 'Secret');
      assert.equal(secret.metadata.name, tlsVolume.secret.secretName);
      const pem = (key) => Buffer.from(secret.data[key], 'base64').toString();
      const ca = new X509Certificate(pem('ca.crt'));
      const cert = new X509Certificate(pem('tls.crt'));
      assert.equal(Buffer.from(wh.clientConfig.caBundle, 'base64').toString(), pem('ca.crt'), 'caBundle is the CA');
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'the CA signed the serving certificate');
      assert.ok(cert.checkHost(dnsName), `the certificate is for ${dnsName}: ${cert.subjectAltName}`);
      assert.ok(cert.checkPrivateKey(createPrivateKey(pem('tls.key'))), 'the key matches');
      assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined);
    } else {
      const [certificate] = find(objs, 'Certificate');
      assert.equal(certificate.spec.secretName, tlsVolume.secret.secretName);
      assert.ok(certificate.spec.dnsNames.includes(dnsName));
      assert.ok(certificate.spec.usages.includes('server auth'));
      assert.equal(mwc.metadata.annotations['cert-manager.io/inject-ca-from'], `${NS}/${certificate.metadata.name}`);
      assert.equal(wh.clientConfig.caBundle, undefined, 'cert-manager fills it');
      const issuer = find(objs, 'Issuer')[0];
      if (issuer) assert.deepEqual([certificate.spec.issuerRef.name, certificate.spec.issuerRef.kind, issuer.spec.selfSigned], [issuer.metadata.name, 'Issuer', {}]);
      else assert.deepEqual(certificate.spec.issuerRef, { name: 'platform-ca', kind: 'ClusterIssuer' });
    }
  }
  // Values: failurePolicy Ignore and another namespace selector.
  const objs = renderWebhook([...WEBHOOK_MODES.generated, '--set', 'webhook.failurePolicy=Ignore',
    // Helm merges maps: the default matchLabels goes with null (the README says so).
    '--set-json', 'webhook.namespaceSelector={"matchLabels":null,"matchExpressions":[{"key":"team","operator":"In","values":["ml"]}]}',
    '--set-json', 'webhook.objectSelector={"matchLabels":{"mcp":"yes"}}']);
  const [wh] = find(objs, 'MutatingWebhookConfiguration')[0].webhooks;
  assert.equal(wh.failurePolicy, 'Ignore');
  assert.ok(selects(wh.namespaceSelector, { team: 'ml' }) && !selects(wh.namespaceSelector, { team: 'web' }));
  assert.ok(selects(wh.objectSelector, { mcp: 'yes' }) && !selects(wh.objectSelector, { mcp: 'yes', 'mcp-sidecar.io/webhook': 'true' }));
});

test('bad webhook values are refused naming the key', () => {
  for (const [set, message] of [
    [['--set', 'webhook.failurePolicy=Maybe'], /\/webhook\/failurePolicy/],
    [['--set', 'webhook.replicas=0'], /\/webhook\/replicas/],
    [['--set', 'webhook.certManager.duration=90d'], /\/webhook\/certManager\/duration/],
    [['--set', 'webhook.bogus=1'], /additional properties 'bogus' not allowed/]
  ]) {
    const r = helm(['template', 'x', SIDECAR_CHART, '--set', 'webhook.enabled=true', ...set]);
    assert.notEqual(r.status, 0, set.join(' '));
    assert.match(r.stderr, message);
  }
});

// ---- the webhook for real, over TLS ----------------------------------------------------------

// A CA and two serving certificates for localhost (127.0.0.1), made with openssl.
function makeCertificates(dir) {
  const issue = (name, subject, extensions, signer = []) => {
    const [cert, key] = [path.join(dir, `${name}.crt`), path.join(dir, `${name}.key`)];
    const r = run('openssl', ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-keyout', key, '-out', cert, '-subj', subject, ...signer, ...extensions.flatMap((e) => ['-addext', e])]);
    assert.equal(r.status, 0, `openssl (${name}): ${r.stderr}`);
    return { cert, key };
  };
  const ca = issue('ca', '/CN=inject test CA', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign']);
  const serving = (name) => issue(name, '/CN=localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1',
    'basicConstraints=critical,CA:FALSE', 'extendedKeyUsage=serverAuth'], ['-CA', ca.cert, '-CAkey', ca.key]);
  return { ca: fs.readFileSync(ca.cert), first: serving('serving-1'), second: serving('serving-2') };
}

// Starts `mcp-sidecar inject --webhook --config` with the chart's webhook config, moved onto
// loopback ports and the test's certificate, and waits (bounded) for /readyz.
async function startWebhook(dir, certs) {
  const cm = find(renderWebhook(WEBHOOK_MODES.generated), 'ConfigMap').find((o) => o.metadata.name.endsWith('-webhook'));
  const cfg = parseDocs(cm.data['config.yaml'])[0];
  const [port, adminPort] = [await freePort(), await freePort()];
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.copyFileSync(certs.first.cert, certFile);
  fs.copyFileSync(certs.first.key, keyFile);
  cfg.admin.listen = `127.0.0.1:${adminPort}`;
  Object.assign(cfg.inject, { listen: `127.0.0.1:${port}`, tls: { cert_file: certFile, key_file: keyFile } });
  cfg.shutdown = { delay_seconds: 0, grace_seconds: 1, close_timeout_seconds: 1 };
  cfg.reload = { interval_seconds: 0.1 };
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  const logFile = path.join(dir, 'webhook.log');
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(BIN, ['inject', '--webhook', '--config', configFile], { env: ENV, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const admin = `http://127.0.0.1:${adminPort}`;
  const get = async (pathname) => {
    const res = await fetch(`${admin}${pathname}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, text: await res.text() };
  };
  await until(async () => {
    if (exited()) throw new Error(`the webhook exited (${proc.exitCode ?? proc.signalCode}):\n${fs.readFileSync(logFile, 'utf8')}`);
    return (await get('/readyz').catch(() => ({}))).status === 200;
  }, { timeoutMs: 20_000, what: 'the webhook /readyz' });
  return {
    port, certFile, keyFile, logFile, get, exited,
    metrics: async () => (await get('/metrics')).text,
    async stop() {
      if (exited()) return proc.exitCode ?? proc.signalCode;
      const done = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await done;
      clearTimeout(timer);
      return code;
    }
  };
}

// One HTTPS request to the webhook, trusting the test CA. Resolves {status, headers, body, json}.
function httpsRequest(port, ca, { method = 'POST', pathname = '/inject', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, path: pathname, method, ca, agent: false,
      headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(text); } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

// An oversized POST /inject over a raw TLS connection: the webhook answers 413 without reading
// such a body, and closing a connection with unread data resets it, which loses the answer if
// the client is still writing. So with a Content-Length only the head is sent (the length alone
// must decide, as it does for a client that sends `Expect: 100-continue`); chunked, the body is
// written until the webhook stops reading and answers. Resolves {status, text} once the answer is
// complete.
function oversizedRequest(port, ca, body, { chunked }) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    let received = Buffer.alloc(0);
    const finish = (err, value) => {
      clearTimeout(timer);
      socket.destroy();
      return err ? reject(err) : resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within 15 s: ${received.toString().slice(0, 200)}`)), 15_000);
    socket.on('data', (d) => {
      received = Buffer.concat([received, d]);
      const text = received.toString();
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
      if (end >= 0 && received.length >= end + 4 + length) finish(null, { status: Number(text.slice(9, 12)), text });
    });
    socket.on('error', () => {}); // the answer, or its absence, tells
    socket.on('close', () => finish(new Error(`closed without an answer: ${received.toString().slice(0, 200)}`)));
    // Resolves when the socket drains, receives or closes; leaves no listener behind.
    const writable = () => new Promise((r) => {
      const events = ['drain', 'data', 'close'];
      const done = () => {
        events.forEach((e) => socket.off(e, done));
        r();
      };
      events.forEach((e) => socket.on(e, done));
    });
    socket.once('secureConnect', async () => {
      socket.write(`POST /inject HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${
        chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`}\r\n\r\n`);
      if (!chunked) return;
      for (let i = 0; i < body.length && received.length === 0 && !socket.destroyed; i += 1 << 16) {
        const piece = body.subarray(i, i + (1 << 16));
        if (!socket.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]))) await writable();
      }
      if (received.length === 0 && !socket.destroyed) socket.write('0\r\n\r\n');
    });
  });
}

let uids = 0;
// An AdmissionReview v1 for creating `pod`, as the API server sends it.
const reviewOf = (pod) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: `0b9f6c2e-0000-4000-8000-${String(++uids).padStart(12, '0')}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: pod.metadata.namespace,
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
    object: pod,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' }
  }
});

// The Pods the API server would be asked to create from a manifest's objects.
function podsOf(objs) {
  return objs.filter((o) => templateOf(o)).map((o) => {
    if (o.kind === 'Pod') return clone(o);
    const t = clone(templateOf(o));
    return { apiVersion: 'v1', kind: 'Pod', metadata: { ...t.metadata, generateName: `${o.metadata.name}-`, namespace: o.metadata.namespace ?? 'default' }, spec: t.spec };
  });
}

test('the webhook over TLS: patches that apply and equal the CLI, no patch the second time, denials, 4xx for what is not a review, a slow client cut, certificate reload, metrics', async (t) => {
  const dir = tempDir('inject-webhook-');
  const certs = makeCertificates(dir);
  const wh = await startWebhook(dir, certs);
  t.after(() => wh.stop());
  const send = (body) => httpsRequest(wh.port, certs.ca, { body: typeof body === 'string' ? body : JSON.stringify(body) });
  const healthy = async (what) => {
    assert.ok(!wh.exited(), `${what}: the webhook is still running`);
    assert.equal((await wh.get('/healthz')).status, 200, `${what}: /healthz`);
  };
  const counts = async () => {
    const m = await wh.metrics();
    return Object.fromEntries(['injected', 'unchanged', 'denied', 'invalid'].map((o) => [o, metricValue(m, 'mcp_sidecar_inject_reviews_total', { outcome: o }) ?? 0]));
  };
  const before = await counts();
  const expected = { injected: 0, unchanged: 0, denied: 0 };

  // Every pod of every manifest: the answer, the patch applied, the CLI's result, a second review.
  for (const file of manifestFiles) {
    for (const pod of podsOf(objectsOf(readYaml(fs.readFileSync(path.join(MANIFESTS, file), 'utf8'))))) {
      const where = `${file}: pod ${pod.metadata.name ?? pod.metadata.generateName}`;
      const review = reviewOf(pod);
      const r = await send(review);
      assert.equal(r.status, 200, `${where}: ${r.body}`);
      assert.deepEqual([r.json.apiVersion, r.json.kind, r.json.response.uid, r.json.response.allowed], ['admission.k8s.io/v1', 'AdmissionReview', review.request.uid, true], where);
      const cli = readYaml(injectText(JSON.stringify(pod), where))[0];
      if (!wantsInjection(pod) || hasSidecar(pod.spec)) {
        assert.equal(r.json.response.patch, undefined, `${where}: no patch`);
        assert.equal(r.json.response.patchType, undefined, `${where}: no patchType`);
        assert.deepEqual(cli, pod, `${where}: the CLI leaves it too`);
        expected.unchanged++;
        continue;
      }
      assert.equal(r.json.response.patchType, 'JSONPatch', where);
      const patch = JSON.parse(Buffer.from(r.json.response.patch, 'base64').toString());
      const patched = applyJsonPatch(pod, patch);
      assert.deepEqual(patched, cli, `${where}: the patched pod is what inject -f makes of it`);
      expected.injected++;
      // The pod the API server then holds, reviewed again (as a reinvocation would): no patch.
      const again = await send(reviewOf(patched));
      assert.deepEqual([again.status, again.json.response.allowed, again.json.response.patch], [200, true, undefined], `${where}: twice`);
      expected.unchanged++;
    }
  }
  assert.ok(expected.injected >= 8, `${expected.injected} pods injected`);

  // Bad annotations: denied (HTTP 200, allowed false) with the message naming the annotation.
  for (const [file, [key]] of Object.entries(BAD_CASES)) {
    const annotation = `mcp-sidecar.io/${key}`;
    const pods = podsOf(objectsOf(readYaml(fs.readFileSync(path.join(BAD, file), 'utf8')))).filter((p) => wantsInjection(p));
    const pod = pods.at(-1);
    const review = reviewOf(pod);
    const r = await send(review);
    assert.equal(r.status, 200, `${file}: ${r.body}`);
    assert.deepEqual([r.json.response.uid, r.json.response.allowed, r.json.response.patch], [review.request.uid, false, undefined], file);
    assert.ok(r.json.response.status?.message?.includes(annotation), `${file}: the message names ${annotation}: ${JSON.stringify(r.json.response.status)}`);
    expected.denied++;
  }
  await healthy('after the reviews');

  // Many at once.
  const pod = podsOf(objectsOf(readYaml(fs.readFileSync(path.join(MANIFESTS, 'deployment-inbound.yaml'), 'utf8'))))[0];
  const answers = await Promise.all(Array.from({ length: 24 }, () => send(reviewOf(pod))));
  assert.ok(answers.every((a) => a.status === 200 && a.json.response.patch === answers[0].json.response.patch), 'concurrent reviews, one answer');
  expected.injected += answers.length;

  // What is not an AdmissionReview v1: a 400 with a JSON error, and the process carries on.
  const review = reviewOf(pod);
  const { uid, ...noUid } = review.request;
  const invalid = {
    'malformed JSON': '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionRev',
    'not JSON at all': 'hello',
    'a Pod, not a review': JSON.stringify(pod),
    'a JSON array': '[]',
    'admission.k8s.io/v1beta1': JSON.stringify({ ...review, apiVersion: 'admission.k8s.io/v1beta1' }),
    'no request': JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
    'no request.uid': JSON.stringify({ ...review, request: noUid }),
    'an empty body': ''
  };
  for (const [what, body] of Object.entries(invalid)) {
    const r = await send(body);
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.body}`);
    assert.ok(r.json && typeof r.json === 'object', `${what}: a JSON error: ${r.body}`);
    await healthy(what);
  }
  // Larger than max_review_bytes (4 MiB): 413, never parsed; with a length and chunked.
  const huge = Buffer.from(JSON.stringify({ ...review, padding: 'x'.repeat(4 * 1024 * 1024) }));
  for (const chunked of [false, true]) {
    const what = `oversized, ${chunked ? 'chunked' : 'with Content-Length'}`;
    const r = await oversizedRequest(wh.port, certs.ca, huge, { chunked });
    assert.equal(r.status, 413, `${what}: ${r.text.slice(0, 300)}`);
    await healthy(what);
  }
  // Not POST /inject: 4xx.
  for (const [method, pathname] of [['GET', '/inject'], ['POST', '/mutate']]) {
    const r = await httpsRequest(wh.port, certs.ca, { method, pathname, body: method === 'POST' ? JSON.stringify(review) : undefined });
    assert.ok(r.status >= 400 && r.status < 500, `${method} ${pathname}: ${r.status}`);
  }

  // A client that sends half a review and stalls is cut after request_timeout_seconds (4).
  const started = Date.now();
  await new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: wh.port, servername: 'localhost', ca: certs.ca }, () => {
      socket.write('POST /inject HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion"');
    });
    const timer = setTimeout(() => reject(new Error('a stalled client was not cut within 15 s')), 15_000);
    socket.on('close', () => { clearTimeout(timer); resolve(); });
    socket.on('error', () => {});
    socket.resume();
  });
  const cut = (Date.now() - started) / 1000;
  assert.ok(cut < 8, `a stalled client is cut after the 4 s request timeout, not ${cut} s`);
  await healthy('a stalled client');

  // Metrics: each review counted once under its outcome (a 413 may count as invalid or not).
  const now = await counts();
  for (const outcome of ['injected', 'unchanged', 'denied']) assert.equal(now[outcome] - before[outcome], expected[outcome], `mcp_sidecar_inject_reviews_total{outcome="${outcome}"}`);
  const invalidCount = now.invalid - before.invalid;
  const invalidSent = Object.keys(invalid).length;
  assert.ok(invalidCount >= invalidSent && invalidCount <= invalidSent + 2, `mcp_sidecar_inject_reviews_total{outcome="invalid"}: ${invalidCount}, ${invalidSent} sent`);
  assert.ok(metricValue(await wh.metrics(), 'mcp_sidecar_inject_review_duration_seconds_count') >= expected.injected, 'review durations');
  t.diagnostic(`reviews: ${JSON.stringify(expected)}, invalid ${invalidCount} (of ${invalidSent} that are no review, and 2 oversized); a stalled client cut after ${cut.toFixed(1)} s`);

  // Certificate reload: new files (swapped like the kubelet's) are served without a restart.
  const served = () => new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: wh.port, servername: 'localhost', ca: certs.ca }, () => {
      resolve(socket.getPeerX509Certificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
  const second = new X509Certificate(fs.readFileSync(certs.second.cert)).fingerprint256;
  assert.notEqual(await served(), second);
  for (const [from, to] of [[certs.second.key, wh.keyFile], [certs.second.cert, wh.certFile]]) {
    fs.copyFileSync(from, `${to}.new`);
    fs.renameSync(`${to}.new`, to);
  }
  await until(async () => (await served()) === second, { timeoutMs: 10_000, what: 'the new serving certificate' });
  assert.equal((await send(reviewOf(pod))).status, 200, 'reviews after the reload');

  // SIGTERM: a clean exit.
  assert.equal(await wh.stop(), 0, `exit status; see ${wh.logFile}`);
});

// ---- RFC 6902 --------------------------------------------------------------------------------

// Applies a JSON Patch (RFC 6902) to a copy of `doc`, strictly: a path that does not exist where
// the RFC says it must, an index out of range or a failed test is an error.
function applyJsonPatch(doc, ops) {
  const wrapper = { root: clone(doc) };
  const tokens = (pointer) => {
    if (pointer === '') return [];
    assert.ok(pointer.startsWith('/'), `bad JSON pointer ${JSON.stringify(pointer)}`);
    return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  };
  // The container of the last token and that token, walking from the wrapper's root.
  const locate = (pointer) => {
    const path = ['root', ...tokens(pointer)];
    let parent = wrapper;
    for (const t of path.slice(0, -1)) {
      const next = Array.isArray(parent) ? parent[index(parent, t, false)] : parent[t];
      assert.ok(next !== undefined && next !== null && typeof next === 'object', `${pointer}: ${t} does not exist`);
      parent = next;
    }
    return [parent, path.at(-1)];
  };
  const index = (array, t, adding) => {
    if (adding && t === '-') return array.length;
    assert.match(t, /^(0|[1-9][0-9]*)$/, `array index ${t}`);
    const i = Number(t);
    assert.ok(adding ? i <= array.length : i < array.length, `index ${i} out of range (length ${array.length})`);
    return i;
  };
  const get = (pointer) => {
    const [parent, t] = locate(pointer);
    const value = Array.isArray(parent) ? parent[index(parent, t, false)] : parent[t];
    assert.ok(value !== undefined || (!Array.isArray(parent) && t in parent), `${pointer} does not exist`);
    return value;
  };
  const add = (pointer, value) => {
    const [parent, t] = locate(pointer);
    if (Array.isArray(parent)) parent.splice(index(parent, t, true), 0, value);
    else parent[t] = value;
  };
  const remove = (pointer) => {
    const [parent, t] = locate(pointer);
    if (Array.isArray(parent)) return parent.splice(index(parent, t, false), 1)[0];
    assert.ok(t in parent, `remove ${pointer}: does not exist`);
    const value = parent[t];
    delete parent[t];
    return value;
  };
  assert.ok(Array.isArray(ops), 'a JSON Patch is an array');
  for (const op of ops) {
    switch (op.op) {
      case 'add': add(op.path, clone(op.value)); break;
      case 'remove': remove(op.path); break;
      case 'replace': remove(op.path); add(op.path, clone(op.value)); break;
      case 'move': add(op.path, remove(op.from)); break;
      case 'copy': add(op.path, clone(get(op.from))); break;
      case 'test': assert.deepEqual(get(op.path), op.value, `test ${op.path}`); break;
      default: assert.fail(`unknown JSON Patch op ${JSON.stringify(op)}`);
    }
  }
  return wrapper.root;
}

test('the JSON Patch helper follows RFC 6902 (its appendix A examples)', () => {
  const cases = [
    [{ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
    [{ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
    [{ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
    [{ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
    [{ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
    [{ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } }],
    [{ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
    [{ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
    [{ 'a/b': { '~c': 1 } }, [{ op: 'replace', path: '/a~1b/~0c', value: 2 }], { 'a/b': { '~c': 2 } }]
  ];
  for (const [doc, patch, result] of cases) assert.deepEqual(applyJsonPatch(doc, patch), result, JSON.stringify(patch));
  for (const [doc, patch] of [
    [{ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]],
    [{ foo: ['bar'] }, [{ op: 'add', path: '/foo/2', value: 1 }]],
    [{ foo: 'bar' }, [{ op: 'remove', path: '/baz' }]],
    [{ foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 1 }]],
    [{ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]],
    [{ foo: ['bar'] }, [{ op: 'remove', path: '/foo/01' }]]
  ]) assert.throws(() => applyJsonPatch(doc, patch), JSON.stringify(patch));
});
