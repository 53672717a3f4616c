// The first-run page: create the first administrator (shown by app.js, not routed).

import { post } from '../api.js';
import { h, field, authCard } from '../ui.js';

export function setup(main, { onLogin }) {
  const user = h('input', { id: 'setup-username', autocomplete: 'username', required: true, value: 'admin', spellcheck: false });
  const pass = h('input', { id: 'setup-password', type: 'password', autocomplete: 'new-password', required: true, minLength: 8 });
  const confirm = h('input', { id: 'setup-confirm', type: 'password', autocomplete: 'new-password', required: true });
  const err = h('p', { id: 'setup-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'setup-submit', class: 'btn primary wide', type: 'submit' }, 'Create administrator');
  const form = h('form', {
    class: 'stack', novalidate: true,
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      if (!user.value.trim()) return void (err.textContent = 'Choose a user name.');
      if (pass.value.length < 8) return void (err.textContent = 'The password needs at least 8 characters.');
      if (pass.value !== confirm.value) return void (err.textContent = 'The two passwords differ.');
      submit.disabled = true;
      try {
        onLogin(await post('/api/setup', { username: user.value.trim(), password: pass.value }, { authRedirect: false }));
      } catch (x) {
        err.textContent = x.message;
      } finally {
        submit.disabled = false;
      }
    },
  }, field('Username', user), field('Password', pass, 'At least 8 characters.'), field('Confirm password', confirm), err, submit);
  main.append(authCard('Welcome', 'Create the first administrator to start using the console.', form));
  main.dataset.page = 'setup';
  user.select();
}
