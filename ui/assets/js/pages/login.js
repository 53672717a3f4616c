// The sign-in page (shown by app.js, not routed): a password form, and "Sign in with …"
// when the console offers an OpenID provider; a provider's refusal comes back as
// ?oidc_error=… and is shown here.

import { get, post } from '../api.js';
import { h, field, authCard } from '../ui.js';

export function login(main, { onLogin }) {
  const user = h('input', { id: 'login-username', autocomplete: 'username', required: true, spellcheck: false });
  const pass = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { id: 'login-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'login-submit', class: 'btn primary wide', type: 'submit' }, 'Sign in');
  const sso = h('div', { class: 'login-sso' });
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
  main.append(authCard('Sign in', 'Bosun console for Docker clusters.', h('div', null, form, sso)));
  main.dataset.page = 'login';
  user.focus();

  // The provider's answer is shown once; the address loses it so a reload does not.
  const params = new URLSearchParams(location.search);
  if (params.has('oidc_error')) {
    // Framed as the provider's, so that a crafted link cannot pass for the console's own words.
    err.textContent = `Sign-in through the provider failed: ${params.get('oidc_error')}`;
    history.replaceState(null, '', `/${location.hash}`);
  }
  get('/api/oidc', { authRedirect: false }).then(offer => {
    if (!offer?.enabled) return;
    sso.replaceChildren(
      h('div', { class: 'login-or muted' }, 'or'),
      h('a', { id: 'login-oidc', class: 'btn wide', href: '/api/oidc/login' }, `Sign in with ${offer.label}`));
  }).catch(() => {});
}
