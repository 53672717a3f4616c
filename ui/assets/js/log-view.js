// What the log views share (a container's logs tab, the merged logs page): matching the
// search against a line and marking the hits, times for the server, and saving the shown
// lines as a file.

import { h } from './ui.js';

/**
 * The search: plain text (case-insensitive) or a regular expression. `active` when there
 * is something to look for; `error` when the expression does not compile.
 */
export function lineMatcher(text, regex) {
  if (!text) return { active: false, re: null, error: null };
  try {
    const source = regex ? text : text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return { active: true, re: new RegExp(source, 'gi'), error: null };
  } catch (e) {
    return { active: false, re: null, error: e.message };
  }
}

/** A line's text as nodes, each hit of the search in a <mark>; and how many hits. */
export function highlighted(text, match) {
  if (!match.active) return { nodes: [text], count: 0 };
  const nodes = [];
  let count = 0;
  let last = 0;
  match.re.lastIndex = 0;
  for (let m = match.re.exec(text); m; m = match.re.exec(text)) {
    if (!m[0].length) { match.re.lastIndex++; continue; }
    if (m.index > last) nodes.push(text.slice(last, m.index));
    nodes.push(h('mark', { class: 'log-hit' }, m[0]));
    count++;
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return { nodes, count };
}

/** A `datetime-local` input's value (the browser's time zone) as seconds since the epoch. */
export function toEngineTime(value) {
  if (!value) return '';
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? (ms / 1000).toFixed(3) : '';
}

/** Saves `text` as a file named `name`. */
export function downloadText(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
