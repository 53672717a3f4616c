// #/e/ID/networks : the networks of a cluster's nodes.

import { h, shortId, dash } from '../ui.js';
import { nodeOf, listSection } from '../cluster.js';

export function networks(main, params, ctx) {
  const subnets = n => (n.IPAM?.Config ?? []).map(c => c.Subnet).filter(Boolean).join(', ');
  return listSection(main, params, ctx, {
    section: 'networks', title: 'Networks', noun: 'networks',
    path: '/networks', search: n => `${n.Name} ${n.Id} ${n.Driver}`, searchPlaceholder: 'Search name, ID or driver',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-network-name': n.Name }),
    columns: () => [
      { label: 'Name', sort: n => n.Name, cell: n => h('span', { class: 'strong' }, n.Name) },
      { label: 'ID', cls: 'mono', sort: n => n.Id, cell: n => h('span', { title: n.Id }, shortId(n.Id)) },
      { label: 'Driver', sort: n => n.Driver, cell: n => dash(n.Driver) },
      { label: 'Scope', sort: n => n.Scope, cell: n => dash(n.Scope) },
      { label: 'Subnet', cls: 'mono', sort: subnets, cell: n => dash(subnets(n)) },
      { label: 'Node', sort: nodeOf, cell: n => dash(nodeOf(n)) },
    ],
  });
}
