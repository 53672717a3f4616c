// Every page of the console. A page renders into <main>, registers its clean-ups with
// ctx.onLeave and calls ctx.done(name) once its data is on screen.

import { get, getText, post, patch, del, ep, query } from './api.js';
import {
  h, debounce, toDate, unixDate, relTime, fmtTime, timeCell, bytes, shortId, plural,
  badge, stateBadge, mono, errorBox, callout, loading, liveIndicator, copyButton, field,
  toast, modal, confirmDialog, promptDialog, dataTable,
} from './ui.js';

const enc = encodeURIComponent;
const cname = c => (c.Names?.[0] ?? shortId(c.Id)).replace(/^\//, '');
const nodeOf = x => x?.Agent?.NodeName ?? '';
const aborted = (ctx, e) => ctx.signal.aborted || e?.name === 'AbortError';
const listOf = r => (Array.isArray(r) ? r : Array.isArray(r?.items) ? r.items : []);
const dash = v => (v == null || v === '' ? '—' : v);

// Endpoints seen in lists, so a cluster's pages can show its name at once.
const endpointCache = new Map();
const remember = list => { for (const e of list) endpointCache.set(String(e.id), e); };

function pageHead(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'page-actions' }, actions));
}

function forbidden(main, ctx, page) {
  main.append(pageHead('Not allowed'),
    callout('warn', `This page is for administrators; you are signed in as ${ctx.user.role}.`));
  ctx.done(page);
}

const partialBanner = p => (p ? callout('warn', `Some nodes did not answer: ${p}`) : null);

function selectOptions(sel, values, allLabel) {
  const keep = sel.value;
  const list = [...new Set(values.filter(Boolean))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (keep && !list.includes(keep)) list.push(keep);
  sel.replaceChildren(h('option', { value: '' }, allLabel), ...list.map(v => h('option', { value: v }, v)));
  sel.value = keep;
}

/**
 * The cluster's event stream while the page is shown; reopened after 5 s if it fails.
 * onStatus gets 'connecting' | 'live' | 'reconnecting' | 'off'.
 */
function liveEvents(id, ctx, onEvent, onStatus = () => {}) {
  let es = null;
  let timer = null;
  let closed = false;
  const open = () => {
    onStatus('connecting');
    es = new EventSource(ep(id, '/events'));
    es.onopen = () => onStatus('live');
    es.onmessage = m => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev && typeof ev === 'object') onEvent(ev);
    };
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        onStatus('off');
        es.close();
        get('/api/session').catch(() => {}); // a lapsed session sends us to the login page
        timer = setTimeout(open, 5000);
      } else onStatus('reconnecting');
    };
  };
  open();
  ctx.onLeave(() => { closed = true; clearTimeout(timer); es?.close(); });
}

// ---- a cluster's frame: crumbs and sub-navigation ------------------------

const SECTIONS = [
  ['nodes', 'Nodes'], ['containers', 'Containers'], ['services', 'Services'], ['tasks', 'Tasks'],
  ['images', 'Images'], ['volumes', 'Volumes'], ['networks', 'Networks'], ['events', 'Events'],
];

