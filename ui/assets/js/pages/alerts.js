// #/alerts: every cluster's alerts. Firing now, the history of transitions, the rules
// (admins edit them) and silences (operators and admins make and expire them).

import { get, post, patch, del, listOf, aborted, query } from '../api.js';
import {
  h, badge, timeCell, toDate, errorBox, loading, field, toast, confirmDialog, modal, dataTable, pageHead, plural, dash,
} from '../ui.js';

const KINDS = {
  node_down: 'Node down',
  container_exited: 'Container exited (non-zero)',
  container_restarting: 'Container restart loop',
  container_unhealthy: 'Container unhealthy',
  container_oom: 'Container out of memory',
  host_cpu: 'Host CPU',
  host_memory: 'Host memory',
  host_disk: 'Host disk (per filesystem)',
  host_load: 'Host load per core',
  container_cpu: 'Container CPU',
  container_memory: 'Container memory of its limit',
  update_available: 'Update available',
  check_state: 'Check not ok',
};
// What a kind's threshold means; kinds without one are not listed.
const THRESHOLD = {
  container_restarting: 'restarts within the window', host_cpu: '% CPU', host_memory: '% used', host_disk: '% used',
  host_load: 'load per core', container_cpu: '% CPU (100 = one core)', container_memory: '% of the limit',
};
const SEVERITY_KIND = { critical: 'bad', warning: 'warn', info: 'info' };
const STATE_KIND = { firing: 'bad', pending: 'warn', resolved: 'ok', inactive: 'grey' };

const sevBadge = s => badge(s, SEVERITY_KIND[s] || 'grey');
const stateBadge = s => badge(s, STATE_KIND[s] || 'grey');
const secs = n => (n >= 3600 && n % 3600 === 0 ? `${n / 3600} h` : n >= 60 && n % 60 === 0 ? `${n / 60} min` : `${n} s`);

function scopeText(s) {
  const parts = [];
  if (s?.endpoint != null) parts.push(`endpoint ${s.endpoint}`);
  if (s?.node) parts.push(`node ${s.node}`);
  if (s?.labels) parts.push(`label ${s.labels}`);
  return parts.join(', ') || 'everywhere';
}

/** The form of a rule, new or changed; resolves with the body to send, or null. */
function ruleForm(rule) {
  const r = rule ?? { kind: 'host_disk', severity: 'warning', for: 300, threshold: 90, enabled: true, scope: {} };
  const name = h('input', { id: 'rule-name', value: r.name ?? '', required: true, autocomplete: 'off' });
  const kind = h('select', { id: 'rule-kind', value: r.kind }, Object.entries(KINDS).map(([k, l]) => h('option', { value: k }, l)));
  const severity = h('select', { id: 'rule-severity', value: r.severity }, ['info', 'warning', 'critical'].map(s => h('option', { value: s }, s)));
  const forSecs = h('input', { id: 'rule-for', type: 'number', min: 0, value: r.for ?? 0 });
  const threshold = h('input', { id: 'rule-threshold', type: 'number', step: 'any', min: 0, value: r.threshold ?? '' });
  const windowSecs = h('input', { id: 'rule-window', type: 'number', min: 1, value: r.window ?? 600 });
  const node = h('input', { id: 'rule-node', value: r.scope?.node ?? '', placeholder: 'any node', autocomplete: 'off' });
  const labels = h('input', { id: 'rule-labels', value: r.scope?.labels ?? '', placeholder: 'key=value', autocomplete: 'off' });
  const endpoint = h('input', { id: 'rule-endpoint', type: 'number', min: 1, value: r.scope?.endpoint ?? '', placeholder: 'any' });
  const labelsField = field('Label', labels);
  const labelsHint = labelsField.appendChild(h('small', { class: 'hint' }));
  const thresholdField = field('Threshold', threshold);
  const windowField = field('Window (seconds)', windowSecs, 'Restarts are counted within it.');
  const hint = thresholdField.querySelector('.hint') ?? thresholdField.appendChild(h('small', { class: 'hint' }));
  const sync = () => {
    const t = THRESHOLD[kind.value];
    thresholdField.hidden = !t;
    hint.textContent = t ?? '';
    windowField.hidden = kind.value !== 'container_restarting';
    labelsHint.textContent = kind.value === 'check_state'
      ? 'Only this check: check=NAME, check_id=ID or kind=http (tcp, dns, container, script). The alert takes the check’s severity; a critical rule fires for critical and unknown only.'
      : 'Only containers with this label.';
  };
  kind.addEventListener('change', sync);
  sync();
  const body = h('div', { class: 'stack' },
    field('Name', name), field('Kind', kind), field('Severity', severity),
    field('For (seconds)', forSecs, 'How long the condition holds before it fires.'),
    thresholdField, windowField,
    field('Node', node), field('Endpoint ID', endpoint), labelsField);
  return modal({
    title: rule ? `Edit “${rule.name}”` : 'New rule',
    okText: rule ? 'Save' : 'Add rule',
    body,
    validate: () => (name.value.trim() ? null : 'Name the rule.'),
    result: () => ({
      name: name.value.trim(),
      kind: kind.value,
      severity: severity.value,
      for: Number(forSecs.value || 0),
      threshold: THRESHOLD[kind.value] ? Number(threshold.value) : null,
      window: kind.value === 'container_restarting' ? Number(windowSecs.value) : null,
      scope: {
        node: node.value.trim() || null,
        labels: labels.value.trim() || null,
        endpoint: endpoint.value ? Number(endpoint.value) : null,
      },
    }),
  });
}

