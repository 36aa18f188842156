#!/usr/bin/env node
'use strict';
// cdp-http — starts the HTTP service.  Configuration from the environment:
//   CDP_HTTP_JWT_SECRET   HS256 secret, at least 32 bytes (required)
//   CDP_HTTP_PORT         port (default 8410), CDP_HTTP_HOST (default 127.0.0.1)
//   PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD   the authenticator's connection
//   CDP_HTTP_POOL         connections (default 10)
//   CDP_HTTP_ROLES        roles a token may name (default cdp_writer,cdp_analyst,cdp_admin,cdp_customer,cdp_campaign)
//   CDP_HTTP_MAX_BODY     largest request body in bytes (default 65536)
//   CDP_HTTP_TIMEZONE     time zone of days and hours (default UTC)
//   CDP_HTTP_STATEMENT_TIMEOUT  per request (default 30s)
//   CDP_HTTP_LOG=1        one line per request on stderr
// `cdp-http token ROLE [SUB]` prints a token signed with the secret (for tests and the demo).

const { createService } = require('../src/server');
const jwt = require('../src/jwt');

const env = process.env;
const secret = env.CDP_HTTP_JWT_SECRET;
if (!secret || Buffer.byteLength(secret) < 32) {
  process.stderr.write('cdp-http: set CDP_HTTP_JWT_SECRET to a secret of at least 32 bytes\n');
  process.exit(2);
}
if (process.argv[2] === 'token') {
  const claims = { role: process.argv[3] || 'cdp_analyst' };
  if (process.argv[4]) claims.sub = process.argv[4];
  if (process.argv[5]) claims.id_type = process.argv[5];
  claims.exp = Math.floor(Date.now() / 1000) + Number(env.CDP_HTTP_TOKEN_TTL || 86400);
  process.stdout.write(jwt.sign(claims, secret) + '\n');
  process.exit(0);
}
const svc = createService({
  secret,
  poolSize: Number(env.CDP_HTTP_POOL || 10),
  roles: env.CDP_HTTP_ROLES ? env.CDP_HTTP_ROLES.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  maxBody: Number(env.CDP_HTTP_MAX_BODY || 65536),
  timeZone: env.CDP_HTTP_TIMEZONE || 'UTC',
  statementTimeout: env.CDP_HTTP_STATEMENT_TIMEOUT || '30s',
  log: env.CDP_HTTP_LOG === '1' ? (line) => process.stderr.write(line + '\n') : null,
});
const port = Number(env.CDP_HTTP_PORT || 8410);
const host = env.CDP_HTTP_HOST || '127.0.0.1';
svc.server.listen(port, host, () => {
  process.stdout.write(`cdp-http listening on http://${host}:${port}/\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { svc.close().then(() => process.exit(0), () => process.exit(1)); });
}
