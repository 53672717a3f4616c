// #/e/ID/images : the images of a cluster's nodes.

import { h, unixDate, timeCell, bytes, shortId, dash } from '../ui.js';
import { nodeOf, listSection } from '../cluster.js';

export function images(main, params, ctx) {
  const tags = i => (i.RepoTags ?? []).filter(t => t !== '<none>:<none>');
  return listSection(main, params, ctx, {
    section: 'images', title: 'Images', noun: 'images',
    path: '/images', search: i => `${tags(i).join(' ')} ${i.Id}`, searchPlaceholder: 'Search tag or ID',
    sort: { col: 0, dir: 1 },
    rowAttrs: i => ({ 'data-image-id': i.Id }),
    columns: () => [
      {
        label: 'Tags', sort: i => tags(i)[0] ?? '\uffff',
        cell: i => (tags(i).length ? h('div', { class: 'tags' }, tags(i).map(t => h('span', null, t))) : h('span', { class: 'muted' }, '<none>')),
      },
      { label: 'ID', cls: 'mono', sort: i => i.Id, cell: i => h('span', { title: i.Id }, shortId(i.Id)) },
      { label: 'Size', cls: 'num', sort: i => i.Size, cell: i => bytes(i.Size) },
      { label: 'Created', sort: i => -i.Created, cell: i => timeCell(unixDate(i.Created)) },
      { label: 'Node', sort: nodeOf, cell: i => dash(nodeOf(i)) },
    ],
  });
}