export async function alerts(main, params, ctx) {
  ctx.title('Alerts');
  const admin = ctx.can('admin');
  const operator = ctx.can('operator');
  const counts = h('span', { id: 'alert-counts', class: 'muted' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const severity = h('select', { id: 'alert-severity', 'aria-label': 'Severity', class: 'compact', onchange: () => load() },
    h('option', { value: '' }, 'every severity'), ['critical', 'warning', 'info'].map(s => h('option', { value: s }, s)));
  const firingBody = h('div', null, loading());
  const historyBody = h('div', null, loading());
  const rulesBody = h('div', null, loading());
  const silencesBody = h('div', null, loading());

  const firing = dataTable({
    sort: { col: 0, dir: -1 },
    empty: 'Nothing is firing.',
    rowAttrs: a => ({ 'data-alert-id': a.id, 'data-state': a.state, 'data-subject': a.subject }),
    columns: [
      { label: 'Since', sort: a => toDate(a.fired_at ?? a.since)?.getTime(), cell: a => timeCell(a.fired_at ?? a.since) },
      { label: 'Severity', sort: a => ['info', 'warning', 'critical'].indexOf(a.severity), cell: a => sevBadge(a.severity) },
      { label: 'State', sort: a => a.state, cell: a => [stateBadge(a.state), a.silenced ? badge('silenced', 'outline', 'Stored, not notified') : null] },
      { label: 'Rule', sort: a => a.rule, cell: a => a.rule },
      { label: 'Where', sort: a => `${a.endpoint} ${a.node ?? ''}`, cell: a => [a.endpoint, a.node ? h('span', { class: 'muted' }, ` · ${a.node}`) : null] },
      {
        label: 'What', cell: a => h('div', { class: 'alert-what' }, h('div', null, a.summary),
          a.details?.length ? h('details', null, h('summary', null, plural(a.details.length, 'line')),
            h('pre', { class: 'alert-details' }, a.details.join('\n'))) : null),
      },
    ],
  });
  const history = dataTable({
    empty: 'No transitions yet.',
    rowAttrs: t => ({ 'data-transition-id': t.id, 'data-to': t.to, 'data-subject': t.subject }),
    columns: [
      { label: 'When', cell: t => timeCell(t.at) },
      { label: 'Change', cell: t => [stateBadge(t.from), ' → ', stateBadge(t.to)] },
      { label: 'Severity', cell: t => sevBadge(t.severity) },
      { label: 'Rule', cell: t => t.rule },
      { label: 'Subject', cell: t => [t.subject, t.node ? h('span', { class: 'muted' }, ` · ${t.node}`) : null] },
      { label: 'Detail', cell: t => [t.detail, t.silenced ? badge('silenced', 'outline') : null] },
    ],
  });
  const rules = dataTable({
    sort: { col: 0, dir: 1 },
    rowAttrs: r => ({ 'data-rule-id': r.id, 'data-kind': r.kind }),
    columns: [
      { label: 'Rule', sort: r => r.name, cell: r => h('span', { class: 'strong' }, r.name) },
      { label: 'Kind', sort: r => r.kind, cell: r => KINDS[r.kind] ?? r.kind },
      { label: 'Severity', sort: r => r.severity, cell: r => sevBadge(r.severity) },
      {
        label: 'Condition',
        cell: r => (r.kind === 'container_restarting'
          ? `${r.threshold} restarts within ${secs(r.window ?? 0)}`
          : r.kind === 'check_state'
          ? [r.severity === 'critical' ? 'critical or unknown' : 'warning, critical or unknown', r.for ? ` for ${secs(r.for)}` : '']
          : [r.threshold != null ? `over ${r.threshold} ${THRESHOLD[r.kind] ?? ''}` : '',
            r.for ? ` for ${secs(r.for)}` : (r.threshold == null ? 'at once' : '')]),
      },
      { label: 'Scope', cell: r => scopeText(r.scope) },
      {
        label: 'On', cell: r => (admin
          ? h('input', { type: 'checkbox', checked: r.enabled, 'aria-label': `${r.name} enabled`, onchange: e => change(r, { enabled: e.target.checked }) })
          : (r.enabled ? 'yes' : 'no')),
      },
      {
        label: '', cls: 'actions', cell: r => (admin ? h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'btn xs', 'data-action': 'edit', onclick: async () => { const b = await ruleForm(r); if (b) change(r, b); } }, 'Edit'),
          h('button', { type: 'button', class: 'btn xs danger-ghost', 'data-action': 'delete', onclick: () => removeRule(r) }, 'Delete')) : null),
      },
    ],
  });
  const silences = dataTable({
    empty: 'No silences.',
    rowAttrs: s => ({ 'data-silence-id': s.id, 'data-active': String(s.active) }),
    columns: [
      { label: 'Rule', cell: s => dash(s.rule_id != null ? ruleName(s.rule_id) : 'every rule') },
      { label: 'Subject', cell: s => dash(s.subject ?? 'every subject') },
      { label: 'Until', cell: s => [timeCell(s.until_time), s.active ? null : badge('ended', 'outline')] },
      { label: 'By', cell: s => [s.created_by, s.comment ? h('span', { class: 'muted' }, ` · ${s.comment}`) : null] },
      {
        label: '', cls: 'actions', cell: s => (operator && s.active ? h('button', {
          type: 'button', class: 'btn xs', 'data-action': 'expire',
          onclick: async () => {
            try { await del(`/api/silences/${s.id}`); toast('Silence ended'); } catch (e) { toast(e.message, 'error'); }
            load();
          },
        }, 'Expire') : null),
      },
    ],
  });
  let ruleList = [];
  const ruleName = id => ruleList.find(r => r.id === id)?.name ?? `rule ${id}`;

  async function change(rule, body) {
    try { await patch(`/api/alert-rules/${rule.id}`, body); toast(`Saved “${rule.name}”`); } catch (e) { toast(e.message, 'error'); }
    load();
  }
  async function removeRule(rule) {
    if (!await confirmDialog(`Delete the rule “${rule.name}”?`, { title: 'Delete rule', okText: 'Delete', danger: true, detail: 'Its open alerts resolve.' })) return;
    try { await del(`/api/alert-rules/${rule.id}`); toast(`Deleted “${rule.name}”`); } catch (e) { toast(e.message, 'error'); }
    load();
  }
  async function addRule() {
    const body = await ruleForm(null);
    if (!body) return;
    try { await post('/api/alert-rules', body); toast(`Added “${body.name}”`); } catch (e) { toast(e.message, 'error'); }
    load();
  }
  async function addSilence() {
    const rule = h('select', { id: 'silence-rule' }, h('option', { value: '' }, 'every rule'), ruleList.map(r => h('option', { value: r.id }, r.name)));
    const subject = h('input', { id: 'silence-subject', placeholder: 'web-1, node-2, prod, web-*', autocomplete: 'off' });
    const hours = h('input', { id: 'silence-hours', type: 'number', min: 0.1, step: 'any', value: 2 });
    const comment = h('input', { id: 'silence-comment', autocomplete: 'off' });
    const body = await modal({
      title: 'New silence', okText: 'Silence',
      body: h('div', { class: 'stack' }, field('Rule', rule),
        field('Subject', subject, 'A container, node, filesystem or endpoint name; a trailing * takes any rest.'),
        field('For (hours)', hours), field('Comment', comment)),
      validate: () => (!rule.value && !subject.value.trim() ? 'Choose a rule, a subject, or both.' : null),
      result: () => ({
        rule_id: rule.value ? Number(rule.value) : null,
        subject: subject.value.trim() || null,
        duration: Math.round(Number(hours.value) * 3600),
        comment: comment.value,
      }),
    });
    if (!body) return;
    try { await post('/api/silences', body); toast('Silenced'); } catch (e) { toast(e.message, 'error'); }
    load();
  }

  const section = (id, title, body, ...actions) => h('section', { class: 'panel alerts-section', id },
    h('div', { class: 'panel-head' }, h('h2', null, title), h('div', { class: 'page-actions' }, actions)), body);
  main.append(pageHead('Alerts', counts, severity, refresh),
    section('alerts-firing', 'Firing now', firingBody),
    section('alerts-history', 'History', historyBody),
    section('alerts-rules', 'Rules', rulesBody,
      admin ? h('button', { id: 'rule-add', class: 'btn small', type: 'button', onclick: addRule }, 'New rule') : null),
    section('alerts-silences', 'Silences', silencesBody,
      operator ? h('button', { id: 'silence-add', class: 'btn small', type: 'button', onclick: addSilence }, 'New silence') : null));

  const put = (box, table) => { if (table.el.parentNode !== box) box.replaceChildren(table.el); };
  async function load() {
    refresh.disabled = true;
    const q = query({ state: 'open', severity: severity.value || undefined });
    try {
      const [open, trans, ruleRows, silenceRows, sum] = await Promise.all([
        get(`/api/alerts${q}`, { signal: ctx.signal }),
        get('/api/alerts/history?limit=100', { signal: ctx.signal }),
        get('/api/alert-rules', { signal: ctx.signal }),
        get('/api/silences', { signal: ctx.signal }),
        get('/api/alerts/summary', { signal: ctx.signal }),
      ]);
      ruleList = listOf(ruleRows);
      firing.set(listOf(open)); put(firingBody, firing);
      history.set(listOf(trans)); put(historyBody, history);
      rules.set(ruleList); put(rulesBody, rules);
      silences.set(listOf(silenceRows)); put(silencesBody, silences);
      counts.textContent = `${sum.critical} critical · ${sum.warning} warning · ${sum.info} info firing${sum.pending ? ` · ${sum.pending} pending` : ''}`;
    } catch (e) {
      if (!aborted(ctx, e)) firingBody.replaceChildren(errorBox(e.message, 'Could not read the alerts'));
    } finally {
      refresh.disabled = false;
    }
  }
  if (params.query.get('severity')) severity.value = params.query.get('severity');
  await load();
  ctx.done('alerts');
  ctx.every(10000, load);
}
