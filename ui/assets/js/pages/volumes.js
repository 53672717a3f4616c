// #/e/ID/volumes : the volumes of a cluster's nodes, what uses each, and removing and
// pruning them.

import { get, ep, listOf } from '../api.js';
import { h, toDate, timeCell, dash } from '../ui.js';
import { nodeOf, listSection, usedByIndex, usedByCell, removeObject, pruneButton } from '../cluster.js';

export function volumes(main, params, ctx) {
  let used = new Map();
  let nodes = [];
  const usersOf = v => used.get(`${nodeOf(v)}\u0000${v.Name}`) ?? [];
  return listSection(main, params, ctx, {
    section: 'volumes', title: 'Volumes', noun: 'volumes',
    search: v => v.Name ?? '', searchPlaceholder: 'Search name',
    sort: { col: 0, dir: 1 },
    rowAttrs: v => ({ 'data-volume-name': v.Name, 'data-used': usersOf(v).length ? 'yes' : 'no' }),
    load: async (id, signal) => {
      const [r, cs, ns] = await Promise.all([
        get(ep(id, '/volumes'), { signal }),
        get(ep(id, '/containers'), { signal }).catch(() => null),
        get(ep(id, '/nodes'), { signal }).catch(() => null),
      ]);
      used = usedByIndex(listOf(cs), c => (c.Mounts ?? []).filter(m => m.Type === 'volume' && m.Name).map(m => m.Name));
      nodes = listOf(ns).map(n => n.NodeName).filter(Boolean).sort();
      return r;
    },
    actions: ({ id, ctx: c, reload }) => (c.can('operator') ? [pruneButton(id, 'volumes', () => nodes, reload)] : []),
    columns: ({ id, ctx: c, reload }) => [
      { label: 'Name', cls: 'mono clip name', sort: v => v.Name, cell: v => h('span', { title: v.Name }, v.Name) },
      { label: 'Driver', sort: v => v.Driver, cell: v => dash(v.Driver) },
      { label: 'Node', sort: nodeOf, cell: v => dash(nodeOf(v)) },
      { label: 'Mountpoint', cls: 'mono clip path', sort: v => v.Mountpoint, cell: v => h('span', { title: v.Mountpoint }, dash(v.Mountpoint)) },
      { label: 'Created', sort: v => -(toDate(v.CreatedAt)?.getTime() ?? 0), cell: v => timeCell(v.CreatedAt) },
      { label: 'In use by', cls: 'wrap', sort: v => usersOf(v).length, cell: v => usedByCell(id, usersOf(v)) },
      ...(c.can('operator') ? [{
        label: '', cls: 'actions',
        cell: v => h('button', {
          type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove',
          onclick: async () => { if (await removeObject(id, { kind: 'volumes', ref: v.Name, label: v.Name, node: nodeOf(v), usedBy: usersOf(v) })) reload(); },
        }, 'Remove'),
      }] : []),
    ],
  });
}
