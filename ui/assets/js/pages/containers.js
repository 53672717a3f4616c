// #/e/ID/containers : a cluster's containers, filtered, grouped by Compose project or
// stack, with their CPU and memory, acted on one by one or several at once, and updated
// live.

import { get, ep, enc, listOf, aborted } from '../api.js';
import {
  h, debounce, unixDate, timeCell, shortId, plural, bytes, stateBadge, dash, errorBox, loading,
  liveIndicator, selectOptions, confirmDialog, toast, compare,
} from '../ui.js';
import {
  nodeOf, partialBanner, liveEvents, endpointShell, containerAction, runContainerAction, actionButtons,
  allowedActions, actionLabel, statusText, trouble, portsCell, QUIET_EVENT,
} from '../cluster.js';
import { pct } from '../usage.js';

const cname = c => (c.Names?.[0] ?? shortId(c.Id)).replace(/^\//, '');

/** "0.0.0.0:8080->80/tcp" for each published or exposed port, without repeats. */
function portList(ports) {
  const out = (ports ?? []).map(p => (p.PublicPort
    ? `${p.IP && p.IP.includes(':') ? `[${p.IP}]` : p.IP ?? ''}${p.IP ? ':' : ''}${p.PublicPort}->${p.PrivatePort}/${p.Type}`
    : `${p.PrivatePort}/${p.Type}`));
  const set = new Set(out);
  for (const p of set) if (p.startsWith('[::]:') && set.has(`0.0.0.0:${p.slice(5)}`)) set.delete(p);
  return [...set].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

// The state an event leaves a container in, to show before the list is read again.
const EVENT_STATE = { start: 'running', restart: 'running', unpause: 'running', pause: 'paused', die: 'exited', stop: 'exited' };

/** The Compose project or Swarm stack a container belongs to; '' for none. */
const projectOf = c => c.Labels?.['com.docker.compose.project'] ?? c.Labels?.['com.docker.stack.namespace'] ?? '';

// The actions offered for several containers at once, and what each needs of a state.
const BULK = ['start', 'stop', 'restart', 'remove'];

// Filters and view choices last as long as the page session, per cluster.
const containerFilters = new Map();

function labelTerms(text) {
  return text.split(',').map(t => t.trim()).filter(Boolean).map(t => {
    const i = t.indexOf('=');
    return i < 0 ? [t, undefined] : [t.slice(0, i).trim(), t.slice(i + 1).trim()];
  });
}

export async function containers(main, params, ctx) {
  const { id } = params;
  const content = endpointShell(main, id, 'containers', ctx, 'Containers');
  const canAct = ctx.can('operator');
  const f = containerFilters.get(id) ?? {
    q: '', node: '', state: '', label: '', grouped: localStorage.getItem('bosun.containers.grouped') === '1', collapsed: new Set(),
  };
  containerFilters.set(id, f);
  let items = [];
  let usage = new Map();
  const selected = new Set();
  let sort = { key: 'name', dir: 1 };
  let seq = 0;
  let loaded = false;

  const search = h('input', {
    id: 'container-search', type: 'search', class: 'search', placeholder: 'Search name or image', 'aria-label': 'Search', value: f.q,
    oninput: e => { f.q = e.target.value; apply(); },
  });
  const nodeSel = h('select', { id: 'container-node', 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  const stateSel = h('select', { id: 'container-state', 'aria-label': 'State', onchange: e => { f.state = e.target.value; apply(); } });
  const labelIn = h('input', {
    id: 'container-label', type: 'text', class: 'label-filter mono', placeholder: 'label: key or key=value', 'aria-label': 'Label filter',
    value: f.label, spellcheck: false, oninput: e => { f.label = e.target.value; apply(); },
  });
  const groupBox = h('input', {
    id: 'container-group', type: 'checkbox', checked: f.grouped,
    onchange: e => { f.grouped = e.target.checked; localStorage.setItem('bosun.containers.grouped', f.grouped ? '1' : '0'); apply(); },
  });
  selectOptions(nodeSel, [f.node], 'All nodes');
  selectOptions(stateSel, [f.state], 'All states');
  const count = h('span', { class: 'count' });
  const live = liveIndicator();
  live.el.hidden = true;
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const create = canAct ? h('a', { id: 'container-create', class: 'btn primary', href: `#/e/${id}/create` }, 'Create') : null;
  const note = h('div');
  const bulkBar = h('div', { id: 'bulk-bar', class: 'bulk-bar', hidden: true });
  const results = h('div', { id: 'bulk-results' });
  const body = h('div', null, loading());

  const act = async (c, action) => {
    if (await containerAction(id, { Id: c.Id, name: cname(c), node: nodeOf(c) }, action)) load();
  };

  // The columns: label, sort key, cell, class.
  const cols = [
    {
      key: 'name', label: 'Name', cls: 'ellipsis', sort: c => cname(c),
      cell: c => h('a', { href: `#/e/${id}/containers/${enc(c.Id)}`, class: 'strong', title: `ID ${shortId(c.Id)}` }, cname(c)),
    },
    { key: 'node', label: 'Node', sort: c => nodeOf(c), cell: c => dash(nodeOf(c)) },
    {
      key: 'state', label: 'State', cls: 'state', sort: c => `${trouble(c.State, c.Status) ? 0 : 1}${c.State}`,
      cell: c => h('span', { class: 'state-cell' }, stateBadge(c.State), ' ', statusText(c.State, c.Status)),
    },
    { key: 'image', label: 'Image', cls: 'clip image', sort: c => c.Image, cell: c => h('span', { title: c.Image }, c.Image) },
    {
      key: 'cpu', label: 'CPU', cls: 'num', title: 'From the newest usage sample; 100 % is one core',
      sort: c => usage.get(c.Id)?.cpu ?? null, cell: c => (usage.has(c.Id) ? pct(usage.get(c.Id).cpu) : h('span', { class: 'muted' }, '—')),
    },
    {
      key: 'memory', label: 'Memory', cls: 'num', title: 'From the newest usage sample',
      sort: c => usage.get(c.Id)?.memory?.used ?? null,
      cell: c => (usage.has(c.Id) ? h('span', { title: usage.get(c.Id).memory?.limit ? `of ${bytes(usage.get(c.Id).memory.limit)}` : null }, bytes(usage.get(c.Id).memory?.used)) : h('span', { class: 'muted' }, '—')),
    },
    { key: 'ports', label: 'Ports', sort: c => portList(c.Ports)[0], cell: c => portsCell(portList(c.Ports)) },
    { key: 'created', label: 'Created', sort: c => -c.Created, cell: c => timeCell(unixDate(c.Created)) },
  ];
  if (canAct) cols.push({ key: 'actions', label: '', cls: 'actions', cell: c => actionButtons(a => act(c, a), allowedActions(c.State)) });

  const selectAll = canAct ? h('input', { id: 'select-all', type: 'checkbox', 'aria-label': 'Select all shown' }) : null;
  const headRow = h('tr', null, canAct ? h('th', { class: 'pick' }, selectAll) : null, cols.map(c => {
    const th = h('th', { class: c.cls, title: c.title, scope: 'col' }, c.label);
    if (c.sort) {
      th.classList.add('sortable');
      th.tabIndex = 0;
      const toggle = () => { sort = { key: c.key, dir: sort.key === c.key ? -sort.dir : 1 }; render(); };
      th.addEventListener('click', toggle);
      th.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
    }
    th.dataset.col = c.key;
    return th;
  }));
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'grid containers' }, h('thead', null, headRow), tbody));
  const width = cols.length + (canAct ? 1 : 0);
  let shown = [];

  content.append(h('div', { class: 'toolbar' }, search, nodeSel, stateSel, labelIn,
    h('label', { class: 'check', title: 'Group by Compose project or stack' }, groupBox, 'Group'),
    h('span', { class: 'grow' }), count, live.el, refresh, create), note, bulkBar, results, body);

  function filtered() {
    const q = f.q.trim().toLowerCase();
    const terms = labelTerms(f.label);
    return items.filter(c => {
      if (f.node && nodeOf(c) !== f.node) return false;
      if (f.state && c.State !== f.state) return false;
      if (q && !`${cname(c)} ${c.Image ?? ''}`.toLowerCase().includes(q)) return false;
      const labels = c.Labels ?? {};
      return terms.every(([k, v]) => k in labels && (v === undefined || labels[k] === v));
    });
  }

  function sorted(list) {
    const col = cols.find(c => c.key === sort.key);
    if (!col?.sort) return list;
    return list.map(c => [col.sort(c), c]).sort((a, b) => compare(a[0], b[0]) * sort.dir).map(p => p[1]);
  }

  function row(c) {
    const pick = canAct ? h('td', { class: 'pick' }, h('input', {
      type: 'checkbox', class: 'pick-one', 'aria-label': `Select ${cname(c)}`, checked: selected.has(c.Id),
      onchange: e => { if (e.target.checked) selected.add(c.Id); else selected.delete(c.Id); syncBulk(); },
    })) : null;
    return h('tr', {
      'data-container-name': cname(c), 'data-container-id': c.Id, 'data-state': c.State,
      'data-trouble': trouble(c.State, c.Status) || null, class: selected.has(c.Id) ? 'picked' : null,
    }, pick, cols.map(col => h('td', { class: col.cls }, col.cell(c))));
  }

  function groupHead(key, list) {
    const open = !f.collapsed.has(key);
    const running = list.filter(c => c.State === 'running').length;
    const bad = list.filter(c => trouble(c.State, c.Status)).length;
    return h('tr', { class: 'group-head', 'data-group': key || '(none)' }, h('td', { colSpan: width },
      h('button', {
        type: 'button', class: 'group-toggle', 'aria-expanded': open ? 'true' : 'false',
        onclick: () => { if (open) f.collapsed.add(key); else f.collapsed.delete(key); render(); },
      }, h('span', { class: 'caret' }, open ? '▾' : '▸'), ' ', key ? h('span', { class: 'strong' }, key) : h('span', { class: 'muted' }, 'No project')),
      h('span', { class: 'muted small' }, ` · ${plural(list.length, 'container')} · ${running} running`),
      bad ? h('span', { class: 'error-text small' }, ` · ${bad} in trouble`) : null));
  }

  function render() {
    for (const th of headRow.querySelectorAll('th[data-col]')) {
      const on = th.dataset.col === sort.key;
      th.classList.toggle('asc', on && sort.dir > 0);
      th.classList.toggle('desc', on && sort.dir < 0);
    }
    if (!shown.length) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colSpan: width },
        items.length ? 'No container matches the filters.' : 'This cluster has no containers.')));
      syncBulk();
      return;
    }
    const list = sorted(shown);
    if (!f.grouped) {
      tbody.replaceChildren(...list.map(row));
    } else {
      const groups = new Map();
      for (const c of list) {
        const key = projectOf(c);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(c);
      }
      const keys = [...groups.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : compare(a, b)));
      tbody.replaceChildren(...keys.flatMap(k => [groupHead(k, groups.get(k)), ...(f.collapsed.has(k) ? [] : groups.get(k).map(row))]));
    }
    syncBulk();
  }

  function apply() {
    shown = filtered();
    // A selection is of what is shown: what a filter hides is not acted on unseen.
    const visible = new Set(shown.map(c => c.Id));
    for (const cid of [...selected]) if (!visible.has(cid)) selected.delete(cid);
    render();
    const running = items.filter(c => c.State === 'running').length;
    count.textContent = shown.length === items.length
      ? `${plural(items.length, 'container')} · ${running} running`
      : `${shown.length} of ${items.length}`;
  }

  function syncBulk() {
    if (!canAct) return;
    const picked = shown.filter(c => selected.has(c.Id));
    selectAll.checked = picked.length > 0 && picked.length === shown.length;
    selectAll.indeterminate = picked.length > 0 && picked.length < shown.length;
    for (const tr of tbody.querySelectorAll('tr[data-container-id]')) tr.classList.toggle('picked', selected.has(tr.dataset.containerId));
    bulkBar.hidden = !picked.length;
    bulkBar.replaceChildren(h('span', { class: 'strong' }, `${picked.length} selected`),
      ...BULK.map(action => {
        const able = picked.filter(c => allowedActions(c.State).includes(action));
        return h('button', {
          type: 'button', id: `bulk-${action}`, class: `btn small${action === 'remove' ? ' danger-ghost' : ''}`,
          disabled: !able.length, title: able.length < picked.length ? `${able.length} of ${picked.length} can ${action}` : null,
          onclick: () => bulk(action, able),
        }, `${actionLabel(action)}${able.length < picked.length ? ` (${able.length})` : ''}`);
      }),
      h('button', { type: 'button', class: 'btn small', onclick: () => { selected.clear(); render(); } }, 'Clear'));
  }
  selectAll?.addEventListener('change', () => {
    if (selectAll.checked) for (const c of shown) selected.add(c.Id);
    else selected.clear();
    render();
  });

  /** Runs one action on several containers, four at a time; each result shown. */
  async function bulk(action, list) {
    const label = actionLabel(action);
    const ok = await confirmDialog(`${label} ${plural(list.length, 'container')}?`, {
      title: `${label} containers`, okText: label, danger: action === 'remove',
      detail: list.map(cname).slice(0, 12).join(', ') + (list.length > 12 ? ', …' : ''),
    });
    if (!ok) return;
    const lines = new Map(list.map(c => [c.Id, h('li', { 'data-container-id': c.Id, 'data-result': 'pending' },
      h('span', { class: 'strong' }, cname(c)), ' ', h('span', { class: 'muted' }, 'working…'))]));
    const close = h('button', { type: 'button', class: 'btn xs', onclick: () => results.replaceChildren() }, 'Close');
    results.replaceChildren(h('div', { class: 'panel bulk-results' },
      h('div', { class: 'panel-head' }, h('h2', null, `${label}: ${plural(list.length, 'container')}`), close),
      h('ul', { class: 'result-list' }, [...lines.values()])));
    const queue = [...list];
    let failed = 0;
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const r = await runContainerAction(id, { Id: c.Id, name: cname(c), node: nodeOf(c) }, action);
        const li = lines.get(c.Id);
        li.dataset.result = r.ok ? 'ok' : 'error';
        if (!r.ok) failed++;
        li.replaceChildren(h('span', { class: 'strong' }, cname(c)), ' ',
          r.ok ? h('span', { class: 'ok-text' }, r.note ?? 'done') : h('span', { class: 'error-text' }, r.error));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    selected.clear();
    toast(failed ? `${label}: ${failed} of ${list.length} failed` : `${label}: ${plural(list.length, 'container')} done`, failed ? 'error' : 'ok');
    load();
  }

  // Live updates, from the first list on: patch the row at once, then read the list again.
  let liveOn = false;
  let wasLive = false;
  function startLive() {
    liveOn = true;
    live.el.hidden = false;
    liveEvents(id, ctx, ev => {
      if ((ev.Type ?? ev.type) !== 'container') return;
      const action = String(ev.Action ?? ev.status ?? '');
      if (QUIET_EVENT.test(action)) return;
      const cid = ev.Actor?.ID ?? ev.id;
      const c = items.find(x => x.Id === cid);
      if (c && action === 'destroy') { items = items.filter(x => x !== c); apply(); }
      else if (c && EVENT_STATE[action]) { c.State = EVENT_STATE[action]; apply(); }
      reloadSoon();
    }, s => {
      live.set(s);
      if (s === 'live') { if (wasLive) reloadSoon(); wasLive = true; } // catch up after a gap
    });
  }

  async function loadUsage() {
    try {
      const r = await get(ep(id, '/usage/top?limit=100'), { signal: ctx.signal });
      const next = new Map();
      for (const u of [...(r.cpu ?? []), ...(r.memory ?? [])]) next.set(u.id, u);
      usage = next;
    } catch {
      // The figures are extra: the list stands without them.
    }
  }

  async function load() {
    const my = ++seq;
    refresh.disabled = true;
    try {
      const [r] = await Promise.all([get(ep(id, '/containers'), { signal: ctx.signal }), loadUsage()]);
      if (my !== seq) return;
      items = listOf(r);
      note.replaceChildren(partialBanner(r?.partial) ?? '');
      selectOptions(nodeSel, items.map(nodeOf), 'All nodes');
      selectOptions(stateSel, items.map(c => c.State), 'All states');
      apply();
      if (table.parentNode !== body) body.replaceChildren(table);
      loaded = true;
      if (!liveOn) startLive();
    } catch (e) {
      if (aborted(ctx, e) || my !== seq) return;
      count.textContent = '';
      if (loaded) note.replaceChildren(errorBox(e.message, 'Could not refresh the list'));
      else { note.replaceChildren(); body.replaceChildren(errorBox(e.message, 'Could not list the containers')); }
    } finally {
      if (my === seq) refresh.disabled = false;
    }
  }
  const reloadSoon = debounce(load, 300);
  ctx.onLeave(reloadSoon.cancel);

  await load();
  ctx.done('containers');
}
