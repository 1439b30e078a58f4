// The reader of view-only materials: asks the server for one stamped page at a time and draws it with
// pdf.js. Every page is a new request the server decides anew, so a reader whose access has ended is
// stopped at the next page; while a page is in view, the time it has been visible is reported.
import * as pdfjs from "./vendor/pdfjs/pdf.min.mjs";

const root = document.getElementById("reader");
if (root) {
  pdfjs.GlobalWorkerOptions.workerSrc = root.dataset.worker;
  // One worker for every page: a document destroyed after the next one loads leaves it running.
  const worker = new pdfjs.PDFWorker();
  const pages = Number(root.dataset.pages);
  const frame = root.querySelector("[data-frame]");
  const canvas = frame.querySelector("canvas");
  const loading = frame.querySelector("[data-loading]");
  const message = root.querySelector(".reader-message");
  const current = root.querySelector("[data-current]");
  const buttons = [...root.querySelectorAll("[data-go]")];
  const seenForm = root.querySelector("[data-seen-form]");
  const HEARTBEAT_MS = 15000;
  const filename = document.querySelector("h1").textContent;

  let page = Number(root.dataset.start) || 1;
  let shown = 0;            // the page on the canvas (0: none yet)
  let documentShown = null; // its one-page PDF, kept to redraw at a new width without asking again
  let loadedTask = null;    // the pdf.js task that loaded it, destroyed once the next page is in
  let visibleMs = 0;        // how long the shown page has been visible
  let visibleSince = document.visibilityState === "visible" ? performance.now() : null;
  let busy = false;
  let closed = false;

  const seenSoFar = () => visibleMs + (visibleSince === null ? 0 : performance.now() - visibleSince);

  function report(pageNumber, keepalive) {
    if (!pageNumber || closed) return;
    const body = new FormData(seenForm);
    body.set("page", String(pageNumber));
    body.set("seconds", String(Math.round(seenSoFar() / 1000)));
    fetch(root.dataset.seenUrl, { method: "POST", body, credentials: "same-origin", keepalive })
      .then(async (response) => {
        if (response.status === 403 || response.status === 404) close(await refusal(response));
      })
      .catch(() => {}); // a lost report costs a few seconds of the count, nothing else
  }

  async function refusal(response) {
    try {
      const answer = await response.json();
      if (answer && answer.message) return answer.message;
    } catch (error) { /* not JSON: say it plainly */ }
    return "This page cannot be shown just now.";
  }

  function close(text) {
    closed = true;
    documentShown = null;
    if (loadedTask) loadedTask.destroy();
    loadedTask = null;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    canvas.hidden = true;
    loading.hidden = true;
    root.classList.add("closed");
    buttons.forEach((button) => { button.disabled = true; });
    message.textContent = text;
    message.hidden = false;
  }

  function updateBar() {
    current.textContent = String(page);
    buttons.forEach((button) => {
      const target = page + Number(button.dataset.go);
      button.disabled = closed || busy || target < 1 || target > pages;
    });
  }

  async function draw(pdf) {
    const pdfPage = await pdf.getPage(1);
    const natural = pdfPage.getViewport({ scale: 1 });
    const room = Math.max(200, frame.clientWidth - 24);
    const scale = Math.min(room / natural.width, 2.5);
    const viewport = pdfPage.getViewport({ scale });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    canvas.style.width = `${Math.floor(viewport.width)}px`;
    const transform = ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : null;
    await pdfPage.render({ canvas, viewport, transform }).promise;
  }

  async function show(target) {
    if (closed || busy || target < 1 || target > pages) return;
    busy = true;
    if (shown) report(shown, true); // the page being left: its final count
    page = target;
    updateBar();
    loading.textContent = `Loading page ${target}…`;
    loading.hidden = false;
    try {
      const response = await fetch(root.dataset.pageUrl + target, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        const text = await refusal(response);
        if (response.status === 403 || response.status === 404) {
          close(text);
        } else if (response.status === 429) {
          message.textContent = "That was many pages in a short time: wait a minute, then go on.";
          message.hidden = false;
        } else {
          message.textContent = text;
          message.hidden = false;
        }
        return;
      }
      const data = new Uint8Array(await response.arrayBuffer());
      const task = pdfjs.getDocument({ data, worker, disableFontFace: true, enableXfa: false, isEvalSupported: false });
      const pdf = await task.promise;
      if (loadedTask) loadedTask.destroy();
      loadedTask = task;
      documentShown = pdf;
      await draw(pdf);
      shown = target;
      visibleMs = 0;
      visibleSince = document.visibilityState === "visible" ? performance.now() : null;
      message.hidden = true;
      canvas.hidden = false;
      canvas.setAttribute("aria-label", `Page ${target} of ${pages} of ${filename}`);
      root.dataset.shown = String(target);
      const url = new URL(window.location.href);
      url.searchParams.set("page", String(target));
      window.history.replaceState(null, "", url);
    } catch (error) {
      message.textContent = "This page could not be drawn. Reload the page to try again.";
      message.hidden = false;
    } finally {
      busy = false;
      loading.hidden = true;
      updateBar();
    }
  }

  buttons.forEach((button) => button.addEventListener("click", () => show(page + Number(button.dataset.go))));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "ArrowRight" || event.key === "PageDown") show(page + 1);
    else if (event.key === "ArrowLeft" || event.key === "PageUp") show(page - 1);
  });
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      if (visibleSince !== null) visibleMs += performance.now() - visibleSince;
      visibleSince = null;
      report(shown, true);
    } else if (visibleSince === null) {
      visibleSince = performance.now();
    }
  });
  window.addEventListener("pagehide", () => report(shown, true));
  window.setInterval(() => {
    if (document.visibilityState === "visible" && shown && !busy) report(shown, false);
  }, HEARTBEAT_MS);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => { if (documentShown && !closed) draw(documentShown); }, 150);
  });
  show(page);
}
