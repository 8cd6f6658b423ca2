// crmsync's one script: what a plain form cannot do. Pages work without
// it except for live states (they show the state as of the page's load).
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  // Copy buttons: <button data-copy="#id"> copies the text of #id.
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-copy]");
    if (!b) return;
    const el = document.querySelector(b.dataset.copy);
    const text = el.value !== undefined ? el.value : el.textContent;
    navigator.clipboard.writeText(text.trim()).then(() => {
      const label = b.textContent;
      b.textContent = b.dataset.copied || label;
      setTimeout(() => { b.textContent = label; }, 2000);
    });
  });

  // Dialogs: <button data-open="#dialog"> opens a <dialog>, and a button
  // with data-close closes the one it is in.
  document.addEventListener("click", (e) => {
    const o = e.target.closest("[data-open]");
    if (o) { document.querySelector(o.dataset.open).showModal(); return; }
    const c = e.target.closest("[data-close]");
    if (c) { c.closest("dialog").close(); }
  });

  // A submit button with data-requires="#checkbox" stays disabled until
  // the box is ticked (the disconnect dialog's data-loss confirmation).
  const gate = () => {
    document.querySelectorAll("[data-requires]").forEach((b) => {
      const box = document.querySelector(b.dataset.requires);
      b.disabled = !(box && box.checked);
    });
  };
  document.addEventListener("change", gate);
  document.addEventListener("DOMContentLoaded", gate);

  // Live fragments: <div data-live="/path" data-every="2000"> is
  // replaced by what /path answers, every so often, while the page is
  // open. The fragment may carry data-live itself to keep going (or not,
  // to stop once there is nothing left to watch).
  const refresh = (el) => {
    const every = parseInt(el.dataset.every || "3000", 10);
    setTimeout(() => {
      if (!document.body.contains(el)) return;
      fetch(el.dataset.live, { headers: { "X-CSRF-Token": csrf(), "Accept": "text/html" }, credentials: "same-origin" })
        .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
        .then((html) => {
          const t = document.createElement("template");
          t.innerHTML = html.trim();
          const next = t.content.firstElementChild;
          if (!next) return;
          // Unchanged: keep the element, so that a screen reader does not
          // announce the same state again and focus stays where it is.
          if (next.isEqualNode(el)) { refresh(el); return; }
          el.replaceWith(next);
          gate();
          if (next.dataset.live) refresh(next);
        })
        .catch(() => refresh(el));
    }, every);
  };
  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-live]").forEach(refresh));
  // Fragments fetched on demand: <button type="button" data-swap="/path"
  // data-target="#id"> posts its form to /path and puts the answer in
  // place of #id (a choice only the server can list, from what the form
  // holds so far: the address books of a server, with the login typed).
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-swap]");
    if (!b) return;
    e.preventDefault();
    const target = document.querySelector(b.dataset.target);
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    fetch(b.dataset.swap, { method: "POST", body: new FormData(b.form), headers: { "X-CSRF-Token": csrf(), "Accept": "text/html" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        const t = document.createElement("template");
        t.innerHTML = html.trim();
        const next = t.content.firstElementChild;
        if (!next || !target) return;
        target.replaceWith(next);
        const focus = next.querySelector("select, [role=alert]");
        if (focus) { if (!focus.matches("select")) focus.tabIndex = -1; focus.focus(); }
      })
      .catch(() => {})
      .finally(() => { b.disabled = false; b.removeAttribute("aria-busy"); });
  });
})();
