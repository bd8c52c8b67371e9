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
    /** Events shown in the open timeline. */
    timelineCount: 0,
    /** Reloads left for a live change the store does not show yet (it lags by about a flush). */
    timelineRetries: 0,
    /** The open timeline's visitor left: reload until their `leave` is stored. */
    awaitLeave: false,
    /** Reloads after opening a live visitor's session: their latest events may not be stored yet. */
    timelineSettle: 0,
    /** Concurrency: stored per-minute samples, then the live count at every change since the first snapshot. */
    onlineSamples: [],
    sampleMs: 60_000,
    liveSince: 0,
    livePoints: [],
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

  /** A relative time that keeps itself current (the ticker below rewrites every [data-ago]). */
  function agoEl(ms) {
    return ms ? h('time', { 'data-ago': ms, datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() }, ago(ms)) : '';
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
      return h(
        'span',
        { class: 'who' },
        h('span', { class: 'person', 'data-person': person }, person),
        list.length > 1 ? h('span', { class: 'muted small' }, ` · ${list.length} devices`) : null,
      );
    }
    return h('span', { class: 'anon', title: list.join(', ') }, 'anonymous ', h('span', { class: 'muted' }, short(list[0])));
  }

  /** A table from rows and column specs `{ label, value(row), num? }`; value may return a node. */
  function table(rows, columns, onRow, rowAttrs) {
    return h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', { class: c.num ? 'num' : undefined }, c.label)),
        ),
      ),
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
    el.replaceChildren(
      h('p', { class: 'unavailable' }, 'unavailable', h('span', { class: 'muted small' }, ` (${err && err.message ? err.message : 'no answer'})`)),
    );
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
        // The visitor's final events (their `leave`) are stored after this message: fetch them.
        if (m.visitorId === state.sessionVisitor) {
          state.awaitLeave = true;
          reloadTimelineSoon(10);
        }
        break;
      case 'event': {
        const v = state.visitors.get(m.visitorId);
        const e = m.event || {};
        if (v && e.type !== 'heartbeat') v.lastActivity = e.ts || Date.now();
        if (m.visitorId === state.sessionVisitor) reloadTimelineSoon(1);
        break;
      }
      default:
        return;
    }
    renderLive();
  }

  function renderLive() {
    if (!state.liveKnown) return;
    recordLiveCount();
    const c = state.counts;
    $('online-total').textContent = num(c.online);
    $('online-auth').textContent = num(c.authenticated);
    $('online-anon').textContent = num(c.anonymous);
    $('online-auth-pct').textContent = pct(c.authenticated, c.online);
    $('online-anon-pct').textContent = pct(c.anonymous, c.online);

    const pages = [...state.pages].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 30);
    $('pages-body').replaceChildren(
      ...pages.map(([path, count]) => h('tr', { 'data-path': path }, h('td', { class: 'path' }, path), h('td', { class: 'num' }, num(count)))),
    );
    $('pages-empty').textContent = 'nobody online right now';
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
          h(
            'td',
            {},
            who(v.personId, v.visitorId),
            v.segment ? h('span', { class: 'tag', title: 'segment' }, v.segment) : null,
            v.crossSegment ? h('span', { class: 'tag cross', title: `on a ${v.pageSegment} page` }, `→ ${v.pageSegment}`) : null,
          ),
          h('td', { class: 'path' }, v.path, v.title ? h('div', { class: 'muted small' }, v.title) : null),
          h('td', { class: 'num' }, num(v.pagesViewed)),
          h('td', { class: 'small' }, [v.uaFamily, v.device].filter(Boolean).join(' · '), v.tabs > 1 ? h('div', { class: 'muted' }, `${v.tabs} tabs`) : null),
          h('td', {}, clock(v.joinedAt)),
          h('td', { class: 'last-active' }, agoEl(v.lastActivity)),
        ),
      ),
    );
    $('visitors-empty').textContent = 'nobody online right now';
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

  // Relative times tick between refreshes; the concurrency line slides on with the clock.
  setInterval(() => {
    for (const el of document.querySelectorAll('[data-ago]')) {
      const text = ago(Number(el.dataset.ago));
      if (el.textContent !== text) el.textContent = text;
    }
  }, 1000);
  setInterval(() => {
    if (state.liveKnown && state.key) drawOnline();
  }, 5000);

  // ---- session timeline ---------------------------------------------------------------------

  function openSession(sessionId, visitorId, personId) {
    state.session = sessionId;
    clearTimeout(state.timelineTimer);
    state.timelineTimer = 0;
    state.timelineCount = 0;
    state.timelineRetries = 0;
    state.awaitLeave = false;
    state.timelineSettle = state.visitors.has(visitorId) ? 2 : 0;
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

  /** Reload the open timeline in `ms`, unless a reload is already due (a burst of events makes one). */
  function scheduleTimeline(ms) {
    const session = state.session;
    if (!session || state.timelineTimer) return;
    state.timelineTimer = setTimeout(() => {
      state.timelineTimer = 0;
      loadTimeline(session);
    }, ms);
  }

  /** A live event of the open timeline's visitor: reload, and retry while the store has not caught up. */
  function reloadTimelineSoon(retries) {
    state.timelineRetries = Math.max(state.timelineRetries, retries);
    scheduleTimeline(TIMELINE_RELOAD_MS);
  }

  /** After a load: look again while the store may still be behind what the live feed reported. */
  function retryTimeline(grew) {
    if (state.timelineSettle > 0) {
      state.timelineSettle--;
      scheduleTimeline(2 * TIMELINE_RELOAD_MS);
    } else if (state.timelineRetries > 0 && (state.awaitLeave || !grew)) {
      state.timelineRetries--;
      scheduleTimeline(2 * TIMELINE_RELOAD_MS);
    } else {
      state.timelineRetries = 0;
    }
  }

  async function loadTimeline(sessionId) {
    const body = $('timeline-body');
    let detail;
    try {
      detail = await api(`/api/sessions/${encodeURIComponent(sessionId)}?limit=500`);
    } catch (err) {
      if (state.session !== sessionId) return;
      retryTimeline(false);
      if (err.status === 404) body.replaceChildren(h('p', { class: 'muted' }, 'nothing stored for this session yet (events land within a few seconds)'));
      else unavailable(body, err);
      return;
    }
    if (state.session !== sessionId) return;
    const events = detail.timeline || [];
    const grew = events.length > state.timelineCount;
    state.timelineCount = events.length;
    if (events.length && events[events.length - 1].type === 'leave') state.awaitLeave = false;
    retryTimeline(grew);
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
          ? table(
              rows,
              [
                { label: '#', num: true, value: (r) => num(r.rank) },
                { label: 'who', value: (r) => who(r.personId, r.visitorIds) },
                { label: 'score', num: true, value: (r) => num(r.score) },
                { label: 'recency', num: true, value: (r) => num(r.recency) },
                { label: 'depth', num: true, value: (r) => num(r.depth) },
                { label: 'dwell', num: true, value: (r) => num(r.dwell) },
                { label: 'page views', num: true, value: (r) => num(r.pageViews) },
                { label: 'engaged', num: true, value: (r) => duration(r.dwellMs) },
                { label: 'last seen', value: (r) => agoEl(r.lastSeenMs || toMs(r.lastSeen)) },
              ],
              openWho,
            )
          : h('p', { class: 'muted' }, 'nobody to call yet'),
        ...(data.formula ? [h('p', { class: 'muted small formula' }, data.formula)] : []),
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  async function loadCtr() {
    const el = $('ctr-body');
    try {
      const data = await api('/api/ctr?from=30d');
      const o = data.overall || {};
      const clicks = Number(o.clicks) || 0;
      const shown = Number(o.impressions) || 0;
      const clickText = `${num(clicks)} ${clicks === 1 ? 'click' : 'clicks'}`;
      if (!shown) {
        // No impressions: there is no rate to show, only the clicks that came without one.
        el.replaceChildren(
          h('p', { class: 'muted', id: 'ctr-empty' }, 'no recommendations shown in this window'),
          ...(clicks
            ? [
                h(
                  'p',
                  { class: 'muted small' },
                  `${clickText} on recommended links without a recorded impression (the recommender reports what it showed with POST /api/recommendations)`,
                ),
              ]
            : []),
        );
        return;
      }
      const rows = (data.listings || []).slice(0, 10);
      el.replaceChildren(
        h(
          'div',
          { class: 'ctr-overall' },
          h('span', { class: 'big', id: 'ctr-overall' }, rate(o.ctr)),
          h('div', { class: 'muted' }, `${clickText} on ${num(shown)} recommended ${shown === 1 ? 'listing' : 'listings'} shown`),
        ),
        table(rows, [
          { label: 'listing', cls: 'path', value: (r) => r.listing },
          { label: 'shown', num: true, value: (r) => num(r.impressions) },
          { label: 'clicks', num: true, value: (r) => num(r.clicks) },
          { label: 'CTR', num: true, value: (r) => rate(r.ctr) },
        ]),
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
          ? table(
              rows,
              [
                { label: 'who', value: (r) => who(r.personId, r.visitorIds) },
                {
                  label: 'looked at',
                  value: (r) =>
                    h(
                      'ul',
                      { class: 'looked' },
                      (r.pages || []).map((p) =>
                        h('li', { title: p.path }, p.title || p.path, p.views > 1 ? h('span', { class: 'muted' }, ` ×${p.views}`) : null),
                      ),
                    ),
                },
                { label: 'visits', num: true, value: (r) => num(r.sessions) },
                { label: 'engaged', num: true, value: (r) => duration(r.dwellMs) },
                { label: 'last seen', value: (r) => agoEl(toMs(r.lastSeen)) },
              ],
              openWho,
            )
          : h('p', { class: 'muted' }, 'nobody in this window'),
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  function loadReports() {
    $('updated').textContent = `reports updated ${clock(Date.now())}`;
    return Promise.all([loadEngagement(), loadCtr(), loadBriefing(), loadCharts()]);
  }

  // ---- charts (uPlot, served by the gateway at /vendor/uplot.min.js) -------------------------

  const COLOR = {
    accent: '#2456d6',
    accentFill: 'rgba(36, 86, 214, 0.10)',
    bar: 'rgba(36, 86, 214, 0.55)',
    ok: '#19875a',
    purple: '#805ad5',
    gray: 'rgba(107, 115, 133, 0.28)',
    muted: '#6b7385',
    line: '#e3e6ec',
  };
  /** Whole-number steps for count axes (uPlot's default steps include fractions). */
  const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
  const HOUR_MS = 3_600_000;
  const DAY_MS = 24 * HOUR_MS;
  const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  /** id → uPlot instance. */
  const charts = new Map();

  function axis(extra) {
    return {
      stroke: COLOR.muted,
      grid: { stroke: COLOR.line, width: 1 },
      ticks: { stroke: COLOR.line, width: 1, size: 4 },
      font: '11px system-ui, sans-serif',
      ...extra,
    };
  }

  const countAxis = (extra) => axis({ incrs: COUNT_STEPS, size: 40, ...extra });
  /** Counts start at zero and leave headroom; an empty series still gets a 0–1 axis. */
  const countRange = (_u, _min, max) => [0, Math.max(1, Math.ceil((max || 0) * 1.15))];
  const bars = (size) => (window.uPlot ? uPlot.paths.bars({ size: [size, 48] }) : undefined);

  /**
   * Draw `data` (uPlot's columns: x, then one array a series) into #id, creating the chart on
   * first use. The container's data-* attributes say what was drawn (points, last values,
   * totals), for the browser tests and anyone reading the DOM.
   */
  function plot(id, options, data, emptyText) {
    const el = $(id);
    if (!window.uPlot) {
      el.replaceChildren(h('p', { class: 'unavailable' }, 'charts unavailable (uPlot did not load)'));
      return;
    }
    let u = charts.get(id);
    if (!u) {
      el.replaceChildren();
      u = new uPlot({ width: Math.max(240, el.clientWidth), ms: 1, cursor: { drag: { x: false, y: false } }, ...options() }, data, el);
      charts.set(id, u);
      const chart = u;
      new ResizeObserver(() => {
        const w = el.clientWidth;
        if (w > 0 && Math.abs(w - chart.width) > 1) chart.setSize({ width: w, height: chart.height });
      }).observe(el);
    } else {
      u.setData(data);
    }
    const series = data.slice(1);
    const totals = series.map((col) => col.reduce((sum, v) => sum + (Number(v) || 0), 0));
    el.dataset.points = String(data[0].length);
    el.dataset.series = String(series.length);
    el.dataset.last = JSON.stringify(series.map((col) => (col.length ? col[col.length - 1] : null)));
    el.dataset.totals = JSON.stringify(totals);
    let overlay = el.querySelector('.chart-empty');
    const empty = totals.every((t) => t === 0);
    if (empty && !overlay) el.append((overlay = h('div', { class: 'chart-empty' })));
    if (overlay) {
      overlay.textContent = emptyText;
      overlay.hidden = !empty;
    }
  }

  function note(id, text) {
    $(`${id}-note`).textContent = text;
  }

  function chartFailed(id, err) {
    if (charts.has(id)) note(id, `unavailable (${err && err.message ? err.message : 'no answer'})`);
    else unavailable($(id), err);
  }

  // Concurrent visitors: the stored per-minute samples up to the first snapshot, then every change
  // of the live count since, then the count now. Joins and leaves move the end of the line at once.

  function onlineWindowMs() {
    return Number($('concurrency-window').value) * HOUR_MS;
  }

  /** Called at every live message: a changed count becomes a point of the line. */
  function recordLiveCount() {
    const now = Date.now();
    if (!state.liveSince) state.liveSince = now;
    const last = state.livePoints[state.livePoints.length - 1];
    if (last && last[1] === state.counts.online) return;
    if (last && now <= last[0]) last[1] = state.counts.online;
    else state.livePoints.push([now, state.counts.online]);
    const keepFrom = now - DAY_MS;
    while (state.livePoints.length > 1 && state.livePoints[0][0] < keepFrom) state.livePoints.shift();
    drawOnline();
  }

  function onlineData() {
    const now = Date.now();
    const from = now - onlineWindowMs();
    const xs = [];
    const ys = [];
    const push = (t, v) => {
      if (xs.length && t <= xs[xs.length - 1]) return;
      xs.push(t);
      ys.push(v);
    };
    // A sample missing for longer than a few intervals (the service was down) is a gap, not a line.
    const gapMs = 2.5 * state.sampleMs;
    let prev = 0;
    for (const p of state.onlineSamples) {
      if (p.t < from || (state.liveSince && p.t >= state.liveSince)) continue;
      if (prev && p.t - prev > gapMs) push(prev + state.sampleMs, null);
      push(p.t, p.online);
      prev = p.t;
    }
    for (const [t, v] of state.livePoints) if (t >= from) push(t, v);
    if (state.liveKnown) push(now, state.counts.online);
    return [xs, ys];
  }

  function drawOnline() {
    const data = onlineData();
    plot(
      'chart-online',
      () => ({
        height: 190,
        scales: { x: { time: true, range: () => [Date.now() - onlineWindowMs(), Date.now()] }, y: { range: countRange } },
        axes: [axis(), countAxis()],
        series: [
          {},
          { label: 'online', stroke: COLOR.accent, fill: COLOR.accentFill, width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
        ],
      }),
      data,
      'nobody online in this window',
    );
    const values = data[1].filter((v) => v !== null);
    const sampled = state.onlineSamples.some((p) => p.t >= Date.now() - onlineWindowMs());
    note(
      'chart-online',
      `${values.length ? `peak ${num(Math.max(...values))} in this window · ` : ''}${sampled ? `a sample every ${state.sampleMs % 60_000 ? duration(state.sampleMs) : state.sampleMs === 60_000 ? 'minute' : `${state.sampleMs / 60_000} minutes`}, live since ${clock(state.liveSince)}` : 'no samples stored in this window yet: the line starts when this page opened'}`,
    );
  }

  async function loadOnlineSeries() {
    try {
      const data = await api(`/api/online/series?from=${onlineWindowMs() / HOUR_MS}h`);
      state.onlineSamples = data.points || [];
      state.sampleMs = Number(data.sampleMs) || 60_000;
      drawOnline();
    } catch (err) {
      chartFailed('chart-online', err);
    }
  }

  /** A bucketed series' x range: half a bucket either side, so the first and last bars show whole. */
  const bucketRange = (stepMs) => (_u, min, max) => [min - stepMs / 2, max + stepMs / 2];

  async function loadTraffic() {
    const bucket = $('traffic-bucket').value;
    const stepMs = bucket === 'day' ? DAY_MS : HOUR_MS;
    try {
      const data = await api(`/api/timeseries?bucket=${bucket}&from=${bucket === 'day' ? '30d' : '48h'}&tz=${encodeURIComponent(TZ)}`);
      const points = data.points || [];
      const cols = [points.map((p) => p.t), points.map((p) => p.pageViews), points.map((p) => p.visitors)];
      // The x range depends on the bucket: a new bucket needs a new chart.
      if (charts.get('chart-traffic') && $('chart-traffic').dataset.bucket !== bucket) {
        charts.get('chart-traffic').destroy();
        charts.delete('chart-traffic');
      }
      $('chart-traffic').dataset.bucket = bucket;
      plot(
        'chart-traffic',
        () => ({
          height: 220,
          scales: { x: { time: true, range: bucketRange(stepMs) }, y: { range: countRange } },
          axes: [axis(), countAxis()],
          series: [
            {
              value: (_u, v) =>
                v === null
                  ? '–'
                  : bucket === 'day'
                    ? new Date(v).toLocaleDateString([], { weekday: 'short', month: 'short', day: 'numeric' })
                    : new Date(v).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' }),
            },
            { label: 'page views', stroke: COLOR.accent, fill: COLOR.bar, width: 0, paths: bars(0.7), points: { show: false } },
            { label: 'visitors', stroke: COLOR.ok, width: 2, points: { show: true, size: 4 } },
          ],
        }),
        cols,
        `no page views in this window`,
      );
      const views = cols[1].reduce((a, b) => a + b, 0);
      const busiest = Math.max(0, ...cols[2]);
      note(
        'chart-traffic',
        `${num(views)} ${views === 1 ? 'page view' : 'page views'} in the window · the busiest ${bucket} had ${num(busiest)} ${busiest === 1 ? 'visitor' : 'visitors'} · times in ${TZ}`,
      );
    } catch (err) {
      chartFailed('chart-traffic', err);
    }
  }

  async function loadTopPages() {
    const el = $('top-pages-body');
    try {
      const data = await api('/api/top-pages?from=24h&limit=8');
      const pages = data.pages || [];
      if (!pages.length) {
        el.replaceChildren(h('p', { class: 'muted' }, 'no page views in the last 24 hours'));
        return;
      }
      const max = Math.max(...pages.map((p) => p.pageViews));
      el.replaceChildren(
        h(
          'ol',
          { class: 'bars', id: 'top-pages' },
          pages.map((p) => {
            const fill = h('span', { class: 'fill' });
            // Through the CSSOM: the page's CSP allows no inline style attributes.
            fill.style.width = `${(p.pageViews / max) * 100}%`;
            return h(
              'li',
              { 'data-path': p.path, 'data-views': p.pageViews },
              h('span', { class: 'bar-label', title: p.path }, p.title || p.path, p.title ? h('span', { class: 'muted small' }, p.path) : null),
              h('span', { class: 'num' }, h('strong', {}, num(p.pageViews)), ` · ${num(p.visitors)} ${p.visitors === 1 ? 'visitor' : 'visitors'}`),
              h('span', { class: 'bar' }, fill),
            );
          }),
        ),
      );
    } catch (err) {
      unavailable(el, err);
    }
  }

  async function loadCtrSeries() {
    try {
      const data = await api(`/api/ctr/series?bucket=day&from=30d&tz=${encodeURIComponent(TZ)}`);
      const points = data.points || [];
      const cols = [
        points.map((p) => p.t),
        points.map((p) => p.impressions),
        points.map((p) => p.clicks),
        points.map((p) => (p.ctr === null ? null : Math.round(p.ctr * 1000) / 10)),
      ];
      plot(
        'chart-ctr',
        () => ({
          height: 170,
          scales: {
            x: { time: true, range: bucketRange(DAY_MS) },
            n: { range: countRange },
            pct: { range: (_u, _min, max) => [0, Math.max(10, Math.ceil(((max || 0) * 1.15) / 10) * 10)] },
          },
          axes: [
            axis(),
            axis({ scale: 'pct', size: 44, values: (_u, vals) => vals.map((v) => `${v} %`) }),
            countAxis({ scale: 'n', side: 1, grid: { show: false } }),
          ],
          series: [
            { value: (_u, v) => (v === null ? '–' : new Date(v).toLocaleDateString([], { month: 'short', day: 'numeric' })) },
            { label: 'shown', scale: 'n', stroke: COLOR.gray, fill: COLOR.gray, width: 0, paths: bars(0.8), points: { show: false } },
            { label: 'clicks', scale: 'n', stroke: COLOR.bar, fill: COLOR.bar, width: 0, paths: bars(0.4), points: { show: false } },
            {
              label: 'CTR',
              scale: 'pct',
              stroke: COLOR.purple,
              width: 2,
              spanGaps: true,
              points: { show: true, size: 5 },
              value: (_u, v) => (v === null ? '–' : `${v} %`),
            },
          ],
        }),
        cols,
        'no recommendations in the last 30 days',
      );
      note('chart-ctr', 'per day: recommendations shown, clicked, and the click-through rate');
    } catch (err) {
      chartFailed('chart-ctr', err);
    }
  }

  function loadCharts() {
    return Promise.all([loadOnlineSeries(), loadTraffic(), loadTopPages(), loadCtrSeries()]);
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
    state.liveSince = 0;
    state.livePoints = [];
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
    $('traffic-bucket').addEventListener('change', () => loadTraffic());
    $('concurrency-window').addEventListener('change', () => loadOnlineSeries());
    const key = storedKey();
    if (key) open(key);
    else signOut();
  });
})();
