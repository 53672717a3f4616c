// What the pages of a cluster share: the endpoints seen so far, the cluster's frame
// (crumbs and sub-navigation), its live event stream, the list-page skeleton, the
// container actions (list and detail page) and the Swarm helpers (services and tasks).

import { get, post, del, ep, enc, listOf, aborted } from './api.js';
import {
  h, shortId, plural, errorBox, callout, loading, toast, confirmDialog, dataTable, selectOptions,
} from './ui.js';

export const nodeOf = x => x?.Agent?.NodeName ?? '';

// Endpoints seen in lists, so a cluster's pages can show its name at once.
export const endpointCache = new Map();
export const remember = list => { for (const e of list) endpointCache.set(String(e.id), e); };

export const partialBanner = p => (p ? callout('warn', `Some nodes did not answer: ${p}`) : null);

/**
 * The cluster's event stream while the page is shown; reopened after 5 s if it fails.
 * onStatus gets 'connecting' | 'live' | 'reconnecting' | 'off'.
 */
export function liveEvents(id, ctx, onEvent, onStatus = () => {}) {
  let es = null;
  let timer = null;
  let closed = false;
  const open = () => {
    onStatus('connecting');
    es = new EventSource(ep(id, '/events'));
    es.onopen = () => onStatus('live');
    es.onmessage = m => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev && typeof ev === 'object') onEvent(ev);
    };
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        onStatus('off');
        es.close();
        get('/api/session').catch(() => {}); // a lapsed session sends us to the login page
        timer = setTimeout(open, 5000);
      } else onStatus('reconnecting');
    };
  };
  open();
  ctx.onLeave(() => { closed = true; clearTimeout(timer); es?.close(); });
}

// ---- a cluster's frame: crumbs and sub-navigation ------------------------

const SECTIONS = [
  ['nodes', 'Nodes'], ['top', 'Top'], ['containers', 'Containers'], ['services', 'Services'], ['tasks', 'Tasks'],
  ['images', 'Images'], ['volumes', 'Volumes'], ['networks', 'Networks'], ['events', 'Events'],
  ['logs', 'Logs'],
];

