'use strict';
// app.js — the multichannel dashboard: reads GET /v1/dashboard as the
// analyst whose token it holds (from #token=... or pasted; kept in this
// tab's sessionStorage only) and draws it with ECharts (served by the
// same service from its npm install).  Every number it shows comes from
// that one response; window.cdpDashboard exposes the response and the
// charts for the browser test.

(function () {
  const CHANNELS = ['web', 'app', 'store', 'email'];
  const COLORS = { web: '#1769aa', app: '#7b4fb8', store: '#2e8b57', email: '#d9822b' };
  const LABELS = { web: 'Web shop', app: 'App', store: 'Store', email: 'E-mail' };
  const fmtEur = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 });
  const fmtInt = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 });
  const fmtPct = new Intl.NumberFormat('en-GB', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

  const state = { data: null, charts: {} };
  window.cdpDashboard = state;

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const sum = (rows, f) => rows.reduce((a, r) => a + (Number(f(r)) || 0), 0);

  function token() {
    const m = /(?:^|[#&])token=([A-Za-z0-9_.-]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem('cdp-token', m[1]);
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem('cdp-token');
  }

  function status(text, isError) {
    const s = $('#status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  async function load() {
    const t = token();
    if (!t) { $('#token-box').hidden = false; status('No token yet.', true); return; }
    const params = new URLSearchParams(location.search);
    for (const k of [...params.keys()]) if (!['from', 'to', 'store', 'segment'].includes(k) || !params.get(k)) params.delete(k);
    status('Loading…');
    const started = performance.now();
    let res;
    try {
      res = await fetch('/v1/dashboard?' + params.toString(), { headers: { Authorization: 'Bearer ' + t } });
    } catch (e) {
      status('The service cannot be reached: ' + e.message, true);
      return;
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      if (res.status === 401) { sessionStorage.removeItem('cdp-token'); $('#token-box').hidden = false; }
      status(`${res.status}: ${body && body.message ? body.message : res.statusText}${body && body.hint ? ' — ' + body.hint : ''}`, true);
      document.body.dataset.state = 'error';
      return;
    }
    state.data = body;
    render(body);
    state.loadMs = performance.now() - started;
    const p = body.period;
    status(`${p.from} – ${p.to} (${p.bucket}s, ${p.time_zone})`
      + (body.filters.store ? ` · store ${body.filters.store}` : '')
      + (body.filters.segment ? ` · segment “${body.filters.segment}”` : '')
      + ` · loaded in ${Math.round(state.loadMs)} ms`);
    document.body.dataset.state = 'ready';
  }

  function fillFilters(d) {
    $('#f-from').value = d.period.from;
    $('#f-to').value = d.period.to;
    const fill = (sel, values, current, none) => {
      const s = $(sel);
      s.textContent = '';
      s.appendChild(el('option', { value: '' }, none));
      for (const v of values) s.appendChild(el('option', { value: v }, v));
      s.value = current || '';
    };
    fill('#f-store', d.filters.stores, d.filters.store, 'all stores');
    fill('#f-segment', d.filters.segments, d.filters.segment, 'all customers');
  }

  function kpis(d) {
    const sales = d.channels.filter((r) => r.channel !== 'email');
    const online = d.channels.filter((r) => r.channel === 'web' || r.channel === 'app');
    const revenue = sum(sales, (r) => r.revenue);
    const orders = sum(sales, (r) => r.conversions);
    const visits = sum(online, (r) => r.visits);
    const converting = sum(online, (r) => r.converting_visits);
    const email = d.consent.find((c) => c.purpose === 'email_marketing');
    const idsum = d.identity_summary || {};
    const tiles = [
      ['revenue', 'Revenue', revenue, fmtEur.format(revenue), 'orders with a known buyer'],
      ['orders', 'Orders', orders, fmtInt.format(orders), orders ? 'avg basket ' + fmtEur.format(revenue / orders) : ''],
      ['visits', 'Web + app visits', visits, fmtInt.format(visits), 'visitor-days'],
      ['conversion', 'Online conversion', visits ? converting / visits : null, visits ? fmtPct.format(converting / visits) : '—', 'visits with an order that day'],
      ['known', 'Known profiles', idsum.known_profiles, fmtInt.format(idsum.known_profiles || 0), `of ${fmtInt.format(idsum.profiles || 0)} profiles`],
      ['email_consent', 'E-mail consent', email ? email.share : null, email && email.share !== null ? fmtPct.format(email.share) : '—', 'of known profiles'],
    ];
    const box = $('#kpis');
    box.textContent = '';
    for (const [key, label, raw, text, sub] of tiles) {
      const k = el('div', { class: 'kpi', 'data-kpi': key, 'data-value': raw === null || raw === undefined ? '' : String(raw) });
      k.appendChild(el('div', { class: 'label' }, label));
      k.appendChild(el('div', { class: 'value' }, text));
      k.appendChild(el('div', { class: 'sub' }, sub));
      box.appendChild(k);
    }
  }

  function table(sel, head, rows) {
    const t = $(sel);
    t.textContent = '';
    const tr = el('tr');
    for (const h of head) tr.appendChild(el('th', {}, h));
    t.appendChild(tr);
    for (const r of rows) {
      const row = el('tr');
      for (const [text, raw] of r) row.appendChild(el('td', raw === undefined ? {} : { 'data-value': raw === null ? '' : String(raw) }, text));
      t.appendChild(row);
    }
    t.dataset.rows = String(rows.length);
  }

  function chart(name, option, rows) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    let c = state.charts[name];
    if (!c) { c = echarts.init(box, null, { renderer: 'svg' }); state.charts[name] = c; }
    c.clear();
    c.setOption({ animation: false, textStyle: { fontFamily: 'DejaVu Sans, sans-serif' }, ...option });
    box.dataset.rows = String(rows);
    box.dataset.empty = rows > 0 ? 'false' : 'true';
  }

  function channelCharts(d) {
    const buckets = [...new Set(d.channels.map((r) => r.bucket_start))].sort();
    const byKey = new Map(d.channels.map((r) => [r.bucket_start + '|' + r.channel, r]));
    const series = (ch, f) => buckets.map((b) => { const r = byKey.get(b + '|' + ch); return r ? f(r) : null; });
    const legend = { top: 0, data: CHANNELS.map((c) => LABELS[c]) };
    const xAxis = { type: 'category', data: buckets };
    chart('channel_revenue', {
      legend, tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '—' : fmtEur.format(v)) },
      grid: { left: 70, right: 20, top: 36, bottom: 30 }, xAxis,
      yAxis: { type: 'value', axisLabel: { formatter: (v) => fmtEur.format(v) } },
      series: CHANNELS.map((c) => ({
        name: LABELS[c], type: c === 'email' ? 'line' : 'bar', stack: c === 'email' ? undefined : 'rev',
        itemStyle: { color: COLORS[c] }, lineStyle: c === 'email' ? { type: 'dashed' } : undefined,
        data: series(c, (r) => r.revenue),
      })),
    }, d.channels.length);
    chart('channel_visits', {
      legend: { top: 0, data: [...CHANNELS.filter((c) => c !== 'store').map((c) => LABELS[c] + ' visits'),
                               ...CHANNELS.filter((c) => c !== 'store').map((c) => LABELS[c] + ' conversion')] },
      tooltip: { trigger: 'axis' }, grid: { left: 60, right: 60, top: 56, bottom: 30 }, xAxis,
      yAxis: [{ type: 'value', name: 'visits' }, { type: 'value', name: 'conversion', axisLabel: { formatter: (v) => fmtPct.format(v) } }],
      series: [
        ...CHANNELS.filter((c) => c !== 'store').map((c) => ({ name: LABELS[c] + ' visits', type: 'bar', itemStyle: { color: COLORS[c] },
          data: series(c, (r) => r.visits) })),
        ...CHANNELS.filter((c) => c !== 'store').map((c) => ({ name: LABELS[c] + ' conversion', type: 'line', yAxisIndex: 1,
          itemStyle: { color: COLORS[c] }, connectNulls: true, data: series(c, (r) => r.conversion_rate) })),
      ],
    }, d.channels.filter((r) => r.visits !== null).length);
    table('#channel-table', ['channel', 'visits', 'orders', 'revenue', 'conversion'], CHANNELS.map((c) => {
      const rows = d.channels.filter((r) => r.channel === c);
      // the store's visitors come from the door counter: unknown (not 0) without counter data
      const visits = c === 'store' && rows.every((r) => r.visits === null) ? null : sum(rows, (r) => r.visits);
      const conv = sum(rows, (r) => r.conversions);
      const converting = sum(rows, (r) => r.converting_visits);
      const rev = sum(rows, (r) => r.revenue);
      return [[LABELS[c], c], [visits === null ? '—' : fmtInt.format(visits), visits], [fmtInt.format(conv), conv],
              [fmtEur.format(rev), rev],
              c === 'store' ? [visits ? fmtPct.format(conv / visits) : '—', visits ? conv / visits : null]
                            : [visits ? fmtPct.format(converting / visits) : '—', visits ? converting / visits : null]];
    }));
  }

  function segmentChart(d) {
    const s = d.segments;
    const names = s.map((r) => r.segment);
    chart('segments', {
      legend: { top: 0 }, tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      grid: { left: 150, right: 20, top: 30, bottom: 24 },
      yAxis: { type: 'category', data: names, inverse: true },
      xAxis: { type: 'value' },
      series: [
        { name: 'members', type: 'bar', data: s.map((r) => r.members), itemStyle: { color: '#1769aa' }, label: { show: true, position: 'right' } },
        { name: 'entries', type: 'bar', data: s.map((r) => r.entries), itemStyle: { color: '#2e8b57' } },
        { name: 'exits', type: 'bar', data: s.map((r) => r.exits), itemStyle: { color: '#b42318' } },
      ],
    }, s.length);
    table('#segment-table', ['segment', 'members', 'entries', 'exits', 'revenue', 'CLV'], s.map((r) => [
      [r.segment, r.segment], [fmtInt.format(r.members), r.members], [fmtInt.format(r.entries), r.entries],
      [fmtInt.format(r.exits), r.exits], [fmtEur.format(r.revenue), r.revenue], [r.clv === null ? '—' : fmtEur.format(r.clv), r.clv]]));
  }

  function rfmChart(d) {
    const data = d.rfm.map((r) => [r.r_score - 1, r.f_score - 1, r.customers, r.main_segment]);
    const max = Math.max(1, ...d.rfm.map((r) => r.customers));
    chart('rfm', {
      tooltip: { formatter: (p) => `R ${p.data[0] + 1}, F ${p.data[1] + 1}: ${fmtInt.format(p.data[2])} customers (${p.data[3]})` },
      grid: { left: 60, right: 20, top: 10, bottom: 70 },
      xAxis: { type: 'category', name: 'recency score', nameLocation: 'middle', nameGap: 26, data: ['1', '2', '3', '4', '5'] },
      yAxis: { type: 'category', name: 'frequency', data: ['1', '2', '3', '4', '5'] },
      visualMap: { dimension: 2, min: 0, max, calculable: false, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120,
                   inRange: { color: ['#eef4fb', '#1769aa'] } },
      series: [{ type: 'heatmap', data, label: { show: true, formatter: (p) => fmtInt.format(p.data[2]) } }],
    }, d.rfm.length);
  }

  function clvChart(d) {
    chart('clv', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } }, legend: { top: 0 },
      grid: { left: 130, right: 70, top: 30, bottom: 24 },
      yAxis: { type: 'category', data: d.clv.map((r) => r.rfm_segment), inverse: true },
      xAxis: { type: 'value', axisLabel: { formatter: (v) => fmtEur.format(v) } },
      series: [{ name: 'CLV, next 52 weeks', type: 'bar', itemStyle: { color: '#2e8b57' }, data: d.clv.map((r) => r.clv),
                 label: { show: true, position: 'right', formatter: (p) => fmtEur.format(p.value) } }],
    }, d.clv.length);
  }

  function storeChart(d) {
    // every hour from the first to the last with receipts, so gaps show as gaps
    const seen = d.store_hours.map((r) => r.hour);
    const hours = [];
    for (let h = Math.min(...seen, 24); h <= Math.max(...seen, -1); h++) hours.push(h);
    const data = d.store_hours.map((r) => [hours.indexOf(r.hour), r.weekday - 1, r.revenue, r.receipts, r.visitors]);
    const max = Math.max(1, ...d.store_hours.map((r) => r.revenue));
    chart('store_hours', {
      tooltip: { formatter: (p) => `${WEEKDAYS[p.data[1]]} ${hours[p.data[0]]}:00: ${fmtEur.format(p.data[2])} from ${p.data[3]} receipts` +
                                  (p.data[4] === null ? '' : `, ${fmtInt.format(p.data[4])} visitors`) },
      grid: { left: 50, right: 20, top: 10, bottom: 70 },
      xAxis: { type: 'category', name: 'hour of day', nameLocation: 'middle', nameGap: 26, data: hours.map((h) => String(h)) },
      yAxis: { type: 'category', data: WEEKDAYS, inverse: true },
      visualMap: { dimension: 2, min: 0, max, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 160, text: ['revenue', ''],
                   inRange: { color: ['#f0f7f2', '#2e8b57'] }, formatter: (v) => fmtEur.format(v) },
      series: [{ type: 'heatmap', data, label: { show: true, fontSize: 10, formatter: (p) => String(p.data[3]) } }],
    }, d.store_hours.length);

    // traffic against revenue by hour of day: counted visitors (bars) and revenue (line), summed over the weekdays
    const byHour = hours.map((h) => d.store_hours.filter((r) => r.hour === h));
    const counted = byHour.map((rs) => (rs.some((r) => r.visitors !== null) ? sum(rs, (r) => r.visitors || 0) : null));
    chart('store_traffic', {
      legend: { top: 0 }, tooltip: { trigger: 'axis' }, grid: { left: 60, right: 70, top: 36, bottom: 40 },
      xAxis: { type: 'category', name: 'hour of day', nameLocation: 'middle', nameGap: 26, data: hours.map((h) => String(h)) },
      yAxis: [{ type: 'value', name: 'visitors' }, { type: 'value', name: 'revenue', axisLabel: { formatter: (v) => fmtEur.format(v) } }],
      series: [
        { name: 'visitors (door counter)', type: 'bar', itemStyle: { color: '#8fa9c4' }, data: counted },
        { name: 'revenue', type: 'line', yAxisIndex: 1, itemStyle: { color: '#2e8b57' }, data: byHour.map((rs) => sum(rs, (r) => r.revenue)),
          tooltip: { valueFormatter: (v) => fmtEur.format(v) } },
      ],
    }, d.store_hours.filter((r) => r.visitors !== null).length);
  }

  function identityChart(d) {
    const s = d.identity_summary || {};
    const box = $('#identity-summary');
    box.textContent = '';
    const items = [['profiles', s.profiles], ['known', s.known_profiles], ['anonymous', s.anonymous_profiles],
                   ['identifiers per known profile', s.identifiers_per_known_profile],
                   ['known in 2+ channels', s.cross_channel_profiles], ['merges', s.merges], ['blocked merges', s.blocked_merges]];
    for (const [label, v] of items) {
      const span = el('span', { 'data-measure': label, 'data-value': v === null || v === undefined ? '' : String(v) });
      span.appendChild(document.createTextNode(label + ' '));
      span.appendChild(el('b', {}, v === null || v === undefined ? '—' : (Number.isInteger(v) ? fmtInt.format(v) : v.toFixed(2))));
      box.appendChild(span);
    }
    const rows = d.identity.filter((r) => r.identifiers > 0);
    chart('identity', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } }, legend: { top: 0 },
      grid: { left: 100, right: 50, top: 30, bottom: 24 },
      yAxis: { type: 'category', data: rows.map((r) => r.id_type), inverse: true },
      xAxis: { type: 'value' },
      series: [
        { name: 'identifiers', type: 'bar', data: rows.map((r) => r.identifiers), itemStyle: { color: '#1769aa' }, label: { show: true, position: 'right' } },
        { name: 'in known profiles', type: 'bar', data: rows.map((r) => r.known_profiles), itemStyle: { color: '#9cc3e6' } },
      ],
    }, rows.length);
  }

  function consentChart(d) {
    chart('consent', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => (v === null ? '—' : fmtPct.format(v)) },
      legend: { top: 0 }, grid: { left: 130, right: 50, top: 30, bottom: 24 },
      yAxis: { type: 'category', data: d.consent.map((r) => r.purpose), inverse: true },
      xAxis: { type: 'value', max: 1, axisLabel: { formatter: (v) => fmtPct.format(v) } },
      series: [
        { name: 'known profiles', type: 'bar', data: d.consent.map((r) => r.share), itemStyle: { color: '#d9822b' },
          label: { show: true, position: 'right', formatter: (p) => fmtPct.format(p.value) } },
        { name: 'customers', type: 'scatter', data: d.consent.map((r) => r.customer_share), itemStyle: { color: '#1f2933' } },
      ],
    }, d.consent.filter((r) => r.known_profiles > 0).length);
  }

  const MODEL_LABELS = { first: 'first touch', last: 'last touch', last_non_direct: 'last non-direct', linear: 'linear',
                         position: 'position (40/20/40)', time_decay: 'time decay', markov: 'Markov', shapley: 'Shapley' };
  function attributionChart(d) {
    const rows = d.attribution || [];
    const models = [...new Set(rows.map((r) => r.model))];
    // conversions without any tracked touch (a shop purchase nobody saw online) last, in grey
    const channels = [...new Set(rows.map((r) => r.channel))].sort((a, b) => (a === '(none)') - (b === '(none)') || a.localeCompare(b));
    const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79', '#637939'];
    const share = new Map(rows.map((r) => [r.model + '|' + r.channel, r.share]));
    chart('attribution', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => (v === null ? '—' : fmtPct.format(v)) },
      legend: { top: 0 }, grid: { left: 140, right: 30, top: 30, bottom: 24 },
      yAxis: { type: 'category', data: models.map((m) => MODEL_LABELS[m] || m), inverse: true },
      xAxis: { type: 'value', max: 1, axisLabel: { formatter: (v) => fmtPct.format(v) } },
      series: channels.map((c, i) => ({
        name: c === '(none)' ? 'no tracked touch' : c, id: c, type: 'bar', stack: 'share', data: models.map((m) => share.get(m + '|' + c) ?? 0),
        itemStyle: { color: c === '(none)' ? '#c8ccd0' : palette[i % palette.length] },
        label: { show: true, formatter: (p) => (p.value >= 0.06 ? fmtPct.format(p.value) : '') },
      })),
    }, rows.length);
  }

  // cross-sell per channel: the share of baskets in which a stored rule came
  // true (bars) and the pair that came true most often (the label)
  function crossSellChart(d) {
    const rows = (d.cross_sell || []).filter((r) => r.baskets > 0);
    chart('cross_sell', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' },
                 formatter: (ps) => {
                   const r = rows[ps[0].dataIndex];
                   return `${LABELS[r.channel] || r.channel}<br>${fmtInt.format(r.cross_sold_baskets)} of ${fmtInt.format(r.baskets)} baskets cross-sold (${fmtPct.format(r.cross_sold_share)})`
                     + `<br>${fmtInt.format(r.multi_article_baskets)} baskets of two or more articles, ${r.articles_per_basket.toFixed(2)} articles per basket`
                     + (r.cross_sold_revenue === null ? '' : `<br>revenue of cross-sold baskets ${fmtEur.format(r.cross_sold_revenue)}`)
                     + (r.top_pair ? `<br>most often: ${r.top_pair} (${fmtInt.format(r.top_pair_baskets)})` : '');
                 } },
      grid: { left: 90, right: 260, top: 10, bottom: 24 },
      yAxis: { type: 'category', data: rows.map((r) => LABELS[r.channel] || r.channel), inverse: true },
      xAxis: { type: 'value', axisLabel: { formatter: (v) => fmtPct.format(v) } },
      series: [{
        name: 'cross-sold baskets', type: 'bar', data: rows.map((r) => r.cross_sold_share),
        itemStyle: { color: (p) => COLORS[rows[p.dataIndex].channel] || '#637939' },
        label: { show: true, position: 'right',
                 formatter: (p) => { const r = rows[p.dataIndex]; return fmtPct.format(p.value) + (r.top_pair ? ' · ' + r.top_pair : ''); } },
      }],
    }, rows.length);
  }

  function render(d) {
    fillFilters(d);
    kpis(d);
    channelCharts(d);
    segmentChart(d);
    rfmChart(d);
    clvChart(d);
    storeChart(d);
    identityChart(d);
    consentChart(d);
    attributionChart(d);
    crossSellChart(d);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#filters').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const k of ['from', 'to', 'store', 'segment']) { const v = e.target.elements[k].value; if (v) q.set(k, v); }
      history.pushState(null, '', location.pathname + '?' + q.toString());
      load();
    });
    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem('cdp-token', $('#token-input').value.trim());
      $('#token-box').hidden = true;
      load();
    });
    window.addEventListener('popstate', load);
    window.addEventListener('resize', () => { for (const c of Object.values(state.charts)) c.resize(); });
    load();
  });
})();
