// #/ : every cluster, as a card with its figures and what its nodes use now (CPU, memory,
// disk, each with the node worst off).

import { get, listOf, aborted, enc, ep } from '../api.js';
import { h, plural, badge, errorBox, loading, pageHead, bytes } from '../ui.js';
import { remember } from '../cluster.js';
import { pct, usageBar } from '../usage.js';

/** A cluster's usage now: one bar per resource, naming the node worst off. */
function usageFigs(e, u) {
  if (!u) return h('p', { class: 'muted small usage-none' }, 'No usage samples lately.');
  const worst = (w, what) => (w ? h('a', { class: 'worst', href: `#/e/${e.id}/nodes/${enc(w.node)}` },
    `${what} ${w.node}${w.mount ? ` ${w.mount}` : ''} ${pct(w.percent)}`) : null);
  const row = (label, percent, text, w, what) => h('div', { class: 'usage-row', 'data-usage': label.toLowerCase() },
    h('div', { class: 'fig-label' }, label), usageBar(percent, text), worst(w, what));
  return h('div', { class: 'usage-figs' },
    row('CPU', u.cpu.percent, `${pct(u.cpu.percent)} of ${u.cpu.cores} cores`, u.nodes > 1 ? u.cpu.worst : null, 'busiest:'),
    row('Memory', u.memory.percent, `${bytes(u.memory.used)} / ${bytes(u.memory.total)}`, u.nodes > 1 ? u.memory.worst : null, 'fullest:'),
    row('Disk', u.disk.percent, `${bytes(u.disk.used)} / ${bytes(u.disk.total)}`, u.disk.worst, 'fullest:'));
}

function endpointCard(e, usage) {
  const s = e.status ?? {};
  const up = s.reachable;
  const meter = (a, b) => {
    const bar = h('span', { class: 'meter-fill' });
    bar.style.width = `${b ? Math.round((100 * a) / b) : 0}%`;
    return h('span', { class: 'meter' }, bar);
  };
  const fig = (label, a, b, word) => h('div', { class: 'fig' },
    h('div', { class: 'fig-label' }, label),
    h('div', { class: `fig-value${a < b && label === 'Nodes' ? ' warn-text' : ''}` }, `${a ?? '?'}`, h('span', { class: 'fig-of' }, ` / ${b ?? '?'} ${word}`)),
    meter(a ?? 0, b ?? 0));
  return h('article', { class: `card ep-card${up ? '' : ' down'}`, 'data-endpoint-name': e.name, 'data-endpoint-id': e.id },
    h('div', { class: 'card-head' },
      h('a', { class: 'card-title', href: `#/e/${e.id}/containers` }, e.name),
      up ? badge('reachable', 'ok') : badge('unreachable', 'bad')),
    h('div', { class: 'mono muted small clip', title: e.url }, e.url),
    up ? h('div', { class: 'figs' },
      fig('Nodes', s.nodes_up, s.nodes_total, 'up'),
      fig('Containers', s.containers_running, s.containers_total, 'running')) : null,
    usageFigs(e, usage.get(e.id)),
    h('a', { class: 'updates-count', href: `#/e/${e.id}/updates`, 'data-updates-for': e.id, hidden: true }),
    s.error ? h('p', { class: up ? 'warn-text small' : 'error-text' }, s.error) : null,
    !up && !s.error ? h('p', { class: 'error-text' }, 'The agent did not answer.') : null,
    h('div', { class: 'card-links' },
      h('a', { href: `#/e/${e.id}/containers` }, 'Containers'),
      h('a', { href: `#/e/${e.id}/nodes` }, 'Nodes'),
      h('a', { href: `#/e/${e.id}/top` }, 'Top'),
      h('a', { href: `#/e/${e.id}/services` }, 'Services'),
      h('a', { href: `#/e/${e.id}/events` }, 'Events')));
}

export async function home(main, _p, ctx) {
  ctx.title('Clusters');
  const summary = h('span', { class: 'muted' });
  // The firing alerts of every cluster, by severity, linking to the Alerts page.
  const alertCounts = h('a', { id: 'home-alerts', class: 'alert-counts', href: '#/alerts' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const body = h('div', null, loading('Asking the agents…'));
  main.append(pageHead('Clusters', summary, alertCounts, refresh), body);

  async function load() {
    refresh.disabled = true;
    try {
      const [endpoints, summary] = await Promise.all([
        get('/api/endpoints', { signal: ctx.signal }),
        // The clusters still show without their usage.
        get('/api/usage/summary', { signal: ctx.signal }).catch(() => null),
      ]);
      get('/api/alerts/summary', { signal: ctx.signal }).then(a => {
        const firing = a.critical + a.warning + a.info;
        alertCounts.textContent = firing ? `${firing} firing: ${a.critical} critical, ${a.warning} warning, ${a.info} info` : 'No alerts firing';
        alertCounts.className = `alert-counts${a.critical ? ' bad' : a.warning ? ' warn' : ''}`;
      }).catch(() => { alertCounts.textContent = ''; });
      const list = listOf(endpoints);
      const usage = new Map(listOf(summary).map(u => [u.id, u.usage]));
      remember(list);
      if (!list.length) {
        body.replaceChildren(h('div', { class: 'empty-state' },
          h('h2', null, 'No clusters yet'),
          ctx.can('admin')
            ? h('p', null, 'Add the agent of a cluster on the ', h('a', { href: '#/endpoints' }, 'Endpoints'), ' page.')
            : h('p', null, 'An administrator has to add an endpoint first.')));
        summary.textContent = '';
        return;
      }
      body.replaceChildren(h('div', { class: 'cards' }, list.map(e => endpointCard(e, usage))));
      // Each cluster's count of available updates, from its last stored check.
      for (const e of list) {
        get(ep(e.id, '/updates'), { signal: ctx.signal }).then(r => {
          const link = body.querySelector(`[data-updates-for="${e.id}"]`);
          if (!link || !r.available) return;
          link.textContent = `${plural(r.available, 'update')} available`;
          link.hidden = false;
        }).catch(() => {});
      }
      const ok = list.filter(e => e.status?.reachable);
      const sum = k => ok.reduce((n, e) => n + (e.status[k] || 0), 0);
      summary.textContent = `${ok.length} of ${plural(list.length, 'cluster')} reachable · ${sum('nodes_up')}/${sum('nodes_total')} nodes up · ${sum('containers_running')}/${sum('containers_total')} containers running`;
    } catch (e) {
      if (aborted(ctx, e)) return;
      body.replaceChildren(errorBox(e.message, 'Could not list the clusters'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('home');
  ctx.every(30000, load);
}
