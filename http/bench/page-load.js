'use strict';
// page-load.js — for test/bench/http.sh: loads the dashboard in headless
// Chromium N times and prints the median time from navigation until every
// chart is drawn (body[data-state=ready]), and the API call's share.
//   node bench/page-load.js URL TOKEN [runs]
const puppeteer = require('puppeteer-core');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');

(async () => {
  const [url, tok, runs = '3'] = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-bench-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', `--user-data-dir=${dir}`],
  });
  const times = [];
  const api = [];
  for (let i = 0; i < Number(runs); i++) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    const t0 = Date.now();
    await page.goto(`${url}#token=${tok}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120000 });
    times.push(Date.now() - t0);
    api.push(await page.evaluate(() => window.cdpDashboard.loadMs));
    await page.close();
  }
  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  process.stdout.write(`page ${med(times)} ms (median of ${times.join(', ')}), of which GET /v1/dashboard ${Math.round(med(api))} ms\n`);
})().catch((e) => { process.stderr.write(String(e.stack || e) + '\n'); process.exit(1); });