function endpointShell(main, id, active, ctx, title) {
  const known = endpointCache.get(String(id));
  const name = h('span', { class: 'ep-title' }, known?.name ?? `Endpoint ${id}`);
  const url = h('span', { class: 'ep-url mono' }, known?.url ?? '');
  const setTitle = n => ctx.title(`${title} · ${n}`);
  setTitle(known?.name ?? `Endpoint ${id}`);
  if (!known) {
    get(ep(id), { signal: ctx.signal }).then(e => {
      endpointCache.set(String(id), e);
      name.textContent = e.name;
      url.textContent = e.url;
      setTitle(e.name);
    }).catch(() => {});
  }
  const nav = h('nav', { class: 'subnav', 'aria-label': 'Cluster' }, SECTIONS.map(([key, label]) =>
    h('a', { href: `#/e/${id}/${key}`, class: key === active ? 'active' : null, 'aria-current': key === active ? 'page' : null }, label)));
  const content = h('div', { class: 'ep-content' });
  main.append(h('div', { class: 'ep-head' },
    h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Clusters'), h('span', { class: 'sep' }, '/'), name, url), nav), content);
  return content;
}

/**
 * A cluster list page: toolbar (search, node filter, count, refresh), partial warning,
 * error or table. cfg: section, title, noun, path | load, columns(env), search, nodeOf,
 * rowAttrs, sort, errorView.
 */
async function listSection(main, { id }, ctx, cfg) {
  const content = endpointShell(main, id, cfg.section, ctx, cfg.title);
  const pickNode = cfg.nodeOf ?? nodeOf;
  const f = { q: '', node: '' };
  let items = [];
  const search = cfg.search && h('input', {
    type: 'search', class: 'search', placeholder: cfg.searchPlaceholder ?? 'Search', 'aria-label': 'Search',
    oninput: e => { f.q = e.target.value.trim().toLowerCase(); apply(); },
  });
  const nodeSel = cfg.nodeFilter !== false && h('select', { 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  const count = h('span', { class: 'count' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const note = h('div');
  const body = h('div', null, loading());
  const table = dataTable({ columns: cfg.columns({ id, ctx, reload: () => load() }), rowAttrs: cfg.rowAttrs, sort: cfg.sort });
  content.append(h('div', { class: 'toolbar' }, search, nodeSel, h('span', { class: 'grow' }), count, refresh), note, body);

  function apply() {
    const shown = items.filter(x => (!f.node || pickNode(x) === f.node) && (!f.q || cfg.search(x).toLowerCase().includes(f.q)));
    table.set(shown, items.length ? 'Nothing matches the filter.' : `No ${cfg.noun}.`);
    count.textContent = shown.length === items.length ? plural(items.length, cfg.one ?? cfg.noun.replace(/s$/, ''), cfg.noun) : `${shown.length} of ${items.length}`;
  }

  async function load() {
    refresh.disabled = true;
    try {
      const r = await (cfg.load ? cfg.load(id, ctx.signal) : get(ep(id, cfg.path), { signal: ctx.signal }));
      items = listOf(r);
      note.replaceChildren(partialBanner(r?.partial) ?? '');
      if (nodeSel) selectOptions(nodeSel, items.map(pickNode), 'All nodes');
      apply();
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (aborted(ctx, e)) return;
      note.replaceChildren();
      count.textContent = '';
      body.replaceChildren(cfg.errorView ? cfg.errorView(e) : errorBox(e.message, `Could not list the ${cfg.noun}`));
    } finally {
      refresh.disabled = false;
    }
  }

  await load();
  ctx.done(cfg.section);
}

// ---- login and first run -------------------------------------------------

function authCard(title, sub, form) {
  return h('div', { class: 'auth-wrap' }, h('div', { class: 'auth-card' },
    h('div', { class: 'brand big' }, h('span', { class: 'brand-mark' }), 'Bosun'),
    h('h1', null, title), sub && h('p', { class: 'muted' }, sub), form));
}

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

// ---- home: every cluster -------------------------------------------------

function endpointCard(e) {
  const s = e.status ?? {};
  const up = s.reachable;
  const meter = (a, b) => {
    const bar = h('span', { class: 'meter-fill' });
    bar.style.width = `${b ? Math.round((100 * a) / b) : 0}%`;
    return h('span', { class: 'meter' }, bar);
  };
  const fig = (label, a, b, word) => h('div', { class: 'fig' },
    h('div', { class: 'fig-label' }, label),
    h('div', { class: `fig-value${a < b && label === 'Nodes' ? ' warn-text' : ''}` }, `${a ?? '?'}`, h('span', { class: 'fig-of' }, ` / ${b ?? '?'} ${word}`)),
    meter(a ?? 0, b ?? 0));
  return h('article', { class: `card ep-card${up ? '' : ' down'}`, 'data-endpoint-name': e.name, 'data-endpoint-id': e.id },
    h('div', { class: 'card-head' },
      h('a', { class: 'card-title', href: `#/e/${e.id}/containers` }, e.name),
      up ? badge('reachable', 'ok') : badge('unreachable', 'bad')),
    h('div', { class: 'mono muted small clip', title: e.url }, e.url),
    up ? h('div', { class: 'figs' },
      fig('Nodes', s.nodes_up, s.nodes_total, 'up'),
      fig('Containers', s.containers_running, s.containers_total, 'running')) : null,
    s.error ? h('p', { class: up ? 'warn-text small' : 'error-text' }, s.error) : null,
    !up && !s.error ? h('p', { class: 'error-text' }, 'The agent did not answer.') : null,
    h('div', { class: 'card-links' },
      h('a', { href: `#/e/${e.id}/containers` }, 'Containers'),
      h('a', { href: `#/e/${e.id}/nodes` }, 'Nodes'),
      h('a', { href: `#/e/${e.id}/services` }, 'Services'),
      h('a', { href: `#/e/${e.id}/events` }, 'Events')));
}

export async function home(main, _p, ctx) {
  ctx.title('Clusters');
  const summary = h('span', { class: 'muted' });
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const body = h('div', null, loading('Asking the agents…'));
  main.append(pageHead('Clusters', summary, refresh), body);

  async function load() {
    refresh.disabled = true;
    try {
      const list = listOf(await get('/api/endpoints', { signal: ctx.signal }));
      remember(list);
      if (!list.length) {
        body.replaceChildren(h('div', { class: 'empty-state' },
          h('h2', null, 'No clusters yet'),
          ctx.can('admin')
            ? h('p', null, 'Add the agent of a cluster on the ', h('a', { href: '#/endpoints' }, 'Endpoints'), ' page.')
            : h('p', null, 'An administrator has to add an endpoint first.')));
        summary.textContent = '';
        return;
      }
      body.replaceChildren(h('div', { class: 'cards' }, list.map(endpointCard)));
      const ok = list.filter(e => e.status?.reachable);
      const sum = k => ok.reduce((n, e) => n + (e.status[k] || 0), 0);
      summary.textContent = `${ok.length} of ${plural(list.length, 'cluster')} reachable · ${sum('nodes_up')}/${sum('nodes_total')} nodes up · ${sum('containers_running')}/${sum('containers_total')} containers running`;
    } catch (e) {
      if (aborted(ctx, e)) return;
      body.replaceChildren(errorBox(e.message, 'Could not list the clusters'));
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  ctx.done('home');
  ctx.every(30000, load);
}

// ---- endpoints (admin) ---------------------------------------------------

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
      { label: 'URL', sort: e => e.url, cls: 'mono', cell: e => e.url },
      { label: 'Auth', sort: e => e.auth, cell: e => (e.auth === 'key' ? 'console key' : 'cluster secret') },
      {
        label: 'Status', sort: e => (e.status?.reachable ? 1 : 0), cell: e => (e.status?.reachable
          ? [badge('reachable', 'ok'), e.status.error ? h('div', { class: 'warn-text small' }, e.status.error) : null]
          : [badge('unreachable', 'bad'), h('div', { class: 'error-text small' }, e.status?.error ?? '')]),
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

  main.append(pageHead('Endpoints', refresh), h('div', { class: 'split' },
    h('section', { class: 'list' }, listBox),
    h('div', { class: 'side' },
      h('section', { class: 'panel' }, h('h2', null, 'Add an endpoint'), form),
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
  await Promise.all([load(), loadKey()]);
  ctx.done('endpoints');
}

// ---- nodes ---------------------------------------------------------------

const MEMBER_KIND = { alive: 'ok', suspect: 'warn', down: 'bad' };

export function nodes(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'nodes', title: 'Nodes', noun: 'nodes', path: '/nodes', nodeFilter: false,
    search: n => `${n.NodeName} ${n.Role} ${n.Info?.OperatingSystem ?? ''}`, searchPlaceholder: 'Search nodes',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-node-name': n.NodeName, 'data-state': n.State }),
    columns: () => [
      {
        label: 'Name', sort: n => n.NodeName,
        cell: n => [h('span', { class: 'strong' }, n.NodeName), n.Self ? h('span', { class: 'tag', title: 'The agent the console talks to' }, 'endpoint') : null],
      },
      { label: 'Role', sort: n => `${n.Role}${n.Leader ? 0 : 1}`, cell: n => [n.Role ?? '—', n.Leader ? [' ', badge('leader', 'info')] : null] },
      {
        label: 'State', sort: n => n.State,
        cell: n => [badge(n.State ?? 'unknown', MEMBER_KIND[n.State] ?? 'grey'), n.EngineReachable === false ? badge('engine down', 'bad') : null],
      },
      { label: 'Engine', sort: n => n.Info?.ServerVersion, cell: n => [dash(n.Info?.ServerVersion), n.EngineApiVersion ? h('span', { class: 'muted small' }, ` API ${n.EngineApiVersion}`) : null] },
      { label: 'Agent', sort: n => n.AgentVersion, cell: n => dash(n.AgentVersion) },
      { label: 'CPUs', cls: 'num', sort: n => n.Info?.NCPU, cell: n => dash(n.Info?.NCPU) },
      { label: 'Memory', cls: 'num', sort: n => n.Info?.MemTotal, cell: n => (n.Info ? bytes(n.Info.MemTotal) : '—') },
      { label: 'OS', sort: n => n.Info?.OperatingSystem, cell: n => h('span', { title: n.Info?.KernelVersion ? `Kernel ${n.Info.KernelVersion}` : null }, dash(n.Info?.OperatingSystem)) },
      { label: 'Containers', cls: 'num', sort: n => n.Info?.ContainersRunning, cell: n => (n.Info ? `${n.Info.ContainersRunning ?? 0} / ${n.Info.Containers ?? 0}` : '—') },
      { label: 'Seen', sort: n => n.LastSeenSecondsAgo, cell: n => (n.Self || n.LastSeenSecondsAgo == null ? 'now' : timeCell(Date.now() - n.LastSeenSecondsAgo * 1000)) },
    ],
  });
}

// ---- containers ----------------------------------------------------------

const ACTIONS = {
  start: { label: 'Start', done: 'Started' },
  stop: { label: 'Stop', done: 'Stopped', detail: 'It gets SIGTERM, then SIGKILL after its stop timeout.' },
  restart: { label: 'Restart', done: 'Restarted' },
  kill: { label: 'Kill', done: 'Killed', danger: true, detail: 'It gets SIGKILL at once.' },
  remove: { label: 'Remove', done: 'Removed', danger: true, detail: 'It is removed even while running, with its anonymous state. This cannot be undone.' },
};

/** Confirms, then runs one action on a container ({Id, name, node}); true when it worked. */
async function containerAction(id, c, action) {
  const a = ACTIONS[action];
  const ok = await confirmDialog(`${a.label} the container “${c.name}”${c.node ? ` on ${c.node}` : ''}?`, {
    title: `${a.label} container`, okText: a.label, danger: a.danger, detail: a.detail,
  });
  if (!ok) return false;
  const path = ep(id, `/containers/${enc(c.Id)}`);
  try {
    if (action === 'remove') await del(`${path}?force=1`);
    else await post(`${path}/${action}`);
    toast(`${a.done} ${c.name}`);
    return true;
  } catch (e) {
    toast(e.message, 'error');
    return false;
  }
}

function actionButtons(onAction) {
  return h('div', { class: 'row-actions' }, Object.entries(ACTIONS).map(([key, a]) => h('button', {
    type: 'button', class: `btn xs${a.danger ? ' danger-ghost' : ''}`, 'data-action': key,
    onclick: async e => {
      const btn = e.currentTarget;
      btn.disabled = true;
      btn.classList.add('busy');
      try { await onAction(key); } finally { btn.disabled = false; btn.classList.remove('busy'); }
    },
  }, a.label)));
}

/** "0.0.0.0:8080->80/tcp" for each published or exposed port, without repeats. */
function portList(ports) {
  const out = (ports ?? []).map(p => (p.PublicPort
    ? `${p.IP && p.IP.includes(':') ? `[${p.IP}]` : p.IP ?? ''}${p.IP ? ':' : ''}${p.PublicPort}->${p.PrivatePort}/${p.Type}`
    : `${p.PrivatePort}/${p.Type}`));
  const set = new Set(out);
  for (const p of set) if (p.startsWith('[::]:') && set.has(`0.0.0.0:${p.slice(5)}`)) set.delete(p);
  return [...set].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

const portsCell = list => (list.length ? h('div', { class: 'ports' }, list.map(p => h('span', { class: 'mono' }, p))) : h('span', { class: 'muted' }, '—'));

function healthOf(status) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? '');
  if (!m) return null;
  return badge(m[1].replace('health: ', ''), m[1] === 'healthy' ? 'ok-ghost' : m[1] === 'unhealthy' ? 'bad' : 'info');
}

// The state an event leaves a container in, to show before the list is read again.
const EVENT_STATE = { start: 'running', restart: 'running', unpause: 'running', pause: 'paused', die: 'exited', stop: 'exited' };
const QUIET_EVENT = /^(exec_|attach|detach|resize|top|archive-path|extract-to-dir|copy|export|commit)/;

// Filters last as long as the page session, per cluster.
const containerFilters = new Map();

function labelTerms(text) {
  return text.split(',').map(t => t.trim()).filter(Boolean).map(t => {
    const i = t.indexOf('=');
    return i < 0 ? [t, undefined] : [t.slice(0, i).trim(), t.slice(i + 1).trim()];
  });
}

export async function containers(main, params, ctx) {
  const { id } = params;
  const content = endpointShell(main, id, 'containers', ctx, 'Containers');
  const canAct = ctx.can('operator');
  const f = containerFilters.get(id) ?? { q: '', node: '', state: '', label: '' };
  containerFilters.set(id, f);
  let items = [];
  let seq = 0;
  let loaded = false;

  const search = h('input', {
    id: 'container-search', type: 'search', class: 'search', placeholder: 'Search name or image', 'aria-label': 'Search', value: f.q,
    oninput: e => { f.q = e.target.value; apply(); },
  });
  const nodeSel = h('select', { id: 'container-node', 'aria-label': 'Node', onchange: e => { f.node = e.target.value; apply(); } });
  const stateSel = h('select', { id: 'container-state', 'aria-label': 'State', onchange: e => { f.state = e.target.value; apply(); } });
  const labelIn = h('input', {
    id: 'container-label', type: 'text', class: 'label-filter mono', placeholder: 'label: key or key=value', 'aria-label': 'Label filter',
    value: f.label, spellcheck: false, oninput: e => { f.label = e.target.value; apply(); },
  });
  selectOptions(nodeSel, [f.node], 'All nodes');
  selectOptions(stateSel, [f.state], 'All states');
  const count = h('span', { class: 'count' });
  const live = liveIndicator();
  live.el.hidden = true;
  const refresh = h('button', { class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const note = h('div');
  const body = h('div', null, loading());

  const act = async (c, action) => {
    if (await containerAction(id, { Id: c.Id, name: cname(c), node: nodeOf(c) }, action)) load();
  };
  const columns = [
    {
      label: 'Name', cls: 'ellipsis', sort: c => cname(c),
      cell: c => h('a', { href: `#/e/${id}/containers/${enc(c.Id)}`, class: 'strong', title: `ID ${shortId(c.Id)}` }, cname(c)),
    },
    { label: 'Node', sort: c => nodeOf(c), cell: c => dash(nodeOf(c)) },
    { label: 'State', sort: c => c.State, cell: c => h('span', { class: 'state-cell' }, stateBadge(c.State, c.Status), healthOf(c.Status)) },
    { label: 'Image', cls: 'clip image', sort: c => c.Image, cell: c => h('span', { title: c.Image }, c.Image) },
    { label: 'Ports', sort: c => portList(c.Ports)[0], cell: c => portsCell(portList(c.Ports)) },
    { label: 'Created', sort: c => -c.Created, cell: c => timeCell(unixDate(c.Created)) },
  ];
  if (canAct) columns.push({ label: '', cls: 'actions', cell: c => actionButtons(a => act(c, a)) });
  const table = dataTable({
    columns, sort: { col: 0, dir: 1 },
    rowAttrs: c => ({ 'data-container-name': cname(c), 'data-container-id': c.Id, 'data-state': c.State }),
  });

  content.append(h('div', { class: 'toolbar' }, search, nodeSel, stateSel, labelIn, h('span', { class: 'grow' }), count, live.el, refresh), note, body);

  function apply() {
    const q = f.q.trim().toLowerCase();
    const terms = labelTerms(f.label);
    const shown = items.filter(c => {
      if (f.node && nodeOf(c) !== f.node) return false;
      if (f.state && c.State !== f.state) return false;
      if (q && !`${cname(c)} ${c.Image ?? ''}`.toLowerCase().includes(q)) return false;
      const labels = c.Labels ?? {};
      return terms.every(([k, v]) => k in labels && (v === undefined || labels[k] === v));
    });
    table.set(shown, items.length ? 'No container matches the filters.' : 'This cluster has no containers.');
    const running = items.filter(c => c.State === 'running').length;
    count.textContent = shown.length === items.length
      ? `${plural(items.length, 'container')} · ${running} running`
      : `${shown.length} of ${items.length}`;
  }

  // Live updates, from the first list on: patch the row at once, then read the list again.
  let liveOn = false;
  let wasLive = false;
  function startLive() {
    liveOn = true;
    live.el.hidden = false;
    liveEvents(id, ctx, ev => {
      if ((ev.Type ?? ev.type) !== 'container') return;
      const action = String(ev.Action ?? ev.status ?? '');
      if (QUIET_EVENT.test(action)) return;
      const cid = ev.Actor?.ID ?? ev.id;
      const c = items.find(x => x.Id === cid);
      if (c && action === 'destroy') { items = items.filter(x => x !== c); apply(); }
      else if (c && EVENT_STATE[action]) { c.State = EVENT_STATE[action]; apply(); }
      reloadSoon();
    }, s => {
      live.set(s);
      if (s === 'live') { if (wasLive) reloadSoon(); wasLive = true; } // catch up after a gap
    });
  }

  async function load() {
    const my = ++seq;
    refresh.disabled = true;
    try {
      const r = await get(ep(id, '/containers'), { signal: ctx.signal });
      if (my !== seq) return;
      items = listOf(r);
      note.replaceChildren(partialBanner(r?.partial) ?? '');
      selectOptions(nodeSel, items.map(nodeOf), 'All nodes');
      selectOptions(stateSel, items.map(c => c.State), 'All states');
      apply();
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
      loaded = true;
      if (!liveOn) startLive();
    } catch (e) {
      if (aborted(ctx, e) || my !== seq) return;
      count.textContent = '';
      if (loaded) note.replaceChildren(errorBox(e.message, 'Could not refresh the list'));
      else { note.replaceChildren(); body.replaceChildren(errorBox(e.message, 'Could not list the containers')); }
    } finally {
      if (my === seq) refresh.disabled = false;
    }
  }
  const reloadSoon = debounce(load, 300);
  ctx.onLeave(reloadSoon.cancel);

  await load();
  ctx.done('containers');
}

// ---- one container -------------------------------------------------------

const logPrefs = { tail: '500', timestamps: false, follow: false, autoscroll: true, wrap: true };

function quoteArg(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, `'\\''`)}'`;
}

/** Splits a command line into words, honouring '…', "…" and backslashes; no shell. */
function splitCommand(s) {
  const out = [];
  let cur = '';
  let quote = null;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") { quote = ch; started = true; }
    else if (ch === '\\' && i + 1 < s.length) { cur += s[++i]; started = true; }
    else if (/\s/.test(ch)) { if (started) { out.push(cur); cur = ''; started = false; } }
    else { cur += ch; started = true; }
  }
  if (started) out.push(cur);
  return out;
}

/** Pretty-printed JSON with keys, strings and literals coloured. */
function jsonView(value) {
  const text = JSON.stringify(value, null, 2) ?? '';
  const pre = h('pre', { class: 'json' });
  const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) pre.append(text.slice(last, m.index));
    if (m[1]) { pre.append(h('span', { class: m[2] ? 'j-key' : 'j-str' }, m[1])); if (m[2]) pre.append(m[2]); }
    else if (m[3]) pre.append(h('span', { class: 'j-lit' }, m[3]));
    else pre.append(h('span', { class: 'j-num' }, m[4]));
    last = re.lastIndex;
  }
  pre.append(text.slice(last));
  return pre;
}

const kvTable = (rows, empty = 'None.') => (rows.length
  ? h('table', { class: 'grid kv-table' }, h('tbody', null, rows.map(r => h('tr', null, r.map(c => h('td', null, c))))))
  : h('p', { class: 'muted' }, empty));

function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h2', null, title), body);
}

function overview(info) {
  const st = info.State ?? {};
  const cfg = info.Config ?? {};
  const ns = info.NetworkSettings ?? {};
  const rp = info.HostConfig?.RestartPolicy;
  const cmd = [info.Path, ...(info.Args ?? [])].filter(x => x != null && x !== '').map(quoteArg).join(' ');
  const ports = Object.entries(ns.Ports ?? {}).flatMap(([cport, binds]) => (binds?.length
    ? binds.map(b => `${b.HostIp ? (b.HostIp.includes(':') ? `[${b.HostIp}]:` : `${b.HostIp}:`) : ''}${b.HostPort}->${cport}`)
    : [cport]));
  const env = (cfg.Env ?? []).map(e => { const i = e.indexOf('='); return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)]; });
  const facts = [
    ['Name', (info.Name ?? '').replace(/^\//, '')],
    ['ID', mono(info.Id)],
    ['Image', [h('span', null, cfg.Image ?? '—'), ' ', h('span', { class: 'mono muted small' }, shortId(info.Image))]],
    ['Node', dash(nodeOf(info))],
    ['State', [stateBadge(st.Status), st.Health?.Status ? [' ', badge(st.Health.Status, st.Health.Status === 'healthy' ? 'ok-ghost' : 'warn')] : null,
      st.Status === 'exited' ? h('span', { class: 'muted' }, ` exit code ${st.ExitCode}`) : null, st.OOMKilled ? badge('OOM killed', 'bad') : null]],
    ['Status', st.Running ? `Up since ${fmtTime(st.StartedAt)} (${relTime(st.StartedAt)})`
      : toDate(st.FinishedAt) ? `Stopped ${fmtTime(st.FinishedAt)} (${relTime(st.FinishedAt)})` : 'Never started'],
    ['Created', [fmtTime(info.Created), h('span', { class: 'muted' }, ` (${relTime(info.Created)})`)]],
    ['Command', h('code', { class: 'mono' }, cmd || '—')],
    ['Working dir', dash(cfg.WorkingDir)],
    ['User', dash(cfg.User)],
    ['Restart policy', rp?.Name ? `${rp.Name}${rp.MaximumRetryCount ? ` (at most ${rp.MaximumRetryCount})` : ''}` : 'no'],
    ['Restarts', String(info.RestartCount ?? 0)],
    ['Ports', portsCell(ports)],
  ];
  return h('div', { class: 'overview' },
    section('Summary', h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]))),
    section('Environment', kvTable(env.map(([k, v]) => [h('span', { class: 'mono strong' }, k), h('span', { class: 'mono wrap' }, v)]))),
    section('Mounts', kvTable((info.Mounts ?? []).map(m => [m.Type, h('span', { class: 'mono wrap' }, m.Name ?? m.Source ?? ''), '→',
      h('span', { class: 'mono' }, m.Destination), m.RW === false ? 'read-only' : 'read-write']))),
    section('Networks', kvTable(Object.entries(ns.Networks ?? {}).map(([n, v]) => [h('span', { class: 'strong' }, n),
      mono(v.IPAddress ? `${v.IPAddress}/${v.IPPrefixLen}` : '—'), h('span', { class: 'muted' }, v.Gateway ? `gw ${v.Gateway}` : ''),
      mono(v.MacAddress ?? '')]))),
    section('Labels', kvTable(Object.entries(cfg.Labels ?? {}).sort().map(([k, v]) => [h('span', { class: 'mono strong' }, k), h('span', { class: 'mono wrap' }, v)]))));
}

function logsTab(panel, id, info, ctx) {
  const base = ep(id, `/containers/${enc(info.Id)}/logs`);
  const tail = h('select', { id: 'logs-tail', 'aria-label': 'Lines', value: logPrefs.tail },
    ['100', '500', '1000', 'all'].map(v => h('option', { value: v }, v === 'all' ? 'All lines' : `Last ${v}`)));
  const check = (key, label, idName) => {
    const box = h('input', { type: 'checkbox', id: idName, checked: logPrefs[key] });
    return [box, h('label', { class: 'check' }, box, label)];
  };
  const [ts, tsL] = check('timestamps', 'Timestamps', 'logs-timestamps');
  const [follow, followL] = check('follow', 'Follow', 'logs-follow');
  const [auto, autoL] = check('autoscroll', 'Autoscroll', 'logs-autoscroll');
  const [wrap, wrapL] = check('wrap', 'Wrap', 'logs-wrap');
  const status = h('span', { class: 'muted small' });
  const refresh = h('button', { class: 'btn', type: 'button' }, 'Reload');
  const pre = h('pre', { id: 'logs-output', class: `logs${logPrefs.wrap ? ' wrapped' : ''}` });
  const note = h('div');
  panel.append(h('div', { class: 'toolbar' }, tail, tsL, followL, autoL, wrapL, h('span', { class: 'grow' }), status, refresh), note, pre);

  const MAX_LINES = 10000;
  let stopStream = null;
  let chunks = [];
  let lineCount = 0;
  let pending = [];
  let frame = 0;

  const scroll = () => { if (logPrefs.autoscroll) pre.scrollTop = pre.scrollHeight; };
  const flush = () => {
    frame = 0;
    if (!pending.length) return;
    const node = document.createTextNode(pending.join(''));
    chunks.push([node, pending.length]);
    lineCount += pending.length;
    pending = [];
    pre.append(node);
    while (lineCount > MAX_LINES && chunks.length > 1) { const [n, c] = chunks.shift(); n.remove(); lineCount -= c; }
    status.textContent = `Following · ${plural(lineCount, 'line')}`;
    scroll();
  };
  const stop = () => { stopStream?.(); stopStream = null; cancelAnimationFrame(frame); frame = 0; pending = []; };
  const q = () => query({ tail: logPrefs.tail, timestamps: logPrefs.timestamps ? 1 : 0 });

  async function load() {
    stop();
    note.replaceChildren();
    pre.textContent = '';
    chunks = [];
    lineCount = 0;
    if (logPrefs.follow) {
      status.textContent = 'Connecting…';
      let opened = false;
      const es = new EventSource(`${base}${q()}&follow=1`);
      es.onopen = () => { opened = true; status.textContent = 'Following'; };
      es.onmessage = m => { pending.push(`${m.data}\n`); if (!frame) frame = requestAnimationFrame(flush); };
      es.onerror = () => {
        es.close();
        flush();
        follow.checked = logPrefs.follow = false;
        status.textContent = opened ? 'The log stream ended.' : '';
        // The stream gives no reason; ask once without follow to show the server's message.
        if (!opened) getText(`${base}?tail=1`, { signal: ctx.signal })
          .then(() => { status.textContent = 'The log stream could not be opened.'; })
          .catch(e => { if (!aborted(ctx, e)) note.replaceChildren(errorBox(e.message, 'Could not read the logs')); });
      };
      stopStream = () => es.close();
      return;
    }
    status.textContent = 'Loading…';
    refresh.disabled = true;
    try {
      const text = await getText(`${base}${q()}&follow=0`, { signal: ctx.signal });
      if (logPrefs.follow) return;
      pre.textContent = text;
      const n = text ? text.split('\n').length - (text.endsWith('\n') ? 1 : 0) : 0;
      status.textContent = n ? `${plural(n, 'line')} · ${new Date().toLocaleTimeString()}` : 'No output.';
      scroll();
    } catch (e) {
      if (aborted(ctx, e)) return;
      status.textContent = '';
      note.replaceChildren(errorBox(e.message, 'Could not read the logs'));
    } finally {
      refresh.disabled = false;
    }
  }

  tail.addEventListener('change', () => { logPrefs.tail = tail.value; load(); });
  ts.addEventListener('change', () => { logPrefs.timestamps = ts.checked; load(); });
  follow.addEventListener('change', () => { logPrefs.follow = follow.checked; load(); });
  auto.addEventListener('change', () => { logPrefs.autoscroll = auto.checked; scroll(); });
  wrap.addEventListener('change', () => { logPrefs.wrap = wrap.checked; pre.classList.toggle('wrapped', wrap.checked); });
  refresh.addEventListener('click', () => load());
  load();
  return stop;
}

function sparkline(canvas, values, top) {
  const w = canvas.clientWidth;
  const ht = canvas.clientHeight;
  if (!w || !ht) return;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = w * dpr;
  canvas.height = ht * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  if (values.length < 2) return;
  const color = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#0d7c86';
  const step = w / (STAT_SAMPLES - 1);
  const max = Math.max(top, ...values) || 1;
  const pts = values.map((v, i) => [w - (values.length - 1 - i) * step, ht - 2 - (v / max) * (ht - 4)]);
  g.beginPath();
  pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
  g.strokeStyle = color;
  g.lineWidth = 1.5;
  g.stroke();
  g.lineTo(pts[pts.length - 1][0], ht);
  g.lineTo(pts[0][0], ht);
  g.closePath();
  g.globalAlpha = 0.12;
  g.fillStyle = color;
  g.fill();
}
const STAT_SAMPLES = 60;

function statsTab(panel, id, info, ctx) {
  const card = (title, withChart) => {
    const value = h('div', { class: 'stat-value' }, '—');
    const sub = h('div', { class: 'stat-sub' });
    const canvas = withChart ? h('canvas', { class: 'spark', 'aria-hidden': 'true' }) : null;
    return { value, sub, canvas, el: h('div', { class: 'stat-card' }, h('div', { class: 'stat-title' }, title), value, sub, canvas) };
  };
  const cpu = card('CPU', true);
  const mem = card('Memory', true);
  const net = card('Network I/O');
  const blk = card('Block I/O');
  const pids = card('Processes');
  const note = h('div', null, info.State?.Running ? null : callout('info', 'The container is not running; its figures stay at zero.'));
  const stamp = h('p', { class: 'muted small' });
  const grid = h('div', { class: 'stat-grid' }, cpu.el, mem.el, net.el, blk.el, pids.el);
  panel.append(note, grid, stamp);

  const cpuHist = [];
  const memHist = [];
  let prev = null;
  let stopped = false;
  let timer = 0;
  const sum = (list, pick) => list.reduce((n, x) => n + (pick(x) || 0), 0);

  function render(s) {
    const now = Date.now();
    const cpuPct = Number(s.cpu_percent) || 0;
    const used = Number(s.memory_usage) || 0;
    const limit = Number(s.memory_limit) || 0;
    cpuHist.push(cpuPct); memHist.push(used);
    if (cpuHist.length > STAT_SAMPLES) { cpuHist.shift(); memHist.shift(); }
    const cpus = s.cpu_stats?.online_cpus;
    cpu.value.textContent = `${cpuPct.toFixed(1)} %`;
    cpu.sub.textContent = cpus ? `of ${plural(cpus, 'CPU')} (100 % = one CPU)` : '';
    mem.value.textContent = bytes(used);
    mem.sub.textContent = limit ? `of ${bytes(limit)} · ${((100 * used) / limit).toFixed(1)} %` : '';
    sparkline(cpu.canvas, cpuHist, 5);
    sparkline(mem.canvas, memHist, limit ? Math.min(limit, Math.max(...memHist) * 1.25) : 0);

    const nets = Object.values(s.networks ?? {});
    const rx = sum(nets, n => n.rx_bytes);
    const tx = sum(nets, n => n.tx_bytes);
    const ios = s.blkio_stats?.io_service_bytes_recursive ?? [];
    const rd = sum(ios.filter(x => /^read$/i.test(x.op)), x => x.value);
    const wr = sum(ios.filter(x => /^write$/i.test(x.op)), x => x.value);
    const rate = (a, b) => (prev && now > prev.t ? ` (${bytes(Math.max(0, (a - b) / ((now - prev.t) / 1000)))}/s)` : '');
    if (nets.length) {
      net.value.textContent = `↓ ${bytes(rx)}  ↑ ${bytes(tx)}`;
      net.sub.textContent = `in${rate(rx, prev?.rx)} · out${rate(tx, prev?.tx)}`;
    } else { net.value.textContent = '—'; net.sub.textContent = 'No network figures.'; }
    if (ios.length) {
      blk.value.textContent = `R ${bytes(rd)}  W ${bytes(wr)}`;
      blk.sub.textContent = `read${rate(rd, prev?.rd)} · write${rate(wr, prev?.wr)}`;
    } else { blk.value.textContent = '—'; blk.sub.textContent = 'No block I/O figures.'; }
    pids.value.textContent = s.pids_stats?.current != null ? String(s.pids_stats.current) : '—';
    pids.sub.textContent = s.pids_stats?.limit ? `limit ${s.pids_stats.limit}` : '';
    prev = { t: now, rx, tx, rd, wr };
    stamp.textContent = `Sampled ${new Date(now).toLocaleTimeString()} · every 2 s`;
  }

  async function tick() {
    try {
      const s = await get(ep(id, `/containers/${enc(info.Id)}/stats`), { signal: ctx.signal });
      if (stopped) return;
      render(s);
      note.querySelector('.callout.error')?.remove();
    } catch (e) {
      if (stopped || aborted(ctx, e)) return;
      note.replaceChildren(errorBox(e.message, 'Could not read stats'));
    }
    if (!stopped) timer = setTimeout(tick, 2000);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function execTab(panel, id, info, ctx) {
  const input = h('input', { id: 'exec-command', class: 'mono grow', placeholder: 'ls -l /', autocomplete: 'off', spellcheck: false, 'aria-label': 'Command' });
  const run = h('button', { id: 'exec-run', class: 'btn primary', type: 'submit' }, 'Run');
  const exit = h('span', { id: 'exec-exit' });
  const out = h('pre', { id: 'exec-output', class: 'console' });
  const note = h('div', null, info.State?.Running ? null : callout('warn', 'The container is not running; exec needs a running container.'));
  const form = h('form', {
    class: 'exec-form',
    onsubmit: async e => {
      e.preventDefault();
      const cmd = splitCommand(input.value);
      if (!cmd.length) return;
      run.disabled = true;
      exit.replaceChildren(badge('running…', 'info'));
      note.replaceChildren();
      try {
        const r = await post(ep(id, `/containers/${enc(info.Id)}/exec`), { cmd }, { signal: ctx.signal });
        out.textContent = r.output || '';
        out.classList.toggle('placeholder', !r.output);
        if (!r.output) out.textContent = '(no output)';
        exit.replaceChildren(badge(`exit code ${r.exit_code ?? '?'}`, r.exit_code === 0 ? 'ok' : 'bad'));
      } catch (x) {
        if (aborted(ctx, x)) return;
        exit.replaceChildren();
        note.replaceChildren(errorBox(x.message, 'The command did not run'));
      } finally {
        run.disabled = false;
      }
    },
  }, h('span', { class: 'prompt mono' }, '$'), input, run);
  panel.append(form, h('p', { class: 'hint' }, 'Runs without a shell: use sh -c "…" for pipes and variables. Every command is recorded in the audit log.'),
    note, h('div', { class: 'exec-result' }, exit), out);
  input.focus();
}

export async function container(main, { id, cid, tab }, ctx) {
  const content = endpointShell(main, id, 'containers', ctx, 'Container');
  const back = h('a', { href: `#/e/${id}/containers`, class: 'back' }, '← All containers');
  let info;
  try {
    info = await get(ep(id, `/containers/${enc(cid)}`), { signal: ctx.signal });
  } catch (e) {
    if (aborted(ctx, e)) return;
    content.append(back, errorBox(e.message, 'Could not load the container'));
    ctx.done('container');
    return;
  }
  const canAct = ctx.can('operator');
  const TABS = [['overview', 'Overview'], ['inspect', 'Inspect'], ['logs', 'Logs'], ['stats', 'Stats']];
  if (canAct) TABS.push(['exec', 'Exec']);
  let current = TABS.some(t => t[0] === tab) ? tab : 'overview';
  let stopTab = null;
  let gone = false;

  const head = h('div', { class: 'ct-head' });
  const note = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel' });
  content.append(back, head, note, tabs, panel);
  const name = () => (info.Name ?? '').replace(/^\//, '') || shortId(info.Id);

  function renderHead() {
    const st = info.State ?? {};
    ctx.title(`${name()} · Container`);
    head.replaceChildren(
      h('div', { class: 'ct-title' },
        h('h1', null, name()), stateBadge(st.Status, st.Status),
        st.Health?.Status ? badge(st.Health.Status, st.Health.Status === 'healthy' ? 'ok-ghost' : 'warn') : null,
        h('span', { class: 'muted' }, nodeOf(info) ? `on ${nodeOf(info)}` : ''),
        mono(shortId(info.Id), info.Id)),
      canAct && !gone ? actionButtons(async action => {
        if (!await containerAction(id, { Id: info.Id, name: name(), node: nodeOf(info) }, action)) return;
        if (action === 'remove') location.hash = `#/e/${id}/containers`;
        else refreshInfo();
      }) : null);
    head.dataset.state = st.Status ?? '';
  }

  const RENDER = {
    overview: () => { panel.replaceChildren(overview(info)); },
    inspect: () => {
      panel.replaceChildren(h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'docker inspect'), h('span', { class: 'grow' }),
        copyButton(() => JSON.stringify(info, null, 2), 'Copy JSON')), jsonView(info));
    },
    logs: () => logsTab(panel, id, info, ctx),
    stats: () => statsTab(panel, id, info, ctx),
    exec: () => execTab(panel, id, info, ctx),
  };

  function show(name_) {
    stopTab?.();
    stopTab = null;
    current = name_;
    for (const b of tabs.children) {
      const on = b.dataset.tab === current;
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    }
    panel.replaceChildren();
    stopTab = RENDER[current]() || null;
    history.replaceState(null, '', `#/e/${id}/containers/${enc(cid)}${current === 'overview' ? '' : `/${current}`}`);
  }
  tabs.append(...TABS.map(([key, label]) => h('button', { type: 'button', role: 'tab', class: 'tab', 'data-tab': key, onclick: () => show(key) }, label)));
  ctx.onLeave(() => stopTab?.());

  const refreshInfo = debounce(async () => {
    try {
      info = await get(ep(id, `/containers/${enc(info.Id)}`), { signal: ctx.signal });
      renderHead();
      if (current === 'overview') RENDER.overview();
    } catch (e) {
      if (!aborted(ctx, e) && e.status === 404) removed();
    }
  }, 300);
  ctx.onLeave(refreshInfo.cancel);
  function removed() {
    if (gone) return;
    gone = true;
    note.replaceChildren(callout('warn', 'This container has been removed.'));
    renderHead();
  }

  renderHead();
  show(current);
  ctx.done('container');

  liveEvents(id, ctx, ev => {
    if ((ev.Type ?? ev.type) !== 'container' || (ev.Actor?.ID ?? ev.id) !== info.Id) return;
    const action = String(ev.Action ?? '');
    if (action === 'destroy') removed();
    else if (!QUIET_EVENT.test(action)) refreshInfo();
  });
}

// ---- services and tasks --------------------------------------------------

const swarmError = what => e => (e.status === 503
  ? callout('info', e.message, `No ${what}: this endpoint answered that it cannot list them`)
  : errorBox(e.message, `Could not list the ${what}`));

const serviceName = s => s.Spec?.Name ?? shortId(s.ID);

function serviceMode(s) {
  const m = s.Spec?.Mode ?? {};
  const st = s.ServiceStatus;
  if (m.Replicated) return `replicated ${st ? `${st.RunningTasks}/${st.DesiredTasks}` : m.Replicated.Replicas ?? 0}`;
  if (m.Global) return `global${st ? ` ${st.RunningTasks}/${st.DesiredTasks}` : ''}`;
  if (m.ReplicatedJob) return 'replicated job';
  if (m.GlobalJob) return 'global job';
  return '—';
}

function servicePorts(s) {
  return (s.Endpoint?.Ports ?? s.Spec?.EndpointSpec?.Ports ?? []).map(p =>
    `${p.PublishedPort ? `${p.PublishedPort}->` : ''}${p.TargetPort}/${p.Protocol ?? 'tcp'}${p.PublishMode === 'host' ? ' (host)' : ''}`);
}

export function services(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'services', title: 'Services', noun: 'services', path: '/services', nodeFilter: false,
    search: s => `${serviceName(s)} ${s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? ''}`, searchPlaceholder: 'Search name or image',
    sort: { col: 0, dir: 1 }, errorView: swarmError('services'),
    rowAttrs: s => ({ 'data-service-name': serviceName(s), 'data-service-id': s.ID }),
    columns: ({ id, reload }) => {
      const cols = [
        { label: 'Name', sort: serviceName, cell: s => h('span', { class: 'strong', title: `ID ${s.ID}` }, serviceName(s)) },
        { label: 'Mode', sort: serviceMode, cell: serviceMode },
        { label: 'Image', cls: 'clip image', sort: s => s.Spec?.TaskTemplate?.ContainerSpec?.Image, cell: s => { const img = s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? ''; return h('span', { title: img }, img.replace(/@sha256:[0-9a-f]+$/, '')); } },
        { label: 'Ports', cell: s => portsCell(servicePorts(s)) },
        { label: 'Updated', sort: s => -(toDate(s.UpdatedAt)?.getTime() ?? 0), cell: s => timeCell(s.UpdatedAt) },
      ];
      if (ctx.can('operator')) {
        cols.push({
          label: '', cls: 'actions', cell: s => h('div', { class: 'row-actions' },
            s.Spec?.Mode?.Replicated ? h('button', {
              type: 'button', class: 'btn xs', 'data-action': 'scale',
              onclick: async () => {
                const v = await promptDialog({
                  title: `Scale ${serviceName(s)}`, label: 'Replicas', type: 'number', okText: 'Scale',
                  value: s.Spec.Mode.Replicated.Replicas ?? 0, attrs: { min: 0, step: 1 },
                  validate: x => (/^\d+$/.test(x.trim()) ? null : 'Enter a whole number, 0 or more.'),
                });
                if (v == null) return;
                try {
                  await post(ep(id, `/services/${enc(s.ID)}/scale`), { replicas: Number(v.trim()) });
                  toast(`Scaled ${serviceName(s)} to ${Number(v.trim())}`);
                } catch (e) { toast(e.message, 'error'); }
                reload();
              },
            }, 'Scale') : null,
            h('button', {
              type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove',
              onclick: async () => {
                if (!await confirmDialog(`Remove the service “${serviceName(s)}”?`, {
                  title: 'Remove service', okText: 'Remove', danger: true, detail: 'All of its tasks are stopped. This cannot be undone.',
                })) return;
                try {
                  await del(ep(id, `/services/${enc(s.ID)}`));
                  toast(`Removed ${serviceName(s)}`);
                } catch (e) { toast(e.message, 'error'); }
                reload();
              },
            }, 'Remove')),
        });
      }
      return cols;
    },
  });
}

