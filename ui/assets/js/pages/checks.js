// #/e/ID/checks : a cluster's checks. Every check × node with its state, last output,
// duration and since when; each node's policy (the version it runs against the one it
// should, a refusal and its reason, results lost); the checks themselves (admins add,
// change and delete them); and the history of one check on one node.

import { get, post, put, del, ep, enc, aborted } from '../api.js';
import {
  h, badge, callout, errorBox, loading, dataTable, timeCell, toDate, toast, confirmDialog, modal, promptDialog, plural, mono, dash,
} from '../ui.js';
import { endpointShell } from '../cluster.js';
import { checkForm, probeText, targetText } from './checks/form.js';
import { historyPanel, ms, STATES } from './checks/history.js';

const STATE_KIND = { ok: 'ok', warning: 'warn', critical: 'bad', unknown: 'grey' };

/** A check's state as a badge: green, amber, red, grey; outlined before its first run. */
export const checkBadge = (state, title) => badge(state ?? 'pending', STATE_KIND[state] ?? 'outline', title);

/** A time as the console gives it: Unix seconds, milliseconds, or RFC 3339 text. */
const when = t => (typeof t === 'number' ? toDate(t < 1e11 ? t * 1000 : t) : toDate(t));

const secs = n => (n >= 3600 && n % 3600 === 0 ? `${n / 3600} h` : n >= 60 && n % 60 === 0 ? `${n / 60} min` : `${n} s`);

/** The first line of an output, for a table cell. */
const firstLine = text => String(text ?? '').split('\n').find(l => l.trim()) ?? '';

/** The whole output of a run, in a dialog. */
function showOutput(row) {
  const pre = h('pre', { id: 'check-output-full', class: 'check-output-full' }, row.output || '(no output)');
  modal({
    title: `${row.name} on ${row.node}`,
    okText: 'Close',
    cancelText: null,
    body: [
      h('p', { class: 'muted small' }, checkBadge(row.state), ' ', row.status !== row.state ? `this run ${row.status}, ` : '',
        `took ${ms(row.duration_ms)}, ended `, timeCell(when(row.at_ms))),
      pre,
    ],
  });
}

/** Whether a node's refusal still stands: no policy was applied after it. */
function refusalStands(n) {
  const r = n.refused;
  if (!r) return false;
  if (r.version != null) return r.version >= (n.policy_version ?? 0);
  const at = when(r.at)?.getTime() ?? 0;
  const applied = when(n.applied_at)?.getTime() ?? 0;
  return at >= applied;
}

