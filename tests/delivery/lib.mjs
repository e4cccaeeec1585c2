// Shared by the delivery tests: the pinned helm and kubectl (tools/k8s/bin), multi-document YAML,
// and offline validation of Kubernetes objects against the API schemas (kubernetes-models, plus
// the cert-manager and prometheus-operator CRDs the charts render).
import { spawnSync } from 'node:child_process';
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

// Every non-empty document of a multi-document YAML stream; a List's items are flattened.
export function parseDocs(text) {
  const out = [];
  for (const doc of YAML.parseAllDocuments(text)) {
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
