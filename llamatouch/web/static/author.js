// Authoring a task on a recorded world: follow recorded transitions, then save.
'use strict';
const TOKEN = document.querySelector('meta[name="llamatouch-token"]').content;
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const opts = body === undefined
    ? { headers: { 'X-LlamaTouch-Token': TOKEN } }
    : { method: 'POST', body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'X-LlamaTouch-Token': TOKEN } };
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

function show(view) {
  $('shot').src = view.image;
  $('state').textContent = view.state;
  $('activity').textContent = view.activity;
  const app = $('app');
  if (!app.options.length) {
    for (const a of view.apps) {
      const o = document.createElement('option');
      o.value = a.package; o.textContent = `${a.label} (${a.package})`;
      app.appendChild(o);
    }
  }
  const list = $('offered'); list.replaceChildren();
  const boxes = $('boxes'); boxes.replaceChildren();
  for (const t of view.offered) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = t.label; b.dataset.index = t.index;
    b.addEventListener('click', () => act(() => api('/author/api/follow', { index: t.index })));
    li.appendChild(b); list.appendChild(li);
    if (t.box) {
      const d = document.createElement('div');
      d.className = 'box'; d.title = t.label; d.dataset.index = t.index;
      d.style.left = `${100 * t.box[0]}%`; d.style.top = `${100 * t.box[1]}%`;
      d.style.width = `${100 * (t.box[2] - t.box[0])}%`;
      d.style.height = `${100 * (t.box[3] - t.box[1])}%`;
      d.addEventListener('click', () => act(() => api('/author/api/follow', { index: t.index })));
      boxes.appendChild(d);
    }
  }
  if (!view.offered.length) {
    const li = document.createElement('li'); li.textContent = 'nothing was recorded from here';
    list.appendChild(li);
  }
  const path = $('path'); path.replaceChildren();
  for (const step of view.path) {
    const li = document.createElement('li'); li.textContent = step; path.appendChild(li);
  }
}

async function act(call) {
  try { show(await call()); } catch (e) { result(e.message, false); }
}

function result(text, ok) {
  const r = $('result'); r.textContent = text; r.className = ok ? 'ok' : 'bad';
}

$('undo').addEventListener('click', () => act(() => api('/author/api/undo', {})));
$('restart').addEventListener('click',
  () => act(() => api('/author/api/restart', { package: $('app').value })));
$('save').addEventListener('click', async () => {
  result('saving...', true);
  try {
    const r = await api('/author/api/save',
      { task_id: $('task-id').value.trim(), instruction: $('instruction').value });
    const v = r.validation;
    result(`saved ${r.task.id} (${r.task.steps} steps, ${r.checkpoints} essential states) - `
      + `ground truth: ${v.gt}, first screen alone: ${v.first}`
      + (v.ok ? ' - valid' : ' - refine it in llamatouch annotate ' + r.trace), v.ok);
  } catch (e) { result(e.message, false); }
});
act(() => api('/author/api/state'));
