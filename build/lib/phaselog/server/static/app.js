// phaselog explore: one page over the server's JSON routes. Text from the model, the journal or the store only
// ever enters the page through text nodes (el() below, textContent): never as markup, so an entry like
// <script>alert(1)</script> reads as what it is.
"use strict";

const state = { run: null, limits: {}, checkpointStep: null, history: [], lastReplyStep: null, reviewStep: null };
const $ = (id) => document.getElementById(id);
const fmtStep = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const fmtNum = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const SVG = "http://www.w3.org/2000/svg";

// el("td", {class: "x"}, "text", child): strings become text nodes
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const tags = (value) => value.split(",").map((t) => t.trim()).filter(Boolean);

// ---- talking to the server -------------------------------------------------------------------------------------

class ApiError extends Error {}

function describe(detail) {
  if (typeof detail === "string") return detail;
  // FastAPI's validation errors: a list of {loc, msg}
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return JSON.stringify(detail);
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail !== undefined ? describe(data.detail) : response.statusText;
    throw new ApiError(`${response.status}: ${detail}`);
  }
  return data;
}

const runPath = (suffix) => `/api/runs/${encodeURIComponent(state.run)}/${suffix}`;

function showMessage(form, text, isError) {
  const box = form.querySelector(".form-message");
  box.textContent = text;
  box.classList.toggle("error", Boolean(isError));
}

function showBanner(text) {
  const banner = $("error-banner");
  banner.textContent = text;
  banner.hidden = !text;
}

// run a form's action with its button disabled; errors land in the form's message line
async function submitting(form, action) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await action();
  } catch (err) {
    showMessage(form, err.message, true);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// ---- header ----------------------------------------------------------------------------------------------------

async function loadCheckpoint() {
  const checkpoint = await api(runPath("checkpoint"));
  setCheckpointStep(checkpoint.step);
}

function setCheckpointStep(step) {
  state.checkpointStep = step;
  $("checkpoint-step").textContent = step === null ? "none yet" : fmtStep(step);
}

// ---- overview --------------------------------------------------------------------------------------------------

function niceTicks(low, high, count) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

// a line chart of [[step, value], ...] into an <svg viewBox="0 0 560 220">; dots when there are few points
function drawChart(svg, points, color) {
  svg.replaceChildren();
  const W = 560, H = 220, left = 52, right = 14, top = 12, bottom = 30;
  if (!points.length) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, "no data yet"));
    return;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const pad = (y1 - y0) * 0.06 || Math.abs(y1) * 0.05 || 1;
  y0 -= pad; y1 += pad;
  const sx = (x) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const sy = (y) => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);

  for (const t of niceTicks(y0, y1, 5)) {
    svg.append(svgEl("line", { x1: left, x2: W - right, y1: sy(t), y2: sy(t), class: "grid" }));
    svg.append(svgEl("text", { x: left - 6, y: sy(t) + 4, "text-anchor": "end", class: "tick" }, String(t)));
  }
  for (const t of niceTicks(x0, x1, 5)) {
    svg.append(svgEl("text", { x: sx(t), y: H - 10, "text-anchor": "middle", class: "tick" }, fmtStep(t)));
  }
  svg.append(svgEl("line", { x1: left, x2: W - right, y1: H - bottom, y2: H - bottom, class: "axis" }));
  const d = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
  svg.append(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 1.8, class: "series" }));
  if (points.length <= 40) {
    for (const p of points) {
      const dot = svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3.2, fill: color });
      dot.append(svgEl("title", {}, `step ${fmtStep(p[0])}: ${fmtNum(p[1], 4)}`));
      svg.append(dot);
    }
  }
}

function fillTable(table, rows, emptyText, columnCount) {
  const body = table.querySelector("tbody");
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columnCount, class: "muted" }, emptyText))]));
}

const badge = (text, kind) => el("span", { class: `badge ${kind || text}` }, String(text).replaceAll("_", " "));

