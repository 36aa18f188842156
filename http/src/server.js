'use strict';
// server.js — cdp over HTTP: a thin JSON API over the cdp_api schema and
// the dashboard page, with node:http and node-postgres only.
//
// Every API request is one transaction on a connection of the
// authenticator role: the role named in the caller's token is switched to
// with set_config('role', ..., true) (SET LOCAL ROLE) and the token's
// claims go to request.jwt.claims, as PostgREST does; then the route's
// cdp_api function is called with the request's values as parameters.  So
// PostgreSQL's grants are the only authorisation, and no value from a
// request ever becomes SQL text: function and argument names come from
// routes.js, values are bind parameters.

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { Pool, types } = require('pg');
const jwt = require('./jwt');
const { ApiError, fromPg } = require('./errors');
const defaultRoutes = require('./routes');
const { openapi } = require('./openapi');

// ---- values from the database -------------------------------------------

// bigint as a number when it is exact, numeric as a number when it is
// finite; times and dates as PostgreSQL prints them, in RFC 3339 form
// (microseconds kept: paging cursors depend on them)
function rfc3339(v) {
  return v.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
}
types.setTypeParser(20, (v) => { const n = Number(v); return Number.isSafeInteger(n) ? n : v; });
types.setTypeParser(1700, (v) => { const n = Number(v); return Number.isFinite(n) && Math.abs(n) < 1e15 ? n : v; });
types.setTypeParser(1184, rfc3339);
types.setTypeParser(1114, rfc3339);
types.setTypeParser(1082, (v) => v);

const PG_CAST = {
  string: 'text', integer: 'integer', bigint: 'bigint', number: 'double precision', boolean: 'boolean',
  timestamp: 'timestamptz', date: 'date', json: 'jsonb',
};

// ---- request values -------------------------------------------------------

function bad(name, message, hint) {
  return new ApiError(400, 'invalid_parameter', `parameter "${name}" ${message}`, { sqlstate: '22023', hint });
}

// convert: a request value checked against its declared type, as the text
// PostgreSQL receives for it (fromText: it came from the path or the query).
function convert(name, spec, raw, fromText) {
  switch (spec.type) {
    case 'string':
      if (typeof raw === 'number' && !fromText && Number.isFinite(raw)) return String(raw);
      if (typeof raw !== 'string') throw bad(name, 'must be a string');
      if (raw.includes('\u0000')) throw bad(name, 'must not contain a NUL character');
      return raw;
    case 'integer':
    case 'bigint': {
      const s = typeof raw === 'number' && !fromText ? (Number.isSafeInteger(raw) ? String(raw) : null) : raw;
      if (typeof s !== 'string' || !/^-?\d{1,19}$/.test(s)) throw bad(name, `must be an integer, not ${JSON.stringify(raw).slice(0, 40)}`);
      return s;
    }
    case 'number': {
      const n = fromText ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n) || (fromText && raw.trim() === '')) throw bad(name, 'must be a number');
      return String(n);
    }
    case 'boolean':
      if (raw === true || raw === 'true') return 'true';
      if (raw === false || raw === 'false') return 'false';
      throw bad(name, 'must be true or false');
    case 'timestamp':
      if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/.test(raw)) {
        throw bad(name, 'must be an ISO 8601 time such as 2026-11-20T18:00:00+01:00');
      }
      return raw;
    case 'date':
      if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(raw)) throw bad(name, 'must be a day such as 2026-11-20');
      return raw;
    case 'json':
      if (fromText) {
        try { return JSON.stringify(JSON.parse(raw)); } catch (e) { throw bad(name, 'must be JSON'); }
      }
      return JSON.stringify(raw);
    default:
      throw new Error(`route declares an unknown type ${spec.type}`);
  }
}

// ---- routing --------------------------------------------------------------

function compile(routes) {
  return routes.map((r) => {
    const parts = r.path.split('/').slice(1);
    for (const [name, spec] of Object.entries(r.params)) {
      if (!PG_CAST[spec.type]) throw new Error(`${r.path}: parameter ${name} has unknown type ${spec.type}`);
      if (spec.in === 'path' && !parts.includes(`:${name}`)) throw new Error(`${r.path}: path parameter ${name} is not in the path`);
    }
    return { ...r, parts };
  });
}