const TASK_KIND = { running: 'ok', complete: 'grey', shutdown: 'grey', failed: 'bad', rejected: 'bad', orphaned: 'warn', remove: 'warn' };

export function tasks(main, params, ctx) {
  let svcNames = new Map();
  let nodeNames = new Map();
  const svc = t => svcNames.get(t.ServiceID) ?? shortId(t.ServiceID);
  const node = t => nodeNames.get(t.NodeID) ?? shortId(t.NodeID);
  return listSection(main, params, ctx, {
    section: 'tasks', title: 'Tasks', noun: 'tasks', nodeOf: node,
    search: t => `${svc(t)} ${t.Status?.Err ?? ''} ${t.Status?.State ?? ''}`, searchPlaceholder: 'Search service, state or error',
    sort: { col: 0, dir: 1 }, errorView: swarmError('tasks'),
    rowAttrs: t => ({ 'data-task-id': t.ID, 'data-state': t.Status?.State ?? '' }),
    load: async (id, signal) => {
      const [r, s, n] = await Promise.all([
        get(ep(id, '/tasks'), { signal }),
        get(ep(id, '/services'), { signal }).catch(() => null),
        get(ep(id, '/nodes'), { signal }).catch(() => null),
      ]);
      svcNames = new Map(listOf(s).map(x => [x.ID, serviceName(x)]));
      nodeNames = new Map(listOf(n).filter(x => x.SwarmNodeID).map(x => [x.SwarmNodeID, x.NodeName]));
      return r;
    },
    columns: () => [
      { label: 'Service', sort: t => `${svc(t)}\u0000${String(t.Slot ?? 0).padStart(6, '0')}`, cell: t => h('span', { class: 'strong', title: `Task ${t.ID}` }, svc(t)) },
      { label: 'Slot', cls: 'num', sort: t => t.Slot, cell: t => dash(t.Slot) },
      { label: 'Node', sort: node, cell: t => h('span', { title: t.NodeID ? `Node ID ${t.NodeID}` : null }, dash(node(t))) },
      { label: 'Desired', sort: t => t.DesiredState, cell: t => dash(t.DesiredState) },
      { label: 'Current', sort: t => t.Status?.State, cell: t => [badge(t.Status?.State ?? 'unknown', TASK_KIND[t.Status?.State] ?? 'info'), ' ', timeCell(t.Status?.Timestamp)] },
      { label: 'Error', cls: 'wrap', cell: t => (t.Status?.Err ? h('span', { class: 'error-text' }, t.Status.Err) : '') },
    ],
  });
}

