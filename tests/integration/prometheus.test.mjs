// A real Prometheus (the Debian package) scrapes the sidecar's admin port on loopback: the calls
// driven through the REST API come back, per server, tool and outcome, through the Prometheus
// HTTP API; the target is up; `promtool check metrics` finds nothing to say about the exposition.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import {
  SIDECAR_BIN, callTool, freePort, metrics, request, sidecarConfig, skipOrFail, startDaemon, startServer, startSidecar,
  until
} from './helpers.mjs';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const JOB = 'mcp-sidecar';

const dir = fs.mkdtempSync('/tmp/it-prometheus-');
const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// Starts Prometheus scraping `targets` every second; resolves once it answers /-/ready.
async function startPrometheus(targets) {
  const port = await freePort();
  const config = `${dir}/prometheus.yml`;
  // JSON is YAML.
  fs.writeFileSync(config, JSON.stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [{ job_name: JOB, metrics_path: '/metrics', static_configs: [{ targets }] }]
  }));
  const api = `http://127.0.0.1:${port}`;
  const prometheus = await startDaemon(PROMETHEUS, [
    `--config.file=${config}`, `--storage.tsdb.path=${dir}/tsdb`, `--web.listen-address=127.0.0.1:${port}`
  ], { dir, name: 'prometheus', ready: async () => (await request(`${api}/-/ready`)).status === 200 });
  cleanup.push(() => prometheus.stop());
  return { ...prometheus, api };
}

// The result vector of an instant query: [{labels, value}].
async function query(prometheus, promql) {
  const r = await request(`${prometheus.api}/api/v1/query?query=${encodeURIComponent(promql)}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.status, 'success', r.body);
  return r.json.data.result.map((s) => ({ labels: s.metric, value: Number(s.value[1]) }));
}

// A vector as {"<label values joined by />": value}, for comparing whole vectors at once.
const byLabels = (vector, names) =>
  Object.fromEntries(vector.map((s) => [names.map((n) => s.labels[n]).join('/'), s.value]).sort());

test('Prometheus scrapes the admin port and reads back every call by server, tool and outcome', async (t) => {
  for (const bin of [PROMETHEUS, PROMTOOL])
    if (!fs.existsSync(bin)) return skipOrFail(t, `${bin} is missing (Debian package prometheus)`);

  const servers = await Promise.all(['registry', 'pep'].map((role) => startServer(role, { dir: fs.mkdtempSync(`${dir}/${role}-`) })));
  cleanup.push(() => Promise.all(servers.map((s) => s.stop())));
  const sidecar = await startSidecar({ bin: SIDECAR_BIN, dir, config: sidecarConfig(servers) });
  cleanup.push(() => sidecar.stop());
  const prometheus = await startPrometheus([sidecar.addresses.admin]);

  // The calls, and the outcome label each must be counted under. An unknown tool is refused by
  // the sidecar ("rejected", its name folded into "other": callers' strings never become
  // labels); a tool's own failure (isError) is "tool_error".
  const plan = [
    ...Array(5).fill(['registry', 'ping', {}, 200, 'ok']),
    ...Array(3).fill(['pep', 'ping', {}, 200, 'ok']),
    ...Array(2).fill(['registry', 'lookup_company', { company_number: 'XX-0', case_id: 'prom' }, 200, 'tool_error']),
    ...Array(2).fill(['pep', 'no_such_tool', {}, 404, 'rejected'])
  ];
  const expected = {};
  for (const [server, tool, args, status, outcome] of plan) {
    const r = await callTool(sidecar, server, tool, args, { 'X-Case-Id': 'prom' });
    assert.equal(r.status, status, `${server}/${tool}: ${r.body}`);
    const key = `${server}/${tool === 'no_such_tool' ? 'other' : tool}/${outcome}`;
    expected[key] = (expected[key] ?? 0) + 1;
  }

  // Scraped every second: poll until Prometheus holds exactly the counts driven.
  const t0 = Date.now();
  const calls = await until(async () => {
    const v = byLabels(await query(prometheus, `mcp_sidecar_calls_total{job="${JOB}",direction="outbound",method="tools/call"}`),
      ['server', 'tool', 'outcome']);
    return JSON.stringify(v) === JSON.stringify(Object.fromEntries(Object.entries(expected).sort())) && v;
  }, { timeoutMs: 30000, intervalMs: 250, what: `Prometheus to report ${JSON.stringify(expected)}` })
    .catch(async (e) => {
      const seen = await query(prometheus, 'mcp_sidecar_calls_total');
      throw new Error(`${e.message}; it has ${JSON.stringify(byLabels(seen, ['server', 'tool', 'outcome']))}`);
    });
  console.log(`prometheus: ${plan.length} calls read back ${Date.now() - t0} ms after the last one: ${JSON.stringify(calls)}`);

  // The duration histogram counted every call once, per server and tool.
  const counts = byLabels(await query(prometheus, 'sum by (server, tool) (mcp_sidecar_call_duration_seconds_count)'), ['server', 'tool']);
  assert.deepEqual(counts, { 'pep/other': 2, 'pep/ping': 3, 'registry/lookup_company': 2, 'registry/ping': 5 });
  const sums = await query(prometheus, 'mcp_sidecar_call_duration_seconds_sum');
  assert.ok(sums.every((s) => s.value > 0), JSON.stringify(sums));
  const inf = byLabels(await query(prometheus, 'sum by (server, tool) (mcp_sidecar_call_duration_seconds_bucket{le="+Inf"})'), ['server', 'tool']);
  assert.deepEqual(inf, counts);

  // The target is healthy, by both of Prometheus's accounts.
  assert.deepEqual((await query(prometheus, `up{job="${JOB}"}`)).map((s) => s.value), [1]);
  const targets = (await request(`${prometheus.api}/api/v1/targets?state=active`)).json.data.activeTargets;
  assert.equal(targets.length, 1);
  assert.equal(targets[0].health, 'up', targets[0].lastError);
  assert.equal(targets[0].scrapeUrl, `${sidecar.admin}/metrics`);

  // The exposition itself passes promtool's parser and linter, silently.
  const exposition = await metrics(sidecar);
  fs.writeFileSync(`${dir}/metrics.txt`, exposition);
  const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool reported problems');
});
