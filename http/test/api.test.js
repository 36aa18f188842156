'use strict';
// api.test.js — every endpoint over real HTTP on 127.0.0.1 against the demo
// ERP: what each role may do (PostgreSQL's grants decide), the answers
// against SQL, and every way a caller can get it wrong: no or bad tokens,
// refused roles, bad JSON, missing and unknown fields, huge bodies,
// unknown routes, and SQL injection in every parameter of every route.

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, token, request, sql } = require('./helpers');
const routes = require('../src/routes');

const PORT = Number(process.env.CDP_HTTP_TEST_PORT || 8412);
let svc;
let db;
const T = {};
let erika;

test.before(async () => {
  svc = await start(PORT, { roles: ['cdp_writer', 'cdp_analyst', 'cdp_admin', 'cdp_customer', 'cdp_campaign', 'cdp_segment_reader'] });
  db = await sql();
  for (const r of ['cdp_writer', 'cdp_analyst', 'cdp_admin', 'cdp_campaign']) T[r] = token(r);
  T.customer = token('cdp_customer', { sub: '1' });
  erika = (await db.query("SELECT cdp.resolve('erp_customer', '1') AS p")).rows[0].p;
  assert.ok(erika, 'the demo ERP is loaded (Erika resolves)');
  await db.query('CREATE TABLE IF NOT EXISTS public.http_test_canary (x int)');
});

test.after(async () => {
  await db.query('DROP TABLE IF EXISTS public.http_test_canary');
  await db.end();
  await svc.close();
});

const get = (path, tok) => request(PORT, 'GET', path, { token: tok });
const post = (path, tok, body, method = 'POST') => request(PORT, method, path, { token: tok, body });

