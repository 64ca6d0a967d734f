/* lossviz explorer, browser side: the request gate that lets curves follow a slider, and the URL.
 *
 * The gate keeps at most one update request of a page in flight. While it waits, control
 * changes only overwrite `pending`; when the server's answer (the page's state store) lands,
 * the newest pending values go out. So a drag never queues stale requests: the server always
 * works on the hand's latest position, and the last frame comes one round trip after release.
 * All numbers still come from the server (the library's functions); nothing is computed here.
 *
 * Drag frames skip Dash: a slider's moves go to the server's frame route (controls.drag_frame),
 * whose answer this script applies itself (Plotly.animate or Plotly.react on the graph,
 * set_props for the other outputs): Dash's handling of an answer cost more of the browser's
 * time than the drawing. When the hand rests or lets go, the legend is redrawn once and the
 * last frame's state goes into the page's state store (URL, number box, export). The graph's
 * figure as Dash holds it is then older than the screen ("stale"): the next request through
 * Dash asks for the whole view (no `shown`) instead of a partial update of that old figure.
 *
 * URL: the server's canonical state becomes the query string. The first change after a pause
 * pushes a history entry; the changes of one burst (a drag) replace it, so Back goes to the
 * previous view, not to the previous pixel. Back/Forward within a page re-render it from the
 * URL through the `url-pop` store.
 */
