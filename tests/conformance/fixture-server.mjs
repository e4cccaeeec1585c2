#!/usr/bin/env node
// The "everything" MCP server the conformance suite expects in server mode (fixture names from
// SERVER-RESEARCH.md: test_* tools, test://... resources, test_* prompts), our own code on the
// official SDKs, for loopback only. server.mjs runs the suite against it directly and behind
// mcp-sidecar.
//
//   node fixture-server.mjs [--mode stateless|sessions|sse] [--port 0] [--host 127.0.0.1] [--trace FILE]
//
//   --mode stateless  revision 2026-07-28 on the v2 SDK (@modelcontextprotocol/server): POST /mcp,
//                     every request stands alone (_meta envelope, Mcp-* headers, server/discover,
//                     input_required results with an HMAC-sealed requestState, subscriptions/listen)
//   --mode sessions   revision 2025-11-25 Streamable HTTP on the v1 SDK (@modelcontextprotocol/sdk):
//                     POST/GET/DELETE /mcp with Mcp-Session-Id, server->client sampling and
//                     elicitation, logging/setLevel, resources/subscribe, resumable SSE streams
//   --mode sse        revision 2024-11-05 HTTP+SSE on the v1 SDK: GET /sse + POST /messages
//   --trace FILE      one JSON line per HTTP request, written when it ends (arrival time, method,
//                     path, MCP headers, JSON-RPC methods, status, content type, duration, and
//                     `complete`: false when the client closed before the response ended): what a
//                     proxy in front of this server has to forward
//
// Prints {"event":"listening","port":N} on stdout when ready (examples/kyc/launch.mjs's
// waitForJsonLine waits for it). Host and Origin must name a loopback host (DNS rebinding), else
// 403. SIGTERM/SIGINT close everything and exit 0.
import http from 'node:http';
import fs from 'node:fs';
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseArgs } from 'node:util';

import { z } from 'zod';

const MODES = ['stateless', 'sessions', 'sse'];
const SESSION_ERA = ['sessions', 'sse'];
const SERVER_INFO = { name: 'mcp-sidecar-conformance-fixture', version: '1.0.0' };
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function usage(message) {
  if (message) process.stderr.write(`fixture-server.mjs: ${message}\n`);
  process.stderr.write('usage: node fixture-server.mjs [--mode stateless|sessions|sse] [--port 0] [--host 127.0.0.1] [--trace FILE]\n');
  process.exit(2);
}

let cli;
try {
  cli = parseArgs({
    options: {
      mode: { type: 'string', default: 'stateless' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      trace: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  }).values;
} catch (err) {
  usage(err.message);
}
if (cli.help) usage();
const MODE = cli.mode;
if (!MODES.includes(MODE)) usage(`--mode must be one of ${MODES.join(', ')}`);
const PORT = Number(cli.port);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) usage(`invalid --port ${cli.port}`);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
if (!LOOPBACK.has(cli.host)) usage('--host must be a loopback address: this fixture has no authentication');

// Only the SDK of the chosen mode is loaded.
const v2 = MODE === 'stateless' ? await import('@modelcontextprotocol/server') : null;
const v1 = MODE === 'stateless' ? null : {
  ...(await import('@modelcontextprotocol/sdk/server/index.js')),
  ...(await import('@modelcontextprotocol/sdk/server/streamableHttp.js')),
  ...(await import('@modelcontextprotocol/sdk/server/sse.js')),
  ...(await import('@modelcontextprotocol/sdk/types.js'))
};

// ---------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------

// A 1x1 PNG, and a 0.1 s silent 8 kHz mono 8-bit WAV built here.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const WAV = (() => {
  const samples = 800;
  const b = Buffer.alloc(44 + samples, 0x80);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);  // fmt chunk size
  b.writeUInt16LE(1, 20);   // PCM
  b.writeUInt16LE(1, 22);   // mono
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(8000, 28);  // byte rate
  b.writeUInt16LE(1, 32);   // block align
  b.writeUInt16LE(8, 34);   // bits per sample
  b.write('data', 36);
  b.writeUInt32LE(samples, 40);
  return b.toString('base64');
})();

const text = (t) => ({ type: 'text', text: t });
const user = (content) => ({ role: 'user', content });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const NO_ARGS = { type: 'object', properties: {} };
const stringArg = (description) => ({ type: 'string', description });

