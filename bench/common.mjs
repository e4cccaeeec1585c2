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
// The call every hop scenario makes: the stub's echo tool, with one of these arguments (the
// harness's --arguments). `small` is the default and what every kept result used until it was
// named; `kyc` is the size of a KYC case's registry lookup (about 0.9 KB: a company, its
// officers and owners; made-up names, no real person's data).
const ARGUMENTS = {
  small: { case_id: 'bench-1' },
  kyc: {
    case_id: 'bench-1',
    company_number: 'GB-10001',
    legal_name: 'Example Holdings Limited',
    jurisdiction: 'GB',
    registered_address: { line1: '1 Example Street', city: 'London', postcode: 'EC1A 1AA', country: 'GB' },
    incorporated_on: '2011-04-01',
    officers: [
      { name: 'Alex Example', role: 'director', appointed_on: '2015-06-01', nationality: 'GB' },
      { name: 'Sam Sample', role: 'secretary', appointed_on: '2018-01-15', nationality: 'IE' }
    ],
    beneficial_owners: [
      { name: 'Alex Example', ownership_percent: 40, control: ['voting_rights', 'appoint_directors'], born: '1970-01' },
      { name: 'Jordan Placeholder', ownership_percent: 35, control: ['voting_rights'], born: '1982-07' },
      { name: 'Example Trust Company', ownership_percent: 25, control: [], registered_in: 'JE' }
    ],
    screening: { sanctions_lists: ['UN', 'EU', 'UK', 'OFAC'], pep_check: true, adverse_media: false, fuzzy_threshold: 0.85 },
    requested_by: 'kyc-orchestrator', reason: 'onboarding', priority: 2
  }
};
export const ARGUMENT_SETS = Object.keys(ARGUMENTS);
export const echoCall = (set = 'small') => ({ body: callBody('echo', ARGUMENTS[set]), headers: callHeaders('echo') });

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
