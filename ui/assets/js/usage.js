// What the usage pages share: Chart.js (Debian's build, embedded by ui/build.rs) loaded
// on first use, the number formats, usage bars, the range picker, and the time chart
// with a crosshair whose tooltip reads every line's value at the pointer.

import { h, bytes } from './ui.js';
import { cssVar } from './theme.js';

export const RANGES = ['1h', '24h', '7d', '30d', '1y'];

/** The range the charts show, kept while the console is open. */
export const chosen = { range: '1h' };

let lib = null;

/** Chart.js, loaded once. Its UMD build sets window.Chart when run as a classic script. */
export function chartLib() {
  if (window.Chart) return Promise.resolve(window.Chart);
  lib ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/assets/vendor/chart.umd.js';
    s.onload = () => (window.Chart ? resolve(window.Chart) : reject(new Error('The chart library did not start.')));
    s.onerror = () => { lib = null; s.remove(); reject(new Error('Could not load the chart library.')); };
    document.head.append(s);
  });
  return lib;
}

// ---- numbers ---------------------------------------------------------------

export const pct = v => (v == null || isNaN(v) ? '—'
  : `${Number(v).toFixed(v === 0 || v >= 10 ? 0 : v < 1 ? 2 : 1)} %`);
export const rate = v => (v == null || isNaN(v) ? '—' : `${bytes(v)}/s`);
export const loadFmt = v => (v == null || isNaN(v) ? '—' : Number(v).toFixed(2));
export const share = (used, total) => (used != null && total > 0 ? (100 * used) / total : null);

/** A bar filled to `percent`, amber from 75 % and red from 90 %, with its text beside. */
export function usageBar(percent, text, title) {
  const fill = h('span', { class: `meter-fill${percent >= 90 ? ' bad' : percent >= 75 ? ' warn' : ''}` });
  fill.style.width = `${Math.max(0, Math.min(100, percent ?? 0))}%`;
  return h('div', { class: 'usage-bar', title },
    h('span', { class: 'usage-text' }, text ?? pct(percent)),
    h('span', { class: 'meter' }, fill));
}

