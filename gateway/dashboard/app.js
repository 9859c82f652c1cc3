// smsgate's live dashboard: reads GET /api/live every 2 s with the admin
// token and draws it as SVG. No library, no build step.
'use strict';

(function () {
  const POLL_MS = 2000;
  const TOKEN_KEY = 'smsgate.admin.token';
  const SVG = 'http://www.w3.org/2000/svg';

  // What each refusal reason means to a reader, and its colour.
  const REASONS = [
    ['deferred', 'deferred (quiet hours)', '#2f7dd1'],
    ['opted_out', 'opted out', '#d1495b'],
    ['frequency_cap', 'frequency cap', '#edae49'],
    ['quiet_hours', 'quiet hours (refused)', '#7b5ea7'],
    ['throttled', 'over the account\u2019s rate', '#8d99ae'],
    ['invalid_number', 'not a phone number', '#6c757d'],
    ['no_route', 'no carrier bound', '#3d405b'],
    ['carrier_error', 'carrier error', '#e07a5f'],
    ['redis_down', 'Redis unreachable', '#000000'],
  ];

  // ---- the token: from the URL fragment (never sent to the server), then
  // kept in this tab only; the fragment is removed from the address bar.
  function takeToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }
  let token = takeToken();

  const $ = (id) => document.getElementById(id);
  const status = (text, kind) => {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + (kind || '');
  };

  function askToken(why) {
    status(why, 'bad');
    $('login').hidden = false;
  }
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    $('login').hidden = true;
    poll();
  });

  // ---- formatting
  const pad = (n) => String(n).padStart(2, '0');
  const hhmm = (ms) => { const d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()); };
  const hhmmss = (ms) => { const d = new Date(ms); return hhmm(ms) + ':' + pad(d.getSeconds()); };
  function num(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  // A round axis maximum above v (1, 2, 5 x 10^n).
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- charts: lines (optionally stacked areas) or bars over time.
  // series: [{name, color, values}], t: times (ms). Sets data-points and
  // data-max on the SVG (what the browser test reads).
  function chart(svg, t, series, opts) {
    const W = 560, H = 220, L = 48, R = 12, T = 12, B = 26;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const n = t.length;
    const stacked = !!opts.stacked;
    const totals = t.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
    const peak = Math.max(0, ...(stacked ? totals : series.flatMap((s) => s.values)));
    const ymax = niceMax(peak);
    const now = opts.now || (n ? t[n - 1] : Date.now());
    const t0 = now - opts.window * 1000;
    const x = (ms) => L + ((ms - t0) / (now - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    svg.dataset.points = String(n);
    svg.dataset.max = String(peak);

    // Grid and axes: 4 horizontal lines with values, a time label every 3 minutes.
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      svg.append(el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      svg.append(el('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, num(v)));
    }
    const step = 3 * 60 * 1000;
    for (let m = Math.ceil(t0 / step) * step; m <= now; m += step) {
      svg.append(el('text', { x: x(m), y: H - 8, class: 'axis', 'text-anchor': 'middle' }, hhmm(m)));
    }
    svg.append(el('text', { x: L, y: T - 2, class: 'unit' }, opts.unit));
    if (!n) {
      svg.append(el('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, 'no samples yet'));
      return;
    }

    if (opts.bars) {
      const slot = ((W - L - R) * 60) / opts.window;  // one minute wide
      const bw = Math.max(2, (slot * 0.8) / series.length);
      series.forEach((s, k) => {
        s.values.forEach((v, i) => {
          if (!v) return;
          const x0 = x(t[i]) + slot * 0.1 + k * bw;
          const r = el('rect', { x: x0, y: y(v), width: bw, height: y(0) - y(v), fill: s.color });
          r.append(el('title', {}, `${s.name}: ${v} in the minute from ${hhmm(t[i])}`));
          svg.append(r);
        });
      });
      return;
    }

    const base = new Array(n).fill(0);
    for (const s of series) {
      const top = s.values.map((v, i) => (stacked ? base[i] : 0) + (v || 0));
      const pts = top.map((v, i) => `${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`);
      if (stacked) {
        const under = base.map((v, i) => `${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`).reverse();
        if (s.values.some((v) => v > 0)) {
          svg.append(el('polygon', { points: pts.concat(under).join(' '), fill: s.color, 'fill-opacity': 0.75 }));
        }
        for (let i = 0; i < n; i++) base[i] = top[i];
      } else {
        svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2 }));
      }
    }
    // The latest values, in words, beside the unit (a stacked chart has its legend).
    if (stacked) return;
    const last = series.map((s) => `${s.name} ${num(s.values[n - 1] || 0)}`).join(' · ');
    svg.append(el('text', { x: W - R, y: T - 2, class: 'unit', 'text-anchor': 'end' }, 'now: ' + last));
  }

  // ---- tables
  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }

  async function showTicket(id) {
    const pre = $('ticket');
    pre.hidden = false;
    pre.textContent = `ticket ${id}: loading…`;
    try {
      const r = await fetch('/api/tickets/' + encodeURIComponent(id), { headers: { Authorization: 'Bearer ' + token } });
      const body = await r.text();
      pre.textContent = r.ok ? JSON.stringify(JSON.parse(body), null, 2)
        : `ticket ${id}: the admin API answered ${r.status}. Delivered tickets are in the ticket system (tickets.sink); ` +
          `the admin API keeps the ones not delivered yet. ${body}`;
    } catch (e) {
      pre.textContent = `ticket ${id}: ${e}`;
    }
  }

  function render(d) {
    const s = d.series;
    const tot = d.totals || {};
    const refusedTotal = ['policy_opted_out', 'policy_capped', 'policy_quiet_rejected', 'submit_throttled',
      'submit_invalid_dest', 'submit_no_route', 'submit_carrier_status', 'submit_carrier_lost',
      'policy_redis_down_rejected'].reduce((a, k) => a + (tot[k] || 0), 0);
    const head = [
      ['received', tot.submit_received, 'messages from accounts'],
      ['sent', (tot.submit_ok || 0) + (tot.deferred_released || 0), 'taken by a carrier'],
      ['refused', refusedTotal, 'answered with an error'],
      ['deferred now', tot.deferred_depth, 'waiting for quiet hours to end'],
      ['opt-outs', tot.reply_opted_out, 'from replies'],
      ['complaints', tot.complaint_ticketed, 'tickets written'],
    ];
    $('headline').replaceChildren(...head.map(([k, v, why]) => {
      const div = document.createElement('div');
      div.className = 'figure';
      div.innerHTML = '<span class="v"></span><span class="k"></span><span class="why"></span>';
      div.children[0].textContent = num(v || 0);
      div.children[1].textContent = k;
      div.children[2].textContent = why;
      return div;
    }));
    $('headline').title = 'since this smsgate process started';

    const common = { window: d.window_s, now: d.now_ms };
    chart($('chart-rate'), s.t, [
      { name: 'in', color: '#2f7dd1', values: s.in_per_s },
      { name: 'out', color: '#2a9d8f', values: s.out_per_s },
    ], Object.assign({ unit: 'messages / second' }, common));

    const refused = REASONS.map(([key, label, color]) => ({
      key, name: label, color, values: key === 'deferred' ? s.deferred_per_s : (s.refused_per_s[key] || []),
    }));
    chart($('chart-refused'), s.t, refused, Object.assign({ unit: 'messages / second', stacked: true }, common));
    $('legend-refused').replaceChildren(...refused.map((r) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = r.color;
      const total = r.values.reduce((a, v) => a + v * d.interval_s, 0);
      li.append(sw, `${r.name}: ${Math.round(total)} in 15 min`);
      if (!total) li.className = 'quiet';
      return li;
    }));

    const pm = d.per_minute;
    chart($('chart-replies'), pm.t, [
      { name: 'opt-outs', color: '#d1495b', values: pm.opt_outs },
      { name: 'complaints', color: '#7b2cbf', values: pm.complaints },
    ], Object.assign({ unit: 'per minute', bars: true }, common));

    chart($('chart-depth'), s.t, [{ name: 'waiting', color: '#2f7dd1', values: s.deferred_depth }],
      Object.assign({ unit: 'messages waiting' }, common));

    $('binds').tBodies[0].replaceChildren(...d.binds.map((b) => {
      const st = document.createElement('span');
      st.className = 'state ' + (b.state === 'bound' ? 'ok' : b.state === 'down' || b.state === 'suspended' ? 'bad' : 'warn');
      st.textContent = b.state;
      const tr = row([b.kind, b.name, st, String(b.sessions)]);
      tr.lastChild.className = 'num';
      return tr;
    }));

    const rows = d.complaints.map((c) => {
      const a = document.createElement('a');
      a.href = '#';
      a.textContent = c.ticket;
      a.addEventListener('click', (e) => { e.preventDefault(); showTicket(c.ticket); });
      return row([hhmmss(c.at_ms), a, c.category.replace(/_/g, ' '), c.severity, c.number, c.account]);
    });
    if (!rows.length) rows.push(row(['none in this process\u2019s memory yet', '', '', '', '', '']));
    $('complaints').tBodies[0].replaceChildren(...rows);
  }

  let timer = null;
  async function poll() {
    clearTimeout(timer);
    if (!token) { askToken('Enter the admin token to see the data.'); return; }
    try {
      const r = await fetch('/api/live', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        token = '';
        askToken('The admin token was refused (' + r.status + '). Enter it again.');
        return;
      }
      if (!r.ok) throw new Error('the admin server answered ' + r.status);
      render(await r.json());
      status('updated ' + hhmmss(Date.now()) + ' · every 2 seconds', 'ok');
    } catch (e) {
      status('no data: ' + e.message + ' (retrying)', 'bad');
    }
    timer = setTimeout(poll, POLL_MS);
  }
  poll();
})();
