// The container images, built and run with podman (scripts/podman-setup.sh prepares it):
// localhost/mcp-sidecar:test (Dockerfile) and localhost/mcp-sidecar-kyc:test (examples/kyc).
// Every container runs with a read-only root file system on the host network, bound to loopback
// ports chosen here: the sidecar's --check-config, its identity, /healthz, and one KYC case
// through four server containers, an outbound sidecar container and the orchestrator's HTTP API;
// SIGTERM then stops each of them with exit code 0.
//
// The C++ build inside the image takes minutes: MCP_SKIP_IMAGE_BUILD=1 reuses the images of an
// earlier run while iterating (CI always builds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KYC_IMAGE, MINUTE, ROOT, SIDECAR_IMAGE, ensureImages, freePort, podman, podmanOk, podmanUsable, untilAnswers } from './lib.mjs';
import { COMPANIES } from '../../examples/kyc/fixtures.mjs';

// What the images should weigh at most (bytes): the slim base is 78 MB, the sidecar adds its
// libraries and binary (about 22 MB), the KYC image Node 22 and node_modules (about 125 MB).
// Crossing a budget means something unneeded (a -dev package, a build tree) reached the image.
const BUDGET = { [SIDECAR_IMAGE]: 130e6, [KYC_IMAGE]: 260e6 };

const progress = (msg) => process.stderr.write(`images: ${msg}\n`);

