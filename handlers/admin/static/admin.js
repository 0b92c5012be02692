// The console's only script (served as a file: the CSP allows no inline code). Progressive: every page works as
// plain forms; this adds the live YAML check, the preview chat, and confirmations.
"use strict";

const main = document.querySelector("main");
const csrf = main ? main.dataset.csrf || "" : "";

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: "the server answered " + response.status }; }
  return { ok: response.ok, data };
}

// ---- confirmations ---------------------------------------------------------------------------------------------
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// ---- uploads: a file over the server's body limit is stopped here, with a sentence instead of the server's 413 -----
document.querySelectorAll("input[type=file][data-max-bytes]").forEach((input) => {
  const form = input.form;
  const message = form.querySelector("[data-size-error]");
  const tooBig = () => input.files.length > 0 && input.files[0].size > Number(input.dataset.maxBytes);
  input.addEventListener("change", () => { message.hidden = !tooBig(); });
  form.addEventListener("submit", (event) => {
    if (tooBig()) { event.preventDefault(); message.hidden = false; }
  });
});

// ---- the YAML editor: line numbers, the live check, Publish only while valid -------------------------------------
const editor = document.querySelector("form.yaml-editor");
if (editor) {
  const source = editor.querySelector("textarea[name=source]");
  const gutter = editor.querySelector(".gutter");
  const list = editor.querySelector("ul.problems.live");
  const state = editor.querySelector(".check-state");
  const publish = editor.querySelector("#publish");
  let bad = new Set();
  let timer = null;
  let seq = 0;

  const drawGutter = () => {
    const count = source.value.split("\n").length;
    const lines = [];
    for (let i = 1; i <= count; i++) lines.push(bad.has(i) ? `<span class="bad" data-line="${i}">${i}</span>` : String(i));
    gutter.innerHTML = lines.join("\n");
    gutter.scrollTop = source.scrollTop;
  };
  const show = (problems) => {
    bad = new Set(problems.map((p) => p.line));
    list.replaceChildren(...problems.map((p) => {
      const item = document.createElement("li");
      const line = document.createElement("a");
      line.className = "line"; line.href = "#"; line.textContent = `line ${p.line}`;
      line.addEventListener("click", (e) => { e.preventDefault(); goToLine(p.line); });
      item.append(line, " " + p.message);
      return item;
    }));
    drawGutter();
  };
  const goToLine = (n) => {
    const lines = source.value.split("\n");
    const start = lines.slice(0, n - 1).reduce((sum, l) => sum + l.length + 1, 0);
    source.focus();
    source.setSelectionRange(start, start + (lines[n - 1] || "").length);
    source.scrollTop = Math.max(0, (n - 5) * 19.5);
  };
  const check = async () => {
    const mine = ++seq;
    state.textContent = "Checking…"; state.className = "check-state muted";
    const { ok, data } = await postJSON(editor.dataset.check, { source: source.value });
    if (mine !== seq) return; // a newer edit is being checked
    if (!ok) { state.textContent = data.error || "Could not check."; return; }
    show(data.problems);
    if (data.valid) {
      state.textContent = "Valid: ready to publish."; state.className = "check-state ok";
    } else {
      const n = data.problems.length;
      state.textContent = `${n} problem${n === 1 ? "" : "s"}: Publish is off until ${n === 1 ? "it is" : "they are"} fixed.`;
      state.className = "check-state bad";
    }
    if (publish) publish.disabled = !data.valid;
  };
  source.addEventListener("input", () => {
    drawGutter();
    if (publish) publish.disabled = true; // until the check of this very text says it is valid
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  });
  source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });
  source.addEventListener("keydown", (e) => { // Tab indents instead of leaving the editor
    if (e.key === "Tab" && !e.shiftKey && !source.readOnly) {
      e.preventDefault();
      document.execCommand("insertText", false, "  ");
    }
  });
  drawGutter();
  check();
}

// ---- the preview: the draft in a chat against a scratch store --------------------------------------------------
const panel = document.querySelector("section.preview");
if (panel) {
  const chat = panel.querySelector(".chat");
  const sayForm = panel.querySelector("form.say");
  const input = sayForm.querySelector("input");
  const send = sayForm.querySelector("button");
  const skip = panel.querySelector("[data-act=skip]");
  const start = panel.querySelector("[data-act=start]");
  const answers = panel.querySelector(".answers");
  const stateLine = panel.querySelector(".preview-state");
  const draft = document.querySelector("textarea[name=source]");
  let preview = "";

  const note = (text) => {
    const div = document.createElement("div");
    div.className = "msg note"; div.textContent = text;
    chat.append(div); chat.scrollTop = chat.scrollHeight;
  };
  const attributes = () => {
    const out = {};
    for (const line of panel.querySelector("[name=attributes]").value.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return out;
  };
  const render = (data) => {
    for (const m of data.messages) {
      const div = document.createElement("div");
      div.className = "msg " + (m.direction === "in" ? "in" : "out");
      div.textContent = m.text;
      if (m.direction !== "in" && m.buttons && m.buttons.length) {
        const row = document.createElement("div");
        row.className = "buttons";
        for (const b of m.buttons) {
          const button = document.createElement("button");
          button.type = "button"; button.textContent = b.label;
          button.addEventListener("click", () => act({ action: "press", choice: b.value, label: b.label }));
          row.append(button);
        }
        div.append(row);
      }
      chat.append(div);
    }
    chat.scrollTop = chat.scrollHeight;
    answers.textContent = JSON.stringify(data.answers, null, 2);
    skip.hidden = !data.waiting_until;
    const step = data.step ? `step ${data.step}, ` : "";
    stateLine.textContent = `Run: ${data.status} (${step}test clock ${data.clock.replace("T", " ").slice(0, 16)})` +
      (data.waiting_until ? ` · waiting until ${data.waiting_until.replace("T", " ").slice(0, 16)}` : "");
  };
  const act = async (body) => {
    const { ok, data } = await postJSON(panel.dataset.preview, { ...body, preview });
    if (!ok) {
      note(data.error + (data.problems && data.problems.length ? ": " + data.problems.map((p) => `line ${p.line} ${p.message}`).join("; ") : ""));
      return;
    }
    preview = data.preview;
    render(data);
  };
  start.addEventListener("click", async () => {
    chat.replaceChildren();
    note("Preview of the draft: nothing is saved, no customer gets anything.");
    await act({
      action: "start", flow: panel.dataset.flow, source: draft ? draft.value : "",
      step: panel.querySelector("[name=step]").value, tier: panel.querySelector("[name=tier]").value,
      language: panel.querySelector("[name=language]").value, attributes: attributes(),
    });
    input.disabled = false; send.disabled = false; start.textContent = "Start again";
  });
  sayForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await act({ action: "say", text });
  });
  skip.addEventListener("click", () => act({ action: "skip" }));
}