function reasonText(reason) {
  if (typeof reason === "string") return reason;
  const where = reason.layer !== null && reason.layer !== undefined ? `, layer ${reason.layer}` : "";
  return `${reason.code} at step ${fmtStep(reason.step)}${where}`;
}

function renderOverview(o) {
  const run = o.run;
  $("run-status").replaceWith(Object.assign(badge(run.status), { id: "run-status" }));
  $("run-summary").textContent = `${run.name} · steps ${fmtStep(run.start_step)} → ${fmtStep(run.end_step)}, ` +
    `trained to ${fmtStep(run.latest_step)} on ${run.device}`;
  // the run's phase: the run it continues and the runs continuing it
  const parent = run.parent_run ? `continues ${run.parent_run} from step ${fmtStep(run.continued_from)}` : "first run";
  const children = o.children.map((c) => `${c.run_id} (from step ${fmtStep(c.continued_from)})`).join(", ");
  $("run-phase").textContent = `phase ${run.phase} · ${parent}` + (children ? ` · continued by ${children}` : "");
  drawChart($("loss-chart"), o.loss, "#2f6f73");
  drawChart($("bpb-chart"), o.val_bpb, "#8a5a2b");

  fillTable($("health-table"), o.health.map((h) => el("tr", {},
    el("td", {}, `${fmtStep(h.segment_start + 1)}–${fmtStep(h.step)}`),
    el("td", {}, badge(h.status)),
    el("td", {}, h.sentence || "", ...(h.reasons.length ? [el("br"), el("small", {}, h.reasons.map(reasonText).join("; "))] : [])),
  )), "no health verdicts yet", 3);

  $("loop-summary").textContent = o.loop_events.length
    ? `${o.loop_events.length} looping text${o.loop_events.length > 1 ? "s" : ""} in ${o.loops_scanned} scanned`
    : `no loops in ${o.loops_scanned} scanned texts`;
  fillTable($("loop-table"), o.loop_events.map((e) => el("tr", {},
    el("td", {}, fmtStep(e.step)), el("td", {}, `${e.source} ${e.item}`), el("td", {}, badge(e.severity)),
    el("td", {}, e.period ? `${e.period} ${e.unit}${e.period > 1 ? "s" : ""} × ${e.repeats}` : ""),
    el("td", { class: "excerpt" }, e.excerpt || ""),
  )), "none", 5);

  $("bias-summary").textContent = o.bias_events.length ? "" : "no findings in scanned texts";
  fillTable($("bias-table"), o.bias_events.map((e) => el("tr", {},
    el("td", {}, fmtStep(e.step)), el("td", {}, e.source), el("td", {}, badge(e.severity)), el("td", {}, e.category),
    el("td", { class: "excerpt" }, e.context || "", e.discounted ? el("small", {}, ` (discounted: ${e.discounted})`) : ""),
    el("td", {}, e.decision || "–"),
  )), "none", 6);
  $("probe-step").textContent = o.bias_probe.length ? `at step ${fmtStep(o.bias_probe[0].step)}` : "";
  fillTable($("probe-table"), o.bias_probe.map((p) => el("tr", {},
    el("td", {}, p.category), el("td", {}, `${fmtNum(p.value)} ± ${fmtNum(p.stderr)}`), el("td", {}, badge(p.severity)),
  )), "no probe yet", 3);

  renderReview(o.pending_review);
}

function renderReview(review) {
  const panel = $("review-panel");
  panel.hidden = !review;
  // a refresh keeps a half-written note: the form is rebuilt only when another review is waiting
  if (!review || review.step === state.reviewStep) return;
  state.reviewStep = review.step;
  $("review-step").textContent = fmtStep(review.step);
  $("review-reasons").replaceChildren(...review.reasons.map((r) => el("li", {}, reasonText(r))));
  $("review-description").textContent = review.description || "";
  $("review-note").value = "";
  showMessage($("review-form"), "");
}

