// The operator page: plain DOM, no framework. Every value that came from a visitor (titles, paths,
// labels) reaches the page through textContent only, never as HTML.
(() => {
  'use strict';

  const KEY_NAME = 'mxy_admin_key';
  const REPORT_REFRESH_MS = 30_000;
  const POLL_MS = 5_000;
  /** Events reach ClickHouse about a flush interval after the live feed shows them. */
  const TIMELINE_RELOAD_MS = 1_500;

  const state = {
    key: '',
    account: '',
    /** True once a snapshot or a poll answered: until then the page shows dashes, not zeros. */
    liveKnown: false,
    /** visitorId → visitor, as the live feed describes them. */
    visitors: new Map(),
    counts: { online: 0, authenticated: 0, anonymous: 0 },
    /** path → visitors on it. */
    pages: new Map(),
    truncated: false,
    ws: null,
    wsAttempts: 0,
    pollTimer: 0,
    reportTimer: 0,
    /** The session whose timeline is open, and its visitor (live events of it reload the timeline). */
    session: '',
    sessionVisitor: '',
    timelineTimer: 0,
  };

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false || c === '') continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // ---- formatting ---------------------------------------------------------------------------

  /** Epoch ms from ms or an ISO string. */
  function toMs(x) {
    if (typeof x === 'number') return x;
    const t = Date.parse(String(x ?? ''));
    return Number.isNaN(t) ? 0 : t;
  }

  function clock(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    return new Date().toDateString() === d.toDateString()
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
      : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function ago(ms) {
    if (!ms) return '';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function duration(ms) {
    const exact = (Number(ms) || 0) / 1000;
    if (exact > 0 && exact < 10) return `${exact.toFixed(1)} s`;
    const n = Math.round(exact);
    if (n < 60) return `${n} s`;
    if (n < 3600) return `${Math.floor(n / 60)} min ${n % 60} s`;
    return `${Math.floor(n / 3600)} h ${Math.floor((n % 3600) / 60)} min`;
  }

  function num(x) {
    const n = Number(x);
    if (!Number.isFinite(n)) return '';
    if (Number.isInteger(n)) return n.toLocaleString();
    return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(2);
  }

  function pct(part, whole) {
    return whole > 0 ? `${Math.round((part / whole) * 100)} %` : '';
  }

  function rate(r) {
    return r === null || r === undefined ? '–' : `${(Number(r) * 100).toFixed(1)} %`;
  }

  function short(id) {
    const s = String(id || '');
    return s.length > 12 ? `${s.slice(0, 8)}…` : s;
  }

  /** A person (bold) or an anonymous visitor (short id; the whole id on hover). */
  function who(person, visitors) {
    const list = (Array.isArray(visitors) ? visitors : [visitors]).filter(Boolean);
    if (person) {
      return h('span', { class: 'who' }, h('span', { class: 'person', 'data-person': person }, person), list.length > 1 ? h('span', { class: 'muted small' }, ` · ${list.length} devices`) : null);
    }
    return h('span', { class: 'anon', title: list.join(', ') }, 'anonymous ', h('span', { class: 'muted' }, short(list[0])));
  }

  /** A table from rows and column specs `{ label, value(row), num? }`; value may return a node. */
  function table(rows, columns, onRow, rowAttrs) {
    return h(
      'table',
      {},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : undefined }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((r) => {
          const clickable = onRow && onRow(r, true);
          return h(
            'tr',
            { class: clickable ? 'clickable' : undefined, onclick: clickable ? () => onRow(r, false) : undefined, ...(rowAttrs ? rowAttrs(r) : {}) },
            columns.map((c) => h('td', { class: c.num ? 'num' : c.cls }, c.value(r))),
          );
        }),
      ),
    );
  }

  // ---- API ----------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: { authorization: `Bearer ${state.key}` }, cache: 'no-store' });
    } catch {
      throw new HttpError(0, 'service unreachable');
    }
    if (res.status === 401) {
      signOut('That key was refused.');
      throw new HttpError(401, 'unauthorized');
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        const body = await res.json();
        if (body && body.message) message += `: ${body.message}`;
      } catch {
        // not JSON: the status says enough
      }
      throw new HttpError(res.status, message);
    }
    return res.json();
  }

  function unavailable(el, err) {
    el.replaceChildren(h('p', { class: 'unavailable' }, 'unavailable', h('span', { class: 'muted small' }, ` (${err && err.message ? err.message : 'no answer'})`)));
  }

  // ---- live presence ------------------------------------------------------------------------

  function setStatus(s, text) {
    const el = $('live-status');
    el.dataset.state = s;
    el.textContent = text;
  }

  function upsert(v) {
    if (!v || !v.visitorId) return;
    state.visitors.set(v.visitorId, v);
  }

  function takeCounts(m) {
    if (typeof m.online !== 'number') return;
    const authenticated = Number(m.authenticated) || 0;
    state.counts = { online: m.online, authenticated, anonymous: typeof m.anonymous === 'number' ? m.anonymous : Math.max(0, m.online - authenticated) };
  }

  /** Diffs carry only the pages whose counts changed. */
  function mergePages(list) {
    for (const p of list || []) {
      if (p.count > 0) state.pages.set(p.path, p.count);
      else state.pages.delete(p.path);
    }
  }

  function applyMessage(m) {
    switch (m.type) {
      case 'snapshot':
        state.liveKnown = true;
        state.visitors.clear();
        for (const v of m.visitors || []) upsert(v);
        state.pages = new Map();
        mergePages(m.pages);
        state.truncated = Boolean(m.truncated);
        takeCounts(m);
        break;
      case 'join':
      case 'update':
        upsert(m.visitor);
        mergePages(m.pages);
        takeCounts(m);
        break;
      case 'leave':
        state.visitors.delete(m.visitorId);
        mergePages(m.pages);
        takeCounts(m);
        break;
      case 'event': {
        const v = state.visitors.get(m.visitorId);
        const e = m.event || {};
        if (v && e.type !== 'heartbeat') v.lastActivity = e.ts || Date.now();
        if (m.visitorId === state.sessionVisitor && state.session) {
          clearTimeout(state.timelineTimer);
          state.timelineTimer = setTimeout(() => loadTimeline(state.session), TIMELINE_RELOAD_MS);
        }
        break;
      }
      default:
        return;
    }
    renderLive();
  }

  function renderLive() {
    if (!state.liveKnown) return;
    const c = state.counts;
    $('online-total').textContent = num(c.online);
    $('online-auth').textContent = num(c.authenticated);
    $('online-anon').textContent = num(c.anonymous);
    $('online-auth-pct').textContent = pct(c.authenticated, c.online);
    $('online-anon-pct').textContent = pct(c.anonymous, c.online);

    const pages = [...state.pages].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 30);
    $('pages-body').replaceChildren(...pages.map(([path, count]) => h('tr', { 'data-path': path }, h('td', { class: 'path' }, path), h('td', { class: 'num' }, num(count)))));
    $('pages-empty').hidden = pages.length > 0;

    const visitors = [...state.visitors.values()].sort((a, b) => (b.lastActivity || 0) - (a.lastActivity || 0));
    $('visitors-body').replaceChildren(
      ...visitors.slice(0, 200).map((v) =>
        h(
          'tr',
          {
            class: v.sessionId ? 'clickable' : undefined,
            'data-visitor': v.visitorId,
            'data-person': v.personId || undefined,
            onclick: v.sessionId ? () => openSession(v.sessionId, v.visitorId, v.personId) : undefined,
          },
          h('td', {}, who(v.personId, v.visitorId), v.segment ? h('span', { class: 'tag', title: 'segment' }, v.segment) : null, v.crossSegment ? h('span', { class: 'tag cross', title: `on a ${v.pageSegment} page` }, `→ ${v.pageSegment}`) : null),
          h('td', { class: 'path' }, v.path, v.title ? h('div', { class: 'muted small' }, v.title) : null),
          h('td', { class: 'num' }, num(v.pagesViewed)),
          h('td', { class: 'small' }, [v.uaFamily, v.device].filter(Boolean).join(' · '), v.tabs > 1 ? h('div', { class: 'muted' }, `${v.tabs} tabs`) : null),
          h('td', {}, clock(v.joinedAt)),
          h('td', { 'data-ts': v.lastActivity || '' }, ago(v.lastActivity)),
        ),
      ),
    );
    $('visitors-empty').hidden = visitors.length > 0;
    $('visitors-more').hidden = !state.truncated;
  }

  function connectLive() {
    if (state.ws || !state.key) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/live?account=${encodeURIComponent(state.account)}&key=${encodeURIComponent(state.key)}`;
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      startPolling();
      return;
    }
    state.ws = ws;
    setStatus('connecting', 'connecting…');
    ws.onopen = () => {
      opened = true;
      state.wsAttempts = 0;
      stopPolling();
      setStatus('live', 'live');
    };
    ws.onmessage = (ev) => {
      try {
        applyMessage(JSON.parse(ev.data));
      } catch {
        // one bad message must not stop the feed
      }
    };
    ws.onclose = () => {
      if (state.ws === ws) state.ws = null;
      if (!state.key) return;
      setStatus(opened ? 'connecting' : 'polling', opened ? 'reconnecting…' : 'live feed unavailable: polling');
      startPolling();
      // Reconnect (a fresh snapshot) with capped backoff; polling keeps the numbers moving meanwhile.
      const wait = Math.min(30_000, 500 * 2 ** state.wsAttempts++);
      setTimeout(connectLive, wait);
    };
  }

  async function pollOnce() {
    try {
      const [online, live] = await Promise.all([api('/api/online?limit=30'), api('/api/visitors/live?limit=200')]);
      if (state.ws && state.ws.readyState === WebSocket.OPEN) return;
      state.liveKnown = true;
      takeCounts(online);
      state.pages = new Map();
      mergePages(online.pages);
      state.visitors.clear();
      for (const v of live.visitors || []) upsert(v);
      state.truncated = Boolean(live.truncated);
      renderLive();
      setStatus('polling', `polling every ${POLL_MS / 1000} s`);
    } catch (err) {
      if (err.status !== 401) setStatus('off', 'presence unavailable');
    }
  }

  function startPolling() {
    if (state.pollTimer) return;
    pollOnce();
    state.pollTimer = setInterval(pollOnce, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = 0;
  }

  setInterval(() => {
    for (const td of document.querySelectorAll('#visitors-body td[data-ts]')) td.textContent = ago(Number(td.dataset.ts));
  }, 5000);

  // ---- session timeline ---------------------------------------------------------------------

  function openSession(sessionId, visitorId, personId) {
    state.session = sessionId;
    state.sessionVisitor = visitorId || '';
    $('timeline-title').textContent = `${personId || 'anonymous'} · session ${short(sessionId)}`;
    $('timeline-body').replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    $('h-timeline').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    return loadTimeline(sessionId);
  }

  /** A person's newest session (from recent-by-person), for rows that name a person but no session. */
  async function openPerson(personId) {
    $('timeline-title').textContent = `${personId} · newest session`;
    try {
      const data = await api(`/api/persons/${encodeURIComponent(personId)}/sessions?limit=1`);
      const s = (data.sessions || [])[0];
      if (!s) {
        $('timeline-body').replaceChildren(h('p', { class: 'muted' }, 'no sessions stored for this person'));
        return;
      }
      await openSession(s.sessionId, s.visitorId, personId);
    } catch (err) {
      unavailable($('timeline-body'), err);
    }
  }

  /** Rows of the reports: a person opens their newest session; a visitor who is online, theirs. */
  function openWho(r, probe) {
    const live = (r.visitorIds || []).map((id) => state.visitors.get(id)).find(Boolean);
    if (probe) return Boolean(r.personId || live);
    if (r.personId) return openPerson(r.personId);
    if (live) return openSession(live.sessionId, live.visitorId, null);
    return undefined;
  }

  async function loadTimeline(sessionId) {
    const body = $('timeline-body');
    let detail;
    try {
      detail = await api(`/api/sessions/${encodeURIComponent(sessionId)}?limit=500`);
    } catch (err) {
      if (state.session !== sessionId) return;
      if (err.status === 404) body.replaceChildren(h('p', { class: 'muted' }, 'nothing stored for this session yet (events land within a few seconds)'));
      else unavailable(body, err);
      return;
    }
    if (state.session !== sessionId) return;
    const s = detail.summary || {};
    const facts = [
      detail.personId ? `person ${detail.personId}` : 'anonymous',
      `${num(s.pageViews)} page views`,
      s.maxDepth ? `scrolled ${s.maxDepth} %` : null,
      `engaged ${duration(s.dwellMs)}`,
      s.durationMs ? `over ${duration(s.durationMs)}` : null,
      s.channel ? `came via ${s.channel}${s.referrerHost ? ` (${s.referrerHost})` : ''}` : null,
      [s.browser, s.device].filter(Boolean).join(' on ') || null,
    ].filter(Boolean);
    body.replaceChildren(
      h('p', { class: 'summary' }, facts.join(' · ')),
      h(
        'ol',
        { class: 'events' },
        (detail.timeline || []).map((e) =>
          h(
            'li',
            { 'data-type': e.type },
            h('time', {}, clock(e.tsMs || toMs(e.ts))),
            h('span', { class: `type t-${e.type}` }, e.type),
            h('span', { class: 'path' }, e.path),
            h('span', { class: 'detail' }, describeEvent(e)),
          ),
        ),
      ),
      ...(detail.truncated ? [h('p', { class: 'muted small' }, 'showing the first 500 events')] : []),
    );
  }

  function describeEvent(e) {
    const parts = [];
    if (e.label) parts.push(`“${e.label}”`);
    if (e.depth) parts.push(`${e.depth} % down`);
    if (e.dwellMs) parts.push(`engaged ${duration(e.dwellMs)}`);
    if (e.listing) parts.push(`listing ${e.listing}`);
    if (e.recId) parts.push(`rec ${e.recId}`);
    const p = e.props || {};
    if (p.to) parts.push(`→ ${p.to}`);
    if (p.href) parts.push(String(p.href));
    if (e.type === 'pageview' && e.title) parts.push(e.title);
    return parts.join(' · ');
  }

  // ---- reports ------------------------------------------------------------------------------

  async function loadEngagement() {
    const el = $('engagement-body');
    try {
      const data = await api('/api/engagement?limit=15');
      const rows = data.queue || [];
      el.replaceChildren(
        rows.length
          ? table(rows, [
              { label: '#', num: true, value: (r) => num(r.rank) },
              { label: 'who', value: (r) => who(r.personId, r.visitorIds) },
              { label: 'score', num: true, value: (r) => num(r.score) },
              { label: 'recency', num: true, value: (r) => num(r.recency) },
              { label: 'depth', num: true, value: (r) => num(r.depth) },
              { label: 'dwell', num: true, value: (r) => num(r.dwell) },
              { label: 'page views', num: true, value: (r) => num(r.pageViews) },
              { label: 'engaged', num: true, value: (r) => duration(r.dwellMs) },
              { label: 'last seen', value: (r) => ago(r.lastSeenMs || toMs(r.lastSeen)) },
            ], openWho)
          : h('p', { class: 'muted' }, 'nobody to call yet'),
        data.formula ? h('p', { class: 'muted small formula' }, data.formula) : null,
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  async function loadCtr() {
    const el = $('ctr-body');
    try {
      const data = await api('/api/ctr?from=7d');
      const o = data.overall || {};
      const rows = data.listings || [];
      el.replaceChildren(
        h('div', { class: 'ctr-overall' }, h('span', { class: 'big', id: 'ctr-overall' }, rate(o.ctr)), h('span', { class: 'muted' }, ` ${num(o.clicks || 0)} ${o.clicks === 1 ? 'click' : 'clicks'} of ${num(o.impressions || 0)} shown`)),
        rows.length
          ? table(rows.slice(0, 15), [
              { label: 'listing', cls: 'path', value: (r) => r.listing },
              { label: 'shown', num: true, value: (r) => num(r.impressions) },
              { label: 'clicks', num: true, value: (r) => num(r.clicks) },
              { label: 'CTR', num: true, value: (r) => rate(r.ctr) },
            ])
          : h('p', { class: 'muted' }, 'no recommendations in this window'),
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  function briefingSince() {
    const v = $('briefing-since').value;
    if (v === 'y18') {
      const d = new Date();
      d.setDate(d.getDate() - 1);
      d.setHours(18, 0, 0, 0);
      return d.toISOString();
    }
    return `${v}h`;
  }

  async function loadBriefing() {
    const el = $('briefing-body');
    try {
      const data = await api(`/api/briefing?since=${encodeURIComponent(briefingSince())}&limit=30&pages=3`);
      const rows = data.people || [];
      el.replaceChildren(
        rows.length
          ? table(rows, [
              { label: 'who', value: (r) => who(r.personId, r.visitorIds) },
              { label: 'looked at', value: (r) => h('ul', { class: 'looked' }, (r.pages || []).map((p) => h('li', { title: p.path }, p.title || p.path, p.views > 1 ? h('span', { class: 'muted' }, ` ×${p.views}`) : null))) },
              { label: 'visits', num: true, value: (r) => num(r.sessions) },
              { label: 'engaged', num: true, value: (r) => duration(r.dwellMs) },
              { label: 'last seen', value: (r) => ago(toMs(r.lastSeen)) },
            ], openWho)
          : h('p', { class: 'muted' }, 'nobody in this window'),
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  function loadReports() {
    $('updated').textContent = `reports updated ${clock(Date.now())}`;
    return Promise.all([loadEngagement(), loadCtr(), loadBriefing()]);
  }

  // ---- key and start ------------------------------------------------------------------------

  function storedKey() {
    try {
      return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || '';
    } catch {
      return '';
    }
  }

  function signOut(message) {
    state.key = '';
    state.liveKnown = false;
    state.visitors.clear();
    state.pages.clear();
    try {
      sessionStorage.removeItem(KEY_NAME);
      localStorage.removeItem(KEY_NAME);
    } catch {
      // storage blocked: nothing was kept
    }
    if (state.ws) state.ws.close();
    stopPolling();
    clearInterval(state.reportTimer);
    $('board').hidden = true;
    $('sign-out').hidden = true;
    $('refresh').hidden = true;
    $('key-panel').hidden = false;
    $('key-error').textContent = message || '';
    $('account-name').textContent = '';
    setStatus('off', 'not connected');
  }

  async function open(key) {
    state.key = key;
    let me;
    try {
      me = await api('/api/me');
    } catch (err) {
      if (err.status !== 401) signOut(`Could not reach the service (${err.message}).`);
      return false;
    }
    state.account = me.account;
    $('account-name').textContent = `· ${me.account}`;
    $('key-panel').hidden = true;
    $('board').hidden = false;
    $('sign-out').hidden = false;
    $('refresh').hidden = false;
    connectLive();
    loadReports();
    state.reportTimer = setInterval(loadReports, REPORT_REFRESH_MS);
    return true;
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const key = $('key-input').value.trim();
      if (!key) return;
      $('key-error').textContent = '';
      if (await open(key)) {
        try {
          ($('key-remember').checked ? localStorage : sessionStorage).setItem(KEY_NAME, key);
        } catch {
          // storage blocked: the key lives only as long as this page
        }
        $('key-input').value = '';
      }
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('refresh').addEventListener('click', () => loadReports());
    $('briefing-since').addEventListener('change', () => loadBriefing());
    const key = storedKey();
    if (key) open(key);
    else signOut();
  });
})();