// ---- images, volumes, networks -------------------------------------------

export function images(main, params, ctx) {
  const tags = i => (i.RepoTags ?? []).filter(t => t !== '<none>:<none>');
  return listSection(main, params, ctx, {
    section: 'images', title: 'Images', noun: 'images',
    path: '/images', search: i => `${tags(i).join(' ')} ${i.Id}`, searchPlaceholder: 'Search tag or ID',
    sort: { col: 0, dir: 1 },
    rowAttrs: i => ({ 'data-image-id': i.Id }),
    columns: () => [
      {
        label: 'Tags', sort: i => tags(i)[0] ?? '\uffff',
        cell: i => (tags(i).length ? h('div', { class: 'tags' }, tags(i).map(t => h('span', null, t))) : h('span', { class: 'muted' }, '<none>')),
      },
      { label: 'ID', cls: 'mono', sort: i => i.Id, cell: i => h('span', { title: i.Id }, shortId(i.Id)) },
      { label: 'Size', cls: 'num', sort: i => i.Size, cell: i => bytes(i.Size) },
      { label: 'Created', sort: i => -i.Created, cell: i => timeCell(unixDate(i.Created)) },
      { label: 'Node', sort: nodeOf, cell: i => dash(nodeOf(i)) },
    ],
  });
}