async function loadOverview() {
  renderOverview(await api(runPath("overview")));
}

// ---- chat ------------------------------------------------------------------------------------------------------

function addTurn(role, text, step) {
  const transcript = $("transcript");
  transcript.querySelector(".empty")?.remove();
  const who = role === "user" ? "you" : `model · step ${fmtStep(step)}`;
  const turn = el("div", { class: `turn ${role}` }, el("div", { class: "who" }, who), el("div", { class: "text" }, text));
  transcript.append(turn);
  transcript.scrollTop = transcript.scrollHeight;
  return turn;
}

function numberOrNull(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

async function sendChat(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const prompt = $("prompt").value;
  if (!prompt.trim()) return showMessage(form, "Write a prompt first.", true);
  showMessage(form, "The model is writing…");
  await submitting(form, async () => {
    const reply = await api(runPath("chat"), {
      prompt, history: state.history, temperature: Number($("temperature").value),
      top_k: numberOrNull($("top-k")), max_new_tokens: Number($("max-new-tokens").value),
    });
    addTurn("user", prompt);
    addTurn("model", reply.reply, reply.step);
    state.history.push({ role: "user", text: prompt }, { role: "model", text: reply.reply });
    state.lastReplyStep = reply.step;
    if (reply.step !== state.checkpointStep) setCheckpointStep(reply.step);
    $("prompt").value = "";
    showMessage(form, `${reply.tokens} tokens in ${fmtNum(reply.seconds, 2)} s`);
  });
}

async function saveConversation(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (!state.history.length) return showMessage(form, "Nothing to save yet: send a message first.", true);
  await submitting(form, async () => {
    const saved = await api(runPath("conversations"), {
      messages: state.history, step: state.lastReplyStep, tags: tags($("save-tags").value),
    });
    showMessage(form, `Saved at step ${fmtStep(saved.entry.step)}${saved.queued ? " (queued for the writer)" : ""}.`);
    await loadJournal();
  });
}

function newConversation() {
  state.history = [];
  state.lastReplyStep = null;
  $("transcript").replaceChildren(el("p", { class: "muted empty" }, "A new conversation."));
}

// ---- journal ---------------------------------------------------------------------------------------------------

function journalQuery() {
  const params = new URLSearchParams();
  const view = document.querySelector('input[name="view"]:checked').value;
  if (view) params.set("author", view);
  if ($("from-step").value !== "") params.set("from_step", $("from-step").value);
  if ($("to-step").value !== "") params.set("to_step", $("to-step").value);
  if ($("tag-filter").value) params.set("tag", $("tag-filter").value);
  return params.toString();
}

function renderEntry(entry, open) {
  // model text wraps anywhere ("the\nmodel ..."): preview the text's first 90 characters, not its first line
  const preview = entry.text.split(/\s+/).filter(Boolean).join(" ");
  const summary = el("summary", {},
    el("span", { class: "step-badge" }, `step ${fmtStep(entry.step)}`),
    el("span", { class: `author ${entry.author}` }, entry.author),
    el("span", { class: "preview" }, preview.length > 90 ? `${preview.slice(0, 90)}…` : preview),
    ...entry.tags.map((t) => el("span", { class: "tag" }, t)),
    ...(entry.queued ? [el("span", { class: "badge queued" }, "queued")] : []),
  );
  const when = entry.queued ? "waiting for the run's writer" : (entry.created_at || "");
  const details = el("details", { class: `entry ${entry.author}`, "data-id": entry.id }, summary,
    el("div", { class: "entry-text" }, entry.text), el("div", { class: "entry-meta muted" }, when));
  details.open = open;
  return details;
}

async function loadJournal() {
  const data = await api(`${runPath("journal")}?${journalQuery()}`);
  const tagSelect = $("tag-filter");
  const chosen = tagSelect.value;
  tagSelect.replaceChildren(el("option", { value: "" }, "any"), ...data.tags.map((t) => el("option", { value: t }, t)));
  tagSelect.value = data.tags.includes(chosen) ? chosen : "";
  $("journal-count").textContent = `${data.entries.length} entr${data.entries.length === 1 ? "y" : "ies"}`;
  // a reload (after adding an entry, or a filter) keeps open what the reader opened
  const opened = new Set([...document.querySelectorAll("details.entry[open]")].map((d) => d.dataset.id));
  $("journal-entries").replaceChildren(...data.entries.map((e) => renderEntry(e, opened.has(e.id))));
}

async function addEntry(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const text = $("entry-text").value;
  if (!text.trim()) return showMessage(form, "Write some text first.", true);
  await submitting(form, async () => {
    const added = await api(runPath("journal"), { text, step: numberOrNull($("entry-step")), tags: tags($("entry-tags").value) });
    $("entry-text").value = "";
    showMessage(form, `Added at step ${fmtStep(added.entry.step)}${added.queued ? " (queued for the run's writer)" : ""}.`);
    await loadJournal();
  });
}

async function answerReview(event) {
  event.preventDefault();
  const form = event.currentTarget;
  await submitting(form, async () => {
    // the "false positive" button answers in one click; the other submit button sends the chosen decision
    const decision = event.submitter?.value === "false_positive" ? "false_positive" : $("review-decision").value;
    const answer = await api(runPath("review"), { decision, note: $("review-note").value });
    showMessage(form, answer.message);
    await Promise.all([loadOverview(), loadJournal()]);
  });
}

// ---- start -----------------------------------------------------------------------------------------------------

async function selectRun(runId) {
  state.run = runId;
  state.reviewStep = null;
  newConversation();
  const url = new URL(window.location);
  url.searchParams.set("run", runId);
  url.searchParams.delete("token");  // the server keeps it in a cookie; the address bar need not show it
  history.replaceState(null, "", url);
  try {
    await Promise.all([loadCheckpoint(), loadOverview(), loadJournal()]);
    showBanner("");
  } catch (err) {
    showBanner(err.message);
  }
}

async function refresh() {
  if (document.hidden || !state.run) return;
  try {
    await Promise.all([loadCheckpoint(), loadOverview()]);
  } catch (err) {
    showBanner(err.message);
  }
}

async function start() {
  $("chat-form").addEventListener("submit", sendChat);
  $("save-form").addEventListener("submit", saveConversation);
  $("new-conversation").addEventListener("click", newConversation);
  $("journal-form").addEventListener("submit", addEntry);
  $("review-form").addEventListener("submit", answerReview);
  const filters = $("journal-filters");
  filters.addEventListener("submit", (e) => { e.preventDefault(); submitting(filters, loadJournal); });
  filters.addEventListener("change", () => submitting(filters, loadJournal));
  $("run-picker").addEventListener("change", (e) => selectRun(e.target.value));
  try {
    const [config, runs] = await Promise.all([api("/api/config"), api("/api/runs")]);
    state.limits = config.limits || {};
    if (state.limits.max_prompt_chars) $("prompt").maxLength = state.limits.max_prompt_chars;
    if (state.limits.max_new_tokens) $("max-new-tokens").max = state.limits.max_new_tokens;
    if (!runs.length) return showBanner("The store has no runs yet: start one with `phaselog run CONFIG`.");
    $("run-picker").replaceChildren(...runs.map((r) => el("option", { value: r.run_id }, `${r.run_id} (${r.phase}, ${r.status})`)));
    const wanted = new URLSearchParams(window.location.search).get("run") || config.run_id;
    const run = runs.some((r) => r.run_id === wanted) ? wanted : runs[0].run_id;
    $("run-picker").value = run;
    await selectRun(run);
    // training goes on meanwhile: a new checkpoint, segment or review shows up without a reload
    setInterval(refresh, 20000);
  } catch (err) {
    showBanner(err.message);
  }
}

start();
