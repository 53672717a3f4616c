// #/e/ID/updates : the images of a cluster's containers and services as the agents last
// checked them against their registries: what is newer, updating one (with a rollback when
// the new one does not come up), checking now, and the registries' credentials (admins).

import { get, post, del, ep, enc, aborted } from '../api.js';
import { h, badge, dash, errorBox, callout, loading, dataTable, selectOptions, shortId, timeCell, unixDate, toast, modal, field, confirmDialog, plural, mono } from '../ui.js';
import { endpointShell } from '../cluster.js';

const KIND = { digest: 'info', patch: 'ok', minor: 'warn', major: 'bad' };
const none = () => h('span', { class: 'muted' }, '—');
const kindBadge = k => (k ? badge(k, KIND[k] ?? 'grey') : h('span', { class: 'muted' }, 'current'));

/** The repository of an image reference, without its tag or digest. */
const repoOf = image => {
  const named = String(image ?? '').split('@')[0];
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  return colon > slash ? named.slice(0, colon) : named;
};

/** What an update gives: the newest of its kind's tags, or the running tag's new digest. */
function newest(item) {
  if (!item.update) return h('span', { class: 'muted' }, '—');
  if (item.update === 'digest') return mono(shortId(item.newest_digest), item.newest_digest);
  const tags = (item.newer_tags ?? []).filter(t => t.kind === item.update).map(t => t.tag);
  return mono(tags[tags.length - 1] ?? dash(''));
}

/** Asks to confirm an update; for a newer tag, which tag. Resolves with the body or null. */
function confirmUpdate(item) {
  const what = item.object === 'service' ? 'service' : 'container';
  const tags = [...new Set((item.newer_tags ?? []).map(t => t.tag))];
  const detail = item.object === 'service'
    ? 'The service is updated to the newest digest; its rollout is followed.'
    : 'The new image is pulled on its node, the container is recreated with the same configuration and started; if it does not come up, the old one is started again.';
  if (!tags.length) {
    return confirmDialog(`Update the ${what} “${item.name}” to the newest ${item.image}?`, { title: `Update ${what}`, okText: 'Update', detail })
      .then(ok => (ok ? {} : null));
  }
  const sel = h('select', { id: 'update-tag' },
    h('option', { value: '' }, `${item.tag || 'running tag'} (newest digest)`),
    tags.map(t => h('option', { value: t }, t)));
  sel.value = tags[tags.length - 1];
  return modal({
    title: `Update ${what} ${item.name}`, okText: 'Update',
    body: [field('Tag', sel, detail)],
    result: () => (sel.value ? { tag: sel.value } : {}),
  });
}

/** The live result of an update in its row. */
function showResult(cell, r) {
  const said = r.message ?? r.warning ?? '';
  const look = {
    updated: ['updated', 'ok'], current: ['already newest', 'ok-ghost'], rolled_back: ['rolled back', 'warn'],
  }[r.result] ?? [r.result ?? 'failed', r.result === 'completed' ? 'ok' : 'bad'];
  cell.replaceChildren(...[badge(look[0], look[1], said || null), said && h('div', { class: 'small muted update-said' }, said)].filter(Boolean));
  cell.closest('tr')?.setAttribute('data-update-result', r.result ?? 'error');
}

