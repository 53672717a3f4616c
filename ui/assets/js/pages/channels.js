// #/channels: the notification channels (webhook, Slack, Discord, ntfy, Gotify, email,
// MQTT), what each receives, a test button, and each one's delivery log. Admins change
// them; secrets are never sent back, only whether they are set.

import { get, post, patch, del, enc, listOf, aborted } from '../api.js';
import {
  h, badge, errorBox, loading, field, toast, confirmDialog, dataTable, pageHead, timeCell, dash,
} from '../ui.js';

// Each kind's fields: [key, label, type, hint]; type `secret` is shown as set or not and
// sent only when something is typed; `list` is comma-separated.
const KINDS = {
  webhook: {
    label: 'Webhook',
    fields: [
      ['url', 'URL', 'secret', 'POST of the console’s JSON (see docs/notifications.md).'],
      ['secret', 'Signing secret', 'secret', 'HMAC-SHA256 key of X-Bosun-Signature; empty: not signed.'],
    ],
  },
  slack: {
    label: 'Slack, Mattermost, Rocket.Chat',
    fields: [
      ['url', 'Incoming webhook URL', 'secret'],
      ['username', 'Post as', 'text', 'Optional.'],
    ],
  },
  discord: {
    label: 'Discord',
    fields: [
      ['url', 'Webhook URL', 'secret'],
      ['username', 'Post as', 'text', 'Optional.'],
    ],
  },
  ntfy: {
    label: 'ntfy',
    fields: [
      ['server', 'Server', 'text', 'e.g. https://ntfy.sh'],
      ['topic', 'Topic', 'text'],
      ['token', 'Access token', 'secret', 'Optional.'],
    ],
  },
  gotify: {
    label: 'Gotify',
    fields: [
      ['server', 'Server', 'text', 'e.g. https://gotify.example.org'],
      ['token', 'Application token', 'secret'],
    ],
  },
  email: {
    label: 'Email (SMTP)',
    fields: [
      ['host', 'SMTP host', 'text'],
      ['port', 'Port', 'number', '587 for STARTTLS, 465 for TLS.'],
      ['security', 'Security', ['starttls', 'tls', 'none'], '“none” only to a server on loopback.'],
      ['username', 'Username', 'text', 'Optional.'],
      ['password', 'Password', 'secret', 'Optional.'],
      ['from', 'From', 'text'],
      ['to', 'To', 'list', 'Addresses, separated by commas.'],
      ['ca_pem', 'CA certificates (PEM)', 'pem', 'Optional: a private CA to trust besides the system’s.'],
    ],
  },
  mqtt: {
    label: 'MQTT',
    fields: [
      ['host', 'Broker host', 'text'],
      ['port', 'Port', 'number', 'Usually 1883.'],
      ['username', 'Username', 'text', 'Optional.'],
      ['password', 'Password', 'secret', 'Optional.'],
      ['prefix', 'Topic prefix', 'text', 'Alerts on <prefix>/alerts/…, update states on <prefix>/container/…'],
      ['discovery', 'Home Assistant discovery', 'bool'],
      ['discovery_prefix', 'Discovery prefix', 'text', 'Usually homeassistant.'],
    ],
  },
};
const SEVERITIES = ['info', 'warning', 'critical'];

function filterText(f) {
  const rules = f.rules == null ? 'all rules' : `rules ${f.rules.join(', ') || 'none'}`;
  const states = [f.firing && 'firing', f.resolved && 'resolved'].filter(Boolean).join(' and ') || 'nothing';
  return `${rules}, ${f.min_severity} and worse, ${states}`;
}

/** The form's inputs for a kind, filled from a channel being edited. */
function kindInputs(kind, channel) {
  const inputs = {};
  const rows = KINDS[kind].fields.map(([key, label, type, hint]) => {
    const id = `channel-${key.replace(/_/g, '-')}`;
    const value = channel?.settings?.[key];
    let input;
    if (Array.isArray(type)) {
      input = h('select', { id, value: value ?? type[0] }, type.map(v => h('option', { value: v }, v)));
    } else if (type === 'bool') {
      input = h('input', { id, type: 'checkbox', checked: value ?? true });
      inputs[key] = { input, type };
      return h('label', { class: 'check' }, input, label);
    } else if (type === 'secret') {
      const set = channel?.secrets?.[key];
      input = h('input', {
        id, type: 'password', autocomplete: 'new-password', spellcheck: false,
        placeholder: set ? `set (${set}); type to replace` : '',
      });
      hint = set ? `${hint ? `${hint} ` : ''}Left empty, the stored value is kept.` : hint;
    } else if (type === 'pem') {
      input = h('textarea', { id, rows: 4, spellcheck: false, class: 'mono', value: value ?? '' });
    } else {
      input = h('input', {
        id, type: type === 'number' ? 'number' : 'text', spellcheck: false, autocomplete: 'off',
        value: type === 'list' ? (value ?? []).join(', ') : (value ?? ''),
      });
    }
    inputs[key] = { input, type };
    return field(label, input, hint);
  });
  return { rows, inputs };
}

