// FUTE Task Search console: plain JS over the HTTP API (/api/v1, see /api/v1/openapi.json).
// Every value from the server is inserted as text, never as HTML.
"use strict";

const API = "/api/v1";
const SVG = "http://www.w3.org/2000/svg";
// Task-type colours (no grey: grey marks kind in the legend).
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
const state = { token: sessionStorage.getItem("fute-token") || "", space: null, tokens: [""],
  page: 0, names: [], selected: new Set(), map: null, canWrite: false, lowEntropy: undefined, chosen: null };

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
function say(message) { $("#status").textContent = message || ""; }

async function call(method, path, body, raw) {
  const headers = {};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const init = { method, headers };
  if (raw !== undefined) { init.body = raw; headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { init.body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  const reply = await fetch(API + path, init);
  const data = await reply.json();
  if (!reply.ok) {
    const err = data.error || { code: String(reply.status), message: reply.statusText };
    throw new Error(err.code + ": " + err.message);
  }
  return data;
}
const sp = () => "/spaces/" + encodeURIComponent(state.space.name);
function guard(fn) { return (...args) => fn(...args).catch((e) => say(e.message)); }

// ------------------------------------------------------------------ models that say little on U

// As fute.informativeness.OutputInformation.describe: "answer entropy 0.08, 97% 'clean', spread 0.02".
function describeOutputs(info, labels) {
  const i = info.majority_index;
  const answer = i >= 0 && i < labels.length ? `'${labels[i]}'` : `bin ${i + 1}/${info.n_answers}`;
  let text = `answer entropy ${info.answer_entropy.toFixed(2)}, ${Math.round(info.majority_share * 100)}% ${answer}, ` +
    `spread ${info.spread.toFixed(2)}`;
  if (info.source_mi !== null && info.source_mi !== undefined) {
    text += `, MI with U's sources ${info.source_mi.toFixed(2)} bits (${Math.round(info.source_nmi * 100)}% of the answers')`;
  }
  return text;
}

// A model task's answer entropy on U, flagged "(!)" below the server's threshold (as fute search);
// null for datasets and for models stored without output information.
function outputNote(meta) {
  const info = meta.output_info;
  if (meta.kind !== "model" || !info) return null;
  const entropy = info.answer_entropy.toFixed(2), limit = state.lowEntropy;
  const detail = `${describeOutputs(info, meta.label_names || [])} over ${info.n} inputs of U.`;
  if (limit !== undefined && info.answer_entropy < limit) {
    const labels = meta.label_names || [], i = info.majority_index;
    const answer = i >= 0 && i < labels.length ? `'${labels[i]}'` : "one answer";
    return el("span", { class: "says-little", "data-entropy": entropy,
      text: `(!) says little on U: answer entropy ${entropy}, ${Math.round(info.majority_share * 100)}% ${answer}`,
      title: `Answer entropy below ${limit}: this model gives (nearly) the same answer to every input of the ` +
        "unlabelled corpus U, so its embedding is mostly the signature of U's inputs and lands near them " +
        `whatever the model's task. Its neighbours say little about what it does (a flag, not a verdict). ${detail}` });
  }
  return el("span", { class: "entropy", "data-entropy": entropy, text: `answer entropy ${entropy}`,
    title: "How much the model's answers vary over the unlabelled corpus U: 0 when it answers the same for " +
      `every input, 1 when every answer is equally frequent` +
      (limit !== undefined ? `; below ${limit} the console flags it.` : ".") + ` ${detail}` });
}

// ------------------------------------------------------------------ spaces and access

async function loadAccess() {
  const [info, access] = await Promise.all([call("GET", "/info").catch(() => null), call("GET", "/access")]);
  if (info) {
    $("#server-info").textContent = `v${info.version} · ${info.index_library} · ${info.device}`;
    state.lowEntropy = info.low_entropy_threshold;  // fute.informativeness.LOW_ENTROPY_THRESHOLD
  }
  state.canWrite = access.can_write;
  document.body.classList.toggle("can-write", access.can_write);
  const badge = $("#access");
  badge.textContent = access.can_write ? "read-write" : access.can_read ? "read-only" : "no access: enter a token";
  badge.classList.toggle("write", access.can_write);
}

async function loadSpaces() {
  const { spaces } = await call("GET", "/spaces");
  const list = $("#spaces");
  list.replaceChildren();
  for (const s of spaces) {
    const li = el("li", { "data-space": s.name, onclick: guard(() => chooseSpace(s.name)) },
      el("span", { text: s.name }), el("span", { class: "count", text: String(s.task_count) }));
    list.append(li);
  }
  if (!spaces.length) say("No spaces yet: index some tasks (fute index) first.");
  const keep = state.space && spaces.find((s) => s.name === state.space.name);
  if (keep) await chooseSpace(keep.name); else if (spaces.length) await chooseSpace(spaces[0].name);
}

async function chooseSpace(name) {
  delete document.body.dataset.space;  // set again once the space is shown
  state.space = await call("GET", "/spaces/" + encodeURIComponent(name));
  state.selected.clear(); state.map = null; state.tokens = [""]; state.page = 0; state.chosen = null;
  // CSLS needs the neighbour lists of a space created with keep_neighbours: offered only there.
  const kept = Boolean(state.space.keep_neighbours);
  $("#similarity-choice").hidden = !kept;
  if (!kept) $("#similarity").value = "cosine";
  $("#neighbours-title").textContent = "Nearest neighbours";
  $("#neighbours-similarity").textContent = "";
  delete $("#neighbours").dataset.similarity;
  $("#neighbours").replaceChildren();
  for (const li of document.querySelectorAll("#spaces li")) li.classList.toggle("active", li.dataset.space === name);
  const s = state.space, id = s.identity;
  const rows = [["dimension", s.dim], ["metric / backend", `${s.metric} / ${s.backend}`], ["tasks", s.task_count],
    ["space key", s.space_key || "—"]];
  if (id) rows.push(["method", id.method], ["surrogate", `${id.surrogate_name} @ ${id.surrogate_hash.slice(0, 12)}`],
    ["settings", id.settings], ["reduction", `${id.reduction} (seed ${id.reduction_seed})`], ["corpus", id.corpus || "—"]);
  else rows.push(["identity", "none (plain vectors)"]);
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  $("#identity").replaceChildren(el("h3", { text: "Identity" }), dl);
  say("");
  state.names = await allTasks();
  await loadTasks();
  const active = document.querySelector(".tabs .active").dataset.tab;
  if (active !== "tasks") await showTab(active);
  document.body.dataset.space = name;
}

async function allTasks() {
  const out = [];
  let token = "";
  do {
    const page = await call("POST", sp() + "/tasks/list", { page_size: 1000, page_token: token });
    out.push(...page.tasks);
    token = page.next_page_token;
  } while (token);
  return out;
}

// ------------------------------------------------------------------ task table

function currentFilter() {
  const must = [];
  const split = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
  const kind = $("#f-kind").value, types = split($("#f-type").value), tags = split($("#f-tag").value);
  const name = $("#f-name").value.trim().toLowerCase();
  if (kind) must.push({ field: "kind", any_of: [kind] });
  if (types.length) must.push({ field: "task_type", any_of: types });
  if (tags.length) must.push({ field: "tag", any_of: tags });
  if (name) {
    // Name search: the ids whose name contains the text, as an id condition (filtered and paged by the server).
    const ids = state.names.filter((t) => t.metadata.name.toLowerCase().includes(name)).map((t) => t.id);
    must.push({ field: "id", any_of: ids.length ? ids.slice(0, 1000) : ["\u0000none"] });
  }
  return { must };
}

async function loadTasks() {
  const size = Number($("#f-size").value);
  const page = await call("POST", sp() + "/tasks/list",
    { filter: currentFilter(), page_size: size, page_token: state.tokens[state.page] });
  state.tokens[state.page + 1] = page.next_page_token;
  const body = $("#tasks-table tbody");
  body.replaceChildren();
  for (const t of page.tasks) {
    const m = t.metadata;
    const box = el("input", { type: "checkbox", onchange: (e) => { if (e.target.checked) state.selected.add(t.id); else state.selected.delete(t.id); } });
    box.checked = state.selected.has(t.id);
    const del = el("button", { type: "button", class: "write-only", text: "delete", onclick: guard(() => deleteTask(t.id)) });
    body.append(el("tr", { "data-id": t.id }, el("td", {}, box), el("td", { text: t.id }), el("td", {}, m.name, outputNote(m)),
      el("td", { text: m.kind }), el("td", { text: m.task_type }),
      el("td", {}, ...m.tags.map((g) => el("span", { class: "tag", text: g }))), el("td", { class: "write-only" }, del)));
  }
  $("#page-info").textContent = `page ${state.page + 1} · ${page.tasks.length} tasks` + (page.next_page_token ? " · more" : "");
  $("#prev").disabled = state.page === 0;
  $("#next").disabled = !page.next_page_token;
}

async function deleteTask(id) {
  if (!confirm(`Delete task ${id}?`)) return;
  await call("POST", sp() + "/tasks/delete", { ids: [id] });
  await loadSpaces();
}

// ------------------------------------------------------------------ task map

const colourOf = (types) => (t) => PALETTE[Math.max(0, types.indexOf(t)) % PALETTE.length];
function marker(kind, x, y, r, fill) {
  // dataset: circle; model: diamond
  if (kind === "model") {
    return el("svg:path", { d: `M${x} ${y - r * 1.3}L${x + r * 1.3} ${y}L${x} ${y + r * 1.3}L${x - r * 1.3} ${y}Z`, fill });
  }
  return el("svg:circle", { cx: x, cy: y, r, fill });
}

async function drawMap() {
  const m = state.map || (state.map = await call("GET", sp() + "/map"));
  const fmt = (v) => (v === null ? "n/a" : v.toFixed(3));
  $("#map-info").textContent = `${m.points.length} tasks placed by ${m.projection} from their cosine similarities. ` +
    `Faithfulness: Spearman ρ between map distances and cosine distances = ${fmt(m.spearman)}, stress-1 = ${fmt(m.stress)} ` +
    "(1 and 0 would be perfect).";
  const W = 640, H = 480, pad = 30;
  const xs = m.points.map((p) => p.x), ys = m.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((W - 2 * pad) / (x1 - x0 || 1), (H - 2 * pad) / (y1 - y0 || 1));
  const px = (x) => pad + (x - x0) * scale, py = (y) => H - pad - (y - y0) * scale;
  const types = [...new Set(m.points.map((p) => p.task_type))].sort();
  const colour = colourOf(types);
  const svg = el("svg:svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-testid": "task-map" });
  const tip = $("#tooltip"), byId = new Map(state.names.map((t) => [t.id, t]));
  for (const p of m.points) {
    const shape = marker(p.kind, px(p.x), py(p.y), 6, colour(p.task_type));
    shape.setAttribute("class", "point");
    shape.setAttribute("data-id", p.id);
    shape.setAttribute("data-kind", p.kind);
    const task = byId.get(p.id), note = task ? outputNote(task.metadata) : null;
    shape.append(el("svg:title", { text: `${p.name} (${p.kind || "?"}, ${p.task_type || "no type"})` +
      (note ? ` · ${note.textContent}` : "") }));
    shape.addEventListener("mousemove", (e) => { tip.hidden = false; tip.textContent = p.name; tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px"; });
    shape.addEventListener("mouseleave", () => { tip.hidden = true; });
    shape.addEventListener("click", guard(() => neighbours(p.id)));
    svg.append(shape);
    if (m.points.length <= 60) svg.append(el("svg:text", { x: px(p.x) + 8, y: py(p.y) + 3, class: "label", text: p.name }));
  }
  $("#map").replaceChildren(svg);
  const legend = $("#legend");
  legend.replaceChildren(el("h3", { text: "Task type" }));
  for (const t of types) {
    const sw = el("svg:svg", { width: 14, height: 14 }, el("svg:circle", { cx: 7, cy: 7, r: 6, fill: colour(t) }));
    legend.append(el("div", {}, sw, el("span", { text: t || "(none)" })));
  }
  legend.append(el("h3", { text: "Kind" }));
  const kinds = el("div", {}, el("svg:svg", { width: 14, height: 14 }, marker("dataset", 7, 7, 5, "#777")), el("span", { text: "dataset" }),
    el("svg:svg", { width: 16, height: 16 }, marker("model", 8, 8, 5, "#777")), el("span", { text: "model" }));
  legend.append(kinds);
}

async function neighbours(id) {
  for (const n of document.querySelectorAll("#map .point")) n.classList.toggle("chosen", n.dataset.id === id);
  state.chosen = id;
  delete $("#neighbours").dataset.similarity;  // set again with the new list
  const similarity = state.space.keep_neighbours ? $("#similarity").value : "cosine";
  const body = { queries: [{ id }], k: 5 };
  if (similarity === "csls") body.similarity = "csls";
  const { results } = await call("POST", sp() + "/similar", body);
  const name = (state.map.points.find((p) => p.id === id) || { name: id }).name;
  $("#neighbours-title").textContent = `Nearest neighbours of ${name}`;
  $("#neighbours-similarity").textContent = similarity === "csls"
    ? "Scores: CSLS, 2·cos − r(x) − r(y) with r a task's mean cosine to its nearest others (hub-aware, not cosines)."
    : "Scores: cosine similarity.";
  $("#neighbours").dataset.similarity = similarity;
  $("#neighbours").replaceChildren(...results[0].hits.map((h) =>
    el("li", { "data-id": h.id, "data-score": String(h.score) }, `${h.metadata.name} — ${h.score.toFixed(3)}`,
      outputNote(h.metadata))));
}

// ------------------------------------------------------------------ heatmap

function heatColour(v) {
  // 0 -> white, 1 -> dark blue (cosines of task embeddings are mostly positive)
  const t = Math.max(0, Math.min(1, v));
  const c = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${c(255, 16)},${c(255, 52)},${c(255, 110)})`;
}

async function drawHeatmap() {
  let ids = [...state.selected];
  if (ids.length < 2) ids = state.names.slice(0, 60).map((t) => t.id);
  if (ids.length < 2) { $("#heatmap").replaceChildren(el("p", { text: "Select at least two tasks." })); return; }
  const { ids: order, matrix } = await call("POST", sp() + "/matrix", { ids, order: "clustered" });
  const names = Object.fromEntries(state.names.map((t) => [t.id, t.metadata.name]));
  const n = order.length, cell = Math.max(8, Math.min(28, Math.floor(560 / n))), left = 150, top = 150;
  const svg = el("svg:svg", { width: left + n * cell + 110, height: top + n * cell + 10, "data-testid": "heatmap" });
  order.forEach((id, i) => {
    svg.append(el("svg:text", { x: left - 4, y: top + i * cell + cell * 0.7, "text-anchor": "end", text: names[id] || id }));
    svg.append(el("svg:text", { transform: `translate(${left + i * cell + cell * 0.7},${top - 4}) rotate(-60)`, text: names[id] || id }));
    matrix[i].forEach((v, j) => {
      const r = el("svg:rect", { x: left + j * cell, y: top + i * cell, width: cell, height: cell, fill: heatColour(v), class: "cell" });
      r.append(el("svg:title", { text: `${names[id] || id} × ${names[order[j]] || order[j]}: ${v.toFixed(3)}` }));
      svg.append(r);
    });
  });
  $("#heatmap").replaceChildren(svg);
}

// ------------------------------------------------------------------ rank for my dataset

async function rankUpload(event) {
  event.preventDefault();
  const file = $("#rank-file").files[0];
  if (!file) { say("Choose a JSONL, CSV or TSV file first."); return; }
  const params = new URLSearchParams({ filename: file.name, k: $("#rank-k").value || "0", kind: $("#rank-kind").value,
    text_field: $("#rank-text").value, label_field: $("#rank-label").value });
  if ($("#rank-max").value) params.set("max_examples", $("#rank-max").value);
  $("#rank-results tbody").replaceChildren();
  $("#rank-summary").textContent = "";
  let job = await call("POST", sp() + "/rank_dataset?" + params, undefined, await file.arrayBuffer());
  $("#rank-progress").hidden = false;
  while (job.state === "queued" || job.state === "running") {
    $("#rank-bar").max = job.stages;
    $("#rank-bar").value = job.stage_index;
    $("#rank-stage").textContent = `${job.stage}… ${job.elapsed_s.toFixed(1)} s (${job.rows} rows)`;
    await new Promise((r) => setTimeout(r, 300));
    job = await call("GET", "/jobs/" + encodeURIComponent(job.job));
  }
  $("#rank-bar").value = job.stage_index;
  $("#rank-progress").hidden = true;
  if (job.state === "failed") { say(job.error.error.code + ": " + job.error.error.message); return; }
  const gains = job.ranking.some((h) => h.predicted_gain !== undefined);
  $("#rank-summary").textContent = job.description + (job.advice ? " · " + job.advice : "") +
    (gains ? "" : " · ranked by cosine similarity (no predicted gain from this server).");
  const num = (v, d) => (v === undefined ? "—" : v.toFixed(d));
  $("#rank-results tbody").replaceChildren(...job.ranking.map((h, i) => el("tr", { "data-id": h.id },
    el("td", { text: String(i + 1) }), el("td", { text: h.score.toFixed(4) }), el("td", { text: num(h.predicted_gain, 4) }),
    el("td", { text: num(h.p_help, 2) }), el("td", { text: h.id }),
    el("td", {}, h.metadata.name, outputNote(h.metadata)), el("td", { text: h.metadata.task_type }))));
}

// ------------------------------------------------------------------ snapshots

async function loadSnapshots() {
  const { snapshots } = await call("GET", "/snapshots");
  $("#snapshots tbody").replaceChildren(...snapshots.map((s) => el("tr", {}, el("td", { text: s.name }),
    el("td", { text: (s.size_bytes / 1024).toFixed(0) + " KiB" }), el("td", { text: s.created_time || "" }),
    el("td", { text: s.sha256.slice(0, 16) + "…" }))));
}

// ------------------------------------------------------------------ wiring

async function showTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + name;
  if (!state.space && name !== "snapshots") return;
  if (name === "map") await drawMap();
  if (name === "heatmap") await drawHeatmap();
  if (name === "snapshots") await loadSnapshots();
}

async function start() {
  $("#token").value = state.token;
  $("#token-use").addEventListener("click", guard(async () => {
    state.token = $("#token").value.trim();
    sessionStorage.setItem("fute-token", state.token);
    await loadAccess(); await loadSpaces();
  }));
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", guard(() => showTab(b.dataset.tab)));
  $("#task-filters").addEventListener("submit", guard(async (e) => { e.preventDefault(); state.tokens = [""]; state.page = 0; await loadTasks(); }));
  $("#prev").addEventListener("click", guard(async () => { state.page -= 1; await loadTasks(); }));
  $("#next").addEventListener("click", guard(async () => { state.page += 1; await loadTasks(); }));
  $("#select-page").addEventListener("click", () => {
    for (const tr of document.querySelectorAll("#tasks-table tbody tr")) { state.selected.add(tr.dataset.id); tr.querySelector("input").checked = true; }
  });
  $("#rank-form").addEventListener("submit", guard(rankUpload));
  $("#similarity").addEventListener("change", guard(async () => { if (state.chosen) await neighbours(state.chosen); }));
  $("#snap-create").addEventListener("click", guard(async () => { await call("POST", "/snapshots", { name: $("#snap-name").value.trim() }); await loadSnapshots(); }));
  await loadAccess();
  await loadSpaces();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", guard(start));