/** Buttons for the ranges; `onPick(range)` when one is chosen. */
export function rangePicker(onPick) {
  const box = h('div', { class: 'range-picker', role: 'group', 'aria-label': 'Range' });
  const mark = () => {
    for (const b of box.children) {
      const on = b.dataset.range === chosen.range;
      b.classList.toggle('active', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  };
  box.append(...RANGES.map(r => h('button', {
    type: 'button', class: 'btn small', 'data-range': r,
    onclick: () => { chosen.range = r; mark(); onPick(r); },
  }, r)));
  mark();
  return box;
}

// ---- time axis -------------------------------------------------------------

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TICK_STEPS = [MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY];

/** Ticks on round local times between min and max (milliseconds), at most about seven. */
export function timeTicks(min, max) {
  const step = TICK_STEPS.find(s => (max - min) / s <= 7) ?? TICK_STEPS[TICK_STEPS.length - 1];
  const offset = new Date(min).getTimezoneOffset() * MIN;
  let t = Math.ceil((min - offset) / step) * step + offset;
  const out = [];
  for (; t <= max; t += step) out.push({ value: t });
  return out;
}

export function tickLabel(ms, span) {
  const d = new Date(ms);
  if (span <= 2 * DAY) return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (span <= 62 * DAY) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return d.toLocaleDateString(undefined, { month: 'short', year: 'numeric' });
}

export function pointTime(ms, span) {
  const d = new Date(ms);
  return span <= DAY
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// A dashed vertical line at the point the tooltip reads.
export const crosshair = {
  id: 'bosunCrosshair',
  afterDatasetsDraw(chart) {
    const active = chart.tooltip?.getActiveElements?.() ?? [];
    if (!active.length) return;
    const x = active[0].element.x;
    const { top, bottom } = chart.chartArea;
    const g = chart.ctx;
    g.save();
    g.beginPath();
    g.moveTo(x, top);
    g.lineTo(x, bottom);
    g.lineWidth = 1;
    g.setLineDash([3, 3]);
    g.strokeStyle = cssVar('--chart-crosshair');
    g.stroke();
    g.restore();
  },
};

/** Ticks for sizes and rates on round binary figures (1, 2, 5 × KiB, MiB, …), about five. */
function byteTicks(max) {
  let unit = 1;
  while (max / unit >= 1024 && unit < 1024 ** 4) unit *= 1024;
  const step = [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1024].find(k => max / (k * unit) <= 5) * unit || unit;
  const out = [];
  for (let v = 0; v <= max + step / 1000; v += step) out.push({ value: v });
  return out;
}

// The lines' colours in order, as the light theme has them; each is drawn in the shown
// theme's --chart-N, so a page that names one of these gets its dark twin too.
export const COLORS = ['#0d7c86', '#1d4fb8', '#b45309', '#7e3fb0', '#17733a', '#b42318', '#4f5b67', '#c026d3'];

// Other light-theme colours pages name for lines (a limit, a total): their variables.
const NAMED = { '#8e98a3': '--faint' };

/** A line's colour in the shown theme: a CSS variable's name, a palette colour or any colour. */
function themed(color, i) {
  if (color == null) return cssVar(`--chart-${(i % COLORS.length) + 1}`);
  if (color.startsWith('--')) return cssVar(color);
  const k = COLORS.indexOf(color.toLowerCase());
  if (k >= 0) return cssVar(`--chart-${k + 1}`);
  return NAMED[color.toLowerCase()] ? cssVar(NAMED[color.toLowerCase()]) : color;
}

/** Axis text and grid lines in the shown theme. */
export function axisColors(options) {
  const text = cssVar('--chart-text');
  const grid = cssVar('--chart-grid');
  for (const axis of Object.values(options.scales)) {
    axis.ticks.color = text;
    if (axis.grid.display !== false) axis.grid.color = grid;
    axis.border = { ...axis.border, color: grid };
  }
  options.plugins.legend.labels.color = text;
}

function datasets(spec) {
  return spec.lines.map((l, i) => {
    const color = themed(l.color, i);
    // A line of a few samples (a node just added) is drawn with its points, so it shows.
    const sparse = l.values.filter(v => v != null).length <= 60;
    return {
      label: l.label,
      data: (l.times ?? spec.times).map((t, j) => ({ x: t * 1000, y: l.values[j] ?? null })),
      borderColor: color,
      backgroundColor: `${color}22`,
      borderWidth: l.dashed ? 1 : 1.5,
      borderDash: l.dashed ? [4, 3] : [],
      fill: l.fill ? 'origin' : false,
      pointRadius: sparse ? 1.5 : 0,
      pointHoverRadius: 3,
      spanGaps: false,
      tension: 0,
      hidden: !!l.hidden,
    };
  });
}

/**
 * A time chart drawn into a new card. spec: { title, times (Unix seconds), from, to,
 * lines: [{label, values, times?, color?, dashed?, fill?, hidden?}], format: value → text,
 * binary? (ticks on round KiB, MiB, …), max?, key (data-chart) }. Returns { el, update(spec), destroy() }.
 */
export function timeChart(spec) {
  const canvas = h('canvas', { 'data-chart': spec.key, role: 'img', 'aria-label': spec.title });
  const note = h('div', { class: 'chart-note muted small' });
  const el = h('section', { class: 'chart-card' }, h('h3', null, spec.title), h('div', { class: 'chart-box' }, canvas), note);
  let chart = null;
  let current = spec;
  let gone = false;

  const mark = s => {
    // How many points have a value: what the page (and its tests) can check.
    const points = s.lines.reduce((n, l) => n + l.values.filter(v => v != null).length, 0);
    canvas.dataset.points = String(points);
    note.textContent = points ? '' : 'No samples in this range.';
  };

  const draw = Chart => {
    if (gone) return;
    const s = current;
    const span = (s.to - s.from) * 1000;
    chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: datasets(s) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: {
            type: 'linear', min: s.from * 1000, max: s.to * 1000,
            afterBuildTicks: scale => { scale.ticks = timeTicks(scale.min, scale.max); },
            ticks: { autoSkip: false, maxRotation: 0, callback: v => tickLabel(v, (current.to - current.from) * 1000) },
            grid: { display: false },
          },
          y: {
            beginAtZero: true, suggestedMax: s.max,
            afterBuildTicks: scale => { if (current.binary && scale.max > 0) scale.ticks = byteTicks(scale.max); },
            ticks: { maxTicksLimit: 6, callback: v => current.format(v) },
            grid: {},
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, font: { size: 11 } } },
          tooltip: {
            callbacks: {
              title: items => (items.length ? pointTime(items[0].parsed.x, span) : ''),
              label: item => `${item.dataset.label}: ${current.format(item.parsed.y)}`,
            },
          },
        },
      },
      plugins: [crosshair],
    });
    axisColors(chart.options);
    chart.update('none');
    mark(s);
  };

  // The page's colours changed (the theme switch, or the browser's setting): redraw in them.
  const recolor = () => {
    if (!chart) return;
    chart.data.datasets = datasets(current);
    axisColors(chart.options);
    chart.update('none');
  };
  window.addEventListener('themechange', recolor);

  chartLib().then(draw).catch(e => { note.textContent = e.message; });

  return {
    el,
    update(next) {
      current = next;
      if (!chart) return;
      chart.data.datasets = datasets(next);
      chart.options.scales.x.min = next.from * 1000;
      chart.options.scales.x.max = next.to * 1000;
      chart.options.scales.y.suggestedMax = next.max;
      chart.update('none');
      mark(next);
    },
    destroy() { gone = true; window.removeEventListener('themechange', recolor); chart?.destroy(); chart = null; },
  };
}

/** What one point of a chart stands for: a sample, or a bucket of them. */
export function stepText(bucket) {
  if (!bucket) return 'every sample';
  if (bucket < 60) return `${bucket}-second steps`;
  if (bucket < 3600) return `${Math.round(bucket / 60)}-minute steps`;
  return `${Math.round(bucket / 3600)}-hour steps`;
}

/** A figure's line from an answer's points: its values, or its peaks. */
export const valuesOf = (points, name, which = 'value') => points?.[name]?.[which] ?? [];

/** The peak line of a figure, when the range's points are buckets. */
export function peakLine(points, name, label, color) {
  const peak = points?.[name]?.peak;
  return peak ? [{ label, values: peak, color, dashed: true }] : [];
}