// Embedded requests of an input_required result (2026-07-28), as they go on the wire.
const ask = {
  elicit: (message, properties, required = Object.keys(properties)) =>
    ({ method: 'elicitation/create', params: { mode: 'form', message, requestedSchema: { type: 'object', properties, required } } }),
  sample: (question, maxTokens = 100) =>
    ({ method: 'sampling/createMessage', params: { messages: [user(text(question))], maxTokens } }),
  roots: () => ({ method: 'roots/list' })
};
// What the client answered for `key`, by kind; undefined when missing or of another shape.
const answered = {
  form: (x, key) => {
    const r = x.inputResponses?.[key];
    return r && r.action === 'accept' && r.content && typeof r.content === 'object' ? r.content : undefined;
  },
  sample: (x, key) => {
    const r = x.inputResponses?.[key];
    return r && typeof r.role === 'string' && r.content ? r : undefined;
  },
  roots: (x, key) => {
    const r = x.inputResponses?.[key];
    return r && Array.isArray(r.roots) ? r : undefined;
  }
};

// ---------------------------------------------------------------------------
// Definition table: what every mode serves. `modes` limits an entry (default: all).
//
// A handler gets (args, x), x being the mode-neutral context built per request by the mode:
//   x.progress(progress, total)  notifications/progress on the request's stream, if it has a token
//   x.log(level, data)           notifications/message, if the client asked for that level
//   x.request(method, params)    a server->client request (session era only)
//   x.closeStream()              ends the request's SSE stream, the client resumes (sessions only)
//   x.inputRequired(requests, state)  an input_required result; `state` is sealed (2026-07-28)
//   x.inputResponses, x.state    the client's answers and the verified state of this round
//   x.clientCapabilities         what the client declared (envelope or initialize)
//   x.changed(kind)              tell subscriptions/listen streams (2026-07-28) a list changed
// ---------------------------------------------------------------------------