export function endpointShell(main, id, active, ctx, title) {
  const known = endpointCache.get(String(id));
  const name = h('span', { class: 'ep-title' }, known?.name ?? `Endpoint ${id}`);
  const url = h('span', { class: 'ep-url mono' }, known?.url ?? '');
  const setTitle = n => ctx.title(`${title} · ${n}`);
  setTitle(known?.name ?? `Endpoint ${id}`);
  if (!known) {
    get(ep(id), { signal: ctx.signal }).then(e => {
      endpointCache.set(String(id), e);
      name.textContent = e.name;
      url.textContent = e.url;
      setTitle(e.name);
    }).catch(() => {});
  }
  const nav = h('nav', { class: 'subnav', 'aria-label': 'Cluster' }, SECTIONS.map(([key, label]) =>
    h('a', { href: `#/e/${id}/${key}`, class: key === active ? 'active' : null, 'aria-current': key === active ? 'page' : null }, label)));
  const content = h('div', { class: 'ep-content' });
  main.append(h('div', { class: 'ep-head' },
    h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Clusters'), h('span', { class: 'sep' }, '/'), name, url), nav), content);
  return content;
}

/**
 * A cluster list page: toolbar (search, node filter, count, refresh), partial warning,
 * error or table. cfg: section, title, noun, path | load, columns(env), search, nodeOf,
 * rowAttrs, sort, errorView.
 */
export async function listSection(main, { id }, ctx, cfg) {
  const content = endpointShell(main, id, cfg.section, ctx, cfg.title);
  const pickNode = cfg.nodeOf ?? nodeOf;
  const f = { q: '', node: '' };
  let items = [];
  const search = cfg.search && h('input', {
    type: 'search', class: 'search', placeholder: cfg.searchPlaceholder ?? 'Search', 'aria-label': 'Search',
    oninput: e => { f.q = e.target.value.trim().toLowerCase(); apply(); },
  });
  const nodeSel = cfg.nodeFilter !== false && h('select', { 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  const count = h('span', { class: 'count' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const note = h('div');
  const body = h('div', null, loading());
  const table = dataTable({ columns: cfg.columns({ id, ctx, reload: () => load() }), rowAttrs: cfg.rowAttrs, sort: cfg.sort });
  content.append(h('div', { class: 'toolbar' }, search, nodeSel, h('span', { class: 'grow' }), count, refresh), note, body);

  function apply() {
    const shown = items.filter(x => (!f.node || pickNode(x) === f.node) && (!f.q || cfg.search(x).toLowerCase().includes(f.q)));
    table.set(shown, items.length ? 'Nothing matches the filter.' : `No ${cfg.noun}.`);
    count.textContent = shown.length === items.length ? plural(items.length, cfg.one ?? cfg.noun.replace(/s$/, ''), cfg.noun) : `${shown.length} of ${items.length}`;
  }

  async function load() {
    refresh.disabled = true;
    try {
      const r = await (cfg.load ? cfg.load(id, ctx.signal) : get(ep(id, cfg.path), { signal: ctx.signal }));
      items = listOf(r);
      note.replaceChildren(partialBanner(r?.partial) ?? '');
      if (nodeSel) selectOptions(nodeSel, items.map(pickNode), 'All nodes');
      apply();
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (aborted(ctx, e)) return;
      note.replaceChildren();
      count.textContent = '';
      body.replaceChildren(cfg.errorView ? cfg.errorView(e) : errorBox(e.message, `Could not list the ${cfg.noun}`));
    } finally {
      refresh.disabled = false;
    }
  }

  await load();
  ctx.done(cfg.section);
}

// ---- containers: actions and ports --------------------------------------

const ACTIONS = {
  start: { label: 'Start', done: 'Started' },
  stop: { label: 'Stop', done: 'Stopped', detail: 'It gets SIGTERM, then SIGKILL after its stop timeout.' },
  restart: { label: 'Restart', done: 'Restarted' },
  kill: { label: 'Kill', done: 'Killed', danger: true, detail: 'It gets SIGKILL at once.' },
  remove: { label: 'Remove', done: 'Removed', danger: true, detail: 'It is removed even while running, with its anonymous state. This cannot be undone.' },
};

/** Confirms, then runs one action on a container ({Id, name, node}); true when it worked. */
export async function containerAction(id, c, action) {
  const a = ACTIONS[action];
  const ok = await confirmDialog(`${a.label} the container “${c.name}”${c.node ? ` on ${c.node}` : ''}?`, {
    title: `${a.label} container`, okText: a.label, danger: a.danger, detail: a.detail,
  });
  if (!ok) return false;
  const path = ep(id, `/containers/${enc(c.Id)}`);
  try {
    if (action === 'remove') await del(`${path}?force=1`);
    else await post(`${path}/${action}`);
    toast(`${a.done} ${c.name}`);
    return true;
  } catch (e) {
    toast(e.message, 'error');
    return false;
  }
}

export function actionButtons(onAction) {
  return h('div', { class: 'row-actions' }, Object.entries(ACTIONS).map(([key, a]) => h('button', {
    type: 'button', class: `btn xs${a.danger ? ' danger-ghost' : ''}`, 'data-action': key,
    onclick: async e => {
      const btn = e.currentTarget;
      btn.disabled = true;
      btn.classList.add('busy');
      try { await onAction(key); } finally { btn.disabled = false; btn.classList.remove('busy'); }
    },
  }, a.label)));
}

export const portsCell = list => (list.length ? h('div', { class: 'ports' }, list.map(p => h('span', { class: 'mono' }, p))) : h('span', { class: 'muted' }, '—'));

// Container events that change nothing a page shows.
export const QUIET_EVENT = /^(exec_|attach|detach|resize|top|archive-path|extract-to-dir|copy|export|commit)/;

// ---- Swarm: services and tasks ------------------------------------------

export const swarmError = what => e => (e.status === 503
  ? callout('info', e.message, `No ${what}: this endpoint answered that it cannot list them`)
  : errorBox(e.message, `Could not list the ${what}`));

export const serviceName = s => s.Spec?.Name ?? shortId(s.ID);
