'use strict';
// browser.test.js — headless Chromium (Debian's /usr/bin/chromium through
// puppeteer-core) loads the dashboard on the demo ERP: every chart must
// have rendered shapes from non-empty data, the numbers on the page must
// equal the SQL behind them, and the page must ask nothing of any host but
// this one.  Screenshots go to CDP_HTTP_SCREENSHOTS (default
// test/output/http under the repository) and are kept.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const { start, token, sql } = require('./helpers');

const PORT = Number(process.env.CDP_HTTP_BROWSER_PORT || 8413);
const OUT = process.env.CDP_HTTP_SCREENSHOTS || path.join(__dirname, '..', '..', 'test', 'output', 'http');
const FROM = '2026-08-22';
const TO = '2026-11-20';
const CHARTS = ['channel_revenue', 'channel_visits', 'segments', 'rfm', 'clv', 'store_hours', 'identity', 'consent', 'attribution', 'store_traffic', 'cross_sell'];
let svc;
let db;
let browser;
let profileDir;
const foreign = [];

test.before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  svc = await start(PORT);
  db = await sql();
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-chromium-'));
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           `--user-data-dir=${profileDir}`],
  });
});

test.after(async () => {
  if (browser) await browser.close();
  if (db) await db.end();
  if (svc) await svc.close();
  fs.rmSync(profileDir, { recursive: true, force: true });
});

