// #/endpoints (admin): the clusters' agents, their profiles, the console's public key, and
// the edge agents that dial in with their enrol tokens (endpoints/edge.js).

import { get, post, patch, del, ep, listOf, aborted } from '../api.js';
import {
  h, badge, errorBox, loading, copyButton, field, toast, modal, confirmDialog, dataTable, pageHead, forbidden,
} from '../ui.js';
import { endpointCache, remember } from '../cluster.js';
import { edgeSection } from './endpoints/edge.js';

// Which profile of the agents' policy (--policy) a user or role acts under on an
// endpoint. A user's entry wins over the role's; with neither, the role's scope applies.
const PROFILES_EXAMPLE = '{\n  "roles": {"viewer": "read", "operator": "deployer"},\n  "users": {"alice": "payments"}\n}';
const PROFILES_HINT = 'Optional JSON: roles (viewer, operator, admin) and users, each to a profile name of the agents’ policy. '
  + 'A user’s entry wins over the role’s; with neither, viewers act as “read” and operators and admins as “admin”.';

const hasProfiles = p => Object.keys(p?.roles ?? {}).length + Object.keys(p?.users ?? {}).length > 0;
const profilesText = p => (hasProfiles(p) ? JSON.stringify({ roles: p.roles ?? {}, users: p.users ?? {} }, null, 2) : '');

