// #/e/ID/events : a cluster's events: the last hour's first, then live, with a type
// filter and a pause; each actor links to its object.

import { enc } from '../api.js';
import {
  h, unixDate, fmtTime, shortId, plural, badge, dash, liveIndicator, selectOptions,
} from '../ui.js';
import { nodeOf, liveEvents, endpointShell } from '../cluster.js';

// How far back the page starts.
const HISTORY_SECONDS = 3600;

/** An event's time in nanoseconds, from timeNano or time. */
const nanosOf = ev => (ev.timeNano != null ? Number(ev.timeNano) : Number(ev.time ?? 0) * 1e9);

/** What tells one event from another: the same event seen twice has the same key. */
const eventKey = ev => [ev.timeNano ?? ev.time, nodeOf(ev), ev.Type ?? ev.type, ev.Action ?? ev.status, ev.Actor?.ID ?? ev.id].join('\u0000');

/** Where an event's actor is shown: its page, or its list filtered to it. */
function actorHref(id, ev, label) {
  const actorId = ev.Actor?.ID ?? ev.id ?? '';
  const list = section => `#/e/${id}/${section}?q=${enc(label || actorId)}`;
  switch (ev.Type ?? ev.type) {
    case 'container': return ev.Action === 'destroy' ? null : `#/e/${id}/containers/${enc(actorId)}`;
    case 'image': return list('images');
    case 'network': return list('networks');
    case 'volume': return list('volumes');
    case 'service': return list('services');
    case 'node': return label ? `#/e/${id}/nodes/${enc(label)}` : null;
    default: return null;
  }
}

const EVENT_KIND = { container: 'info', image: 'grey', network: 'outline', volume: 'outline', service: 'ok-ghost', node: 'warn' };

export async function events(main, { id }, ctx) {
  const content = endpointShell(main, id, 'events', ctx, 'Events');
  const MAX = 500;
  const seen = new Set();
  let newest = 0; // nanoseconds of the newest event received
  let all = [];
  let buffered = [];
  let paused = false;
  let type = '';

  const live = liveIndicator();
  const count = h('span', { class: 'count' });
  const typeSel = h('select', { id: 'events-type', 'aria-label': 'Type', onchange: () => { type = typeSel.value; render(); } });
  selectOptions(typeSel, ['container', 'image', 'network', 'volume', 'service', 'node', 'config', 'secret', 'daemon', 'plugin'], 'All types');
  const pause = h('button', { id: 'events-pause', class: 'btn', type: 'button' }, 'Pause');
  const clear = h('button', { class: 'btn', type: 'button', onclick: () => { all = []; buffered = []; render(); syncPause(); } }, 'Clear');
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'grid events' },
    h('thead', null, h('tr', null, ['Time', 'Node', 'Type', 'Action', 'Actor'].map(t => h('th', { scope: 'col' }, t)))), tbody));
  content.append(h('div', { class: 'toolbar' }, typeSel, h('span', { class: 'grow' }), count, live.el, pause, clear), table);

  const syncPause = () => {
    pause.textContent = paused ? `Resume${buffered.length ? ` (${buffered.length} new)` : ''}` : 'Pause';
    pause.classList.toggle('primary', paused);
  };
  pause.addEventListener('click', () => {
    paused = !paused;
    if (!paused && buffered.length) { all = [...buffered.reverse(), ...all].slice(0, MAX); buffered = []; render(); }
    syncPause();
  });

  function row(ev) {
    const t = ev.timeNano ? new Date(ev.timeNano / 1e6) : unixDate(ev.time);
    const attrs = ev.Actor?.Attributes ?? {};
    const actorId = ev.Actor?.ID ?? ev.id ?? '';
    const actor = attrs.name ?? (/^[0-9a-f]{64}$/.test(actorId) ? '' : actorId);
    const evType = ev.Type ?? ev.type ?? '';
    const href = actorHref(id, ev, actor);
    return h('tr', { 'data-event-type': evType, 'data-event-action': ev.Action ?? '', class: nanosOf(ev) < openedAt ? 'past' : null },
      h('td', { class: 'mono nowrap', title: t ? fmtTime(t) : null }, t ? t.toLocaleTimeString() : '—'),
      h('td', null, dash(nodeOf(ev))),
      h('td', null, badge(evType || '?', EVENT_KIND[evType] ?? 'grey')),
      h('td', { class: 'clip action' }, h('span', { title: ev.Action }, ev.Action ?? ev.status ?? '')),
      h('td', null, actor ? (href ? h('a', { href, class: 'strong actor' }, actor) : h('span', { class: 'strong' }, actor)) : null,
        /^[0-9a-f]{64}$/.test(actorId) ? h('span', { class: 'mono muted small' }, ` ${shortId(actorId)}`) : null));
  }
  const visible = ev => !type || (ev.Type ?? ev.type) === type;
  const emptyRow = () => h('tr', { class: 'empty' }, h('td', { colSpan: 5 }, paused ? 'Paused.' : 'No events in the last hour. Waiting for new ones…'));
  const setCount = () => { count.textContent = plural(all.length, 'event'); };

  function render() {
    const shown = all.filter(visible);
    tbody.replaceChildren(...(shown.length ? shown.map(row) : [emptyRow()]));
    setCount();
  }
  function add(ev) {
    all.unshift(ev);
    if (all.length > MAX) all.length = MAX;
    if (visible(ev)) {
      if (tbody.querySelector('tr.empty')) tbody.replaceChildren();
      tbody.prepend(row(ev));
      while (tbody.children.length > MAX) tbody.lastChild.remove();
    }
    setCount();
  }

  const openedAt = Date.now() * 1e6;
  render();
  // The first stream starts an hour back; a reopened one where the last event was, and
  // what both streams carry is shown once.
  const since = () => (newest ? (newest / 1e9).toFixed(9) : String(Math.floor(Date.now() / 1000) - HISTORY_SECONDS));
  liveEvents(id, ctx, ev => {
    const key = eventKey(ev);
    if (seen.has(key)) return;
    seen.add(key);
    if (seen.size > 4 * MAX) seen.delete(seen.values().next().value);
    newest = Math.max(newest, nanosOf(ev));
    if (paused) { buffered.push(ev); if (buffered.length > MAX) buffered.shift(); syncPause(); } else add(ev);
  }, s => live.set(s), since);
  ctx.done('events');
}
