// #/e/ID/volumes : the volumes of a cluster's nodes.

import { h, toDate, timeCell, dash } from '../ui.js';
import { nodeOf, listSection } from '../cluster.js';

export function volumes(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'volumes', title: 'Volumes', noun: 'volumes',
    path: '/volumes', search: v => v.Name ?? '', searchPlaceholder: 'Search name',
    sort: { col: 0, dir: 1 },
    rowAttrs: v => ({ 'data-volume-name': v.Name }),
    columns: () => [
      { label: 'Name', cls: 'mono clip name', sort: v => v.Name, cell: v => h('span', { title: v.Name }, v.Name) },
      { label: 'Driver', sort: v => v.Driver, cell: v => dash(v.Driver) },
      { label: 'Node', sort: nodeOf, cell: v => dash(nodeOf(v)) },
      { label: 'Mountpoint', cls: 'mono clip path', sort: v => v.Mountpoint, cell: v => h('span', { title: v.Mountpoint }, dash(v.Mountpoint)) },
      { label: 'Created', sort: v => -(toDate(v.CreatedAt)?.getTime() ?? 0), cell: v => timeCell(v.CreatedAt) },
    ],
  });
}
