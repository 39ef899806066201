// The console's own script (no inline scripts: the pages' policy is default-src 'self').
// Shared behaviour only; a page's own script is in its own file beside this one.
"use strict";

// An answer htmx could not show (e.g. the server's 413 for a too large upload, sent before the
// page's route ran, as JSON): show its message in the element the form names for errors.
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  if ((xhr.getResponseHeader("content-type") || "").startsWith("text/html")) return;
  const target = document.querySelector(event.detail.elt.dataset.errors || "#errors");
  if (!target) return;
  let message = target.dataset["status" + xhr.status] || target.dataset.fallback || xhr.statusText;
  target.textContent = message;
  target.classList.add("error");
});
