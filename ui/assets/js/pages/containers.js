// #/e/ID/containers : a cluster's containers, filtered, acted on and updated live.

import { get, ep, enc, listOf, aborted } from '../api.js';
import {
  h, debounce, unixDate, timeCell, shortId, plural, badge, stateBadge, dash, errorBox, loading,
  liveIndicator, dataTable, selectOptions,
} from '../ui.js';
import {
  nodeOf, partialBanner, liveEvents, endpointShell, containerAction, actionButtons, portsCell, QUIET_EVENT,
} from '../cluster.js';

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

function healthOf(status) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? '');
  if (!m) return null;
  return badge(m[1].replace('health: ', ''), m[1] === 'healthy' ? 'ok-ghost' : m[1] === 'unhealthy' ? 'bad' : 'info');
}

// The state an event leaves a container in, to show before the list is read again.
const EVENT_STATE = { start: 'running', restart: 'running', unpause: 'running', pause: 'paused', die: 'exited', stop: 'exited' };

// Filters last as long as the page session, per cluster.
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
  const f = containerFilters.get(id) ?? { q: '', node: '', state: '', label: '' };
  containerFilters.set(id, f);
  let items = [];
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
  selectOptions(nodeSel, [f.node], 'All nodes');
  selectOptions(stateSel, [f.state], 'All states');
  const count = h('span', { class: 'count' });
  const live = liveIndicator();
  live.el.hidden = true;
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const note = h('div');
  const body = h('div', null, loading());

  const act = async (c, action) => {
    if (await containerAction(id, { Id: c.Id, name: cname(c), node: nodeOf(c) }, action)) load();
  };
  const columns = [
    {
      label: 'Name', cls: 'ellipsis', sort: c => cname(c),
      cell: c => h('a', { href: `#/e/${id}/containers/${enc(c.Id)}`, class: 'strong', title: `ID ${shortId(c.Id)}` }, cname(c)),
    },
    { label: 'Node', sort: c => nodeOf(c), cell: c => dash(nodeOf(c)) },
    { label: 'State', sort: c => c.State, cell: c => h('span', { class: 'state-cell' }, stateBadge(c.State, c.Status), healthOf(c.Status)) },
    { label: 'Image', cls: 'clip image', sort: c => c.Image, cell: c => h('span', { title: c.Image }, c.Image) },
    { label: 'Ports', sort: c => portList(c.Ports)[0], cell: c => portsCell(portList(c.Ports)) },
    { label: 'Created', sort: c => -c.Created, cell: c => timeCell(unixDate(c.Created)) },
  ];
  if (canAct) columns.push({ label: '', cls: 'actions', cell: c => actionButtons(a => act(c, a)) });
  const table = dataTable({
    columns, sort: { col: 0, dir: 1 },
    rowAttrs: c => ({ 'data-container-name': cname(c), 'data-container-id': c.Id, 'data-state': c.State }),
  });

  content.append(h('div', { class: 'toolbar' }, search, nodeSel, stateSel, labelIn, h('span', { class: 'grow' }), count, live.el, refresh), note, body);

  function apply() {
    const q = f.q.trim().toLowerCase();
    const terms = labelTerms(f.label);
    const shown = items.filter(c => {
      if (f.node && nodeOf(c) !== f.node) return false;
      if (f.state && c.State !== f.state) return false;
      if (q && !`${cname(c)} ${c.Image ?? ''}`.toLowerCase().includes(q)) return false;
      const labels = c.Labels ?? {};
      return terms.every(([k, v]) => k in labels && (v === undefined || labels[k] === v));
    });
    table.set(shown, items.length ? 'No container matches the filters.' : 'This cluster has no containers.');
    const running = items.filter(c => c.State === 'running').length;
    count.textContent = shown.length === items.length
      ? `${plural(items.length, 'container')} · ${running} running`
      : `${shown.length} of ${items.length}`;
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

  async function load() {
    const my = ++seq;
    refresh.disabled = true;
    try {
      const r = await get(ep(id, '/containers'), { signal: ctx.signal });
      if (my !== seq) return;
      items = listOf(r);
      note.replaceChildren(partialBanner(r?.partial) ?? '');
      selectOptions(nodeSel, items.map(nodeOf), 'All nodes');
      selectOptions(stateSel, items.map(c => c.State), 'All states');
      apply();
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
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
