// The sign-in page (shown by app.js, not routed).

import { post } from '../api.js';
import { h, field, authCard } from '../ui.js';

export function login(main, { onLogin }) {
  const user = h('input', { id: 'login-username', autocomplete: 'username', required: true, spellcheck: false });
  const pass = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { id: 'login-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'login-submit', class: 'btn primary wide', type: 'submit' }, 'Sign in');
  const form = h('form', {
    class: 'stack',
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      submit.disabled = true;
      try {
        const s = await post('/api/login', { username: user.value.trim(), password: pass.value }, { authRedirect: false });
        onLogin(s);
      } catch (x) {
        err.textContent = x.message;
        pass.select();
      } finally {
        submit.disabled = false;
      }
    },
  }, field('Username', user), field('Password', pass), err, submit);
  main.append(authCard('Sign in', 'Bosun console for Docker clusters.', form));
  main.dataset.page = 'login';
  user.focus();
}