function match(compiled, method, pathname) {
  const segs = pathname.split('/').slice(1);
  let allowed = [];
  for (const r of compiled) {
    if (r.parts.length !== segs.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const p = r.parts[i];
      if (p.startsWith(':')) {
        let v;
        try { v = decodeURIComponent(segs[i]); } catch (e) { throw new ApiError(400, 'bad_path', 'the path is not valid percent-encoding'); }
        if (v === '') ok = false; else params[p.slice(1)] = v;
      } else if (p !== segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method === method) return { route: r, pathParams: params };
    allowed.push(r.method);
  }
  if (allowed.length) {
    throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${pathname}`,
      { hint: `Use ${allowed.join(', ')}.`, headers: { Allow: allowed.join(', ') } });
  }
  throw new ApiError(404, 'not_found', `no endpoint ${method} ${pathname}`, { hint: 'GET /openapi.json lists the endpoints.' });
}

// ---- bodies ---------------------------------------------------------------

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new ApiError(413, 'payload_too_large', `the request body is ${declared} bytes, more than the ${limit} allowed`));
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let done = false;
    req.on('data', (c) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new ApiError(413, 'payload_too_large', `the request body is more than the ${limit} bytes allowed`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks)); } });
    req.on('error', (e) => { if (!done) { done = true; reject(new ApiError(400, 'bad_body', 'the request body could not be read', { detail: e.message })); } });
  });
}

function parseJsonBody(buf, req) {
  if (buf.length === 0) return {};
  const ct = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', `the request body must be application/json, not ${ct || 'untyped'}`,
      { hint: 'Send the header Content-Type: application/json.' });
  }
  let v;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, 'bad_json', 'the request body is not valid JSON', { sqlstate: '22P02', detail: e.message });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ApiError(400, 'bad_json', 'the request body must be a JSON object', { sqlstate: '22P02' });
  }
  return v;
}

// ---- the service ------------------------------------------------------------

function createService(options = {}) {
  const cfg = {
    secret: options.secret,
    roles: options.roles || ['cdp_writer', 'cdp_analyst', 'cdp_admin', 'cdp_customer', 'cdp_campaign'],
    maxBody: options.maxBody || 64 * 1024,
    timeZone: options.timeZone || 'UTC',
    statementTimeout: options.statementTimeout || '30s',
    log: options.log || null,
  };
  if (typeof cfg.secret !== 'string' || Buffer.byteLength(cfg.secret) < 32) {
    throw new Error('the JWT secret must be at least 32 bytes');
  }
  const routes = compile(options.routes || defaultRoutes);
  const pool = options.pool || new Pool({ max: options.poolSize || 10, ...(options.pg || {}) });
  pool.on('error', () => {});            // a dropped idle connection is replaced on the next request
  const publicDir = path.join(__dirname, '..', 'public');
  const echartsFile = require.resolve('echarts/dist/echarts.min.js');
  const spec = openapi(routes);
  const staticFiles = {
    '/dashboard/': { file: path.join(publicDir, 'dashboard.html'), type: 'text/html; charset=utf-8' },
    '/dashboard/app.js': { file: path.join(publicDir, 'app.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard/style.css': { file: path.join(publicDir, 'style.css'), type: 'text/css; charset=utf-8' },
    '/assets/echarts.min.js': { file: echartsFile, type: 'text/javascript; charset=utf-8' },
  };

  function send(res, status, body, headers = {}) {
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length,
                            'Cache-Control': 'no-store', ...headers });
    res.end(data);
  }

  function sendError(res, err) {
    const e = fromPg(err);
    if (res.headersSent) { res.destroy(); return; }
    const headers = { ...(e.headers || {}) };
    if (e.status === 401) headers['WWW-Authenticate'] = 'Bearer';
    send(res, e.status, e.toJSON(), headers);
  }

  function serveStatic(req, res, f) {
    fs.readFile(f.file, (err, data) => {
      if (err) { sendError(res, new ApiError(404, 'not_found', 'no such file')); return; }
      res.writeHead(200, {
        'Content-Type': f.type, 'Content-Length': data.length, 'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  }

  // authenticate: the verified claims of the request's bearer token.
  function authenticate(req) {
    const h = req.headers.authorization;
    if (!h) throw new ApiError(401, 'unauthorized', 'no token', { hint: 'Send Authorization: Bearer <JWT>.' });
    const m = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(h);
    if (!m) throw new ApiError(401, 'unauthorized', 'the Authorization header is not "Bearer <token>"');
    let claims;
    try {
      claims = jwt.verify(m[1], cfg.secret);
    } catch (e) {
      if (e instanceof jwt.TokenError) throw new ApiError(401, 'unauthorized', e.message);
      throw e;
    }
    if (typeof claims.role !== 'string' || claims.role === '') throw new ApiError(401, 'unauthorized', 'the token names no role');
    if (!cfg.roles.includes(claims.role)) {
      throw new ApiError(403, 'forbidden', `the role "${claims.role.slice(0, 64)}" may not use the API`,
        { sqlstate: '42501', hint: `The API serves the roles ${cfg.roles.join(', ')}.` });
    }
    return claims;
  }

  // args: the route's parameters from path, query and body, checked.
  function collectArgs(route, pathParams, url, body) {
    const query = {};
    for (const [k, v] of url.searchParams) {
      if (Object.prototype.hasOwnProperty.call(query, k)) throw bad(k, 'is given twice');
      query[k] = v;
    }
    const declared = route.params;
    for (const k of Object.keys(query)) {
      if (!declared[k] || declared[k].in !== 'query') {
        throw new ApiError(400, 'unknown_parameter', `unknown query parameter "${k.slice(0, 64)}"`,
          { hint: `${route.method} ${route.path} takes: ${Object.keys(declared).filter((n) => declared[n].in === 'query').join(', ') || 'none'}.` });
      }
    }
    for (const k of Object.keys(body)) {
      if (!declared[k] || declared[k].in !== 'body') {
        throw new ApiError(400, 'unknown_parameter', `unknown field "${k.slice(0, 64)}" in the body`,
          { hint: `${route.method} ${route.path} takes: ${Object.keys(declared).filter((n) => declared[n].in === 'body').join(', ') || 'no body'}.` });
      }
    }
    const args = [];
    for (const [name, spec] of Object.entries(declared)) {
      const src = spec.in === 'path' ? pathParams : spec.in === 'query' ? query : body;
      const raw = src[name];
      if (raw === undefined || raw === null) {
        if (spec.required) {
          throw new ApiError(400, 'missing_parameter', `parameter "${name}" is required`, { sqlstate: '22004',
            hint: spec.description ? `${name}: ${spec.description}` : null });
        }
        continue;
      }
      args.push({ name, arg: spec.arg || name, cast: PG_CAST[spec.type], value: convert(name, spec, raw, spec.in !== 'body') });
    }
    return { args, query };
  }

  function callSql(route, args) {
    const list = args.map((a, i) => `"${a.arg}" => $${i + 1}::${a.cast}`).join(', ');
    const call = `${route.fn}(${list})`;
    const text = route.result === 'scalar' || route.result === 'json' ? `SELECT ${call} AS v` : `SELECT * FROM ${call}`;
    return { text, values: args.map((a) => a.value) };
  }

  // transaction: runs fn(client) in one transaction as the token's role.
  async function transaction(claims, req, readOnly, fn) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
      try {
        await client.query(
          "SELECT set_config('request.jwt.claims', $1, true), set_config('request.method', $2, true),"
          + " set_config('request.path', $3, true), set_config('statement_timeout', $4, true),"
          + " set_config('TimeZone', $5, true), set_config('role', $6, true)",
          [JSON.stringify(claims), req.method, req.url.split('?')[0], cfg.statementTimeout, cfg.timeZone, claims.role]);
      } catch (e) {
        if (e && (e.code === '42501' || e.code === '22023' || e.code === '42704')) {
          throw new ApiError(403, 'forbidden', `the role "${claims.role.slice(0, 64)}" is refused`, { sqlstate: e.code, detail: e.message });
        }
        throw e;
      }
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      try { await client.query('ROLLBACK'); } catch (e2) { broken = true; }
      throw e;
    } finally {
      client.release(broken);
    }
  }

  function csvField(v) {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  async function streamCsv(route, args, claims, req, res) {
    const { text, values } = callSql(route, args);
    await transaction(claims, req, true, async (client) => {
      await client.query(`DECLARE cdp_export NO SCROLL CURSOR FOR ${text}`, values);
      let batch = await client.query('FETCH 1000 FROM cdp_export');
      const cols = batch.fields.map((f) => f.name);
      res.writeHead(200, { 'Content-Type': 'text/csv; charset=utf-8', 'Cache-Control': 'no-store',
                           'Content-Disposition': 'attachment; filename="audience.csv"' });
      res.write(cols.join(',') + '\r\n');
      for (;;) {
        let chunk = '';
        for (const row of batch.rows) chunk += cols.map((c) => csvField(row[c])).join(',') + '\r\n';
        if (chunk && !res.write(chunk)) await new Promise((r) => res.once('drain', r));
        if (batch.rows.length < 1000) break;
        batch = await client.query('FETCH 1000 FROM cdp_export');
      }
      await client.query('CLOSE cdp_export');
    });
    res.end();
  }

  function nextLink(route, url, query, rows, args) {
    const sizeArg = args.find((a) => a.arg === route.page.size);
    const size = sizeArg ? Number(sizeArg.value) : route.page.default;
    if (rows.length === 0 || rows.length < size) return null;
    const last = rows[rows.length - 1];
    const q = new URLSearchParams(query);
    for (const [param, column] of Object.entries(route.page.cursor)) q.set(param, String(last[column]));
    return `${url.pathname}?${q.toString()}`;
  }

  async function api(req, res, url) {
    const { route, pathParams } = match(routes, req.method === 'HEAD' ? 'GET' : req.method, url.pathname);
    const claims = authenticate(req);
    let body = {};
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' || req.method === 'DELETE') {
      body = parseJsonBody(await readBody(req, cfg.maxBody), req);
    }
    const { args, query } = collectArgs(route, pathParams, url, body);
    if (route.result === 'csv') { await streamCsv(route, args, claims, req, res); return; }
    const { text, values } = callSql(route, args);
    const rows = await transaction(claims, req, req.method === 'GET', async (client) => (await client.query(text, values)).rows);
    const status = route.status || 200;
    switch (route.result) {
      case 'scalar': send(res, status, { [route.as]: rows[0].v }); break;
      case 'json': send(res, status, rows[0].v); break;
      case 'row': send(res, status, rows[0] || null); break;
      case 'rows': send(res, status, rows); break;
      case 'page': send(res, status, { items: rows, next: nextLink(route, url, query, rows, args) }); break;
      default: throw new Error(`route ${route.path} has an unknown result ${route.result}`);
    }
  }

  async function handle(req, res) {
    const started = process.hrtime.bigint();
    let url;
    try {
      url = new URL(req.url, 'http://localhost');
      const p = url.pathname;
      if ((req.method === 'GET' || req.method === 'HEAD') && !p.startsWith('/v1/')) {
        if (p === '/' || p === '/dashboard') { res.writeHead(302, { Location: '/dashboard/' }); res.end(); return; }
        if (staticFiles[p]) { serveStatic(req, res, staticFiles[p]); return; }
        if (p === '/openapi.json') { send(res, 200, spec); return; }
        if (p === '/favicon.ico') { res.writeHead(204); res.end(); return; }
        if (p === '/health') {
          await pool.query('SELECT 1');
          send(res, 200, { status: 'ok' });
          return;
        }
      }
      if (!p.startsWith('/v1/')) throw new ApiError(404, 'not_found', `no endpoint ${req.method} ${p.slice(0, 200)}`, { hint: 'GET /openapi.json lists the endpoints.' });
      await api(req, res, url);
    } catch (err) {
      sendError(res, err);
    } finally {
      if (cfg.log) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        cfg.log(`${req.method} ${url ? url.pathname : req.url} ${res.statusCode} ${ms.toFixed(1)} ms`);
      }
    }
  }

  const server = http.createServer((req, res) => { handle(req, res); });
  server.headersTimeout = 10000;
  server.requestTimeout = 60000;
  return { server, pool, close: async () => { await new Promise((r) => server.close(r)); await pool.end(); } };
}

module.exports = { createService, convert, statusFor: require('./errors').statusFor };
