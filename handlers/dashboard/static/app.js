// The caseops dashboard: cases, their operations as they move, one operation's history, and an overview.
// It reads the same API as any client, with the bearer token the user signs in with, kept in sessionStorage
// (never in a URL, a cookie or a log).

const TOKEN_KEY = 'caseops.token';
const CASES = '/v1.0/security/cases/ediscoveryCases';
const PREFER = 'include-unknown-enum-members, odata.include-annotations="caseops.*"';
const LAST_MODIFIED = '@caseops.lastModifiedDateTime';
// A running operation that has not reported for this long is marked stalled.
const STALLED_AFTER_MS = 5 * 60 * 1000;
const PAGE_SIZE = 25;
const OUTAGE_RETRY_MS = 2000;
// The server sends a heartbeat every 15 s: a stream silent for longer than this was lost on the way (a proxy, a
// sleeping laptop), and is opened again from its last event.
const STREAM_SILENT_MS = 45000;

const STATUSES = ['notStarted', 'running', 'succeeded', 'partiallySucceeded', 'failed', 'submissionFailed'];
const TYPES = ['ediscoveryTagOperation', 'ediscoveryIndexOperation', 'ediscoveryHoldOperation',
  'ediscoveryPurgeDataOperation', 'ediscoveryHoldPolicySyncOperation', 'ediscoveryEstimateOperation',
  'ediscoveryAddToReviewSetOperation', 'ediscoveryExportOperation', 'ediscoverySearchExportOperation'];
const ACTIONS = ['contentExport', 'applyTags', 'convertToPdf', 'index', 'estimateStatistics', 'addToReviewSet',
  'holdUpdate', 'purgeData', 'exportReport', 'exportResult', 'holdPolicySync'];
const TERMINAL = new Set(['succeeded', 'partiallySucceeded', 'failed', 'submissionFailed']);

// ---- small DOM helpers ----

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

const $ = (sel, root = document) => root.querySelector(sel);

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function duration(ms) {
  if (!(ms >= 0)) return '';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function who(set) {
  if (!set) return '';
  const i = set.user || set.application || set.device;
  return i ? (i.displayName || i.id || '') : '';
}

const typeName = (odataType) => (odataType || '').replace(/^#microsoft\.graph\.(security\.)?/, '');

// ---- the token ----

function token() { return sessionStorage.getItem(TOKEN_KEY); }

// claims reads the token's payload, for display and to hide write controls from a read-only token; the server
// checks the signature and every permission on each request.
function claims() {
  try {
    const part = token().split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, '=')));
  } catch {
    return {};
  }
}

function canWrite() {
  const c = claims();
  const granted = [...String(c.scp || '').split(' '), ...(Array.isArray(c.roles) ? c.roles : [])];
  return granted.includes('eDiscovery.ReadWrite.All');
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  signInReason = reason || '';
  if (location.hash !== '#/signin') location.hash = '#/signin';
  else render();
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const h = { Authorization: `Bearer ${token()}`, Prefer: PREFER, ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw unavailable(new ApiError(0, 'caseops cannot be reached.'));
  }
  if (res.ok) {
    outage(null);
    return res.status === 204 ? null : res.json();
  }
  let message = `${res.status} ${res.statusText}`;
  try {
    const e = (await res.json()).error;
    if (e && e.message) message = e.message;
  } catch { /* not the Graph error shape */ }
  const err = new ApiError(res.status, message, Number(res.headers.get('Retry-After')) || 0);
  if (res.status === 401) {
    signOut(message);
    throw err;
  }
  if (res.status === 503) throw unavailable(err);
  throw err;
}

// unavailable shows the outage banner; the view that failed retries on its own until the service answers.
function unavailable(err) {
  outage(err.message);
  return err;
}

function outage(message) {
  const box = $('#outage');
  if (!message) {
    box.hidden = true;
    return;
  }
  box.replaceChildren(el('strong', {}, 'caseops is unavailable. '), message, ' ',
    el('span', { class: 'muted' }, 'This page keeps trying and recovers by itself.'));
  box.hidden = false;
}

