// The text tools' "copy" buttons (translate, copywriting): a button[data-copy] copies the text of
// the element its selector names. Delegated from the document, so that buttons htmx swaps in work
// too. navigator.clipboard exists only in a secure context (https, localhost); on a plain-http
// LAN address the text is selected and copied with the older execCommand instead.
"use strict";

async function copyText(source) {
  const text = source.innerText.trim();
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      // refused (no permission): fall back to selecting the text
    }
  }
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try {
    return document.execCommand("copy");
  } catch (error) {
    return false; // the text stays selected: the merchant copies it by hand
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  const copied = await copyText(source);
  button.textContent = copied ? button.dataset.copied : button.dataset.failed;
  button.classList.toggle("copied", copied);
  setTimeout(() => {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2000);
});