const TOOLS = [
  // First listed and without arguments: http-header-validation calls the first tool with {}.
  { name: 'test_simple_text', description: 'Returns one text block.', inputSchema: NO_ARGS,
    run: () => ({ content: [text('This is a simple text response for testing.')] }) },
  { name: 'test_image_content', description: 'Returns one PNG image block.', inputSchema: NO_ARGS,
    run: () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }) },
  { name: 'test_audio_content', description: 'Returns one WAV audio block.', inputSchema: NO_ARGS,
    run: () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }) },
  { name: 'test_embedded_resource', description: 'Returns an embedded text resource.', inputSchema: NO_ARGS,
    run: () => ({ content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain',
      text: 'This is an embedded resource content.' } }] }) },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource blocks.', inputSchema: NO_ARGS,
    run: () => ({ content: [text('Multiple content types test:'), { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json',
        text: JSON.stringify({ test: 'data', value: 123 }) } }] }) },
  { name: 'test_error_handling', description: 'Always fails: isError with a message.', inputSchema: NO_ARGS,
    run: () => ({ isError: true, content: [text('This tool intentionally returns an error for testing')] }) },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 (of 100), 50 ms apart.', inputSchema: NO_ARGS,
    run: async (_args, x) => {
      for (const p of [0, 50, 100]) {
        if (p) await sleep(50);
        await x.progress(p, 100);
      }
      return { content: [text('Progress test completed')] };
    } },
  { name: 'test_tool_with_logging', description: 'Logs three info messages, 50 ms apart.', inputSchema: NO_ARGS, run: logThree },
  // The name the 2026-07-28 server-stateless scenario uses: it must stay silent without _meta logLevel.
  { name: 'test_logging_tool', description: 'Logs three info messages (2026-07-28: only with _meta logLevel).', inputSchema: NO_ARGS,
    run: logThree },
  { name: 'json_schema_2020_12_tool', description: 'Tool with JSON Schema 2020-12 features', inputSchema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
    properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' }, contactMethod: { type: 'string', enum: ['phone', 'email'] },
      phone: { type: 'string' }, email: { type: 'string' } },
    allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
    if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
    then: { required: ['phone'] },
    else: { required: ['email'] },
    additionalProperties: false
  }, run: (args) => ({ content: [text(`contact ${JSON.stringify(args)}`)] }) },

  // Session era: requests to the client inside the call.
  { name: 'test_sampling', modes: SESSION_ERA, description: 'Asks the client to sample (sampling/createMessage).',
    inputSchema: { type: 'object', properties: { prompt: stringArg('The prompt to send to the LLM') }, required: ['prompt'] },
    run: async ({ prompt = '' }, x) => {
      const r = await x.request('sampling/createMessage', { messages: [user(text(prompt))], maxTokens: 100 });
      return { content: [text(`LLM response: ${r.content?.type === 'text' ? r.content.text : JSON.stringify(r.content)}`)] };
    } },
  { name: 'test_elicitation', modes: SESSION_ERA, description: 'Asks the user for a username and email (elicitation/create).',
    inputSchema: { type: 'object', properties: { message: stringArg('The message to show the user') }, required: ['message'] },
    run: async ({ message = 'Please provide your information' }, x) => elicited(await x.request('elicitation/create', {
      message, requestedSchema: { type: 'object', properties: {
        username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
      required: ['username', 'email'] } }), 'User response') },
  { name: 'test_elicitation_sep1034_defaults', modes: SESSION_ERA, description: 'Elicitation with a default for every primitive type (SEP-1034).',
    inputSchema: NO_ARGS,
    run: async (_args, x) => elicited(await x.request('elicitation/create', {
      message: 'Please review and update the form fields with defaults',
      requestedSchema: { type: 'object', properties: {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true } } } })) },
  { name: 'test_elicitation_sep1330_enums', modes: SESSION_ERA, description: 'Elicitation with the five enum shapes (SEP-1330).',
    inputSchema: NO_ARGS,
    run: async (_args, x) => elicited(await x.request('elicitation/create', {
      message: 'Please select options from the enum fields',
      requestedSchema: { type: 'object', properties: {
        untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
        titledSingle: { type: 'string', description: 'Titled single-select', oneOf: [
          { const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }] },
        legacyEnum: { type: 'string', description: 'Legacy titled enum', enum: ['opt1', 'opt2', 'opt3'],
          enumNames: ['Option One', 'Option Two', 'Option Three'] },
        untitledMulti: { type: 'array', description: 'Untitled multi-select', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
        titledMulti: { type: 'array', description: 'Titled multi-select', items: { anyOf: [
          { const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] } }
      } } })) },
  { name: 'test_reconnection', modes: ['sessions'], description: 'Closes its SSE stream at once and answers 200 ms later (the client resumes with Last-Event-ID).',
    inputSchema: NO_ARGS,
    run: async (_args, x) => {
      x.closeStream?.();
      await sleep(200);
      return { content: [text('Reconnection test completed: the result arrived after the stream was closed')] };
    } },

  // 2026-07-28 only.
  { name: 'test_mcp_param_header', modes: ['stateless'], description: 'Echoes a region mirrored into the Mcp-Param-Region header (x-mcp-header, SEP-2243).',
    inputSchema: { type: 'object', properties: { region: { type: 'string', description: 'Region code', 'x-mcp-header': 'Region' } }, required: ['region'] },
    run: ({ region }) => ({ content: [text(`region=${region}`)] }) },
  { name: 'test_missing_capability', modes: ['stateless'], description: 'Needs the sampling capability: answers -32021 when the client did not declare it.',
    inputSchema: NO_ARGS,
    run: (_args, x) => answered.sample(x, 'question')
      ? { content: [text('sampled')] }
      : x.inputRequired({ question: ask.sample('Say something.') }) },
  { name: 'test_streaming_elicitation', modes: ['stateless'], description: 'Asks for input the 2026-07-28 way: an input_required result, never a request on the stream.',
    inputSchema: NO_ARGS,
    run: async (_args, x) => {
      await x.progress(1, 2);
      const a = answered.form(x, 'confirm');
      return a ? { content: [text(`confirmed=${a.ok === true}`)] } : x.inputRequired({ confirm: ask.elicit('Continue?', { ok: { type: 'boolean' } }) });
    } },
  { name: 'test_trigger_tool_change', modes: ['stateless'], description: 'Announces notifications/tools/list_changed on subscriptions/listen streams.',
    inputSchema: NO_ARGS, run: (_args, x) => (x.changed('tools'), { content: [text('tools list changed')] }) },
  { name: 'test_trigger_prompt_change', modes: ['stateless'], description: 'Announces notifications/prompts/list_changed on subscriptions/listen streams.',
    inputSchema: NO_ARGS, run: (_args, x) => (x.changed('prompts'), { content: [text('prompts list changed')] }) },
  { name: 'test_input_required_result_elicitation', modes: ['stateless'], description: 'input_required: asks the user_name by elicitation.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const a = answered.form(x, 'user_name');
      return typeof a?.name === 'string' ? { content: [text(`Hello, ${a.name}!`)] }
        : x.inputRequired({ user_name: ask.elicit('What is your name?', { name: { type: 'string' } }) });
    } },
  { name: 'test_input_required_result_sampling', modes: ['stateless'], description: 'input_required: asks the client to sample (capital_question).',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const a = answered.sample(x, 'capital_question');
      return a ? { content: [text(`The model said: ${a.content.text ?? JSON.stringify(a.content)}`)] }
        : x.inputRequired({ capital_question: ask.sample('What is the capital of France?') });
    } },
  { name: 'test_input_required_result_list_roots', modes: ['stateless'], description: 'input_required: asks for the client roots.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const a = answered.roots(x, 'client_roots');
      return a ? { content: [text(`roots: ${a.roots.map((r) => r.uri).join(', ')}`)] } : x.inputRequired({ client_roots: ask.roots() });
    } },
  { name: 'test_input_required_result_request_state', modes: ['stateless'], description: 'input_required with a sealed requestState that must come back.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const a = answered.form(x, 'confirm');
      return a && x.state?.step === 'confirm' ? { content: [text(`state-ok (ok=${a.ok === true})`)] }
        : x.inputRequired({ confirm: ask.elicit('Please confirm', { ok: { type: 'boolean' } }) }, { step: 'confirm' });
    } },
  { name: 'test_input_required_result_multiple_inputs', modes: ['stateless'], description: 'input_required: elicitation, sampling and roots at once.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const [name, greeting, roots] = [answered.form(x, 'user_name'), answered.sample(x, 'greeting'), answered.roots(x, 'client_roots')];
      if (name && greeting && roots && x.state?.step === 'all') {
        return { content: [text(`name=${name.name}, greeting=${greeting.content.text}, roots=${roots.roots.length}`)] };
      }
      return x.inputRequired({
        user_name: ask.elicit('What is your name?', { name: { type: 'string' } }),
        greeting: ask.sample('Generate a greeting', 50),
        client_roots: ask.roots()
      }, { step: 'all' });
    } },
  { name: 'test_input_required_result_multi_round', modes: ['stateless'], description: 'input_required twice: a name, then a colour, each round with a new requestState.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      const name = answered.form(x, 'step1')?.name;
      const color = answered.form(x, 'step2')?.color;
      if (x.state?.step === 2 && typeof color === 'string') return { content: [text(`${x.state.name} likes ${color}`)] };
      if (x.state?.step === 1 && typeof name === 'string') {
        return x.inputRequired({ step2: ask.elicit('Step 2: What is your favorite color?', { color: { type: 'string' } }) }, { step: 2, name });
      }
      return x.inputRequired({ step1: ask.elicit('Step 1: What is your name?', { name: { type: 'string' } }) }, { step: 1 });
    } },
  { name: 'test_input_required_result_tampered_state', modes: ['stateless'], description: 'input_required with an HMAC-sealed requestState: an altered one is refused (-32602).',
    inputSchema: NO_ARGS,
    run: (_args, x) => (answered.form(x, 'confirm') && x.state?.step === 'sealed' ? { content: [text('state verified')] }
      : x.inputRequired({ confirm: ask.elicit('Please confirm', { ok: { type: 'boolean' } }) }, { step: 'sealed' })) },
  { name: 'test_input_required_result_capabilities', modes: ['stateless'], description: 'input_required: asks only through the capabilities the client declared.',
    inputSchema: NO_ARGS,
    run: (_args, x) => {
      if (x.state?.step === 'asked') return { content: [text(`answers: ${Object.keys(x.inputResponses ?? {}).join(', ') || 'none'}`)] };
      const caps = x.clientCapabilities ?? {};
      const requests = {
        ...(caps.sampling ? { question: ask.sample('What is 2 + 2?') } : {}),
        ...(caps.elicitation ? { confirm: ask.elicit('Please confirm', { ok: { type: 'boolean' } }) } : {}),
        ...(caps.roots ? { client_roots: ask.roots() } : {})
      };
      return Object.keys(requests).length ? x.inputRequired(requests, { step: 'asked' })
        : { content: [text('the client declared no capability to ask with')] };
    } }
];

