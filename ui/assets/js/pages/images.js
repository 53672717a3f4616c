// #/e/ID/images : the images of a cluster's nodes, what uses each, and pulling, removing
// and pruning them.

import { get, ep, listOf, postEvents } from '../api.js';
import { h, unixDate, timeCell, bytes, shortId, dash, badge, modal, field, toast } from '../ui.js';
import { nodeOf, listSection, usedByIndex, usedByCell, removeObject, pruneButton } from '../cluster.js';

const tags = i => (i.RepoTags ?? []).filter(t => t !== '<none>:<none>');

/** One node's pull, drawn as the engine reports it: a line per layer, then the outcome. */
function pullView(node) {
  const state = h('span', null, badge('pulling', 'info'));
  const status = h('div', { class: 'muted small pull-status' });
  const layers = h('ul', { class: 'pull-layers mono small' });
  const byLayer = new Map();
  const el = h('div', { class: 'pull-node', 'data-pull-node': node, 'data-pull-state': 'pulling' },
    h('div', null, h('span', { class: 'strong' }, node), ' ', state), status, layers);
  return {
    el,
    progress(ev) {
      if (!ev.id || /^(latest|sha256:)/.test(ev.id) || !ev.progressDetail) { status.textContent = [ev.id, ev.status].filter(Boolean).join(': '); return; }
      let li = byLayer.get(ev.id);
      if (!li) { li = h('li'); byLayer.set(ev.id, li); layers.append(li); }
      li.textContent = `${ev.id}: ${ev.status ?? ''}${ev.progress ? ` ${ev.progress}` : ''}`;
    },
    finish(error) {
      el.dataset.pullState = error ? 'error' : 'done';
      state.replaceChildren(error ? badge('failed', 'bad') : badge('done', 'ok'));
      if (error) status.replaceChildren(h('span', { class: 'error-text' }, error));
    },
  };
}

/** Asks for an image and nodes, then pulls it with its progress shown in `box`. */
async function pull(id, nodes, box, reload) {
  const image = h('input', { id: 'pull-image', class: 'mono', placeholder: 'registry.example:5000/team/app:1.2', autocomplete: 'off', spellcheck: false });
  const boxes = nodes.map(n => [n, h('input', { type: 'checkbox', checked: true, 'data-node': n })]);
  const chosen = await modal({
    title: 'Pull an image', okText: 'Pull',
    body: [field('Image', image, 'Without a tag: latest. Each node pulls with its own network and credentials.'),
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'On'),
        h('div', { class: 'node-checks' }, boxes.map(([n, b]) => h('label', { class: 'check' }, b, n))))],
    validate: () => (!image.value.trim() ? 'Name the image.' : boxes.some(([, b]) => b.checked) ? null : 'Choose at least one node.'),
    result: () => ({ image: image.value.trim(), nodes: boxes.filter(([, b]) => b.checked).map(([n]) => n) }),
  });
  if (!chosen) return;
  const views = new Map();
  const list = h('div', { class: 'pull-nodes' });
  const view = n => {
    if (!views.has(n)) { views.set(n, pullView(n)); list.append(views.get(n).el); }
    return views.get(n);
  };
  chosen.nodes.forEach(view);
  box.replaceChildren(h('section', { id: 'pull-progress', class: 'panel pull-panel' },
    h('div', { class: 'panel-head' }, h('h2', null, `Pulling ${chosen.image}`),
      h('button', { type: 'button', class: 'btn xs', onclick: () => box.replaceChildren() }, 'Close')), list));
  let failed = 0;
  try {
    await postEvents(ep(id, '/images/pull'), chosen, ev => {
      if (ev.end) return;
      if (!ev.node) return;
      if (ev.error) { failed++; view(ev.node).finish(ev.error); } else if (ev.done) view(ev.node).finish(null); else view(ev.node).progress(ev);
    });
    toast(failed ? `Pull of ${chosen.image} failed on ${failed} node(s)` : `Pulled ${chosen.image}`, failed ? 'error' : 'ok');
  } catch (e) {
    toast(e.message, 'error');
  }
  reload();
}

export function images(main, params, ctx) {
  let used = new Map();
  let nodes = [];
  const pullBox = h('div');
  const usersOf = i => used.get(`${nodeOf(i)}\u0000${i.Id}`) ?? [];
  const label = i => tags(i)[0] ?? shortId(i.Id);
  return listSection(main, params, ctx, {
    section: 'images', title: 'Images', noun: 'images',
    search: i => `${tags(i).join(' ')} ${i.Id}`, searchPlaceholder: 'Search tag or ID',
    sort: { col: 0, dir: 1 },
    rowAttrs: i => ({ 'data-image-id': i.Id, 'data-image-tags': tags(i).join(' '), 'data-used': usersOf(i).length ? 'yes' : 'no' }),
    load: async (id, signal) => {
      const [r, cs, ns] = await Promise.all([
        get(ep(id, '/images'), { signal }),
        get(ep(id, '/containers'), { signal }).catch(() => null),
        get(ep(id, '/nodes'), { signal }).catch(() => null),
      ]);
      used = usedByIndex(listOf(cs), c => [c.ImageID]);
      nodes = listOf(ns).map(n => n.NodeName).filter(Boolean).sort();
      if (!pullBox.isConnected) main.querySelector('.toolbar')?.after(pullBox);
      return r;
    },
    actions: ({ id, ctx: c, reload }) => (c.can('operator') ? [
      h('button', { id: 'image-pull', class: 'btn primary', type: 'button', onclick: () => pull(id, nodes, pullBox, reload) }, 'Pull'),
      pruneButton(id, 'images', () => nodes, reload),
    ] : []),
    columns: ({ id, ctx: c, reload }) => [
      {
        label: 'Tags', sort: i => tags(i)[0] ?? '\uffff',
        cell: i => (tags(i).length ? h('div', { class: 'tags' }, tags(i).map(t => h('span', null, t))) : h('span', { class: 'muted' }, '<none>')),
      },
      { label: 'ID', cls: 'mono', sort: i => i.Id, cell: i => h('span', { title: i.Id }, shortId(i.Id)) },
      { label: 'Size', cls: 'num', sort: i => i.Size, cell: i => bytes(i.Size) },
      { label: 'Created', sort: i => -i.Created, cell: i => timeCell(unixDate(i.Created)) },
      { label: 'Node', sort: nodeOf, cell: i => dash(nodeOf(i)) },
      { label: 'In use by', cls: 'wrap', sort: i => usersOf(i).length, cell: i => usedByCell(id, usersOf(i)) },
      ...(c.can('operator') ? [{
        label: '', cls: 'actions',
        cell: i => h('button', {
          type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove',
          onclick: async () => { if (await removeObject(id, { kind: 'images', ref: i.Id, label: label(i), node: nodeOf(i), usedBy: usersOf(i) })) reload(); },
        }, 'Remove'),
      }] : []),
    ],
  });
}
