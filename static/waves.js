// An invitation wave's page updates itself: it polls the wave's small JSON status every two seconds
// and moves the figures and the bar, until every email of the wave is settled. Without this file the
// page still works: reload it to see the progress.
(() => {
  "use strict";
  const POLL_MS = 2000;
  const SLOW_POLL_MS = 10000; // after repeated failures, ask less often

  function init() {
    const box = document.getElementById("wave-status");
    if (!box || !box.dataset.statusUrl) {
      return;
    }
    const bar = document.getElementById("wave-bar");
    let failures = 0;

    function show(data) {
      ["sent", "waiting", "failed", "cancelled"].forEach((name) => {
        const element = box.querySelector(`[data-field="${name}"]`);
        if (element && element.textContent !== String(data[name])) {
          element.textContent = String(data[name]);
        }
      });
      const settled = data.sent + data.failed + data.cancelled;
      if (bar) {
        bar.max = data.total || 1;
        bar.value = settled;
        bar.textContent = `${settled} of ${data.total}`;
      }
      const state = box.querySelector('[data-field="state"]');
      if (state) {
        state.textContent = data.done
          ? "Done: every email of the wave has left or been settled."
          : `Sending… ${settled} of ${data.total} settled.`;
      }
      box.dataset.done = data.done ? "true" : "false";
    }

    async function poll() {
      try {
        const response = await fetch(box.dataset.statusUrl, {
          credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
        });
        if (!response.ok) {
          throw new Error(`status ${response.status}`);
        }
        const data = await response.json();
        failures = 0;
        show(data);
        if (data.done) {
          return;
        }
      } catch (error) {
        failures += 1;
      }
      window.setTimeout(poll, failures > 3 ? SLOW_POLL_MS : POLL_MS);
    }

    if (box.dataset.done !== "true") {
      window.setTimeout(poll, POLL_MS);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
