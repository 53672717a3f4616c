// #/audit (admin): the audit log, filtered by user, action, endpoint and result.

import { get, query, listOf, aborted } from '../api.js';
import {
  h, debounce, toDate, relTime, fmtTime, plural, badge, dash, errorBox, loading, dataTable, pageHead, forbidden,
} from '../ui.js';
import { endpointCache } from '../cluster.js';

const AUDIT_ACTIONS = ['login', 'login_failed', 'logout', 'setup',
  'container.start', 'container.stop', 'container.restart', 'container.kill', 'container.remove', 'container.exec',
  'service.scale', 'service.remove', 'user.create', 'user.update', 'user.delete', 'endpoint.create', 'endpoint.update', 'endpoint.delete'];

export async function audit(main, { query: qs }, ctx) {
  ctx.title('Audit log');
  if (!ctx.can('admin')) return forbidden(main, ctx, 'audit');
  const f = { user: qs.get('user') ?? '', action: qs.get('action') ?? '', endpoint: qs.get('endpoint') ?? '', result: qs.get('result') ?? '', limit: qs.get('limit') ?? '200' };
  const user = h('input', { id: 'audit-user', type: 'search', placeholder: 'User', value: f.user, 'aria-label': 'User', spellcheck: false });
  const action = h('input', { id: 'audit-action', type: 'search', placeholder: 'Action', value: f.action, list: 'audit-actions', 'aria-label': 'Action', spellcheck: false });
  const endpoint = h('input', { id: 'audit-endpoint', type: 'search', placeholder: 'Endpoint', value: f.endpoint, list: 'audit-endpoints', 'aria-label': 'Endpoint', spellcheck: false });
  const result = h('select', { id: 'audit-result', 'aria-label': 'Result', value: f.result },
    h('option', { value: '' }, 'Any result'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'error' }, 'error'));
  const limit = h('select', { id: 'audit-limit', 'aria-label': 'Rows', value: f.limit }, ['200', '500', '1000'].map(v => h('option', { value: v }, `${v} rows`)));
  const actionList = h('datalist', { id: 'audit-actions' }, AUDIT_ACTIONS.map(a => h('option', { value: a })));
  const endpointList = h('datalist', { id: 'audit-endpoints' });
  const refresh = h('button', { id: 'audit-refresh', class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const count = h('span', { class: 'count' });
  const body = h('div', null, loading());

  const table = dataTable({
    columns: [
      { label: 'Time', sort: a => -(toDate(a.time)?.getTime() ?? 0), cell: a => h('span', { class: 'nowrap', title: relTime(a.time) }, fmtTime(a.time)) },
      { label: 'User', sort: a => a.user, cell: a => dash(a.user) },
      { label: 'Address', sort: a => a.address, cell: a => h('span', { class: 'mono nowrap' }, dash(a.address)) },
      { label: 'Endpoint', sort: a => a.endpoint, cell: a => dash(a.endpoint) },
      { label: 'Node', sort: a => a.node, cell: a => dash(a.node) },
      { label: 'Action', sort: a => a.action, cell: a => h('span', { class: 'mono' }, a.action) },
      { label: 'Target', cls: 'clip target', sort: a => a.target, cell: a => h('span', { title: a.target ?? '' }, dash(a.target)) },
      { label: 'Result', sort: a => a.result, cell: a => badge(a.result, a.result === 'ok' ? 'ok' : 'bad') },
      { label: 'Detail', cls: 'wrap detail', cell: a => (a.detail ? h('span', { class: a.result === 'error' ? 'error-text' : '' }, a.detail) : '') },
    ],
    rowAttrs: a => ({ 'data-audit-action': a.action, 'data-audit-target': a.target ?? '', 'data-audit-result': a.result }),
    empty: 'No entries.',
  });

  const read = () => Object.assign(f, { user: user.value.trim(), action: action.value.trim(), endpoint: endpoint.value.trim(), result: result.value, limit: limit.value });
  const changed = () => {
    read();
    history.replaceState(null, '', `#/audit${query({ ...f, limit: f.limit === '200' ? '' : f.limit })}`);
    load();
  };
  const typed = debounce(changed, 400);
  for (const el of [user, action, endpoint]) {
    el.addEventListener('input', typed);
    el.addEventListener('keydown', e => { if (e.key === 'Enter') { typed.cancel(); changed(); } });
  }
  result.addEventListener('change', changed);
  limit.addEventListener('change', changed);
  ctx.onLeave(typed.cancel);

  main.append(pageHead('Audit log', count, refresh),
    h('div', { class: 'toolbar' }, user, action, endpoint, result, limit, actionList, endpointList), body);

  let seq = 0;
  async function load() {
    const my = ++seq;
    refresh.disabled = true;
    try {
      const list = listOf(await get(`/api/audit${query(f)}`, { signal: ctx.signal }));
      if (my !== seq) return;
      table.set(list, f.user || f.action || f.endpoint || f.result ? 'No entries match the filters.' : 'No entries yet.');
      count.textContent = plural(list.length, 'entry', 'entries');
      const seen = [...new Set([...list.map(a => a.endpoint), ...[...endpointCache.values()].map(e => e.name)].filter(Boolean).map(String))];
      endpointList.replaceChildren(...seen.map(v => h('option', { value: v })));
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (aborted(ctx, e) || my !== seq) return;
      count.textContent = '';
      body.replaceChildren(errorBox(e.message, 'Could not read the audit log'));
    } finally {
      if (my === seq) refresh.disabled = false;
    }
  }
  await load();
  ctx.done('audit');
}