/** The settings the form holds: secrets only when typed, blanks as null (reset). */
function settingsOf(inputs) {
  const out = {};
  for (const [key, { input, type }] of Object.entries(inputs)) {
    if (type === 'bool') out[key] = input.checked;
    else if (type === 'secret') { if (input.value) out[key] = input.value; }
    else if (type === 'number') out[key] = input.value === '' ? null : Number(input.value);
    else if (type === 'list') out[key] = input.value.split(',').map(s => s.trim()).filter(Boolean);
    else out[key] = input.value.trim() === '' ? null : input.value.trim();
  }
  return out;
}

export async function channels(main, _p, ctx) {
  ctx.title('Notifications');
  const admin = ctx.can('admin');
  const body = h('div', null, loading());
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const logPanel = h('section', { id: 'delivery-log', class: 'panel', hidden: true });
  const formPanel = h('section', { class: 'panel', id: 'channel-form-panel' });

  const table = dataTable({
    sort: { col: 0, dir: 1 },
    empty: 'No channels yet.',
    rowAttrs: c => ({ 'data-channel': c.name, 'data-id': c.id }),
    columns: [
      { label: 'Name', sort: c => c.name, cell: c => h('span', { class: 'strong' }, c.name) },
      { label: 'Kind', sort: c => c.kind, cell: c => KINDS[c.kind]?.label ?? c.kind },
      { label: 'State', cell: c => (c.enabled ? badge('enabled', 'ok') : badge('disabled', 'grey')) },
      { label: 'Receives', cell: c => h('span', { class: 'small muted' }, filterText(c.filter)) },
      {
        label: '', cls: 'actions', cell: c => h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'btn xs', 'data-action': 'log', onclick: () => showLog(c) }, 'Log'),
          admin && h('button', { type: 'button', class: 'btn xs', 'data-action': 'test', onclick: e => test(c, e.target) }, 'Test'),
          admin && h('button', { type: 'button', class: 'btn xs', 'data-action': 'edit', onclick: () => showForm(c) }, 'Edit'),
          admin && h('button', {
            type: 'button', class: 'btn xs danger-ghost', 'data-action': 'delete',
            onclick: async () => {
              if (!await confirmDialog(`Delete the channel “${c.name}”?`, { title: 'Delete channel', okText: 'Delete', danger: true, detail: 'Its delivery log goes with it.' })) return;
              try { await del(`/api/channels/${enc(c.id)}`); toast(`Deleted ${c.name}`); } catch (x) { toast(x.message, 'error'); }
              if (logPanel.dataset.id === String(c.id)) logPanel.hidden = true;
              load();
            },
          }, 'Delete')),
      },
    ],
  });

  async function test(c, button) {
    button.disabled = true;
    try {
      const r = await post(`/api/channels/${enc(c.id)}/test`, {});
      toast(r.ok ? `${c.name}: delivered (${r.outcome})` : `${c.name}: ${r.outcome}`, r.ok ? 'ok' : 'error', r.ok ? undefined : 8000);
    } catch (x) { toast(x.message, 'error'); }
    button.disabled = false;
    if (logPanel.dataset.id === String(c.id)) showLog(c);
  }

  const logTable = dataTable({
    empty: 'Nothing delivered yet.',
    rowAttrs: a => ({ 'data-ok': String(a.ok), 'data-attempt': a.attempt }),
    columns: [
      { label: 'At', cell: a => timeCell(a.at_ms) },
      { label: 'What', cell: a => (a.test ? 'test' : a.alert_ids.length ? `alerts ${a.alert_ids.join(', ')}` : `${a.notices} update states`) },
      { label: 'Attempt', cell: a => String(a.attempt) },
      { label: 'Result', cell: a => (a.ok ? badge('ok', 'ok') : badge('failed', 'bad')) },
      { label: 'Answer', cell: a => h('span', { class: 'small' }, dash(a.outcome)) },
      { label: 'Took', cell: a => `${a.duration_ms} ms` },
    ],
  });

  // Each reading of a log is numbered: an answer that comes after a newer reading began
  // (a test that ended while the log was loading) is dropped, not shown over it.
  let logReading = 0;
  async function showLog(c) {
    const reading = ++logReading;
    logPanel.hidden = false;
    logPanel.dataset.id = String(c.id);
    logPanel.replaceChildren(h('h2', null, `Deliveries to ${c.name}`), loading());
    try {
      const rows = listOf(await get(`/api/channels/${enc(c.id)}/deliveries`, { signal: ctx.signal }));
      if (reading !== logReading) return;
      logTable.set(rows);
      logPanel.replaceChildren(h('h2', null, `Deliveries to ${c.name}`), logTable.el);
    } catch (x) {
      if (reading === logReading && !aborted(ctx, x)) logPanel.replaceChildren(errorBox(x.message, 'Could not read the log'));
    }
  }

  function showForm(channel) {
    const editing = Boolean(channel);
    const name = h('input', { id: 'channel-name', required: true, autocomplete: 'off', value: channel?.name ?? '' });
    const kind = h('select', { id: 'channel-kind', disabled: editing, value: channel?.kind ?? 'webhook' },
      Object.entries(KINDS).map(([k, v]) => h('option', { value: k }, v.label)));
    const enabled = h('input', { id: 'channel-enabled', type: 'checkbox', checked: channel?.enabled ?? true });
    const f = channel?.filter ?? { rules: null, min_severity: 'info', firing: true, resolved: true };
    const rules = h('input', { id: 'channel-rules', autocomplete: 'off', value: f.rules == null ? '' : f.rules.join(', '), placeholder: 'all rules' });
    const severity = h('select', { id: 'channel-severity', value: f.min_severity }, SEVERITIES.map(s => h('option', { value: s }, s)));
    const firing = h('input', { id: 'channel-firing', type: 'checkbox', checked: f.firing });
    const resolved = h('input', { id: 'channel-resolved', type: 'checkbox', checked: f.resolved });
    const g = channel?.grouping ?? { quiet_ms: 2000, longest_ms: 4000 };
    const quiet = h('input', { id: 'channel-quiet', type: 'number', min: 0, value: g.quiet_ms / 1000, step: 0.5 });
    const longest = h('input', { id: 'channel-longest', type: 'number', min: 0, max: 60, value: g.longest_ms / 1000, step: 0.5 });
    const kindFields = h('div', { class: 'stack' });
    let inputs = {};
    const fill = () => {
      const made = kindInputs(kind.value, channel);
      inputs = made.inputs;
      kindFields.replaceChildren(...made.rows);
    };
    kind.addEventListener('change', fill);
    fill();
    const err = h('p', { id: 'channel-error', class: 'form-error', role: 'alert' });
    const submit = h('button', { id: 'channel-submit', class: 'btn primary', type: 'submit' }, editing ? 'Save' : 'Add channel');
    const cancel = editing && h('button', { class: 'btn', type: 'button', onclick: () => showForm(null) }, 'Cancel');
    const form = h('form', {
      id: 'channel-form', class: 'stack', novalidate: true,
      onsubmit: async e => {
        e.preventDefault();
        err.textContent = '';
        const ruleIds = rules.value.trim() === '' ? null : rules.value.split(',').map(s => Number(s.trim()));
        if (ruleIds?.some(n => !Number.isInteger(n))) return void (err.textContent = 'Rules: IDs separated by commas, or empty for all.');
        const body = {
          name: name.value.trim(),
          enabled: enabled.checked,
          settings: settingsOf(inputs),
          filter: { rules: ruleIds, min_severity: severity.value, firing: firing.checked, resolved: resolved.checked },
          grouping: { quiet_ms: Math.round(Number(quiet.value) * 1000), longest_ms: Math.round(Number(longest.value) * 1000) },
        };
        submit.disabled = true;
        try {
          if (editing) {
            await patch(`/api/channels/${enc(channel.id)}`, body);
            toast(`Saved ${body.name}`);
          } else {
            await post('/api/channels', { ...body, kind: kind.value });
            toast(`Added ${body.name}`);
          }
          showForm(null);
          load();
        } catch (x) {
          err.textContent = x.message;
        } finally {
          submit.disabled = false;
        }
      },
    },
    field('Name', name), field('Kind', kind), kindFields,
    h('fieldset', { class: 'stack' }, h('legend', null, 'Receives'),
      field('Rule IDs', rules, 'Separated by commas; empty for every rule.'),
      field('Least severity', severity),
      h('div', { class: 'row-actions' }, h('label', { class: 'check' }, firing, 'firing'), h('label', { class: 'check' }, resolved, 'resolved'))),
    h('fieldset', { class: 'stack' }, h('legend', null, 'Grouping'),
      field('Quiet spell (s)', quiet, 'A burst is sent once no notice came for this long…'),
      field('Longest wait (s)', longest, '…and at the latest this long after its first notice.')),
    h('label', { class: 'check' }, enabled, 'Enabled'),
    err, h('div', { class: 'row-actions' }, submit, cancel));
    formPanel.replaceChildren(h('h2', null, editing ? `Edit ${channel.name}` : 'Add a channel'), form);
  }

  const side = admin ? h('div', { class: 'side' }, formPanel) : null;
  if (admin) showForm(null);
  const list = h('div', { class: 'list stack' }, h('section', null, body), logPanel);
  main.append(pageHead('Notifications', refresh), admin ? h('div', { class: 'split channels' }, list, side) : list);

  async function load() {
    refresh.disabled = true;
    try {
      table.set(listOf(await get('/api/channels', { signal: ctx.signal })));
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (!aborted(ctx, e)) body.replaceChildren(errorBox(e.message, 'Could not list the channels'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('channels');
}
