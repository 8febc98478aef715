/* llamatouch annotation tool: plain JS, no build step. */
"use strict";

const TOKEN = document.querySelector('meta[name="llamatouch-token"]').content;
const SVGNS = "http://www.w3.org/2000/svg";
const COMPONENT_TYPES = ["exact", "fuzzy", "click", "image", "absent"];
const DESC_KEYS = ["component", "target", "element", "locator"];

const state = {
  trace: null, ann: null, step: 0, activeCp: 0, selected: null, hover: null,
  validation: null, validating: 0, source: "",
};

/* ---------- helpers ---------- */
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid.nodeType ? kid : String(kid));
  return e;
}
function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
async function api(path, body) {
  const opts = { headers: { "X-LlamaTouch-Token": TOKEN } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (_) { data = { error: `HTTP ${r.status}` }; }
  if (!r.ok) throw new Error(data && data.error ? data.error : `HTTP ${r.status}`);
  return data;
}
let toastTimer = null;
function toast(msg, isError = false) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "toast show" + (isError ? " error" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = "toast"; }, isError ? 5000 : 2200);
}
function short(s, n = 40) { s = String(s ?? ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }
function shortId(rid) { return rid ? rid.split("/").pop() : ""; }
function shortClass(c) { return c ? c.split(".").pop() : ""; }

/* ---------- primitives <-> components ---------- */
function descriptorOf(prim) {
  for (const k of DESC_KEYS) if (prim[k] && typeof prim[k] === "object" && !Array.isArray(prim[k])) return prim[k];
  return null;
}
function descMatches(desc, comp) {
  if (!desc) return false;
  const pairs = [["resource_id", "resource_id"], ["text", "text"], ["content_desc", "content_desc"],
                 ["class_name", "class_name"], ["class", "class_name"]];
  let used = 0;
  for (const [dk, ck] of pairs) {
    const v = desc[dk];
    if (v === undefined || v === null || v === "") continue;
    used++;
    if (String(v) !== String(comp[ck] ?? "")) return false;
  }
  if (used === 0) return false;
  return true;
}
function primsOnComponent(cp, comp) {
  const out = [];
  (cp ? cp.primitives : []).forEach((p, i) => { if (descMatches(descriptorOf(p), comp)) out.push(i); });
  return out;
}
function summary(prim) {
  const d = descriptorOf(prim);
  const bits = [];
  if (d) {
    if (d.text) bits.push(el("span", { class: "q" }, `“${short(d.text, 36)}”`));
    if (d.content_desc) bits.push(`desc=“${short(d.content_desc, 30)}”`);
    if (d.resource_id) bits.push(`#${shortId(d.resource_id)}`);
    const c = d.class_name || d.class;
    if (c) bits.push(shortClass(c));
  }
  for (const k of ["activity", "text", "package", "value"]) {
    if (typeof prim[k] === "string" && prim[k]) bits.push(el("span", { class: "q" }, `${k}: ${short(prim[k], 50)}`));
  }
  if (!bits.length) bits.push(prim.type === "final" ? "holds on the last screen" : "(screen-wide)");
  const out = el("span", { class: "psummary" });
  bits.forEach((b, i) => { if (i) out.append(" "); out.append(b); });
  return out;
}

/* ---------- rendering: filmstrip ---------- */
function cpStepMap() {
  const m = {};
  const v = state.validation && state.validation.gt;
  const steps = v && Array.isArray(v.checkpoint_steps) ? v.checkpoint_steps : [];
  steps.forEach((s, i) => { if (s !== null && s !== undefined) (m[s] = m[s] || []).push(i + 1); });
  return m;
}
function wireframe(step, target) {
  target.setAttribute("viewBox", `0 0 ${step.width || 1080} ${step.height || 1920}`);
  target.setAttribute("preserveAspectRatio", "none");
  const comps = [...step.components].sort((a, b) => a.depth - b.depth);
  for (const c of comps) {
    const [l, t, r, b] = c.bounds;
    target.append(svg("rect", { x: l, y: t, width: r - l, height: b - t, class: "wire", rx: 6 }));
    const label = c.text || c.content_desc;
    if (label && b - t > 30) {
      const tx = svg("text", { x: l + 14, y: t + Math.min(b - t, 60) * 0.72, class: "wire-text",
        "font-size": Math.max(22, Math.min(40, (b - t) * 0.45)) });
      tx.textContent = short(label, Math.max(4, Math.floor((r - l) / 22)));
      target.append(tx);
    }
  }
}
function renderFilmstrip() {
  const fs = document.getElementById("filmstrip");
  fs.replaceChildren();
  const map = cpStepMap();
  state.trace.steps.forEach((st, i) => {
    const mini = el("div", { class: "tmini" });
    mini.style.aspectRatio = `${st.width || 9} / ${st.height || 19}`;
    const wire = () => { const s = svg("svg", {}); wireframe(st, s); return s; };
    if (st.image) {
      const img = el("img", { src: `step/${i}.png`, alt: `step ${i}`, loading: "lazy" });
      img.addEventListener("error", () => img.replaceWith(wire()));
      mini.append(img);
    } else mini.append(wire());
    const badges = el("span");
    if (map[i]) badges.append(el("span", { class: "badge cp", title: "checkpoint satisfied here" }, "✓ " + map[i].join(",")));
    const thumb = el("button", { class: "thumb" + (i === state.step ? " active" : ""), "data-step": i,
      onclick: () => selectStep(i) },
      mini,
      el("div", { class: "tlabel" }, el("b", {}, `#${i}`), badges),
      el("div", { class: "tlabel" }, el("span", { class: "badge act", title: st.action_text }, short(st.action_text, 20))));
    fs.append(thumb);
  });
}

/* ---------- rendering: stage ---------- */
function renderStage() {
  const st = state.trace.steps[state.step];
  const W = st.width || 1080, H = st.height || 1920;
  document.getElementById("step-title").textContent = `Step ${state.step} of ${state.trace.steps.length - 1}`;
  document.getElementById("step-activity").textContent = st.activity;
  const screen = document.getElementById("screen");
  screen.style.aspectRatio = `${W} / ${H}`;
  const img = document.getElementById("screen-img");
  img.onerror = () => { img.classList.add("missing"); drawOverlay(true); };
  if (st.image) { img.classList.remove("missing"); img.src = `step/${state.step}.png`; }
  else { img.classList.add("missing"); img.removeAttribute("src"); }
  drawOverlay(false);
  const sa = document.getElementById("step-action");
  sa.replaceChildren("Action on this screen: ", el("b", {}, st.action_text));
  if (st.reasoning) sa.append(el("div", {}, short(st.reasoning, 200)));
}
function drawOverlay(withWire) {
  const st = state.trace.steps[state.step];
  const W = st.width || 1080, H = st.height || 1920;
  const ov = document.getElementById("overlay");
  ov.replaceChildren();
  ov.setAttribute("viewBox", `0 0 ${W} ${H}`);
  ov.setAttribute("preserveAspectRatio", "none");
  if (withWire || document.getElementById("screen-img").classList.contains("missing")) {
    const g = svg("g"); wireframe(st, g); ov.append(g);
  }
  const showAll = document.getElementById("show-all").checked;
  const cp = state.ann ? state.ann.checkpoints[state.activeCp] : null;
  const comps = [...st.components].sort((a, b) => (b.bounds[2] - b.bounds[0]) * (b.bounds[3] - b.bounds[1])
    - (a.bounds[2] - a.bounds[0]) * (a.bounds[3] - a.bounds[1]));
  for (const c of comps) {
    const [l, t, r, b] = c.bounds;
    const inCp = primsOnComponent(cp, c);
    let cls = "comp";
    if (!showAll && !c.interactive) cls += " quiet";
    if (inCp.length) cls += inCp.every(i => cp.primitives[i].type === "absent") ? " absent-cp" : " in-cp";
    const rect = svg("rect", { x: l, y: t, width: Math.max(1, r - l), height: Math.max(1, b - t), class: cls,
      "data-index": c.index, rx: 4 });
    rect.addEventListener("mouseenter", () => { state.hover = c; renderComponentCard(); });
    rect.addEventListener("mouseleave", () => { state.hover = null; renderComponentCard(); });
    rect.addEventListener("click", (ev) => { ev.stopPropagation(); state.selected = c; renderComponentCard(); });
    ov.append(rect);
  }
  if (document.getElementById("show-action").checked && st.overlay) drawAction(ov, st.overlay, W, H);
}
function drawAction(ov, o, W, H) {
  if (o.shape === "point") {
    ov.append(svg("circle", { cx: o.x, cy: o.y, r: Math.max(28, W * 0.035), class: "act-dot" }));
    ov.append(svg("circle", { cx: o.x, cy: o.y, r: 7, class: "act-head" }));
  } else if (o.shape === "arrow") {
    const [x1, y1, x2, y2] = o.line;
    ov.append(svg("line", { x1, y1, x2, y2, class: "act-line" }));
    const ang = Math.atan2(y2 - y1, x2 - x1), s = 44;
    const p = [[x2, y2], [x2 - s * Math.cos(ang - 0.5), y2 - s * Math.sin(ang - 0.5)],
               [x2 - s * Math.cos(ang + 0.5), y2 - s * Math.sin(ang + 0.5)]];
    ov.append(svg("polygon", { points: p.map(q => q.join(",")).join(" "), class: "act-head" }));
  }
  if (o.shape === "badge" || o.kind === "type") {
    const g = svg("g", { class: "act-badge" });
    const fs = Math.round(W * 0.035), text = short(o.label, 34);
    const w = Math.min(W - 40, text.length * fs * 0.56 + 40);
    g.append(svg("rect", { x: (W - w) / 2, y: H - fs * 3.2, width: w, height: fs * 1.8, rx: fs * 0.9 }));
    const t = svg("text", { x: W / 2, y: H - fs * 1.95, "font-size": fs, "text-anchor": "middle" });
    t.textContent = text; g.append(t); ov.append(g);
  }
}

/* ---------- component card ---------- */
function renderComponentCard() {
  const c = state.hover || state.selected;
  const info = document.getElementById("component-info");
  const acts = document.getElementById("component-actions");
  if (!c) { info.className = "component-info empty"; info.textContent = "Nothing under the pointer."; acts.replaceChildren(); return; }
  info.className = "component-info";
  const rows = [["class", c.class_name], ["resource-id", c.resource_id], ["text", c.text],
    ["content-desc", c.content_desc], ["hint", c.hint], ["bounds", `[${c.bounds[0]},${c.bounds[1]}][${c.bounds[2]},${c.bounds[3]}]`],
    ["key", c.key]].filter(([, v]) => v);
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
  if (c.flags.length) dl.append(el("dt", {}, "flags"), el("dd", {}, c.flags.map(f => el("span", { class: "flag" }, f))));
  info.replaceChildren(dl);
  acts.replaceChildren();
  const sel = state.selected;
  if (!sel) { acts.append(el("span", { class: "label" }, "Click the component to annotate it.")); return; }
  const cp = state.ann.checkpoints[state.activeCp];
  if (!cp) { acts.append(el("span", { class: "label" }, "Add a checkpoint first.")); return; }
  acts.append(el("span", { class: "label" }, `Selected: ${short(sel.text || sel.content_desc || shortId(sel.resource_id) || shortClass(sel.class_name), 40)} → checkpoint ${state.activeCp + 1}`));
  const existing = primsOnComponent(cp, sel);
  for (const t of COMPONENT_TYPES) {
    const have = existing.find(i => cp.primitives[i].type === t);
    if (have !== undefined) {
      acts.append(el("button", { class: "btn small danger", "data-action": `remove-${t}`,
        onclick: () => removePrimitive(state.activeCp, have) }, `− ${t}`));
    } else {
      acts.append(el("button", { class: "btn small", "data-action": `add-${t}`,
        onclick: () => addPrimitive(t, sel.index) }, `+ ${t}`));
    }
  }
}

/* ---------- checkpoints panel ---------- */
function renderScreenPrims() {
  const box = document.getElementById("screen-prims");
  box.replaceChildren("From this screen:");
  const st = state.trace.steps[state.step];
  const add = (t, label, title) => box.append(el("button", { class: "btn tiny", title, "data-action": `add-${t}`,
    onclick: () => addPrimitive(t, null) }, label));
  add("activity", "+ activity", st.activity);
  if (st.action && st.action.action === "type") add("type", "+ type", st.action.text);
  add("installed", "+ installed", st.installed_packages ? st.package
    : `${st.package} (this trace recorded no installed packages: validation cannot decide it here)`);
  const cp = state.ann && state.ann.checkpoints[state.activeCp];
  if (cp) box.append(el("label", { class: "btn tiny" }, el("input", { type: "checkbox", id: "cp-final",
    checked: cp.final ? true : null, onchange: (e) => { cp.final = e.target.checked; changed(); } }), " final"));
}
function fieldInput(prim, key) {
  const v = prim[key];
  if (typeof v === "boolean") {
    return el("label", {}, el("input", { type: "checkbox", checked: v ? true : null, "data-field": key,
      onchange: (e) => { prim[key] = e.target.checked; changed(); } }), key);
  }
  if (typeof v === "number") {
    return el("label", {}, key, el("input", { type: "number", step: Number.isInteger(v) && v > 1 ? 1 : 0.01, value: v,
      "data-field": key, onchange: (e) => { const n = parseFloat(e.target.value); if (!Number.isNaN(n)) { prim[key] = n; changed(); } } }));
  }
  if (typeof v === "string" || v === null) {
    return el("label", {}, key, el("input", { type: "text", value: v ?? "", "data-field": key, spellcheck: "false",
      onchange: (e) => { prim[key] = e.target.value; changed(); } }));
  }
  return null;
}
function renderCheckpoints() {
  const list = document.getElementById("checkpoints");
  list.replaceChildren();
  const v = state.validation && state.validation.gt;
  const steps = v && Array.isArray(v.checkpoint_steps) ? v.checkpoint_steps : null;
  const evid = evidenceByCheckpoint(v);
  state.ann.checkpoints.forEach((cp, ci) => {
    let cls = "cp" + (ci === state.activeCp ? " active" : "");
    const firstMiss = steps ? steps.findIndex(s => s === null || s === undefined) : -1;
    const reached = !steps || firstMiss < 0 || ci <= firstMiss;
    if (steps) cls += steps[ci] !== null && steps[ci] !== undefined ? " pass" : (reached ? " fail" : " pending");
    const li = el("li", { class: cls, "data-cp": ci });
    const stepTxt = steps ? (steps[ci] !== null && steps[ci] !== undefined ? `✓ step ${steps[ci]}` : (reached ? "✗ not matched" : "· not reached")) : "";
    li.append(el("div", { class: "cp-head", onclick: () => { state.activeCp = ci; state.selected = null; renderAll(); } },
      el("span", { class: "cp-num" }, `#${ci + 1}`),
      cp.final ? el("span", { class: "badge cp" }, "final") : null,
      el("span", { class: "cp-step" }, stepTxt),
      el("span", { class: "spacer" }),
      steps && steps[ci] !== null && steps[ci] !== undefined ? el("button", { class: "btn tiny", onclick: (e) => { e.stopPropagation(); selectStep(steps[ci]); } }, "show") : null,
      el("button", { class: "btn tiny danger", title: "delete checkpoint",
        onclick: (e) => { e.stopPropagation(); state.ann.checkpoints.splice(ci, 1); state.activeCp = Math.max(0, Math.min(state.activeCp, state.ann.checkpoints.length - 1)); changed(true); } }, "✕")));
    cp.primitives.forEach((p, pi) => {
      const fields = el("div", { class: "pfields" });
      for (const k of Object.keys(p)) {
        if (k === "type" || DESC_KEYS.includes(k)) continue;
        const f = fieldInput(p, k); if (f) fields.append(f);
      }
      const d = descriptorOf(p);
      if (d) for (const k of Object.keys(d)) {
        if (["text", "content_desc"].includes(k) && typeof d[k] === "string" && d[k]) {
          const f = fieldInput(d, k); if (f) fields.append(f);
        }
      }
      const e = evid[ci] && evid[ci][pi];
      const status = e ? el("span", { class: "pstatus " + (e.ok ? "ok" : "no"), title: e.detail }, e.ok ? "✓" : "✗") : el("span");
      li.append(el("div", { class: "prim", "data-type": p.type },
        el("span", { class: "ptype " + p.type }, p.type),
        el("div", { class: "pbody" }, summary(p), fields, e && !e.ok && e.detail ? el("div", { class: "cp-step" }, short(e.detail, 160)) : null),
        el("div", {}, status, " ", el("button", { class: "btn tiny danger", title: "remove primitive",
          onclick: () => removePrimitive(ci, pi) }, "✕"))));
    });
    if (!cp.primitives.length) li.append(el("div", { class: "cp-step" }, "Empty: click a component on the screen, or add a screen-wide primitive."));
    li.append(el("input", { class: "cp-note", placeholder: "note (why this state is essential)", value: cp.note || "",
      onchange: (e) => { cp.note = e.target.value; changed(); } }));
    list.append(li);
  });
}

/* ---------- validation ---------- */
function evidenceByCheckpoint(v) {
  const out = {};
  if (!v || !Array.isArray(v.evidence)) return out;
  for (const e of v.evidence) {
    const ci = e.checkpoint ?? e.checkpoint_index;
    const pi = e.primitive ?? e.primitive_index;
    if (typeof ci !== "number" || typeof pi !== "number") continue;
    const ok = e.passed ?? e.ok ?? e.matched ?? e.holds;
    const detail = [e.detail ?? e.reason ?? e.compared ?? "", e.score !== undefined && e.score !== null ? `score ${fmt(e.score)}` : "",
      e.threshold !== undefined && e.threshold !== null ? `threshold ${fmt(e.threshold)}` : ""].filter(Boolean).join(" · ");
    const prev = out[ci] && out[ci][pi];
    if (prev && prev.ok) continue;
    (out[ci] = out[ci] || {})[pi] = { ok: !!ok, detail: typeof detail === "string" ? detail : JSON.stringify(detail) };
  }
  return out;
}
/* the evaluator counts checkpoints from 0; the page counts them from 1 */
function oneBased(text) { return String(text).replace(/checkpoint (\d+)/g, (_, n) => `checkpoint ${Number(n) + 1}`); }
function fmt(x) { return typeof x === "number" ? (Math.round(x * 1000) / 1000).toString() : String(x); }
function renderValidation() {
  const body = document.getElementById("validation-body");
  const card = document.getElementById("validation");
  const st = document.getElementById("validation-state");
  const v = state.validation;
  body.replaceChildren();
  if (!v) { st.textContent = "checking…"; return; }
  st.textContent = state.validating ? "checking…" : (v.ok ? "ready to save" : "needs work");
  card.className = "card validation " + (v.ok ? "ok" : "no");
  card.dataset.ok = v.ok ? "true" : "false";
  if (v.schema_error) {
    body.append(el("div", { class: "vrow err", "data-check": "schema" }, el("span", { class: "vicon" }, "!"),
      el("div", { class: "vtext" }, el("b", {}, "Schema error"), el("div", { class: "why" }, v.schema_error))));
    return;
  }
  const gt = v.gt || {}, first = v.first || {};
  const gtSteps = Array.isArray(gt.checkpoint_steps) ? gt.checkpoint_steps : [];
  const firstMissing = gtSteps.findIndex(s => s === null || s === undefined);
  const later = firstMissing >= 0 ? gtSteps.length - firstMissing - 1 : 0;
  const gtWhy = v.gt_ok ? `all ${gtSteps.length} checkpoints matched, at steps ${gtSteps.join(", ")}`
    : (gt.status === "error" ? `error: ${oneBased(gt.reason || "")}`
      : (firstMissing >= 0 ? `checkpoint ${firstMissing + 1} not matched` + (later ? ` (the ${later} after it are not reached)` : "") + ". " : "")
        + oneBased(gt.reason || ""));
  body.append(el("div", { class: "vrow " + (v.gt_ok ? "ok" : (gt.status === "error" ? "err" : "no")), "data-check": "gt", "data-ok": v.gt_ok ? "true" : "false" },
    el("span", { class: "vicon" }, v.gt_ok ? "✓" : "✗"),
    el("div", { class: "vtext" }, el("b", {}, v.gt_ok ? "Ground-truth trace passes" : "Ground-truth trace does not pass"),
      el("div", { class: "why" }, gtWhy))));
  const firstWhy = v.first_ok ? "the first screen alone does not satisfy the checkpoints"
    : (first.status === "error" ? `error: ${oneBased(first.reason || "")}` : "the first screen alone already satisfies every checkpoint: the states are not essential to the task. " + oneBased(first.reason || ""));
  body.append(el("div", { class: "vrow " + (v.first_ok ? "ok" : (first.status === "error" ? "err" : "no")), "data-check": "first", "data-ok": v.first_ok ? "true" : "false" },
    el("span", { class: "vicon" }, v.first_ok ? "✓" : "✗"),
    el("div", { class: "vtext" }, el("b", {}, v.first_ok ? "First screen alone fails" : "First screen alone passes"),
      el("div", { class: "why" }, firstWhy))));
}
let validateTimer = null, validateSeq = 0;
function scheduleValidate() {
  clearTimeout(validateTimer);
  state.validating++;
  renderValidation();
  validateTimer = setTimeout(async () => {
    const seq = ++validateSeq;
    try {
      const v = await api("api/validate", { annotation: state.ann });
      if (seq === validateSeq) { state.validation = v; }
    } catch (e) {
      if (seq === validateSeq) state.validation = { ok: false, schema_error: e.message };
    } finally {
      state.validating = 0;
      if (seq === validateSeq) { renderValidation(); renderCheckpoints(); renderFilmstrip(); }
    }
  }, 300);
}

/* ---------- editing ---------- */
function changed(full = false) {
  if (full) renderAll(); else { renderCheckpoints(); drawOverlay(false); renderComponentCard(); }
  scheduleValidate();
}
async function addPrimitive(type, compIndex) {
  if (!state.ann.checkpoints.length) state.ann.checkpoints.push({ primitives: [], final: false, note: "" });
  const cp = state.ann.checkpoints[state.activeCp];
  try {
    const r = await api("api/primitive", { type, step: state.step, component: compIndex });
    cp.primitives.push(r.primitive);
    changed(true);
  } catch (e) { toast(`Cannot add ${type}: ${e.message}`, true); }
}
function removePrimitive(ci, pi) {
  state.ann.checkpoints[ci].primitives.splice(pi, 1);
  changed(true);
}
function selectStep(i) {
  state.step = i; state.selected = null; state.hover = null;
  renderAll();
  const t = document.querySelector(`.thumb[data-step="${i}"]`);
  if (t) t.scrollIntoView({ block: "nearest" });
}
function renderAll() {
  renderFilmstrip(); renderStage(); renderScreenPrims(); renderCheckpoints(); renderComponentCard(); renderValidation();
}
function setAnnotation(data) {
  state.ann = data.annotation;
  state.source = data.source;
  if (!Array.isArray(state.ann.checkpoints)) state.ann.checkpoints = [];
  state.activeCp = Math.min(state.activeCp, Math.max(0, state.ann.checkpoints.length - 1));
  renderAll();
  scheduleValidate();
}

/* ---------- boot ---------- */
async function boot() {
  try {
    state.trace = await api("api/trace");
    const name = document.getElementById("ann-name");
    name.value = state.trace.annotation_name;
    const data = await api("api/annotation?name=" + encodeURIComponent(name.value));
    setAnnotation(data);
    toast(data.source === "saved" ? "Loaded the saved annotation" : "Pre-filled with the automatic proposal");
  } catch (e) { toast(`Cannot load: ${e.message}`, true); }
  document.getElementById("btn-add-cp").addEventListener("click", () => {
    state.ann.checkpoints.push({ primitives: [], final: false, note: "" });
    state.activeCp = state.ann.checkpoints.length - 1; changed(true);
  });
  document.getElementById("btn-save").addEventListener("click", async () => {
    try {
      const r = await api("api/save", { annotation: state.ann, name: document.getElementById("ann-name").value });
      setAnnotation(r);
      toast(`Saved ${r.path}`);
    } catch (e) { toast(`Not saved: ${e.message}`, true); }
  });
  document.getElementById("btn-reload").addEventListener("click", async () => {
    try { setAnnotation(await api("api/annotation?name=" + encodeURIComponent(document.getElementById("ann-name").value))); toast("Reloaded"); }
    catch (e) { toast(`Cannot reload: ${e.message}`, true); }
  });
  document.getElementById("btn-propose").addEventListener("click", async () => {
    try { setAnnotation(await api("api/propose", {})); toast("Replaced with the automatic proposal"); }
    catch (e) { toast(`Cannot propose: ${e.message}`, true); }
  });
  for (const id of ["show-all", "show-action"]) document.getElementById(id).addEventListener("change", () => drawOverlay(false));
  document.getElementById("overlay").addEventListener("click", () => { state.selected = null; renderComponentCard(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "ArrowDown" || e.key === "j") selectStep(Math.min(state.step + 1, state.trace.steps.length - 1));
    if (e.key === "ArrowUp" || e.key === "k") selectStep(Math.max(state.step - 1, 0));
  });
}
boot();
