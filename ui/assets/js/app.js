// Entry point: start-up (setup / session / login), the top bar and the hash router.

import { get, post, setCsrf, onUnauthorized } from './api.js';
import { h, toast, closeModal, errorBox, labelTableCells } from './ui.js';
import { themeSwitch } from './theme.js';
import { installShortcuts, showShortcuts } from './shortcuts.js';
import { login } from './pages/login.js';
import { setup } from './pages/setup.js';
import { home } from './pages/home.js';
import { endpoints } from './pages/endpoints.js';
import { users } from './pages/users.js';
import { audit } from './pages/audit.js';
import { tokens } from './pages/tokens.js';
import { channels } from './pages/channels.js';
import { alerts } from './pages/alerts.js';
import { nodes } from './pages/nodes.js';
import { node } from './pages/node.js';
import { top } from './pages/top.js';
import { containers } from './pages/containers.js';
import { container } from './pages/container.js';
import { services } from './pages/services.js';
import { tasks } from './pages/tasks.js';
import { images } from './pages/images.js';
import { volumes } from './pages/volumes.js';
import { networks } from './pages/networks.js';
import { events } from './pages/events.js';
import { create } from './pages/create.js';
import { logs } from './pages/logs.js';
import { updates } from './pages/updates.js';
import { checks } from './pages/checks.js';
import { notFound } from './pages/not-found.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const RANK = { viewer: 0, operator: 1, admin: 2 };

// The routed pages by the name parse() gives. Each renders into <main>, registers its
// clean-ups with ctx.onLeave and calls ctx.done(name) once its data is on screen.
const pages = {
  home, endpoints, users, audit, tokens, alerts, channels, nodes, node, top, containers, container, services, tasks, images, volumes, networks, events, create, logs, updates, checks, notFound,
};

const state = { user: null, screen: null };
let current = null; // the shown page: { ctrl, cleanups }

/** Route from the hash: #/e/3/containers/abc/logs → { page, params }. */
function parse(hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  let parts;
  try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch { parts = ['?']; }
  const params = { query: new URLSearchParams(qs) };
  const [a, b, c, d, e] = parts;
  if (!a) return { page: 'home', params };
  if (parts.length === 1 && ['endpoints', 'users', 'audit', 'tokens', 'channels', 'alerts'].includes(a)) return { page: a, params };
  if (a === 'e' && b) {
    params.id = b;
    if (!c) return { page: 'containers', params, redirect: `#/e/${encodeURIComponent(b)}/containers` };
    if (c === 'containers' && d && parts.length <= 5) return { page: 'container', params: { ...params, cid: d, tab: e } };
    if (c === 'nodes' && d && parts.length === 4) return { page: 'node', params: { ...params, node: d } };
    if (parts.length === 3 && ['nodes', 'top', 'containers', 'services', 'tasks', 'images', 'volumes', 'networks', 'events', 'create', 'logs', 'updates', 'checks'].includes(c)) return { page: c, params };
  }
  return { page: 'notFound', params };
}

function leave() {
  closeModal();
  if (!current) return;
  current.ctrl.abort();
  for (const fn of current.cleanups.splice(0)) {
    try { fn(); } catch (e) { console.error(e); }
  }
  current = null;
}

function fresh() {
  leave();
  main.removeAttribute('data-page');
  main.replaceChildren();
  main.scrollTop = 0;
}

async function route() {
  if (!state.user) return;
  const r = parse(location.hash);
  if (r.redirect) { history.replaceState(null, '', r.redirect); }
  fresh();
  state.screen = 'app';
  markNav(r.page);
  const ctrl = new AbortController();
  const page = { ctrl, cleanups: [] };
  current = page;
  const ctx = {
    signal: ctrl.signal,
    user: state.user,
    can: role => (RANK[state.user?.role] ?? -1) >= RANK[role],
    onLeave: fn => { if (ctrl.signal.aborted) fn(); else page.cleanups.push(fn); },
    every: (ms, fn) => { const t = setInterval(fn, ms); ctx.onLeave(() => clearInterval(t)); },
    done: name => { if (!ctrl.signal.aborted) main.dataset.page = name; },
    title: t => { if (!ctrl.signal.aborted) document.title = `${t} · Bosun`; },
  };
  try {
    await pages[r.page](main, r.params, ctx);
    // On a narrow screen the cluster's tabs scroll sideways: keep the current one in view.
    if (!ctrl.signal.aborted) main.querySelector('.subnav a.active')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  } catch (e) {
    if (ctrl.signal.aborted || e?.name === 'AbortError') return;
    console.error(e);
    main.append(errorBox(e.message || String(e), 'This page failed'));
    ctx.done(r.page);
  }
}

