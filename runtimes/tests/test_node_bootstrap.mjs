// Self-test for runtimes/node/bootstrap.js: run with `node --test runtimes/tests/test_node_bootstrap.mjs`.
// Starts a fake Lambda Runtime API in-process and runs bootstrap.js as a child
// process against temporary handler modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const BOOTSTRAP = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'node', 'bootstrap.js');
const PREFIX = '/2018-06-01/runtime';
const LOG_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]+)\t(INFO|WARN|ERROR|DEBUG|TRACE|FATAL)\t/;

// ---------------------------------------------------------------------------
// Fake Runtime API
// ---------------------------------------------------------------------------
class FakeRuntimeApi {
  constructor({ status413For = new Set() } = {}) {
    this.queue = [];
    this.parked = [];
    this.records = [];      // {kind, id, headers, body, at}
    this.nextGets = [];     // timestamps (performance.now()) of GET /next
    this.waiters = [];
    this.status413For = status413For;
    this.seq = 0;
    this.server = http.createServer((req, res) => this.route(req, res));
    this.server.keepAliveTimeout = 60000;
  }
  listen() {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => r(`127.0.0.1:${this.server.address().port}`)));
  }
  close() {
    for (const res of this.parked) res.destroy();
    this.parked = [];
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
  enqueue(event, extraHeaders = {}) {
    const id = `req-${++this.seq}`;
    this.queue.push({ id, event, extraHeaders });
    this.flush();
    return id;
  }
  flush() {
    while (this.queue.length && this.parked.length) this.deliver(this.parked.shift(), this.queue.shift());
  }
  deliver(res, inv) {
    const headers = {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': inv.id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + 3000),
      'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:123456789012:function:testfn',
      'Lambda-Runtime-Trace-Id': `Root=1-00000000-${inv.id};Sampled=0`,
      ...inv.extraHeaders,
    };
    res.writeHead(200, headers);
    res.end(typeof inv.event === 'string' ? inv.event : JSON.stringify(inv.event));
  }
  route(req, res) {
    const url = req.url;
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      this.nextGets.push(performance.now());
      this.notify();
      this.parked.push(res);
      this.flush();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      let m;
      let rec;
      if (req.method === 'POST' && (m = url.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/))) {
        rec = { kind: m[2], id: m[1], headers: req.headers, body, at: performance.now() };
      } else if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
        rec = { kind: 'init-error', id: null, headers: req.headers, body, at: performance.now() };
      } else {
        res.writeHead(404).end();
        return;
      }
      this.records.push(rec);
      this.notify();
      if (rec.kind === 'response' && this.status413For.has(rec.id)) {
        res.writeHead(413, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errorMessage: 'Exceeded maximum allowed payload size', errorType: 'RequestEntityTooLarge' }));
        return;
      }
      res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"status":"OK"}');
    });
  }
  notify() {
    for (const w of this.waiters.splice(0)) w();
  }
  async waitFor(pred, timeoutMs = 10000, what = 'condition') {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  results() {
    return this.records.filter((r) => r.kind !== 'init-error');
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------
function makeTaskDir(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-node-'));
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return dir;
}

function spawnBootstrap(api, taskDir, handler, extraEnv = {}) {
  const env = {
    PATH: process.env.PATH,
    AWS_LAMBDA_RUNTIME_API: api,
    _HANDLER: handler,
    LAMBDA_TASK_ROOT: taskDir,
    AWS_LAMBDA_FUNCTION_NAME: 'testfn',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/testfn',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abcdef',
    AWS_REGION: 'us-east-1',
    ...extraEnv,
  };
  const child = spawn(process.execPath, [BOOTSTRAP], { cwd: taskDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { text: '', code: undefined, signal: undefined };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (c) => { out.text += c; });
  child.stderr.on('data', (c) => { out.text += c; });
  out.exited = new Promise((r) => child.on('close', (code, signal) => { out.code = code; out.signal = signal; r(); }));
  out.child = child;
  return out;
}

// Runs one scenario: spawn, enqueue events, wait for `expect` results (or exit).
async function scenario({ files, handler, events = [], expect = events.length, api413 = new Set(), extraEnv, waitExit = false, between }) {
  const taskDir = makeTaskDir(files);
  const api = new FakeRuntimeApi({ status413For: api413 });
  const addr = await api.listen();
  const proc = spawnBootstrap(addr, taskDir, handler, extraEnv);
  try {
    const ids = [];
    for (const ev of events) {
      const [event, headers] = Array.isArray(ev) ? ev : [ev, {}];
      ids.push(api.enqueue(event, headers));
      if (between) await between(api, ids.length);
    }
    if (waitExit) {
      await Promise.race([proc.exited, new Promise((_, rej) => setTimeout(() => rej(new Error('child did not exit\n' + proc.text)), 10000))]);
    } else {
      await api.waitFor(() => api.results().length >= expect, 10000, `${expect} results; log:\n${proc.text}`);
    }
    return { api, proc, ids, taskDir, results: api.results(), records: api.records };
  } finally {
    if (proc.code === undefined) proc.child.kill('SIGKILL');
    await proc.exited;
    await api.close();
    fs.rmSync(taskDir, { recursive: true, force: true });
  }
}

const json = (r) => JSON.parse(r.body);
const logLines = (text) => text.split('\n').filter((l) => LOG_LINE.test(l));

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------
test('CJS: init once over 3 invocations, context fields, trace id, console format', async () => {
  const files = {
    'src/app.js': `
      let count = 0;
      console.log('INIT RAN');
      exports.handler = async (event, context) => {
        count++;
        console.log('hello %s', 'world', { a: 1 });
        console.info('info');
        console.warn('warn');
        console.error('error');
        console.debug('debug');
        console.log('multi\\nline');
        return {
          count, event,
          functionName: context.functionName,
          functionVersion: context.functionVersion,
          invokedFunctionArn: context.invokedFunctionArn,
          memoryLimitInMB: context.memoryLimitInMB,
          awsRequestId: context.awsRequestId,
          logGroupName: context.logGroupName,
          logStreamName: context.logStreamName,
          identity: context.identity,
          clientContext: context.clientContext,
          remaining: context.getRemainingTimeInMillis(),
          waits: context.callbackWaitsForEmptyEventLoop,
          hasLegacy: [typeof context.done, typeof context.succeed, typeof context.fail],
          trace: process.env._X_AMZN_TRACE_ID,
          nodePath: process.env.NODE_PATH,
        };
      };`,
  };
  const cc = { client: { installation_id: 'x' }, custom: { k: 'v' }, env: {} };
  const ident = { cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' };
  const { results, proc, ids } = await scenario({
    files,
    handler: 'src/app.handler',
    events: [
      [{ n: 1 }, { 'Lambda-Runtime-Client-Context': JSON.stringify(cc), 'Lambda-Runtime-Cognito-Identity': JSON.stringify(ident) }],
      { n: 2 },
      { n: 3 },
    ],
  });
  assert.equal(results.length, 3);
  results.forEach((r, i) => {
    assert.equal(r.kind, 'response');
    assert.equal(r.id, ids[i]);
    const b = json(r);
    assert.equal(b.count, i + 1, 'module state persists, init ran once');
    assert.deepEqual(b.event, { n: i + 1 });
    assert.equal(b.functionName, 'testfn');
    assert.equal(b.functionVersion, '$LATEST');
    assert.equal(b.memoryLimitInMB, '128');
    assert.equal(b.invokedFunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:testfn');
    assert.equal(b.awsRequestId, ids[i]);
    assert.equal(b.logGroupName, '/aws/lambda/testfn');
    assert.equal(b.logStreamName, '2024/01/01/[$LATEST]abcdef');
    assert.ok(b.remaining > 2000 && b.remaining <= 3000, `remaining ${b.remaining}`);
    assert.equal(b.waits, true);
    assert.deepEqual(b.hasLegacy, ['function', 'function', 'function']);
    assert.equal(b.trace, `Root=1-00000000-${ids[i]};Sampled=0`);
    assert.ok(b.nodePath.split(':').includes('/opt/nodejs/node_modules'));
  });
  assert.deepEqual(json(results[0]).clientContext, cc);
  assert.deepEqual(json(results[0]).identity, ident);
  assert.equal(json(results[1]).clientContext, undefined);
  assert.equal(json(results[1]).identity, undefined);

  assert.equal(proc.text.split('INIT RAN').length - 1, 1, 'top-level code ran exactly once');
  const lines = proc.text.split('\n');
  const initLine = lines.find((l) => l.includes('INIT RAN'));
  assert.match(initLine, /^\S+Z\tundefined\tINFO\tINIT RAN$/);
  const hello = lines.find((l) => l.includes('hello world'));
  assert.match(hello, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\t${ids[0]}\\tINFO\\thello world \\{ a: 1 \\}$`));
  for (const [lvl, msg] of [['INFO', 'info'], ['WARN', 'warn'], ['ERROR', 'error'], ['DEBUG', 'debug']]) {
    assert.ok(lines.some((l) => l.endsWith(`\t${ids[2]}\t${lvl}\t${msg}`)), `${lvl} line`);
  }
  assert.ok(proc.text.includes(`\t${ids[0]}\tINFO\tmulti\nline\n`), 'newline inside a message kept as-is');
});

test('ESM .mjs handler with top-level await: init once, async result', async () => {
  const { results, proc } = await scenario({
    files: {
      'index.mjs': `
        let count = 0;
        await new Promise((r) => setTimeout(r, 20));
        console.log('ESM INIT');
        export const handler = async (event, context) => ({ count: ++count, id: context.awsRequestId });`,
    },
    handler: 'index.handler',
    events: [{}, {}, {}],
  });
  assert.deepEqual(results.map((r) => json(r).count), [1, 2, 3]);
  assert.equal(proc.text.split('ESM INIT').length - 1, 1);
});

test('package.json type=module makes index.js load via import()', async () => {
  const { results } = await scenario({
    files: {
      'package.json': '{"type":"module"}',
      'index.js': `export async function handler(e) { return { esm: typeof require === 'undefined', e }; }`,
    },
    handler: 'index.handler',
    events: [{ x: 1 }],
  });
  assert.deepEqual(json(results[0]), { esm: true, e: { x: 1 } });
});

test('.cjs module and nested handler path', async () => {
  const { results } = await scenario({
    files: { 'lib/h.cjs': `module.exports = { api: { v1: async () => 'nested' } };` },
    handler: 'lib/h.api.v1',
    events: [{}],
  });
  assert.equal(results[0].body, '"nested"');
});

test('callback handlers: success, error, and context.succeed/fail', async () => {
  const { results } = await scenario({
    files: {
      'index.js': `
        exports.handler = function (event, context, callback) {
          if (event.mode === 'ok') setTimeout(() => callback(null, { ok: event.n }), 10);
          else if (event.mode === 'err') callback(new Error('cb fail'));
          else if (event.mode === 'succeed') context.succeed('via succeed');
          else if (event.mode === 'fail') context.fail(new RangeError('via fail'));
          else if (event.mode === 'twice') { callback(null, 'first'); callback(null, 'second'); }
        };`,
    },
    handler: 'index.handler',
    events: [{ mode: 'ok', n: 7 }, { mode: 'err' }, { mode: 'succeed' }, { mode: 'fail' }, { mode: 'twice' }],
  });
  assert.equal(results[0].kind, 'response');
  assert.deepEqual(json(results[0]), { ok: 7 });
  assert.equal(results[1].kind, 'error');
  assert.equal(json(results[1]).errorMessage, 'cb fail');
  assert.equal(results[2].body, '"via succeed"');
  assert.equal(results[3].kind, 'error');
  assert.equal(results[3].headers['lambda-runtime-function-error-type'], 'RangeError');
  assert.equal(results[4].body, '"first"');
  assert.equal(results.length, 5);
});

test('errors: sync throw, async rejection, non-Error values -> /error', async () => {
  const { results, proc, ids } = await scenario({
    files: {
      'index.js': `
        exports.handler = async (event) => {
          if (event.t === 'sync') throw new TypeError('bad type');
          if (event.t === 'string') throw 'just a string';
          if (event.t === 'undef') return Promise.reject(undefined);
          if (event.t === 'props') { const e = new Error('with props'); e.code = 'E_X'; throw e; }
          await null;
          throw new Error('async boom');
        };`,
    },
    handler: 'index.handler',
    events: [{ t: 'sync' }, { t: 'async' }, { t: 'string' }, { t: 'undef' }, { t: 'props' }],
  });
  assert.ok(results.every((r) => r.kind === 'error'));
  const [a, b, c, d, e] = results.map(json);
  assert.equal(results[0].headers['lambda-runtime-function-error-type'], 'TypeError');
  assert.equal(a.errorType, 'TypeError');
  assert.equal(a.errorMessage, 'bad type');
  assert.ok(Array.isArray(a.trace) && a.trace[0] === 'TypeError: bad type' && a.trace[1].includes('index.js'));
  assert.deepEqual(Object.keys(a), ['errorType', 'errorMessage', 'trace']);
  assert.equal(b.errorType, 'Error');
  assert.equal(b.errorMessage, 'async boom');
  assert.deepEqual(c, { errorType: 'string', errorMessage: 'just a string', trace: [] });
  assert.deepEqual(d, { errorType: 'string', errorMessage: 'handled', trace: [] });
  assert.equal(e.errorMessage, 'with props');
  // AWS-style log line
  const line = proc.text.split('\n').find((l) => l.includes(`\t${ids[0]}\tERROR\tInvoke Error \t`));
  assert.ok(line, 'Invoke Error log line');
  const logged = JSON.parse(line.split('Invoke Error \t')[1]);
  assert.equal(logged.errorType, 'TypeError');
  assert.equal(logged.errorMessage, 'bad type');
  assert.equal(logged.stack[0], 'TypeError: bad type');
  const propsLine = proc.text.split('\n').find((l) => l.includes(`\t${ids[4]}\tERROR\tInvoke Error \t`));
  assert.deepEqual(Object.keys(JSON.parse(propsLine.split('Invoke Error \t')[1])), ['errorType', 'errorMessage', 'code', 'stack']);
});

test('sync handler: return value ignored, null posted when event loop empties; undefined -> null', async () => {
  const { results } = await scenario({
    files: {
      'index.js': `
        exports.sync = () => 'ignored';
        exports.undef = async () => undefined;`,
    },
    handler: 'index.sync',
    events: [{}, {}],
  });
  assert.deepEqual(results.map((r) => r.body), ['null', 'null']);
});

test('missing module -> /init/error Runtime.ImportModuleError, nonzero exit', async () => {
  const { records, proc, api } = await scenario({ files: { 'other.js': '' }, handler: 'index.handler', waitExit: true });
  assert.notEqual(proc.code, 0);
  assert.equal(records.length, 1);
  assert.equal(records[0].kind, 'init-error');
  assert.equal(records[0].headers['lambda-runtime-function-error-type'], 'Runtime.ImportModuleError');
  const b = json(records[0]);
  assert.equal(b.errorType, 'Runtime.ImportModuleError');
  assert.match(b.errorMessage, /^Error: Cannot find module 'index'\nRequire stack:\n- /);
  assert.ok(Array.isArray(b.trace) && b.trace[0].startsWith('Runtime.ImportModuleError: Error: Cannot find module'));
  assert.equal(api.nextGets.length, 0, 'no /next after init failure');
  assert.match(proc.text, /Z\tundefined\tERROR\tUncaught Exception \t\{"errorType":"Runtime.ImportModuleError"/);
});

for (const [name, files, handler, type, msg] of [
  ['handler missing', { 'index.js': 'exports.other = () => 1;' }, 'index.handler', 'Runtime.HandlerNotFound', 'index.handler is undefined or not exported'],
  ['handler not a function', { 'index.js': 'exports.handler = 42;' }, 'index.handler', 'Runtime.HandlerNotFound', 'index.handler is not a function'],
  ['malformed handler', { 'index.js': '' }, 'index', 'Runtime.MalformedHandlerName', 'Bad handler'],
  ['syntax error', { 'index.js': 'exports.handler = () => {{;' }, 'index.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
  ['esm syntax error', { 'index.mjs': 'export const handler = (;' }, 'index.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
  ['init throws', { 'index.js': 'throw new TypeError("init failed");' }, 'index.handler', 'TypeError', 'init failed'],
  ['rejection left by top-level code', { 'index.js': 'Promise.reject(new Error("late")); exports.handler = async () => 1;' }, 'index.handler', 'Runtime.UnhandledPromiseRejection', 'Error: late'],
  ['top-level await never settles', { 'index.mjs': 'await new Promise(() => {}); export const handler = async () => 1;' }, 'index.handler', 'Runtime.NodeJsExit', 'Runtime exited without providing a reason'],
  ['esm missing package', { 'index.mjs': 'import "no-such-pkg-xyz"; export const handler = async () => 1;' }, 'index.handler', 'Runtime.ImportModuleError', /Cannot find package 'no-such-pkg-xyz'/],
  ['missing dependency', { 'index.js': 'require("no-such-dep-xyz");' }, 'index.handler', 'Runtime.ImportModuleError', /Cannot find module 'no-such-dep-xyz'/],
]) {
  test(`init error: ${name} -> ${type}`, async () => {
    const { records, proc } = await scenario({ files, handler, waitExit: true });
    assert.notEqual(proc.code, 0);
    assert.equal(records.length, 1);
    assert.equal(records[0].kind, 'init-error');
    assert.equal(records[0].headers['lambda-runtime-function-error-type'], type);
    const b = json(records[0]);
    assert.equal(b.errorType, type);
    if (msg instanceof RegExp) assert.match(b.errorMessage, msg);
    else assert.equal(b.errorMessage, msg);
  });
}

test('unhandled rejection during invocation -> Runtime.UnhandledPromiseRejection, exit', async () => {
  const { results, proc } = await scenario({
    files: {
      'index.js': `exports.handler = async () => { Promise.reject(new Error('bg')); await new Promise((r) => setTimeout(r, 100)); return 'late'; };`,
    },
    handler: 'index.handler',
    events: [{}],
    waitExit: true,
  });
  assert.notEqual(proc.code, 0);
  assert.equal(results.length, 1);
  assert.equal(results[0].kind, 'error');
  assert.equal(results[0].headers['lambda-runtime-function-error-type'], 'Runtime.UnhandledPromiseRejection');
  assert.equal(json(results[0]).errorMessage, 'Error: bg');
  assert.match(proc.text, /\tERROR\tUnhandled Promise Rejection \t\{"errorType":"Runtime.UnhandledPromiseRejection","errorMessage":"Error: bg","reason":\{"errorType":"Error"/);
});

test('uncaught exception during invocation -> that invocation errors, exit', async () => {
  const { results, proc } = await scenario({
    files: { 'index.js': `exports.handler = (e, c, cb) => { setTimeout(() => { throw new SyntaxError('timer boom'); }, 10); };` },
    handler: 'index.handler',
    events: [{}],
    waitExit: true,
  });
  assert.notEqual(proc.code, 0);
  assert.equal(results.length, 1);
  assert.equal(results[0].kind, 'error');
  assert.equal(json(results[0]).errorType, 'SyntaxError');
  assert.match(proc.text, /\tERROR\tUncaught Exception \t\{"errorType":"SyntaxError","errorMessage":"timer boom"/);
});

async function secondNextGap(files, event) {
  const taskDir = makeTaskDir(files);
  const api = new FakeRuntimeApi();
  const proc = spawnBootstrap(await api.listen(), taskDir, 'index.handler');
  try {
    api.enqueue(event);
    await api.waitFor(() => api.nextGets.length >= 2, 5000, 'second /next');
    return { gap: api.nextGets[1] - api.results()[0].at, body: api.results()[0].body };
  } finally {
    proc.child.kill('SIGKILL');
    await proc.exited;
    await api.close();
    fs.rmSync(taskDir, { recursive: true, force: true });
  }
}

test('callbackWaitsForEmptyEventLoop: true defers /next until loop empty, false does not', async () => {
  const files = {
    'index.js': `
      exports.handler = async (event, context) => {
        if (event.noWait) context.callbackWaitsForEmptyEventLoop = false;
        setTimeout(() => {}, 400);
        return 'ok';
      };`,
  };
  const waiting = await secondNextGap(files, { noWait: false });
  assert.equal(waiting.body, '"ok"');
  assert.ok(waiting.gap >= 300, `next deferred until event loop empty (${waiting.gap.toFixed(0)}ms)`);
  const notWaiting = await secondNextGap(files, { noWait: true });
  assert.equal(notWaiting.body, '"ok"');
  assert.ok(notWaiting.gap < 150, `next fetched immediately (${notWaiting.gap.toFixed(0)}ms)`);
});

test('413 from /response is logged and the loop continues', async () => {
  const { results, proc } = await scenario({
    files: { 'index.js': `exports.handler = async (e) => e.big ? 'x'.repeat(7 * 1024 * 1024) : 'small';` },
    handler: 'index.handler',
    events: [{ big: true }, { big: false }],
    api413: new Set(['req-1']),
  });
  assert.equal(results.length, 2);
  assert.equal(results[1].body, '"small"');
  assert.match(proc.text, /\treq-1\tERROR\t.*413/);
});

test('unserializable result -> error', async () => {
  const { results } = await scenario({
    files: { 'index.js': `exports.handler = async () => { const o = {}; o.o = o; return o; };` },
    handler: 'index.handler',
    events: [{}],
  });
  assert.equal(results[0].kind, 'error');
  assert.equal(json(results[0]).errorMessage, 'Unable to stringify response body');
});

test('logs written synchronously: large log then process.exit is not truncated', async () => {
  const { proc } = await scenario({
    files: { 'index.js': `exports.handler = () => { console.log('y'.repeat(2 * 1024 * 1024)); console.log('END-MARK'); process.exit(3); };` },
    handler: 'index.handler',
    events: [{}],
    waitExit: true,
  });
  assert.equal(proc.code, 3);
  assert.ok(proc.text.includes('y'.repeat(2 * 1024 * 1024)));
  assert.match(proc.text, /\tINFO\tEND-MARK\n/);
});

// ---------------------------------------------------------------------------
// Startup measurement
// ---------------------------------------------------------------------------
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

