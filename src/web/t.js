/*
 * visitor snippet: one tag, no dependencies, ES5 syntax.
 *   <script src="https://collect.example.com/t.js" data-account="acme" async></script>
 * Options (attributes of that tag): data-account (required), data-endpoint (default: the
 * script's own origin), data-heartbeat-ms (default 15000), data-consent="required" (send
 * nothing until mxy('consent', true)), data-segment (a visitor trait).
 * Page API: mxy('consent', true|false), mxy('track', label, props), mxy('pageview'),
 * mxy('segment', value). Calls made before the script loads are queued in mxy.q.
 * Every entry point runs inside guard(): nothing here may throw into the host page.
 * This is the source: the gateway serves t.min.js, its esbuild output (`npm run build:snippet`;
 * test/unit/web.snippet.test.ts fails when the two differ).
 */
(function (main) {
  try {
    main(window, document, navigator);
  } catch (e) {
    // The host page must never see an error of ours.
  }
})(function (w, d, nav) {
  'use strict';
  // The server's limits (src/domain/event.schema.ts); test/unit/web.snippet.test.ts holds them equal.
  var MAX_BATCH = 20;
  var MAX_PROPS_BYTES = 2048;
  var MAX_PROPS_KEYS = 32;
  var MAX_PROP_VALUE = 512;
  var MAX_PATH = 2048;
  var MAX_URL = 4096;
  var MAX_TITLE = 512;
  var MAX_LABEL = 128;
  var MAX_DWELL_MS = 86400000;
  var ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
  var LISTING_RE = /^[A-Za-z0-9._~-]{1,256}$/;
  var SEGMENT_RE = /^[A-Za-z0-9 _.-]{1,64}$/;

  var MAX_QUEUE = 200;
  var SESSION_IDLE_MS = 30 * 60000;
  var DOWNLOAD_RE = /\.(pdf|zip|rar|7z|t?gz|bz2|xz|dmg|exe|msi|pkg|apk|iso|[ct]sv|txt|rtf|docx?|xlsx?|pptx?|od[tsp]|epub|mp[34]|wav|mov|avi|mkv)$/i;

  function guard(fn) {
    return function (a, b, c) {
      try {
        return fn(a, b, c);
      } catch (e) {}
    };
  }

  function now() {
    return +new Date();
  }

  function clip(s, n) {
    return s == null ? '' : String(s).slice(0, n);
  }

  // RFC 4122 version 4 from crypto.getRandomValues (randomUUID needs a secure context).
  function uuid() {
    return '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, function (c) {
      return (c ^ (w.crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16);
    });
  }

  function storage(kind) {
    try {
      var s = w[kind];
      s.setItem('mxy_t', 1);
      s.removeItem('mxy_t');
      return s;
    } catch (e) {}
  }

  function setCookie(value, maxAge) {
    d.cookie = 'mxy_a=' + value + '; Max-Age=' + maxAge + '; Path=/; SameSite=Lax' + (location.protocol == 'https:' ? '; Secure' : '');
  }

  /** s when it matches re, else null. */
  function valid(re, s) {
    return s && re.test(s) ? s : null;
  }

  function extend(to, from) {
    for (var k in from) if (from.hasOwnProperty(k) && from[k] != null) to[k] = from[k];
    return to;
  }

  var script = d.currentScript || [].slice.call(d.querySelectorAll('script[data-account]')).pop();
  if (!script || w.__mxyLoaded) return;
  w.__mxyLoaded = 1;

  function attr(name) {
    return script.getAttribute('data-' + name);
  }

  var account = attr('account');
  var endpoint = (attr('endpoint') || new URL(script.src).origin).replace(/\/+$/, '') + '/v/event';
  var heartbeatMs = Math.max(1000, parseInt(attr('heartbeat-ms'), 10) || 15000);
  var segment = attr('segment');
  var local = storage('localStorage');
  var tab = storage('sessionStorage');
  var dnt = nav.doNotTrack == '1' || nav.doNotTrack == 'yes' || w.doNotTrack == '1' || nav.msDoNotTrack == '1' || nav.globalPrivacyControl === true;
  var consent = (attr('consent') != 'required' && w.mxyConsent !== false) || w.mxyConsent === true;
  var started = false;
  var visitorId, memorySession;

  function visitor() {
    if (!visitorId) {
      var m = d.cookie.match(/(?:^|; )mxy_a=([^;]*)/);
      visitorId = valid(ID_RE, (local && local.getItem('mxy_a')) || (m && m[1])) || uuid();
      if (local) local.setItem('mxy_a', visitorId);
      else setCookie(visitorId, 31536000);
    }
    return visitorId;
  }

  // One session per tab ("id|last event ms"); a tab idle for 30 minutes starts a new one.
  function session(t) {
    var parts = String((tab ? tab.getItem('mxy_s') : memorySession) || '').split('|');
    var id = valid(ID_RE, parts[0]) && t - parts[1] < SESSION_IDLE_MS ? parts[0] : uuid();
    memorySession = id + '|' + t;
    if (tab) tab.setItem('mxy_s', memorySession);
    return id;
  }

  // The page view being measured: its path, URL, listing, engaged time and scroll milestones.
  var viewing = false;
  var viewPath, viewUrl, viewListing, engagedMs, visibleSince, milestones;

  function visible() {
    return d.visibilityState != 'hidden';
  }

  function dwell() {
    return Math.max(0, Math.min(MAX_DWELL_MS, Math.round(engagedMs + (visibleSince ? now() - visibleSince : 0))));
  }

  var queue = [];
  var flushTimer, backoffMs, retryAt, lastTs;

  function send(type, fields) {
    if (!started) return;
    // Strictly increasing, so events of one burst (scroll milestones) keep their order in a timeline.
    var t = (lastTs = Math.max(now(), (lastTs || 0) + 1));
    queue.push(
      extend(
        extend(
          {},
          {
            account: account,
            type: type,
            sessionId: session(t),
            visitorId: visitor(),
            path: clip(viewing ? viewPath : location.pathname, MAX_PATH) || '/',
            eventId: uuid(),
            ts: t,
            url: clip(viewing ? viewUrl : location.href, MAX_URL),
            title: clip(d.title, MAX_TITLE),
            segment: valid(SEGMENT_RE, segment),
            listing: viewing ? viewListing : null,
          },
        ),
        fields,
      ),
    );
    queue.splice(0, queue.length - MAX_QUEUE);
    schedule(queue.length < MAX_BATCH ? 250 : 0);
  }

  function schedule(delay) {
    if (!flushTimer) flushTimer = setTimeout(guard(flush), Math.max(delay, (retryAt || 0) - now()));
  }

  // text/plain keeps it a simple request (no preflight); credentials carry the mxy_v identity cookie.
  function post(batch) {
    return w.fetch(endpoint, {
      method: 'POST',
      body: JSON.stringify(batch[1] ? { events: batch } : batch[0]),
      headers: { 'Content-Type': 'text/plain' },
      keepalive: true,
      credentials: 'include',
    });
  }

  // A failed batch goes back to the front of the queue with the same event ids: the gateway drops repeats.
  function retry(batch, retryAfterS) {
    queue = batch.concat(queue).slice(0, MAX_QUEUE);
    backoffMs = Math.min(60000, backoffMs * 2 || 1000);
    retryAt = now() + (retryAfterS * 1000 || backoffMs) * (0.75 + Math.random() / 2);
    schedule(0);
  }

  function flush() {
    flushTimer = 0;
    if (!queue.length) return;
    if (now() < retryAt) return schedule(0);
    var batch = queue.splice(0, MAX_BATCH);
    post(batch).then(
      guard(function (res) {
        // 4xx other than 429 will never succeed: drop the batch rather than retry it forever.
        if (res.status == 429 || res.status > 499) return retry(batch, parseInt(res.headers.get('Retry-After'), 10));
        backoffMs = retryAt = 0;
        if (queue.length) schedule(0);
      }),
      guard(function () {
        retry(batch, 0);
      }),
    );
  }

  // On the way out (tab hidden, page gone): sendBeacon survives the page; fetch keepalive if it refuses.
  function beaconAll() {
    while (queue.length) {
      var batch = queue.splice(0, MAX_BATCH);
      if (!nav.sendBeacon(endpoint, JSON.stringify(batch[1] ? { events: batch } : batch[0]))) post(batch)['catch'](function () {});
    }
  }

  function startView(referrer) {
    var meta = d.querySelector('meta[name="mxy:listing"]');
    viewing = true;
    viewPath = location.pathname;
    viewUrl = location.href;
    viewListing = valid(LISTING_RE, meta && meta.getAttribute('content'));
    engagedMs = 0;
    visibleSince = visible() && now();
    milestones = {};
    send('pageview', { referrer: clip(referrer, MAX_URL) || null });
  }

  function endView(type, fields) {
    if (viewing) send(type, extend({ dwellMs: dwell() }, fields));
    viewing = false;
  }

  function toPath() {
    return { props: { to: clip(location.pathname, MAX_PROP_VALUE) } };
  }

  function onRoute() {
    if (!started || !viewing || location.pathname == viewPath) return;
    var previous = viewUrl;
    endView('nav', toPath());
    // The app renders the new route (title, listing meta) right after pushState: read them a task later.
    setTimeout(
      guard(function () {
        if (started && !viewing) startView(previous);
      }),
      0,
    );
  }

  var scrollTimer;

  function onScroll() {
    scrollTimer = 0;
    if (!viewing) return;
    var el = d.documentElement;
    var height = Math.max(el.scrollHeight, d.body ? d.body.scrollHeight : 0);
    var inner = w.innerHeight || el.clientHeight;
    var seen = (w.pageYOffset || el.scrollTop || 0) + inner;
    if (seen <= inner) return;
    var pct = seen >= height - 2 ? 100 : (seen / height) * 100;
    for (var m = 25; m <= 100; m += 25) {
      if (pct >= m && !milestones[m]) {
        milestones[m] = 1;
        send('scroll', { depth: m });
      }
    }
  }

  function onClick(ev) {
    if (ev.type == 'auxclick' && ev.button != 1) return;
    var target = ev.target;
    // data-track on a form names its submit event; clicks inside the form are not clicks on it.
    var tracked = target.closest('[data-track]:not(form)');
    if (tracked && ev.type == 'click') send('click', { label: clip(tracked.getAttribute('data-track'), MAX_LABEL) || null });
    var link = target.closest('a[href],area[href]');
    if (!link || !/^https?:$/.test(link.protocol)) return;
    var href = { href: clip(link.href, MAX_PROP_VALUE) };
    if (link.hasAttribute('download') || DOWNLOAD_RE.test(link.pathname)) {
      send('download', { label: clip(link.getAttribute('download') || link.pathname.split('/').pop() || link.href, MAX_LABEL), props: href });
    } else if (link.host != location.host && !tracked) {
      send('click', { label: 'outbound', props: href });
    }
  }

  function onSubmit(ev) {
    var form = ev.target;
    if (form.tagName != 'FORM') return;
    var label = form.getAttribute('data-track') || form.id || form.getAttribute('name') || 'form';
    send('form_submit', { label: clip(label, MAX_LABEL), props: { action: clip((form.getAttribute('action') || '').split('?')[0], MAX_PROP_VALUE) } });
  }

  var heartbeatTimer;

  function heartbeats(on) {
    clearInterval(heartbeatTimer);
    if (on && visible())
      heartbeatTimer = setInterval(
        guard(function () {
          if (visible()) send('heartbeat');
        }),
        heartbeatMs,
      );
  }

  function onVisibility() {
    if (!viewing) return;
    if (visible()) {
      visibleSince = visibleSince || now();
    } else {
      engagedMs = dwell();
      visibleSince = 0;
      beaconAll();
    }
    heartbeats(visible());
  }

  function onPageHide() {
    endView('leave');
    heartbeats();
    beaconAll();
  }

  function onPageShow(ev) {
    // Back from the back/forward cache: the page is alive again without a fresh load.
    if (ev.persisted && started && !viewing) start(true);
  }

  function start(again) {
    if (again || (!started && !dnt && consent && account)) {
      started = true;
      startView(d.referrer);
      heartbeats(true);
    }
  }

  function stop() {
    started = viewing = false;
    heartbeats();
    queue = [];
    visitorId = memorySession = null;
    if (local) local.removeItem('mxy_a');
    if (tab) tab.removeItem('mxy_s');
    setCookie('', 0);
  }

  function api(cmd, a1, a2) {
    if (cmd == 'consent') {
      consent = a1 !== false;
      consent ? start() : stop();
    } else if (cmd == 'track') {
      // Props past the server's caps would get the whole batch refused: send the event without them.
      var props = a2 && typeof a2 == 'object' && Object.keys(a2).length <= MAX_PROPS_KEYS && new Blob([JSON.stringify(a2)]).size <= MAX_PROPS_BYTES ? a2 : null;
      send('custom', { label: clip(a1, MAX_LABEL) || null, props: props });
    } else if (cmd == 'pageview') {
      var referrer = viewing ? viewUrl : d.referrer;
      endView('nav', toPath());
      if (started) startView(referrer);
    } else if (cmd == 'segment') {
      segment = a1 ? String(a1) : null;
    }
  }

  function on(target, type, fn, opt) {
    target.addEventListener(type, guard(fn), opt);
  }

  var pending = (w.mxy && w.mxy.q) || [];
  w.mxy = guard(api);
  ['pushState', 'replaceState'].forEach(function (name) {
    var original = w.history[name];
    w.history[name] = function () {
      var result = original.apply(this, arguments);
      guard(onRoute)();
      return result;
    };
  });
  on(w, 'popstate', onRoute);
  on(
    w,
    'scroll',
    function () {
      scrollTimer = scrollTimer || setTimeout(guard(onScroll), 150);
    },
    { passive: true },
  );
  on(d, 'click', onClick, true);
  on(d, 'auxclick', onClick, true);
  on(d, 'submit', onSubmit, true);
  on(d, 'visibilitychange', onVisibility);
  on(w, 'pagehide', onPageHide);
  on(w, 'pageshow', onPageShow);
  on(w, 'online', function () {
    retryAt = 0;
    schedule(0);
  });
  // Queued consent and segment apply before the first page view; queued events after it.
  var first = /^(consent|segment)$/;
  pending.forEach(function (args) {
    if (first.test(args[0])) w.mxy.apply(w, args);
  });
  start();
  pending.forEach(function (args) {
    if (!first.test(args[0])) w.mxy.apply(w, args);
  });
});