// ---- top bar -------------------------------------------------------------

function renderTopbar() {
  const u = state.user;
  if (!u) { topbar.hidden = true; topbar.replaceChildren(); return; }
  const links = [['home', '#/', 'Clusters'], ['alerts', '#/alerts', 'Alerts'], ['channels', '#/channels', 'Notifications']];
  if (u.role === 'admin') links.push(['endpoints', '#/endpoints', 'Endpoints'], ['users', '#/users', 'Users'], ['audit', '#/audit', 'Audit']);
  links.push(['tokens', '#/tokens', 'Tokens']);
  // On a narrow screen everything after the brand folds behind the menu button.
  const toggle = h('button', {
    id: 'menu-toggle', class: 'btn ghost small menu-toggle', type: 'button',
    'aria-expanded': 'false', 'aria-controls': 'topbar-menu', 'aria-label': 'Menu',
    onclick: () => setMenu(!topbar.classList.contains('open')),
  }, h('span', { class: 'menu-icon', 'aria-hidden': 'true' }), 'Menu');
  topbar.replaceChildren(
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'brand-mark' }), 'Bosun'),
    toggle,
    h('div', { id: 'topbar-menu', class: 'topbar-menu' },
      h('nav', { class: 'mainnav', 'aria-label': 'Main' }, links.map(([key, href, label]) => h('a', { href, 'data-nav': key }, label))),
      h('span', { class: 'grow' }),
      themeSwitch(),
      h('button', { id: 'shortcuts-help', class: 'btn ghost small', type: 'button', title: 'Keyboard shortcuts (?)', 'aria-label': 'Keyboard shortcuts', onclick: showShortcuts }, '?'),
      h('span', { class: 'who' },
        h('span', { id: 'current-user' }, u.username),
        h('span', { class: `role role-${u.role}`, id: 'current-role' }, u.role)),
      h('button', { id: 'logout', class: 'btn ghost small', type: 'button', onclick: logout }, 'Sign out')));
  topbar.hidden = false;
}

function setMenu(open) {
  topbar.classList.toggle('open', open);
  topbar.querySelector('#menu-toggle')?.setAttribute('aria-expanded', String(open));
}

document.addEventListener('click', e => {
  if (topbar.classList.contains('open') && !topbar.contains(e.target)) setMenu(false);
});
document.addEventListener('keydown', e => {
  if (e.key === 'Escape' && topbar.classList.contains('open')) setMenu(false);
});

function markNav(page) {
  const cluster = !['endpoints', 'users', 'audit', 'tokens', 'channels', 'alerts', 'notFound'].includes(page);
  for (const a of topbar.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === page || (cluster && a.dataset.nav === 'home'));
  }
}

// ---- sessions ------------------------------------------------------------

function signedIn(session) {
  state.user = session.user;
  setCsrf(session.csrf);
  renderTopbar();
  route();
}

function showLogin() {
  if (state.screen === 'login') return; // already shown; keep what was typed
  state.user = null;
  setCsrf(null);
  fresh();
  renderTopbar();
  state.screen = 'login';
  document.title = 'Sign in · Bosun';
  login(main, { onLogin: signedIn });
}

function showSetup() {
  state.user = null;
  fresh();
  renderTopbar();
  state.screen = 'setup';
  document.title = 'Set up · Bosun';
  setup(main, { onLogin: signedIn });
}

async function logout() {
  try { await post('/api/logout', {}, { authRedirect: false }); } catch { /* signed out either way */ }
  history.replaceState(null, '', '#/');
  showLogin();
}

onUnauthorized(() => {
  if (state.user) toast('Your session has ended. Please sign in again.', 'error');
  showLogin();
});

async function start() {
  try {
    const s = await get('/api/setup', { authRedirect: false });
    if (s.needed) return showSetup();
    signedIn(await get('/api/session', { authRedirect: false }));
  } catch (e) {
    if (e.status === 401) return showLogin();
    fresh();
    main.append(h('div', { class: 'auth-wrap' }, h('div', { class: 'auth-card' },
      errorBox(e.message, 'The console did not answer'),
      h('button', { class: 'btn primary', type: 'button', onclick: start }, 'Try again'))));
  }
}

window.addEventListener('hashchange', () => { setMenu(false); if (state.user) route(); });
installShortcuts(() => state.screen === 'app');
labelTableCells(main);
start();
