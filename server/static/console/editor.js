// The cue editor of /jobs/{id}/edit: each language's lines as rows (start, end, text); checked
// as they are typed (the server checks again); on submit only the changed languages are sent.
"use strict";

(() => {
  const form = document.getElementById("editor");
  if (!form) return;
  const duration = parseFloat(form.dataset.duration);
  const sections = [...form.querySelectorAll(".editor-language")];

  const linesOf = (section) =>
    [...section.querySelectorAll("tr.cue")].map((row) => ({
      start: parseFloat(row.querySelector(".cue-start").value),
      end: parseFloat(row.querySelector(".cue-end").value),
      text: row.querySelector(".cue-text").value.trim(),
    }));
  const original = new Map(sections.map((s) => [s.dataset.language, JSON.stringify(linesOf(s))]));

  // The first problem of a language's lines, or "" (the same rules as the server's).
  const problemOf = (lines) => {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (!line.text) return form.dataset.msgEmpty;
      if (!(line.end > line.start) || Number.isNaN(line.start)) return form.dataset.msgOrder;
      if (line.start < 0 || line.end > duration + 1e-6) return form.dataset.msgRange;
      if (i > 0 && line.start < lines[i - 1].end - 1e-6) return form.dataset.msgOverlap;
    }
    return "";
  };

  const check = () => {
    let ok = true;
    let changed = false;
    for (const section of sections) {
      const lines = linesOf(section);
      const problem = problemOf(lines);
      section.querySelector(".cue-problem").textContent = problem;
      ok = ok && !problem;
      changed = changed || JSON.stringify(lines) !== original.get(section.dataset.language);
    }
    const button = document.getElementById("redub");
    button.disabled = !ok || !changed;
    button.title = changed ? "" : form.dataset.msgUnchanged;
    return ok && changed;
  };

  form.addEventListener("input", check);
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const section = button.closest(".editor-language");
    const row = button.closest("tr.cue");
    if (button.classList.contains("cue-remove") && row) {
      row.remove();
    } else if (button.classList.contains("cue-add") && section) {
      const rows = section.querySelectorAll("tr.cue");
      const last = rows[rows.length - 1];
      const copy = last.cloneNode(true);
      const start = Math.min(parseFloat(last.querySelector(".cue-end").value) + 0.1, duration);
      copy.querySelector(".cue-start").value = start.toFixed(2);
      copy.querySelector(".cue-end").value = Math.min(start + 1, duration).toFixed(2);
      copy.querySelector(".cue-text").value = "";
      last.after(copy);
    } else if (button.classList.contains("cue-play") && row) {
      const video = section.querySelector("video");
      video.currentTime = parseFloat(row.querySelector(".cue-start").value) || 0;
      video.play();
    }
    check();
  });

  // Before htmx sends the form: the changed languages' lines, as JSON in one field.
  form.addEventListener("htmx:configRequest", (event) => {
    const edited = {};
    for (const section of sections) {
      const lines = linesOf(section);
      if (JSON.stringify(lines) !== original.get(section.dataset.language)) {
        edited[section.dataset.language] = lines;
      }
    }
    event.detail.parameters.lines = JSON.stringify(edited);
  });
  check();
})();
