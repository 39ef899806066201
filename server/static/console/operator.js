// The operator pages: copying a new key (shown once) to the clipboard.
"use strict";

// Delegated: the key's card may arrive later, swapped in by htmx.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("#copy-key");
  if (!button) return;
  const input = document.getElementById("new-key");
  const status = document.getElementById("copy-status");
  input.focus();
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = button.dataset.copied;
  } catch {
    status.textContent = button.dataset.failed;  // e.g. not a secure context: copy by hand
  }
});
