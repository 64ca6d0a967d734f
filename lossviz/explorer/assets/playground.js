/* The Playground page's browser side, as Dash clientside callbacks (wired in
 * lossviz/explorer/pages/playground/callbacks.py with ClientsideFunction("playground", ...)).
 *
 * Pacing: while playing, each answer of the server's tick sends the next tick (set_props on
 * the tick store: one request in flight, never a queue); the dcc.Interval is only a watchdog
 * that restarts the chain when an answer never came (a dropped request), so a fast interval
 * does not keep the browser's main thread busy.
 *
 * URL: the server says what the view's query string is and whether it changed the view (a
 * setting, a point added or removed): that pushes a history entry (changes closer together than
 * BURST_MS, such as a preset and the sliders it sets, are one entry); the first answer, a reset
 * and the frames write it in place.
 */
(function () {
  const WATCHDOG_MS = 2000;  // a tick unanswered this long no longer blocks the next
  const BURST_MS = 800;
  const pacing = {busy: 0};  // per tab: this script runs once per page load
  let lastPush = 0;

  function noUpdate() { return window.dash_clientside.no_update; }

  const playground = {
    // The watchdog's beat: a new tick unless one is on its way.
    pump: function (n, disabled) {
      const now = Date.now();
      if (disabled || (pacing.busy && now - pacing.busy < WATCHDOG_MS)) return noUpdate();
      pacing.busy = now;
      return now;
    },
    // An answer landed (the state store changed): while playing, ask for the next frame now,
    // so the server computes it while this one is drawn.
    ack: function (store, disabled, tickId) {
      pacing.busy = 0;
      if (!disabled) {
        pacing.busy = Date.now();
        window.dash_clientside.set_props(tickId, {data: Date.now()});
      }
      return noUpdate();
    },
    // Play enables the watchdog interval (its first beat starts the chain), Pause disables it.
    play: function (play, pause) {
      const t = window.dash_clientside.callback_context.triggered_id;
      pacing.busy = 0;
      return !(t && t.endsWith("-play"));
    },
    url: function (u) {
      if (!u || typeof u.search !== "string") return noUpdate();
      // A late answer after the hand left the page must not write this page's query elsewhere.
      if (!/^\/playground\/?$/.test(window.location.pathname)) return noUpdate();
      const path = window.location.pathname;
      if (u.search !== window.location.search) {
        const url = path + u.search + window.location.hash;
        const now = Date.now();
        if (u.push && now - lastPush > BURST_MS) {
          window.history.pushState({}, "", url);
          lastPush = now;
        } else {
          window.history.replaceState({}, "", url);
        }
      }
      // As every page does (pages/__init__.py): the url-shown store says the page on screen
      // shows this URL, and Dash Pages' dcc.Location is told of it (it reads the URL on
      // popstate), so it leaves the page as it is; Back and Forward re-render it from the URL.
      const query = {};
      new URLSearchParams(u.search).forEach(function (v, k) { query[k] = v; });
      window.dash_clientside.set_props("url-shown", {data: {path: path, query: query}});
      window.dispatchEvent(new PopStateEvent("popstate", {state: window.history.state}));
      return noUpdate();
    },
    // A slider's value beside its label.
    show: function (v) {
      return v === null || v === undefined ? "" : String(v);
    },
  };

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.playground = playground;
})();