function isError(res, status, code) {
  assert.equal(res.status, status, `${status} expected, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.match(res.headers['content-type'], /application\/json/);
  assert.equal(res.json.status, status);
  for (const k of ['code', 'sqlstate', 'message', 'detail', 'hint']) assert.ok(k in res.json, `error has ${k}`);
  if (code) assert.equal(res.json.sqlstate || res.json.code, code);
}

test('the OpenAPI description is served and lists every route', async () => {
  const r = await get('/openapi.json');
  assert.equal(r.status, 200);
  assert.equal(r.json.openapi, '3.0.3');
  for (const rt of routes) {
    const p = rt.path.replace(/:([a-z_]+)/g, '{$1}');
    assert.ok(r.json.paths[p] && r.json.paths[p][rt.method.toLowerCase()], `${rt.method} ${p} described`);
  }
  assert.equal((await get('/health')).json.status, 'ok');
});

test('tokens: missing, malformed, forged, expired, alg none are 401; refused roles 403', async () => {
  const r0 = await get('/v1/segments');
  isError(r0, 401);
  assert.equal(r0.headers['www-authenticate'], 'Bearer');
  isError(await request(PORT, 'GET', '/v1/segments', { headers: { Authorization: 'Basic abc' } }), 401);
  isError(await get('/v1/segments', 'not.a.token'), 401);
  const good = T.cdp_analyst;
  const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  isError(await get('/v1/segments', forged), 401);
  isError(await get('/v1/segments', token('cdp_analyst', { exp: Math.floor(Date.now() / 1000) - 3600 })), 401);
  const none = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url') + '.'
    + Buffer.from('{"role":"cdp_admin"}').toString('base64url') + '.';
  isError(await get('/v1/segments', none), 401);
  isError(await get('/v1/segments', token('')), 401);
  // not in the service's list
  isError(await get('/v1/segments', token('postgres')), 403, '42501');
  // in the list, but the authenticator is not granted it: PostgreSQL refuses the switch
  isError(await get('/v1/segments', token('cdp_segment_reader')), 403, '42501');
  // a role that does not exist
  isError(await get('/v1/segments', token('no_such_role_x')), 403);
});

test('unknown routes are 404, wrong methods 405, both JSON', async () => {
  isError(await get('/v1/nothing', T.cdp_admin), 404);
  isError(await get('/nothing/at/all'), 404);
  isError(await get('/v1/profiles/1/nothing', T.cdp_admin), 404);
  const r = await request(PORT, 'PATCH', '/v1/identify', { token: T.cdp_writer, body: {} });
  isError(r, 405);
  assert.equal(r.headers.allow, 'POST');
  isError(await get('/v1/identifiers/%E0%A4%A/x', T.cdp_writer), 400);
});

test('identify and link: profiles as SQL sees them', async () => {
  const a = await post('/v1/identify', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-test-1', source: 'web' });
  assert.equal(a.status, 200, a.text);
  const b = await post('/v1/identify', T.cdp_writer, { id_type: 'cookie', value: ' CK-HTTP-TEST-1 ' });
  assert.equal(b.json.profile_id, a.json.profile_id);
  const l = await post('/v1/link', T.cdp_writer, { type_a: 'cookie', value_a: 'ck-http-test-1', type_b: 'email', value_b: 'Http.Test@Beispiel.de', source: 'newsletter' });
  assert.equal(l.status, 200, l.text);
  const r = await get('/v1/identifiers/email/http.test%40beispiel.de', T.cdp_writer);
  assert.equal(r.json.profile_id, (await db.query("SELECT cdp.resolve('email', 'http.test@beispiel.de') AS p")).rows[0].p);
  isError(await get('/v1/identifiers/email/nobody%40beispiel.de', T.cdp_writer), 404, 'P0002');
  // the caller's mistakes
  isError(await post('/v1/identify', T.cdp_writer, { id_type: 'cookie' }), 400, '22004');
  isError(await post('/v1/identify', T.cdp_writer, { id_type: 'email', value: 'test@test.com' }), 400, '22023');
  isError(await post('/v1/identify', T.cdp_writer, { id_type: 'shoe_size', value: '42' }), 400, '22023');
  isError(await post('/v1/identify', T.cdp_writer, { id_type: 'cookie', value: 'x', colour: 'red' }), 400);
  isError(await post('/v1/identify', T.cdp_writer, { id_type: 'cookie', value: 'x', observed_at: 'yesterday' }), 400);
  isError(await post('/v1/identify', T.cdp_writer, { id_type: ['cookie'], value: 'x' }), 400);
  isError(await post('/v1/link', T.cdp_writer, { type_a: 'cookie', value_a: 'ck-http-test-1', type_b: 'cookie', value_b: 'ck-http-test-1' }), 400);
  // an analyst cannot write identifiers
  isError(await post('/v1/identify', T.cdp_analyst, { id_type: 'cookie', value: 'ck-http-test-2' }), 403, '42501');
});

test('bodies: bad JSON, non-objects, wrong content type, huge bodies', async () => {
  const send = (raw, headers) => request(PORT, 'POST', '/v1/events', { token: T.cdp_writer, raw, headers: { 'Content-Type': 'application/json', ...headers } });
  isError(await send('{"id_type": "cookie", '), 400, '22P02');
  isError(await send('[1, 2]'), 400, '22P02');
  isError(await send('"just a string"'), 400, '22P02');
  isError(await send('{"id_type":"cookie"}', { 'Content-Type': 'text/plain' }), 415);
  const huge = JSON.stringify({ id_type: 'cookie', value: 'x'.repeat(200 * 1024), event_type: 'page_view' });
  const r = await send(huge);
  assert.ok(r.status === 413 || r.status === 0, `huge body refused (${r.status})`);
  if (r.status) isError(r, 413);
  // a body just under the limit that is too long for a field is the database's 4xx
  isError(await post('/v1/events', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-test-1', event_type: 'article_view', article_id: 'A'.repeat(5000) }), 400, '22001');
});

test('sightings: the app posts beacon sightings, stored only with in-store consent, read by the visits', async () => {
  const at = (s) => `2026-11-20T10:${s}+01:00`;
  const r = await post('/v1/sightings', T.cdp_writer, { id_type: 'device', value: 'dev-erika-phone', store: 'M01', beacon: 'M01-RUN', seen_at: at('00:00'), rssi: -64, foreground: true, source: 'app 4.2' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.recorded, true);
  assert.equal(r.json.profile_id, erika);
  assert.ok(r.json.sighting_id > 0);
  const row = (await db.query('SELECT id_type, value, store, beacon, zone, rssi, foreground, source FROM cdp.tracked_sightings WHERE sighting_id = $1', [r.json.sighting_id])).rows[0];
  assert.deepEqual(row, { id_type: 'device', value: 'dev-erika-phone', store: 'M01', beacon: 'M01-RUN', zone: null, rssi: -64, foreground: true, source: 'app 4.2' });
  // a zone instead of a beacon; 90 s later: with the first one a visit of the built-in source
  const r2 = await post('/v1/sightings', T.cdp_writer, { id_type: 'device', value: 'dev-erika-phone', store: 'M01', zone: 'running', seen_at: at('01:30') });
  assert.equal(r2.status, 201, r2.text);
  assert.equal(r2.json.recorded, true);
  const v = (await db.query(`SELECT sightings, foreground_seconds, zone_seconds FROM cdp._visit_candidates()
                              WHERE value = 'dev-erika-phone' AND started_at = $1`, [at('00:00')])).rows;
  assert.deepEqual(v, [{ sightings: 2, foreground_seconds: 90, zone_seconds: { running: 90 } }]);
  // an identifier without in-store consent: nothing stored, no profile made
  const n = await post('/v1/sightings', T.cdp_writer, { id_type: 'device', value: 'dev-http-no-consent', store: 'M01', beacon: 'M01-RUN' });
  assert.equal(n.status, 201, n.text);
  assert.deepEqual(n.json, { sighting_id: null, profile_id: null, recorded: false });
  const none = (await db.query("SELECT count(*)::int AS n FROM cdp.tracked_sightings WHERE value = 'dev-http-no-consent'")).rows[0].n;
  assert.equal(none, 0);
  assert.equal((await db.query("SELECT cdp.resolve('device', 'dev-http-no-consent') AS p")).rows[0].p, null);
});

test('sightings: bad input is a 400 naming the value, other roles a 403', async () => {
  const s = (b, tok = T.cdp_writer) => post('/v1/sightings', tok, { id_type: 'device', value: 'dev-erika-phone', store: 'M01', beacon: 'M01-RUN', ...b });
  isError(await s({ store: undefined }), 400);                       // a required parameter missing (the service)
  isError(await s({ store: ' ' }), 400, '22004');
  isError(await s({ beacon: null, zone: null }), 400, '22004');
  isError(await s({ rssi: 20 }), 400, '22023');
  isError(await s({ rssi: 'loud' }), 400);
  isError(await s({ seen_at: '2099-01-01T00:00:00Z' }), 400, '22023');
  isError(await s({ seen_at: 'now-ish' }), 400);
  isError(await s({ id_type: 'shoe_size' }), 400, '22023');
  isError(await s({ beacon: 'B'.repeat(200) }), 400, '22001');
  isError(await s({ floor: 2 }), 400);                                // an unknown parameter
  isError(await s({}, T.cdp_analyst), 403, '42501');
  isError(await s({}, T.cdp_campaign), 403, '42501');
  isError(await s({}, T.customer), 403, '42501');
  const stored = (await db.query("SELECT count(*)::int AS n FROM cdp.tracked_sightings WHERE store = 'M01' AND beacon LIKE 'BBB%'")).rows[0].n;
  assert.equal(stored, 0);
});

test('track: events land in cdp.tracked_events and reach the article_events readers', async () => {
  const r = await post('/v1/events', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-cart', event_type: 'cart_add', article_id: 'GC-ACC-01', channel: 'web', properties: { page: '/cart' } });
  assert.equal(r.status, 201, r.text);
  assert.ok(r.json.event_id > 0 && r.json.profile_id > 0);
  const row = (await db.query('SELECT id_type, value, event_type, article_id, channel, properties FROM cdp.tracked_events WHERE event_id = $1', [r.json.event_id])).rows[0];
  assert.deepEqual(row, { id_type: 'cookie', value: 'ck-http-cart', event_type: 'cart_add', article_id: 'GC-ACC-01', channel: 'web', properties: { page: '/cart' } });
  // cdp.source_sql('article_events') includes it: affinity and the abandoned_cart trigger read it
  const src = (await db.query("SELECT sql FROM cdp.source_sql('article_events') sql")).rows[0].sql;
  const seen = (await db.query(`SELECT count(*)::int AS n FROM (${src}) s WHERE s.id_value = 'ck-http-cart' AND s.event_type = 'cart_add' AND s.source_id = 0`)).rows[0].n;
  assert.equal(seen, 1);
  await db.query(`SELECT cdp.create_trigger_audience('HTTP carts', 'abandoned_cart', '{"wait": "0 seconds", "lookback": "1 hour"}')`);
  await db.query("SELECT * FROM cdp.refresh_segments('HTTP carts')");
  const member = (await db.query("SELECT count(*)::int AS n FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) WHERE s.name = 'HTTP carts' AND m.profile_id = $1", [r.json.profile_id])).rows[0].n;
  assert.equal(member, 1, 'the tracked cart_add makes an abandoned-cart audience member');
  await db.query("SELECT cdp.drop_segment('HTTP carts')");
  // mistakes
  const ev = (b) => post('/v1/events', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-cart', ...b });
  isError(await ev({ event_type: 'teleport' }), 400, '22023');
  isError(await ev({ event_type: 'cart_add' }), 400, '22004');
  isError(await ev({ event_type: 'page_view', occurred_at: '2999-01-01T00:00:00Z' }), 400, '22023');
  isError(await ev({ event_type: 'page_view', properties: [1, 2] }), 400, '22023');
  isError(await ev({ event_type: 'page_view', properties: { blob: 'x'.repeat(5000) } }), 422, '54000');
  isError(await ev({ event_type: 'page_view', channel: 'Web!' }), 400, '22023');
  isError(await post('/v1/events', T.cdp_writer, { value: 'x', event_type: 'page_view' }), 400, '22004');
  isError(await ev({ event_type: 'page_view', occurred_at: '2026-13-45T00:00:00Z' }), 400);
  isError(await post('/v1/events', T.cdp_analyst, { id_type: 'cookie', value: 'x', event_type: 'page_view' }), 403, '42501');
});

test('consent: record and confirm, mistakes are 4xx', async () => {
  const g = await post('/v1/consents', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'email_marketing', granted: true, source: 'web_form', proof: { form: 'nl' } });
  assert.equal(g.status, 200, g.text);
  const c = await post('/v1/consents/confirm', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'email_marketing' });
  assert.equal(c.status, 200, c.text);
  const p = (await db.query("SELECT cdp.has_consent(cdp.resolve('email', 'http.test@beispiel.de'), 'email_marketing') AS ok")).rows[0].ok;
  assert.equal(p, true);
  isError(await post('/v1/consents/confirm', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'sms' }), 404, 'P0002');
  isError(await post('/v1/consents', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'telepathy', granted: true }), 400, '22023');
  isError(await post('/v1/consents', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'sms', granted: 'yes' }), 400);
  isError(await post('/v1/consents', T.cdp_writer, { id_type: 'email', value: 'http.test@beispiel.de', purpose: 'sms' }), 400, '22004');
});

test('the 360 view: staff see it pseudonymised; an analyst never sees a raw e-mail; a writer not at all', async () => {
  const r = await get(`/v1/profiles/${erika}`, T.cdp_analyst);
  assert.equal(r.status, 200, r.text);
  const v = (await db.query('SELECT rfm_segment, orders, revenue::float8 AS revenue FROM cdp.profile_360 WHERE profile_id = $1', [erika])).rows[0];
  assert.equal(r.json.profile_id, erika);
  assert.equal(r.json.rfm_segment, v.rfm_segment);
  assert.equal(r.json.orders, v.orders);
  assert.ok(r.json.identifiers.length >= 5);
  assert.ok(!r.text.includes('erika.mustermann@web.de'), 'no raw e-mail for analysts');
  assert.ok(!/"value":"[^"]*@/.test(r.text), 'no e-mail address at all');
  assert.ok(r.json.identifiers.some((i) => i.id_type === 'email' && /^[0-9a-f]{64}$/.test(i.pseudonym)));
  assert.ok(r.json.identifiers.every((i) => /^[0-9a-f]{64}$/.test(i.pseudonym)), 'every type as a pseudonym');
  isError(await get(`/v1/profiles/${erika}`, T.cdp_writer), 403, '42501');
  isError(await get(`/v1/profiles/${erika}`, T.cdp_campaign), 403, '42501');
  isError(await get('/v1/profiles/999999999', T.cdp_analyst), 404, 'P0002');
  isError(await get('/v1/profiles/abc', T.cdp_analyst), 400);
  isError(await get('/v1/profiles/99999999999999999999', T.cdp_analyst), 400);
});

test('recommendations in stock at a store', async () => {
  const r = await get('/v1/recommendations?id_type=erp_customer&value=1&store=M01&k=3', T.cdp_writer);
  assert.equal(r.status, 200, r.text);
  const s = (await db.query("SELECT article_id FROM cdp.recommend(cdp.resolve('erp_customer', '1'), 3, 'M01')")).rows.map((x) => x.article_id);
  assert.deepEqual(r.json.map((x) => x.article_id), s);
  assert.ok(s.length > 0);
  const p = await get(`/v1/profiles/${erika}/recommendations?store=M01&k=3`, T.cdp_analyst);
  assert.deepEqual(p.json.map((x) => x.article_id), s);
  isError(await get('/v1/recommendations?id_type=erp_customer&value=1&k=1000', T.cdp_writer), 400, '22023');
  isError(await get('/v1/recommendations?id_type=erp_customer&value=1&k=-1', T.cdp_writer), 400, '22023');
  isError(await get('/v1/recommendations?id_type=erp_customer&value=999999', T.cdp_writer), 404, 'P0002');
  isError(await get('/v1/recommendations?id_type=erp_customer', T.cdp_writer), 400, '22004');
  isError(await get('/v1/recommendations?id_type=erp_customer&value=1&k=1&k=2', T.cdp_writer), 400);
  isError(await get('/v1/recommendations?id_type=erp_customer&value=1&colour=red', T.cdp_writer), 400);
  isError(await get('/v1/recommendations?id_type=erp_customer&value=1', T.customer), 403, '42501');
});

test('the customer: own data and consents only', async () => {
  const me = await get('/v1/me', T.customer);
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.profile_id, erika);
  assert.ok(me.json.identifiers.some((i) => i.id_type === 'email' && i.value === 'erika.mustermann@web.de'), 'the right of access shows her own raw data');
  assert.ok(Array.isArray(me.json.consent_history) && me.json.consent_history.length > 0);
  const c = await get('/v1/me/consents', T.customer);
  assert.equal(c.json.length, (await db.query('SELECT count(*)::int AS n FROM cdp.purposes')).rows[0].n);
  const before = c.json.find((x) => x.purpose === 'push').granted;
  const put = await post('/v1/me/consents/push', T.customer, { granted: !before }, 'PUT');
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.granted, !before);
  const ledger = (await db.query(`SELECT l.source, l.event FROM cdp.consent_ledger l JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
                                   WHERE i.profile_id = $1 AND l.purpose = 'push' ORDER BY l.event_id DESC LIMIT 1`, [erika])).rows[0];
  assert.deepEqual(ledger, { source: 'app', event: before ? 'revoke' : 'grant' });
  await post('/v1/me/consents/push', T.customer, { granted: before }, 'PUT');
  // nobody else's profile, nothing else
  const other = (await db.query("SELECT cdp.resolve('erp_customer', '2') AS p")).rows[0].p;
  isError(await get(`/v1/profiles/${other}`, T.customer), 403, '42501');
  isError(await get('/v1/me?profile_id=' + other, T.customer), 400);
  isError(await get('/v1/segments', T.customer), 403, '42501');
  isError(await post('/v1/events', T.customer, { id_type: 'erp_customer', value: '2', event_type: 'page_view' }), 403, '42501');
  isError(await post('/v1/me/consents/telepathy', T.customer, { granted: true }, 'PUT'), 400, '22023');
  isError(await post('/v1/me/consents/push', T.customer, {}, 'PUT'), 400, '22004');
  // tokens that name nobody, or nobody cdp knows
  isError(await get('/v1/me', token('cdp_customer')), 401, '28000');
  isError(await get('/v1/me', token('cdp_customer', { sub: '1', id_type: 'cookie' })), 401, '28000');
  isError(await get('/v1/me', token('cdp_customer', { sub: '987654' })), 404, 'P0002');
  // staff tokens have no "me"
  isError(await get('/v1/me', T.cdp_writer), 403, '42501');
});

test('rewards: the app sees its open rewards, the till redeems a code once', async () => {
  const mine = await get('/v1/me/rewards', T.customer);
  assert.equal(mine.status, 200, mine.text);
  const want = (await db.query('SELECT code FROM cdp.open_rewards($1)', [erika])).rows.map((r) => r.code);
  assert.deepEqual(mine.json.map((r) => r.code), want, 'the same open rewards as cdp.open_rewards');
  // a code of Erika's (the demo's in-store chapter grants her the dwell discount and the prize)
  const all = (await db.query(`SELECT l.code, l.valid_until >= now() AS valid, l.discount_percent::float8 AS discount
                                 FROM cdp.reward_ledger l JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
                                WHERE i.profile_id = $1 AND NOT EXISTS (SELECT 1 FROM cdp.reward_redemptions x WHERE x.code = l.code)
                                ORDER BY l.valid_until DESC, l.code LIMIT 1`, [erika])).rows;
  assert.equal(all.length, 1, 'the demo granted Erika a reward it did not redeem yet');
  const { code, valid } = all[0];
  isError(await post(`/v1/rewards/${code}/redeem`, T.customer, { order_id: 'R-HTTP-1' }), 403, '42501');
  isError(await post(`/v1/rewards/${code}/redeem`, T.cdp_analyst, { order_id: 'R-HTTP-1' }), 403, '42501');
  isError(await post(`/v1/rewards/${code}/redeem`, T.cdp_writer, {}), 400, '22004');
  isError(await post('/v1/rewards/GS-0000-0000/redeem', T.cdp_writer, { order_id: 'R-HTTP-1' }), 404, 'P0002');
  isError(await post(`/v1/rewards/${encodeURIComponent("GS-1' OR '1'='1")}/redeem`, T.cdp_writer, { order_id: 'x' }), 404, 'P0002');
  const first = await post(`/v1/rewards/${code}/redeem`, T.cdp_writer, { order_id: 'R-HTTP-1' });
  if (valid) {
    assert.equal(first.status, 200, first.text);
    assert.equal(Number(first.json.discount_percent), all[0].discount === null ? 0 : all[0].discount);
    isError(await post(`/v1/rewards/${code}/redeem`, T.cdp_writer, { order_id: 'R-HTTP-2' }), 409, '23505');
    const after = await get('/v1/me/rewards', T.customer);
    assert.ok(!after.json.some((r) => r.code === code), 'a redeemed code is no longer open');
  } else {
    isError(first, 409, '55000');
  }
});

async function allPages(path, tok) {
  const items = [];
  let next = path;
  let pages = 0;
  while (next) {
    const r = await get(next, tok);
    assert.equal(r.status, 200, r.text);
    items.push(...r.json.items);
    next = r.json.next;
    pages += 1;
    assert.ok(pages < 1000);
  }
  return { items, pages };
}

test('audiences: paged JSON and CSV, consent-filtered, for the campaign role only', async () => {
  const segs = await get('/v1/segments', T.cdp_campaign);
  assert.equal(segs.status, 200);
  const atRisk = segs.json.find((s) => s.name === 'At Risk');
  assert.ok(atRisk && atRisk.members > 0);
  const want = (await db.query("SELECT profile_id, value FROM cdp.audience('At Risk', 'email_marketing') ORDER BY 1, 2")).rows;
  assert.ok(want.length > 20, 'the demo has an e-mail audience');
  const { items, pages } = await allPages('/v1/segments/At%20Risk/audience?purpose=email_marketing&limit=20', T.cdp_campaign);
  assert.ok(pages >= 2);
  assert.deepEqual(items.flatMap((i) => i.values.map((v) => [i.profile_id, v])), want.map((w) => [w.profile_id, w.value]));
  // everyone in it has consent now
  const ids = items.map((i) => i.profile_id);
  const ok = (await db.query("SELECT bool_and(cdp.has_consent(p, 'email_marketing')) AS ok FROM unnest($1::bigint[]) p", [ids])).rows[0].ok;
  assert.equal(ok, true);
  const csv = await get('/v1/segments/At%20Risk/audience.csv?purpose=email_marketing', T.cdp_campaign);
  assert.equal(csv.status, 200);
  assert.match(csv.headers['content-type'], /text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines[0], 'profile_id,id_type,value');
  assert.equal(lines.length - 1, want.length);
  assert.equal(lines[1], `${want[0].profile_id},email,${want[0].value}`);
  // analysts and writers get no raw e-mail addresses
  isError(await get('/v1/segments/At%20Risk/audience?purpose=email_marketing', T.cdp_analyst), 403, '42501');
  isError(await get('/v1/segments/At%20Risk/audience.csv?purpose=email_marketing', T.cdp_writer), 403, '42501');
  isError(await get('/v1/segments/Nobody/audience?purpose=email_marketing', T.cdp_campaign), 404, '42704');
  isError(await get('/v1/segments/At%20Risk/audience?purpose=telepathy', T.cdp_campaign), 400, '22023');
  isError(await get('/v1/segments/At%20Risk/audience?purpose=sms&limit=0', T.cdp_campaign), 400, '22023');
  isError(await get('/v1/segments/At%20Risk/audience.csv?purpose=telepathy', T.cdp_campaign), 400, '22023');
});

test('segment entries since a point, paged', async () => {
  const want = (await db.query("SELECT profile_id FROM cdp.segment_entries('Lapsing', '1970-01-01') ORDER BY entered_at, profile_id")).rows.map((r) => r.profile_id);
  assert.ok(want.length > 10);
  const { items, pages } = await allPages('/v1/segments/Lapsing/entries?since=1970-01-01T00:00:00Z&limit=7', T.cdp_campaign);
  assert.ok(pages >= 2);
  assert.deepEqual(items.map((i) => i.profile_id), want);
  const last = items[items.length - 1].entered_at;
  const none = await get(`/v1/segments/Lapsing/entries?since=${encodeURIComponent(last)}`, T.cdp_analyst);
  assert.deepEqual(none.json, { items: [], next: null });
  isError(await get('/v1/segments/Lapsing/entries', T.cdp_campaign), 400, '22004');
  isError(await get('/v1/segments/Lapsing/entries?since=soon', T.cdp_campaign), 400);
  isError(await get('/v1/segments/Lapsing/entries?since=2026-01-01', T.cdp_writer), 403, '42501');
});

test('erasure: a writer cannot erase, an admin can', async () => {
  await post('/v1/identify', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-erase-me' });
  await post('/v1/events', T.cdp_writer, { id_type: 'cookie', value: 'ck-http-erase-me', event_type: 'page_view' });
  isError(await request(PORT, 'DELETE', '/v1/identifiers/cookie/ck-http-erase-me?reason=ticket%201', { token: T.cdp_writer }), 403, '42501');
  isError(await request(PORT, 'DELETE', '/v1/identifiers/cookie/ck-http-erase-me?reason=ticket%201', { token: T.cdp_analyst }), 403, '42501');
  isError(await request(PORT, 'DELETE', '/v1/identifiers/cookie/ck-http-erase-me', { token: T.cdp_admin }), 400, '22004');
  const r = await request(PORT, 'DELETE', '/v1/identifiers/cookie/ck-http-erase-me?reason=ticket%201', { token: T.cdp_admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.find((t) => t.table_name === 'cdp.tracked_events').rows_removed, 1);
  isError(await get('/v1/identifiers/cookie/ck-http-erase-me', T.cdp_writer), 404);
  isError(await request(PORT, 'DELETE', '/v1/identifiers/cookie/ck-http-erase-me?reason=again', { token: T.cdp_admin }), 404, 'P0002');
});

test('the dashboard data: analysts only; bad periods and segments are 4xx', async () => {
  const r = await get('/v1/dashboard?from=2026-08-22&to=2026-11-20', T.cdp_analyst);
  assert.equal(r.status, 200, r.text);
  for (const k of ['channels', 'segments', 'rfm', 'clv', 'store_hours', 'identity', 'identity_summary', 'consent', 'attribution', 'cross_sell']) assert.ok(k in r.json, k);
  assert.ok(!/@/.test(r.text), 'no e-mail address in the dashboard data');
  const rev = (await db.query("SELECT sum(total)::float8 AS s FROM erp.orders WHERE (customer_no IS NOT NULL OR loyalty_card IS NOT NULL) AND ordered_at >= '2026-08-22'::date AND ordered_at < '2026-11-21'::date")).rows[0].s;
  const got = r.json.channels.filter((c) => c.channel !== 'email').reduce((a, c) => a + c.revenue, 0);
  assert.ok(Math.abs(got - rev) < 0.01, `revenue ${got} = ${rev}`);
  isError(await get('/v1/dashboard', T.cdp_writer), 403, '42501');
  isError(await get('/v1/dashboard?from=2026-11-20&to=2026-01-01', T.cdp_analyst), 400, '22023');
  isError(await get('/v1/dashboard?from=2026-02-30', T.cdp_analyst), 400);
  isError(await get('/v1/dashboard?from=last%20week', T.cdp_analyst), 400);
  isError(await get('/v1/dashboard?segment=Nobody', T.cdp_analyst), 404, '42704');
});

// SQL injection: every parameter of every route gets each payload in turn
// (the others valid); nothing may answer 5xx, hang or change the schema.
const PAYLOADS = [
  "'; DROP TABLE public.http_test_canary; --",
  "1 OR 1=1",
  "x' OR '1'='1",
  '"); SELECT pg_sleep(10); --',
  "$$; DROP TABLE public.http_test_canary; $$",
  "1; DELETE FROM cdp.profiles",
  "\\'; TRUNCATE cdp.identifiers; --",
  "admin'--",
  "%27%3B%20DROP%20TABLE%20public.http_test_canary%3B--",
];
const VALID = {
  id_type: 'cookie', value: 'ck-http-inject', type_a: 'cookie', value_a: 'ck-http-inject', type_b: 'cookie', value_b: 'ck-http-inject-2',
  source: 'web', observed_at: '2026-11-20T10:00:00Z', reason: 'ticket 9', purpose: 'sms', granted: true, recorded_at: '2026-11-20T10:00:00Z',
  proof: { form: 'x' }, confirmed_at: '2026-11-20T10:00:00Z', event_type: 'page_view', article_id: 'GC-ACC-01', occurred_at: '2026-11-20T10:00:00Z',
  channel: 'web', location: 'M01', properties: { a: 1 }, profile_id: '1', store: 'M01', k: '3', segment: 'At Risk', after: '1', limit: '5',
  since: '2026-01-01T00:00:00Z', from: '2026-08-22', to: '2026-11-20',
};
const ROLE_FOR = (rt) => (rt.roles.includes('cdp_admin') && rt.method === 'DELETE' ? 'cdp_admin'
  : rt.roles[0] === 'cdp_customer' ? 'customer' : rt.roles[0]);

test('SQL injection in every parameter of every route', async () => {
  const before = (await db.query("SELECT count(*)::int AS n FROM cdp.profiles")).rows[0].n;
  let calls = 0;
  for (const rt of routes) {
    for (const target of Object.keys(rt.params)) {
      for (const payload of PAYLOADS) {
        let p = rt.path;
        const query = new URLSearchParams();
        const body = {};
        for (const [name, spec] of Object.entries(rt.params)) {
          const v = name === target ? payload : VALID[name];
          if (v === undefined) continue;
          if (spec.in === 'path') p = p.replace(`:${name}`, encodeURIComponent(String(v)));
          else if (spec.in === 'query') query.set(name, typeof v === 'object' ? JSON.stringify(v) : String(v));
          else body[name] = spec.type === 'integer' || spec.type === 'bigint' ? (name === target ? v : Number(v)) : v;
        }
        const qs = query.toString();
        const started = Date.now();
        const r = await request(PORT, rt.method, p + (qs ? '?' + qs : ''), {
          token: T[ROLE_FOR(rt)], body: Object.keys(body).length ? body : undefined,
        });
        calls += 1;
        assert.ok(r.status >= 200 && r.status < 500, `${rt.method} ${rt.path} ${target}=${payload}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.ok(Date.now() - started < 5000, `${rt.method} ${rt.path} ${target}: no pg_sleep ran`);
      }
    }
  }
  assert.ok(calls > 300, `${calls} injection calls`);
  assert.ok((await db.query("SELECT to_regclass('public.http_test_canary') IS NOT NULL AS ok")).rows[0].ok, 'canary table still there');
  const after = (await db.query('SELECT count(*)::int AS n FROM cdp.profiles')).rows[0].n;
  assert.ok(after >= before, 'no profiles deleted');
  assert.ok((await db.query('SELECT count(*)::int AS n FROM cdp.identifiers')).rows[0].n > 0, 'identifiers not truncated');
});
