// A test OTLP/HTTP trace receiver that decodes every body with the official generated code of
// opentelemetry-proto (protobufjs, from @opentelemetry/otlp-proto-exporter-base, pinned by package-lock.json):
// what Rampart's hand-written encoder sends is checked against the schema, not against itself.
//
// Listens on 127.0.0.1, port 0; the first line on stdout is the port. Routes:
//   POST /v1/traces  decode an ExportTraceServiceRequest; a body that does not decode is answered 400 and
//                    kept in /errors (a test failure). Answers the control's status (200 by default); only
//                    the spans of a 2xx answer count as received.
//   GET  /spans      every span received, as JSON (ids lower-case hex, longs as strings, enums as numbers),
//                    each with its resource's attributes and its scope
//   GET  /raw        every body received, base64
//   GET  /headers    every request's headers (lower-case names)
//   GET  /errors     decode errors
//   POST /control    {"status": 503, "delayMs": N, "retryAfter": "1"}: the answer (and its delay) to
//                    later POSTs; {"status": 200} is a healthy collector again. {"failNext": N}: the next N
//                    POSTs are answered 503 whatever the status, then the status again
//   POST /reset      forget everything received
'use strict';

const http = require('http');
const path = require('path');

const modules = process.env.OTLP_NODE_MODULES || path.join(__dirname, 'node_modules');
const root = require(path.join(modules, '@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js'));
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const kMaxBody = 16 * 1024 * 1024;
const kIdFields = new Set(['traceId', 'spanId', 'parentSpanId']);

const state = {
  spans: [], raw: [], headers: [], errors: [], status: 200, delayMs: 0, retryAfter: null, failNext: 0,
};

// protobufjs gives bytes as base64 with {bytes: String}; ids are compared as hex, like traceparent.
function hexIds(value) {
  if (Array.isArray(value)) return value.map(hexIds);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = kIdFields.has(key) && typeof field === 'string' ? Buffer.from(field, 'base64').toString('hex')
                                                               : hexIds(field);
  }
  return out;
}

function decode(body) {
  const message = ExportTraceServiceRequest.decode(body);
  const verifyError = ExportTraceServiceRequest.verify(message);
  if (verifyError) throw new Error('verify: ' + verifyError);
  const object = ExportTraceServiceRequest.toObject(message, {
    longs: String, enums: Number, bytes: String, defaults: true, arrays: true, objects: true, oneofs: true,
  });
  const spans = [];
  for (const resourceSpans of object.resourceSpans) {
    const resource = hexIds(resourceSpans.resource || {});
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        spans.push(Object.assign(hexIds(span), { resource: resource, scope: scopeSpans.scope || null }));
      }
    }
  }
  return spans;
}

function send(response, status, body, type) {
  response.writeHead(status, { 'content-type': type || 'application/json' });
  response.end(body);
}

function readBody(request, done) {
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size > kMaxBody) {
      request.destroy();
      return;
    }
    chunks.push(chunk);
  });
  request.on('end', () => done(Buffer.concat(chunks)));
}

const server = http.createServer((request, response) => {
  const url = request.url.split('?')[0];
  if (request.method === 'POST' && url === '/v1/traces') {
    readBody(request, (body) => {
      state.raw.push(body.toString('base64'));
      state.headers.push(request.headers);
      if (request.headers['content-type'] !== 'application/x-protobuf') {
        state.errors.push('content-type ' + request.headers['content-type']);
        send(response, 415, '{}');
        return;
      }
      let spans;
      try {
        spans = decode(body);
      } catch (error) {
        state.errors.push(String(error && error.message ? error.message : error));
        send(response, 400, '{}');
        return;
      }
      let status = state.status;
      if (state.failNext > 0) {
        state.failNext -= 1;
        status = 503;
      }
      if (status >= 200 && status < 300) state.spans.push(...spans);
      const answer = () => {
        const headers = { 'content-type': 'application/x-protobuf' };
        if (status !== 200 && state.retryAfter !== null) headers['retry-after'] = state.retryAfter;
        response.writeHead(status, headers);
        response.end();  // an empty ExportTraceServiceResponse: full success
      };
      if (state.delayMs > 0) setTimeout(answer, state.delayMs);
      else answer();
    });
    return;
  }
  if (request.method === 'POST' && url === '/control') {
    readBody(request, (body) => {
      try {
        const control = JSON.parse(body.toString('utf8'));
        if (control.status !== undefined) state.status = control.status;
        if (control.delayMs !== undefined) state.delayMs = control.delayMs;
        if (control.retryAfter !== undefined) state.retryAfter = control.retryAfter;
        if (control.failNext !== undefined) state.failNext = control.failNext;
        send(response, 200, JSON.stringify({ status: state.status, delayMs: state.delayMs }));
      } catch (error) {
        send(response, 400, JSON.stringify({ error: String(error) }));
      }
    });
    return;
  }
  if (request.method === 'POST' && url === '/reset') {
    readBody(request, () => {
      state.spans = [];
      state.raw = [];
      state.headers = [];
      state.errors = [];
      send(response, 200, '{}');
    });
    return;
  }
  if (request.method === 'GET') {
    const routes = { '/spans': state.spans, '/raw': state.raw, '/headers': state.headers, '/errors': state.errors };
    if (url in routes) {
      send(response, 200, JSON.stringify(routes[url]));
      return;
    }
  }
  send(response, 404, '{}');
});

server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(server.address().port + '\n');
});
// At once, even with a delayed answer pending (a test playing a slow collector).
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
