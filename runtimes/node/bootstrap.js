'use strict';
// Nimbus bootstrap for nodejs* runtimes.
//
// Implements the AWS Lambda Runtime API (2018-06-01) client loop:
//   load handler -> GET /invocation/next -> run handler -> POST /response|/error -> repeat
// Started by the Nimbus host as `node bootstrap.js` with the standard Lambda env vars.
// Uses built-in modules only; only `http` is loaded eagerly (plus modules Node has
// already loaded during its own startup: path, fs, util, module).

const http = require('http');
const path = require('path');
const fs = require('fs');
const util = require('util');

const env = process.env;
const API_BASE = '/2018-06-01/runtime';
// Exit codes used by the AWS Node.js runtime after reporting a fatal error.
const EXIT_UNCAUGHT_EXCEPTION = 129;
const EXIT_UNHANDLED_REJECTION = 128;
const EXIT_RUNTIME_FAILURE = 1;

// ---------------------------------------------------------------------------
// Logging: console.* -> "<ISO time>\t<requestId>\t<LEVEL>\t<message>\n" on fd 1.
// fs.writeSync keeps each record in the pipe before we post the result; a
// process.stdout pipe is asynchronous under back-pressure and can lose data on exit.
// ---------------------------------------------------------------------------

let requestId; // printed as "undefined" before the first invocation, like AWS
let sleepCell;

function writeOut(str) {
  const buf = Buffer.from(str, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      // fd 1 becomes O_NONBLOCK once anything touches process.stdout/stderr;
      // wait for the reader instead of dropping the record.
      if (e.code !== 'EAGAIN') return;
      if (!sleepCell) sleepCell = new Int32Array(new SharedArrayBuffer(4));
      Atomics.wait(sleepCell, 0, 0, 1);
    }
  }
}

// Lambda's JSON log format (LoggingConfig LogFormat JSON): one object per
// record, records below AWS_LAMBDA_LOG_LEVEL dropped.
const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const jsonLogs = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const minLevel = jsonLogs ? (LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || 'INFO').toUpperCase()] || LEVELS.INFO) : 0;

function logRecord(level, args) {
  if (jsonLogs) {
    if (LEVELS[level] < minLevel) return;
    const record = { timestamp: new Date().toISOString(), level, requestId, message: util.format(...args) };
    const err = args.find((a) => a instanceof Error);
    if (err) {
      record.errorType = err.name;
      record.errorMessage = err.message;
      record.stackTrace = String(err.stack || '').split('\n');
    }
    writeOut(JSON.stringify(record) + '\n');
    return;
  }
  writeOut(`${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}\n`);
}

