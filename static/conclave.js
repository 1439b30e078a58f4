// Progressive enhancements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Tick everyone on this page" in the invite list.
  document.querySelectorAll("input.select-all").forEach((master) => {
    master.addEventListener("change", () => {
      const form = master.closest("form");
      form.querySelectorAll('input[name="ids"]').forEach((box) => { box.checked = master.checked; });
    });
  });
  // Ask before revoking: it ends every access the person had.
  document.querySelectorAll("form.bulk, form.actions").forEach((form) => {
    form.addEventListener("submit", (event) => {
      const submitter = event.submitter;
      const action = (submitter && submitter.value === "revoke") ? "revoke"
        : (form.querySelector('select[name="action"]') || {}).value;
      if (action === "revoke" && !window.confirm("Revoke access? They lose everything at once.")) {
        event.preventDefault();
      }
    });
  });
});

// Long actions (the auto-scheduler): say that work is under way and prevent a double submit.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset || !form.dataset.busy || event.defaultPrevented) return;
  const button = form.querySelector('button[type="submit"]');
  if (button) {
    button.disabled = true;
    button.textContent = form.dataset.busy;
    button.setAttribute("aria-busy", "true");
  }
});

// A form sent back with errors: put the cursor in the first field that needs fixing.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
});

// Pages that stay on a screen (the projector) reload themselves now and then, while they are visible.
document.addEventListener("DOMContentLoaded", () => {
  const seconds = Number(document.body.dataset.reloadSeconds);
  if (!seconds) return;
  window.setInterval(() => {
    if (document.visibilityState === "visible") window.location.reload();
  }, seconds * 1000);
});