export function volumes(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'volumes', title: 'Volumes', noun: 'volumes',
    path: '/volumes', search: v => v.Name ?? '', searchPlaceholder: 'Search name',
    sort: { col: 0, dir: 1 },
    rowAttrs: v => ({ 'data-volume-name': v.Name }),
    columns: () => [
      { label: 'Name', cls: 'mono clip name', sort: v => v.Name, cell: v => h('span', { title: v.Name }, v.Name) },
      { label: 'Driver', sort: v => v.Driver, cell: v => dash(v.Driver) },
      { label: 'Node', sort: nodeOf, cell: v => dash(nodeOf(v)) },
      { label: 'Mountpoint', cls: 'mono clip path', sort: v => v.Mountpoint, cell: v => h('span', { title: v.Mountpoint }, dash(v.Mountpoint)) },
      { label: 'Created', sort: v => -(toDate(v.CreatedAt)?.getTime() ?? 0), cell: v => timeCell(v.CreatedAt) },
    ],
  });
}

export function networks(main, params, ctx) {
  const subnets = n => (n.IPAM?.Config ?? []).map(c => c.Subnet).filter(Boolean).join(', ');
  return listSection(main, params, ctx, {
    section: 'networks', title: 'Networks', noun: 'networks',
    path: '/networks', search: n => `${n.Name} ${n.Id} ${n.Driver}`, searchPlaceholder: 'Search name, ID or driver',
    sort: { col: 0, dir: 1 },
    rowAttrs: n => ({ 'data-network-name': n.Name }),
    columns: () => [
      { label: 'Name', sort: n => n.Name, cell: n => h('span', { class: 'strong' }, n.Name) },
      { label: 'ID', cls: 'mono', sort: n => n.Id, cell: n => h('span', { title: n.Id }, shortId(n.Id)) },
      { label: 'Driver', sort: n => n.Driver, cell: n => dash(n.Driver) },
      { label: 'Scope', sort: n => n.Scope, cell: n => dash(n.Scope) },
      { label: 'Subnet', cls: 'mono', sort: subnets, cell: n => dash(subnets(n)) },
      { label: 'Node', sort: nodeOf, cell: n => dash(nodeOf(n)) },
    ],
  });
}