test('container images: build, read-only runs, a KYC case through the containers', { timeout: 45 * MINUTE }, async (t) => {
  if (!(await podmanUsable(t))) return;
  const reuse = process.env.MCP_SKIP_IMAGE_BUILD === '1';
  const gitVersion = await ensureImages({ rebuild: !reuse, log: progress });

  const run = `mcp-img-${randomBytes(3).toString('hex')}`;
  const started = [];
  t.after(async () => {
    if (started.length) await podman(['rm', '--force', '--ignore', '--time', '5', ...started], { timeoutMs: 2 * MINUTE });
  });
  // Starts a detached container with a read-only root file system on the host network.
  async function start(role, image, args, env = {}) {
    const name = `${run}-${role}`;
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    started.push(name); // removed afterwards even if it is created but fails to start
    await podmanOk(['run', '--detach', '--name', name, '--read-only', '--network=host', '--pull=never', ...envArgs, image, ...args]);
    return name;
  }
  const inspect = async (what, format) => (await podmanOk([...what, '--format', format])).trim();

  await t.test('images: numeric non-root user, entrypoints, ports, size within budget', async () => {
    const sidecar = JSON.parse(await inspect(['image', 'inspect', SIDECAR_IMAGE], '{{json .Config}}'));
    assert.equal(sidecar.User, '65532:65532');
    assert.deepEqual(sidecar.Entrypoint, ['/usr/local/bin/mcp-sidecar']);
    assert.deepEqual(Object.keys(sidecar.ExposedPorts).sort(), ['7001/tcp', '7443/tcp', '9901/tcp']);
    const kyc = JSON.parse(await inspect(['image', 'inspect', KYC_IMAGE], '{{json .Config}}'));
    assert.equal(kyc.User, '65532:65532');
    assert.deepEqual(kyc.Entrypoint, ['node']);
    assert.equal(kyc.WorkingDir, '/app');
    for (const image of [SIDECAR_IMAGE, KYC_IMAGE]) {
      const size = Number(await inspect(['image', 'inspect', image], '{{.Size}}'));
      progress(`${image}: ${(size / 1e6).toFixed(1)} MB`);
      assert.ok(size < BUDGET[image], `${image} is ${size} bytes, over its budget of ${BUDGET[image]}`);
    }
  });

  await t.test('sidecar image: --version names the commit it was built from', async () => {
    const r = await podmanOk(['run', '--rm', '--read-only', '--network=none', '--pull=never', SIDECAR_IMAGE, '--version']);
    if (!reuse) assert.match(r, new RegExp(gitVersion.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.doesNotMatch(r, /unknown/);
  });

  await t.test('kyc image: Node is the version tools/node pins', async () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, 'tools/node/package.json'), 'utf8')).dependencies.node;
    const dockerfile = fs.readFileSync(path.join(ROOT, 'examples/kyc/Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`^ARG NODE_VERSION=${pinned.replaceAll('.', '\\.')}$`, 'm'));
    const r = await podmanOk(['run', '--rm', '--read-only', '--network=none', '--pull=never', KYC_IMAGE, '--version']);
    assert.equal(r.trim(), `v${pinned}`);
  });

  await t.test('sidecar --check-config: a valid environment exits 0, a bad one 1 with the reason', async () => {
    const check = (servers) =>
      podman(['run', '--rm', '--read-only', '--network=none', '--pull=never', '--env', `MCP_SERVERS=${servers}`, SIDECAR_IMAGE, '--check-config']);
    const good = await check('registry=http://127.0.0.1:8101/mcp');
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /name: "registry"/);
    assert.match(good.stderr, /configuration OK/);
    const bad = await check('Bad Name=ftp://nowhere');
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stderr, /config error: .*outbound\.servers\[0\]\.name/);
    assert.match(bad.stderr, /outbound\.servers\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/);
  });

  // The layout of the contract, on one host network: four servers on their own loopback ports,
  // the outbound sidecar in front of them (transport auto: it detects each server's revision),
  // the orchestrator's HTTP API on the sidecar.
  const transports = { registry: 'stateless', sanctions: 'streamable-http', pep: 'sse', risk: 'streamable-http' };
  const port = {};
  for (const name of [...Object.keys(transports), 'outbound', 'admin', 'orchestrator']) port[name] = await freePort();
  const names = {};

  await t.test('a KYC case through the containers', async (t) => {
    for (const [role, transport] of Object.entries(transports)) {
      names[role] = await start(role, KYC_IMAGE, ['server.mjs', role, '--host', '127.0.0.1', '--port', String(port[role]), '--transport', transport]);
    }
    const servers = Object.keys(transports).map((role) => `${role}=http://127.0.0.1:${port[role]}/${transports[role] === 'sse' ? 'sse' : 'mcp'}`);
    names.sidecar = await start('sidecar', SIDECAR_IMAGE, [], {
      MCP_SERVERS: servers.join(','),
      MCP_OUTBOUND_LISTEN: `127.0.0.1:${port.outbound}`,
      MCP_ADMIN_LISTEN: `127.0.0.1:${port.admin}`
    });
    names.orchestrator = await start('orchestrator', KYC_IMAGE, [
      'orchestrator.mjs', '--serve', String(port.orchestrator), '--host', '127.0.0.1', '--sidecar', `http://127.0.0.1:${port.outbound}`
    ]);
    progress(`containers ${Object.values(names).join(', ')} started`);

    for (const role of Object.keys(transports)) {
      const stats = await untilAnswers(`http://127.0.0.1:${port[role]}/_test/stats`, 30_000, `${role} container`);
      assert.equal(stats.status, 200, `${role}: ${stats.text}`);
    }
    const health = await untilAnswers(`http://127.0.0.1:${port.admin}/healthz`, 30_000, 'sidecar container');
    assert.equal(health.status, 200, health.text);
    assert.equal(JSON.parse(health.text).status, 'ok');
    const orchestrator = await untilAnswers(`http://127.0.0.1:${port.orchestrator}/healthz`, 30_000, 'orchestrator container');
    assert.equal(orchestrator.status, 200, orchestrator.text);

    const post = async (body) => {
      const res = await fetch(`http://127.0.0.1:${port.orchestrator}/cases`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000)
      });
      return { status: res.status, body: await res.json() };
    };
    await t.test('POST /cases answers the decisions of the fixtures', async () => {
      const approve = await post({ company: 'GB-10001', case_id: `${run}-1` });
      assert.equal(approve.status, 200, JSON.stringify(approve.body));
      assert.deepEqual({ ...approve.body, ms: 0 }, { case_id: `${run}-1`, company: 'GB-10001', decision: 'approve', calls: 9, ms: 0 });
      const review = await post({ company: 'DE-20002' });
      assert.equal(review.status, 200, JSON.stringify(review.body));
      assert.equal(review.body.decision, 'review');
      const bad = await post({ case_id: 'x' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /"company"/);
    });

    await t.test('the sidecar spoke each server in the revision it serves', async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${port.admin}/metrics`)).text();
      const eras = {};
      for (const [, labels] of metrics.matchAll(/^mcp_sidecar_upstream_era\{([^}]*)\} 1$/gm)) {
        const l = Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        eras[l.server] = l.era;
      }
      assert.deepEqual(eras, transports);
    });
  });

  await t.test('SIGTERM stops every container with exit code 0; no names in the logs', async () => {
    assert.ok(names.sidecar && names.orchestrator, 'the KYC layout did not start');
    const all = Object.values(names);
    // podman stop sends SIGTERM, and SIGKILL only after --time: the sidecar's drain (5 s delay,
    // then in-flight calls) ends well within it.
    await podmanOk(['stop', '--time', '60', ...all], { timeoutMs: 2 * MINUTE });
    for (const name of all) {
      assert.equal(await inspect(['container', 'inspect', name], '{{.State.ExitCode}}'), '0', `${name} exit code`);
    }
    let logs = '';
    for (const name of all) {
      const r = await podman(['logs', name]);
      logs += r.stdout + r.stderr;
    }
    assert.match(logs, /"event":"shutdown_complete"/);
    assert.match(logs, /"event":"case_done"/);
    for (const company of Object.values(COMPANIES)) {
      for (const name of [company.legal_name, ...company.beneficial_owners.map((o) => o.name)]) {
        assert.ok(!logs.includes(name), `a name from the fixtures reached the logs: ${name}`);
      }
    }
  });
});
