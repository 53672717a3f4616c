// Keyboard shortcuts: `/` focuses the page's search field, `g` then a letter opens a page
// (of the cluster shown, or the last one opened), `?` lists them. Keys typed into a field,
// or with Ctrl, Alt or Meta held, are left alone.

import { get, listOf } from './api.js';
import { h, modal, toast } from './ui.js';

/** `g` + key → the page: `global` pages have their own path, the others are a cluster's. */
export const JUMPS = [
  { key: 'h', label: 'Home (clusters)', global: '#/' },
  { key: 'c', label: 'Containers', section: 'containers' },
  { key: 'n', label: 'Nodes', section: 'nodes' },
  { key: 's', label: 'Services', section: 'services' },
  { key: 'i', label: 'Images', section: 'images' },
  { key: 'v', label: 'Volumes', section: 'volumes' },
  { key: 'e', label: 'Events', section: 'events' },
  { key: 'a', label: 'Audit log', global: '#/audit' },
  { key: 'u', label: 'Users', global: '#/users' },
];

// How long after `g` the second key counts.
const CHORD_MS = 1500;

let lastEndpoint = null;

/** The cluster of the address shown, if it is a cluster's page. */
const endpointInHash = () => /^#\/e\/([^/?]+)/.exec(location.hash)?.[1] ?? null;

/** The cluster a `g` jump goes to: the one shown, the last one shown, or the first listed. */
async function endpointForJump() {
  const shown = endpointInHash();
  if (shown) return shown;
  if (lastEndpoint) return lastEndpoint;
  const list = listOf(await get('/api/endpoints'));
  return list.length ? encodeURIComponent(list[0].id) : null;
}

async function jump(target) {
  if (target.global) { location.hash = target.global; return; }
  let id;
  try { id = await endpointForJump(); } catch (e) { toast(e.message, 'error'); return; }
  if (!id) { toast('Add a cluster first: there is no endpoint yet.', 'error'); return; }
  location.hash = `#/e/${id}/${target.section}`;
}

/** True while the user types into something that takes keys. */
function typing(e) {
  const el = e.target;
  if (!(el instanceof Element)) return false;
  return el.isContentEditable || !!el.closest('input, textarea, select, [contenteditable], .xterm');
}

/** The page's search or filter field: the first visible one in <main>. */
function searchField() {
  const fields = document.querySelectorAll('#main input.search, #main input[type=search], #main [data-shortcut=search]');
  return [...fields].find(el => !el.disabled && el.offsetParent !== null) ?? null;
}

let helpOpen = false;

export async function showShortcuts() {
  if (helpOpen) return;
  helpOpen = true;
  const row = (keys, what) => h('tr', null, h('td', { class: 'keys' }, keys.map(k => h('kbd', null, k))), h('td', null, what));
  const body = h('table', { class: 'shortcut-list', id: 'shortcut-list' }, h('tbody', null,
    row(['/'], 'Search or filter this page'),
    JUMPS.map(j => row(['g', j.key], j.global ? j.label : `${j.label} of this cluster`)),
    row(['?'], 'This list'),
    row(['Esc'], 'Close a dialog or the menu')));
  try {
    await modal({ title: 'Keyboard shortcuts', body, okText: 'Close', cancelText: null });
  } finally {
    helpOpen = false;
  }
}

/** Listens for the shortcuts while `active()` says someone is signed in. */
export function installShortcuts(active) {
  let chordUntil = 0;
  document.addEventListener('keydown', e => {
    if (e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey || !active()) return;
    if (typing(e) || document.querySelector('.modal-backdrop')) { chordUntil = 0; return; }
    const now = Date.now();
    if (now < chordUntil) {
      chordUntil = 0;
      const target = JUMPS.find(j => j.key === e.key);
      if (target) { e.preventDefault(); jump(target); }
      return;
    }
    if (e.key === 'g') { chordUntil = now + CHORD_MS; return; }
    if (e.key === '/') {
      const field = searchField();
      if (field) { e.preventDefault(); field.focus(); field.select?.(); }
      return;
    }
    if (e.key === '?') { e.preventDefault(); showShortcuts(); }
  });
  window.addEventListener('hashchange', () => { lastEndpoint = endpointInHash() ?? lastEndpoint; });
  lastEndpoint = endpointInHash();
}