// ---- events --------------------------------------------------------------

const EVENT_KIND = { container: 'info', image: 'grey', network: 'outline', volume: 'outline', service: 'ok-ghost', node: 'warn' };

export async function events(main, { id }, ctx) {
  const content = endpointShell(main, id, 'events', ctx, 'Events');
  const MAX = 500;
  let all = [];
  let buffered = [];
  let paused = false;
  let type = '';

  const live = liveIndicator();
  const count = h('span', { class: 'count' });
  const typeSel = h('select', { id: 'events-type', 'aria-label': 'Type', onchange: () => { type = typeSel.value; render(); } });
  selectOptions(typeSel, ['container', 'image', 'network', 'volume', 'service', 'node', 'config', 'secret', 'daemon', 'plugin'], 'All types');
  const pause = h('button', { id: 'events-pause', class: 'btn', type: 'button' }, 'Pause');
  const clear = h('button', { class: 'btn', type: 'button', onclick: () => { all = []; buffered = []; render(); syncPause(); } }, 'Clear');
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'grid events' },
    h('thead', null, h('tr', null, ['Time', 'Node', 'Type', 'Action', 'Actor'].map(t => h('th', { scope: 'col' }, t)))), tbody));
  content.append(h('div', { class: 'toolbar' }, typeSel, h('span', { class: 'grow' }), count, live.el, pause, clear), table);

  const syncPause = () => {
    pause.textContent = paused ? `Resume${buffered.length ? ` (${buffered.length} new)` : ''}` : 'Pause';
    pause.classList.toggle('primary', paused);
  };
  pause.addEventListener('click', () => {
    paused = !paused;
    if (!paused && buffered.length) { all = [...buffered.reverse(), ...all].slice(0, MAX); buffered = []; render(); }
    syncPause();
  });

  function row(ev) {
    const t = ev.timeNano ? new Date(ev.timeNano / 1e6) : unixDate(ev.time);
    const attrs = ev.Actor?.Attributes ?? {};
    const actorId = ev.Actor?.ID ?? ev.id ?? '';
    const actor = attrs.name ?? (/^[0-9a-f]{64}$/.test(actorId) ? '' : actorId);
    const evType = ev.Type ?? ev.type ?? '';
    return h('tr', { 'data-event-type': evType, 'data-event-action': ev.Action ?? '' },
      h('td', { class: 'mono nowrap', title: t ? fmtTime(t) : null }, t ? t.toLocaleTimeString() : '—'),
      h('td', null, dash(nodeOf(ev))),
      h('td', null, badge(evType || '?', EVENT_KIND[evType] ?? 'grey')),
      h('td', { class: 'clip action' }, h('span', { title: ev.Action }, ev.Action ?? ev.status ?? '')),
      h('td', null, actor ? h('span', { class: 'strong' }, actor) : null,
        /^[0-9a-f]{64}$/.test(actorId) ? h('span', { class: 'mono muted small' }, ` ${shortId(actorId)}`) : null));
  }
  const visible = ev => !type || (ev.Type ?? ev.type) === type;
  const emptyRow = () => h('tr', { class: 'empty' }, h('td', { colSpan: 5 }, paused ? 'Paused.' : 'Waiting for events… Start or stop a container to see one.'));
  const setCount = () => { count.textContent = plural(all.length, 'event'); };

  function render() {
    const shown = all.filter(visible);
    tbody.replaceChildren(...(shown.length ? shown.map(row) : [emptyRow()]));
    setCount();
  }
  function add(ev) {
    all.unshift(ev);
    if (all.length > MAX) all.length = MAX;
    if (visible(ev)) {
      if (tbody.querySelector('tr.empty')) tbody.replaceChildren();
      tbody.prepend(row(ev));
      while (tbody.children.length > MAX) tbody.lastChild.remove();
    }
    setCount();
  }

  render();
  liveEvents(id, ctx, ev => {
    if (paused) { buffered.push(ev); if (buffered.length > MAX) buffered.shift(); syncPause(); } else add(ev);
  }, s => live.set(s));
  ctx.done('events');
}

