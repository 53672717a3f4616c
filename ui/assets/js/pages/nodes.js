// #/e/ID/nodes : a cluster's nodes, with their CPU, memory and disk in use beside their
// capacity (from the console's usage history), and each node's agent ID: one ID shown by
// nodes with different engines (a cloned machine) is flagged on the rows and in a banner.

import { get, ep, enc } from '../api.js';
import { h, timeCell, bytes, badge, dash, callout } from '../ui.js';
import { listSection } from '../cluster.js';
import { pct, loadFmt, usageBar } from '../usage.js';

/** The cluster's nodes, each with its newest usage as `Usage` (none if it has not reported). */
async function nodesWithUsage(id, signal) {
  const [list, usage] = await Promise.all([
    get(ep(id, '/nodes'), { signal }),
    // Without history the list still shows.
    get(ep(id, '/usage/nodes'), { signal }).catch(() => null),
  ]);
  const byNode = new Map((usage?.items ?? []).map(u => [u.node, u]));
  for (const n of list.items ?? []) n.Usage = byNode.get(n.NodeName) ?? null;
  return list;
}

/** The fullest filesystem: the one that runs out first. */
const fullest = u => (u?.filesystems ?? []).reduce((a, f) => ((f.percent ?? -1) > (a?.percent ?? -1) ? f : a), null);

const none = () => h('span', { class: 'muted' }, '—');

const MEMBER_KIND = { alive: 'ok', suspect: 'warn', down: 'bad' };

/** The banner naming every agent ID that several engines show, and their nodes. */
function conflictsBanner(r) {
  const list = r?.conflicts ?? [];
  if (!list.length) return null;
  const lines = list.map(c => `Agent ID ${c.AgentID} is shown by ${c.Nodes.length} nodes with different engines: ${c.Nodes.join(', ')}.`);
  lines.push('A cloned machine keeps its agent ID: remove <data dir>/agent-id on the clone and restart its agent, or give each agent its own --agent-id.');
  const el = callout('error', lines.join('\n'), 'Duplicate agent IDs');
  el.id = 'agent-id-conflicts';
  return el;
}

/** The other nodes showing `n`'s agent ID. */
const twins = (n, conflicts) => (conflicts.find(c => c.AgentID === n.AgentID)?.Nodes ?? []).filter(x => x !== n.NodeName);

export function nodes(main, params, ctx) {
  let conflicts = [];
  return listSection(main, params, ctx, {
    section: 'nodes', title: 'Nodes', noun: 'nodes', path: '/nodes', nodeFilter: false,
    load: async (id, signal) => {
      const list = await nodesWithUsage(id, signal);
      conflicts = list.conflicts ?? [];
      return list;
    },
    banner: conflictsBanner,
    search: n => `${n.NodeName} ${n.Role} ${n.AgentID ?? ''} ${n.Info?.OperatingSystem ?? ''}`, searchPlaceholder: 'Search nodes',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-node-name': n.NodeName, 'data-state': n.State, 'data-duplicate-id': n.DuplicateID ? 'true' : null }),
    columns: () => [
      {
        label: 'Name', sort: n => n.NodeName,
        cell: n => [h('a', { class: 'strong', href: `#/e/${params.id}/nodes/${enc(n.NodeName)}`, title: 'Usage charts' }, n.NodeName),
          n.Self ? h('span', { class: 'tag', title: 'The agent the console talks to' }, 'endpoint') : null],
      },
      { label: 'Role', sort: n => `${n.Role}${n.Leader ? 0 : 1}`, cell: n => [n.Role ?? '—', n.Leader ? [' ', badge('leader', 'info')] : null] },
      {
        label: 'State', sort: n => n.State,
        cell: n => [badge(n.State ?? 'unknown', MEMBER_KIND[n.State] ?? 'grey'), n.EngineReachable === false ? badge('engine down', 'bad') : null],
      },
      { label: 'Engine', sort: n => n.Info?.ServerVersion, cell: n => [dash(n.Info?.ServerVersion), n.EngineApiVersion ? h('span', { class: 'muted small' }, ` API ${n.EngineApiVersion}`) : null] },
      { label: 'Agent', sort: n => n.AgentVersion, cell: n => dash(n.AgentVersion) },
      {
        label: 'Agent ID', sort: n => n.AgentID,
        cell: n => [h('code', { class: 'small', title: n.AgentID ?? null }, n.AgentID ? n.AgentID.slice(0, 13) : '—'),
          n.DuplicateID ? [' ', badge('duplicate ID', 'bad', `Also shown by ${twins(n, conflicts).join(', ') || 'another node'}, with a different engine`)] : null],
      },
      { label: 'CPUs', cls: 'num', sort: n => n.Info?.NCPU, cell: n => dash(n.Info?.NCPU) },
      {
        label: 'CPU', sort: n => n.Usage?.cpu,
        cell: n => (n.Usage ? usageBar(n.Usage.cpu, pct(n.Usage.cpu), `load ${n.Usage.load.map(loadFmt).join(' ')}`) : none()),
      },
      {
        label: 'Memory', sort: n => n.Usage?.memory?.percent ?? -1,
        cell: n => (n.Usage ? usageBar(n.Usage.memory.percent, `${bytes(n.Usage.memory.used)} / ${bytes(n.Usage.memory.total)}`)
          : n.Info ? bytes(n.Info.MemTotal) : '—'),
      },
      {
        label: 'Disk used', sort: n => fullest(n.Usage)?.percent,
        cell: n => {
          const f = fullest(n.Usage);
          return f ? usageBar(f.percent, `${bytes(f.used)} / ${bytes(f.total)}`, `${f.mount} is the fullest`) : none();
        },
      },
      { label: 'OS', sort: n => n.Info?.OperatingSystem, cell: n => h('span', { title: n.Info?.KernelVersion ? `Kernel ${n.Info.KernelVersion}` : null }, dash(n.Info?.OperatingSystem)) },
      { label: 'Containers', cls: 'num', sort: n => n.Info?.ContainersRunning, cell: n => (n.Info ? `${n.Info.ContainersRunning ?? 0} / ${n.Info.Containers ?? 0}` : '—') },
      { label: 'Seen', sort: n => n.LastSeenSecondsAgo, cell: n => (n.Self || n.LastSeenSecondsAgo == null ? 'now' : timeCell(Date.now() - n.LastSeenSecondsAgo * 1000)) },
    ],
  });
}
