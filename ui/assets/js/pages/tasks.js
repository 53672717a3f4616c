// #/e/ID/tasks : a cluster's Swarm tasks, with their services' and nodes' names.

import { get, ep, listOf } from '../api.js';
import { h, timeCell, shortId, badge, dash } from '../ui.js';
import { listSection, serviceName, swarmError } from '../cluster.js';

const TASK_KIND = { running: 'ok', complete: 'grey', shutdown: 'grey', failed: 'bad', rejected: 'bad', orphaned: 'warn', remove: 'warn' };

export function tasks(main, params, ctx) {
  let svcNames = new Map();
  let nodeNames = new Map();
  const svc = t => svcNames.get(t.ServiceID) ?? shortId(t.ServiceID);
  let clusterNodes = [];
  const node = t => nodeNames.get(t.NodeID) ?? shortId(t.NodeID);
  return listSection(main, params, ctx, {
    section: 'tasks', title: 'Tasks', noun: 'tasks', nodeOf: node, nodeNames: () => clusterNodes,
    search: t => `${svc(t)} ${t.Status?.Err ?? ''} ${t.Status?.State ?? ''}`, searchPlaceholder: 'Search service, state or error',
    sort: { col: 0, dir: 1 }, errorView: swarmError('tasks'),
    rowAttrs: t => ({ 'data-task-id': t.ID, 'data-state': t.Status?.State ?? '' }),
    // The nodes are read whatever the tasks' answer, so that the node filter has them.
    load: async (id, signal) => {
      const [r, s, n] = await Promise.allSettled([
        get(ep(id, '/tasks'), { signal }),
        get(ep(id, '/services'), { signal }),
        get(ep(id, '/nodes'), { signal }),
      ]);
      const nodes = listOf(n.value);
      svcNames = new Map(listOf(s.value).map(x => [x.ID, serviceName(x)]));
      nodeNames = new Map(nodes.filter(x => x.SwarmNodeID).map(x => [x.SwarmNodeID, x.NodeName]));
      clusterNodes = nodes.map(x => x.NodeName).filter(Boolean);
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    },
    columns: () => [
      { label: 'Service', sort: t => `${svc(t)}\u0000${String(t.Slot ?? 0).padStart(6, '0')}`, cell: t => h('span', { class: 'strong', title: `Task ${t.ID}` }, svc(t)) },
      { label: 'Slot', cls: 'num', sort: t => t.Slot, cell: t => dash(t.Slot) },
      { label: 'Node', sort: node, cell: t => h('span', { title: t.NodeID ? `Node ID ${t.NodeID}` : null }, dash(node(t))) },
      { label: 'Desired', sort: t => t.DesiredState, cell: t => dash(t.DesiredState) },
      { label: 'Current', sort: t => t.Status?.State, cell: t => [badge(t.Status?.State ?? 'unknown', TASK_KIND[t.Status?.State] ?? 'info'), ' ', timeCell(t.Status?.Timestamp)] },
      { label: 'Error', cls: 'wrap', cell: t => (t.Status?.Err ? h('span', { class: 'error-text' }, t.Status.Err) : '') },
    ],
  });
}
