// #/tokens: the signed-in user's personal access tokens (admins see everybody's), for the
// docker CLI through the console and for scripts; a new one is shown once, with the
// settings that point the docker CLI at an endpoint.

import { get, post, del, listOf, aborted } from '../api.js';
import {
  h, badge, errorBox, loading, copyButton, field, toast, confirmDialog, dataTable, pageHead, unixWhen,
} from '../ui.js';

/** What points the docker CLI at endpoint `e` through this console with `token`. */
export function dockerSetup(e, token) {
  const host = `tcp://${location.host}/api/endpoints/${e.id}/docker`;
  return [
    '# In ~/.bosun: ca.pem, the CA of the console\'s certificate, and the CLI\'s config with the token.',
    'mkdir -p ~/.bosun && cat > ~/.bosun/config.json <<\'EOF\'',
    JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }),
    'EOF',
    `export DOCKER_HOST=${host} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=~/.bosun DOCKER_CONFIG=~/.bosun`,
    'docker ps',
  ].join('\n');
}

export async function tokens(main, _p, ctx) {
  ctx.title('Tokens');
  const admin = ctx.can('admin');
  const body = h('div', null, loading('Listing the tokens…'));
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');

  const table = dataTable({
    sort: { col: 3, dir: -1 },
    empty: 'No personal tokens yet.',
    rowAttrs: t => ({ 'data-token-id': t.id, 'data-token-name': t.name }),
    columns: [
      { label: 'Name', sort: t => t.name, cell: t => h('span', { class: 'strong' }, t.name) },
      ...(admin ? [{ label: 'User', sort: t => t.username, cell: t => t.username }] : []),
      {
        label: 'State', sort: t => (t.expires && t.expires * 1000 <= Date.now() ? 0 : 1),
        cell: t => (t.expires && t.expires * 1000 <= Date.now() ? badge('expired', 'grey') : badge('usable', 'ok')),
      },
      { label: 'Made', sort: t => t.created, cell: t => unixWhen(t.created) },
      { label: 'Expires', sort: t => t.expires ?? Infinity, cell: t => (t.expires ? unixWhen(t.expires) : 'never') },
      { label: 'Last used', sort: t => t.last_used ?? 0, cell: t => unixWhen(t.last_used) },
      {
        label: '', cls: 'actions', cell: t => h('button', {
          class: 'btn xs danger-ghost', type: 'button', 'data-action': 'delete-token',
          onclick: async () => {
            if (!await confirmDialog(`Delete the token “${t.name}”${t.username !== ctx.user.username ? ` of ${t.username}` : ''}?`, {
              title: 'Delete token', okText: 'Delete', danger: true,
              detail: 'Whatever uses it stops working now; a followed log or an exec through it ends.',
            })) return;
            try {
              await del(`/api/tokens/${t.id}`);
              toast(`Deleted the token “${t.name}”`);
            } catch (x) { toast(x.message, 'error'); }
            load();
          },
        }, 'Delete'),
      },
    ],
  });

  const name = h('input', { id: 'token-name', required: true, autocomplete: 'off', placeholder: 'laptop' });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, placeholder: 'never' });
  const endpoint = h('select', { id: 'token-endpoint' });
  const shown = h('div', { id: 'token-shown', hidden: true });
  const err = h('p', { class: 'form-error', role: 'alert', id: 'token-error' });
  let endpoints = [];
  const form = h('form', {
    class: 'stack',
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      if (!name.value.trim()) return void (err.textContent = 'Name the token: where it is used.');
      try {
        const made = await post('/api/tokens', { name: name.value.trim(), ttl_days: days.value ? Number(days.value) : null });
        const ep = endpoints.find(x => String(x.id) === endpoint.value) ?? endpoints[0];
        const setup = ep ? dockerSetup(ep, made.token) : null;
        shown.replaceChildren(
          h('div', { class: 'panel-head' }, h('strong', null, 'The token, shown once'), copyButton(() => made.token)),
          h('pre', { class: 'keybox mono', id: 'token-value' }, made.token),
          setup ? h('div', { class: 'panel-head' }, h('span', { class: 'hint' }, `The docker CLI at ${ep.name}:`), copyButton(() => setup, 'Copy')) : null,
          setup ? h('pre', { class: 'keybox mono', id: 'token-docker' }, setup) : null);
        shown.hidden = false;
        form.querySelector('button[type=submit]').blur();
        name.value = '';
        load();
      } catch (x) { err.textContent = x.message; }
    },
  },
  h('p', { class: 'hint' }, 'A token acts as you, with your role at the time of each request. Send it as “Authorization: Bearer …”.'),
  field('Name', name, 'Where it is used: a laptop, a CI job.'),
  field('Expires after (days)', days, 'Empty: it does not expire.'),
  field('Docker CLI at', endpoint, 'Which endpoint the settings shown with the new token point at.'),
  err, h('div', null, h('button', { class: 'btn primary', type: 'submit', id: 'token-submit' }, 'Make token')), shown);

  main.append(pageHead(admin ? 'Personal tokens (everybody’s)' : 'Your tokens', refresh), h('div', { class: 'split' },
    h('section', { class: 'list' }, body),
    h('div', { class: 'side' }, h('section', { class: 'panel' }, h('h2', null, 'Make a token'), form))));

  async function load() {
    refresh.disabled = true;
    try {
      const [list, eps] = await Promise.all([
        get(`/api/tokens${admin ? '?all=1' : ''}`, { signal: ctx.signal }),
        get('/api/endpoints', { signal: ctx.signal }),
      ]);
      endpoints = listOf(eps);
      const picked = endpoint.value;
      endpoint.replaceChildren(...endpoints.map(x => h('option', { value: String(x.id) }, x.name)));
      if (picked) endpoint.value = picked;
      table.set(listOf(list));
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (!aborted(ctx, e)) body.replaceChildren(errorBox(e.message, 'Could not list the tokens'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('tokens');
}