async function logThree(_args, x) {
  for (const [i, message] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
    if (i) await sleep(50);
    await x.log('info', message);
  }
  return { content: [text('Logging test completed')] };
}

function elicited(r, label = 'Elicitation completed') {
  return { content: [text(`${label}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
}

let watchedVersion = 0;
const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource.', mimeType: 'text/plain',
    read: () => ({ text: 'This is the content of the static text resource.' }) },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static binary resource (PNG).', mimeType: 'image/png',
    read: () => ({ blob: PNG }) },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource to subscribe to; subscribing bumps its version.',
    mimeType: 'text/plain', read: () => ({ text: `Watched resource, version ${watchedVersion}` }) }
];
const TEMPLATES = [
  { uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for an id.', mimeType: 'application/json',
    read: ({ id }) => ({ text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }),
    complete: { id: (value) => ['1', '2', '123'].filter((v) => v.startsWith(value)) } }
];
const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments.', arguments: [],
    get: () => ({ messages: [user(text('This is a simple prompt for testing.'))] }) },
  { name: 'test_prompt_with_arguments', description: 'A prompt with two arguments.',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true,
        complete: (value) => ['paris', 'park', 'party', 'test', 'testing'].filter((v) => v.startsWith(value)) },
      { name: 'arg2', description: 'Second test argument', required: true }
    ],
    get: ({ arg1, arg2 }) => ({ messages: [user(text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`))] }) },
  { name: 'test_prompt_with_embedded_resource', description: 'A prompt embedding a resource.',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    get: ({ resourceUri }) => ({ messages: [
      user({ type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }),
      user(text('Please process the embedded resource above.'))] }) },
  { name: 'test_prompt_with_image', description: 'A prompt with an image.', arguments: [],
    get: () => ({ messages: [user({ type: 'image', data: PNG, mimeType: 'image/png' }), user(text('Please analyze the image above.'))] }) },
  { name: 'test_input_required_result_prompt', modes: ['stateless'], description: 'input_required on prompts/get: asks for a context first.', arguments: [],
    get: (_args, x) => {
      const a = answered.form(x, 'user_context');
      return typeof a?.context === 'string' ? { messages: [user(text(`Use this context: ${a.context}`))] }
        : x.inputRequired({ user_context: ask.elicit('What context should the prompt use?', { context: { type: 'string' } }) });
    } }
];
const inMode = (e) => !e.modes || e.modes.includes(MODE);
const LIST_TTL = { ttlMs: 30000, cacheScope: 'public' };
const matchTemplate = (uri) => {
  for (const t of TEMPLATES) {
    const names = [];
    const re = new RegExp('^' + t.uriTemplate.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{(\w+)\\\}/g, (_m, n) => (names.push(n), '([^/]+)')) + '$');
    const m = re.exec(uri);
    if (m) return { template: t, vars: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return undefined;
};

// ---------------------------------------------------------------------------
// requestState (2026-07-28): base64url(JSON payload) "." base64url(HMAC-SHA256), keyed per process.
// The SDK calls verify() before the handler; a failure is the wire error -32602.
// ---------------------------------------------------------------------------

const STATE_KEY = randomBytes(32);
const mac = (body) => createHmac('sha256', STATE_KEY).update(body).digest('base64url');
function sealState(payload) {
  const body = Buffer.from(JSON.stringify({ ...payload, exp: Date.now() + 600000 })).toString('base64url');
  return `${body}.${mac(body)}`;
}
function verifyState(state) {
  const [body, tag, extra] = String(state).split('.');
  if (!body || !tag || extra !== undefined) throw new Error('malformed');
  const want = Buffer.from(mac(body));
  const got = Buffer.from(tag);
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Error('mac');
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  if (!(payload.exp > Date.now())) throw new Error('expired');
  return payload;
}

// ---------------------------------------------------------------------------
// --mode stateless: one v2 McpServer per request from the table, behind createMcpHandler.
// ---------------------------------------------------------------------------

function statelessContext(ctx, tool) {
  const req = ctx.mcpReq;
  const token = req._meta?.progressToken;
  const state = req.requestState();
  return {
    progress: (progress, total) => (token === undefined ? Promise.resolve()
      : req.notify({ method: 'notifications/progress', params: { progressToken: token, progress, total } })),
    log: (level, data) => req.log(level, data),
    inputResponses: req.inputResponses,
    // The payload verify() returned; a state minted for another tool or prompt does not count.
    state: state && typeof state === 'object' && state.for === tool ? state : undefined,
    clientCapabilities: req.envelope?.['io.modelcontextprotocol/clientCapabilities'],
    inputRequired: (inputRequests, state) =>
      v2.inputRequired({ inputRequests, ...(state ? { requestState: sealState({ ...state, for: tool }) } : {}) }),
    changed: (kind) => (kind === 'tools' ? statelessHandler.notify.toolsChanged() : statelessHandler.notify.promptsChanged())
  };
}

function statelessServer() {
  const server = new v2.McpServer(SERVER_INFO, {
    capabilities: { logging: {}, completions: {} },
    cacheHints: Object.fromEntries(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']
      .map((m) => [m, LIST_TTL])),
    requestState: { verify: (state) => verifyState(state) }
  });
  for (const t of TOOLS.filter(inMode)) {
    server.registerTool(t.name, { description: t.description, inputSchema: v2.fromJsonSchema(t.inputSchema) },
      async (args, ctx) => t.run(args ?? {}, statelessContext(ctx, t.name)));
  }
  for (const r of RESOURCES) {
    server.registerResource(r.name, r.uri, { description: r.description, mimeType: r.mimeType },
      async (uri) => ({ contents: [{ uri: uri.href, mimeType: r.mimeType, ...r.read() }] }));
  }
  for (const t of TEMPLATES) {
    const complete = Object.fromEntries(Object.entries(t.complete ?? {}).map(([k, fn]) => [k, (value) => fn(value ?? '')]));
    server.registerResource(t.name, new v2.ResourceTemplate(t.uriTemplate, { list: undefined, complete }),
      { description: t.description, mimeType: t.mimeType },
      async (uri, vars) => ({ contents: [{ uri: uri.href, mimeType: t.mimeType, ...t.read(vars) }] }));
  }
  for (const p of PROMPTS.filter(inMode)) {
    const shape = Object.fromEntries(p.arguments.map((a) => {
      let s = z.string().describe(a.description);
      if (!a.required) s = s.optional();
      return [a.name, a.complete ? v2.completable(s, (value) => a.complete(value ?? '')) : s];
    }));
    const cb = async (...params) => {
      const ctx = params.at(-1);
      return p.get(params.length > 1 ? params[0] : {}, statelessContext(ctx, p.name));
    };
    server.registerPrompt(p.name, { description: p.description, ...(p.arguments.length ? { argsSchema: z.object(shape) } : {}) }, cb);
  }
  return server;
}

const statelessHandler = v2 ? v2.createMcpHandler(() => statelessServer(), { legacy: 'reject', maxRequestBodySize: MAX_BODY_BYTES }) : null;

async function serveStateless(req, res, body) {
  const aborter = new AbortController();
  res.on('close', () => res.writableFinished || aborter.abort());
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const request = new Request(new URL(req.url, `http://${req.headers.host}`), { method: req.method, headers, signal: aborter.signal });
  const response = await statelessHandler.fetch(request, body === undefined ? undefined : { parsedBody: body });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) return res.end();
  const reader = response.body.getReader();
  res.on('close', () => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await new Promise((r) => (res.once('drain', r), res.once('close', r)));
    }
  } catch {
    // The client went away mid-stream.
  } finally {
    res.end();
  }
}

