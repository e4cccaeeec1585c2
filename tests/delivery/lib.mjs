// Shared by the delivery tests: the pinned helm and kubectl (tools/k8s/bin), multi-document YAML,
// offline validation of Kubernetes objects against the API schemas (kubernetes-models, plus the
// cert-manager and prometheus-operator CRDs the charts render), and podman: bounded commands,
// the test images, free loopback ports and polling an HTTP endpoint.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOOLS = path.join(ROOT, 'tools/k8s');
const requireTools = createRequire(path.join(TOOLS, 'package.json'));
const YAML = requireTools('yaml');

// Tests that need what a machine may lack say SKIPPED loudly; MCP_REQUIRE_ALL_TESTS=1 (CI) makes
// that a failure instead.
export function skipOrFail(t, why) {
  if (process.env.MCP_REQUIRE_ALL_TESTS === '1') throw new Error(`required test cannot run: ${why}`);
  process.stderr.write(`\n*** SKIPPED: ${t.name}: ${why} ***\n\n`);
  t.skip(`SKIPPED: ${why}`);
}

function tool(name) {
  const bin = path.join(TOOLS, 'bin', name);
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run scripts/setup.sh`);
  return bin;
}

// Runs a command; returns {status, stdout, stderr}. Never throws on a non-zero exit.
export function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const helm = (args, options) => run(tool('helm'), args, options);
export const kubectl = (args, options) => run(tool('kubectl'), args, options);

// Like helm(), but the command must succeed; returns stdout.
export function helmOk(args, options) {
  const r = helm(args, options);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

// Every non-empty document of a multi-document YAML stream, read as Kubernetes reads it (YAML
// 1.1, sigs.k8s.io/yaml: `0644` is octal, an unquoted `yes` a boolean); a List's items are
// flattened.
export function parseDocs(text) {
  const out = [];
  for (const doc of YAML.parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) throw new Error(`bad YAML: ${doc.errors[0].message}`);
    const obj = doc.toJSON();
    if (obj == null) continue;
    if (obj.kind === 'List' && Array.isArray(obj.items)) out.push(...obj.items);
    else out.push(obj);
  }
  return out;
}

export const toYaml = (obj) => YAML.stringify(obj);

// apiVersion -> module folder of the packages that carry its schemas.
function modelFile(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const candidates = [];
  if (group === '') candidates.push(`kubernetes-models/${version}/${kind}.js`);
  else {
    candidates.push(`kubernetes-models/${group}/${version}/${kind}.js`);
    candidates.push(`@kubernetes-models/cert-manager/${group}/${version}/${kind}.js`);
    candidates.push(`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}.js`);
  }
  for (const c of candidates) {
    const file = path.join(TOOLS, 'node_modules', c);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

// Validates one object against its API schema. Returns a list of error strings (empty = valid).
export async function validateObject(obj) {
  const where = `${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
  if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return [`${where}: no apiVersion/kind`];
  const file = modelFile(obj.apiVersion, obj.kind);
  if (!file) return [`${where}: no schema for ${obj.apiVersion} ${obj.kind}`];
  const mod = await import(pathToFileURL(file).href);
  const Model = mod[obj.kind] ?? mod.default;
  // kustomize folds long base64 values over several lines; the API server's decoder skips line
  // breaks (Go's base64), the schema's format check does not.
  if (obj.kind === 'Secret' && obj.data) {
    obj = { ...obj, data: Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) };
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    return [`${where}: ${err.message}`];
  }
}

// Validates every object; returns all errors found.
export async function validateAll(objs) {
  const errors = [];
  for (const o of objs) errors.push(...(await validateObject(o)));
  return errors;
}

// The pod template of a workload object (or the Pod itself), or null.
export function podSpecOf(obj) {
  switch (obj.kind) {
    case 'Pod':
      return obj.spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return obj.spec?.template?.spec ?? null;
    case 'CronJob':
      return obj.spec?.jobTemplate?.spec?.template?.spec ?? null;
    default:
      return null;
  }
}

// ---- podman (scripts/podman-setup.sh prepares it) -------------------------------------------

