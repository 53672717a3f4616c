// #/e/ID/logs?project=P (or service=, label=, containers=a,b): the logs of several
// containers across the cluster's nodes as one, in timestamp order, each line tagged with
// its container and node; followed live, searched, saved.

import { get, ep, query, listOf, aborted } from '../api.js';
import { h, debounce, plural, errorBox } from '../ui.js';
import { endpointShell } from '../cluster.js';
import { lineMatcher, highlighted, downloadText, MergedCursor, shownBefore } from '../log-view.js';

const KINDS = [
  ['project', 'Compose project'], ['service', 'Swarm service'], ['label', 'Label'], ['containers', 'Containers'],
];
const MAX_LINES = 10000;
/** Tag colours, by the order containers first appear. */
const TAG_KINDS = ['info', 'ok', 'warn', 'accent', 'bad', 'grey'];

export async function logs(main, { id, query: params }, ctx) {
  const content = endpointShell(main, id, 'logs', ctx, 'Logs');
  const given = KINDS.find(([k]) => params.get(k)) ?? KINDS[0];
  const kind = h('select', { id: 'merged-kind', 'aria-label': 'Select by' },
    KINDS.map(([k, label]) => h('option', { value: k, selected: k === given[0] }, label)));
  const value = h('input', { id: 'merged-value', class: 'mono', list: 'merged-suggestions', value: params.get(given[0]) ?? '', placeholder: 'name', autocomplete: 'off', 'aria-label': 'Which' });
  const suggestions = h('datalist', { id: 'merged-suggestions' });
  const tail = h('select', { id: 'merged-tail', 'aria-label': 'Lines' },
    ['50', '100', '500', 'all'].map(v => h('option', { value: v, selected: v === (params.get('tail') ?? '100') }, v === 'all' ? 'All lines' : `Last ${v} each`)));
  const followBox = h('input', { type: 'checkbox', id: 'merged-follow', checked: params.get('follow') !== '0' });
  const tsBox = h('input', { type: 'checkbox', id: 'merged-timestamps' });
  const show = h('button', { id: 'merged-show', class: 'btn primary', type: 'submit' }, 'Show');
  const search = h('input', { type: 'search', id: 'merged-search', class: 'search', placeholder: 'Search the lines shown', 'aria-label': 'Search', autocomplete: 'off' });
  const regexBox = h('input', { type: 'checkbox', id: 'merged-regex' });
  const matches = h('span', { id: 'merged-matches', class: 'muted small' });
  const status = h('span', { id: 'merged-status', class: 'muted small' });
  const legend = h('div', { id: 'merged-legend', class: 'log-legend' });
  const downloadShown = h('button', { class: 'btn', type: 'button', id: 'merged-download' }, 'Download shown');
  const note = h('div');
  const out = h('div', { id: 'merged-output', class: 'log-view wrapped', role: 'log' });
  const form = h('form', { class: 'toolbar', onsubmit: e => { e.preventDefault(); start(); } },
    kind, value, suggestions, tail, h('label', { class: 'check' }, followBox, 'Follow'), show, h('span', { class: 'grow' }), status);
  content.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Logs'), h('span', { class: 'muted' }, 'Several containers’ logs as one, across nodes, in time order')),
    form,
    h('div', { class: 'toolbar log-tools' }, search, h('label', { class: 'check' }, regexBox, 'Regex'), matches,
      h('label', { class: 'check' }, tsBox, 'Timestamps'), h('span', { class: 'grow' }), downloadShown),
    legend, note, out);

  let lines = [];
  let pending = [];
  let frame = 0;
  let source = null;
  let hits = 0;
  let match = lineMatcher('', false);
  const tags = new Map();

  const tagOf = (container, node) => {
    const key = `${container}@${node}`;
    if (!tags.has(key)) {
      const kindName = TAG_KINDS[tags.size % TAG_KINDS.length];
      tags.set(key, kindName);
      legend.append(h('span', { class: `log-tag tag-${kindName}` }, container, h('span', { class: 'muted' }, ` on ${node}`)));
    }
    return tags.get(key);
  };
  const paint = line => {
    const { nodes, count } = highlighted(line.text, match);
    line.hits = count;
    line.el.replaceChildren(
      ...(tsBox.checked ? [h('span', { class: 'log-ts' }, line.t), ' '] : []),
      h('span', { class: `log-tag tag-${tagOf(line.container, line.node)}`, title: `on ${line.node}` }, line.container), ' ',
      ...nodes);
  };
  const showMatches = () => {
    matches.textContent = match.active ? plural(hits, 'match', 'matches') : '';
    matches.dataset.count = String(hits);
    search.classList.toggle('invalid', !!match.error);
  };
  const repaint = () => { hits = 0; for (const l of lines) { paint(l); hits += l.hits; } showMatches(); };
  const flush = () => {
    frame = 0;
    if (!pending.length) return;
    const fresh = pending;
    pending = [];
    // Stay at the bottom only when the reader was there: scrolling up stops the follow.
    const stick = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
    for (const l of fresh) {
      l.el = h('div', { class: `log-line${l.stream === 'stderr' ? ' stderr' : ''}`, 'data-container': l.container, 'data-node': l.node, 'data-t': l.t });
      paint(l);
      hits += l.hits;
    }
    out.append(...fresh.map(l => l.el));
    lines.push(...fresh);
    while (lines.length > MAX_LINES) { const old = lines.shift(); hits -= old.hits; old.el.remove(); }
    showMatches();
    status.textContent = `${plural(lines.length, 'line')} from ${plural(tags.size, 'container')}${source ? ' · following' : ''}`;
    if (stick) out.scrollTop = out.scrollHeight;
  };
  let retry = 0;
  const stop = () => {
    clearTimeout(retry);
    source?.close(); source = null; cancelAnimationFrame(frame); frame = 0; flush();
  };

  let cursor = new MergedCursor();

  function start() {
    stop();
    note.replaceChildren();
    out.replaceChildren();
    legend.replaceChildren();
    tags.clear();
    lines = [];
    hits = 0;
    cursor = new MergedCursor();
    const chosen = value.value.trim();
    if (!chosen) { status.textContent = 'Choose what to show.'; return; }
    history.replaceState(null, '', `#/e/${id}/logs${query({ [kind.value]: chosen, tail: tail.value, follow: followBox.checked ? '' : 0 })}`);
    status.textContent = 'Loading…';
    connect({ [kind.value]: chosen, tail: tail.value, follow: followBox.checked ? 1 : '' }, null);
  }

  /** Opens the merged stream; `resumed` (on a resume) is what was shown up to where it asks from. */
  function connect(q, resumed) {
    const url = `${ep(id, '/logs')}${query(q)}`;
    let opened = false;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => { opened = true; };
    es.onmessage = m => {
      let l;
      try { l = JSON.parse(m.data); } catch { return; }
      if (resumed && shownBefore(resumed, l)) return;
      cursor.record(l);
      pending.push({ t: l.t, container: l.container, node: l.node, stream: l.stream, text: l.line, hits: 0 });
      if (!frame) frame = requestAnimationFrame(flush);
    };
    es.addEventListener('notice', m => {
      let n = {};
      try { n = JSON.parse(m.data); } catch { /* shown as is */ }
      note.append(errorBox(n.message ?? m.data, `No log from ${n.container ?? 'a container'}${n.node ? ` on ${n.node}` : ''}`));
    });
    es.addEventListener('end', () => { es.close(); if (source === es) source = null; flush(); status.textContent = `${plural(lines.length, 'line')} from ${plural(tags.size, 'container')}`; });
    es.onerror = () => {
      es.close();
      if (source !== es) return;
      source = null;
      flush();
      const from = cursor.resume();
      if (opened && q.follow && from) {
        // Dropped mid-follow: ask again from the newest line shown.
        status.textContent = 'Reconnecting…';
        retry = setTimeout(() => connect({ ...q, since: from.since, tail: 'all' }, from), 1000);
        return;
      }
      if (opened) { status.textContent = 'The stream ended.'; return; }
      status.textContent = '';
      // The stream gives no reason: ask once for the answer's message.
      get(`${ep(id, '/logs')}${query({ ...q, follow: '' })}`, { signal: ctx.signal, text: true })
        .catch(e => { if (!aborted(ctx, e)) note.replaceChildren(errorBox(e.message, 'Could not read the logs')); });
    };
  }

  const searchNow = debounce(() => { match = lineMatcher(search.value, regexBox.checked); repaint(); }, 150);
  search.addEventListener('input', searchNow);
  regexBox.addEventListener('change', () => { match = lineMatcher(search.value, regexBox.checked); repaint(); });
  tsBox.addEventListener('change', repaint);
  kind.addEventListener('change', () => { value.value = ''; suggest(); });
  downloadShown.addEventListener('click', () => {
    const text = lines.map(l => `${tsBox.checked ? `${l.t} ` : ''}${l.container}@${l.node} ${l.text}`).join('\n');
    downloadText('merged.log', text ? `${text}\n` : '');
  });
  ctx.onLeave(() => { searchNow.cancel(); stop(); });

  // Suggestions from the cluster's containers: their projects, services and names.
  let containers = [];
  function suggest() {
    const pick = {
      project: c => c.Labels?.['com.docker.compose.project'],
      service: c => c.Labels?.['com.docker.swarm.service.name'],
      label: () => null,
      containers: c => (c.Names?.[0] ?? '').replace(/^\//, ''),
    }[kind.value];
    const names = [...new Set(containers.map(pick).filter(Boolean))].sort();
    suggestions.replaceChildren(...names.map(n => h('option', { value: n })));
  }
  get(ep(id, '/containers'), { signal: ctx.signal }).then(r => { containers = listOf(r); suggest(); }).catch(() => {});

  ctx.done('logs');
  if (value.value) start();
}
