// The auto-scheduler's run page updates itself: it polls the run's small JSON status about once a second,
// moves the progress bar and the figures of the best schedule so far, and, when the run ends, puts the
// proposed schedule in place without reloading. "Stop the scheduler" posts in the background. Without this
// file the page still works: reload it to see the progress; the Stop button posts as a plain form.
(() => {
  "use strict";
  const POLL_MS = 1000;
  const SLOW_POLL_MS = 5000; // after repeated failures (a restarting server), ask less often

  function init() {
    const box = document.getElementById("run-status");
    if (!box || !box.dataset.statusUrl) {
      return;
    }
    const bar = document.getElementById("run-bar");
    const cancel = document.getElementById("run-cancel");
    let failures = 0;
    let stopped = false;

    function show(data) {
      box.dataset.status = data.status;
      if (bar) {
        if (data.waiting) {
          bar.removeAttribute("value"); // indeterminate: no worker has it yet
        } else {
          bar.value = data.percent;
        }
        bar.textContent = `${data.percent}%`;
      }
      Object.entries(data.fields || {}).forEach(([name, text]) => {
        box.querySelectorAll(`[data-field="${name}"]`).forEach((element) => {
          if (element.textContent !== text) {
            element.textContent = text;
          }
        });
      });
      if (data.finished && cancel) {
        cancel.hidden = true;
      }
    }

    async function loadPreview(url) {
      const target = document.getElementById("run-preview");
      if (!target) {
        return;
      }
      try {
        const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) {
          return;
        }
        target.innerHTML = await response.text();
        target.hidden = false;
        const heading = target.querySelector("h2");
        if (heading) {
          heading.focus();
        }
      } catch (error) {
        // The page still says the run is done; a reload shows the schedule.
      }
    }

    async function poll() {
      if (stopped) {
        return;
      }
      let next = POLL_MS;
      try {
        const response = await fetch(box.dataset.statusUrl, {
          headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
        });
        if (response.status === 403 || response.status === 404) {
          stopped = true; // signed out, or the run is gone: nothing more to watch
          return;
        }
        if (response.ok) {
          failures = 0;
          const data = await response.json();
          show(data);
          if (data.finished) {
            stopped = true;
            if (data.preview_url) {
              loadPreview(data.preview_url);
            }
            return;
          }
        } else {
          failures += 1;
        }
      } catch (error) {
        failures += 1; // a network hiccup: try again
      }
      if (failures > 3) {
        next = SLOW_POLL_MS;
      }
      window.setTimeout(poll, next);
    }

    if (cancel) {
      cancel.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = cancel.querySelector("button");
        if (button) {
          button.disabled = true;
          button.textContent = "Stopping…";
        }
        try {
          const response = await fetch(cancel.action, {
            method: "POST", body: new FormData(cancel), credentials: "same-origin",
            headers: { Accept: "application/json" },
          });
          const data = await response.json();
          show(data);
        } catch (error) {
          cancel.submit(); // the plain way, with a reload
        }
      });
    }

    if (box.dataset.finished !== "true") {
      window.setTimeout(poll, POLL_MS);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
