// The logs tab of a container's page: the last lines or a time range, followed live with
// a resume that neither repeats nor loses lines, stderr in its own colour, search with
// highlights (text or regular expression), timestamps, and downloads.

import { ep, enc, query } from '../../api.js';
import { h, debounce, plural, errorBox } from '../../ui.js';
import { lineMatcher, highlighted, downloadText, toEngineTime } from '../../log-view.js';

const prefs = { tail: '500', timestamps: false, follow: true, autoscroll: true, wrap: true, regex: false };
/** The most lines kept on the page; older ones are dropped as new ones come. */
const MAX_LINES = 10000;

export function logsTab(panel, id, info, ctx) {
  const base = ep(id, `/containers/${enc(info.Id)}/logs`);
  const tail = h('select', { id: 'logs-tail', 'aria-label': 'Lines' },
    ['100', '500', '1000', 'all'].map(v => h('option', { value: v, selected: v === prefs.tail }, v === 'all' ? 'All lines' : `Last ${v}`)));
  const check = (key, label, idName) => {
    const box = h('input', { type: 'checkbox', id: idName, checked: prefs[key] });
    return [box, h('label', { class: 'check' }, box, label)];
  };
  const [ts, tsL] = check('timestamps', 'Timestamps', 'logs-timestamps');
  const [follow, followL] = check('follow', 'Follow', 'logs-follow');
  const [auto, autoL] = check('autoscroll', 'Autoscroll', 'logs-autoscroll');
  const [wrap, wrapL] = check('wrap', 'Wrap', 'logs-wrap');
  const [regex, regexL] = check('regex', 'Regex', 'logs-regex');
  const search = h('input', { type: 'search', id: 'logs-search', class: 'search', placeholder: 'Search the lines shown', 'aria-label': 'Search', autocomplete: 'off' });
  const matches = h('span', { id: 'logs-matches', class: 'muted small' });
  const since = h('input', { type: 'datetime-local', id: 'logs-since', step: '1', 'aria-label': 'From' });
  const until = h('input', { type: 'datetime-local', id: 'logs-until', step: '1', 'aria-label': 'To' });
  const status = h('span', { id: 'logs-status', class: 'muted small' });
  const refresh = h('button', { class: 'btn', type: 'button' }, 'Reload');
  const downloadAll = h('a', { class: 'btn', id: 'logs-download', download: '' }, 'Download log');
  const downloadShown = h('button', { class: 'btn', type: 'button', id: 'logs-download-shown' }, 'Download shown');
  const out = h('div', { id: 'logs-output', class: `log-view${prefs.wrap ? ' wrapped' : ''}`, role: 'log' });
  const note = h('div');
  panel.append(
    h('div', { class: 'toolbar' }, tail, tsL, followL, autoL, wrapL, h('span', { class: 'grow' }), status, refresh),
    h('div', { class: 'toolbar log-tools' }, search, regexL, matches,
      h('label', { class: 'log-range' }, 'From ', since), h('label', { class: 'log-range' }, 'to ', until),
      h('span', { class: 'grow' }), downloadShown, downloadAll),
    note, out);

  let lines = []; // { t, err, text, el }
  let pending = [];
  let frame = 0;
  let source = null;
  let match = lineMatcher('', false);

  const scroll = () => { if (prefs.autoscroll) out.scrollTop = out.scrollHeight; };
  const render = line => {
    const el = h('div', { class: `log-line${line.err ? ' stderr' : ''}` });
    line.el = el;
    paint(line);
    return el;
  };
  let hits = 0;
  const paint = line => {
    const { nodes, count } = highlighted(line.text, match);
    line.hits = count;
    line.el.replaceChildren(...(prefs.timestamps && line.t ? [h('span', { class: 'log-ts' }, line.t), ' '] : []), ...nodes);
  };
  const showMatches = () => {
    matches.textContent = match.active ? `${plural(hits, 'match', 'matches')}` : '';
    matches.dataset.count = String(hits);
    search.classList.toggle('invalid', !!match.error);
    search.title = match.error ?? '';
  };
  const repaint = () => {
    hits = 0;
    for (const line of lines) { paint(line); hits += line.hits; }
    showMatches();
  };
  const flush = () => {
    frame = 0;
    if (!pending.length) return;
    const fresh = pending;
    pending = [];
    out.append(...fresh.map(render));
    lines.push(...fresh);
    for (const line of fresh) hits += line.hits;
    while (lines.length > MAX_LINES) { const old = lines.shift(); hits -= old.hits; old.el.remove(); }
    showMatches();
    status.textContent = `${plural(lines.length, 'line')}${source ? ' · following' : ''}`;
    scroll();
  };
  const add = (event, err) => {
    const t = (event.lastEventId || '').split(' ')[0];
    pending.push({ t, err, text: event.data, hits: 0 });
    if (!frame) frame = requestAnimationFrame(flush);
  };
  const stop = () => { source?.close(); source = null; cancelAnimationFrame(frame); frame = 0; flush(); };

  function urlFor(following) {
    const range = { since: toEngineTime(since.value), until: toEngineTime(until.value) };
    const q = { tail: range.since ? 'all' : prefs.tail, events: 1, ...(following ? { follow: 1 } : {}) };
    for (const [k, v] of Object.entries(range)) if (v) q[k] = v;
    return `${base}${query(q)}`;
  }

  function setDownload() {
    const range = { since: toEngineTime(since.value), until: toEngineTime(until.value), timestamps: prefs.timestamps ? 1 : '' };
    downloadAll.href = `${base}/download${query(range)}`;
  }

  function load() {
    stop();
    note.replaceChildren();
    out.replaceChildren();
    lines = [];
    hits = 0;
    const following = prefs.follow && !until.value;
    setDownload();
    status.textContent = 'Loading…';
    let opened = false;
    // EventSource reconnects by itself after a drop, sending the last event's id: the
    // server resumes from there.
    const es = new EventSource(urlFor(following));
    source = es;
    es.onopen = () => { opened = true; status.textContent = following ? 'Following' : 'Loading…'; };
    es.onmessage = m => add(m, false);
    es.addEventListener('stderr', m => add(m, true));
    es.addEventListener('end', () => {
      es.close();
      if (source === es) source = null;
      flush();
      status.textContent = lines.length ? `${plural(lines.length, 'line')}${following ? ' · the log ended' : ''}` : 'No output.';
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CONNECTING && opened) { status.textContent = 'Reconnecting…'; return; }
      es.close();
      if (source === es) source = null;
      flush();
      if (!opened) {
        // The stream gives no reason: ask once for the answer's message.
        fetch(urlFor(false).replace('events=1', 'events=0'), { credentials: 'same-origin', signal: ctx.signal })
          .then(async r => { if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || r.statusText); })
          .then(() => { status.textContent = 'The log could not be read.'; })
          .catch(e => { if (!ctx.signal.aborted) { status.textContent = ''; note.replaceChildren(errorBox(e.message, 'Could not read the logs')); } });
      } else status.textContent = 'The log stream ended.';
    };
  }

  const searchNow = debounce(() => { match = lineMatcher(search.value, prefs.regex); repaint(); }, 150);
  search.addEventListener('input', searchNow);
  regex.addEventListener('change', () => { prefs.regex = regex.checked; match = lineMatcher(search.value, prefs.regex); repaint(); });
  tail.addEventListener('change', () => { prefs.tail = tail.value; load(); });
  ts.addEventListener('change', () => { prefs.timestamps = ts.checked; repaint(); setDownload(); });
  follow.addEventListener('change', () => { prefs.follow = follow.checked; load(); });
  auto.addEventListener('change', () => { prefs.autoscroll = auto.checked; scroll(); });
  wrap.addEventListener('change', () => { prefs.wrap = wrap.checked; out.classList.toggle('wrapped', wrap.checked); });
  since.addEventListener('change', () => load());
  until.addEventListener('change', () => load());
  refresh.addEventListener('click', () => load());
  downloadShown.addEventListener('click', () => {
    const text = lines.map(l => (prefs.timestamps && l.t ? `${l.t} ${l.text}` : l.text)).join('\n');
    downloadText(`${(info.Name ?? info.Id).replace(/^\//, '')}-shown.log`, text ? `${text}\n` : '');
  });
  load();
  return () => { searchNow.cancel(); stop(); };
}
