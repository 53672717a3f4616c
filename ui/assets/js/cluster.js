// What the pages of a cluster share: the endpoints seen so far, the cluster's frame
// (crumbs and sub-navigation), its live event stream, the list-page skeleton, the
// container actions (list and detail page), a container's status and what uses an
// object, and the Swarm helpers (services and tasks).

import { get, post, del, ep, enc, listOf, aborted } from './api.js';
import {
  h, shortId, plural, bytes, errorBox, callout, loading, toast, confirmDialog, dataTable, selectOptions, modal, field,
} from './ui.js';

export const nodeOf = x => x?.Agent?.NodeName ?? '';

// Endpoints seen in lists, so a cluster's pages can show its name at once.
export const endpointCache = new Map();
export const remember = list => { for (const e of list) endpointCache.set(String(e.id), e); };

export const partialBanner = p => (p ? callout('warn', `Some nodes did not answer: ${p}`) : null);

/**
 * The cluster's event stream while the page is shown; reopened after 5 s if it fails.
 * onStatus gets 'connecting' | 'live' | 'reconnecting' | 'off'. since() may give the Unix
 * seconds the stream starts from (the engines send what happened since then first); it
 * is asked again at each reopening, so that a page can ask from the last event it has.
 */
export function liveEvents(id, ctx, onEvent, onStatus = () => {}, since = () => null) {
  let es = null;
  let timer = null;
  let closed = false;
  const open = () => {
    onStatus('connecting');
    const from = since();
    es = new EventSource(ep(id, from == null ? '/events' : `/events?since=${enc(from)}`));
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
  ['logs', 'Logs'], ['updates', 'Updates'], ['checks', 'Checks'],
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
 * rowAttrs, sort, errorView, actions(env) (buttons after Refresh), nodeNames() (the
 * node filter's names beyond those the items name).
 */
export async function listSection(main, { id, query }, ctx, cfg) {
  const content = endpointShell(main, id, cfg.section, ctx, cfg.title);
  const pickNode = cfg.nodeOf ?? nodeOf;
  // `?q=` comes from a link to one object (an event's actor): the list opens filtered to it.
  const asked = query?.get('q') ?? '';
  const f = { q: asked.trim().toLowerCase(), node: '' };
  let items = [];
  const search = cfg.search && h('input', {
    type: 'search', class: 'search', placeholder: cfg.searchPlaceholder ?? 'Search', 'aria-label': 'Search', value: asked || null,
    oninput: e => { f.q = e.target.value.trim().toLowerCase(); apply(); },
  });
  const nodeSel = cfg.nodeFilter !== false && h('select', { 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  // The filter offers the cluster's nodes (cfg.nodeNames) and those the items name, from
  // the start: a list that is empty or failed still has a filter that reads "All nodes".
  const fillNodes = () => { if (nodeSel) selectOptions(nodeSel, [...(cfg.nodeNames?.() ?? []), ...items.map(pickNode)], 'All nodes'); };
  fillNodes();
  const count = h('span', { class: 'count' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const note = h('div');
  const body = h('div', null, loading());
  const env = { id, ctx, reload: () => load() };
  const table = dataTable({ columns: cfg.columns(env), rowAttrs: cfg.rowAttrs, sort: cfg.sort });
  content.append(h('div', { class: 'toolbar' }, search, nodeSel, h('span', { class: 'grow' }), count, refresh, cfg.actions?.(env)), note, body);

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
      note.replaceChildren(partialBanner(r?.partial) ?? '', cfg.banner?.(r) ?? '');
      fillNodes();
      apply();
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (aborted(ctx, e)) return;
      items = [];
      fillNodes();
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

// What each state allows: no start of a running container, no stop of a stopped one.
const ALLOWED = {
  running: ['stop', 'restart', 'kill', 'remove'],
  paused: ['stop', 'kill', 'remove'],
  restarting: ['stop', 'kill', 'remove'],
  created: ['start', 'remove'],
  exited: ['start', 'remove'],
  dead: ['remove'],
  removing: [],
};

/** The actions a container in `state` offers, in the buttons' order. */
export const allowedActions = state => ALLOWED[state] ?? Object.keys(ACTIONS);

export const actionLabel = action => ACTIONS[action]?.label ?? action;

/**
 * Runs one action on a container ({Id, name, node}) without asking: {ok, note} or
 * {ok: false, error}. A note says it already was as asked.
 */
export async function runContainerAction(id, c, action) {
  const path = ep(id, `/containers/${enc(c.Id)}`);
  try {
    const r = action === 'remove' ? await del(`${path}?force=1`) : await post(`${path}/${action}`);
    return { ok: true, note: r?.note ?? null };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

/** Confirms, then runs one action on a container ({Id, name, node}); true when it worked. */
export async function containerAction(id, c, action) {
  const a = ACTIONS[action];
  const ok = await confirmDialog(`${a.label} the container “${c.name}”${c.node ? ` on ${c.node}` : ''}?`, {
    title: `${a.label} container`, okText: a.label, danger: a.danger, detail: a.detail,
  });
  if (!ok) return false;
  const r = await runContainerAction(id, c, action);
  if (!r.ok) { toast(r.error, 'error'); return false; }
  toast(r.note ? `${c.name}: ${r.note}` : `${a.done} ${c.name}`, r.note ? 'info' : 'ok');
  return true;
}

/** The action buttons of a container; only `allowed` ones (all by default). */
export function actionButtons(onAction, allowed = Object.keys(ACTIONS)) {
  const keys = Object.keys(ACTIONS).filter(k => allowed.includes(k));
  return h('div', { class: 'row-actions' }, keys.map(key => [key, ACTIONS[key]]).map(([key, a]) => h('button', {
    type: 'button', class: `btn xs${a.danger ? ' danger-ghost' : ''}`, 'data-action': key,
    onclick: async e => {
      const btn = e.currentTarget;
      btn.disabled = true;
      btn.classList.add('busy');
      try { await onAction(key); } finally { btn.disabled = false; btn.classList.remove('busy'); }
    },
  }, a.label)));
}

/**
 * How a container is doing, from its state and the engine's status text: 'bad' for a
 * non-zero exit, an unhealthy check, a restart loop or a dead container; else ''.
 */
export function trouble(state, status) {
  const text = status ?? '';
  const code = /^Exited \((-?\d+)\)/.exec(text);
  if (code && Number(code[1]) !== 0) return 'bad';
  if (/\(unhealthy\)/.test(text) || /^Restarting/.test(text)) return 'bad';
  if (state === 'restarting' || state === 'dead') return 'bad';
  return '';
}

/** The engine's status text (`Up 5 minutes (healthy)`, `Exited (3) 2 minutes ago`), red when in trouble. */
export function statusText(state, status) {
  const kind = trouble(state, status);
  return h('span', { class: `status-text${kind ? ` ${kind}` : ''}`, 'data-status-kind': kind || 'ok' }, status || state || '—');
}

/**
 * Which of a list's containers use each object, by node: `keysOf(c)` names the objects c uses;
 * uses it; the answer is a Map from `${node}\u0000${key}` to container names.
 */
export function usedByIndex(containers, keysOf) {
  const index = new Map();
  for (const c of containers) {
    const name = (c.Names?.[0] ?? shortId(c.Id)).replace(/^\//, '');
    for (const key of keysOf(c)) {
      const k = `${nodeOf(c)}\u0000${key}`;
      if (!index.has(k)) index.set(k, []);
      index.get(k).push({ name, Id: c.Id });
    }
  }
  return index;
}

/** The "in use by" cell: links to the containers, or a muted "unused". */
export function usedByCell(id, users) {
  if (!users?.length) return h('span', { class: 'muted' }, 'unused');
  return h('div', { class: 'used-by' }, users.map(u => h('a', { href: `#/e/${id}/containers/${enc(u.Id)}`, class: 'mono' }, u.name)));
}

// ---- images, volumes, networks: removing and pruning ---------------------

/**
 * Confirms, then removes one image, volume or network from its node: kind is the API's
 * list name ('images'), ref the object's ID or name; true when it worked.
 */
export async function removeObject(id, { kind, ref, label, node, usedBy }) {
  const noun = kind.replace(/s$/, '');
  // Images with several tags and volumes in use need force; networks have none.
  const force = kind === 'networks' ? null : h('input', { id: 'remove-force', type: 'checkbox' });
  const ok = await modal({
    title: `Remove ${noun}`, okText: 'Remove', danger: true,
    body: [h('p', null, `Remove the ${noun} “${label}”${node ? ` from ${node}` : ''}?`),
      h('p', { class: 'muted' }, usedBy?.length ? `In use by ${usedBy.map(u => u.name).join(', ')}: the engine refuses while it is.` : 'This cannot be undone.'),
      force ? h('label', { class: 'check' }, force, kind === 'images' ? 'Force: also when it has several tags' : 'Force') : null],
  });
  if (!ok) return false;
  try {
    await del(ep(id, `/${kind}/${ref.split('/').map(enc).join('/')}?node=${enc(node ?? '')}${force?.checked ? '&force=1' : ''}`));
    toast(`Removed ${noun} ${label}`);
    return true;
  } catch (e) {
    toast(e.message, 'error');
    return false;
  }
}

/** A Prune button for a list page: asks for the node and a label, shows each node's result. */
export function pruneButton(id, kind, nodes, reload) {
  return h('button', {
    id: `${kind}-prune`, class: 'btn', type: 'button',
    onclick: async () => {
      // Volumes hold data: their prune names one node unless every node is chosen.
      const volumes = kind === 'volumes';
      const names = nodes();
      const nodeSel = h('select', { id: 'prune-node' }, h('option', { value: '', selected: !volumes || !names.length }, 'Every node'),
        names.map((n, i) => h('option', { value: n, selected: volumes && i === 0 }, n)));
      const label = h('input', { id: 'prune-label', class: 'mono', placeholder: 'key or key=value (optional)', autocomplete: 'off', spellcheck: false });
      const all = h('input', { id: 'prune-all', type: 'checkbox' });
      const allLabel = { images: 'Every unused image, not only untagged ones', volumes: 'Named volumes too: their data is lost' }[kind];
      const says = volumes
        ? 'Removes the anonymous volumes no container uses (engines before Docker 23 remove unused named volumes too).'
        : `Removes the ${kind} no container uses.`;
      const body = [
        h('p', null, says),
        field('Node', nodeSel), field('Only those labelled', label),
        allLabel ? h('label', { class: 'check' }, all, allLabel) : null,
      ];
      const scope = await modal({
        title: `Prune ${kind}`, okText: 'Prune', danger: true, body,
        result: () => ({ node: nodeSel.value, label: label.value.trim(), ...(allLabel ? { all: all.checked } : {}) }),
      });
      if (!scope) return;
      try {
        const r = await post(ep(id, `/${kind}/prune`), scope);
        const lines = (r.results ?? []).map(x => (x.error
          ? `${x.node}: ${x.error}`
          : `${x.node}: ${plural(x.deleted?.length ?? 0, 'removed', 'removed')}${x.space_reclaimed ? `, ${bytes(x.space_reclaimed)} freed` : ''}`));
        toast(`Pruned ${kind}\n${lines.join('\n')}`, (r.results ?? []).some(x => x.error) ? 'error' : 'ok', 8000);
      } catch (e) {
        toast(e.message, 'error');
      }
      reload();
    },
  }, 'Prune');
}

export const portsCell = list => (list.length ? h('div', { class: 'ports' }, list.map(p => h('span', { class: 'mono' }, p))) : h('span', { class: 'muted' }, '—'));

// Container events that change nothing a page shows.
export const QUIET_EVENT = /^(exec_|attach|detach|resize|top|archive-path|extract-to-dir|copy|export|commit)/;

// ---- Swarm: services and tasks ------------------------------------------

export const swarmError = what => e => (e.status === 503
  ? callout('info', e.message, `No ${what}: this endpoint answered that it cannot list them`)
  : errorBox(e.message, `Could not list the ${what}`));

export const serviceName = s => s.Spec?.Name ?? shortId(s.ID);