(function () {
  // The browser's own trim, parseInt and parseFloat, kept before Dash's polyfill replaced them
  // with script versions (app.py): plotly calls them thousands of times per frame.
  const natives = window.__lvNatives || {};
  const put = function (obj, name, fn) {
    if (typeof fn === "function" && obj[name] !== fn) {
      Object.defineProperty(obj, name, {value: fn, writable: true, configurable: true, enumerable: false});
    }
  };
  put(String.prototype, "trim", natives.trim);
  put(window, "parseInt", natives.parseInt);
  put(Number, "parseInt", natives.parseInt);
  put(window, "parseFloat", natives.parseFloat);
  put(Number, "parseFloat", natives.parseFloat);

  const gates = {};
  const origFetch = window.fetch;
  window.__lvGates = gates;  // for the console and the tests
  const BURST_MS = 800;      // changes closer together than this are one history step
  const STUCK_MS = 4000;     // a request unanswered this long no longer blocks the gate
  const SETTLE_MS = 30;      // no new value this long after an animated answer: the hand stopped
  const ANIMATION = {frame: {duration: 0, redraw: false}, transition: {duration: 0}, mode: "immediate"};
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
      g = gates[cfg.page] = {nonce: cfg.nonce, busy: false, busyAt: 0, pending: null, via: null, sent: null, seq: 0, ackSeq: -1, shown: null, first: true,
                            boxSet: {}, boxShown: {}, answeredSeq: -1, stale: false, noDirect: cfg.frames === false, frames: 0, texts: {}};
      // The layout came with its first figure: what it draws counts as sent.
      if (cfg.initial) { g.sent = Object.assign({}, cfg.initial); g.last = Object.assign({}, cfg.initial); g.shown = cfg.shown || null; }
      g.cfg = cfg;
    }
    return g;
  }

  function send(g, page) {
    // The next request, if any: the newest pending values, unless they are what was sent last.
    const next = g.pending, via = g.via;
    g.pending = null;
    g.via = null;
    if (next === null || (g.sent !== null && same(next, g.sent))) return null;
    g.busy = true;
    g.busyAt = Date.now();
    g.sent = next;
    g.seq += 1;
    const direct = via === "direct" && !g.noDirect;
    // Through Dash after drag frames: the whole view (Dash's figure is older than the screen).
    clearTimeout(g.settleTimer);
    return {seq: g.seq, values: next, shown: g.stale && !direct ? null : g.shown, via: direct ? "direct" : "dash"};
  }

  function dispatch(g, page, req) {
    if (req.via === "direct") frame(g, page, req); else post(page, req);
  }

  // While a slider is dragged, its thumb's aria-valuenow moves with the hand; Dash hears of the
  // value only on release (updatemode "mouseup": Dash's per-move work is what starved the
  // redraws). The drag values come from the thumb, straight into the gate.
  function offer(g, page, values, via) {
    g.pending = values;
    g.via = g.via === "dash" || via === "dash" ? "dash" : "direct";
    if (g.busy && Date.now() - g.busyAt < STUCK_MS) return null;
    const req = send(g, page);
    if (req !== null) dispatch(g, page, req);
    return req;
  }

  let framePrefix = null;
  function frameUrl(page) {
    if (framePrefix === null) {
      let prefix = "/";
      try { prefix = JSON.parse(document.getElementById("_dash-config").textContent).requests_pathname_prefix || "/"; } catch (e) { /* the default */ }
      framePrefix = prefix + "_lossviz/frame/";
    }
    return framePrefix + encodeURIComponent(page);
  }

  // A drag frame: the server's answer applied here. An answer that needs Dash (a whole new
  // figure, a corrected value) or a failed request goes through Dash instead.
  function frame(g, page, req) {
    const viaDash = function () {
      post(page, {seq: req.seq, values: req.values, shown: g.stale ? null : req.shown});
    };
    const body = JSON.stringify({seq: req.seq, values: req.values, shown: req.shown, hide: (g.cfg && g.cfg.hide) || []});
    origFetch.call(window, frameUrl(page), {method: "POST", headers: {"Content-Type": "application/json"}, body: body, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (ans) {
        if (gates[page] !== g || g.seq !== req.seq) return;   // the page was re-rendered meanwhile
        if (ans.dash) { viaDash(); return; }
        g.shown = ans.state.shown;
        g.stale = true;
        g.unsynced = ans.state;
        g.frames += 1;
        g.busy = false;
        const next = send(g, page);   // the server computes the next frame while this one is drawn
        if (next !== null) dispatch(g, page, next);
        for (const id of Object.keys(ans.frames)) {
          const gd = document.querySelector("#" + id + " .js-plotly-plot");
          if (!gd || !window.Plotly) continue;
          const f = ans.frames[id];
          if (f.animate) window.Plotly.animate(gd, f.animate, ANIMATION); else assign(gd, f.assign);
        }
        for (const p of ans.props) {
          if (p[1] === "children" && typeof p[2] === "string" && writeText(p[0], p[2])) {
            g.texts[p[0]] = p[2];   // Dash hears of it when the hand lets go (settle)
          } else {
            window.dash_clientside.set_props(p[0], {[p[1]]: p[2]});
          }
        }
        if (ans.settle.length) g.settle = Array.from(new Set((g.settle || []).concat(ans.settle)));
        settle(g, page);
      })
      .catch(function (err) {
        console.warn("lossviz: drag frames go through Dash from now on:", err && err.message);
        if (gates[page] !== g || g.seq !== req.seq) return;
        g.noDirect = true;   // e.g. a proxy that refuses the route: Dash carries the drags
        viaDash();
      });
  }

  // A text output of a drag frame written into the page (a Dash update of it cost ~3.5 ms a
  // frame): the text node React rendered gets the new text, so React's later updates still land.
  function writeText(id, text) {
    const el = document.getElementById(id);
    const node = el && el.childNodes.length === 1 ? el.firstChild : null;
    if (!node || node.nodeType !== Node.TEXT_NODE) return false;
    node.nodeValue = text;
    return true;
  }

  // A partial update that is not an animation (new axis ranges, shaded bands): its assignments
  // applied to a copy of the drawn figure, which Plotly.react draws.
  function assign(gd, ops) {
    const root = {data: gd.data.slice(), layout: Object.assign({}, gd.layout)};
    for (const op of ops) {
      const loc = op[0];
      let obj = root;
      for (let i = 0; i < loc.length - 1; i++) {
        const child = obj[loc[i]];
        obj = obj[loc[i]] = Array.isArray(child) ? child.slice() : Object.assign({}, child);
      }
      obj[loc[loc.length - 1]] = op[1];
    }
    return window.Plotly.react(gd, root.data, root.layout);
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
          offer(g, page, values, "direct");
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
    let i = 0, via = "dash";
    for (const c of cfg.controls) {
      if (c.kind === "number") {
        const s = args[i++], b = args[i++];
        if (trig.has(c.id + ".value")) via = "direct";   // a slider let go: like its drag frames
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
    const req = offer(g, cfg.page, values, trig.size === 1 ? via : "dash");
    return req === null ? NU : req.seq;
  }

  // The answer's first half, run as soon as its bytes arrive (from the fetch hook below, before
  // Dash and plotly draw it) and again from `ack`: unblock the gate and send the newest pending
  // values, so the server computes the next frame while the browser draws this one.
  function answered(g, page, st, applied) {
    // Early (the answer's bytes, before Dash draws it) only while Dash carries the drags: a drag
    // frame must not be drawn before Dash has drawn this answer, so otherwise `ack` unblocks.
    if (!applied && !g.noDirect) return;
    if (st.seq === g.answeredSeq) return;
    g.answeredSeq = st.seq;
    if (st.seq !== g.seq) return;   // an answer to an older request: the newer one is in flight
    g.busy = false;
    g.stale = false;   // Dash's figure, state and URL are this answer's
    g.unsynced = null;
    g.texts = {};
    if (st.shown) g.shown = st.shown;
    const corrected = st.corrected || {};
    for (const k of Object.keys(corrected)) {
      if (g.sent) g.sent[k] = corrected[k];
      if (g.pending) g.pending[k] = corrected[k];
    }
    const req = send(g, page);
    if (req !== null) dispatch(g, page, req);
  }

  // Requests alternate between two stores, each the input of its own (identical) server
  // callback: Dash drops the answer of a callback that was triggered again meanwhile, and
  // the next request goes out while this answer is still being drawn.
  function post(page, req) {
    window.dash_clientside.set_props(page + "-req" + (req.seq % 2), {data: req});
  }

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
        if (g && st && typeof st.seq === "number") answered(g, page, st, false);
        return r;
      }, function () { return r; });
    });
  };

  // An animated answer (see controls.wire) or a drag frame moves the lines but leaves the
  // legend's names and line dashes as they were: once the gate is idle (the hand stopped), the
  // graphs whose names or dashes changed (`settle` in the answer) are redrawn whole, once, and
  // the last drag frame's state goes into the page's state store (URL, number box, export).
  function settle(g, page) {
    clearTimeout(g.settleTimer);
    // Not while a button is held: a re-render of the controls would end the drag. The release settles.
    if ((!g.settle && !g.unsynced && !Object.keys(g.texts).length) || g.busy || g.pending !== null || held) return;
    const ids = g.settle;
    const run = function (tries) {
      if (g.busy || g.pending !== null || g.settle !== ids || gates[page] !== g) return;  // moved again: a later answer settles
      const gds = (ids || []).map(function (id) { return document.querySelector("#" + id + " .js-plotly-plot"); }).filter(Boolean);
      if (gds.some(function (gd) { return gd._transitioning; }) && tries < 20) {
        g.settleTimer = setTimeout(function () { run(tries + 1); }, 16);
        return;
      }
      g.settle = null;
      for (const gd of gds) if (window.Plotly) window.Plotly.redraw(gd);
      for (const id of Object.keys(g.texts)) window.dash_clientside.set_props(id, {children: g.texts[id]});
      g.texts = {};
      if (g.unsynced) {
        const st = Object.assign({}, g.unsynced, {direct: true});
        g.unsynced = null;
        window.dash_clientside.set_props(page + "-state", {data: st});
      }
    };
    g.settleTimer = setTimeout(function () { run(0); }, SETTLE_MS);
  }

  // The server's answer as Dash applied it (the page's state store): URL, controls.
  function ack(st, cfg) {
    const g = gateOf(cfg);
    if (!st || st.seq === g.ackSeq) return window.dash_clientside.no_update;
    g.ackSeq = st.seq;
    if (!st.direct) answered(g, cfg.page, st, true);   // (a drag frame's state, stored by settle)
    if (st.settle && st.settle.length) {  // kept until the hand stops (a later frame may not need it, this one did)
      g.settle = Array.from(new Set((g.settle || []).concat(st.settle)));
    }
    settle(g, cfg.page);
    // The layout's first figure was drawn for a wide window; a phone asks for stacked panels.
    const narrow = window.innerWidth < 700;
    if (g.last && g.last._narrow !== narrow) {
      g.last = Object.assign({}, g.last, {_narrow: narrow});
      offer(g, cfg.page, Object.assign({}, g.last), "dash");
    }
    if (g.first && cfg.formulas && st.shown && st.shown.values) {
      // A first load's formulas, once the graph is drawn: MathJax must not delay the graph.
      const names = typeof cfg.formulas === "string" ? st.shown.values[cfg.formulas] : true;
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

  let held = false;
  const hold = function () { held = true; };
  const release = function () {
    held = false;
    for (const page of Object.keys(gates)) settle(gates[page], page);
  };
  for (const type of ["mousedown", "touchstart"]) document.addEventListener(type, hold, true);
  for (const type of ["mouseup", "touchend", "touchcancel"]) document.addEventListener(type, release, true);
  window.addEventListener("blur", release);

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
