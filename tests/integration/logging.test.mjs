// The log's batching with the default settings (log.flush_interval_ms): a call's info lines are
// kept and written together at the end of the interval; a warning is written at once, with the
// lines kept before it and in their order; what is kept at exit is written before the process ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { SIDECAR_BIN, callTool, request, sidecarConfig, startServer, startSidecar, until } from './helpers.mjs';

const dir = fs.mkdtempSync('/tmp/it-logging-');

test('info lines wait for the flush interval, a warning writes them at once, exit writes the rest', async () => {
  const server = await startServer('registry', { dir });
  const gone = { role: 'gone', url: 'http://127.0.0.1:1/mcp' };  // nothing listens: a warning on the first call
  const config = sidecarConfig(
    [server, gone],
    { heartbeat_interval_seconds: 0, retry: { max_attempts: 1, base_delay_ms: 1, max_delay_ms: 5 } },
    { log: { flush_interval_ms: 10000 } }
  );
  // The default of the tests (every line at once) off: the interval of the config applies.
  const sc = await startSidecar({ bin: SIDECAR_BIN, dir, config, env: { MCP_LOG_FLUSH_INTERVAL_MS: undefined } });
  try {
    const lines = (caseId) => sc.logLines().filter((l) => l.case_id === caseId);
    const call = (caseId) => callTool(sc, 'registry', 'lookup_company', { company_number: 'GB-10001' }, { 'X-Case-Id': caseId });

    assert.equal((await call('batched-1')).status, 200);
    assert.deepEqual(lines('batched-1'), [], 'the call is answered; its lines wait for the interval (10 s)');

    assert.equal((await callTool(sc, 'gone', 'ping', {}, { 'X-Case-Id': 'warned-1' })).status, 503);
    const warned = () => sc.logLines().findIndex((l) => l.event === 'session_open_failed' && l.level === 'warn');
    await until(() => warned() >= 0, { timeoutMs: 5000, what: 'the warning, well before the interval ends' });
    const all = sc.logLines();
    const events = lines('batched-1').map((l) => l.event);
    assert.deepEqual(events, ['call_start', 'call_end'], 'written with the warning');
    assert.ok(all.findIndex((l) => l.case_id === 'batched-1' && l.event === 'call_end') < warned(), 'in the order made');

    // The fill cycle the failed call started ends with more warnings: let it end first.
    const settled = async () =>
      (await request(`${sc.admin}/debug/pools`)).json.servers.find((p) => p.server === 'gone').sessions.every((x) => x.state === 'failed');
    await until(settled, { what: 'the fill cycle to end' });
    assert.equal((await call('batched-2')).status, 200);
    assert.deepEqual(lines('batched-2'), []);
  } finally {
    assert.equal(await sc.stop(), 0);
    await server.stop();
  }
  assert.deepEqual(
    sc.logLines().filter((l) => l.case_id === 'batched-2').map((l) => l.event),
    ['call_start', 'call_end'],
    'kept lines are written at exit'
  );
});
