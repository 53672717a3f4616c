// #/e/ID/networks : the networks of a cluster's nodes, what uses each, and removing and
// pruning them.

import { get, ep, listOf } from '../api.js';
import { h, shortId, dash } from '../ui.js';
import { nodeOf, listSection, usedByIndex, usedByCell, removeObject, pruneButton } from '../cluster.js';

// The engine's own networks: never removable.
const BUILT_IN = new Set(['bridge', 'host', 'none']);

export function networks(main, params, ctx) {
  let used = new Map();
  let nodes = [];
  const subnets = n => (n.IPAM?.Config ?? []).map(c => c.Subnet).filter(Boolean).join(', ');
  const usersOf = n => used.get(`${nodeOf(n)}\u0000${n.Name}`) ?? [];
  return listSection(main, params, ctx, {
    section: 'networks', title: 'Networks', noun: 'networks',
    search: n => `${n.Name} ${n.Id} ${n.Driver}`, searchPlaceholder: 'Search name, ID or driver',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-network-name': n.Name, 'data-used': usersOf(n).length ? 'yes' : 'no' }),
    load: async (id, signal) => {
      const [r, cs, ns] = await Promise.all([
        get(ep(id, '/networks'), { signal }),
        get(ep(id, '/containers'), { signal }).catch(() => null),
        get(ep(id, '/nodes'), { signal }).catch(() => null),
      ]);
      used = usedByIndex(listOf(cs), c => Object.keys(c.NetworkSettings?.Networks ?? {}));
      nodes = listOf(ns).map(n => n.NodeName).filter(Boolean).sort();
      return r;
    },
    actions: ({ id, ctx: c, reload }) => (c.can('operator') ? [pruneButton(id, 'networks', () => nodes, reload)] : []),
    columns: ({ id, ctx: c, reload }) => [
      { label: 'Name', sort: n => n.Name, cell: n => h('span', { class: 'strong' }, n.Name) },
      { label: 'ID', cls: 'mono', sort: n => n.Id, cell: n => h('span', { title: n.Id }, shortId(n.Id)) },
      { label: 'Driver', sort: n => n.Driver, cell: n => dash(n.Driver) },
      { label: 'Scope', sort: n => n.Scope, cell: n => dash(n.Scope) },
      { label: 'Subnet', cls: 'mono', sort: subnets, cell: n => dash(subnets(n)) },
      { label: 'Node', sort: nodeOf, cell: n => dash(nodeOf(n)) },
      { label: 'In use by', cls: 'wrap', sort: n => usersOf(n).length, cell: n => usedByCell(id, usersOf(n)) },
      ...(c.can('operator') ? [{
        label: '', cls: 'actions',
        cell: n => (BUILT_IN.has(n.Name) ? null : h('button', {
          type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove',
          onclick: async () => { if (await removeObject(id, { kind: 'networks', ref: n.Id, label: n.Name, node: nodeOf(n), usedBy: usersOf(n) })) reload(); },
        }, 'Remove')),
      }] : []),
    ],
  });
}
