// What the log views share (a container's logs tab, the merged logs page): matching the
// search against a line and marking the hits, times for the server, saving the shown
// lines as a file, and where a merged view is, for resuming it.

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

/** An engine timestamp (RFC 3339, UTC, its fraction cut short of trailing zeros) as a
 * string that sorts in time order: the fraction padded to nanoseconds. */
export function stampKey(t) {
  const m = /^([^.Z]*)(?:\.(\d+))?Z$/.exec(t ?? '');
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : String(t ?? '');
}

const lineKey = l => `${l.container}\n${l.node}\n${l.stream}\n${l.line}`;

/** Where a merged view is: its newest line's timestamp and the lines shown at that
 * instant. A followed view whose stream drops asks again from that timestamp and skips
 * what it showed up to there, so that nothing is shown twice and nothing is missed. */
export class MergedCursor {
  constructor() { this.newest = null; this.atNewest = new Set(); }

  /** Notes a line `{t, container, node, stream, line}` as shown. */
  record(l) {
    const k = stampKey(l.t);
    if (this.newest && k < this.newest.key) return;
    if (!this.newest || k > this.newest.key) { this.newest = { key: k, stamp: l.t }; this.atNewest.clear(); }
    this.atNewest.add(lineKey(l));
  }

  /** Where to resume: `{since, key, lines}`, or null before any line. */
  resume() {
    return this.newest && { since: this.newest.stamp, key: this.newest.key, lines: new Set(this.atNewest) };
  }
}

/** Whether a resumed stream's line `l` was shown before `resume` was taken. */
export function shownBefore(resume, l) {
  const k = stampKey(l.t);
  return k < resume.key || (k === resume.key && resume.lines.has(lineKey(l)));
}