// ---- audit log (admin) ---------------------------------------------------

const AUDIT_ACTIONS = ['login', 'login_failed', 'logout', 'setup',
  'container.start', 'container.stop', 'container.restart', 'container.kill', 'container.remove', 'container.exec',
  'service.scale', 'service.remove', 'user.create', 'user.update', 'user.delete', 'endpoint.create', 'endpoint.update', 'endpoint.delete'];

export async function audit(main, { query: qs }, ctx) {
  ctx.title('Audit log');
  if (!ctx.can('admin')) return forbidden(main, ctx, 'audit');
  const f = { user: qs.get('user') ?? '', action: qs.get('action') ?? '', endpoint: qs.get('endpoint') ?? '', result: qs.get('result') ?? '', limit: qs.get('limit') ?? '200' };
  const user = h('input', { id: 'audit-user', type: 'search', placeholder: 'User', value: f.user, 'aria-label': 'User', spellcheck: false });
  const action = h('input', { id: 'audit-action', type: 'search', placeholder: 'Action', value: f.action, list: 'audit-actions', 'aria-label': 'Action', spellcheck: false });
  const endpoint = h('input', { id: 'audit-endpoint', type: 'search', placeholder: 'Endpoint', value: f.endpoint, list: 'audit-endpoints', 'aria-label': 'Endpoint', spellcheck: false });
  const result = h('select', { id: 'audit-result', 'aria-label': 'Result', value: f.result },
    h('option', { value: '' }, 'Any result'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'error' }, 'error'));
  const limit = h('select', { id: 'audit-limit', 'aria-label': 'Rows', value: f.limit }, ['200', '500', '1000'].map(v => h('option', { value: v }, `${v} rows`)));
  const actionList = h('datalist', { id: 'audit-actions' }, AUDIT_ACTIONS.map(a => h('option', { value: a })));
  const endpointList = h('datalist', { id: 'audit-endpoints' });
  const refresh = h('button', { id: 'audit-refresh', class: 'btn', type: 'button', onclick: () => load() }, 'Refresh');
  const count = h('span', { class: 'count' });
  const body = h('div', null, loading());

  const table = dataTable({
    columns: [
      { label: 'Time', sort: a => -(toDate(a.time)?.getTime() ?? 0), cell: a => h('span', { class: 'nowrap', title: relTime(a.time) }, fmtTime(a.time)) },
      { label: 'User', sort: a => a.user, cell: a => dash(a.user) },
      { label: 'Endpoint', sort: a => a.endpoint, cell: a => dash(a.endpoint) },
      { label: 'Node', sort: a => a.node, cell: a => dash(a.node) },
      { label: 'Action', sort: a => a.action, cell: a => h('span', { class: 'mono' }, a.action) },
      { label: 'Target', cls: 'clip target', sort: a => a.target, cell: a => h('span', { title: a.target ?? '' }, dash(a.target)) },
      { label: 'Result', sort: a => a.result, cell: a => badge(a.result, a.result === 'ok' ? 'ok' : 'bad') },
      { label: 'Detail', cls: 'wrap detail', cell: a => (a.detail ? h('span', { class: a.result === 'error' ? 'error-text' : '' }, a.detail) : '') },
    ],
    rowAttrs: a => ({ 'data-audit-action': a.action, 'data-audit-target': a.target ?? '', 'data-audit-result': a.result }),
    empty: 'No entries.',
  });

  const read = () => Object.assign(f, { user: user.value.trim(), action: action.value.trim(), endpoint: endpoint.value.trim(), result: result.value, limit: limit.value });
  const changed = () => {
    read();
    history.replaceState(null, '', `#/audit${query({ ...f, limit: f.limit === '200' ? '' : f.limit })}`);
    load();
  };
  const typed = debounce(changed, 400);
  for (const el of [user, action, endpoint]) {
    el.addEventListener('input', typed);
    el.addEventListener('keydown', e => { if (e.key === 'Enter') { typed.cancel(); changed(); } });
  }
  result.addEventListener('change', changed);
  limit.addEventListener('change', changed);
  ctx.onLeave(typed.cancel);

  main.append(pageHead('Audit log', count, refresh),
    h('div', { class: 'toolbar' }, user, action, endpoint, result, limit, actionList, endpointList), body);

  let seq = 0;
  async function load() {
    const my = ++seq;
    refresh.disabled = true;
    try {
      const list = listOf(await get(`/api/audit${query(f)}`, { signal: ctx.signal }));
      if (my !== seq) return;
      table.set(list, f.user || f.action || f.endpoint || f.result ? 'No entries match the filters.' : 'No entries yet.');
      count.textContent = plural(list.length, 'entry', 'entries');
      const seen = [...new Set([...list.map(a => a.endpoint), ...[...endpointCache.values()].map(e => e.name)].filter(Boolean).map(String))];
      endpointList.replaceChildren(...seen.map(v => h('option', { value: v })));
      if (table.el.parentNode !== body) body.replaceChildren(table.el);
    } catch (e) {
      if (aborted(ctx, e) || my !== seq) return;
      count.textContent = '';
      body.replaceChildren(errorBox(e.message, 'Could not read the audit log'));
    } finally {
      if (my === seq) refresh.disabled = false;
    }
  }
  await load();
  ctx.done('audit');
}

// ---- users (admin) -------------------------------------------------------

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
      { label: 'User', sort: u => u.username, cell: u => [h('span', { class: 'strong' }, u.username), u.username === ctx.user.username ? h('span', { class: 'tag' }, 'you') : null] },
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
            type: 'button', class: 'btn xs', 'data-action': 'password',
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

// ---- not found -----------------------------------------------------------

export function notFound(main, _p, ctx) {
  ctx.title('Not found');
  main.append(h('div', { class: 'empty-state' }, h('h2', null, 'Nothing here'),
    h('p', null, 'This address is not a page of the console. ', h('a', { href: '#/' }, 'Go to the clusters.'))));
  ctx.done('notfound');
}
