/*
 * visitor snippet: one tag, no dependencies, ES5 syntax.
 *   <script src="https://collect.example.com/t.js" data-account="acme" async></script>
 * Options (attributes of that tag): data-account (required), data-endpoint (default: the
 * script's own origin), data-heartbeat-ms (default 15000), data-consent="required" (send
 * nothing until mxy('consent', true)), data-segment (a visitor trait).
 * Page API: mxy('consent', true|false), mxy('track', label, props), mxy('pageview'),
 * mxy('segment', value). Calls made before the script loads are queued in mxy.q.
 * Every entry point runs inside guard(): nothing here may throw into the host page.
 * The gateway serves this file with comment-only lines and indentation stripped (line breaks
 * kept, so semicolon insertion is unchanged): keep comments on lines of their own.
 */
(function (main) {
  try {
    main(window, document);
  } catch (e) {
    // The host page must never see an error of ours.
  }
})(function (w, d) {
  'use strict';
  var VERSION = '1';
  var MAX_BATCH = 20;
  var MAX_QUEUE = 200;
  var FLUSH_DELAY_MS = 250;
  var MAX_BACKOFF_MS = 60000;
  var SESSION_IDLE_MS = 30 * 60000;
  var MILESTONES = [25, 50, 75, 100];
  var DOWNLOAD_RE = /\.(pdf|zip|rar|7z|gz|tgz|bz2|xz|dmg|exe|msi|pkg|apk|iso|csv|tsv|txt|rtf|docx?|xlsx?|pptx?|od[tsp]|epub|mp3|wav|mp4|mov|avi|mkv)$/i;

  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        return undefined;
      }
    };
  }

  function now() {
    return new Date().getTime();
  }

  function attr(el, name) {
    return el && el.getAttribute ? el.getAttribute(name) : null;
  }

  function clip(s, n) {
    s = s == null ? '' : String(s);
    return s.length > n ? s.slice(0, n) : s;
  }

  function uuid() {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = '';
    for (var j = 0; j < 16; j++) h += (b[j] + 256).toString(16).slice(1) + (j === 3 || j === 5 || j === 7 || j === 9 ? '-' : '');
    return h;
  }

  function store(kind) {
    try {
      var s = w[kind];
      s.setItem('mxy_t', '1');
      s.removeItem('mxy_t');
      return s;
    } catch (e) {
      return null;
    }
  }

  function cookieGet(name) {
    var m = d.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function cookieSet(name, value, maxAge) {
    d.cookie = name + '=' + encodeURIComponent(value) + '; Max-Age=' + maxAge + '; Path=/; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
  }

  function closest(el, test) {
    for (var n = 0; el && n < 20; n++, el = el.parentNode) {
      if (el.nodeType === 1 && test(el)) return el;
    }
    return null;
  }

  var script = d.currentScript;
  if (!script) {
    var tagged = d.querySelectorAll('script[data-account]');
    script = tagged[tagged.length - 1];
  }
  if (!script || w.__mxyLoaded) return;
  w.__mxyLoaded = VERSION;

  var account = attr(script, 'data-account');
  var endpoint = attr(script, 'data-endpoint');
  if (!endpoint) {
    var a = d.createElement('a');
    a.href = script.src;
    endpoint = a.protocol + '//' + a.host;
  }
  endpoint = endpoint.replace(/\/+$/, '') + '/v/event';
  var heartbeatMs = Math.max(1000, parseInt(attr(script, 'data-heartbeat-ms'), 10) || 15000);
  var segment = attr(script, 'data-segment');
  var local = store('localStorage');
  var session = store('sessionStorage');
  var nav = navigator;

  var dnt = nav.doNotTrack === '1' || nav.doNotTrack === 'yes' || w.doNotTrack === '1' || nav.msDoNotTrack === '1' || nav.globalPrivacyControl === true;
  var consentRequired = attr(script, 'data-consent') === 'required' || w.mxyConsent === false;
  var consent = !consentRequired || w.mxyConsent === true;
  var started = false;

  var visitorId = null;
  var sessionId = null;
  var memorySession = null;

  function visitor() {
    if (visitorId) return visitorId;
    var id = (local && local.getItem('mxy_a')) || cookieGet('mxy_a');
    if (!id || !/^[A-Za-z0-9._:-]{1,128}$/.test(id)) id = uuid();
    if (local) local.setItem('mxy_a', id);
    else cookieSet('mxy_a', id, 31536000);
    visitorId = id;
    return id;
  }

  // One session per tab; a tab idle for 30 minutes starts a new one.
  function sessionOf(t) {
    var raw = session ? session.getItem('mxy_s') : memorySession;
    var parts = raw ? raw.split('|') : [];
    var id = parts[0];
    if (!id || !/^[A-Za-z0-9._:-]{1,128}$/.test(id) || t - (+parts[1] || 0) > SESSION_IDLE_MS) id = uuid();
    raw = id + '|' + t;
    if (session) session.setItem('mxy_s', raw);
    else memorySession = raw;
    sessionId = id;
    return id;
  }

  function listing() {
    var m = d.querySelector('meta[name="mxy:listing"]');
    var v = m && m.getAttribute('content');
    return v && /^[A-Za-z0-9._~-]{1,256}$/.test(v) ? v : undefined;
  }

  // Engaged time: milliseconds the page view was visible, summed over visible spells.
  var view = null;

  function visible() {
    return d.visibilityState !== 'hidden';
  }

  function dwell() {
    if (!view) return 0;
    var ms = view.engaged + (view.visibleSince ? now() - view.visibleSince : 0);
    return Math.max(0, Math.min(86400000, Math.round(ms)));
  }

  var queue = [];
  var flushTimer = null;
  var backoffMs = 0;
  var retryAt = 0;

  var lastTs = 0;

  function send(type, fields) {
    if (!started || !account) return;
    // Strictly increasing, so events of one burst (scroll milestones) keep their order in a timeline.
    var t = Math.max(now(), lastTs + 1);
    lastTs = t;
    var e = {
      account: account,
      type: type,
      sessionId: sessionOf(t),
      visitorId: visitor(),
      path: clip(view ? view.path : location.pathname, 2048) || '/',
      eventId: uuid(),
      ts: t,
      url: clip(view ? view.url : location.href, 4096),
      title: clip(d.title, 512)
    };
    if (segment && /^[A-Za-z0-9 _.-]{1,64}$/.test(segment)) e.segment = segment;
    if (view && view.listing) e.listing = view.listing;
    for (var k in fields) if (fields.hasOwnProperty(k) && fields[k] !== undefined && fields[k] !== null) e[k] = fields[k];
    queue.push(e);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    schedule(queue.length >= MAX_BATCH ? 0 : FLUSH_DELAY_MS);
  }

  function schedule(delay) {
    if (flushTimer) return;
    var wait = Math.max(delay, retryAt - now());
    flushTimer = setTimeout(guard(function () {
      flushTimer = null;
      flush();
    }), wait);
  }

  function body(batch) {
    return JSON.stringify(batch.length === 1 ? batch[0] : { events: batch });
  }

  // A failed batch goes back to the front of the queue with the same event ids: the gateway drops repeats.
  function requeue(batch, retryAfterS) {
    queue = batch.concat(queue);
    if (queue.length > MAX_QUEUE) queue.splice(MAX_QUEUE, queue.length - MAX_QUEUE);
    backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs ? backoffMs * 2 : 1000);
    var wait = retryAfterS > 0 ? retryAfterS * 1000 : backoffMs;
    retryAt = now() + wait * (0.75 + Math.random() * 0.5);
    schedule(0);
  }

  function flush() {
    if (!queue.length || now() < retryAt) {
      if (queue.length) schedule(0);
      return;
    }
    if (!w.fetch) {
      beaconAll();
      return;
    }
    var batch = queue.splice(0, MAX_BATCH);
    var sent;
    try {
      // text/plain keeps it a simple request (no preflight); credentials carry the mxy_v identity cookie.
      sent = w.fetch(endpoint, {
        method: 'POST',
        body: body(batch),
        headers: { 'Content-Type': 'text/plain' },
        keepalive: true,
        credentials: 'include',
        mode: 'cors'
      });
    } catch (e) {
      requeue(batch, 0);
      return;
    }
    sent.then(guard(function (res) {
      // 4xx other than 429 will never succeed: drop the batch rather than retry it forever.
      if (res.status === 429 || res.status >= 500) {
        requeue(batch, parseInt(res.headers.get('Retry-After'), 10));
        return;
      }
      backoffMs = 0;
      retryAt = 0;
      if (queue.length) schedule(0);
    }), guard(function () {
      requeue(batch, 0);
    }));
  }

  // On the way out (tab hidden, page hidden): sendBeacon survives the page; fetch keepalive if it refuses.
  function beaconAll() {
    while (queue.length) {
      var batch = queue.splice(0, MAX_BATCH);
      var payload = body(batch);
      var ok = false;
      try {
        ok = nav.sendBeacon ? nav.sendBeacon(endpoint, payload) : false;
      } catch (e) {
        ok = false;
      }
      if (!ok && w.fetch) w.fetch(endpoint, { method: 'POST', body: payload, headers: { 'Content-Type': 'text/plain' }, keepalive: true, credentials: 'include' })['catch'](function () {});
    }
  }

  function startView(referrer) {
    var t = now();
    view = {
      path: location.pathname,
      url: location.href,
      listing: listing(),
      engaged: 0,
      visibleSince: visible() ? t : 0,
      milestones: {}
    };
    send('pageview', { referrer: clip(referrer, 4096) || undefined });
  }

  function endView(type, extra) {
    if (!view) return;
    var fields = { dwellMs: dwell() };
    for (var k in extra) if (extra.hasOwnProperty(k)) fields[k] = extra[k];
    send(type, fields);
  }

  function onRoute() {
    if (!started || !view || location.pathname === view.path) return;
    var previous = view.url;
    endView('nav', { props: { to: clip(location.pathname, 512) } });
    view = null;
    // The app renders the new route (title, listing meta) right after pushState: read them a task later.
    setTimeout(guard(function () {
      if (started && !view) startView(previous);
    }), 0);
  }

  function onScroll() {
    if (!view) return;
    var el = d.documentElement;
    var height = Math.max(el.scrollHeight, d.body ? d.body.scrollHeight : 0);
    var seen = (w.pageYOffset || el.scrollTop || 0) + (w.innerHeight || el.clientHeight);
    if (height <= 0 || seen <= (w.innerHeight || el.clientHeight)) return;
    var pct = seen >= height - 2 ? 100 : (seen / height) * 100;
    for (var i = 0; i < MILESTONES.length; i++) {
      var m = MILESTONES[i];
      if (pct >= m && !view.milestones[m]) {
        view.milestones[m] = 1;
        send('scroll', { depth: m });
      }
    }
  }

  var scrollTimer = null;

  function onScrollThrottled() {
    if (scrollTimer) return;
    scrollTimer = setTimeout(guard(function () {
      scrollTimer = null;
      onScroll();
    }), 150);
  }

  function linkKind(link) {
    var href = link.href;
    if (!href || !/^https?:/i.test(link.protocol || '')) return null;
    if (link.hasAttribute('download') || DOWNLOAD_RE.test(link.pathname || '')) return 'download';
    if (link.host && link.host !== location.host) return 'outbound';
    return null;
  }

  function onClick(ev) {
    if (ev.type === 'auxclick' && ev.button !== 1) return;
    var target = ev.target;
    // data-track on a form names its submit event; clicks inside the form are not clicks on it.
    var tracked = closest(target, function (el) {
      return el.hasAttribute('data-track') && el.tagName !== 'FORM';
    });
    if (tracked && ev.type === 'click') send('click', { label: clip(attr(tracked, 'data-track'), 128) || undefined });
    var link = closest(target, function (el) {
      return el.tagName === 'A' || el.tagName === 'AREA';
    });
    var kind = link && linkKind(link);
    if (kind === 'download') {
      var file = (link.pathname || '').split('/').pop();
      send('download', { label: clip(attr(link, 'download') || file || link.href, 128), props: { href: clip(link.href, 512) } });
    } else if (kind === 'outbound' && !tracked) {
      send('click', { label: 'outbound', props: { href: clip(link.href, 512) } });
    }
  }

  function onSubmit(ev) {
    var form = ev.target;
    if (!form || form.tagName !== 'FORM') return;
    var label = attr(form, 'data-track') || form.id || attr(form, 'name') || 'form';
    var action = attr(form, 'action') || '';
    send('form_submit', { label: clip(label, 128), props: { action: clip(action.split('?')[0], 512) } });
  }

  var heartbeatTimer = null;

  function heartbeats(on) {
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    heartbeatTimer = null;
    if (on) heartbeatTimer = setInterval(guard(function () {
      if (visible()) send('heartbeat', {});
    }), heartbeatMs);
  }

  function onVisibility() {
    if (!view) return;
    if (visible()) {
      if (!view.visibleSince) view.visibleSince = now();
      heartbeats(true);
    } else {
      if (view.visibleSince) view.engaged += now() - view.visibleSince;
      view.visibleSince = 0;
      heartbeats(false);
      beaconAll();
    }
  }

  function onPageHide() {
    if (!started) return;
    endView('leave', {});
    heartbeats(false);
    beaconAll();
    view = null;
  }

  function onPageShow(ev) {
    // Back from the back/forward cache: the page is alive again without a fresh load.
    if (ev.persisted && started && !view) {
      startView(d.referrer);
      if (visible()) heartbeats(true);
    }
  }

  function hookHistory(name) {
    var original = w.history && w.history[name];
    if (typeof original !== 'function') return;
    w.history[name] = function () {
      var result = original.apply(this, arguments);
      guard(onRoute)();
      return result;
    };
  }

  function start() {
    if (started || dnt || !consent || !account) return;
    started = true;
    startView(d.referrer);
    if (visible()) heartbeats(true);
  }

  function stop() {
    started = false;
    heartbeats(false);
    queue = [];
    view = null;
    visitorId = null;
    if (local) local.removeItem('mxy_a');
    if (session) session.removeItem('mxy_s');
    cookieSet('mxy_a', '', 0);
  }

  function api(cmd, a1, a2) {
    if (cmd === 'consent') {
      consent = a1 !== false;
      if (consent) start();
      else stop();
    } else if (cmd === 'track') {
      send('custom', { label: clip(a1, 128) || undefined, props: a2 && typeof a2 === 'object' ? a2 : undefined });
    } else if (cmd === 'pageview') {
      if (view) endView('nav', { props: { to: clip(location.pathname, 512) } });
      startView(view ? view.url : d.referrer);
    } else if (cmd === 'segment') {
      segment = a1 ? String(a1) : null;
    }
  }

  var pending = w.mxy && w.mxy.q;
  w.mxy = guard(api);
  hookHistory('pushState');
  hookHistory('replaceState');
  w.addEventListener('popstate', guard(onRoute));
  w.addEventListener('scroll', guard(onScrollThrottled), { passive: true });
  d.addEventListener('click', guard(onClick), true);
  d.addEventListener('auxclick', guard(onClick), true);
  d.addEventListener('submit', guard(onSubmit), true);
  d.addEventListener('visibilitychange', guard(onVisibility));
  w.addEventListener('pagehide', guard(onPageHide));
  w.addEventListener('pageshow', guard(onPageShow));
  w.addEventListener('online', guard(function () {
    retryAt = 0;
    if (queue.length) schedule(0);
  }));
  // Queued consent and segment apply before the first page view; queued events after it.
  var later = [];
  for (var q = 0; pending && q < pending.length; q++) {
    if (pending[q][0] === 'consent' || pending[q][0] === 'segment') w.mxy.apply(w, pending[q]);
    else later.push(pending[q]);
  }
  start();
  for (var r = 0; r < later.length; r++) w.mxy.apply(w, later[r]);
});
