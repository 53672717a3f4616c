// #/e/ID/nodes/NAME : one node's usage: its figures now, and charts of CPU, load,
// memory, filesystems, network and disk I/O over a chosen range.

import { get, ep, enc, aborted } from '../api.js';
import { h, bytes, errorBox, callout, loading } from '../ui.js';
import { endpointShell } from '../cluster.js';
import {
  chosen, rangePicker, timeChart, valuesOf, peakLine, pct, rate, loadFmt, share, usageBar, stepText,
} from '../usage.js';

/** The charts of a node's answer, each as timeChart's spec. */
function specs(u) {
  const p = u.host;
  const base = { times: p.times, from: u.from, to: u.to };
  // Each filesystem has its own times: one mounted later starts later.
  const filesystems = (u.filesystems ?? []).map(f => {
    const total = valuesOf(f.points, 'total');
    return { label: f.mount, times: f.points.times, values: valuesOf(f.points, 'used').map((v, i) => share(v, total[i])) };
  });
  return [
    {
      ...base, key: 'cpu', title: 'CPU', max: 100, format: pct,
      lines: [{ label: 'CPU', values: valuesOf(p, 'cpu'), fill: true }, ...peakLine(p, 'cpu', 'CPU peak')],
    },
    {
      ...base, key: 'memory', title: 'Memory', format: bytes, binary: true,
      lines: [
        { label: 'Used', values: valuesOf(p, 'mem_used'), fill: true },
        ...peakLine(p, 'mem_used', 'Used peak'),
        { label: 'Total', values: valuesOf(p, 'mem_total'), color: '#8e98a3', dashed: true },
        { label: 'Swap used', values: valuesOf(p, 'swap_used'), color: '#b45309' },
      ],
    },
    { ...base, key: 'disk', title: 'Filesystems (used)', max: 100, format: pct, lines: filesystems },
    {
      ...base, key: 'network', title: 'Network', format: rate, binary: true,
      lines: [
        { label: 'Received', values: valuesOf(p, 'net_rx') },
        { label: 'Sent', values: valuesOf(p, 'net_tx') },
        ...peakLine(p, 'net_rx', 'Received peak', '#0d7c86'),
        ...peakLine(p, 'net_tx', 'Sent peak', '#1d4fb8'),
      ],
    },
    {
      ...base, key: 'diskio', title: 'Disk I/O', format: rate, binary: true,
      lines: [
        { label: 'Read', values: valuesOf(p, 'disk_read') },
        { label: 'Written', values: valuesOf(p, 'disk_write') },
      ],
    },
    {
      ...base, key: 'load', title: 'Load', format: loadFmt, max: u.cores ?? undefined,
      lines: [
        { label: '1 min', values: valuesOf(p, 'load1') },
        { label: '5 min', values: valuesOf(p, 'load5') },
        { label: '15 min', values: valuesOf(p, 'load15') },
      ],
    },
  ];
}

function nowFigures(n) {
  if (!n) return callout('info', 'The node has not reported lately: the charts end where its samples did.');
  const mem = n.memory ?? {};
  const stat = (title, bar, sub) => h('div', { class: 'stat-card' }, h('div', { class: 'stat-title' }, title), bar, h('div', { class: 'stat-sub' }, sub));
  return h('div', { class: 'stat-grid' },
    stat('CPU', usageBar(n.cpu, pct(n.cpu)), n.cores ? `${n.cores} cores · load ${loadFmt(n.load?.[0])}` : `load ${loadFmt(n.load?.[0])}`),
    stat('Memory', usageBar(mem.percent, `${bytes(mem.used)} of ${bytes(mem.total)}`), mem.swap_total ? `swap ${bytes(mem.swap_used)} of ${bytes(mem.swap_total)}` : 'no swap'),
    ...(n.filesystems ?? []).map(f => stat(`Disk ${f.mount}`, usageBar(f.percent, `${bytes(f.used)} of ${bytes(f.total)}`), `${f.device ?? ''} ${f.fstype ?? ''}`)),
    stat('Network', h('div', { class: 'stat-value' }, `↓ ${rate(n.network?.rx)}`), `↑ ${rate(n.network?.tx)}`));
}

export async function node(main, { id, node: name }, ctx) {
  const content = endpointShell(main, id, 'nodes', ctx, name);
  ctx.title(`${name} · Node`);
  const back = h('a', { href: `#/e/${id}/nodes`, class: 'back' }, '← All nodes');
  const status = h('span', { class: 'muted small' });
  const now = h('div');
  const grid = h('div', { class: 'chart-grid' }, loading('Reading the history…'));
  const note = h('div');
  content.append(back,
    h('div', { class: 'page-head' }, h('h1', null, name), h('div', { class: 'page-actions' }, status, rangePicker(() => load()))),
    note, now, grid);

  let charts = null;
  ctx.onLeave(() => charts?.forEach(c => c.destroy()));

  async function load() {
    const range = chosen.range;
    try {
      const u = await get(ep(id, `/usage/nodes/${enc(name)}?range=${enc(range)}`), { signal: ctx.signal });
      if (range !== chosen.range) return; // another range was picked meanwhile
      note.replaceChildren();
      now.replaceChildren(nowFigures(u.now));
      const all = specs(u);
      if (!charts) {
        charts = all.map(timeChart);
        grid.replaceChildren(...charts.map(c => c.el));
      } else {
        all.forEach((s, i) => charts[i].update(s));
      }
      status.textContent = `${stepText(u.bucket)} · updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (aborted(ctx, e)) return;
      if (!charts) grid.replaceChildren();
      note.replaceChildren(errorBox(e.message, 'Could not read the node’s usage'));
    }
  }

  await load();
  ctx.done('node');
  // Short ranges move while one looks at them; long ones hardly do.
  ctx.every(15000, () => { if (chosen.range === '1h' || chosen.range === '24h') load(); });
}
