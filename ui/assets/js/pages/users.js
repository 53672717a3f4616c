// #/users (admin): the console's users, their roles and passwords.

import { get, post, patch, del, enc, listOf, aborted } from '../api.js';
import {
  h, toDate, timeCell, errorBox, loading, field, toast, confirmDialog, promptDialog, dataTable, pageHead, forbidden,
} from '../ui.js';

const ROLES = ['viewer', 'operator', 'admin'];
const ROLE_HINT = { viewer: 'reads everything', operator: 'also acts on containers and services', admin: 'also users, endpoints, audit' };

export async function users(main, _p, ctx) {
  ctx.title('Users');
  if (!ctx.can('admin')) return forbidden(main, ctx, 'users');
  const body = h('div', null, loading());
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');

  const table = dataTable({
    sort: { col: 0, dir: 1 },
    rowAttrs: u => ({ 'data-username': u.username, 'data-role': u.role }),
    columns: [
      {
        label: 'User', sort: u => u.username,
        cell: u => [h('span', { class: 'strong' }, u.username), u.username === ctx.user.username ? h('span', { class: 'tag' }, 'you') : null,
          u.source === 'oidc' ? h('span', { class: 'tag', title: 'Signs in through the OpenID provider; its groups set the role at each sign-in' }, 'provider') : null],
      },
      {
        label: 'Role', sort: u => ROLES.indexOf(u.role),
        cell: u => {
          const sel = h('select', { class: 'compact', 'data-action': 'role', 'aria-label': `Role of ${u.username}`, value: u.role },
            ROLES.map(r => h('option', { value: r, title: ROLE_HINT[r] }, r)));
          sel.addEventListener('change', async () => {
            const role = sel.value;
            if (u.username === ctx.user.username && !await confirmDialog(`Change your own role to ${role}?`, {
              title: 'Change your role', okText: 'Change', danger: true, detail: 'You may lose access to this page.',
            })) { sel.value = u.role; return; }
            try {
              await patch(`/api/users/${enc(u.username)}`, { role });
              u.role = role;
              toast(`${u.username} is now ${role}`);
            } catch (e) {
              sel.value = u.role;
              toast(e.message, 'error');
            }
          });
          return sel;
        },
      },
      { label: 'Created', sort: u => -(toDate(u.created)?.getTime() ?? 0), cell: u => timeCell(u.created) },
      {
        label: '', cls: 'actions', cell: u => h('div', { class: 'row-actions' },
          h('button', {
            type: 'button', class: 'btn xs', 'data-action': 'password', disabled: u.source === 'oidc',
            onclick: async () => {
              const pw = await promptDialog({
                title: `New password for ${u.username}`, label: 'Password', type: 'password', okText: 'Set password',
                hint: 'At least 8 characters.', validate: v => (v.length < 8 ? 'The password needs at least 8 characters.' : null),
              });
              if (pw == null) return;
              try {
                await patch(`/api/users/${enc(u.username)}`, { password: pw });
                toast(`Password of ${u.username} changed`);
              } catch (e) { toast(e.message, 'error'); }
            },
          }, 'Reset password'),
          h('button', {
            type: 'button', class: 'btn xs danger-ghost', 'data-action': 'delete',
            onclick: async () => {
              if (!await confirmDialog(`Delete the user “${u.username}”?`, { title: 'Delete user', okText: 'Delete', danger: true, detail: 'This cannot be undone.' })) return;
              try {
                await del(`/api/users/${enc(u.username)}`);
                toast(`Deleted ${u.username}`);
              } catch (e) { toast(e.message, 'error'); }
              load();
            },
          }, 'Delete')),
      },
    ],
  });

  const name = h('input', { id: 'user-username', required: true, autocomplete: 'off', spellcheck: false });
  const pass = h('input', { id: 'user-password', type: 'password', required: true, minLength: 8, autocomplete: 'new-password' });
  const role = h('select', { id: 'user-role', value: 'viewer' }, ROLES.map(r => h('option', { value: r }, `${r}: ${ROLE_HINT[r]}`)));
  const err = h('p', { id: 'user-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'user-submit', class: 'btn primary', type: 'submit' }, 'Add user');
  const form = h('form', {
    class: 'stack', novalidate: true,
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      if (!name.value.trim()) return void (err.textContent = 'Enter a user name.');
      if (pass.value.length < 8) return void (err.textContent = 'The password needs at least 8 characters.');
      submit.disabled = true;
      try {
        const u = await post('/api/users', { username: name.value.trim(), password: pass.value, role: role.value });
        toast(`Added ${u?.username ?? name.value.trim()} (${u?.role ?? role.value})`);
        form.reset();
        role.value = 'viewer';
        load();
      } catch (x) {
        err.textContent = x.message;
      } finally {
        submit.disabled = false;
      }
    },
  }, field('Username', name), field('Password', pass, 'At least 8 characters.'), field('Role', role), err, h('div', null, submit));

  main.append(pageHead('Users', refresh), h('div', { class: 'split' },
    h('section', { class: 'list' }, body),
    h('div', { class: 'side' }, h('section', { class: 'panel' }, h('h2', null, 'Add a user'), form))));

  async function load() {
    refresh.disabled = true;
    try {
      table.set(listOf(await get('/api/users', { signal: ctx.signal })));
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (!aborted(ctx, e)) body.replaceChildren(errorBox(e.message, 'Could not list the users'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('users');
}