/** The registries' credentials of the endpoint, for admins. */
function registries(id, ctx) {
  const table = dataTable({
    columns: [
      { label: 'Registry', cell: r => mono(r.registry) },
      { label: 'User', cell: r => r.username },
      { label: 'Added', cell: r => timeCell(r.created) },
      { label: '', cls: 'actions', cell: r => h('button', {
        type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove-registry',
        onclick: async () => {
          if (!await confirmDialog(`Forget the credentials of ${r.registry}?`, { title: 'Remove registry', okText: 'Remove', danger: true })) return;
          try { await del(ep(id, `/registries/${r.id}`)); toast(`Removed ${r.registry}`); } catch (e) { toast(e.message, 'error'); }
          load();
        },
      }, 'Remove') },
    ],
    empty: 'No credentials: the agents use their nodes’ own.',
  });
  const add = h('button', {
    id: 'add-registry', type: 'button', class: 'btn small',
    onclick: async () => {
      const registry = h('input', { id: 'registry-host', class: 'mono', placeholder: 'registry.example.com:5000', autocomplete: 'off' });
      const username = h('input', { id: 'registry-user', autocomplete: 'off' });
      const password = h('input', { id: 'registry-password', type: 'password', autocomplete: 'new-password' });
      const given = await modal({
        title: 'Registry credentials', okText: 'Save',
        body: [field('Registry', registry, 'Its host, and port if any.'), field('User', username), field('Password or token', password, 'Kept sealed; never shown again.')],
        validate: () => (!registry.value.trim() || !username.value.trim() || !password.value ? 'Fill in all three.' : null),
        result: () => ({ registry: registry.value.trim(), username: username.value.trim(), password: password.value }),
      });
      if (!given) return;
      try { await post(ep(id, '/registries'), given); toast(`Saved ${given.registry}`); } catch (e) { toast(e.message, 'error'); }
      load();
    },
  }, 'Add');
  const body = h('div', null, loading());
  async function load() {
    try {
      table.set(await get(ep(id, '/registries'), { signal: ctx.signal }));
      body.replaceChildren(table.el);
    } catch (e) {
      if (!aborted(ctx, e)) body.replaceChildren(errorBox(e.message, 'Could not list the registries'));
    }
  }
  load();
  return h('section', { id: 'registries', class: 'panel registries-panel' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Registry credentials'), add),
    h('p', { class: 'muted small' }, 'Passed to the agents for their checks, and to the engine when an update pulls.'),
    body);
}

export async function updates(main, { id }, ctx) {
  const content = endpointShell(main, id, 'updates', ctx, 'Updates');
  const f = { kind: '', node: '', only: true };
  let items = [];
  const kindSel = h('select', { id: 'updates-kind', 'aria-label': 'Kind', onchange: e => { f.kind = e.target.value; apply(); } },
    h('option', { value: '' }, 'All kinds'), ['digest', 'patch', 'minor', 'major'].map(k => h('option', { value: k }, k)));
  const nodeSel = h('select', { id: 'updates-node', 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  selectOptions(nodeSel, [], 'All nodes');
  const onlyBox = h('input', { id: 'updates-only', type: 'checkbox', checked: f.only, onchange: e => { f.only = e.target.checked; apply(); } });
  const count = h('span', { class: 'count' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const check = ctx.can('operator') ? h('button', {
    id: 'check-now', class: 'btn primary', type: 'button',
    onclick: async () => {
      check.disabled = true;
      check.textContent = 'Checking…';
      try { show(await post(ep(id, '/updates/check'), {}, { signal: ctx.signal })); toast('Checked every node'); } catch (e) { if (!aborted(ctx, e)) toast(e.message, 'error'); }
      check.disabled = false;
      check.textContent = 'Check now';
    },
  }, 'Check now') : null;
  const status = h('div', { class: 'updates-status' });
  const body = h('div', null, loading());

  const cols = [
    { label: 'Name', sort: i => i.name, cell: i => h('span', null, h('span', { class: 'strong', title: i.id }, i.name), ' ', i.object === 'service' ? badge('service', 'outline') : null) },
    { label: 'Node', sort: i => i.node, cell: i => i.node },
    { label: 'Image', cls: 'clip image', sort: i => i.image, cell: i => h('span', { title: i.image }, repoOf(i.image)) },
    { label: 'Tag', sort: i => i.tag, cell: i => mono(dash(i.tag)) },
    { label: 'Running', cell: i => mono(shortId(i.running_digest) || '—', i.running_digest) },
    { label: 'Newest', cell: newest },
    { label: 'Kind', sort: i => ['digest', 'patch', 'minor', 'major'].indexOf(i.update), cell: i => kindBadge(i.update) },
    { label: 'Newer tags', cell: i => ((i.newer_tags ?? []).length ? h('span', { class: 'mono small' }, i.newer_tags.map(t => t.tag).join(', ')) : h('span', { class: 'muted' }, '—')) },
    { label: 'Checked', sort: i => -(i.checked_at ?? 0), cell: i => timeCell(unixDate(i.checked_at)) },
    { label: 'Error', cls: 'detail update-error', cell: i => (i.error ? h('span', { class: 'error-text small' }, i.error) : none()) },
    { label: 'Link', cell: i => (i.link ? h('a', { href: i.link, target: '_blank', rel: 'noopener noreferrer' }, 'notes') : none()) },
  ];
  if (ctx.can('operator')) {
    cols.push({
      label: '', cls: 'actions', cell: i => {
        if (!i.update) return '';
        const result = h('div', { class: 'update-result' });
        const btn = h('button', {
          type: 'button', class: 'btn xs primary', 'data-action': 'update',
          onclick: async () => {
            const given = await confirmUpdate(i);
            if (!given) return;
            btn.disabled = true;
            result.replaceChildren(h('span', { class: 'spinner' }), ' updating…');
            const path = i.object === 'service' ? `/updates/services/${enc(i.id)}` : `/updates/containers/${enc(i.id)}`;
            try {
              const r = await post(ep(id, path), given);
              showResult(result, r);
              if (r.result !== 'rolled_back') btn.remove(); else btn.disabled = false;
              toast(r.result === 'rolled_back' ? `${i.name}: rolled back` : `${i.name}: ${r.result}`, r.result === 'rolled_back' ? 'error' : 'ok');
            } catch (e) {
              showResult(result, { result: 'failed', message: e.message });
              btn.disabled = false;
            }
          },
        }, 'Update');
        return h('div', { class: 'row-actions update-actions' }, btn, result);
      },
    });
  }
  const table = dataTable({ columns: cols, rowAttrs: i => ({ 'data-update-name': i.name, 'data-update-kind': i.update ?? 'none' }), sort: { col: 6, dir: -1 } });
  content.append(
    h('div', { class: 'toolbar' }, kindSel, nodeSel, h('label', { class: 'check' }, onlyBox, 'Only with updates'), h('span', { class: 'grow' }), count, refresh, check),
    status, body,
    ctx.can('admin') ? registries(id, ctx) : null);

  function apply() {
    const shown = items.filter(i => (!f.only || i.update) && (!f.kind || i.update === f.kind) && (!f.node || i.node === f.node));
    table.set(shown, items.length ? 'Nothing matches the filter.' : 'No check results yet: the agents check on their own schedule, or press Check now.');
    const available = items.filter(i => i.update).length;
    count.textContent = `${shown.length === items.length ? plural(items.length, 'image') : `${shown.length} of ${items.length}`} · ${plural(available, 'update')}`;
  }

  function show(r) {
    items = r.items ?? [];
    selectOptions(nodeSel, [...(r.nodes ?? []).map(n => n.node), ...items.map(i => i.node)], 'All nodes');
    status.replaceChildren(
      h('div', { class: 'muted small node-checks' }, (r.nodes ?? []).map(n => h('span', { class: 'node-check', 'data-node': n.node },
        h('span', { class: 'strong' }, n.node), ' checked ', n.checked_at ? timeCell(unixDate(n.checked_at)) : 'never', n.checking ? ' (checking)' : ''))),
      (r.missing ?? []).length ? callout('warn', r.missing.map(m => `${m.node}: ${m.reason}`).join('; '), 'Some nodes did not answer') : '');
    apply();
    if (table.el.parentNode !== body) body.replaceChildren(table.el);
  }

  async function load() {
    refresh.disabled = true;
    try {
      show(await get(ep(id, '/updates'), { signal: ctx.signal }));
    } catch (e) {
      if (aborted(ctx, e)) return;
      body.replaceChildren(errorBox(e.message, 'Could not read the update checks'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('updates');
}
