// dmrswitch operator dashboard: vanilla ES2020, no libraries, no build step. Reads the hub's JSON
// API (docs/api.yaml) and its event stream (../api/v1/events, Server-Sent Events). Server strings
// reach the page through textContent only, never as HTML.
'use strict';
const API = '../api/v1/';
const PAGE = 100;        // clients per page
const LH_FETCH = 200;    // lastheard rows fetched
const LH_MAX = 500;      // lastheard rows kept
const MEMBERS_MAX = 1000;
const MAX_ID = 4294967295;

const $ = (id) => document.getElementById(id);
const S = {
  hub: null, skew: 0, hubAt: 0,  // skew: server clock - local clock (s)
  live: new Map(),   // stream_id -> {call, row, at}: at = local ms of the event that added it
  ended: new Map(),  // stream_id -> {start, at}: ended lately, a poll must not revive it
  lh: [],            // lastheard, newest end first (rows of #lastheard in the same order)
  clients: {offset: 0, total: 0, items: [], single: null},
  peers: [], tgs: [], tgSel: null, counters: null, prev: null, stream: 'offline', managed: null,
  loaded: {hub: 0, calls: 0, lastheard: 0, clients: 0, peers: 0, talkgroups: 0, counters: 0},
};
const serverNow = () => Date.now() / 1000 + S.skew;

