// A talk's materials panel while an upload is being prepared by the worker: it asks the panel's small JSON
// status every two seconds and reloads the page once nothing is processing any more, so the speaker sees
// the file ready (or refused, with the reason). Without this file, the panel's "reload it" link does the same.
(() => {
  "use strict";
  const POLL_MS = 2000;
  const SLOW_POLL_MS = 10000; // after repeated failures (a restarting server), ask less often
  const GIVE_UP_MS = 10 * 60 * 1000;

  function init() {
    const panel = document.getElementById("materials");
    if (!panel || !panel.dataset.statusUrl) {
      return;
    }
    const started = Date.now();
    let failures = 0;

    async function poll() {
      try {
        const response = await fetch(panel.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) {
          throw new Error(`status ${response.status}`);
        }
        const data = await response.json();
        failures = 0;
        if (data.processing === 0) {
          window.location.reload();
          return;
        }
      } catch (error) {
        failures += 1;
      }
      if (Date.now() - started < GIVE_UP_MS) {
        window.setTimeout(poll, failures > 3 ? SLOW_POLL_MS : POLL_MS);
      }
    }

    window.setTimeout(poll, POLL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
