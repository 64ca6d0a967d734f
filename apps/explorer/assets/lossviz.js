/* lossviz explorer, browser side: the request gate that lets curves follow a slider, and the URL.
 *
 * The gate keeps at most one update request of a page in flight. While it waits, control
 * changes only overwrite `pending`; when the server's answer (the page's state store) lands,
 * the newest pending values go out. So a drag never queues stale requests: the server always
 * works on the hand's latest position, and the last frame comes one round trip after release.
 * All numbers still come from the server (the library's functions); nothing is computed here.
 *
 * URL: the server's canonical state becomes the query string. The first change after a pause
 * pushes a history entry; the changes of one burst (a drag) replace it, so Back goes to the
 * previous view, not to the previous pixel. Back/Forward within a page re-render it from the
 * URL through the `url-pop` store.
 */
(function () {
  const gates = {};
  window.__lvGates = gates;  // for the console and the tests
  const BURST_MS = 800;      // changes closer together than this are one history step
  const STUCK_MS = 4000;     // a request unanswered this long no longer blocks the gate
  const SETTLE_MS = 30;      // no new value this long after an animated answer: the hand stopped
  let lastPath = window.location.pathname;
  let lastUrlWrite = 0;

  window.addEventListener("popstate", function () {
    const path = window.location.pathname;
    const samePage = path === lastPath;
    lastPath = path;
    // Another page: dcc.Location's pathname change re-renders. Same page: we must.
    if (samePage && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("url-pop", {data: {search: window.location.search, t: Date.now()}});
    }
  });
  window.addEventListener("_dashprivate_pushstate", function () { lastPath = window.location.pathname; });

  function writeUrl(search, mode) {
    const url = window.location.pathname + search + window.location.hash;
    if (url === window.location.pathname + window.location.search + window.location.hash) return;
    const now = Date.now();
    if (mode === "push" && now - lastUrlWrite > BURST_MS) {
      window.history.pushState({}, "", url);
    } else {
      window.history.replaceState({}, "", url);
    }
    lastUrlWrite = now;
    lastPath = window.location.pathname;
  }

  const urlPages = {};
  window.lossvizWriteUrl = function (page, nonce, search) {
    const first = urlPages[page] !== nonce;   // the first state after a render replaces
    urlPages[page] = nonce;
    writeUrl(search, first ? "replace" : "push");
  };

  function same(a, b) {   // key by key: the order of keys from the server and the browser differs
    if (a === null || b === null) return a === b;
    const ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return false;
    return true;
  }

  function gateOf(cfg) {
    let g = gates[cfg.page];
    if (!g || g.nonce !== cfg.nonce) {
      g = gates[cfg.page] = {nonce: cfg.nonce, busy: false, busyAt: 0, pending: null, sent: null, seq: 0, ackSeq: -1, shown: null, first: true, boxSet: {}, boxShown: {}, answeredSeq: -1};
      // The layout came with its first figure: what it draws counts as sent.
      if (cfg.initial) { g.sent = Object.assign({}, cfg.initial); g.last = Object.assign({}, cfg.initial); g.shown = cfg.shown || null; }
      g.cfg = cfg;
    }
    return g;
  }

  function send(g, page) {
    // The next request, if any: the newest pending values, unless they are what was sent last.
    const next = g.pending;
    g.pending = null;
    if (next === null || (g.sent !== null && same(next, g.sent))) return null;
    g.busy = true;
    g.busyAt = Date.now();
    g.sent = next;
    g.seq += 1;
    return {seq: g.seq, values: next, shown: g.shown};
  }

  // While a slider is dragged, its thumb's aria-valuenow moves with the hand; Dash hears of the
  // value only on release (updatemode "mouseup": Dash's per-move work is what starved the
  // redraws). The drag values come from the thumb, straight into the gate.
  function offer(g, page, values) {
    g.pending = values;
    if (g.busy && Date.now() - g.busyAt < STUCK_MS) return null;
    const req = send(g, page);
    if (req !== null) post(page, req);
    return req;
  }

  new MutationObserver(function (records) {
    for (const r of records) {
      const thumb = r.target;
      if (!thumb.getAttribute || thumb.getAttribute("role") !== "slider") continue;
      for (const page of Object.keys(gates)) {
        const g = gates[page];
        if (!g.cfg || !g.last) continue;
        for (const c of g.cfg.controls) {
          if (c.kind !== "number") continue;
          const root = document.getElementById(c.id);
          if (!root || !root.contains(thumb)) continue;
          const v = parseFloat(thumb.getAttribute("aria-valuenow"));
          if (!isFinite(v) || v === g.last[c.key]) continue;
          const values = Object.assign({}, g.pending || g.last, {[c.key]: v});
          g.last = Object.assign({}, g.last, {[c.key]: v});
          offer(g, page, values);
        }
      }
    }
  }).observe(document.documentElement, {attributes: true, subtree: true, attributeFilter: ["aria-valuenow"]});

  // Control changes -> the request store (or, while a request is in flight, `pending`).
  function gate() {
    const args = Array.prototype.slice.call(arguments);
    const cfg = args.pop();
    const NU = window.dash_clientside.no_update;
    const g = gateOf(cfg);
    const ctx = window.dash_clientside.callback_context;
    const trig = new Set((ctx.triggered || []).map(function (t) { return t.prop_id; }));
    const values = {};
    let i = 0;
    for (const c of cfg.controls) {
      if (c.kind === "number") {
        const s = args[i++], b = args[i++];
        if (trig.has(c.id + "-num.value")) {
          // The box changed: typed by a hand (sent as typed: the server clamps or refuses), or
          // set by `ack` below to the drawn value (nothing to send).
          if (g.boxSet[c.key] === b) {
            delete g.boxSet[c.key];
            return NU;
          }
          values[c.key] = b;
        } else {
          values[c.key] = s;
        }
      } else {
        values[c.key] = args[i++];
      }
    }
    values._narrow = window.innerWidth < 700;
    g.cfg = cfg;
    g.last = values;
    const req = offer(g, cfg.page, values);
    return req === null ? NU : req.seq;
  }

  // The answer's first half, run as soon as its bytes arrive (from the fetch hook below, before
  // Dash and plotly draw it) and again from `ack`: unblock the gate and send the newest pending
  // values, so the server computes the next frame while the browser draws this one.
  function answered(g, page, st) {
    if (st.seq === g.answeredSeq) return;
    g.answeredSeq = st.seq;
    if (st.seq !== g.seq) return;   // an answer to an older request: the newer one is in flight
    g.busy = false;
    if (st.shown) g.shown = st.shown;
    const corrected = st.corrected || {};
    for (const k of Object.keys(corrected)) {
      if (g.sent) g.sent[k] = corrected[k];
      if (g.pending) g.pending[k] = corrected[k];
    }
    const req = send(g, page);
    if (req !== null) post(page, req);
  }

  // Requests alternate between two stores, each the input of its own (identical) server
  // callback: Dash drops the answer of a callback that was triggered again meanwhile, and
  // the next request goes out while this answer is still being drawn.
  function post(page, req) {
    window.dash_clientside.set_props(page + "-req" + (req.seq % 2), {data: req});
  }

  const origFetch = window.fetch;
  window.fetch = function (url, opts) {
    const p = origFetch.apply(this, arguments);
    const body = opts && typeof opts.body === "string" ? opts.body : "";
    const m = String(url).indexOf("_dash-update-component") >= 0 && body.match(/"output":"\.\.([a-z]+)-state\.data/);
    if (!m) return p;
    const page = m[1];
    return p.then(function (r) {
      if (!r.ok) return r;
      return r.clone().json().then(function (j) {
        const g = gates[page];
        const st = j && j.response && j.response[page + "-state"] && j.response[page + "-state"].data;
        if (g && st && typeof st.seq === "number") answered(g, page, st);
        return r;
      }, function () { return r; });
    });
  };

  // An animated answer (see controls.wire) moves the lines but leaves the legend's names and
  // line dashes as they were: once the gate is idle (the hand stopped), the graphs whose names
  // or dashes changed (`settle` in the answer) are redrawn whole, once.
  function settle(g) {
    clearTimeout(g.settleTimer);
    if (!g.settle || g.busy || g.pending !== null) return;
    const ids = g.settle;
    const run = function (tries) {
      if (g.busy || g.pending !== null || g.settle !== ids) return;  // moved again: a later answer settles
      const gds = ids.map(function (id) { return document.querySelector("#" + id + " .js-plotly-plot"); }).filter(Boolean);
      if (gds.some(function (gd) { return gd._transitioning; }) && tries < 20) {
        g.settleTimer = setTimeout(function () { run(tries + 1); }, 16);
        return;
      }
      g.settle = null;
      for (const gd of gds) if (window.Plotly) window.Plotly.redraw(gd);
    };
    g.settleTimer = setTimeout(function () { run(0); }, SETTLE_MS);
  }

  // The server's answer as Dash applied it (the page's state store): URL, controls.
  function ack(st, cfg) {
    const g = gateOf(cfg);
    if (!st || st.seq === g.ackSeq) return window.dash_clientside.no_update;
    g.ackSeq = st.seq;
    answered(g, cfg.page, st);
    if (st.settle && st.settle.length) {  // kept until the hand stops (a later frame may not need it, this one did)
      g.settle = Array.from(new Set((g.settle || []).concat(st.settle)));
    }
    settle(g);
    // The layout's first figure was drawn for a wide window; a phone asks for stacked panels.
    const narrow = window.innerWidth < 700;
    if (g.last && g.last._narrow !== narrow) {
      g.last = Object.assign({}, g.last, {_narrow: narrow});
      offer(g, cfg.page, Object.assign({}, g.last));
    }
    if (g.first && cfg.formulas && st.shown && st.shown.values) {
      // A first load's formulas, once the graph is drawn: MathJax must not delay the graph.
      const names = st.shown.values[cfg.formulas];
      const ask = function (tries) {
        const el = document.querySelector("#" + cfg.page + "-graph .js-plotly-plot");
        if ((el && el.data && el.data.length) || tries > 100) {
          window.dash_clientside.set_props(cfg.page + "-formula-req", {data: names});
        } else {
          setTimeout(function () { ask(tries + 1); }, 100);
        }
      };
      ask(0);
    }
    if (st.search !== undefined && st.search !== null) {
      writeUrl(st.search, g.first || st.replace ? "replace" : "push");
      g.first = false;
    }
    // Each number box shows the value drawn (so box, graph, legend and URL agree once the hand
    // stops; during a drag the thumb shows the value and the box waits: re-rendering it on every
    // frame cost a frame's worth of time). Values the server clamped or refused also go back
    // into the slider, at once.
    const corrected = st.corrected || {};
    const drawn = (st.shown && st.shown.values) || {};
    const idle = !g.busy && g.pending === null;
    for (const c of cfg.controls) {
      if (c.kind !== "number") continue;
      const fixed = Object.prototype.hasOwnProperty.call(corrected, c.key);
      if (fixed) {
        window.dash_clientside.set_props(c.id, {value: corrected[c.key]});
      }
      const v = fixed ? corrected[c.key] : drawn[c.key];
      if (v !== undefined && g.boxShown[c.key] !== v && (idle || fixed)) {
        g.boxShown[c.key] = v;
        g.boxSet[c.key] = v;
        window.dash_clientside.set_props(c.id + "-num", {value: v});
      }
    }
    return st.seq;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {lossviz: {gate: gate, ack: ack}});
})();

/* Presentation mode: everything in rem grows with the root font size (Mantine sizes are rem). */
window.dash_clientside.lossviz.presentation = function (on) {
  document.documentElement.style.fontSize = on ? "125%" : "";
  return on ? "shell present" : "shell";
};

/* A page without a gate (Training): its server-made query string becomes the URL. */
window.dash_clientside.lossviz.url = function (st, cfg) {
  if (!st || typeof st.search !== "string") return window.dash_clientside.no_update;
  window.lossvizWriteUrl(cfg.page, cfg.nonce, st.search);
  return window.dash_clientside.no_update;
};
