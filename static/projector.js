// The projector shows a room code that changes every minute: reload the page as soon as it has changed.
// The server says how many seconds remain (data-refresh-in), so a wrong clock on this computer does not
// matter. A page that is hidden reloads when it is shown again.
document.addEventListener("DOMContentLoaded", () => {
  const seconds = Number(document.body.dataset.refreshIn);
  if (!seconds) return;
  let due = false;
  const reload = () => {
    if (document.visibilityState === "visible") window.location.reload();
    else due = true;
  };
  document.addEventListener("visibilitychange", () => {
    if (due && document.visibilityState === "visible") window.location.reload();
  });
  // A second late, so the server is surely in the new minute; then every minute should a reload fail.
  window.setTimeout(() => {
    reload();
    window.setInterval(reload, 60 * 1000);
  }, (seconds + 1) * 1000);
});
