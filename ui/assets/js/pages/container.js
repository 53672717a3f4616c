// #/e/ID/containers/CID[/TAB] : one container: overview, inspect, logs, stats (live, and
// its history over a range), a terminal and exec. The logs, terminal and exec tabs are
// modules of their own under container/.

import { get, ep, enc, aborted } from '../api.js';
import {
  h, debounce, toDate, relTime, fmtTime, bytes, shortId, plural, badge, stateBadge, mono, dash,
  errorBox, callout, copyButton,
} from '../ui.js';
import {
  nodeOf, liveEvents, endpointShell, containerAction, actionButtons, allowedActions, statusText, portsCell, QUIET_EVENT,
} from '../cluster.js';
import { chosen, rangePicker, timeChart, valuesOf, peakLine, pct, rate, stepText } from '../usage.js';
import { logsTab } from './container/logs.js';
import { execTab } from './container/exec.js';
import { terminalTab } from './container/terminal.js';

function quoteArg(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, `'\\''`)}'`;
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

/** The list's status text (`Up 5 minutes (healthy)`, `Exited (3) 2 minutes ago`) from an inspect. */
function inspectStatus(info) {
  const st = info.State ?? {};
  const health = st.Health?.Status && st.Health.Status !== 'none' ? ` (${st.Health.Status === 'starting' ? 'health: starting' : st.Health.Status})` : '';
  const since = t => relTime(t).replace(/^just now$/, 'less than a minute ago');
  switch (st.Status) {
    case 'running': return `Up ${since(st.StartedAt).replace(/ ago$/, '')}${health}`;
    case 'paused': return `Up ${since(st.StartedAt).replace(/ ago$/, '')} (Paused)`;
    case 'restarting': return `Restarting (${st.ExitCode ?? 0}) ${since(st.FinishedAt)}`;
    case 'exited': return toDate(st.FinishedAt) ? `Exited (${st.ExitCode ?? 0}) ${since(st.FinishedAt)}` : `Exited (${st.ExitCode ?? 0})`;
    case 'created': return 'Created';
    case 'dead': return 'Dead';
    default: return st.Status ?? '';
  }
}

function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h2', null, title), body);
}

function overview(info, gone) {
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
    ['State', gone ? badge('removed', 'bad') : [stateBadge(st.Status), st.Health?.Status ? [' ', badge(st.Health.Status, st.Health.Status === 'healthy' ? 'ok-ghost' : 'bad')] : null,
      st.Status === 'exited' ? h('span', { class: st.ExitCode ? 'error-text' : 'muted' }, ` exit code ${st.ExitCode}`) : null, st.OOMKilled ? badge('OOM killed', 'bad') : null]],
    ['Status', gone ? 'Removed' : st.Running ? `Up since ${fmtTime(st.StartedAt)} (${relTime(st.StartedAt)})`
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

/** The container's usage history, as timeChart's specs. */
function historySpecs(u) {
  const p = u.points;
  const base = { times: p.times, from: u.from, to: u.to };
  return [
    {
      ...base, key: 'ct-cpu', title: 'CPU (100 % = one core)', format: pct, max: 5,
      lines: [{ label: 'CPU', values: valuesOf(p, 'cpu'), fill: true }, ...peakLine(p, 'cpu', 'CPU peak')],
    },
    {
      ...base, key: 'ct-memory', title: 'Memory', format: bytes, binary: true,
      lines: [
        { label: 'Used', values: valuesOf(p, 'mem_used'), fill: true },
        ...peakLine(p, 'mem_used', 'Used peak'),
        { label: 'Limit', values: valuesOf(p, 'mem_limit'), color: '#8e98a3', dashed: true, hidden: true },
      ],
    },
    {
      ...base, key: 'ct-network', title: 'Network', format: rate, binary: true,
      lines: [{ label: 'Received', values: valuesOf(p, 'net_rx') }, { label: 'Sent', values: valuesOf(p, 'net_tx') }],
    },
    {
      ...base, key: 'ct-block', title: 'Block I/O', format: rate, binary: true,
      lines: [{ label: 'Read', values: valuesOf(p, 'blk_read') }, { label: 'Written', values: valuesOf(p, 'blk_write') }],
    },
  ];
}

/** The history section of the stats tab; returns { el, stop }. */
function statsHistory(id, info, ctx) {
  const status = h('span', { class: 'muted small' });
  const note = h('div');
  const grid = h('div', { class: 'chart-grid' });
  const el = h('section', { class: 'history' },
    h('div', { class: 'panel-head' }, h('h2', null, 'History'), h('div', { class: 'page-actions' }, status, rangePicker(() => load()))),
    note, grid);
  let charts = null;
  let stopped = false;

  async function load() {
    const range = chosen.range;
    try {
      const u = await get(ep(id, `/usage/containers/${enc(info.Id)}?range=${enc(range)}`), { signal: ctx.signal });
      if (stopped || range !== chosen.range) return;
      note.replaceChildren();
      const specs = historySpecs(u);
      if (!charts) {
        charts = specs.map(timeChart);
        grid.replaceChildren(...charts.map(c => c.el));
      } else specs.forEach((sp, i) => charts[i].update(sp));
      status.textContent = `${stepText(u.bucket)} · on ${u.node}`;
    } catch (e) {
      if (stopped || aborted(ctx, e)) return;
      note.replaceChildren(e.status === 404
        ? callout('info', 'The console has no usage of this container yet; it records it while the container runs.')
        : errorBox(e.message, 'Could not read the container’s history'));
    }
  }
  load();
  const timer = setInterval(() => { if (chosen.range === '1h' || chosen.range === '24h') load(); }, 15000);
  return { el, stop: () => { stopped = true; clearInterval(timer); charts?.forEach(c => c.destroy()); } };
}

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
  const history = statsHistory(id, info, ctx);
  panel.append(note, grid, stamp, history.el);

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
  return () => { stopped = true; clearTimeout(timer); history.stop(); };
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
  if (canAct) TABS.push(['terminal', 'Terminal'], ['exec', 'Exec']);
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
    // A removed container has no state left to show: its last one would read as current.
    const state = gone
      ? [badge('removed', 'bad')]
      : [stateBadge(st.Status, st.Status),
        st.Health?.Status ? badge(st.Health.Status, st.Health.Status === 'healthy' ? 'ok-ghost' : 'bad') : null,
        statusText(st.Status, inspectStatus(info))];
    const title = h('div', { class: 'ct-title' },
      h('h1', null, name()), state,
      h('span', { class: 'muted' }, nodeOf(info) ? `on ${nodeOf(info)}` : ''),
      mono(shortId(info.Id), info.Id));
    const actions = canAct && !gone ? actionButtons(async action => {
      if (!await containerAction(id, { Id: info.Id, name: name(), node: nodeOf(info) }, action)) return;
      if (action === 'remove') location.hash = `#/e/${id}/containers`;
      else refreshInfo();
    }, allowedActions(st.Status)) : null;
    head.replaceChildren(...[title, actions].filter(Boolean));
    head.dataset.state = gone ? 'removed' : st.Status ?? '';
  }

  const RENDER = {
    overview: () => { panel.replaceChildren(overview(info, gone)); },
    inspect: () => {
      panel.replaceChildren(h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'docker inspect'), h('span', { class: 'grow' }),
        copyButton(() => JSON.stringify(info, null, 2), 'Copy JSON')), jsonView(info));
    },
    logs: () => logsTab(panel, id, info, ctx),
    stats: () => statsTab(panel, id, info, ctx),
    terminal: () => terminalTab(panel, id, info, ctx),
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
    if (current === 'overview') RENDER.overview();
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