// ---- the change stream, over fetch: EventSource cannot send an Authorization header ----

// openStream follows path's changes until the returned function is called. Its ready promise settles once the
// first connection is answered: a view that reads its data after that misses no change made meanwhile.
function openStream(path, onChange) {
  let lastEventId = null;
  let stopped = false;
  let controller = null;
  let backoff = 500;
  let settle;
  const ready = new Promise((resolve) => { settle = resolve; });
  const live = $('#live');
  const state = (text, cls) => { live.hidden = false; live.textContent = text; live.className = `live ${cls}`; };

  (async () => {
    while (!stopped) {
      controller = new AbortController();
      let silence = null;
      const heard = () => {
        clearTimeout(silence);
        const c = controller;
        silence = setTimeout(() => c.abort(), STREAM_SILENT_MS);
      };
      heard();
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream', Prefer: PREFER };
        if (lastEventId) headers['Last-Event-ID'] = lastEventId;
        const res = await fetch(path, { headers, signal: controller.signal, cache: 'no-store' }).finally(settle);
        if (res.status === 401) {
          signOut('Your session ended: sign in again.');
          return;
        }
        if (!res.ok) throw new Error(`stream answered ${res.status}`);
        state('live', 'on');
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          heard();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let id = null;
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('id:')) id = line.slice(3).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length) {
              if (id) lastEventId = id;
              onChange(JSON.parse(data.join('\n')));
            }
          }
        }
      } catch (e) {
        if (stopped) return;
      } finally {
        clearTimeout(silence);
      }
      if (stopped) return;
      state('reconnecting…', 'off');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  })();
  const stop = () => {
    stopped = true;
    settle();
    if (controller) controller.abort();
    live.hidden = true;
  };
  stop.ready = ready;
  return stop;
}

// ---- views ----

let signInReason = '';
let cleanups = [];
let renderSeq = 0;

function onCleanup(f) { cleanups.push(f); }

function every(ms, f) {
  const t = setInterval(f, ms);
  onCleanup(() => clearInterval(t));
}

// retrying runs a view's loader, and runs it again while the service is unavailable.
async function retrying(seq, load) {
  for (;;) {
    try {
      return await load();
    } catch (e) {
      if (seq !== renderSeq) return undefined;
      if (!(e instanceof ApiError) || (e.status !== 503 && e.status !== 0)) throw e;
      await new Promise((r) => setTimeout(r, Math.max(OUTAGE_RETRY_MS, e.retryAfter * 1000 / 2)));
      if (seq !== renderSeq) return undefined;
    }
  }
}

function view(...children) {
  $('#view').replaceChildren(...children);
}

function showError(e) {
  view(el('p', { class: 'error', role: 'alert' }, e.message || String(e)));
}

