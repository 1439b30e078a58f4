// Drag-and-drop for the schedule editor, on top of its forms. Dropping an unplaced card on a cell fills the
// card's own place form with that cell and submits it, exactly as the keyboard path does; dropping a placed
// card posts the grid's form with the session and the cell to place (a move) or, dropped on the unplaced
// list, to unplace. A long talk starts in the cell it lands on and takes the slots after it. A session people
// signed up for comes back with the confirmation page. Without this file, the forms and the Move links work.
(() => {
  "use strict";
  const SCROLL_KEY = "conclave-schedule-scroll";
  let dragged = null;

  function submit(form) {
    rememberScroll();
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function rememberScroll() {
    const grid = document.querySelector(".grid-scroll");
    try {
      sessionStorage.setItem(SCROLL_KEY, JSON.stringify({
        path: location.pathname, x: window.scrollX, y: window.scrollY, gridX: grid ? grid.scrollLeft : 0,
      }));
    } catch (error) {
      // Private windows may refuse storage; the page still works, it just scrolls to the top.
    }
  }

  function restoreScroll() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(SCROLL_KEY) || "null");
      sessionStorage.removeItem(SCROLL_KEY);
    } catch (error) {
      return;
    }
    if (!saved || saved.path !== location.pathname || location.hash) {
      return;
    }
    const grid = document.querySelector(".grid-scroll");
    if (grid) {
      grid.scrollLeft = saved.gridX || 0;
    }
    window.scrollTo(saved.x || 0, saved.y || 0);
  }

  function setField(form, name, value) {
    let field = form.querySelector(`[name="${name}"]:not(button)`);
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = name;
      form.append(field);
    }
    field.value = value;
  }

  function sessionOf(card) {
    return card.id.replace(/^s-/, "");
  }

  function dropOnCell(card, cell) {
    if (card.dataset.room === cell.dataset.room && card.dataset.slot === cell.dataset.slot) {
      return; // dropped where it already is
    }
    const own = card.querySelector("form.place-form");
    const form = own || document.getElementById("grid-form");
    if (!form) {
      return;
    }
    if (!own) {
      form.action = form.dataset.place;
      setField(form, "span", ""); // as many slots as the talk's length needs, from the cell it lands on
    }
    setField(form, "proposal", sessionOf(card));
    setField(form, "room", cell.dataset.room);
    setField(form, "slot", cell.dataset.slot);
    cell.setAttribute("aria-busy", "true");
    submit(form);
  }

  function dropOnUnplaced(card) {
    const form = document.getElementById("grid-form");
    if (form && form.dataset.unplace) {
      form.action = form.dataset.unplace;
      setField(form, "proposal", sessionOf(card));
      submit(form);
    }
  }

  function targetOf(event) {
    const element = event.target instanceof Element ? event.target : event.target.parentElement;
    if (!element || !dragged) {
      return null;
    }
    return element.closest("td.cell") || (dragged.dataset.room ? element.closest("[data-unplace-target]") : null);
  }

  function clearTargets() {
    document.querySelectorAll(".drop-target").forEach((element) => element.classList.remove("drop-target"));
  }

  function init() {
    const editor = document.querySelector(".editor");
    if (!editor) {
      return;
    }
    restoreScroll();

    editor.addEventListener("dragstart", (event) => {
      const element = event.target instanceof Element ? event.target : null;
      const card = element && element.closest(".session[draggable]");
      if (!card) {
        return;
      }
      dragged = card;
      card.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", sessionOf(card));
    });

    editor.addEventListener("dragend", () => {
      if (dragged) {
        dragged.classList.remove("dragging");
      }
      dragged = null;
      clearTargets();
    });

    editor.addEventListener("dragover", (event) => {
      const target = targetOf(event);
      if (!target) {
        return;
      }
      event.preventDefault(); // this element accepts the drop
      event.dataTransfer.dropEffect = "move";
      if (!target.classList.contains("drop-target")) {
        clearTargets();
        target.classList.add("drop-target");
      }
    });

    editor.addEventListener("dragleave", (event) => {
      const target = targetOf(event);
      if (target && !target.contains(event.relatedTarget)) {
        target.classList.remove("drop-target");
      }
    });

    editor.addEventListener("drop", (event) => {
      const target = targetOf(event);
      const card = dragged;
      clearTargets();
      if (!target || !card) {
        return;
      }
      event.preventDefault();
      if (target.matches("td.cell")) {
        dropOnCell(card, target);
      } else {
        dropOnUnplaced(card);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
