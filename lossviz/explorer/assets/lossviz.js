/* lossviz explorer, browser side: clientside callbacks only (Dash's public API).
 *
 * - drag: while a slider is dragged, show the step under the hand from the page's sweep store
 *   (the page's outputs at every slider step, computed by the library on the server when the
 *   slider was grabbed): no request while dragging. The settling server callback draws the
 *   exact value on release.
 * - url: the page's canonical state becomes the URL. The first change after a pause pushes a
 *   history entry; the changes of one burst (keyboard steps) replace it, so Back goes to the
 *   previous view, not to the previous step. Dash Pages is then told of the new URL (a
 *   popstate, which its dcc.Location listens to), with the url-shown store saying that the
 *   page on screen already shows it; Back and Forward re-render the page from the URL.
 * - presentation, nav: the shell's look.
 */
(function () {
  const BURST_MS = 800;  // URL changes closer together than this are one history step
  let lastWrite = 0;
  const decoded = new WeakMap();

  function queryOf(search) {
    const q = {};
    new URLSearchParams(search).forEach(function (v, k) { q[k] = v; });
    return q;
  }

  function writeUrl(search, first) {
    const path = window.location.pathname;
    if (search !== window.location.search) {
      const url = path + search + window.location.hash;
      const now = Date.now();
      if (!first && now - lastWrite > BURST_MS) window.history.pushState({}, "", url);
      else window.history.replaceState({}, "", url);
      lastWrite = now;
    }
    window.dash_clientside.set_props("url-shown", {data: {path: path, query: queryOf(search)}});
    // Dash Pages' dcc.Location reads the URL on popstate; the page answers no_update (url-shown).
    window.dispatchEvent(new PopStateEvent("popstate", {state: window.history.state}));
  }

  function sigOf(search, key) {   // a sweep holds while everything but its own slider stays
    const p = new URLSearchParams(search);
    p.delete(key);
    return p.toString();
  }

  function typed(v) {   // plotly's base64 typed arrays, decoded once
    if (v && typeof v === "object" && typeof v.bdata === "string" && v.dtype === "f4") {
      let a = decoded.get(v);
      if (!a) {
        const bin = atob(v.bdata), buf = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
        a = new Float32Array(buf.buffer);
        decoded.set(v, a);
      }
      return a;
    }
    return v;
  }

  // --- the sweeps: fetched before the grab, kept decoded in the page -------------------------
  const sweeps = {};     // page -> {key -> sweep, its typed arrays decoded}
  const searchOf = {};   // page -> the state (query) the page on screen shows
  const drawn = new WeakMap();  // plot div -> {sw, k, rev, fresh}: the step on screen
  const pending = new Map();    // plot div -> the step to draw at the next animation frame

  function decodeParts(part) {
    const out = {};
    for (const id of Object.keys(part || {})) {
      const p = part[id];
      if (!p || typeof p !== "object" || !p.traces) { out[id] = p; continue; }
      const traces = {};
      for (const ti of Object.keys(p.traces)) {
        traces[ti] = {};
        for (const a of Object.keys(p.traces[ti])) traces[ti][a] = typed(p.traces[ti][a]);
      }
      out[id] = {traces: traces, layout: p.layout || {}};
    }
    return out;
  }

  function keep(sweep) {   // clientside: the sweep store -> the sweep-have store (what the settle may rely on)
    const dc = window.dash_clientside;
    if (!sweep || typeof sweep.key !== "string" || typeof sweep.page !== "string") return dc.no_update;
    (sweeps[sweep.page] = sweeps[sweep.page] || {})[sweep.key] = {
      key: sweep.key, sig: sigOf(sweep.search, sweep.key), values: sweep.values,
      base: decodeParts(sweep.base), steps: (sweep.steps || []).map(decodeParts)};
    const have = {key: sweep.key, search: sweep.search, values: sweep.values};
    (window.lossvizHeld = window.lossvizHeld || {})[sweep.page] = have;  // what the page holds (read by tests)
    return have;
  }

  function current(page, key) {   // the sweep of this slider for the view on screen, or null
    const sw = (sweeps[page] || {})[key];
    return sw && searchOf[page] !== undefined && sw.sig === sigOf(searchOf[page], key) ? sw : null;
  }

  const asked = {};
  function want(page, key) {   // ask for a slider's sweep once (hover, press, focus, after a settle)
    if (!page || !key || searchOf[page] === undefined || current(page, key)) return;
    const tag = key + "?" + sigOf(searchOf[page], key);
    if (asked[page] === tag) return;
    asked[page] = tag;
    window.dash_clientside.set_props(page + "-sweep-req", {data: {key: key, sig: sigOf(searchOf[page], key)}});
  }

  const lastKey = {};
  let hoverTimer = null;
  function reach(el) {
    const page = el.getAttribute("data-lv-page"), key = el.getAttribute("data-lv-key");
    lastKey[page] = key;
    want(page, key);
  }
  function sliderOf(ev) { return ev.target && ev.target.closest ? ev.target.closest("[data-lv-key]") : null; }
  document.addEventListener("pointerover", function (ev) {
    const el = sliderOf(ev);
    if (!el) return;
    clearTimeout(hoverTimer);
    hoverTimer = setTimeout(function () { reach(el); }, 60);
  });
  document.addEventListener("pointerdown", function (ev) { const el = sliderOf(ev); if (el) reach(el); }, true);
  document.addEventListener("focusin", function (ev) { const el = sliderOf(ev); if (el) reach(el); });

  function plotDiv(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    return el.classList.contains("js-plotly-plot") ? el : el.querySelector(".js-plotly-plot");
  }

  function drawStep(gd, id, sw, k) {
    // One Plotly.update: the traces of this step that change (y; x, names and texts where they
    // change) and, on a drag's first step, what every step shares (x, the sweep's y ranges).
    const was = drawn.get(gd);
    const rev = gd.layout ? gd.layout.datarevision : undefined;
    const fresh = !was || was.sw !== sw || was.rev !== rev || was.fresh;
    if (!fresh && was.k === k) return false;
    const parts = fresh ? [sw.base[id], sw.steps[k][id]] : [sw.steps[k][id]];
    const idx = [], attrs = {}, lay = {};
    for (const part of parts) {
      if (!part) continue;
      for (const ti of Object.keys(part.traces || {})) {
        const i = Number(ti);
        if (!gd.data || i >= gd.data.length) continue;
        let pos = idx.indexOf(i);
        if (pos < 0) { pos = idx.length; idx.push(i); }
        for (const a of Object.keys(part.traces[ti])) (attrs[a] = attrs[a] || [])[pos] = part.traces[ti][a];
      }
      Object.assign(lay, part.layout || {});
    }
    for (const a of Object.keys(attrs)) attrs[a].length = idx.length;
    drawn.set(gd, {sw: sw, k: k, rev: rev, fresh: false});
    if (!idx.length && !Object.keys(lay).length) return false;
    if (!fresh && movesOnly(gd, attrs, lay, idx)) {
      // Within a drag only the curves' points, ranges and bands change: plotly's animation path
      // with no redraw moves just those lines, ticks and bands (no legend or typeset titles
      // redrawn), 2-3x faster than a full update. The settle after the release redraws all.
      const frame = idx.map(function (_, pos) {
        const t = {};
        for (const a of Object.keys(attrs)) if (attrs[a][pos] !== undefined && !DEFERRED[a]) t[a] = attrs[a][pos];
        return t;
      });
      // (shapes and annotations ride in the frame too: a Plotly.relayout of them would make
      // dcc.Graph report relayoutData and redraw its stored figure over the step)
      window.Plotly.animate(gd, {data: frame, traces: idx, layout: lay},
        {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: "immediate"});
    } else {
      window.Plotly.update(gd, attrs, lay, idx);
    }
    (window.lossvizDraws = window.lossvizDraws || []).push(performance.now());
    return true;
  }

  const RANGE = /^[xy]axis\d*\.range$/, DRAWN_OVER = {shapes: true, annotations: true};
  // What plotly's animate path redraws without a full redraw, per trace type; DEFERRED: left to
  // the settle (a legend entry that comes or goes mid-drag).
  const MOVES = {scatter: {x: true, y: true, text: true, textposition: true}, bar: {x: true, y: true}};
  const DEFERRED = {showlegend: true};
  function movesOnly(gd, attrs, lay, idx) {
    // A step that changes only the points of line or bar traces (a scatter's text labels with
    // them), axis ranges, shapes and annotations: plotly's animate path draws all of these
    // without a full redraw (the lines move, the axes redraw their ticks, the shapes and
    // annotations are redrawn).
    if (!Object.keys(lay).every(function (k) { return RANGE.test(k) || DRAWN_OVER[k]; })) return false;
    return idx.every(function (i, pos) {
      const ok = MOVES[(gd.data[i] && gd.data[i].type) || "scatter"];
      return ok && Object.keys(attrs).every(function (a) { return ok[a] || DEFERRED[a] || attrs[a][pos] === undefined; });
    });
  }

  function schedule(gd, id, sw, k) {   // at most one draw per animation frame: the latest step
    const had = pending.has(gd);
    pending.set(gd, {id: id, sw: sw, k: k});
    if (had) return;
    window.requestAnimationFrame(function () {
      const p = pending.get(gd);
      pending.delete(gd);
      if (p) drawStep(gd, p.id, p.sw, p.k);
    });
  }

  function nearest(values, v) {
    let k = 0, best = Infinity;
    for (let j = 0; j < values.length; j++) {
      const d = Math.abs(values[j] - v);
      if (d < best) { best = d; k = j; }
    }
    return k;
  }

  function drag() {
    const args = Array.prototype.slice.call(arguments);
    const dc = window.dash_clientside, ctx = dc.callback_context;
    const n = ctx.inputs_list.length;
    const cfg = args[n], st = args[n + 1], values = args.slice(n + 2, 2 * n + 2);
    const out = new Array(1 + cfg.texts.length).fill(dc.no_update);
    const ret = function () { return out.length === 1 ? out[0] : out; };
    const i = cfg.ids.indexOf(ctx.triggered_id);
    if (i < 0 || !st) return ret();
    const dv = args[i];
    // Not a drag: a value that arrived with the slider's own value (keyboard, a typed value,
    // the server's correction) is drawn on release.
    if (dv === null || dv === undefined || dv === values[i]) return ret();
    const key = cfg.keys[i];
    searchOf[cfg.page] = st.search;
    lastKey[cfg.page] = key;
    const sw = current(cfg.page, key);
    if (!sw) { want(cfg.page, key); return ret(); }
    const k = nearest(sw.values, dv), step = sw.steps[k] || {};
    for (const id of cfg.figs) { const gd = plotDiv(id); if (gd) schedule(gd, id, sw, k); }
    cfg.texts.forEach(function (id, o) { if (id in step || id in sw.base) out[1 + o] = id in step ? step[id] : sw.base[id]; });
    // out[0], the drag store, stays as it is: nothing reads it, and an update per move costs Dash a render
    return ret();
  }

  function release() {
    // The slider's value (a drag's release, a key press): a step of the sweep held is drawn at
    // once. The stored figure is not touched here: the settling callback answers on such a
    // step with a Patch that keeps the datarevision (controls.light), so the release costs
    // one plotly.react (legend, ranges, bands), not two.
    const args = Array.prototype.slice.call(arguments);
    const dc = window.dash_clientside, ctx = dc.callback_context;
    const n = ctx.inputs_list.length;
    const cfg = args[n], st = args[n + 1];
    const i = cfg.ids.indexOf(ctx.triggered_id);
    if (i < 0 || !st) return dc.no_update;
    const key = cfg.keys[i], v = args[i];
    searchOf[cfg.page] = st.search;
    const sw = current(cfg.page, key), k = sw ? sw.values.indexOf(v) : -1;
    if (k < 0) return dc.no_update;
    cfg.figs.forEach(function (id) {
      const gd = plotDiv(id);
      if (!gd) return;
      pending.delete(gd);
      drawStep(gd, id, sw, k);
      drawn.set(gd, {sw: sw, k: k, rev: gd.layout ? gd.layout.datarevision : undefined, fresh: true});
    });
    return dc.no_update;
  }

  function shownHere(page) {
    // The page's state may change after the hand has left for another page (a late answer):
    // it writes the URL only while the address is still its own ("/" is the first page's too).
    const path = window.location.pathname.replace(/\/+$/, "") || "/";
    return path === "/" + page || (path === "/" && document.getElementById(page + "-state") !== null);
  }

  function url(st) {
    if (!st || typeof st.search !== "string") return window.dash_clientside.no_update;
    if (st.page && !shownHere(st.page)) return window.dash_clientside.no_update;
    if (st.page) {   // a new view: the slider last reached for gets its sweep for this view
      searchOf[st.page] = st.search;
      const page = st.page;
      setTimeout(function () { want(page, lastKey[page]); }, 0);
    }
    writeUrl(st.search, st.first === true);
    return window.dash_clientside.no_update;
  }

  function presentation(on) {
    // Everything in rem grows with the root font size (Mantine sizes are rem).
    document.documentElement.style.fontSize = on ? "125%" : "";
    return on ? "shell present" : "shell";
  }

  // --- formulas on a narrow screen: a display formula wider than its box is set in smaller
  // type to fit (MathJax 3 does not break lines), so a phone never scrolls a formula sideways.
  function fitFormulas() {
    document.querySelectorAll(".formula mjx-container, .formulas mjx-container").forEach(function (m) {
      if (m.dataset.lvFit === undefined) m.dataset.lvFit = m.style.fontSize || "";
      m.style.fontSize = m.dataset.lvFit;
      const box = m.closest(".formula, .formulas").clientWidth - 4;
      for (let i = 0; i < 4; i++) {   // the width follows the type size (in ex), but not always in proportion
        const w = m.getBoundingClientRect().width;
        if (box <= 0 || w <= box) break;
        m.style.fontSize = (parseFloat(getComputedStyle(m).fontSize) * box / w * 0.97) + "px";
      }
    });
  }
  if (document.fonts) document.fonts.addEventListener("loadingdone", queueFit);   // ex changes with the font
  let fitQueued = false;
  function queueFit() {
    if (fitQueued) return;
    fitQueued = true;
    window.requestAnimationFrame(function () { fitQueued = false; fitFormulas(); });
  }
  new MutationObserver(function (records) {   // a formula typeset (MathJax adds its container)
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeName === "MJX-CONTAINER" || (n.nodeType === 1 && n.namespaceURI !== "http://www.w3.org/2000/svg" && n.querySelector("mjx-container"))) { queueFit(); return; }
    }
  }).observe(document.documentElement, {childList: true, subtree: true});
  window.addEventListener("resize", queueFit);

  window.dash_clientside = Object.assign({}, window.dash_clientside, {lossviz: {drag: drag, release: release, keep: keep, url: url, presentation: presentation}});
})();