async function render() {
  for (const f of cleanups) f();
  cleanups = [];
  const seq = ++renderSeq;
  const hash = location.hash || '#/';
  header();
  if (!token() && hash !== '#/signin') {
    location.hash = '#/signin';
    return;
  }
  try {
    let m;
    if (hash === '#/signin') await signInView();
    else if ((m = hash.match(/^#\/cases\/([0-9a-f-]{36})\/operations\/([0-9a-f-]{36})$/))) await operationView(seq, m[1], m[2]);
    else if ((m = hash.match(/^#\/cases\/([0-9a-f-]{36})(?:\?(.*))?$/))) await caseView(seq, m[1], new URLSearchParams(m[2] || ''));
    else await homeView(seq);
  } catch (e) {
    if (seq === renderSeq && !(e instanceof ApiError && e.status === 401)) showError(e);
  }
}

function header() {
  const signedIn = Boolean(token());
  $('#signout').hidden = !signedIn;
  const c = signedIn ? claims() : {};
  $('#who').replaceChildren(...(signedIn ? [
    c.name || c.app_displayname || c.oid || '', c.tid ? el('span', { class: 'muted' }, ` · tenant ${c.tid}`) : '',
    canWrite() ? '' : el('span', { class: 'badge readonly' }, 'read-only'),
  ] : []));
}

// The sign-in view takes a pasted token, or the one-time code of the link serve prints in development mode.
async function signInView() {
  const reason = signInReason;
  const input = el('textarea', { id: 'token', rows: 4, placeholder: 'eyJhbGciOi…', autocomplete: 'off', spellcheck: 'false', required: true });
  const message = el('p', { id: 'signin-message', class: reason ? 'error' : 'muted', role: 'status' },
    reason || 'Paste a bearer token for the caseops API. It stays in this tab only.');
  const form = el('form', { id: 'signin', class: 'card signin', onsubmit: (ev) => { ev.preventDefault(); submit(input.value.trim()); } },
    el('h1', {}, 'Sign in'), el('label', { for: 'token' }, 'Bearer token'), input,
    el('button', { type: 'submit' }, 'Sign in'), message);
  view(form);

  async function submit(candidate) {
    if (!candidate) return;
    sessionStorage.setItem(TOKEN_KEY, candidate.replace(/^Bearer\s+/i, ''));
    try {
      await api(`${CASES}?$top=1`);
      signInReason = '';
      location.hash = '#/';
    } catch (e) {
      if (e.status !== 401) { // a 401 has signed out and re-rendered with its reason
        sessionStorage.removeItem(TOKEN_KEY);
        message.className = 'error';
        message.textContent = e.message;
      }
    }
  }
}

// exchangeSignInCode redeems the code of a development sign-in link (#code=...), then takes it out of the
// address bar and the history.
async function exchangeSignInCode() {
  const m = location.hash.match(/^#code=([A-Za-z0-9_-]+)$/);
  if (!m) return;
  history.replaceState(null, '', location.pathname + location.search + '#/signin');
  try {
    const res = await fetch('/dashboard/signin', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: m[1] }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : `${res.status}`);
    sessionStorage.setItem(TOKEN_KEY, body.token);
    history.replaceState(null, '', location.pathname + location.search + '#/');
  } catch (e) {
    signInReason = `The sign-in link did not work: ${e.message}`;
  }
}

async function homeView(seq) {
  const overviewBox = el('section', { class: 'overview', id: 'overview' });
  const list = el('section', { class: 'card' });
  view(el('h1', {}, 'Overview'), overviewBox, el('h2', {}, 'Cases'), list);
  const stream = openStream('/beta/tagOperations/stream?$select=id,status', () => overviewSoon());
  onCleanup(stream);
  await stream.ready;
  await retrying(seq, async () => {
    const [o] = await Promise.all([api('/beta/tagOperations/overview'), casesPage(list, `${CASES}?$top=${PAGE_SIZE}`, [])]);
    drawOverview(overviewBox, o);
  });
  refreshOverview(seq, overviewBox, '/beta/tagOperations/overview');
}

async function casesPage(box, url, previous) {
  const page = await api(url);
  const rows = page.value.map((c) => el('tr', {},
    el('td', {}, el('a', { href: `#/cases/${c.id}`, class: 'case-link' }, c.displayName || c.id)),
    el('td', {}, el('span', { class: `badge ${c.status}` }, c.status)),
    el('td', {}, when(c.createdDateTime)),
    el('td', {}, who(c.createdBy))));
  box.replaceChildren(
    rows.length ? el('table', { id: 'cases' }, el('thead', {}, el('tr', {}, el('th', {}, 'Case'), el('th', {}, 'Status'), el('th', {}, 'Created'), el('th', {}, 'Created by'))), el('tbody', {}, rows))
      : el('p', { class: 'muted' }, 'No cases yet.'),
    pager(previous, page['@odata.nextLink'], (u, prev) => casesPage(box, u, prev), url));
}

function pager(previous, next, go, current) {
  if (!previous.length && !next) return '';
  return el('nav', { class: 'pager' },
    el('button', { type: 'button', disabled: !previous.length, onclick: () => go(previous.at(-1), previous.slice(0, -1)) }, '← Newer'),
    el('button', { type: 'button', id: 'next-page', disabled: !next, onclick: () => go(next, [...previous, current]) }, 'Older →'));
}

// ---- the overview: status counts now, status changes in the last hour, failures by code ----

let overviewSoon = () => {};

function refreshOverview(seq, box, url) {
  let pending = null;
  const refresh = async () => {
    try {
      drawOverview(box, await api(url));
    } catch { /* the banner shows an outage; the next refresh tries again */ }
  };
  overviewSoon = () => {
    if (!pending) pending = setTimeout(() => { pending = null; if (seq === renderSeq) refresh(); }, 2000);
  };
  every(10000, refresh);
  onCleanup(() => { clearTimeout(pending); overviewSoon = () => {}; });
}

function drawOverview(box, o) {
  const statuses = STATUSES.map((s) => [s, o.statuses[s] || 0]);
  const total = statuses.reduce((n, [, c]) => n + c, 0);
  const changes = o.statusChanges.perMinute;
  const changed = changes.reduce((a, b) => a + b, 0);
  box.replaceChildren(
    el('figure', { class: 'card chart', id: 'chart-statuses' }, el('figcaption', {}, `Operations by status now (${total})`),
      barChart(statuses.map(([s, c]) => ({ label: s, value: c, cls: s })))),
    el('figure', { class: 'card chart', id: 'chart-throughput' }, el('figcaption', {}, `Status changes, last hour (${changed})`),
      columnChart(changes, new Date(o.statusChanges.since))),
    el('figure', { class: 'card chart', id: 'chart-failures' }, el('figcaption', {}, 'Failures by result code'),
      o.failures.length ? barChart(o.failures.map((f) => ({ label: f.code === null ? 'no code' : `code ${f.code}`, value: f.count, cls: 'failed' })))
        : el('p', { class: 'muted' }, 'No failures.')));
}

function barChart(rows) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const rowH = 22;
  const w = 320;
  const labelW = 130;
  return svg('svg', { viewBox: `0 0 ${w} ${rows.length * rowH}`, width: '100%', role: 'img', 'aria-label': rows.map((r) => `${r.label} ${r.value}`).join(', ') },
    rows.map((r, i) => svg('g', { transform: `translate(0 ${i * rowH})` },
      svg('text', { x: 0, y: 15, class: 'label' }, r.label),
      svg('rect', { x: labelW, y: 4, height: 14, width: Math.max(r.value ? 2 : 0, (w - labelW - 40) * r.value / max), class: `bar ${r.cls}` }),
      svg('text', { x: labelW + 4 + (w - labelW - 40) * r.value / max, y: 15, class: 'value' }, r.value))));
}

function columnChart(values, since) {
  const max = Math.max(1, ...values);
  const w = 320;
  const h = 110;
  const colW = w / values.length;
  const hhmm = (d) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return svg('svg', { viewBox: `0 0 ${w} ${h + 16}`, width: '100%', role: 'img', 'aria-label': `status changes per minute since ${hhmm(since)}` },
    values.map((v, i) => svg('rect', { x: i * colW + 0.5, y: h - (h - 4) * v / max, width: Math.max(colW - 1, 1), height: (h - 4) * v / max, class: 'bar running' },
      svg('title', {}, `${hhmm(new Date(since.getTime() + i * 60000))}: ${v}`))),
    svg('line', { x1: 0, y1: h, x2: w, y2: h, class: 'axis' }),
    svg('text', { x: 0, y: h + 13, class: 'label' }, hhmm(since)),
    svg('text', { x: w, y: h + 13, class: 'label', 'text-anchor': 'end' }, 'now'),
    svg('text', { x: w, y: 10, class: 'label', 'text-anchor': 'end' }, `peak ${max}/min`));
}

// ---- one case: its operations, newest first, live ----

async function caseView(seq, caseId, params) {
  const base = `${CASES}/${caseId}`;
  const c = await retrying(seq, () => api(base));
  if (!c) return;
  const filters = { status: params.get('status') || '', type: params.get('type') || '', action: params.get('action') || '' };
  const select = (name, options) => el('label', {}, `${name} `, el('select', { id: `filter-${name}`, onchange: (ev) => {
    const next = new URLSearchParams(Object.entries({ ...filters, [name]: ev.target.value }).filter(([, v]) => v));
    location.hash = `#/cases/${caseId}${next.toString() ? '?' + next : ''}`;
  } }, el('option', { value: '' }, 'all'), options.map((o) => el('option', { value: o, selected: filters[name] === o }, o))));
  const table = el('section', { class: 'card', id: 'operations-box' });
  const overviewBox = el('section', { class: 'overview', id: 'overview' });
  view(el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Cases'), ' / '),
    el('h1', {}, c.displayName || c.id, ' ', el('span', { class: `badge ${c.status}` }, c.status)),
    overviewBox,
    el('div', { class: 'filters' }, select('status', STATUSES), select('type', TYPES), select('action', ACTIONS)),
    table);

  const clauses = [];
  if (filters.status) clauses.push(`status eq '${filters.status}'`);
  if (filters.type) clauses.push(`isof('microsoft.graph.security.${filters.type}')`);
  if (filters.action) clauses.push(`action eq '${filters.action}'`);
  const first = `${base}/operations?$top=${PAGE_SIZE}${clauses.length ? '&$filter=' + encodeURIComponent(clauses.join(' and ')) : ''}`;
  const rows = new Map(); // id -> { op, tr }
  let onFirstPage = true;
  const matches = (op) => (!filters.status || op.status === filters.status) && (!filters.type || typeName(op['@odata.type']) === filters.type)
    && (!filters.action || op.action === filters.action);

  const tbody = el('tbody', { id: 'operations' });
  async function showPage(url, previous) {
    const page = await api(url);
    onFirstPage = previous.length === 0;
    rows.clear();
    tbody.replaceChildren(...page.value.map((op) => row(caseId, op, rows).tr));
    table.replaceChildren(
      page.value.length ? el('table', {}, el('thead', {}, el('tr', {}, ['Status', 'Type', 'Action', 'Progress', 'Started by', 'Started', 'Completed', 'Duration', ''].map((h) => el('th', {}, h)))), tbody)
        : el('p', { class: 'muted', id: 'no-operations' }, clauses.length ? 'No operation matches these filters.' : 'No operations in this case yet.'),
      pager(previous, page['@odata.nextLink'], (u, prev) => showPage(u, prev).catch(showError), url));
  }
  const apply = (op) => {
    const known = rows.get(op.id);
    if (op['@removed']) {
      if (known) known.tr.classList.add('removed');
      return;
    }
    if (known) known.update(op);
    else if (onFirstPage && matches(op)) {
      if (!tbody.isConnected) return showPage(first, []).catch(showError);
      tbody.prepend(row(caseId, op, rows).tr);
    }
  };
  // The stream opens first and its changes wait for the first page, so none made while the page loads is lost.
  let waiting = [];
  const stream = openStream(`${base}/operations/stream`, (op) => {
    overviewSoon();
    if (waiting) waiting.push(op);
    else apply(op);
  });
  onCleanup(stream);
  await stream.ready;
  await retrying(seq, async () => {
    const [o] = await Promise.all([api(`${base}/operations/overview`), showPage(first, [])]);
    drawOverview(overviewBox, o);
  });
  const missed = waiting;
  waiting = null;
  missed.forEach(apply);
  refreshOverview(seq, overviewBox, `${base}/operations/overview`);
  every(15000, () => { for (const r of rows.values()) r.update(r.op); });
}

// version is the operation's version, from its ETag (W/"<version>.<created>").
function version(op) {
  const m = /^W\/"(\d+)\./.exec(op['@odata.etag'] || '');
  return m ? Number(m[1]) : 0;
}

function stalled(op) {
  if (op.status !== 'running' && op.status !== 'notStarted') return false;
  const last = Date.parse(op[LAST_MODIFIED] || op.createdDateTime);
  return Date.now() - last > STALLED_AFTER_MS;
}

// row renders one operation as a table row that update() moves in place.
function row(caseId, op, rows) {
  const cells = {
    status: el('td', { class: 'status' }),
    type: el('td', {}, typeName(op['@odata.type'])),
    action: el('td', {}, op.action),
    progress: el('td', {}),
    by: el('td', {}, who(op.createdBy)),
    started: el('td', {}, el('a', { href: `#/cases/${caseId}/operations/${op.id}`, class: 'op-link' }, when(op.createdDateTime))),
    completed: el('td', {}),
    duration: el('td', {}),
    actions: el('td', {}),
  };
  const tr = el('tr', { 'data-id': op.id }, Object.values(cells));
  const r = {
    op, tr,
    update(next) {
      if (version(next) < version(r.op)) return; // an event older than what the row shows
      const moved = r.op.status !== next.status || r.op.percentProgress !== next.percentProgress;
      r.op = next;
      fillStatus(cells.status, next);
      cells.progress.replaceChildren(progressBar(next.percentProgress));
      cells.completed.textContent = when(next.completedDateTime);
      cells.duration.textContent = duration((next.completedDateTime ? Date.parse(next.completedDateTime) : Date.now()) - Date.parse(next.createdDateTime));
      cells.actions.replaceChildren(writeControls(caseId, next, (updated) => r.update(updated)));
      tr.classList.toggle('stalled', stalled(next));
      if (moved) {
        tr.classList.remove('flash');
        void tr.offsetWidth;
        tr.classList.add('flash');
      }
    },
  };
  r.update(op);
  rows.set(op.id, r);
  return r;
}

function fillStatus(cell, op) {
  const parts = [el('span', { class: `badge ${op.status}` }, op.status)];
  if (stalled(op)) {
    const last = Date.parse(op[LAST_MODIFIED] || op.createdDateTime);
    parts.push(' ', el('span', { class: 'badge stalled', title: `no report since ${when(new Date(last).toISOString())}` }, `stalled ${duration(Date.now() - last)}`));
  }
  cell.replaceChildren(...parts);
}

function progressBar(percent) {
  const known = typeof percent === 'number';
  const fill = el('div', { class: 'fill' });
  fill.style.width = `${known ? percent : 0}%`;
  return el('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': known ? percent : null },
    fill, el('span', {}, known ? `${percent}%` : '–'));
}

// writeControls are the write actions a read-write token gets: marking an unfinished operation failed, through
// the API and its checks (If-Match: another change since the page read it is refused, not overwritten).
function writeControls(caseId, op, updated) {
  if (!canWrite() || TERMINAL.has(op.status)) return '';
  return el('button', { type: 'button', class: 'small mark-failed', onclick: async (ev) => {
    if (!confirm(`Mark this ${typeName(op['@odata.type'])} failed?`)) return;
    ev.target.disabled = true;
    try {
      const next = await api(`${CASES}/${caseId}/operations/${op.id}`, { method: 'PATCH', headers: { 'If-Match': op['@odata.etag'] },
        body: { status: 'failed', resultInfo: { code: 1, message: 'Marked failed from the dashboard.' } } });
      updated(next || { ...op, status: 'failed' });
    } catch (e) {
      ev.target.disabled = false;
      alert(e.message);
    }
  } }, 'Mark failed');
}

// ---- one operation and its history ----

async function operationView(seq, caseId, id) {
  const url = `${CASES}/${caseId}/operations/${id}`;
  const details = el('section', { class: 'card', id: 'operation' });
  const historyBox = el('section', { class: 'card', id: 'history-box' });
  view(el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Cases'), ' / ', el('a', { href: `#/cases/${caseId}`, id: 'case-link' }, 'case'), ' / '),
    el('h1', {}, 'Operation'), details, el('h2', {}, 'History'), historyBox);
  const load = async () => {
    const [op, c] = await Promise.all([api(url), api(`${CASES}/${caseId}`)]);
    $('#case-link').textContent = c.displayName || c.id;
    showOperation(details, caseId, op, reload);
    await historyPages(historyBox, `${url}/history?$top=100`);
  };
  // One load at a time, and one more after it when a change came meanwhile, so an older answer never lands last.
  let loading = null;
  let again = false;
  function reload() {
    if (loading) {
      again = true;
      return;
    }
    loading = load().catch((e) => { if (seq === renderSeq) showError(e); }).finally(() => {
      loading = null;
      if (again && seq === renderSeq) {
        again = false;
        reload();
      }
    });
  }
  // The stream opens first, so that no change made while the page loads is lost.
  let deleted = false;
  let loaded = false;
  let changedWhileLoading = false;
  const stream = openStream(`${CASES}/${caseId}/operations/stream`, (op) => {
    if (op.id !== id || deleted) return;
    if (op['@removed']) {
      deleted = true;
      details.replaceChildren(el('p', { class: 'error' }, 'This operation was deleted.'));
      return;
    }
    if (loaded) reload();
    else changedWhileLoading = true;
  });
  onCleanup(stream);
  await stream.ready;
  await retrying(seq, load);
  loaded = true;
  if (changedWhileLoading && !deleted) reload();
  every(15000, () => { const op = details.op; if (op && !deleted) showOperation(details, caseId, op, reload); });
}

function showOperation(box, caseId, op, reload) {
  box.op = op;
  const field = (name, value) => [el('dt', {}, name), el('dd', {}, value)];
  const result = op.resultInfo ? `${op.resultInfo.code ?? ''} ${op.resultInfo.message ?? ''}`.trim() : '';
  box.replaceChildren(el('dl', { class: 'fields' },
    field('Status', (() => { const s = el('span', { id: 'op-status' }); fillStatus(s, op); return s; })()),
    field('Progress', progressBar(op.percentProgress)),
    field('Type', typeName(op['@odata.type'])),
    field('Action', op.action),
    field('Started by', who(op.createdBy)),
    field('Started', when(op.createdDateTime)),
    field('Completed', when(op.completedDateTime)),
    field('Duration', duration((op.completedDateTime ? Date.parse(op.completedDateTime) : Date.now()) - Date.parse(op.createdDateTime))),
    field('Last report', when(op[LAST_MODIFIED])),
    field('Result', result),
    field('Id', el('code', {}, op.id))),
  writeControls(caseId, op, reload));
}

async function historyPages(box, url) {
  const events = [];
  for (let next = url; next;) {
    const page = await api(next);
    events.push(...page.value);
    next = page['@odata.nextLink'];
  }
  box.replaceChildren(el('table', { id: 'history' },
    el('thead', {}, el('tr', {}, ['When', 'What', 'Who', 'Changes', 'Request'].map((h) => el('th', {}, h)))),
    el('tbody', {}, events.map((e) => el('tr', { 'data-seq': e.sequence },
      el('td', {}, when(e.occurredDateTime)),
      el('td', {}, e.kind),
      el('td', {}, who(e.actor) || el('span', { class: 'muted' }, 'SQL')),
      el('td', {}, el('ul', { class: 'changes' }, Object.entries(e.changes).map(([prop, ch]) => el('li', {},
        el('code', {}, prop), ' ', el('span', { class: 'old' }, show(ch.old)), ' → ', el('span', { class: 'new' }, show(ch.new)))))),
      el('td', {}, el('code', { class: 'muted' }, e.requestId || '')))))));
}

function show(v) {
  if (v === null || v === undefined) return '∅';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

// ---- start ----

$('#signout').addEventListener('click', () => signOut('You signed out.'));
window.addEventListener('hashchange', render);
exchangeSignInCode().then(render);
