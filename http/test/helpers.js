'use strict';
// helpers.js — what the API and browser tests share: the service started
// in-process on a port of 8410-8419, requests over real HTTP on 127.0.0.1,
// tokens, and a superuser connection for the SQL the answers are checked
// against.  The database comes from PGHOST/PGPORT/PGDATABASE (a demo ERP
// after test/demo's steps, see test/http/run.sh); the service connects as
// CDP_TEST_AUTHENTICATOR (default http_authenticator), the checks as
// CDP_TEST_SUPERUSER (default postgres).

const http = require('node:http');
const { Client } = require('pg');
const { createService } = require('../src/server');
const jwt = require('../src/jwt');

const SECRET = 'test-secret-of-the-cdp-http-tests-0123456789';

async function start(port, extra = {}) {
  const svc = createService({
    secret: SECRET, poolSize: 4, timeZone: 'Europe/Berlin',
    pg: { user: process.env.CDP_TEST_AUTHENTICATOR || 'http_authenticator' }, ...extra,
  });
  await new Promise((resolve, reject) => { svc.server.once('error', reject); svc.server.listen(port, '127.0.0.1', resolve); });
  return svc;
}

function token(role, more = {}) {
  return jwt.sign({ role, exp: Math.floor(Date.now() / 1000) + 3600, ...more }, SECRET);
}

// request: {status, headers, text, json} of one HTTP request.
function request(port, method, path, { token: tok, body, headers = {}, raw } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let data = null;
    if (raw !== undefined) data = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    else if (body !== undefined) { data = Buffer.from(JSON.stringify(body)); h['Content-Type'] = h['Content-Type'] || 'application/json'; }
    if (data) h['Content-Length'] = data.length;
    if (tok) h.Authorization = `Bearer ${tok}`;
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch (e) { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve({ status: 0, error: e.code }) : reject(e)));
    if (data) req.write(data);
    req.end();
  });
}

async function sql() {
  const c = new Client({ user: process.env.CDP_TEST_SUPERUSER || 'postgres' });
  await c.connect();
  await c.query("SET TimeZone = 'Europe/Berlin'");
  return c;
}

module.exports = { start, token, request, sql, SECRET };
