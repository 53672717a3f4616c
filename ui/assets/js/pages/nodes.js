// #/e/ID/nodes : a cluster's nodes.

import { h, timeCell, bytes, badge, dash } from '../ui.js';
import { listSection } from '../cluster.js';

const MEMBER_KIND = { alive: 'ok', suspect: 'warn', down: 'bad' };

export function nodes(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'nodes', title: 'Nodes', noun: 'nodes', path: '/nodes', nodeFilter: false,
    search: n => `${n.NodeName} ${n.Role} ${n.Info?.OperatingSystem ?? ''}`, searchPlaceholder: 'Search nodes',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-node-name': n.NodeName, 'data-state': n.State }),
    columns: () => [
      {
        label: 'Name', sort: n => n.NodeName,
        cell: n => [h('span', { class: 'strong' }, n.NodeName), n.Self ? h('span', { class: 'tag', title: 'The agent the console talks to' }, 'endpoint') : null],
      },
      { label: 'Role', sort: n => `${n.Role}${n.Leader ? 0 : 1}`, cell: n => [n.Role ?? '—', n.Leader ? [' ', badge('leader', 'info')] : null] },
      {
        label: 'State', sort: n => n.State,
        cell: n => [badge(n.State ?? 'unknown', MEMBER_KIND[n.State] ?? 'grey'), n.EngineReachable === false ? badge('engine down', 'bad') : null],
      },
      { label: 'Engine', sort: n => n.Info?.ServerVersion, cell: n => [dash(n.Info?.ServerVersion), n.EngineApiVersion ? h('span', { class: 'muted small' }, ` API ${n.EngineApiVersion}`) : null] },
      { label: 'Agent', sort: n => n.AgentVersion, cell: n => dash(n.AgentVersion) },
      { label: 'CPUs', cls: 'num', sort: n => n.Info?.NCPU, cell: n => dash(n.Info?.NCPU) },
      { label: 'Memory', cls: 'num', sort: n => n.Info?.MemTotal, cell: n => (n.Info ? bytes(n.Info.MemTotal) : '—') },
      { label: 'OS', sort: n => n.Info?.OperatingSystem, cell: n => h('span', { title: n.Info?.KernelVersion ? `Kernel ${n.Info.KernelVersion}` : null }, dash(n.Info?.OperatingSystem)) },
      { label: 'Containers', cls: 'num', sort: n => n.Info?.ContainersRunning, cell: n => (n.Info ? `${n.Info.ContainersRunning ?? 0} / ${n.Info.Containers ?? 0}` : '—') },
      { label: 'Seen', sort: n => n.LastSeenSecondsAgo, cell: n => (n.Self || n.LastSeenSecondsAgo == null ? 'now' : timeCell(Date.now() - n.LastSeenSecondsAgo * 1000)) },
    ],
  });
}