export const SIDECAR_IMAGE = 'localhost/mcp-sidecar:test';
export const KYC_IMAGE = 'localhost/mcp-sidecar-kyc:test';
const CONTAINERS_CONF = '/etc/mcp-podman.conf';
export const MINUTE = 60_000;

// Runs a command; resolves {status, stdout, stderr}. Killed after timeoutMs; `onLine` sees each
// output line as it comes (build progress).
export function exec(cmd, args, { timeoutMs = MINUTE, env, onLine } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    let partial = '';
    for (const key of ['stdout', 'stderr']) {
      proc[key].setEncoding('utf8');
      proc[key].on('data', (d) => {
        out[key] += d;
        if (!onLine) return;
        const lines = (partial + d).split('\n');
        partial = lines.pop();
        lines.forEach(onLine);
      });
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (status, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms`));
      else resolve({ status, ...out });
    });
  });
}

// podman with runc and this project's containers.conf; never throws on a non-zero exit.
export const podman = (args, options) =>
  exec('podman', ['--runtime', 'runc', ...args], { ...options, env: { CONTAINERS_CONF, ...options?.env } });

// Like podman(), but the command must succeed; returns stdout.
export async function podmanOk(args, options) {
  const r = await podman(args, options);
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

// Whether podman can run here: root (rootful storage) and scripts/podman-setup.sh done. If not,
// skips the test loudly (skipOrFail) and answers false.
export async function podmanUsable(t) {
  if (process.getuid() !== 0) {
    skipOrFail(t, 'podman here needs root (scripts/podman-setup.sh and rootful storage)');
    return false;
  }
  const setup = await exec(path.join(ROOT, 'scripts/podman-setup.sh'), [], { timeoutMs: 15 * MINUTE });
  if (setup.status !== 0) {
    skipOrFail(t, `scripts/podman-setup.sh failed:\n${setup.stderr.slice(-2000)}`);
    return false;
  }
  return true;
}

async function build(image, context, extra, log) {
  const started = Date.now();
  log(`building ${image} from ${path.relative(ROOT, context) || '.'} (minutes on a cold cache)`);
  await podmanOk(['build', '--network=host', '--pull=never', ...extra, '-t', image, context], {
    timeoutMs: 30 * MINUTE,
    onLine: (line) => /^\[\d+\/\d+\] STEP /.test(line) && log(`  ${line.slice(0, 120)}`)
  });
  log(`built ${image} in ${Math.round((Date.now() - started) / 1000)} s`);
}

// Builds the two test images (Dockerfile, examples/kyc/Dockerfile): each one that is missing, and
// all of them with `rebuild`. Answers the commit the sidecar image is built from (git describe).
export async function ensureImages({ rebuild, log }) {
  const gitVersion = (await exec('git', ['-C', ROOT, 'describe', '--always', '--dirty'])).stdout.trim() || 'unknown';
  const exists = async (image) => (await podman(['image', 'exists', image])).status === 0;
  if (rebuild || !(await exists(SIDECAR_IMAGE))) {
    await build(SIDECAR_IMAGE, ROOT, ['--build-arg', `GIT_VERSION=${gitVersion}`], log);
  } else log(`reusing ${SIDECAR_IMAGE}`);
  if (rebuild || !(await exists(KYC_IMAGE))) {
    // Where npm's TLS passes an intercepting proxy, the build needs the CAs this machine trusts
    // (Node's extra ones, else the system store, which the host's own npm uses); they reach npm
    // inside the build as a secret, never a layer.
    const ca = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';
    const secret = ca && fs.existsSync(ca) ? ['--secret', `id=npm_ca,src=${ca}`] : [];
    await build(KYC_IMAGE, path.join(ROOT, 'examples/kyc'), secret, log);
  } else log(`reusing ${KYC_IMAGE}`);
  return gitVersion;
}

export { freePort } from '../../examples/kyc/launch.mjs';

// Polls an HTTP URL until it answers (any status; with `until`, a status that passes it);
// returns {status, text}. Bounded by timeoutMs.
export async function untilAnswers(url, timeoutMs, what, { until = () => true } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      last = { status: res.status, text: await res.text() };
      if (until(last.status)) return last;
    } catch (err) {
      last = { error: err.cause?.code ?? err.message };
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms (${last.error ?? `status ${last.status}`})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
