// The dub form: drag and drop, the parts of the form each mode needs, and sending the files one
// at a time so that each one's result (its job, or why it was refused) shows as soon as it is
// known, and a file over the server's limit is refused here before it is sent.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("dub-form");
  if (!form) return;
  const input = document.getElementById("dub-files");
  const zone = document.getElementById("dropzone");
  const chosen = document.getElementById("chosen-files");
  const results = document.getElementById("dub-results");
  const submit = document.getElementById("dub-submit");
  const limit = Number(form.dataset.maxUpload);

  function showChosen() {
    chosen.replaceChildren(...Array.from(input.files, (file) => {
      const item = document.createElement("li");
      item.textContent = file.name;
      if (file.size > limit) item.classList.add("too-large");
      return item;
    }));
  }

  function syncMode() {
    const mode = form.elements.mode.value;
    const ticked = new Set(Array.from(form.querySelectorAll("input[name=languages]:checked"), (box) => box.value));
    form.querySelectorAll(".mode-panel").forEach((panel) => {
      panel.hidden = !panel.dataset.modes.split(" ").includes(mode);
    });
    form.querySelectorAll(".own-script").forEach((script) => {
      script.hidden = !ticked.has(script.dataset.language);
    });
  }

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    input.files = event.dataTransfer.files;
    showChosen();
  });
  input.addEventListener("change", showChosen);
  form.addEventListener("change", syncMode);
  syncMode();

  function line(name, text) {
    const item = document.createElement("li");
    item.className = "dub-result failed";
    const label = document.createElement("span");
    label.className = "filename";
    label.textContent = name;
    const message = document.createElement("span");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    item.append(label, " ", message);
    return item;
  }

  async function send(file, pending) {
    if (file.size > limit) {
      pending.replaceWith(line(file.name, results.dataset.tooLarge.replace("{name}", file.name)));
      return;
    }
    const data = new FormData(form);
    data.delete("file");
    data.append("file", file, file.name);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "HX-Request": "true", "X-CSRF-Token": document.body.dataset.csrf },
      });
    } catch {
      pending.replaceWith(line(file.name, results.dataset.fallback));
      return;
    }
    if (response.headers.get("HX-Redirect")) {  // the session ended: sign in again
      window.location.assign(response.headers.get("HX-Redirect"));
      return;
    }
    const html = (response.headers.get("content-type") || "").startsWith("text/html");
    if (html && response.status !== 413) {
      const template = document.createElement("template");
      template.innerHTML = await response.text();
      const answer = template.content.querySelector("li") ? template.content : line(file.name, template.content.textContent.trim());
      pending.replaceWith(answer);
      return;
    }
    const message = results.dataset["status" + response.status] || results.dataset.fallback;
    pending.replaceWith(line(file.name, message));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files);
    if (!files.length) {
      results.prepend(line("", results.dataset.noFiles));
      return;
    }
    submit.disabled = true;
    try {
      for (const file of files) {
        const pending = document.createElement("li");
        pending.className = "dub-result pending";
        pending.textContent = `${file.name} — ${results.dataset.sending}`;
        results.append(pending);
        await send(file, pending);
      }
    } finally {
      submit.disabled = false;
    }
  });
});