export async function checks(main, { id }, ctx) {
  const content = endpointShell(main, id, 'checks', ctx, 'Checks');
  const admin = ctx.can('admin');
  let defs = [];
  let status = { rows: [], nodes: [] };
  let version = 0;
  let concurrency = 10;

  const summary = h('span', { id: 'checks-summary', class: 'count' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const pushBtn = admin ? h('button', {
    id: 'checks-push', class: 'btn', type: 'button', title: 'Sign every node’s policy and send it now',
    onclick: async () => {
      pushBtn.disabled = true;
      try {
        const r = await post(ep(id, '/checks/push'), {}, { signal: ctx.signal });
        const bad = (r.nodes ?? []).filter(n => n.outcome === 'refused' || n.outcome === 'unreachable');
        if (bad.length) toast(bad.map(n => `${n.node}: ${n.outcome}${n.reason ? ` (${n.reason})` : ''}`).join('; '), 'error');
        else toast(`Pushed to ${plural((r.nodes ?? []).length, 'node')}`);
      } catch (e) { if (!aborted(ctx, e)) toast(e.message, 'error'); }
      pushBtn.disabled = false;
      load();
    },
  }, 'Push now') : null;
  const addBtn = admin ? h('button', { id: 'check-add', class: 'btn primary', type: 'button', onclick: () => edit(null) }, 'New check') : null;
  const refusals = h('div', { id: 'checks-refusals' });
  const problem = h('div');
  const matrixBody = h('div', null, loading());
  const nodesBody = h('div', null, loading());
  const defsBody = h('div', null, loading());
  const settings = h('span', { class: 'muted small', id: 'checks-settings' });
  const settingsBtn = admin ? h('button', {
    id: 'checks-concurrency', class: 'btn small', type: 'button',
    onclick: async () => {
      const v = await promptDialog({
        title: 'Checks at once per agent', label: 'Concurrency', type: 'number', value: concurrency, attrs: { min: 1, max: 1000 },
        hint: 'How many checks one agent runs at the same time; the others wait their turn.',
        validate: x => (Number.isInteger(Number(x)) && Number(x) >= 1 && Number(x) <= 1000 ? null : 'A whole number, 1 to 1000.'),
      });
      if (v == null) return;
      try { await put(ep(id, '/checks/settings'), { concurrency: Number(v) }); toast(`Concurrency ${v}`); } catch (e) { toast(e.message, 'error'); }
      load();
    },
  }, 'Concurrency') : null;

  const nodeNames = () => [...new Set([...(status.nodes ?? []).map(n => n.node), ...(status.rows ?? []).map(r => r.node)])]
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const hist = historyPanel(id, ctx, () => ({
    checks: [...defs.map(d => ({ id: d.id, name: d.name })),
      ...[...new Map((status.rows ?? []).filter(r => !defs.some(d => d.id === r.check)).map(r => [r.check, { id: r.check, name: r.name }])).values()]],
    nodes: nodeNames(),
  }));

  // ---- the matrix: a row per check, a column per node ----

  let matrix = null;
  let matrixNodes = '';
  function cellOf(r, node) {
    const x = r.cells.get(node);
    if (!x) return h('span', { class: 'muted small', title: 'No result from this node: not targeted, or not run yet' }, '—');
    const first = firstLine(x.output);
    // Not run yet: the agent says unknown until the first run ends.
    const state = x.status == null ? null : x.state;
    return h('div', { class: 'check-cell', 'data-check-cell': '', 'data-check': r.id, 'data-node': node, 'data-state': state ?? 'pending' },
      h('div', { class: 'check-cell-head' },
        checkBadge(state, x.status && x.status !== x.state ? `This run: ${x.status}; the state changes after the retries` : null),
        h('span', { class: 'muted small', title: 'How long the last run took' }, ms(x.duration_ms))),
      h('button', {
        type: 'button', class: 'check-output', 'data-action': 'output', title: 'Show the whole output',
        onclick: () => showOutput(x),
      }, first || h('span', { class: 'muted' }, 'no output')),
      h('div', { class: 'muted small check-since' }, 'since ', timeCell(when(x.since_ms)), ' · ',
        h('button', { type: 'button', class: 'linkish', 'data-action': 'history', onclick: () => hist.show(r.id, node) }, 'history')));
  }

  function showMatrix() {
    const nodes = nodeNames();
    const byCheck = new Map();
    for (const d of defs) byCheck.set(d.id, { id: d.id, name: d.name, kind: d.probe?.kind, enabled: d.enabled !== false, cells: new Map() });
    for (const r of status.rows ?? []) {
      if (!byCheck.has(r.check)) byCheck.set(r.check, { id: r.check, name: r.name, kind: r.kind, enabled: true, gone: true, cells: new Map() });
      byCheck.get(r.check).cells.set(r.node, r);
    }
    const rows = [...byCheck.values()];
    if (!matrix || matrixNodes !== nodes.join('\n')) {
      matrixNodes = nodes.join('\n');
      matrix = dataTable({
        sort: { col: 0, dir: 1 },
        empty: 'No checks yet.',
        rowAttrs: r => ({ 'data-matrix-check': r.id, 'data-matrix-name': r.name }),
        columns: [
          {
            label: 'Check', sort: r => r.name, cls: 'check-name-cell',
            cell: r => h('div', null, h('span', { class: 'strong' }, r.name), ' ', badge(r.kind ?? '?', 'outline'),
              r.gone ? badge('removed', 'outline', 'No longer among the checks; a node still reported it') : null,
              r.enabled ? null : badge('disabled', 'outline')),
          },
          ...nodes.map(node => ({
            label: node, cls: 'check-node-cell',
            sort: r => { const x = r.cells.get(node); return x ? -STATES.indexOf(x.state) : 1; },
            cell: r => cellOf(r, node),
          })),
        ],
      });
    }
    matrix.set(rows, defs.length ? 'No results yet: the agents run each check at its interval.' : 'No checks yet.');
    if (matrix.el.parentNode !== matrixBody) matrixBody.replaceChildren(matrix.el);
  }

  // ---- each node's policy ----

  const nodesTable = dataTable({
    sort: { col: 0, dir: 1 },
    empty: 'No node has reported yet.',
    rowAttrs: n => ({
      'data-policy-node': n.node,
      'data-policy-state': refusalStands(n) ? 'refused' : (n.policy_version ?? 0) >= (n.want_version ?? 0) ? 'current' : 'behind',
    }),
    columns: [
      { label: 'Node', sort: n => n.node, cell: n => h('span', { class: 'strong' }, n.node) },
      { label: 'Agent', cell: n => (n.agent_id ? mono(String(n.agent_id).slice(0, 8), n.agent_id) : h('span', { class: 'muted' }, '—')) },
      {
        label: 'Policy', sort: n => (n.policy_version ?? 0) - (n.want_version ?? 0),
        cell: n => {
          const have = n.policy_version ?? 0;
          const want = n.want_version ?? 0;
          const look = refusalStands(n) ? ['refused', 'bad'] : have >= want ? ['current', 'ok'] : ['behind', 'warn'];
          return h('span', { class: 'policy-version' }, badge(look[0], look[1]), ' ',
            h('span', { class: 'mono small', title: 'The version the node runs, and the one it should' }, `${have || 'none'}${have >= want ? '' : ` of ${want}`}`));
        },
      },
      { label: 'Applied', sort: n => -(when(n.applied_at)?.getTime() ?? 0), cell: n => timeCell(when(n.applied_at)) },
      {
        label: 'Refused', cls: 'detail policy-refused',
        cell: n => (n.refused
          ? h('span', { class: refusalStands(n) ? 'error-text small' : 'muted small', title: refusalStands(n) ? null : 'A later policy was applied since' },
            n.refused.version != null ? `v${n.refused.version}: ` : '', n.refused.reason)
          : h('span', { class: 'muted' }, '—')),
      },
      {
        label: 'Lost', sort: n => -(n.lost ?? 0),
        cell: n => ((n.lost ?? 0) > 0 ? badge(String(n.lost), 'warn', 'Results dropped from the agent’s full buffer before the console read them') : h('span', { class: 'muted' }, '0')),
      },
      { label: 'Pulled', sort: n => -(when(n.last_pull_at)?.getTime() ?? 0), cell: n => timeCell(when(n.last_pull_at)) },
      { label: 'Error', cls: 'detail', cell: n => (n.error ? h('span', { class: 'error-text small' }, n.error) : h('span', { class: 'muted' }, '—')) },
    ],
  });

  function showNodes() {
    nodesTable.set(status.nodes ?? []);
    if (nodesTable.el.parentNode !== nodesBody) nodesBody.replaceChildren(nodesTable.el);
    const standing = (status.nodes ?? []).filter(refusalStands);
    refusals.replaceChildren(...standing.map(n => h('div', { 'data-refused-node': n.node },
      callout('error', [h('span', { class: 'refusal-reason' }, n.refused.reason),
        h('span', { class: 'muted small' }, ` (version ${dash(n.refused.version)}, `, timeCell(when(n.refused.at)), '; it keeps running ',
          n.policy_version ? `version ${n.policy_version}` : 'no policy', ')')],
      `${n.node} refused its policy`))));
    const lost = (status.nodes ?? []).filter(n => (n.lost ?? 0) > 0);
    if (lost.length) {
      refusals.append(callout('warn', lost.map(n => `${n.node}: ${plural(n.lost, 'result')}`).join('; '),
        'Results were lost: an agent’s buffer filled before the console read it'));
    }
  }

  // ---- the checks themselves ----

  const stateCounts = d => {
    const counts = {};
    for (const r of status.rows ?? []) if (r.check === d.id) counts[r.state] = (counts[r.state] ?? 0) + 1;
    const present = STATES.filter(s => counts[s]);
    return present.length ? present.map(s => badge(`${counts[s]} ${s}`, STATE_KIND[s])) : h('span', { class: 'muted' }, 'no results');
  };
  const defsTable = dataTable({
    sort: { col: 0, dir: 1 },
    empty: 'No checks yet.',
    rowAttrs: d => ({ 'data-check-id': d.id, 'data-check-name': d.name, 'data-kind': d.probe?.kind }),
    columns: [
      { label: 'Name', sort: d => d.name, cell: d => h('span', { class: 'strong' }, d.name) },
      { label: 'Kind', sort: d => d.probe?.kind, cell: d => badge(d.probe?.kind ?? '?', 'outline') },
      { label: 'Probe', cls: 'detail check-probe', cell: d => h('span', { class: 'mono small', title: probeText(d.probe) }, probeText(d.probe)) },
      { label: 'Nodes', cell: d => targetText(d.target) },
      {
        label: 'Schedule', sort: d => d.interval_secs,
        cell: d => `every ${secs(d.interval_secs)}, timeout ${secs(d.timeout_secs)}${d.retries ? `, ${plural(d.retries, 'retry', 'retries')}` : ''}`,
      },
      { label: 'States', cell: stateCounts },
      { label: 'On', cell: d => (d.enabled === false ? badge('off', 'outline') : 'yes') },
      {
        label: '', cls: 'actions', cell: d => (admin ? h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'btn xs', 'data-action': 'edit', onclick: () => edit(d) }, 'Edit'),
          h('button', { type: 'button', class: 'btn xs danger-ghost', 'data-action': 'delete', onclick: () => remove(d) }, 'Delete')) : null),
      },
    ],
  });

  function showDefs() {
    defsTable.set(defs, admin ? 'No checks yet: add one with New check.' : 'No checks yet: an administrator adds them.');
    if (defsTable.el.parentNode !== defsBody) defsBody.replaceChildren(defsTable.el);
    settings.textContent = `policy version ${version || 'none'} · ${concurrency} at once per agent`;
  }

  /** The form until the console takes it (or it is cancelled); a refusal keeps it open. */
  async function edit(check) {
    let current = check;
    let said = null;
    for (;;) {
      const body = await checkForm(current, said, nodeNames());
      if (!body) return;
      try {
        const saved = check?.id ? await put(ep(id, `/checks/${enc(check.id)}`), body) : await post(ep(id, '/checks'), body);
        toast(`${check?.id ? 'Saved' : 'Added'} “${saved?.name ?? body.name}”: every node gets its policy now`);
        load();
        return;
      } catch (e) {
        said = e.message;
        current = { ...(check ?? {}), ...body };
      }
    }
  }

  async function remove(d) {
    if (!await confirmDialog(`Delete the check “${d.name}”?`, { title: 'Delete check', okText: 'Delete', danger: true, detail: 'Every node stops running it with its next policy; its history stays until it ages out.' })) return;
    try { await del(ep(id, `/checks/${enc(d.id)}`)); toast(`Deleted “${d.name}”`); } catch (e) { toast(e.message, 'error'); }
    load();
  }

  const section = (sid, title, body, ...actions) => h('section', { id: sid, class: 'panel checks-section' },
    h('div', { class: 'panel-head' }, h('h2', null, title), h('div', { class: 'page-actions' }, actions)), body);
  content.append(
    h('div', { class: 'toolbar' }, summary, h('span', { class: 'grow' }), refresh, pushBtn, addBtn),
    problem, refusals,
    section('checks-matrix', 'State by node', matrixBody),
    section('checks-nodes', 'Policies', nodesBody),
    section('checks-defs', 'Checks', defsBody, settings, settingsBtn),
    hist.el);

  function count() {
    const rows = status.rows ?? [];
    const by = s => rows.filter(r => r.state === s).length;
    summary.textContent = [plural(defs.length, 'check'), ...STATES.filter(s => by(s)).map(s => `${by(s)} ${s}`)].join(' · ');
  }

  async function load() {
    refresh.disabled = true;
    try {
      const [list, st] = await Promise.all([
        get(ep(id, '/checks'), { signal: ctx.signal }),
        get(ep(id, '/checks/status'), { signal: ctx.signal }),
      ]);
      defs = list.checks ?? [];
      version = list.version ?? 0;
      concurrency = list.concurrency ?? concurrency;
      status = { rows: st.rows ?? [], nodes: st.nodes ?? [] };
      problem.replaceChildren();
      showMatrix();
      showNodes();
      showDefs();
      count();
      hist.refresh();
    } catch (e) {
      if (aborted(ctx, e)) return;
      problem.replaceChildren(errorBox(e.message, 'Could not read the checks'));
      for (const b of [matrixBody, nodesBody, defsBody]) if (b.querySelector('.loading')) b.replaceChildren();
    } finally {
      refresh.disabled = false;
    }
  }

  await load();
  ctx.done('checks');
  // The console pulls the agents' results every few seconds: show them as they come.
  ctx.every(5000, () => { if (!document.querySelector('.modal-backdrop')) load(); });
}
