// The history of one check on one node: its runs' durations as a line, and its state
// over time as a stepped line coloured by state, drawn with Chart.js as the usage charts
// are (the same time axis, crosshair and theme colours).

import { get, ep, enc, query, aborted } from '../../api.js';
import { h, errorBox } from '../../ui.js';
import { cssVar } from '../../theme.js';
import { chartLib, timeTicks, tickLabel, pointTime, crosshair, axisColors } from '../../usage.js';

export const STATES = ['ok', 'warning', 'critical', 'unknown'];
const STATE_VAR = { ok: '--ok', warning: '--warn-line', critical: '--bad', unknown: '--grey' };
const RANGES = [['1h', 3600], ['6h', 6 * 3600], ['24h', 24 * 3600], ['7d', 7 * 24 * 3600]];

/** A duration in milliseconds as people read it. */
export function ms(v) {
  if (v == null || isNaN(v)) return '—';
  if (v < 10) return `${Number(v.toFixed(1))} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  return `${(v / 60000).toFixed(1)} min`;
}

const stateColor = s => cssVar(STATE_VAR[s] ?? '--grey');

/**
 * The history panel. `choices()` gives {checks: [{id, name}], nodes: [names]} for its
 * pickers; show(check, node) picks one and draws it. Returns { el, show, refresh }.
 */
export function historyPanel(id, ctx, choices) {
  const pick = { check: '', node: '', since: 3600 };
  const checkSel = h('select', { id: 'history-check', 'aria-label': 'Check', onchange: e => { pick.check = e.target.value; load(); } });
  const nodeSel = h('select', { id: 'history-node', 'aria-label': 'Node', onchange: e => { pick.node = e.target.value; load(); } });
  const ranges = h('div', { class: 'range-picker', role: 'group', 'aria-label': 'Range' }, RANGES.map(([label, secs]) => h('button', {
    type: 'button', class: 'btn small', 'data-range': label,
    onclick: () => { pick.since = secs; mark(); load(); },
  }, label)));
  const mark = () => {
    for (const b of ranges.children) {
      const on = RANGES.find(r => r[0] === b.dataset.range)?.[1] === pick.since;
      b.classList.toggle('active', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  };
  mark();
  const canvas = h('canvas', { 'data-chart': 'check-history', role: 'img', 'aria-label': 'Duration and state over time' });
  const note = h('div', { class: 'chart-note muted small' }, 'Choose a check and a node, or press History in the table.');
  const summary = h('div', { class: 'history-summary muted small' });
  const problem = h('div');
  const el = h('section', { id: 'checks-history', class: 'panel checks-section' },
    h('div', { class: 'panel-head' }, h('h2', null, 'History'), ranges),
    h('div', { class: 'toolbar' }, checkSel, nodeSel),
    problem,
    h('div', { class: 'chart-card' }, h('div', { class: 'chart-box' }, canvas), note),
    summary);
  let chart = null;
  let points = [];
  let from = 0;
  let to = 0;

  let offered = '';
  function fill() {
    const { checks, nodes } = choices();
    const sig = JSON.stringify([checks, nodes]);
    if (sig === offered) return; // an open picker stays open
    offered = sig;
    checkSel.replaceChildren(h('option', { value: '' }, 'Check…'), ...checks.map(c => h('option', { value: c.id }, c.name)));
    nodeSel.replaceChildren(h('option', { value: '' }, 'Node…'), ...nodes.map(n => h('option', { value: n }, n)));
    checkSel.value = pick.check;
    nodeSel.value = pick.node;
  }

  function datasets() {
    const line = cssVar('--chart-1');
    return [
      {
        label: 'Duration',
        yAxisID: 'y',
        data: points.map(p => ({ x: p.at_ms, y: p.duration_ms })),
        borderColor: line,
        backgroundColor: `${line}22`,
        borderWidth: 1.5,
        pointRadius: points.length <= 120 ? 1.5 : 0,
        pointHoverRadius: 3,
        tension: 0,
      },
      {
        label: 'State',
        yAxisID: 'state',
        stepped: 'before',
        data: points.map(p => ({ x: p.at_ms, y: Math.max(0, STATES.indexOf(p.state)) })),
        borderColor: cssVar('--faint'),
        pointBackgroundColor: points.map(p => stateColor(p.state)),
        pointBorderColor: points.map(p => stateColor(p.state)),
        // A state holds from its run to the next: each step in the colour of its start.
        segment: { borderColor: s => stateColor(STATES[s.p0.parsed.y] ?? 'unknown') },
        borderWidth: 2,
        pointRadius: points.length <= 120 ? 2.5 : 1,
        pointHoverRadius: 4,
      },
    ];
  }

  function options() {
    const span = to - from;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: {
          type: 'linear', min: from, max: to,
          afterBuildTicks: scale => { scale.ticks = timeTicks(scale.min, scale.max); },
          ticks: { autoSkip: false, maxRotation: 0, callback: v => tickLabel(v, span) },
          grid: { display: false },
        },
        y: { beginAtZero: true, position: 'left', ticks: { maxTicksLimit: 5, callback: v => ms(v) }, grid: {} },
        state: {
          position: 'right', min: 0, max: 3,
          afterBuildTicks: scale => { scale.ticks = STATES.map((_, i) => ({ value: i })); },
          ticks: { callback: v => STATES[v] ?? '' },
          grid: { display: false },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, font: { size: 11 } } },
        tooltip: {
          callbacks: {
            title: items => (items.length ? pointTime(items[0].parsed.x, span) : ''),
            label: item => (item.dataset.yAxisID === 'state'
              ? `State: ${STATES[item.parsed.y]} (this run: ${points[item.dataIndex]?.status ?? '?'})`
              : `Duration: ${ms(item.parsed.y)}`),
          },
        },
      },
    };
  }

  function draw(Chart) {
    if (ctx.signal.aborted) return;
    const o = options();
    axisColors(o);
    if (!chart) {
      chart = new Chart(canvas, { type: 'line', data: { datasets: datasets() }, options: o, plugins: [crosshair] });
    } else {
      chart.data.datasets = datasets();
      chart.options = o;
      chart.update('none');
    }
    canvas.dataset.points = String(points.length);
    canvas.dataset.check = pick.check;
    canvas.dataset.node = pick.node;
  }

  function describe() {
    if (!points.length) { summary.replaceChildren(); return; }
    const counts = Object.fromEntries(STATES.map(s => [s, points.filter(p => p.status === s).length]));
    const durations = points.map(p => p.duration_ms).filter(v => v != null).sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)];
    summary.replaceChildren(`${points.length} runs · ${STATES.filter(s => counts[s]).map(s => `${counts[s]} ${s}`).join(', ')} · median ${ms(median)} · slowest ${ms(durations[durations.length - 1])}`);
  }

  async function load() {
    checkSel.value = pick.check;
    nodeSel.value = pick.node;
    if (!pick.check || !pick.node) return;
    problem.replaceChildren();
    const asked = { ...pick };
    try {
      const r = await get(ep(id, `/checks/${enc(pick.check)}/history${query({ node: pick.node, since: pick.since })}`), { signal: ctx.signal });
      if (asked.check !== pick.check || asked.node !== pick.node || asked.since !== pick.since) return; // another was picked meanwhile
      points = (r.points ?? []).filter(p => p.at_ms != null);
      to = Date.now();
      // A check younger than the range: the chart starts a little before its first run.
      from = Math.max(to - pick.since * 1000, points.length ? points[0].at_ms - 30_000 : 0);
      note.textContent = points.length ? '' : 'No runs in this range.';
      describe();
      draw(await chartLib());
    } catch (e) {
      if (aborted(ctx, e)) return;
      problem.replaceChildren(errorBox(e.message, 'Could not read the check’s history'));
    }
  }

  const recolor = () => { if (chart) draw(window.Chart); };
  window.addEventListener('themechange', recolor);
  ctx.onLeave(() => { window.removeEventListener('themechange', recolor); chart?.destroy(); chart = null; });

  return {
    el,
    /** The pickers' choices again (after a reload of the checks and nodes). */
    refresh() { fill(); if (pick.check && pick.node) load(); },
    show(check, node) {
      pick.check = check;
      pick.node = node;
      fill();
      load();
      el.scrollIntoView({ block: 'start', behavior: 'smooth' });
    },
  };
}
