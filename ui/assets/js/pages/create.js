// #/e/ID/create (operator): a form that creates a container on a chosen node, and
// optionally starts it.

import { get, post, ep, enc, listOf, aborted } from '../api.js';
import { h, field, toast, callout, splitCommand } from '../ui.js';
import { endpointShell, nodeOf } from '../cluster.js';

/** A textarea's non-empty lines, trimmed. */
const lines = text => text.split('\n').map(l => l.trim()).filter(Boolean);

/** `key=value` lines as an object; an error text for a line without a key. */
function labelsOf(text) {
  const out = {};
  for (const l of lines(text)) {
    const i = l.indexOf('=');
    const key = (i < 0 ? l : l.slice(0, i)).trim();
    if (!key) throw new Error(`Labels: “${l}” has no key`);
    out[key] = i < 0 ? '' : l.slice(i + 1).trim();
  }
  return out;
}

export async function create(main, { id, query }, ctx) {
  const content = endpointShell(main, id, 'containers', ctx, 'Create a container');
  if (!ctx.can('operator')) {
    content.append(callout('warn', `Creating containers is for operators and admins; you are signed in as ${ctx.user.role}.`));
    ctx.done('create');
    return;
  }
  const input = (idName, attrs = {}) => h('input', { id: idName, autocomplete: 'off', spellcheck: false, ...attrs });
  const area = (idName, placeholder) => h('textarea', { id: idName, rows: 3, spellcheck: false, class: 'mono', placeholder });
  const image = input('create-image', { required: true, class: 'mono', placeholder: 'nginx:1.27', value: query?.get('image') ?? '' });
  const name = input('create-name', { class: 'mono', placeholder: 'web-1 (optional)' });
  const cmd = input('create-cmd', { class: 'mono', placeholder: 'the image’s own command' });
  const env = area('create-env', 'KEY=value, one a line');
  const ports = area('create-ports', '8080:80, 127.0.0.1:5353:53/udp, 9000 — one a line');
  const volumes = area('create-volumes', 'data:/var/lib/data, /srv/conf:/etc/app:ro — one a line');
  const labels = area('create-labels', 'key=value, one a line');
  const network = h('select', { id: 'create-network' }, h('option', { value: '' }, 'default (bridge)'));
  const restart = h('select', { id: 'create-restart' },
    ['no', 'always', 'unless-stopped', 'on-failure'].map(r => h('option', { value: r }, r)));
  const node = h('select', { id: 'create-node', required: true });
  const start = h('input', { id: 'create-start', type: 'checkbox', checked: true });
  const err = h('p', { id: 'create-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { id: 'create-submit', class: 'btn primary', type: 'submit' }, 'Create');
  const networksByNode = new Map();

  const syncNetworks = () => {
    const keep = network.value;
    const names = [...new Set(networksByNode.get(node.value) ?? [])].sort();
    network.replaceChildren(h('option', { value: '' }, 'default (bridge)'), ...names.map(n => h('option', { value: n }, n)));
    if (names.includes(keep)) network.value = keep;
  };
  node.addEventListener('change', syncNetworks);

  const form = h('form', {
    class: 'stack create-form', novalidate: true,
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      let body;
      try {
        if (!image.value.trim()) throw new Error('Image: name the image to run.');
        body = {
          image: image.value.trim(), name: name.value.trim(), cmd: splitCommand(cmd.value), env: lines(env.value),
          ports: lines(ports.value), volumes: lines(volumes.value), network: network.value, restart: restart.value,
          labels: labelsOf(labels.value), node: node.value, start: start.checked,
        };
      } catch (x) { err.textContent = x.message; return; }
      submit.disabled = true;
      try {
        const made = await post(ep(id, '/containers'), body, { signal: ctx.signal });
        toast(`${body.start ? 'Created and started' : 'Created'} ${body.name || made.Id.slice(0, 12)} on ${made.node}`);
        location.hash = `#/e/${id}/containers/${enc(made.Id)}`;
      } catch (x) {
        if (!aborted(ctx, x)) err.textContent = x.message;
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'form-grid' },
    field('Image', image, 'Pulled already on the node; pull it on the Images page first.'),
    field('Name', name),
    field('Node', node),
    field('Command', cmd, 'Words as in a shell, without one: use sh -c "…" for pipes.'),
    field('Environment', env),
    field('Ports', ports, '[IP:]HOST:CONTAINER[/udp], or CONTAINER alone to expose it.'),
    field('Volumes', volumes, 'VOLUME:/path or /host/path:/path, :ro for read-only.'),
    field('Labels', labels),
    field('Network', network),
    field('Restart policy', restart)),
  h('label', { class: 'check' }, start, 'Start it once created'),
  err, h('div', null, submit));

  content.append(h('div', { class: 'page-head' }, h('h1', null, 'Create a container'),
    h('a', { href: `#/e/${id}/containers`, class: 'back' }, '← All containers')), h('section', { class: 'panel' }, form));

  // The nodes to choose from, and each node's networks.
  try {
    const [nodes, nets] = await Promise.all([
      get(ep(id, '/nodes'), { signal: ctx.signal }),
      get(ep(id, '/networks'), { signal: ctx.signal }).catch(() => null),
    ]);
    const names = listOf(nodes).map(n => n.NodeName).filter(Boolean).sort();
    node.replaceChildren(...names.map(n => h('option', { value: n }, n)));
    for (const n of listOf(nets)) {
      if (!networksByNode.has(nodeOf(n))) networksByNode.set(nodeOf(n), []);
      networksByNode.get(nodeOf(n)).push(n.Name);
    }
    syncNetworks();
  } catch (e) {
    if (aborted(ctx, e)) return;
    content.prepend(callout('warn', `The nodes could not be listed: ${e.message}. The agent places the container.`));
    node.replaceChildren(h('option', { value: '' }, 'where the agent places it'));
  }
  ctx.done('create');
}
