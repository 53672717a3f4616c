// #/e/ID/top : the containers using the most CPU and memory across the cluster now,
// from the nodes' newest usage samples.

import { get, ep, enc, aborted } from '../api.js';
import { h, bytes, errorBox, loading, dataTable, plural } from '../ui.js';
import { endpointShell } from '../cluster.js';
import { pct, rate, share, usageBar } from '../usage.js';

function columns(id) {
  const link = c => h('a', { href: `#/e/${id}/containers/${enc(c.id)}/stats`, class: 'strong' }, c.name || c.id.slice(0, 12));
  return [
    { label: 'Container', cell: c => [link(c), c.service ?? c.project ? h('div', { class: 'muted small' }, c.service ?? c.project) : null] },
    { label: 'Node', cell: c => h('a', { href: `#/e/${id}/nodes/${enc(c.node)}` }, c.node) },
    { label: 'CPU', cls: 'num', title: '100 % is one core', cell: c => pct(c.cpu) },
    {
      label: 'Memory',
      cell: c => usageBar(share(c.memory?.used, c.memory?.limit), `${bytes(c.memory?.used)}${c.memory?.limit ? ` / ${bytes(c.memory.limit)}` : ''}`),
    },
    { label: 'Network', cls: 'num', cell: c => `↓ ${rate(c.network?.rx)} ↑ ${rate(c.network?.tx)}` },
    { label: 'Block I/O', cls: 'num', cell: c => `R ${rate(c.block_io?.read)} W ${rate(c.block_io?.write)}` },
  ];
}

export async function top(main, { id }, ctx) {
  const content = endpointShell(main, id, 'top', ctx, 'Top');
  const limit = h('select', { id: 'top-limit', 'aria-label': 'How many', value: '10', onchange: () => load() },
    ['5', '10', '25', '50'].map(n => h('option', { value: n }, `Top ${n}`)));
  const stamp = h('span', { class: 'muted small' });
  const body = h('div', null, loading());
  const rowAttrs = c => ({ 'data-container-id': c.id });
  const byCpu = dataTable({ columns: columns(id), rowAttrs, empty: 'No container has reported lately.' });
  const byMem = dataTable({ columns: columns(id), rowAttrs, empty: 'No container has reported lately.' });
  content.append(h('div', { class: 'toolbar' }, limit, h('span', { class: 'grow' }), stamp), body);

  async function load() {
    try {
      const r = await get(ep(id, `/usage/top?limit=${enc(limit.value)}`), { signal: ctx.signal });
      byCpu.set(r.cpu ?? []);
      byMem.set(r.memory ?? []);
      if (!body.querySelector('#top-cpu')) {
        body.replaceChildren(
          h('section', { id: 'top-cpu', class: 'top-section' }, h('h2', null, 'Most CPU'), byCpu.el),
          h('section', { id: 'top-memory', class: 'top-section' }, h('h2', null, 'Most memory'), byMem.el));
      }
      stamp.textContent = r.time
        ? `${plural(r.containers ?? 0, 'container')} sampled ${new Date(r.time * 1000).toLocaleTimeString()}`
        : 'No samples yet';
    } catch (e) {
      if (aborted(ctx, e)) return;
      body.replaceChildren(errorBox(e.message, 'Could not read the cluster’s usage'));
    }
  }
  await load();
  ctx.done('top');
  ctx.every(10000, load);
}
