// DOM helpers, formatting, page frames, dialogs, notices, a sortable table and the cells
// labelled by their column for the narrow layout.

/** h('a', {href, class, onclick, 'data-x': 1, style: {...}}, ...children) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'style') Object.assign(el.style, v);
      else if (k === 'value') value = v; // after children, so <select> has its options
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k.includes('-') || k === 'for' || k === 'list' || k === 'role' || !(k in el)) {
        el.setAttribute(k, v === true ? '' : v);
      } else el[k] = v;
    }
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Splits a command line into words, honouring '…', "…" and backslashes; no shell. */
export function splitCommand(s) {
  const out = [];
  let cur = '';
  let quote = null;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") { quote = ch; started = true; }
    else if (ch === '\\' && i + 1 < s.length) { cur += s[++i]; started = true; }
    else if (/\s/.test(ch)) { if (started) { out.push(cur); cur = ''; started = false; } }
    else { cur += ch; started = true; }
  }
  if (started) out.push(cur);
  return out;
}

export function debounce(fn, ms) {
  let t;
  const d = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

// ---- formatting ----------------------------------------------------------

/** A Date from a Date, RFC 3339 text or milliseconds; null for missing or Go's zero time. */
export function toDate(t) {
  if (t == null || t === '') return null;
  const d = t instanceof Date ? t : new Date(t);
  return isNaN(d) || d.getFullYear() < 1971 ? null : d;
}

/** Docker's Unix seconds. */
export const unixDate = s => (s ? toDate(s * 1000) : null);
/** A time in seconds since the epoch as "3 min ago", the full time on hover; a dash for none. */
export const unixWhen = s => (s ? h('span', { title: fmtTime(unixDate(s)) }, relTime(unixDate(s))) : '—');

export function relTime(t) {
  const d = toDate(t);
  if (!d) return '—';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} h ago`;
  const days = Math.round(hr / 24);
  if (days < 30) return days === 1 ? 'yesterday' : `${days} days ago`;
  const months = Math.round(days / 30.4);
  if (months < 12) return months === 1 ? '1 month ago' : `${months} months ago`;
  const years = Math.round(days / 365);
  return years === 1 ? '1 year ago' : `${years} years ago`;
}

export function fmtTime(t) {
  const d = toDate(t);
  return d ? d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '—';
}

/** Relative time with the exact time as a tooltip. */
export function timeCell(t) {
  const d = toDate(t);
  return h('span', { class: 'time', title: d ? fmtTime(d) : null }, relTime(d));
}

export function bytes(n) {
  if (n == null || isNaN(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** 12 hex digits of an ID, without a `sha256:` prefix. */
export const shortId = id => (id ? String(id).replace(/^sha256:/, '').slice(0, 12) : '');

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A value, or a dash for a missing one. */
export const dash = v => (v == null || v === '' ? '—' : v);

// ---- small pieces --------------------------------------------------------

const STATE_KIND = {
  running: 'ok', exited: 'grey', dead: 'bad', paused: 'warn',
  restarting: 'info', created: 'outline', removing: 'bad',
};

export const badge = (text, kind = 'grey', title) => h('span', { class: `badge ${kind}`, title }, text);

export const stateBadge = (state, title) => badge(state || 'unknown', STATE_KIND[state] || 'grey', title);

export const mono = (text, title) => h('span', { class: 'mono', title }, text);

export function errorBox(message, title = 'Something went wrong') {
  return h('div', { class: 'callout error', role: 'alert' },
    h('strong', null, title), h('div', { class: 'callout-text' }, message));
}

export function callout(kind, message, title) {
  return h('div', { class: `callout ${kind}` }, title && h('strong', null, title), h('div', { class: 'callout-text' }, message));
}

export const loading = (text = 'Loading…') => h('div', { class: 'loading' }, h('span', { class: 'spinner' }), text);

/** Live-connection indicator; set(state) with 'connecting' | 'live' | 'reconnecting' | 'off'. */
export function liveIndicator() {
  const labels = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', off: 'Offline, retrying' };
  const el = h('span', { class: 'live connecting', title: 'Live updates from the cluster’s events' }, labels.connecting);
  return { el, set(s) { el.className = `live ${s}`; el.textContent = labels[s] || s; } };
}

export function copyButton(getText, label = 'Copy') {
  const btn = h('button', { class: 'btn small', type: 'button' }, label);
  btn.addEventListener('click', async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Fallback: a hidden textarea and the old copy command.
      const ta = h('textarea', { class: 'offscreen' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    btn.textContent = 'Copied';
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
  return btn;
}

export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input, hint && h('small', { class: 'hint' }, hint));
}

/** A <select>'s options: "all" first, then the distinct values sorted; the choice is kept. */
export function selectOptions(sel, values, allLabel) {
  const keep = sel.value;
  const list = [...new Set(values.filter(Boolean))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (keep && !list.includes(keep)) list.push(keep);
  sel.replaceChildren(h('option', { value: '' }, allLabel), ...list.map(v => h('option', { value: v }, v)));
  sel.value = keep;
}

// ---- page frames ---------------------------------------------------------

/** A page's title with its actions on the right. */
export function pageHead(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'page-actions' }, actions));
}

/** What an administrator's page shows anyone else; the page counts as shown. */
export function forbidden(main, ctx, page) {
  main.append(pageHead('Not allowed'),
    callout('warn', `This page is for administrators; you are signed in as ${ctx.user.role}.`));
  ctx.done(page);
}

/** The centred card of the sign-in and first-run pages. */
export function authCard(title, sub, form) {
  return h('div', { class: 'auth-wrap' }, h('div', { class: 'auth-card' },
    h('div', { class: 'brand big' }, h('span', { class: 'brand-mark' }), 'Bosun'),
    h('h1', null, title), sub && h('p', { class: 'muted' }, sub), form));
}

// ---- notices -------------------------------------------------------------

export function toast(message, kind = 'ok', ms) {
  const box = document.getElementById('toasts');
  if (!box) return;
  // Notices never take clicks, so they cannot cover a button.
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), ms ?? (kind === 'error' ? 8000 : 3500));
  while (box.children.length > 4) box.firstChild.remove();
}

// ---- modal dialogs -------------------------------------------------------

let activeModal = null;

/**
 * A modal form (no Cancel button when `cancelText` is null). `validate()` may return an error text to keep it open; resolves with
 * `result()` on OK, or null when cancelled.
 */
export function modal({ title, body, okText = 'OK', cancelText = 'Cancel', danger = false, validate, result = () => true }) {
  activeModal?.cancel();
  return new Promise(resolve => {
    const before = document.activeElement;
    const err = h('p', { class: 'form-error', role: 'alert' });
    const ok = h('button', { id: 'confirm-ok', type: 'submit', class: `btn ${danger ? 'danger' : 'primary'}` }, okText);
    const cancel = cancelText && h('button', { id: 'confirm-cancel', type: 'button', class: 'btn', onclick: () => close(null) }, cancelText);
    const form = h('form', {
      class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'modal-title', novalidate: true,
      onsubmit: e => {
        e.preventDefault();
        const problem = validate?.();
        if (problem) { err.textContent = problem; return; }
        close(result());
      },
    }, h('h2', { id: 'modal-title' }, title), h('div', { class: 'modal-body' }, body), err,
    h('div', { class: 'modal-actions' }, cancel, ok));
    const backdrop = h('div', { class: 'modal-backdrop' }, form);
    backdrop.addEventListener('mousedown', e => { if (e.target === backdrop) close(null); });
    const onKey = e => { if (e.key === 'Escape') { e.preventDefault(); close(null); } };

    function close(value) {
      document.removeEventListener('keydown', onKey, true);
      backdrop.remove();
      if (activeModal?.form === form) activeModal = null;
      if (before && before.isConnected) before.focus?.();
      resolve(value);
    }
    activeModal = { form, cancel: () => close(null) };
    document.addEventListener('keydown', onKey, true);
    document.body.append(backdrop);
    (form.querySelector('.modal-body input, .modal-body select, .modal-body textarea') || (danger && cancel ? cancel : ok)).focus();
  });
}

export function closeModal() { activeModal?.cancel(); }

export async function confirmDialog(message, { title = 'Please confirm', okText = 'Confirm', danger = false, detail } = {}) {
  const body = [h('p', null, message), detail && h('p', { class: 'muted' }, detail)];
  return (await modal({ title, body, okText, danger })) === true;
}

/** Asks for one value; resolves with the text or null. */
export function promptDialog({ title, label, type = 'text', value = '', okText = 'Save', validate, hint, attrs }) {
  const input = h('input', { id: 'prompt-input', type, value: String(value), autocomplete: type === 'password' ? 'new-password' : 'off', ...attrs });
  return modal({
    title, okText,
    body: field(label, input, hint),
    validate: () => validate?.(input.value) || null,
    result: () => input.value,
  });
}

// ---- tables --------------------------------------------------------------

/** Orders two cell values: empty last, numbers by value, text naturally ("web-2" < "web-10"). */
export function compare(a, b) {
  const na = a == null || a === '';
  const nb = b == null || b === '';
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
}

/**
 * A table with clickable, sortable headers.
 * columns: [{label, cell: row => Node|text, sort?: row => value, cls?, title?}]
 * rowAttrs: row => attributes of its <tr>.
 */
export function dataTable({ columns, rowAttrs, empty = 'Nothing to show.', sort }) {
  let rows = [];
  let emptyText = empty;
  let sortCol = sort?.col ?? null;
  let sortDir = sort?.dir ?? 1;
  const ths = columns.map((c, i) => {
    const th = h('th', { class: c.cls, title: c.title, scope: 'col' }, c.label);
    if (c.sort) {
      th.classList.add('sortable');
      th.tabIndex = 0;
      const toggle = () => { sortDir = sortCol === i ? -sortDir : 1; sortCol = i; render(); };
      th.addEventListener('click', toggle);
      th.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
    }
    return th;
  });
  const tbody = h('tbody');
  const table = h('table', { class: 'grid' }, h('thead', null, h('tr', null, ths)), tbody);
  // Each cell names its column, for the narrow layout where rows become cards.
  const labels = ths.map(th => th.textContent.trim());

  function render() {
    ths.forEach((th, i) => {
      th.classList.toggle('asc', i === sortCol && sortDir > 0);
      th.classList.toggle('desc', i === sortCol && sortDir < 0);
      if (columns[i].sort) th.setAttribute('aria-sort', i === sortCol ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
    });
    let list = rows;
    if (sortCol != null && columns[sortCol].sort) {
      const key = columns[sortCol].sort;
      list = rows.map(r => [key(r), r]).sort((a, b) => compare(a[0], b[0]) * sortDir).map(p => p[1]);
    }
    if (!list.length) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colSpan: columns.length }, emptyText)));
      return;
    }
    tbody.replaceChildren(...list.map(r => h('tr', rowAttrs?.(r),
      columns.map((c, i) => h('td', { class: c.cls, 'data-label': labels[i] }, c.cell(r))))));
  }

  return {
    el: h('div', { class: 'table-wrap' }, table),
    tbody,
    set(list, emptyMessage) { rows = list; emptyText = emptyMessage ?? empty; render(); },
    render,
  };
}

/**
 * Names every cell of the `table.grid`s under `root` after its column's header
 * (`data-label`) as its row is added, for tables not made by dataTable().
 */
export function labelTableCells(root) {
  const ROW = 'table.grid tbody tr';
  const label = (row, heads) => {
    const table = row.closest('table');
    if (!heads.has(table)) heads.set(table, [...(table.tHead?.rows[0]?.cells ?? [])].map(th => th.textContent.trim()));
    const names = heads.get(table);
    let col = 0;
    for (const cell of row.cells) {
      if (!cell.hasAttribute('data-label') && names[col] != null) cell.setAttribute('data-label', names[col]);
      col += cell.colSpan || 1;
    }
  };
  // Mutation callbacks run once per task, after its changes and before anything else
  // reads the page, so a row is never seen without its labels; only what was added is
  // looked at, so a live table's new row costs one row.
  new MutationObserver(records => {
    const heads = new Map();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        const row = node.closest(ROW);
        if (row) label(row, heads);
        for (const inner of node.querySelectorAll(ROW)) label(inner, heads);
      }
    }
  }).observe(root, { childList: true, subtree: true });
}
