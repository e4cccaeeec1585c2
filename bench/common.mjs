// What the harness (run.mjs) and the before-and-after tool (ab.mjs) share: the request they
// send, the median they report, and the CPU time they read from /proc.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

// Requests: the same 2026-07-28 tools/call bytes directly, through nginx and through the sidecar.
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'mcp-bench-load', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {}
};
export const callBody = (name, args, meta = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: { ...META, ...meta } } });
export const callHeaders = (name) => ['MCP-Protocol-Version: 2026-07-28', 'Mcp-Method: tools/call', `Mcp-Name: ${name}`];
// The call every hop scenario makes: the stub's echo tool.
export const ECHO = { body: callBody('echo', { case_id: 'bench-1' }), headers: callHeaders('echo') };

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// CPU seconds of a process in its own code (user) and in the kernel (system), from /proc.
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString());
export function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };  // utime, stime (fields 14, 15)
}