async function open(query) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['data:', 'blob:', 'about:'].includes(u.protocol) && !(u.hostname === '127.0.0.1' || u.hostname === 'localhost')) foreign.push(r.url());
  });
  await page.goto(`http://127.0.0.1:${PORT}/dashboard/?${query}#token=${token('cdp_analyst')}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('body[data-state]', { timeout: 30000 });
  return { page, errors };
}

// chartState: per chart, its data rows, whether it says it is empty, and the SVG shapes ECharts drew.
function chartState(page) {
  return page.evaluate((names) => names.map((n) => {
    const box = document.querySelector(`[data-chart="${n}"]`);
    return { name: n, rows: Number(box.dataset.rows || 0), empty: box.dataset.empty === 'true',
             shapes: box.querySelectorAll('svg path, svg rect').length };
  }), CHARTS);
}

function checkCharts(states) {
  const problems = [];
  for (const s of states) {
    if (s.empty || s.rows === 0) problems.push(`${s.name}: no data`);
    else if (s.shapes < 5) problems.push(`${s.name}: nothing drawn (${s.shapes} shapes)`);
  }
  return problems;
}

const close = (a, b, what) => assert.ok(Math.abs(Number(a) - Number(b)) <= 1e-6 * Math.max(1, Math.abs(Number(b))), `${what}: page ${a}, SQL ${b}`);

test('the dashboard renders every chart and its numbers equal the SQL', async () => {
  const { page, errors } = await open(`from=${FROM}&to=${TO}`);
  assert.equal(await page.$eval('body', (b) => b.dataset.state), 'ready', await page.$eval('#status', (e) => e.textContent));
  assert.deepEqual(errors, []);
  await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
  const problems = checkCharts(await chartState(page));
  assert.deepEqual(problems, []);

  // KPI tiles against plain SQL over the ERP (the orders source: orders with a known buyer)
  const kpi = Object.fromEntries(await page.$$eval('[data-kpi]', (els) => els.map((e) => [e.dataset.kpi, { raw: e.dataset.value, text: e.querySelector('.value').textContent }])));
  const erp = (await db.query(`SELECT sum(total)::float8 AS revenue, count(*)::int AS orders FROM erp.orders
                                WHERE (customer_no IS NOT NULL OR loyalty_card IS NOT NULL)
                                  AND ordered_at >= $1::date AND ordered_at < $2::date + 1`, [FROM, TO])).rows[0];
  close(kpi.revenue.raw, erp.revenue, 'revenue');
  assert.equal(kpi.revenue.text, new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 }).format(erp.revenue));
  assert.equal(Number(kpi.orders.raw), erp.orders);
  assert.equal(kpi.orders.text, new Intl.NumberFormat('en-GB').format(erp.orders));

  // the channel table against the SQL function behind it
  const ch = (await db.query(`SELECT channel, sum(visits)::float8 AS visits, sum(conversions)::float8 AS conversions, sum(revenue)::float8 AS revenue,
                                     CASE WHEN channel = 'store' THEN sum(conversions) ELSE sum(converting_visits) END::float8 / NULLIF(sum(visits), 0) AS rate
                                FROM cdp.dashboard_channels($1, $2) GROUP BY channel`, [FROM, TO])).rows;
  const cells = await page.$$eval('#channel-table tr', (trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.dataset.value)));
  for (const [channel, visits, conv, rev, rate] of cells) {
    const s = ch.find((r) => r.channel === channel) || { visits: channel === 'store' ? null : 0, conversions: 0, revenue: 0, rate: null };
    if (s.visits === null) assert.equal(visits, '', `${channel} visits unknown`); else close(visits, s.visits, `${channel} visits`);
    close(conv, s.conversions, `${channel} orders`);
    close(rev, s.revenue, `${channel} revenue`);
    if (s.rate === null) assert.equal(rate, '', `${channel} has no conversion rate`);
    else {
      close(rate, s.rate, `${channel} conversion rate`);
      assert.ok(Number(rate) >= 0 && Number(rate) <= 1, `${channel} conversion rate ${rate} is a share of visits`);
    }
    if (channel === 'store') assert.ok(Number(visits) > 0, 'the door counter gives the store its visitors');
  }
  // channel orders per channel against the ERP itself
  const byChannel = (await db.query(`SELECT channel, count(*)::int AS n FROM erp.orders WHERE (customer_no IS NOT NULL OR loyalty_card IS NOT NULL)
                                       AND ordered_at >= $1::date AND ordered_at < $2::date + 1 GROUP BY channel`, [FROM, TO])).rows;
  for (const r of byChannel) assert.equal(Number(cells.find((c) => c[0] === r.channel)[2]), r.n, `${r.channel} orders in the ERP`);

  // the charts' data against the SQL functions
  const opt = await page.evaluate(() => {
    const c = window.cdpDashboard.charts;
    const o = (n) => c[n].getOption();
    return {
      rfm: o('rfm').series[0].data, clv: o('clv').series[0].data, clvCat: o('clv').yAxis[0].data,
      seg: o('segments').series[0].data, segCat: o('segments').yAxis[0].data,
      store: o('store_hours').series[0].data, consent: o('consent').series[0].data,
      idCat: o('identity').yAxis[0].data, ids: o('identity').series[0].data,
      traffic: o('store_traffic').series[0].data,
      attr: o('attribution').series.map((x) => ({ channel: x.id, data: x.data })), attrCat: o('attribution').yAxis[0].data,
      xsell: o('cross_sell').series[0].data, xsellCat: o('cross_sell').yAxis[0].data,
    };
  });
  const rfm = (await db.query('SELECT r_score, f_score, customers::int FROM cdp.dashboard_rfm()')).rows;
  assert.equal(opt.rfm.length, rfm.length);
  for (const r of rfm) assert.ok(opt.rfm.some((d) => d[0] === r.r_score - 1 && d[1] === r.f_score - 1 && d[2] === r.customers), `RFM ${r.r_score}/${r.f_score}`);
  const clv = (await db.query('SELECT rfm_segment, clv FROM cdp.dashboard_clv()')).rows;
  assert.deepEqual(opt.clvCat, clv.map((r) => r.rfm_segment));
  clv.forEach((r, i) => close(opt.clv[i], r.clv, `CLV ${r.rfm_segment}`));
  const seg = (await db.query('SELECT segment, members::int FROM cdp.dashboard_segments($1, $2)', [FROM, TO])).rows;
  assert.deepEqual(opt.segCat, seg.map((r) => r.segment));
  assert.deepEqual(opt.seg, seg.map((r) => r.members));
  const sh = (await db.query('SELECT sum(receipts)::int AS n, sum(revenue)::float8 AS rev FROM cdp.dashboard_store_hours($1, $2)', [FROM, TO])).rows[0];
  assert.equal(opt.store.reduce((a, d) => a + d[3], 0), sh.n);
  close(opt.store.reduce((a, d) => a + d[2], 0), sh.rev, 'store revenue');
  const visitors = (await db.query('SELECT sum(visitors)::int AS n FROM cdp.dashboard_store_hours($1, $2)', [FROM, TO])).rows[0].n;
  assert.ok(visitors > 0, 'the demo door counter counted visitors in the period');
  assert.equal(opt.traffic.reduce((a, v) => a + (v || 0), 0), visitors, 'store traffic: the bars sum to the counted visitors');
  const consent = (await db.query('SELECT share FROM cdp.dashboard_consent()')).rows;
  consent.forEach((r, i) => close(opt.consent[i], r.share, `consent ${i}`));
  const ids = (await db.query('SELECT id_type, identifiers::int FROM cdp.dashboard_identity() WHERE identifiers > 0')).rows;
  assert.deepEqual(opt.idCat, ids.map((r) => r.id_type));
  assert.deepEqual(opt.ids, ids.map((r) => r.identifiers));
  const attr = (await db.query('SELECT model, channel, share FROM cdp.dashboard_attribution($1, $2)', [FROM, TO])).rows;
  const models = [...new Set(attr.map((r) => r.model))];
  assert.ok(models.length >= 6, `the attribution chart has a bar per model (${models.join(', ')})`);
  assert.equal(opt.attrCat.length, models.length);
  for (const r of attr) {
    const serie = opt.attr.find((x) => x.channel === r.channel);
    assert.ok(serie, `attribution: a series for ${r.channel}`);
    close(serie.data[models.indexOf(r.model)], r.share, `attribution ${r.model}/${r.channel}`);
  }
  for (const m of models) close(opt.attr.reduce((a, x) => a + x.data[models.indexOf(m)], 0), 1, `attribution shares of ${m} sum to 1`);
  // cross-sell per channel: one bar per channel with baskets, its share as the SQL says
  const xs = (await db.query('SELECT channel, baskets::int, cross_sold_baskets::int, cross_sold_share FROM cdp.dashboard_cross_sell($1, $2) WHERE baskets > 0', [FROM, TO])).rows;
  assert.ok(xs.length >= 3, `cross-sell has a row per channel (${xs.map((r) => r.channel).join(', ')})`);
  assert.ok(xs.some((r) => r.cross_sold_baskets > 0), 'the demo\'s baskets realise cross-sell rules');
  assert.equal(opt.xsell.length, xs.length);
  xs.forEach((r, i) => close(opt.xsell[i], r.cross_sold_share, `cross-sell share of ${r.channel}`));
  // the basket count of the store row against the ERP: store orders with lines in the period
  const erpBaskets = (await db.query(`SELECT count(DISTINCT o.order_no)::int AS n FROM erp.orders o JOIN erp.order_lines l USING (order_no)
                                       WHERE o.channel = 'store' AND (o.customer_no IS NOT NULL OR o.loyalty_card IS NOT NULL)
                                         AND o.ordered_at >= $1::date AND o.ordered_at < $2::date + 1`, [FROM, TO])).rows[0].n;
  assert.equal(xs.find((r) => r.channel === 'store').baskets, erpBaskets, 'store baskets in the ERP');
  const known = (await db.query('SELECT count(*)::int AS n FROM cdp.profiles WHERE known')).rows[0].n;
  assert.equal(Number(kpi.known.raw), known);

  // one screenshot per chart, for people to look at
  for (const n of CHARTS) {
    const card = await page.$(`[data-chart="${n}"]`);
    const box = await card.evaluateHandle((e) => e.closest('.card'));
    await box.asElement().screenshot({ path: path.join(OUT, `chart-${n}.png`) });
  }
  await page.close();
});

test('filters: a store narrows the in-store figures, a segment everything, as the SQL says', async () => {
  // the store alone: the store row is that shop's receipts in the ERP, the online rows stay whole
  let { page, errors } = await open(`from=${FROM}&to=${TO}&store=M01`);
  assert.deepEqual(errors, []);
  assert.equal(await page.$eval('#f-store', (s) => s.value), 'M01');
  const stores = await page.$$eval('#f-store option', (os) => os.map((o) => o.value));
  assert.deepEqual(stores, ['', 'B01', 'H01', 'M01'], 'only shops are offered (no web warehouse)');
  const rows = Object.fromEntries(await page.$$eval('#channel-table tr', (trs) => trs.slice(1).map((tr) => {
    const v = [...tr.querySelectorAll('td')].map((td) => td.dataset.value);
    return [v[0], { orders: Number(v[2]), revenue: Number(v[3]) }];
  })));
  const erp = (await db.query(`SELECT channel, count(*)::int AS n, sum(total)::float8 AS revenue FROM erp.orders
                                WHERE (customer_no IS NOT NULL OR loyalty_card IS NOT NULL) AND (channel <> 'store' OR store_id = 'M01')
                                  AND ordered_at >= $1::date AND ordered_at < $2::date + 1 GROUP BY channel`, [FROM, TO])).rows;
  for (const r of erp) {
    assert.equal(rows[r.channel].orders, r.n, `${r.channel} orders with store M01`);
    close(rows[r.channel].revenue, r.revenue, `${r.channel} revenue with store M01`);
  }
  const hours = await page.evaluate(() => window.cdpDashboard.charts.store_hours.getOption().series[0].data.reduce((a, d) => a + d[3], 0));
  assert.equal(hours, erp.find((r) => r.channel === 'store').n, 'the hour map holds the shop\'s receipts');
  await page.screenshot({ path: path.join(OUT, 'dashboard-M01.png'), fullPage: true });
  await page.close();

  // store and segment: the KPI equals the SQL function with both filters, and is less than without the segment
  ({ page, errors } = await open(`from=${FROM}&to=${TO}&store=M01&segment=${encodeURIComponent('Known in-store visitors')}`));
  assert.deepEqual(errors, []);
  const kpi = await page.$eval('[data-kpi="revenue"]', (e) => Number(e.dataset.value));
  const want = (await db.query(`SELECT COALESCE(sum(revenue), 0)::float8 AS s FROM cdp.dashboard_channels($1, $2, 'M01', 'Known in-store visitors') WHERE channel <> 'email'`, [FROM, TO])).rows[0].s;
  close(kpi, want, 'filtered revenue');
  const whole = erp.reduce((a, r) => a + r.revenue, 0);
  assert.ok(kpi > 0 && kpi < whole, 'the segment narrows the revenue');
  await page.screenshot({ path: path.join(OUT, 'dashboard-M01-known-in-store-visitors.png'), fullPage: true });
  await page.close();
});

test('an empty selection is reported as empty, and the check above would fail on it', async () => {
  // a day without any order or event: every period chart says so
  const { page } = await open('from=2023-06-01&to=2023-06-02');
  const states = await chartState(page);
  const problems = checkCharts(states);
  for (const n of ['channel_revenue', 'channel_visits', 'store_hours']) {
    assert.ok(problems.some((p) => p.startsWith(n + ':')), `${n} is flagged empty`);
    assert.equal(states.find((s) => s.name === n).empty, true);
  }
  await page.screenshot({ path: path.join(OUT, 'dashboard-empty-period.png'), fullPage: true });
  await page.close();
});

test('no request left this machine', () => {
  assert.deepEqual(foreign, []);
  process.stdout.write(`# screenshots: ${OUT}\n`);
});