// ---- DOM and formatting helpers ----
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
const td = (text, cls) => h('td', cls, text);
function row(data, ...cells) {
  const tr = h('tr');
  Object.assign(tr.dataset, data);
  tr.append(...cells);
  return tr;
}
function linkTd(text, key, title) {
  const c = h('td'), b = h('button', 'link', text);
  b.type = 'button';
  b.dataset[key] = String(text);
  b.title = title;
  c.append(b);
  return c;
}
function badgeTd(cls, text) {
  const c = h('td');
  c.append(h('span', 'badge ' + cls, text));
  return c;
}
const setText = (id, text) => { $(id).textContent = text; };
function fill(id, rows, empty) {
  $(id).tBodies[0].replaceChildren(...rows);
  if ($(id + '-empty')) $(id + '-empty').hidden = !empty;
}
function setStatus(area, msg) {
  const e = $(area === 'status' ? area : area + '-status');
  e.textContent = msg || '';
  e.classList.toggle('err', !!msg);
}
const isNum = (v) => typeof v === 'number' && isFinite(v);
const nf = new Intl.NumberFormat('en-US');
const num = (v) => (isNum(v) ? nf.format(v) : '–');
const str = (v) => (isNum(v) ? String(v) : '–');
const pad2 = (n) => String(n).padStart(2, '0');
const idOk = (v) => /^\d{1,10}$/.test(v) && Number(v) <= MAX_ID;
function clock(sec) {
  sec = Math.max(0, Math.floor(sec));
  const hh = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  return hh ? `${hh}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
}
const dur = (s) => (!isNum(s) ? '–' : s < 60 ? s.toFixed(1) + ' s' : clock(s));
function ago(t) {
  if (!isNum(t) || t <= 0) return 'never';
  const d = Math.max(0, serverNow() - t);
  return d < 60 ? Math.floor(d) + ' s ago' : d < 3600 ? Math.floor(d / 60) + ' min ago'
    : d < 86400 ? Math.floor(d / 3600) + ' h ago' : Math.floor(d / 86400) + ' d ago';
}
function uptime(sec) {
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d ? `${d}d ${hh}h ${m}m` : hh ? `${hh}h ${m}m ${sec % 60}s` : `${m}m ${sec % 60}s`;
}
function timeOfDay(t) {
  if (!isNum(t)) return '–';
  const d = new Date(t * 1000);
  const hms = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? hms : `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hms}`;
}
const fullTime = (t) => (isNum(t) ? new Date(t * 1000).toLocaleString() : '');
const leftText = (t) => (t - serverNow() > 0 ? clock(t - serverNow()) : 'expiring');
const TYPE = {group_voice: 'group voice', private_voice: 'private voice', group_data: 'group data', unit_data: 'unit data'};
const SLOTS = {0: '–', 1: 'TS1', 2: 'TS2', 3: 'TS1+TS2', 4: 'simplex'};

// Cells that tick every second: data-t holds a server epoch time.
function tickEl(tag, cls, t, text) {
  const e = h(tag, cls, text);
  if (isNum(t)) e.dataset.t = String(t);
  return e;
}
function agoTd(t) {
  const e = tickEl('td', 't-ago', t, ago(t));
  if (isNum(t) && t > 0) e.title = fullTime(t);
  return e;
}
const runTd = (t) => tickEl('td', 't-run num', t, isNum(t) ? clock(serverNow() - t) : '–');
function tgText(e, list) {  // dynamic talkgroups with their timers
  if (!list.length) e.textContent = '–';
  list.forEach((t, i) => {
    e.append(i ? ', ' : '', h('span', 'muted', `TS${t.slot} `), String(t.tg));
    if (isNum(t.expires)) {
      const c = tickEl('span', 't-left', t.expires, leftText(t.expires));
      if (isNum(t.timeout_s)) c.title = `timer ${t.timeout_s} s`;
      e.append(' (', c, ')');
    }
  });
  return e;
}
// Static talkgroups of one slot; one that single mode has switched off is struck through, with
// the time until it comes back.
function staticText(e, list) {
  if (!list.length) e.textContent = '–';
  list.forEach((t, i) => {
    if (i) e.append(', ');
    if (!t.suspended) return void e.append(String(t.tg));
    const s = h('span', 'suspended', String(t.tg));
    s.title = 'off for now: single mode holds the slot for another talkgroup';
    e.append(s);
    if (isNum(t.suspended_until)) e.append(' (', tickEl('span', 't-left', t.suspended_until, leftText(t.suspended_until)), ')');
  });
  return e;
}
function splitTgs(c) {
  const tgs = Array.isArray(c.talkgroups) ? c.talkgroups : [];
  const st = (slot) => tgs.filter((t) => !t.dynamic && t.slot === slot);
  return {s1: st(1), s2: st(2), dyn: tgs.filter((t) => t.dynamic)};
}

// ---- requests ----
// One at a time: the hub's HTTP server has few worker threads and the event stream holds one;
// sequential requests share one keep-alive connection. Writes and lookups go first. A 429 (or a
// 503 with Retry-After) pauses the queue for Retry-After; a GET answered 429 is tried again.
const queue = [];
let busy = false, pausedUntil = 0, pumpTimer = 0;
function api(method, path, opt = {}) {
  return new Promise((resolve) => {
    queue[opt.first ? 'unshift' : 'push']({method, path, body: opt.body, token: opt.token, resolve});
    pump();
  });
}
function pump() {
  if (busy || !queue.length || pumpTimer) return;
  if (pausedUntil > Date.now()) {
    pumpTimer = setTimeout(() => { pumpTimer = 0; pump(); }, pausedUntil - Date.now());
    return;
  }
  const job = queue.shift();
  busy = true;
  send(job).then((r) => {
    busy = false;
    if (r.retry) pausedUntil = Date.now() + r.retry * 1000;
    job.tries = (job.tries || 0) + 1;
    if (r.status === 429 && job.method === 'GET' && job.tries < 4) queue.unshift(job);
    else job.resolve(r);
    pump();
  });
}
async function send(job) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), 10000);
  const headers = {Accept: 'application/json'};
  const init = {method: job.method, headers, cache: 'no-store', credentials: 'same-origin', signal: ctrl.signal};
  if (job.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(job.body);
  }
  if (job.token) headers.Authorization = 'Bearer ' + job.token;
  try {
    const res = await fetch(API + job.path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      const ra = Number(res.headers.get('Retry-After'));
      return {ok: false, status: res.status, data, retry: res.status === 429 || ra > 0 ? Math.min(30, Math.max(1, ra || 1)) : 0,
        error: data && typeof data.error === 'string' ? data.error : res.statusText || 'request failed'};
    }
    if (!data || typeof data !== 'object') return {ok: false, status: res.status, error: 'the answer is not JSON'};
    return {ok: true, status: res.status, data};
  } catch (e) {
    return {ok: false, status: 0, error: e && e.name === 'AbortError' ? 'timed out' : 'hub unreachable'};
  } finally {
    clearTimeout(timer);
  }
}
const failText = (r) => (r.status ? `HTTP ${r.status}: ${r.error}` : r.error);
// r.data[key] when it is an array; else null, with the failure in the area's status line.
function got(r, area, label, key) {
  if (r.ok && Array.isArray(r.data[key])) {
    setStatus(area, '');
    return r.data[key];
  }
  setStatus(area, `${label}: ${r.ok ? 'unexpected answer' : failText(r)}`);
  return null;
}

// A loader never runs twice at once: a call while it runs makes it run once more afterwards.
function loader(name, fn) {
  let running = false, again = false;
  return async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      do {
        again = false;
        if (await fn() && name && !S.loaded[name]) {
          S.loaded[name] = 1;
          if (Object.values(S.loaded).every(Boolean)) document.body.dataset.ready = '1';
        }
      } while (again);
    } catch (e) {
      setStatus('status', 'dashboard error: ' + (e && e.message));
    } finally {
      running = false;
    }
  };
}
function coalesce(fn, ms) {  // fn at most once per ms, at the end of the window
  let t = 0;
  return () => { if (!t) t = setTimeout(() => { t = 0; fn(); }, ms); };
}

// ---- hub ----
const loadHub = loader('hub', async () => {
  const r = await api('GET', 'hub');
  if (!r.ok || !r.data.hub) {
    setStatus('status', r.status === 503 ? 'The hub is starting: no view published yet.' : 'Hub: ' + failText(r));
    return false;
  }
  setStatus('status', '');
  const d = r.data, hub = d.hub;
  if (isNum(hub.started) && isNum(hub.uptime)) S.skew = hub.started + hub.uptime - Date.now() / 1000;
  S.hub = Object.assign({}, hub, {clients: d.clients, peers: d.peers || {}, calls_total: d.calls_total || {}});
  S.hubAt = Date.now();
  renderHub();
  return true;
});
function renderHub() {
  const hub = S.hub;
  if (!hub) return;
  setText('hub-name', `hub ${str(hub.server_id)}`);
  document.title = `dmrswitch ${str(hub.server_id)}`;
  setText('hub-version', hub.version || '–');
  setText('hub-mode', `${hub.mode || '–'}${isNum(hub.shards) ? ` · ${hub.shards} shard${hub.shards === 1 ? '' : 's'}` : ''}`);
  setText('hub-clients', num(hub.clients));
  setText('hub-peers', `${str(hub.peers.up)} / ${str(hub.peers.configured)}`);
  const ct = hub.calls_total, calls = $('hub-calls');
  calls.textContent = num(Object.keys(TYPE).reduce((a, k) => a + (isNum(ct[k]) ? ct[k] : 0), 0));
  calls.title = Object.keys(TYPE).map((k) => `${TYPE[k]}: ${num(ct[k])}`).join('\n');
  const ds = $('drain-state');
  ds.textContent = hub.draining ? 'draining' : 'serving';
  ds.className = 'badge ' + (hub.draining ? 'bad' : 'good');
  liveCount();
  tickHub();
}
function tickHub() {
  if (S.hub && isNum(S.hub.uptime)) setText('hub-uptime', uptime(S.hub.uptime + (Date.now() - S.hubAt) / 1000));
}
function liveCount() {
  setText('hub-live', num(S.live.size));
  setText('live-count', num(S.live.size));
  $('live-calls-empty').hidden = S.live.size > 0;
}

// ---- calls ----
function talkerTd(c) {
  const e = td(c.talker ? '' : c.rf_src, 'talker');
  if (c.talker) e.append(h('span', 'cs', c.talker), ' ', h('span', 'muted', c.rf_src));
  return e;
}
function sourceTd(c) {
  const s = c.source || {}, e = h('td');
  if (s.kind === 'peer') e.append(h('span', 'peer', `peer ${s.peer}`), ' ', h('span', 'muted', str(s.network_id)));
  else e.append(h('span', 'cs', s.callsign || ''), ' ', h('span', 'muted', str(s.client_id)));
  return e;
}
function dstTd(c) {
  const e = h('td');
  if (c.type === 'private_voice' || c.type === 'unit_data') e.append('→ ', h('span', 'tg', c.dst), ' ', h('span', 'tag', 'private'));
  else e.append(h('span', 'tg', c.dst));
  return e;
}
const callData = (c) => ({streamId: c.stream_id, tg: c.dst});
const validCall = (c) => !!c && typeof c === 'object' && isNum(c.stream_id) && isNum(c.dst);
const near = (a, b) => !isNum(a) || !isNum(b) || Math.abs(a - b) < 2;
function addLive(c, fromEvent) {
  const k = String(c.stream_id), old = S.live.get(k), ended = S.ended.get(k);
  if (ended && near(c.start, ended.start)) return;
  if (old) {  // keep the row (a talker alias may have come since)
    if (old.call.talker !== c.talker) old.row.cells[0].replaceWith(talkerTd(c));
    old.call = c;
    if (fromEvent) old.at = Date.now();
    return;
  }
  const tr = row(callData(c), talkerTd(c), sourceTd(c), dstTd(c), td(`TS${c.slot}`), td(TYPE[c.type] || c.type), runTd(c.start));
  $('live-calls').tBodies[0].prepend(tr);
  S.live.set(k, {call: c, row: tr, at: fromEvent ? Date.now() : 0});
}
function removeLive(k) {
  const e = S.live.get(k);
  if (e) { e.row.remove(); S.live.delete(k); }
}
const loadCalls = loader('calls', async () => {
  const sent = Date.now();
  const calls = got(await api('GET', 'calls'), 'live-calls', 'Live calls', 'calls');
  if (!calls) return false;
  const seen = new Set();
  for (const c of calls) {
    if (!validCall(c)) continue;
    seen.add(String(c.stream_id));
    const old = S.live.get(String(c.stream_id));
    if (!old || old.at <= sent) addLive(c, false);  // else an event is newer than this answer
  }
  let vanished = false;
  for (const [k, e] of Array.from(S.live)) {
    if (!seen.has(k) && e.at <= sent) { removeLive(k); vanished = true; }
  }
  liveCount();
  if (vanished) loadLastheard();  // their ends were missed: the lastheard has them
  return true;
});

// ---- lastheard ----
const REASON = {terminator: 'good', timeout: 'warn', max_age: 'warn', drain: 'warn', superseded: 'warn', lost: 'bad'};
function lhRow(c) {
  const t = td(timeOfDay(c.start));
  t.title = fullTime(c.start);
  const f = isNum(c.frames) ? c.frames : 0, l = isNum(c.frames_lost) ? c.frames_lost : 0;
  const loss = td(f + l ? (100 * l / (f + l)).toFixed(1) + ' %' : '–', 'num' + (f + l && l / (f + l) >= 0.05 ? ' warnc' : ''));
  loss.title = `${num(l)} lost of ${num(f + l)} frames; late ${num(c.frames_late)}, early ${num(c.frames_early)}`;
  return row(callData(c), t, talkerTd(c), sourceTd(c), dstTd(c), td(`TS${c.slot}`), td(dur(c.duration), 'num'), loss,
    td(isNum(c.jitter_ms) ? c.jitter_ms.toFixed(1) + ' ms' : '–', 'num'), badgeTd(REASON[c.end_reason] || '', c.end_reason || '–'));
}
const endOf = (c) => (isNum(c.start) ? c.start : 0) + (isNum(c.duration) ? c.duration : 0);
const sameCall = (a, b) => a.stream_id === b.stream_id && near(a.start, b.start);
function lhCount() {
  setText('lastheard-count', num(S.lh.length));
  $('lastheard-empty').hidden = S.lh.length > 0;
}
function prependLastheard(c) {
  const tbody = $('lastheard').tBodies[0], i = S.lh.findIndex((x) => sameCall(x, c));
  if (i >= 0) {
    S.lh.splice(i, 1);
    if (tbody.rows[i]) tbody.rows[i].remove();
  }
  S.lh.unshift(c);
  tbody.prepend(lhRow(c));
  while (S.lh.length > LH_MAX) {
    S.lh.pop();
    tbody.lastElementChild.remove();
  }
  lhCount();
}
const loadLastheard = loader('lastheard', async () => {
  const list = got(await api('GET', `lastheard?limit=${LH_FETCH}`), 'lastheard', 'Lastheard', 'lastheard');
  if (!list) return false;
  // Merged with what events brought; live calls are in #live-calls.
  const merged = list.filter((c) => validCall(c) && !c.live);
  for (const c of S.lh) if (!merged.some((x) => sameCall(x, c))) merged.push(c);
  S.lh = merged.sort((a, b) => endOf(b) - endOf(a)).slice(0, LH_MAX);
  fill('lastheard', S.lh.map(lhRow), !S.lh.length);
  lhCount();
  return true;
});

// ---- clients ----
function addrText(c) {
  const a = String(c.address || '');
  if (!a) return '–';
  return (a.includes(':') ? `[${a}]` : a) + (isNum(c.port) ? `:${c.port}` : '');
}
function clientRow(c, talking) {
  const sw = td(c.software_id || '–'), loc = td(c.location || '');
  sw.title = c.package_id || '';
  loc.title = c.description || '';
  const {s1, s2, dyn} = splitTgs(c);
  const [st, cls] = talking.has(c.id) ? ['talking', 'live']
    : c.fixed && !c.pings_received ? ['fixed', 'good']  // configured; it may never ping
    : isNum(c.last_ping) && serverNow() - c.last_ping > 60 ? ['no ping', 'warn'] : ['online', 'good'];
  const state = badgeTd(cls, st);
  state.title = `logged in ${fullTime(c.logged_in)}; ${num(c.pings_received)} pings, last ${ago(c.last_ping)}`;
  return row({clientId: c.id}, linkTd(c.id, 'manage', 'Manage this hotspot'), td(c.callsign, 'cs'), loc, sw,
    td(addrText(c)), td(SLOTS[c.slots] || String(c.slots)), staticText(h('td', 'tgs'), s1), staticText(h('td', 'tgs'), s2), tgText(h('td', 'tgs'), dyn),
    agoTd(c.last_heard), state);
}
function renderClients() {
  const C = S.clients, items = (C.single ? [C.single] : C.items).filter((c) => c && isNum(c.id));
  const talking = new Set();
  for (const e of S.live.values()) if (e.call.source && e.call.source.kind === 'client') talking.add(e.call.source.client_id);
  fill('clients', items.map((c) => clientRow(c, talking)), !items.length);
  setText('clients-total', num(C.total));
  setText('clients-range', C.single ? `client ${C.single.id}`
    : C.total ? `${num(C.offset + 1)}–${num(C.offset + C.items.length)} of ${num(C.total)}` : '0 of 0');
  const first = !!C.single || C.offset === 0, last = !!C.single || C.offset + PAGE >= C.total;
  $('clients-first').disabled = $('clients-prev').disabled = first;
  $('clients-next').disabled = $('clients-last').disabled = last;
  $('clients-all').hidden = !C.single;
  applyFilter();
}
function applyFilter() {
  const q = $('clients-filter').value.trim().toLowerCase(), rows = $('clients').tBodies[0].rows;
  let shown = 0;
  for (const tr of rows) {
    tr.hidden = !!q && !tr.dataset.clientId.includes(q) && !tr.cells[1].textContent.toLowerCase().includes(q);
    if (!tr.hidden) shown++;
  }
  if (q && !S.clients.single) setText('clients-status', `${shown} of ${rows.length} on this page match; Find ID looks up any logged-in ID.`);
}
const loadClients = loader('clients', async () => {
  const C = S.clients;
  let note = '';
  if (C.single) {  // a client found by ID; back to the pages when it has gone
    const r = await api('GET', `clients/${C.single.id}`);
    if (r.ok && r.data.client) {
      C.single = r.data.client;
      setStatus('clients', '');
      renderClients();
      return true;
    }
    if (r.status !== 404) {
      setStatus('clients', 'Clients: ' + failText(r));
      return false;
    }
    note = `Client ${C.single.id} is no longer logged in.`;
    C.single = null;
  }
  let r = await api('GET', `clients?offset=${C.offset}&limit=${PAGE}`);
  if (r.ok && Array.isArray(r.data.clients) && !r.data.clients.length && r.data.total > 0 && C.offset > 0) {
    C.offset = Math.floor((r.data.total - 1) / PAGE) * PAGE;  // the page emptied: go to the last one
    r = await api('GET', `clients?offset=${C.offset}&limit=${PAGE}`);
  }
  const list = got(r, 'clients', 'Clients', 'clients');
  if (!list) return false;
  C.items = list;
  C.total = isNum(r.data.total) ? r.data.total : list.length;
  renderClients();
  if (note) setStatus('clients', note);
  return true;
});
// The hub rebuilds its client list at most once a second after a change (docs/api.yaml): a
// refresh 1.5 s after an event sees it.
const refreshClientsSoon = coalesce(loadClients, 1500);
// The header's totals (calls, clients) follow the events too, at most every 1.5 s.
const refreshHubSoon = coalesce(() => loadHub(), 1500);
function goPage(offset) {
  const C = S.clients;
  C.single = null;
  C.offset = Math.max(0, Math.min(offset, Math.floor((C.total - 1) / PAGE) * PAGE));
  loadClients();
}
async function findClient() {
  const q = $('clients-filter').value.trim();
  if (!idOk(q)) return setStatus('clients', 'Find takes a client ID (digits); the filter only searches this page.');
  const r = await api('GET', `clients/${Number(q)}`, {first: true});
  if (r.ok && r.data.client) {
    S.clients.single = r.data.client;
    $('clients-filter').value = '';
    setStatus('clients', '');
    renderClients();
  } else {
    setStatus('clients', r.status === 404 ? `No client ${q} is logged in.` : 'Find: ' + failText(r));
  }
}

// ---- peers ----
const loadPeers = loader('peers', async () => {
  const list = got(await api('GET', 'peers'), 'peers', 'Peers', 'peers');
  if (!list) return false;
  S.peers = list.filter((p) => p && typeof p === 'object');
  fill('peers', S.peers.map((p) => row({peer: p.name}, td(p.name, 'cs'), badgeTd(p.up ? 'good' : 'bad', p.up ? 'up' : 'down'),
    td(p.version === 5 ? 'FBP v5' : p.version === 1 ? 'OBP v1' : p.version), td(str(p.network_id)), td(p.target || '–'),
    agoTd(p.last_keepalive), agoTd(p.since), td(num(p.packets_received), 'num'), td(num(p.packets_sent), 'num'),
    td(num(p.packets_rejected), 'num' + (p.packets_rejected > 0 ? ' warnc' : '')))), !S.peers.length);
  const up = S.peers.filter((p) => p.up).length;
  setText('peers-count', `${up} / ${S.peers.length} up`);
  if (S.hub) {
    S.hub.peers = {configured: S.peers.length, up};
    renderHub();
  }
  return true;
});
const refreshPeersSoon = coalesce(loadPeers, 500);

// ---- talkgroups ----
const loadTalkgroups = loader('talkgroups', async () => {
  const list = got(await api('GET', 'talkgroups?limit=200'), 'talkgroups', 'Talkgroups', 'talkgroups');
  if (!list) return false;
  S.tgs = list.filter((t) => t && isNum(t.tg));
  fill('talkgroups', S.tgs.map((t) => {
    const c = linkTd(t.tg, 'tgPick', 'Show its members');
    if (t.live) c.append(' ', h('span', 'badge live', 'live'));
    const tr = row({tg: t.tg}, c, td(`TS${t.slot}`), td(num(t.calls), 'num'), td(dur(t.seconds), 'num'), agoTd(t.last),
      td(str(t.last_rf_src)), td(t.last_source || '–', 'cs'));
    tr.classList.toggle('sel', t.tg === S.tgSel);
    return tr;
  }), !S.tgs.length);
  setText('talkgroups-count', num(S.tgs.length));
  return true;
});
const refreshTalkgroupsSoon = coalesce(loadTalkgroups, 3000);
const loadMembers = loader(null, async () => {
  const tg = S.tgSel;
  if (tg === null) return false;
  $('tg-members').hidden = false;
  const r = await api('GET', `talkgroups/${tg}`);
  const members = tg === S.tgSel && got(r, 'tg-members', `TG ${tg}`, 'members');
  if (!members) return false;
  const act = r.data.activity;
  setText('tg-members-title', `TG ${tg}: ${num(members.length)} member${members.length === 1 ? '' : 's'}` +
    (act && isNum(act.calls) ? ` · ${num(act.calls)} calls, last ${ago(act.last)}` : ''));
  if (members.length > MEMBERS_MAX) setStatus('tg-members', `Showing the first ${num(MEMBERS_MAX)}.`);
  const rows = members.slice().sort((a, b) => a.client_id - b.client_id || a.slot - b.slot).slice(0, MEMBERS_MAX)
    .map((m) => row({clientId: m.client_id}, linkTd(m.client_id, 'manage', 'Manage this hotspot'), td(m.callsign, 'cs'),
      td(`TS${m.slot}`), td(m.dynamic ? 'dynamic' : 'static')));
  if (!rows.length) {
    const c = td('No client is subscribed.', 'muted');
    c.colSpan = 4;
    rows.push(row({}, c));
  }
  fill('tg-members-table', rows);
  return true;
});
const refreshMembersSoon = coalesce(loadMembers, 2000);
function pickTg(tg) {
  S.tgSel = tg;
  for (const tr of $('talkgroups').tBodies[0].rows) tr.classList.toggle('sel', tr.dataset.tg === String(tg));
  setText('tg-members-title', `TG ${tg}`);
  fill('tg-members-table', []);
  loadMembers();
}

// ---- counters: a curated few (summed over shards and reasons), the rest in <details> ----
const CURATED = [  // name, label, whether more than 0 is bad
  ['packets_in', 'Packets in'], ['packets_out', 'Packets out'], ['packets_routed', 'Packets routed'],
  ['packets_dropped', 'Packets dropped', 1], ['packets_rejected', 'Packets rejected', 1], ['tx_dropped', 'TX dropped', 1],
  ['streams_started', 'Calls started'], ['streams_lost', 'Calls lost', 1], ['sequence_gaps', 'Sequence gaps', 1],
  ['hbp_logins_ok', 'Logins'], ['hbp_bad_digest', 'Bad passphrase', 1], ['hbp_acl_denied', 'Logins denied (ACL)', 1],
  ['hbp_full', 'Logins refused (full)', 1], ['hbp_lost', 'Clients lost', 1], ['hbp_rate_limited', 'Rate limited', 1],
  ['events_dropped', 'Events dropped', 1], ['sink_full', 'Sink full', 1], ['to_control_full', 'To control plane full', 1],
  ['supervision_dropped', 'Supervision dropped', 1], ['control_datagrams_dropped', 'Control datagrams dropped', 1],
  ['hbp_notices_dropped', 'Notices dropped', 1], ['report_events_dropped', 'Feed/MQTT events dropped', 1],
  ['shard_live_streams', 'Live streams'],
];
const RATE = new Set(['packets_in', 'packets_out', 'packets_routed', 'packets_dropped']);
const figures = (d) => [].concat(Array.isArray(d.counters) ? d.counters : [], Array.isArray(d.gauges) ? d.gauges : [])
  .filter((f) => f && typeof f.name === 'string' && isNum(f.value));
let countersAt = 0;
const loadCounters = loader('counters', async () => {
  const r = await api('GET', 'counters');
  if (!r.ok) {
    setStatus('counters', 'Counters: ' + failText(r));
    return false;
  }
  setStatus('counters', '');
  const dt = countersAt ? (Date.now() - countersAt) / 1000 : 0;
  countersAt = Date.now();
  S.counters = r.data;
  const all = figures(r.data), sums = new Map(), reasons = new Map();
  for (const f of all) {
    sums.set(f.name, (sums.get(f.name) || 0) + f.value);
    const rs = f.labels && f.labels.reason;
    if (!rs || !f.value) continue;
    if (!reasons.has(f.name)) reasons.set(f.name, new Map());
    const m = reasons.get(f.name);
    m.set(rs, (m.get(rs) || 0) + f.value);
  }
  const tiles = [];
  for (const [name, label, bad] of CURATED) {
    if (!sums.has(name)) continue;
    const v = sums.get(name), tile = h('div', 'tile' + (bad && v > 0 ? ' warn' : ''));
    tile.dataset.counter = name;
    tile.append(h('span', 'tile-label', label), h('span', 'tile-value', num(v)));
    if (RATE.has(name) && S.prev && S.prev.has(name) && dt > 0) {
      tile.append(h('span', 'tile-sub', `${num(Math.max(0, Math.round((v - S.prev.get(name)) / dt)))}/s`));
    }
    const rs = reasons.get(name);
    if (rs) tile.append(h('span', 'tile-sub', Array.from(rs).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, n]) => `${k} ${num(n)}`).join(', ')));
    tiles.push(tile);
  }
  $('counters').replaceChildren(...tiles);
  S.prev = sums;
  setText('counters-all-count', `(${num(all.length)})`);
  if ($('counters-all').open) renderAllCounters();
  return true;
});
function renderAllCounters() {
  if (!S.counters) return;
  fill('counters-table', figures(S.counters).map((f) => row({}, td(f.name),
    td(f.labels && typeof f.labels === 'object' ? Object.keys(f.labels).sort().map((k) => `${k}=${f.labels[k]}`).join(' ') : '', 'muted'),
    td(num(f.value), 'num' + (f.value ? '' : ' muted')))));
}

// ---- manage a hotspot (writes: Authorization: Bearer <token>) ----
const store = {
  get(k) { try { return sessionStorage.getItem(k) || ''; } catch (e) { return ''; } },
  set(k, v) { try { if (v) sessionStorage.setItem(k, v); else sessionStorage.removeItem(k); } catch (e) { /* no storage */ } },
};
function manageId() {
  const v = $('manage-id').value.trim();
  return idOk(v) && Number(v) > 0 ? Number(v) : null;
}
function showResult(kind, msg, status) {
  const e = $('manage-result');
  e.textContent = msg;
  e.className = 'result ' + kind;
  e.dataset.kind = kind;
  if (status) e.dataset.status = String(status); else delete e.dataset.status;
}
function renderManaged(c) {
  S.managed = c;
  const box = $('manage-statics');
  if (!c) return void (box.textContent = 'No client loaded.');
  const {s1, s2, dyn} = splitTgs(c), head = h('div'), dl = h('dl', 'kv');
  head.append(h('span', 'cs', c.callsign || ''), ' ', h('span', 'muted', c.id), c.location ? ` · ${c.location}` : '');
  for (const [k, v] of [['Static TS1', staticText(h('dd'), s1)], ['Static TS2', staticText(h('dd'), s2)], ['Dynamic', tgText(h('dd'), dyn)]]) {
    const w = h('div');
    w.append(h('dt', '', k), v);
    dl.append(w);
  }
  box.replaceChildren(head, dl);
}
async function loadManaged(quiet) {
  const id = manageId();
  if (id === null) return quiet || showResult('err', 'Enter a client ID (digits).');
  store.set('dmrswitch.manage_id', String(id));
  const r = await api('GET', `clients/${id}`, {first: true});
  if (r.ok && r.data.client) {
    renderManaged(r.data.client);
    if (!quiet) showResult('ok', `Loaded client ${id}.`, r.status);
  } else {
    renderManaged(null);
    $('manage-statics').textContent = r.status === 404 ? `Client ${id} is not logged in.` : `Client ${id}: ${failText(r)}`;
    if (!quiet) showResult('err', `Load client ${id}: ${failText(r)}`, r.status);
  }
}
const refreshManagedSoon = coalesce(() => loadManaged(true), 1200);
let writing = false;
async function write(label, method, path, body, hub) {
  const token = $('manage-token').value.trim();
  if (writing) return;
  if (!/^[\x21-\x7e]*$/.test(token)) return showResult('err', `${label}: the token holds characters a token cannot have.`);
  store.set('dmrswitch.token', token);
  writing = true;
  const buttons = document.querySelectorAll('#manage button');
  buttons.forEach((b) => { b.disabled = true; });
  showResult('pending', `${label}…`);
  try {
    const r = await api(method, path, {body, token, first: true});
    if (r.ok) {
      const d = r.data, warn = Array.isArray(d.warnings) && d.warnings.length ? ` Warnings: ${d.warnings.join('; ')}` : '';
      showResult('ok', `${label}: done.${warn}`, r.status);
      if (d.client && typeof d.client === 'object') {
        renderManaged(d.client);
      } else if (!hub && manageId() !== null) {
        // {client_id, ts1, ts2}: the statics now; the client view follows within a second.
        if (S.managed && d.client_id === S.managed.id && Array.isArray(d.ts1) && Array.isArray(d.ts2)) {
          const st = (slot, l) => l.filter(isNum).map((tg) => ({tg, slot, dynamic: false}));
          renderManaged(Object.assign({}, S.managed, {talkgroups: st(1, d.ts1).concat(st(2, d.ts2),
            (S.managed.talkgroups || []).filter((t) => t.dynamic))}));
        }
        refreshManagedSoon();
      }
      if (hub) loadHub();
      refreshClientsSoon();
    } else {
      showResult('err', `${label} failed: ${failText(r)}${r.status === 401 && !token ? ' (no token entered)' : ''}`, r.status);
    }
  } finally {
    writing = false;
    buttons.forEach((b) => { b.disabled = false; });
  }
}
// A write to clients/{id}/<tail> of the client in #manage-id.
function clientWrite(label, method, tail, body) {
  const id = manageId();
  if (id === null) return showResult('err', `${label}: enter a client ID (digits).`);
  write(label, method, `clients/${id}/${tail}`, body);
}
function slotTg(fn) {
  const slot = Number($('manage-slot').value), v = $('manage-tg').value.trim();
  if (!idOk(v)) return showResult('err', 'Enter a talkgroup number.');
  fn(slot, Number(v));
}
function on(id, ev, fn) {
  $(id).addEventListener(ev, (e) => {
    if (ev === 'submit') e.preventDefault();
    fn(e);
  });
}
function bindManage() {
  $('manage-id').value = store.get('dmrswitch.manage_id');
  $('manage-token').value = store.get('dmrswitch.token');
  on('manage-id', 'change', () => store.set('dmrswitch.manage_id', $('manage-id').value.trim()));
  on('manage-id', 'input', () => { if (S.managed && S.managed.id !== manageId()) renderManaged(null); });
  on('manage-token', 'change', () => store.set('dmrswitch.token', $('manage-token').value.trim()));
  on('manage-auth', 'submit', () => loadManaged(false));
  on('manage-forget', 'click', () => {
    $('manage-token').value = '';
    store.set('dmrswitch.token', '');
    showResult('ok', 'Token forgotten.');
  });
  on('manage-options-form', 'submit', () => {
    const opts = $('manage-options').value.trim();
    if (!opts) return showResult('err', 'Set options: enter an options string, e.g. TS1=1,2;TS2=91 (Clear removes them).');
    clientWrite('Set options', 'PUT', 'options', {options: opts});
  });
  on('manage-clear', 'click', () => clientWrite('Clear options', 'DELETE', 'options'));
  on('manage-tg-form', 'submit', () => slotTg((slot, tg) => clientWrite(`Add TG ${tg} on TS${slot}`, 'POST', 'talkgroups', {slot, tg})));
  on('manage-remove', 'click', () => slotTg((slot, tg) => clientWrite(`Remove TG ${tg} from TS${slot}`, 'DELETE', `talkgroups/${slot}/${tg}`)));
  for (const slot of [0, 1, 2]) {
    on(`manage-drop-${slot}`, 'click', () => clientWrite(`Drop dynamic TGs (${slot ? 'TS' + slot : 'both slots'})`, 'POST', `drop_dynamic/${slot}`));
  }
  on('manage-kick', 'click', () => clientWrite(`Kick client ${$('manage-id').value.trim()}`, 'POST', 'kick'));
  on('manage-drain', 'click', () => {
    const v = $('manage-drain-timeout').value.trim() || '60';
    if (!/^\d{1,6}$/.test(v)) return showResult('err', 'Drain: the timeout is a number of seconds.');
    write('Drain', 'POST', 'drain', {timeout_s: Number(v)}, true);
  });
  on('manage-resume', 'click', () => write('Resume', 'POST', 'resume', undefined, true));
  on('manage-reload', 'click', () => write('Reload configuration', 'POST', 'reload', undefined, true));
}
function manageClient(id) {
  $('manage-id').value = String(id);
  loadManaged(false);
  $('sec-manage').scrollIntoView({behavior: 'smooth', block: 'start'});
}

// ---- the event stream ----
let es = null, esRetry = 0, needReload = false;
function setStream(state) {
  S.stream = state;
  const e = $('stream-state');
  e.textContent = state;
  e.className = 'badge state-' + state;
}
function connectStream() {
  let src;
  try {
    src = new EventSource(API + 'events');
  } catch (e) {
    return setStream('offline');
  }
  es = src;
  setStream('reconnecting');
  src.onopen = () => {
    if (src !== es) return;
    setStream('live');
    esRetry = 0;
    if (needReload) { needReload = false; reloadAll(); }
  };
  src.onmessage = (ev) => {
    if (src !== es) return;
    try {
      const msg = JSON.parse(ev.data);
      if (msg && typeof msg === 'object') pending.push(msg);
    } catch (e) { return; }
    if (!flushTimer) flushTimer = setTimeout(flush, 20);
  };
  src.onerror = () => {
    if (src !== es) return;
    if (src.readyState !== 2) return setStream('reconnecting');  // the browser retries, with Last-Event-ID
    // Closed (an HTTP error answer): retry ourselves; a new EventSource has no Last-Event-ID.
    src.close();
    es = null;
    setStream('offline');
    needReload = true;
    setTimeout(connectStream, Math.min(30000, 2000 * 2 ** esRetry++));
  };
}
const pending = [];
let flushTimer = 0;
function flush() {
  flushTimer = 0;
  let calls = false;
  for (const msg of pending.splice(0)) {
    try {
      const c = msg.call, ev = msg.event || {}, hb = msg.hub || {};
      if (msg.type === 'call_start' && validCall(c)) {
        addLive(c, true);
        calls = true;
      } else if (msg.type === 'call_end' && validCall(c)) {
        removeLive(String(c.stream_id));
        S.ended.set(String(c.stream_id), {start: c.start, at: Date.now()});
        prependLastheard(c);
        refreshHubSoon();
        calls = true;
      } else if (msg.type === 'client') {
        refreshClientsSoon();
        refreshHubSoon();
        const id = isNum(ev.client_id) ? ev.client_id : ev.id;
        if (S.managed && id === S.managed.id) {  // gone: say so (a GET would be a 404)
          if (/logout|lost|kick/.test(String(ev.event || ev.kind || ''))) $('manage-statics').textContent = `Client ${id} is not logged in.`;
          else refreshManagedSoon();
        }
        if (S.tgSel !== null) refreshMembersSoon();
      } else if (msg.type === 'peer') {
        refreshPeersSoon();
      } else if (msg.type === 'hub') {
        if (!S.hub) { loadHub(); continue; }
        if (typeof hb.draining === 'boolean') S.hub.draining = hb.draining;
        if (isNum(hb.clients)) S.hub.clients = hb.clients;
        renderHub();
      } else if (msg.type === 'resync') {
        reloadAll();
      }
    } catch (e) {
      setStatus('status', 'dashboard error: ' + (e && e.message));
    }
  }
  if (calls) {
    liveCount();
    refreshTalkgroupsSoon();
  }
}

// ---- timers and wiring ----
function tick() {
  tickHub();
  for (const e of document.querySelectorAll('[data-t]')) {
    const t = Number(e.dataset.t);
    e.textContent = e.classList.contains('t-run') ? clock(serverNow() - t) : e.classList.contains('t-left') ? leftText(t) : ago(t);
  }
  for (const [k, v] of S.ended) if (Date.now() - v.at > 60000) S.ended.delete(k);
}
function reloadAll() {
  loadHub();
  loadCalls();
  loadClients();
  loadLastheard();
  loadPeers();
  loadTalkgroups();
  loadCounters();
  if (S.tgSel !== null) loadMembers();
}
function every(ms, fn) {
  setInterval(() => { if (!document.hidden) fn(); }, ms);
}
function start() {
  on('clients-first', 'click', () => goPage(0));
  on('clients-prev', 'click', () => goPage(S.clients.offset - PAGE));
  on('clients-next', 'click', () => goPage(S.clients.offset + PAGE));
  on('clients-last', 'click', () => goPage(S.clients.total));
  on('clients-all', 'click', () => goPage(S.clients.offset));
  on('clients-filter', 'input', () => { setStatus('clients', ''); applyFilter(); });
  on('clients-search', 'submit', findClient);
  on('tg-form', 'submit', () => {
    const v = $('tg-lookup').value.trim();
    setStatus('talkgroups', idOk(v) ? '' : 'Enter a talkgroup number.');
    if (idOk(v)) pickTg(Number(v));
  });
  on('counters-all', 'toggle', renderAllCounters);
  document.addEventListener('click', (ev) => {
    const b = ev.target instanceof Element && ev.target.closest('button');
    if (b && b.dataset.manage) manageClient(Number(b.dataset.manage));
    else if (b && b.dataset.tgPick) pickTg(Number(b.dataset.tgPick));
  });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) reloadAll(); });
  bindManage();
  connectStream();
  reloadAll();
  setInterval(tick, 1000);
  // Polls (about 0.6 requests/s with the event stream up): the live calls and the clients page
  // every 5 s, the rest slower; without the stream the lastheard too, and the hub and peers more.
  let beat = 0;
  every(5000, () => {
    const live = S.stream === 'live';
    beat++;
    loadCalls();
    loadClients();
    if (!live) loadLastheard();
    if (beat % (live ? 6 : 2) === 0) {
      loadHub();
      loadPeers();
    }
    if (beat % 3 === 0) {
      loadCounters();
      loadTalkgroups();
      if (S.tgSel !== null) loadMembers();
    }
  });
}

// Test hook: nothing secret.
window.dmrswitch = Object.freeze({
  reload: reloadAll,
  state: () => ({
    stream: S.stream, ready: document.body.dataset.ready === '1', live_calls: S.live.size, lastheard: S.lh.length,
    clients_total: S.clients.total, clients_offset: S.clients.offset, draining: S.hub ? !!S.hub.draining : null,
  }),
});
start();