/** A textarea's mapping: empty text is none; anything but a JSON object throws. */
function parseProfiles(text) {
  const t = text.trim();
  if (!t) return {};
  let v;
  try { v = JSON.parse(t); } catch (e) { throw new Error(`The profiles are not JSON: ${e.message}`); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('The profiles are a JSON object: {"roles": {…}, "users": {…}}');
  return v;
}

const profilesProblem = text => { try { parseProfiles(text); return null; } catch (e) { return e.message; } };

function profilesCell(p) {
  if (!hasProfiles(p)) return h('span', { class: 'muted small', title: 'Viewers act as “read”, operators and admins as “admin”' }, 'role scopes');
  const rows = [
    ...Object.entries(p.roles ?? {}).map(([who, name]) => [who, name, 'role']),
    ...Object.entries(p.users ?? {}).map(([who, name]) => [who, name, 'user']),
  ];
  return h('ul', { class: 'profile-map' }, rows.map(([who, name, kind]) => h('li', { 'data-profile-for': `${kind}:${who}` },
    h('span', { class: kind === 'user' ? 'strong' : 'muted' }, kind === 'user' ? who : `${who}s`), ' → ', h('span', { class: 'mono' }, name))));
}

/** The mapping's editor; true once saved. A refusal keeps the text for another try. */
async function editProfiles(e) {
  let text = profilesText(e.profiles);
  for (;;) {
    const area = h('textarea', { id: 'profiles-input', rows: 8, spellcheck: false, class: 'mono', placeholder: PROFILES_EXAMPLE, value: text });
    const answer = await modal({
      title: `Agent profiles on ${e.name}`, okText: 'Save',
      body: field('Users and roles to profiles (JSON)', area, PROFILES_HINT),
      validate: () => profilesProblem(area.value),
      result: () => area.value,
    });
    if (answer == null) return false;
    text = answer;
    try {
      await patch(ep(e.id), { profiles: parseProfiles(text) });
      toast(hasProfiles(parseProfiles(text)) ? `Saved the profiles of ${e.name}` : `${e.name} uses the role scopes again`);
      return true;
    } catch (x) { toast(x.message, 'error'); }
  }
}

export async function endpoints(main, _p, ctx) {
  ctx.title('Endpoints');
  if (!ctx.can('admin')) return forbidden(main, ctx, 'endpoints');
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const listBox = h('div', null, loading('Asking the agents…'));
  const keyPre = h('pre', { id: 'console-key', class: 'keybox' }, 'Loading…');

  const table = dataTable({
    sort: { col: 0, dir: 1 },
    empty: 'No endpoints yet. Add one with the form.',
    rowAttrs: e => ({ 'data-endpoint-name': e.name, 'data-endpoint-id': e.id }),
    columns: [
      { label: 'Name', sort: e => e.name, cell: e => h('a', { href: `#/e/${e.id}/containers`, class: 'strong' }, e.name) },
      { label: 'URL', sort: e => e.url, cls: 'mono url', cell: e => h('span', { title: e.url }, e.url) },
      { label: 'Auth', sort: e => e.auth, cell: e => (e.auth === 'key' ? 'console key' : 'cluster secret') },
      {
        // An agent's error can be kilobytes without a space: it wraps anywhere and shows a
        // few lines, the whole in its tooltip, so the row's buttons stay on screen.
        label: 'Status', cls: 'status', sort: e => (e.status?.reachable ? 1 : 0), cell: e => (e.status?.reachable
          ? [badge('reachable', 'ok'), e.status.error ? h('div', { class: 'warn-text small status-error', title: e.status.error }, e.status.error) : null]
          : [badge('unreachable', 'bad'), h('div', { class: 'error-text small status-error', title: e.status?.error ?? null }, e.status?.error ?? '')]),
      },
      { label: 'Nodes', cls: 'num', cell: e => (e.status?.reachable ? `${e.status.nodes_up}/${e.status.nodes_total}` : '—') },
      { label: 'Containers', cls: 'num', cell: e => (e.status?.reachable ? `${e.status.containers_running}/${e.status.containers_total}` : '—') },
      { label: 'Profiles', title: 'The agent profile each user or role acts under', cell: e => profilesCell(e.profiles) },
      {
        label: '', cls: 'actions', cell: e => h('div', { class: 'row-actions' }, h('button', {
          class: 'btn xs', type: 'button', 'data-action': 'profiles',
          onclick: async () => { if (await editProfiles(e)) load(); },
        }, 'Profiles'), h('button', {
          class: 'btn xs danger-ghost', type: 'button', 'data-action': 'delete',
          onclick: async () => {
            if (!await confirmDialog(`Delete the endpoint “${e.name}”?`, {
              title: 'Delete endpoint', okText: 'Delete', danger: true,
              detail: 'The console forgets it; the agents and their cluster are not touched.',
            })) return;
            try {
              await del(ep(e.id));
              endpointCache.delete(String(e.id));
              toast(`Deleted endpoint ${e.name}`);
            } catch (x) { toast(x.message, 'error'); }
            load();
          },
        }, 'Delete')),
      },
    ],
  });

  // The form to add one.
  const name = h('input', { id: 'endpoint-name', required: true, autocomplete: 'off', placeholder: 'production' });
  const url = h('input', { id: 'endpoint-url', required: true, autocomplete: 'off', spellcheck: false, class: 'mono', placeholder: 'https://10.0.0.5:9001' });
  const ca = h('textarea', { id: 'endpoint-ca', required: true, rows: 6, spellcheck: false, class: 'mono', placeholder: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----' });
  const caFile = h('input', { type: 'file', accept: '.pem,.crt,.cer,text/plain', class: 'file' });
  caFile.addEventListener('change', async () => { if (caFile.files[0]) ca.value = await caFile.files[0].text(); });
  const auth = h('select', { id: 'endpoint-auth' },
    h('option', { value: 'secret' }, 'secret: the cluster secret (HS256)'),
    h('option', { value: 'key' }, 'key: the console’s own key (EdDSA)'));
  const secret = h('input', { id: 'endpoint-secret', type: 'password', autocomplete: 'off', spellcheck: false, class: 'mono' });
  const secretField = field('Cluster secret', secret, 'The contents of the agents’ secret file. It is never shown again.');
  const profiles = h('textarea', { id: 'endpoint-profiles', rows: 4, spellcheck: false, class: 'mono', placeholder: PROFILES_EXAMPLE });
  const keyHint = h('p', { class: 'hint' }, 'The agents must trust the console’s public key (below) with --jwt-public-key.');
  const err = h('p', { id: 'endpoint-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'endpoint-submit', class: 'btn primary', type: 'submit' }, 'Add endpoint');
  const syncAuth = () => {
    const isSecret = auth.value === 'secret';
    secretField.hidden = !isSecret;
    secret.required = isSecret;
    keyHint.hidden = isSecret;
  };
  auth.addEventListener('change', syncAuth);
  syncAuth();
  const form = h('form', {
    class: 'stack',
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      const body = { name: name.value.trim(), url: url.value.trim(), ca_pem: ca.value.trim() + '\n', auth: auth.value };
      if (auth.value === 'secret') body.secret = secret.value.trim();
      try { body.profiles = parseProfiles(profiles.value); } catch (x) { err.textContent = x.message; return; }
      submit.disabled = true;
      try {
        const created = await post('/api/endpoints', body);
        toast(`Added endpoint ${created?.name ?? body.name}`);
        form.reset();
        syncAuth();
        load();
      } catch (x) {
        err.textContent = x.message;
      } finally {
        submit.disabled = false;
      }
    },
  },
  field('Name', name),
  field('Agent URL', url, 'https://HOST:PORT of any agent of the cluster.'),
  h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Cluster CA (PEM)'), ca, h('span', { class: 'hint' }, 'Or load a file: ', caFile)),
  field('Authentication', auth), secretField, keyHint,
  field('Agent profiles', profiles, PROFILES_HINT), err, h('div', null, submit));

  const edge = edgeSection(ctx, () => load());
  main.append(pageHead('Endpoints', refresh), h('div', { class: 'split' },
    h('section', { class: 'list' }, listBox, edge.list),
    h('div', { class: 'side' },
      h('section', { class: 'panel' }, h('h2', null, 'Add an endpoint'), form),
      edge.form,
      h('section', { class: 'panel' },
        h('div', { class: 'panel-head' }, h('h2', null, 'Console public key'), copyButton(() => keyPre.textContent)),
        h('p', { class: 'hint' }, 'For endpoints with auth “key”: give this Ed25519 key to every agent (--jwt-public-key).'),
        keyPre))));

  async function load() {
    refresh.disabled = true;
    try {
      const list = listOf(await get('/api/endpoints', { signal: ctx.signal }));
      remember(list);
      table.set(list);
      if (table.el.parentNode !== listBox) listBox.replaceChildren(table.el);
    } catch (e) {
      if (!aborted(ctx, e)) listBox.replaceChildren(errorBox(e.message, 'Could not list the endpoints'));
    } finally {
      refresh.disabled = false;
    }
  }
  async function loadKey() {
    try {
      keyPre.textContent = (await get('/api/console-key', { signal: ctx.signal })).public_key_pem ?? '';
    } catch (e) {
      if (!aborted(ctx, e)) keyPre.textContent = e.message;
    }
  }
  refresh.addEventListener('click', () => edge.load());
  await Promise.all([load(), loadKey(), edge.load()]);
  ctx.done('endpoints');
}