function patchConsole() {
  const make = (level) => function (...args) { logRecord(level, args); };
  console.log = make('INFO');
  console.info = make('INFO');
  console.warn = make('WARN');
  console.error = make('ERROR');
  console.debug = make('DEBUG');
  console.trace = make('TRACE');
  console.fatal = make('FATAL');
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

function runtimeError(name) {
  class RuntimeError extends Error {}
  Object.defineProperty(RuntimeError.prototype, 'name', { value: name, writable: true, configurable: true });
  return RuntimeError;
}
const ImportModuleError = runtimeError('Runtime.ImportModuleError');
const HandlerNotFound = runtimeError('Runtime.HandlerNotFound');
const MalformedHandlerName = runtimeError('Runtime.MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('Runtime.UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeError('Runtime.UnhandledPromiseRejection');

function isErrorLike(e) {
  return util.types.isNativeError(e) || (e !== null && typeof e === 'object' &&
    typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string');
}

function stackLines(e) {
  return typeof e.stack === 'string' ? e.stack.split('\n') : [];
}

// Body for /invocation/{id}/error and /init/error (AWS Node runtime uses "trace").
function toErrorResponse(e) {
  try {
    if (isErrorLike(e)) {
      return { errorType: String(e.name), errorMessage: String(e.message), trace: stackLines(e) };
    }
    return { errorType: typeof e, errorMessage: String(e), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// JSON used in log lines: {"errorType","errorMessage",<own enumerable props>,"stack":[...]}
function logReplacer(_key, v) {
  if (!isErrorLike(v)) return v;
  const out = { errorType: v.name, errorMessage: v.message };
  for (const k of Object.keys(v)) if (k !== 'stack' && !(k in out)) out[k] = v[k];
  out.stack = stackLines(v);
  return out;
}

function formatErrorForLog(e) {
  try {
    if (!isErrorLike(e)) {
      const r = toErrorResponse(e);
      return '\t' + JSON.stringify({ errorType: r.errorType, errorMessage: r.errorMessage, stack: [] });
    }
    return '\t' + JSON.stringify(e, logReplacer);
  } catch (_) {
    const r = toErrorResponse(e);
    return '\t' + JSON.stringify({ errorType: r.errorType, errorMessage: r.errorMessage, stack: r.trace || [] });
  }
}

// HTTP header values must be visible ASCII.
function headerSafe(s) {
  return String(s).replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
}

// ---------------------------------------------------------------------------
// Runtime API client (keep-alive, a single socket)
// ---------------------------------------------------------------------------

const apiAddr = env.AWS_LAMBDA_RUNTIME_API || '';
const apiColon = apiAddr.lastIndexOf(':');
const apiHost = (apiColon > 0 ? apiAddr.slice(0, apiColon) : apiAddr).replace(/^\[(.*)\]$/, '$1');
const apiPort = apiColon > 0 ? Number(apiAddr.slice(apiColon + 1)) : 80;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let inflightPosts = 0;
let pendingExitCode = null;

function apiRequest(method, urlPath, body, extraHeaders, cb) {
  const headers = extraHeaders || {};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  let done = false;
  const finish = (err, res, data) => { if (!done) { done = true; cb(err, res, data); } };
  const req = http.request({ host: apiHost, port: apiPort, method, path: API_BASE + urlPath, agent, headers }, (res) => {
    let data = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { data += c; });
    res.on('end', () => finish(null, res, data));
    res.on('error', (e) => finish(null, res, data || String(e)));
  });
  req.on('error', (e) => finish(e));
  req.end(body);
}

function apiPost(urlPath, body, headers, cb) {
  inflightPosts++;
  apiRequest('POST', urlPath, body, headers, (err, res, data) => {
    inflightPosts--;
    try {
      cb(err, res, data);
    } finally {
      if (pendingExitCode !== null && inflightPosts === 0) process.exit(pendingExitCode);
    }
  });
}

// ---------------------------------------------------------------------------
// Response streaming: awslambda.streamifyResponse(handler) marks a handler that
// writes its response to a stream; the runtime posts it to /response in
// streaming mode (chunked), ending with error trailers if the handler fails.
// HttpResponseStream.from(stream, {statusCode, headers, cookies}) writes the
// HTTP prelude function URLs read (JSON, then eight NUL bytes).
// ---------------------------------------------------------------------------

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  static from(stream, prelude) {
    stream.setContentType(HTTP_INTEGRATION);
    stream.write(JSON.stringify(prelude || {}));
    stream.write(Buffer.alloc(8));
    return stream;
  }
}

globalThis.awslambda = {
  streamifyResponse(fn, options) {
    fn[STREAMING] = { options };
    return fn;
  },
  HttpResponseStream,
};

function invokeStreaming(inv, event, context) {
  const { Writable } = require('stream');
  let contentType = 'application/octet-stream';
  let req = null;
  let finished = false;
  const open = () => {
    if (req) return req;
    inflightPosts++;
    req = http.request({
      host: apiHost, port: apiPort, method: 'POST', agent,
      path: `${API_BASE}/invocation/${inv.id}/response`,
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        'Content-Type': contentType,
        Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
      },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        inflightPosts--;
        if (pendingExitCode !== null && inflightPosts === 0) process.exit(pendingExitCode);
        if (pendingExitCode !== null) return;
        if (inv.waitForEmptyLoop) nextDeferred = true;
        else nextInvocation();
      });
    });
    req.on('error', (e) => {
      logRecord('ERROR', [`Failed to stream the response to the Runtime API: ${e.message}`]);
    });
    return req;
  };
  const stream = new Writable({
    write(chunk, _enc, cb) { open().write(chunk, cb); },
    final(cb) { finish(null); cb(); },
  });
  stream.setContentType = (ct) => { contentType = ct; };
  const finish = (err) => {
    if (finished) return;
    finished = true;
    inv.settled = true;
    if (current === inv) current = null;
    const r = open();
    if (err) {
      logRecord('ERROR', ['Invoke Error', formatErrorForLog(err)]);
      const e = toErrorResponse(err);
      r.addTrailers({
        'Lambda-Runtime-Function-Error-Type': headerSafe(e.errorType),
        'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(e)).toString('base64'),
      });
    }
    r.end();
  };
  try {
    const result = handler(event, stream, context);
    Promise.resolve(result).then(() => {
      if (!stream.writableEnded) stream.end();
    }, (e) => finish(e));
  } catch (e) {
    finish(e);
  }
}

function exitWhenIdle(code) {
  if (pendingExitCode === null) pendingExitCode = code;
  if (inflightPosts === 0) process.exit(pendingExitCode);
}

function fatal(message) {
  logRecord('ERROR', [message]);
  process.exit(EXIT_RUNTIME_FAILURE);
}

function postInitError(err, exitCode) {
  const r = toErrorResponse(err);
  apiPost('/init/error', JSON.stringify(r), { 'Lambda-Runtime-Function-Error-Type': headerSafe(r.errorType) }, (e) => {
    if (e) logRecord('ERROR', [`Failed to post init error to the Runtime API: ${e.message}`]);
    exitWhenIdle(exitCode);
  });
}

// ---------------------------------------------------------------------------
// Handler loading
// ---------------------------------------------------------------------------

function setupNodePath(taskRoot) {
  const layers = ['/opt/nodejs/node' + process.versions.node.split('.')[0] + '/node_modules', '/opt/nodejs/node_modules'];
  const current = env.NODE_PATH ? env.NODE_PATH.split(path.delimiter) : [];
  const wanted = current.length ? current.concat(layers) : layers.concat(taskRoot);
  const merged = [...new Set(wanted.filter(Boolean))];
  if (merged.length === current.length) return; // nothing new
  env.NODE_PATH = merged.join(path.delimiter);
  // Module._initPaths re-reads NODE_PATH into the global search paths used by require().
  const Module = require('module');
  if (typeof Module._initPaths === 'function') Module._initPaths();
}

function nearestPackageIsModule(file) {
  let dir = path.dirname(file);
  for (;;) {
    let text;
    try { text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8'); } catch (_) { text = undefined; }
    if (text !== undefined) {
      try { return JSON.parse(text).type === 'module'; } catch (_) { return false; }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

function importFile(file) {
  return import(require('url').pathToFileURL(file).href);
}

async function loadModule(taskRoot, moduleRoot, moduleName) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  try {
    if (fs.existsSync(base)) return require(base);
    if (fs.existsSync(base + '.js')) return nearestPackageIsModule(base) ? await importFile(base + '.js') : require(base + '.js');
    if (fs.existsSync(base + '.mjs')) return await importFile(base + '.mjs');
    if (fs.existsSync(base + '.cjs')) return require(base + '.cjs');
    // Fall back to node module resolution (node_modules of the task root, layers, NODE_PATH).
    const resolved = require.resolve(moduleName, {
      paths: [taskRoot, path.resolve(taskRoot, moduleRoot)].concat(require('module').globalPaths || []),
    });
    return require(resolved);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(String(e));
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) throw new ImportModuleError(String(e));
    throw e;
  }
}

async function loadHandler(taskRoot, handlerString) {
  if (handlerString.includes('..')) {
    throw new MalformedHandlerName(`'${handlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  const slash = handlerString.lastIndexOf('/');
  const moduleRoot = handlerString.slice(0, slash + 1);
  const rest = handlerString.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot < 0) throw new MalformedHandlerName('Bad handler');
  const moduleName = rest.slice(0, dot);
  const handlerPath = rest.slice(dot + 1);

  const mod = await loadModule(taskRoot, moduleRoot, moduleName);
  let fn = mod;
  for (const part of handlerPath.split('.')) {
    fn = fn == null ? undefined : fn[part];
  }
  if (fn == null) throw new HandlerNotFound(`${handlerString} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${handlerString} is not a function`);
  return fn;
}

// ---------------------------------------------------------------------------
// Invocation loop
// ---------------------------------------------------------------------------

let handler;
let initialized = false;
let current = null;      // invocation whose result has not been reported yet
let nextDeferred = false; // fetch next invocation once the event loop is empty

function nextInvocation() {
  apiRequest('GET', '/invocation/next', undefined, undefined, (err, res, body) => {
    if (err) return fatal(`Failed to get next invocation from the Runtime API: ${err.message}`);
    if (res.statusCode !== 200) return fatal(`Runtime API returned ${res.statusCode} for /invocation/next: ${body}`);
    invoke(res.headers, body);
  });
}

function parseJsonHeader(value) {
  return value === undefined || value === '' ? undefined : JSON.parse(value);
}

function invoke(h, body) {
  const id = h['lambda-runtime-aws-request-id'];
  requestId = id;
  const traceId = h['lambda-runtime-trace-id'];
  if (traceId) env._X_AMZN_TRACE_ID = traceId;
  else delete env._X_AMZN_TRACE_ID;
  const deadline = Number(h['lambda-runtime-deadline-ms']);

  const inv = { id, settled: false, waitForEmptyLoop: true };
  current = inv;

  const succeed = (result) => settle(inv, false, result);
  const fail = (err) => settle(inv, true, err == null ? 'handled' : err);
  const done = (err, result) => (err != null ? fail(err) : succeed(result));

  const context = {};
  Object.defineProperty(context, 'callbackWaitsForEmptyEventLoop', {
    get: () => inv.waitForEmptyLoop,
    set: (v) => { inv.waitForEmptyLoop = v; },
    enumerable: true,
  });
  context.succeed = succeed;
  context.fail = fail;
  context.done = done;
  context.functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
  context.functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  context.memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  context.logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
  context.logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;
  context.clientContext = undefined;
  context.identity = undefined;
  context.invokedFunctionArn = h['lambda-runtime-invoked-function-arn'];
  context.awsRequestId = id;
  context.getRemainingTimeInMillis = function getRemainingTimeInMillis() { return deadline - Date.now(); };
  if (h['lambda-runtime-aws-tenant-id'] !== undefined) context.tenantId = h['lambda-runtime-aws-tenant-id'];

  let result;
  try {
    context.clientContext = parseJsonHeader(h['lambda-runtime-client-context']);
    context.identity = parseJsonHeader(h['lambda-runtime-cognito-identity']);
    if (handler[STREAMING]) {
      invokeStreaming(inv, JSON.parse(body), context);
      return;
    }
    result = handler(JSON.parse(body), context, done);
    if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof result.then === 'function') {
      result.then(succeed, fail);
    }
  } catch (e) {
    fail(e);
  }
  // A non-promise return value without callback: like AWS, the response is
  // posted (as null) once the event loop is empty (see beforeExit below).
}

function settle(inv, isError, value) {
  if (inv.settled) return;
  inv.settled = true;
  if (current === inv) current = null;

  let body;
  if (!isError) {
    try {
      body = JSON.stringify(value === undefined ? null : value);
      if (body === undefined) body = 'null';
    } catch (_) {
      isError = true;
      value = new Error('Unable to stringify response body');
    }
  }

  let urlPath;
  let headers;
  if (isError) {
    logRecord('ERROR', ['Invoke Error', formatErrorForLog(value)]);
    const r = toErrorResponse(value);
    urlPath = `/invocation/${inv.id}/error`;
    headers = { 'Lambda-Runtime-Function-Error-Type': headerSafe(r.errorType) };
    body = JSON.stringify(r);
  } else {
    urlPath = `/invocation/${inv.id}/response`;
  }

  apiPost(urlPath, body, headers, (err, res, data) => {
    if (err) {
      // Connection failures (e.g. the API closed the socket on an oversized body) are
      // not fatal here; the following GET /next fails if the API is really gone.
      logRecord('ERROR', [`Failed to post invocation result to the Runtime API: ${err.message}`]);
    } else if (res.statusCode === 413) {
      logRecord('ERROR', [`Runtime API rejected the ${isError ? 'error' : 'response'} payload as too large (413): ${data}`]);
    } else if (res.statusCode >= 500) {
      return fatal(`Runtime API returned ${res.statusCode} for ${urlPath}: ${data}`);
    } else if (res.statusCode >= 300) {
      logRecord('ERROR', [`Runtime API returned ${res.statusCode} for ${urlPath}: ${data}`]);
    }
    if (pendingExitCode !== null) return;
    if (inv.waitForEmptyLoop) nextDeferred = true; // picked up by beforeExit
    else nextInvocation();
  });
}

const NodeJsExit = runtimeError('Runtime.NodeJsExit');

function onBeforeExit() {
  if (pendingExitCode !== null) return;
  if (!initialized) {
    // The event loop drained while the handler module was still loading (e.g. a
    // top-level await that never settles).
    reportFatal(new NodeJsExit('Runtime exited without providing a reason'), EXIT_RUNTIME_FAILURE);
    return;
  }
  if (current && !current.settled) {
    settle(current, false, null);
  } else if (nextDeferred) {
    nextDeferred = false;
    nextInvocation();
  }
}

// Fatal errors raised outside the handler's own control flow.
function reportFatal(err, exitCode) {
  if (pendingExitCode !== null) return;
  if (!initialized) {
    pendingExitCode = exitCode;
    postInitError(err, exitCode);
  } else if (current && !current.settled) {
    const inv = current;
    inv.settled = true;
    current = null;
    pendingExitCode = exitCode;
    const r = toErrorResponse(err);
    apiPost(`/invocation/${inv.id}/error`, JSON.stringify(r), { 'Lambda-Runtime-Function-Error-Type': headerSafe(r.errorType) }, () => {});
  } else {
    exitWhenIdle(exitCode);
  }
}

function onUncaughtException(err) {
  logRecord('ERROR', ['Uncaught Exception', formatErrorForLog(err)]);
  reportFatal(err, EXIT_UNCAUGHT_EXCEPTION);
}

function onUnhandledRejection(reason, promise) {
  let message;
  try { message = String(reason); } catch (_) { message = typeof reason; }
  const err = new UnhandledPromiseRejection(message);
  err.reason = reason;
  err.promise = promise;
  logRecord('ERROR', ['Unhandled Promise Rejection', formatErrorForLog(err)]);
  reportFatal(err, EXIT_UNHANDLED_REJECTION);
}

async function main() {
  patchConsole();
  if (!apiAddr) {
    logRecord('ERROR', ['AWS_LAMBDA_RUNTIME_API is not set']);
    process.exit(EXIT_RUNTIME_FAILURE);
  }
  const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  setupNodePath(taskRoot);
  process.on('uncaughtException', onUncaughtException);
  process.on('unhandledRejection', onUnhandledRejection);
  process.on('beforeExit', onBeforeExit);

  try {
    handler = await loadHandler(taskRoot, env._HANDLER || '');
  } catch (e) {
    onUncaughtException(e);
    return;
  }
  // One turn of the event loop so that rejections/exceptions left behind by the module's
  // top-level code are still reported as init errors.
  setImmediate(() => {
    if (pendingExitCode !== null) return; // a stray async error during init was already reported
    initialized = true;
    nextInvocation();
  });
}

main();
