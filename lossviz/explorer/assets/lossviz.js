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
  const asked = {};      // page -> the sweep last asked for (one request per grab)
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

  function setPath(obj, path, value) {   // copy on write along "a.b.c"
    const keys = path.split(".");
    let node = obj;
    for (let i = 0; i < keys.length - 1; i++) {
      node[keys[i]] = Object.assign({}, node[keys[i]] || {});
      node = node[keys[i]];
    }
    node[keys[keys.length - 1]] = value;
  }

  function applyStep(fig, parts) {
    const data = (fig.data || []).slice(), layout = Object.assign({}, fig.layout || {}), copied = {};
    for (const part of parts) {
      if (!part) continue;
      for (const ti of Object.keys(part.traces || {})) {
        const i = Number(ti);
        if (i >= data.length) continue;
        if (!copied[i]) { data[i] = Object.assign({}, data[i]); copied[i] = true; }
        const attrs = part.traces[ti];
        for (const a of Object.keys(attrs)) data[i][a] = typed(attrs[a]);
      }
      for (const path of Object.keys(part.layout || {})) setPath(layout, path, part.layout[path]);
    }
    return Object.assign({}, fig, {data: data, layout: layout});
  }

  function drag() {
    const args = Array.prototype.slice.call(arguments);
    const dc = window.dash_clientside, ctx = dc.callback_context;
    const n = ctx.inputs_list.length;
    const cfg = args[n], st = args[n + 1], sweep = args[n + 2];
    const values = args.slice(n + 3, 2 * n + 3), current = args.slice(2 * n + 3);
    const m = cfg.outs.length;
    const out = new Array(m + 1).fill(dc.no_update);
    const trig = ctx.triggered_id;
    const i = cfg.ids.indexOf(trig);
    if (i < 0 || !st) return out;
    const dv = args[i];
    // Not a drag: a value that arrived with the slider's own value (keyboard, a typed value,
    // the server's correction) is drawn by the settling callback.
    if (dv === null || dv === undefined || dv === values[i]) return out;
    const key = cfg.keys[i], sig = sigOf(st.search, key);
    if (!sweep || sweep.key !== key || sweep.sig !== sig) {
      if (asked[cfg.page] !== key + "?" + sig) {
        asked[cfg.page] = key + "?" + sig;
        out[m] = {key: key, sig: sig};
      }
      return out;
    }
    let k = 0, best = Infinity;
    for (let j = 0; j < sweep.values.length; j++) {
      const d = Math.abs(sweep.values[j] - dv);
      if (d < best) { best = d; k = j; }
    }
    const step = sweep.steps[k] || {}, base = sweep.base || {};
    for (let o = 0; o < m; o++) {
      const id = cfg.outs[o];
      if (!(id in base) && !(id in step)) continue;
      if (cfg.props[o] === "figure") {
        if (current[o]) out[o] = applyStep(current[o], [base[id], step[id]]);
      } else {
        out[o] = id in step ? step[id] : base[id];
      }
    }
    return out;
  }

  function url(st) {
    if (!st || typeof st.search !== "string") return window.dash_clientside.no_update;
    writeUrl(st.search, st.first === true);
    return window.dash_clientside.no_update;
  }

  function presentation(on) {
    // Everything in rem grows with the root font size (Mantine sizes are rem).
    document.documentElement.style.fontSize = on ? "125%" : "";
    return on ? "shell present" : "shell";
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {lossviz: {drag: drag, url: url, presentation: presentation}});
})();