// ---------------------------------------------------------------------------
// --mode sessions / sse: one v1 low-level Server per session, wired to the table.
// ---------------------------------------------------------------------------

const RESULT_SCHEMAS = v1 ? { 'sampling/createMessage': v1.CreateMessageResultSchema, 'elicitation/create': v1.ElicitResultSchema } : {};

function sessionServer() {
  // Strict, as an SDK server's elicitInput/createMessage/listRoots are: a request the client did
  // not declare the capability for (at initialize) is refused before it is sent.
  const server = new v1.Server(SERVER_INFO, { enforceStrictCapabilities: true, capabilities: {
    tools: {}, resources: { subscribe: true }, prompts: {}, completions: {}, logging: {} } });
  const h = (schema, fn) => server.setRequestHandler(schema, fn);
  const notFound = (what, name, data) => new v1.McpError(v1.ErrorCode.InvalidParams, `${what} not found: ${name}`, data);
  const context = (extra) => ({
    progress: (progress, total) => (extra._meta?.progressToken === undefined ? Promise.resolve()
      : extra.sendNotification({ method: 'notifications/progress', params: { progressToken: extra._meta.progressToken, progress, total } })),
    // On the request's own stream, at the level the client set with logging/setLevel.
    log: (level, data) => (server.isMessageIgnored(level, extra.sessionId) ? Promise.resolve()
      : extra.sendNotification({ method: 'notifications/message', params: { level, data } })),
    request: (method, params) => extra.sendRequest({ method, params }, RESULT_SCHEMAS[method]),
    closeStream: extra.closeSSEStream,
    clientCapabilities: server.getClientCapabilities()
  });

  h(v1.ListToolsRequestSchema, () => ({ tools: TOOLS.filter(inMode).map(({ name, description, inputSchema }) => ({ name, description, inputSchema })) }));
  h(v1.CallToolRequestSchema, async (request, extra) => {
    const tool = TOOLS.find((t) => t.name === request.params.name && inMode(t));
    if (!tool) throw notFound('tool', request.params.name);
    try {
      return await tool.run(request.params.arguments ?? {}, context(extra));
    } catch (err) {
      return { isError: true, content: [text(`${tool.name} failed: ${err.message}`)] };
    }
  });
  h(v1.ListResourcesRequestSchema, () => ({ resources: RESOURCES.map(({ uri, name, description, mimeType }) => ({ uri, name, description, mimeType })) }));
  h(v1.ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: TEMPLATES.map(({ uriTemplate, name, description, mimeType }) =>
    ({ uriTemplate, name, description, mimeType })) }));
  h(v1.ReadResourceRequestSchema, (request) => {
    const { uri } = request.params;
    const r = RESOURCES.find((x) => x.uri === uri);
    if (r) return { contents: [{ uri, mimeType: r.mimeType, ...r.read() }] };
    const m = matchTemplate(uri);
    if (m) return { contents: [{ uri, mimeType: m.template.mimeType, ...m.template.read(m.vars) }] };
    throw notFound('resource', uri, { uri });
  });
  // Subscribing bumps the watched resource and says so on the session's GET stream.
  h(v1.SubscribeRequestSchema, (request) => {
    if (!RESOURCES.some((r) => r.uri === request.params.uri)) throw notFound('resource', request.params.uri, { uri: request.params.uri });
    setTimeout(() => {
      watchedVersion += 1;
      server.sendResourceUpdated({ uri: request.params.uri }).catch(() => {});
    }, 20);
    return {};
  });
  h(v1.UnsubscribeRequestSchema, () => ({}));
  h(v1.ListPromptsRequestSchema, () => ({ prompts: PROMPTS.filter(inMode).map(({ name, description, arguments: args }) =>
    ({ name, description, arguments: args.map(({ name: n, description: d, required }) => ({ name: n, description: d, required })) })) }));
  h(v1.GetPromptRequestSchema, (request, extra) => {
    const p = PROMPTS.find((x) => x.name === request.params.name && inMode(x));
    if (!p) throw notFound('prompt', request.params.name);
    const args = request.params.arguments ?? {};
    for (const a of p.arguments) {
      if (a.required && typeof args[a.name] !== 'string') throw new v1.McpError(v1.ErrorCode.InvalidParams, `missing argument ${a.name}`);
    }
    return p.get(args, context(extra));
  });
  h(v1.CompleteRequestSchema, (request) => {
    const { ref, argument } = request.params;
    let fn;
    if (ref.type === 'ref/prompt') fn = PROMPTS.find((p) => p.name === ref.name)?.arguments.find((a) => a.name === argument.name)?.complete;
    else fn = TEMPLATES.find((t) => t.uriTemplate === ref.uri)?.complete?.[argument.name];
    const values = fn ? fn(argument.value ?? '') : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

// Resumable SSE (2025-11-25): every event a session sends, replayable after a Last-Event-ID.
class EventLog {
  #events = [];
  #next = 0;
  async storeEvent(streamId, message) {
    const id = `e${++this.#next}`;
    this.#events.push({ id, streamId, message });
    if (this.#events.length > 1000) this.#events.shift();
    return id;
  }
  async getStreamIdForEventId(id) {
    return this.#events.find((e) => e.id === id)?.streamId;
  }
  async replayEventsAfter(lastId, { send }) {
    const at = this.#events.findIndex((e) => e.id === lastId);
    if (at < 0) throw new Error(`unknown event id ${lastId}`);
    const { streamId } = this.#events[at];
    for (const e of this.#events.slice(at + 1)) if (e.streamId === streamId) await send(e.id, e.message);
    return streamId;
  }
}

const sessions = new Map();  // Mcp-Session-Id (or the sse sessionId) -> { transport, server }

async function serveSessions(req, res, body) {
  const sid = req.headers['mcp-session-id'];
  if (sid !== undefined) {
    const s = sessions.get(sid);
    if (!s) return jsonRpcError(res, 404, -32001, 'Session not found');
    return s.transport.handleRequest(req, res, body);
  }
  if (req.method !== 'POST' || !v1.isInitializeRequest(body)) {
    return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (or an initialize request)');
  }
  const server = sessionServer();
  const transport = new v1.StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: new EventLog(),
    retryInterval: 100,
    onsessioninitialized: (id) => sessions.set(id, { transport, server })
  });
  transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

async function serveLegacySse(req, res) {
  const transport = new v1.SSEServerTransport('/messages', res);
  const server = sessionServer();
  sessions.set(transport.sessionId, { transport, server });
  transport.onclose = () => sessions.delete(transport.sessionId);
  await server.connect(transport);
}

async function serveLegacyMessage(req, res, body) {
  const s = sessions.get(new URL(req.url, 'http://localhost').searchParams.get('sessionId') ?? '');
  if (!s) return jsonRpcError(res, 404, -32001, 'Session not found');
  await s.transport.handlePostMessage(req, res, body);
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

function jsonRpcError(res, status, code, message) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

// DNS rebinding: a page on another site that resolves its name to 127.0.0.1 must not reach us.
function loopbackOnly(req) {
  const hostname = (h) => {
    try {
      return new URL(`http://${h}`).hostname;
    } catch {
      return undefined;
    }
  };
  if (!LOOPBACK.has(hostname(req.headers.host ?? ''))) return false;
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  try {
    return LOOPBACK.has(new URL(origin).hostname);
  } catch {
    return false;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const traceFd = cli.trace ? fs.openSync(cli.trace, 'a') : null;
const TRACED_HEADERS = ['host', 'accept', 'content-type', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'last-event-id', 'origin'];
function trace(req, res, body, started, type) {
  if (traceFd === null) return;
  const headers = Object.fromEntries(TRACED_HEADERS.filter((h) => req.headers[h] !== undefined).map((h) => [h, req.headers[h]]));
  for (const [h, v] of Object.entries(req.headers)) if (h.startsWith('mcp-param-')) headers[h] = v;
  if (req.headers['mcp-session-id']) headers['mcp-session-id'] = '(set)';
  const rpc = body === undefined ? undefined : [body].flat().map((m) => m?.method ?? (m && 'result' in m ? `result#${m.id}` : m && 'error' in m ? `error#${m.id}` : '?'));
  fs.writeSync(traceFd, JSON.stringify({ ts: new Date(started).toISOString(), http: req.method, path: req.url, headers, rpc,
    status: res.statusCode, type, ms: Date.now() - started, complete: res.writableFinished }) + '\n');
}

const httpServer = http.createServer(async (req, res) => {
  const started = Date.now();
  let body;
  let type;
  const writeHead = res.writeHead;
  res.writeHead = function (status, ...rest) {
    const headers = rest.find((r) => r && typeof r === 'object') ?? {};
    type = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    return writeHead.call(this, status, ...rest);
  };
  res.on('close', () => trace(req, res, body, started, type ?? res.getHeader('content-type')));
  try {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (raw === null) return jsonRpcError(res, 413, -32600, 'Request body too large');
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        return jsonRpcError(res, 400, -32700, 'Parse error');
      }
    } else {
      req.resume();
    }
    if (!loopbackOnly(req)) return jsonRpcError(res, 403, -32000, 'Forbidden: Host and Origin must name a loopback host');
    if (MODE === 'stateless' && path === '/mcp') return await serveStateless(req, res, body);
    if (MODE === 'sessions' && path === '/mcp') {
      if (!['GET', 'POST', 'DELETE'].includes(req.method)) return jsonRpcError(res, 405, -32000, 'Method not allowed');
      return await serveSessions(req, res, body);
    }
    if (MODE === 'sse' && path === '/sse' && req.method === 'GET') return await serveLegacySse(req, res);
    if (MODE === 'sse' && path === '/messages' && req.method === 'POST') return await serveLegacyMessage(req, res, body);
    jsonRpcError(res, 404, -32000, `Not found: ${req.method} ${path}`);
  } catch (err) {
    process.stderr.write(`fixture-server.mjs: ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    jsonRpcError(res, 500, -32603, 'Internal error');
  }
});
httpServer.on('clientError', (_err, socket) => socket.destroy());

httpServer.listen(PORT, cli.host, () => {
  process.stdout.write(JSON.stringify({ event: 'listening', mode: MODE, port: httpServer.address().port }) + '\n');
});
httpServer.on('error', (err) => {
  process.stderr.write(`fixture-server.mjs: cannot listen on ${cli.host}:${PORT}: ${err.message}\n`);
  process.exit(1);
});

async function shutdown() {
  await Promise.allSettled([...[...sessions.values()].map((s) => s.server.close()), statelessHandler?.close()]);
  httpServer.closeAllConnections();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
