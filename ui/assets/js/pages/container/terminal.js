// The terminal tab of a container's page: xterm.js over a WebSocket to the console, which
// runs the command with a TTY in the container; sized to the panel and resized with the
// window. The console records each session in the audit log when it ends.

import { ep, enc, csrf } from '../../api.js';
import { h, debounce, callout, errorBox, badge } from '../../ui.js';

let lib = null;

/** xterm.js (with its fit addon) and its style sheet, loaded once. */
function xtermLib() {
  if (window.Terminal) return Promise.resolve(window.Terminal);
  lib ??= new Promise((resolve, reject) => {
    if (!document.querySelector('link[data-xterm]')) {
      document.head.append(h('link', { rel: 'stylesheet', href: '/assets/vendor/xterm.css', 'data-xterm': '' }));
    }
    const s = document.createElement('script');
    s.src = '/assets/vendor/xterm.js';
    s.onload = () => (window.Terminal ? resolve(window.Terminal) : reject(new Error('The terminal library did not start.')));
    s.onerror = () => { lib = null; s.remove(); reject(new Error('Could not load the terminal library.')); };
    document.head.append(s);
  });
  return lib;
}

const prefs = { cmd: 'sh' };

export function terminalTab(panel, id, info, ctx) {
  const cmd = h('input', { id: 'terminal-command', class: 'mono', value: prefs.cmd, autocomplete: 'off', spellcheck: false, 'aria-label': 'Command' });
  const connect = h('button', { id: 'terminal-connect', class: 'btn primary', type: 'submit' }, 'Connect');
  const disconnect = h('button', { id: 'terminal-disconnect', class: 'btn', type: 'button', disabled: true }, 'Disconnect');
  const status = h('span', { id: 'terminal-status', class: 'muted small' });
  const size = h('span', { id: 'terminal-size', class: 'muted small mono' });
  const note = h('div', null, info.State?.Running ? null : callout('warn', 'The container is not running; a terminal needs a running container.'));
  const host = h('div', { id: 'terminal', class: 'terminal-host' });
  const form = h('form', { class: 'toolbar terminal-bar', onsubmit: e => { e.preventDefault(); open(); } },
    h('span', { class: 'prompt mono' }, '$'), cmd, connect, disconnect, h('span', { class: 'grow' }), size, status);
  panel.append(form, h('p', { class: 'hint' }, 'An interactive shell with a TTY, as docker exec -it. Every session is recorded in the audit log.'), note, host);

  let term = null;
  let socket = null;
  let stopped = false;

  const fit = debounce(() => { if (term) { term.fit(); size.textContent = `${term.cols}×${term.rows}`; } }, 100);
  window.addEventListener('resize', fit);

  function close() {
    socket?.close();
    socket = null;
    term?.destroy();
    term = null;
    host.replaceChildren();
    connect.disabled = false;
    disconnect.disabled = true;
  }

  async function open() {
    close();
    note.replaceChildren();
    prefs.cmd = cmd.value.trim() || 'sh';
    let Terminal;
    try {
      Terminal = await xtermLib();
    } catch (e) {
      note.replaceChildren(errorBox(e.message, 'No terminal'));
      return;
    }
    if (stopped) return;
    connect.disabled = true;
    disconnect.disabled = false;
    // The screen reader mode keeps the screen's text in the page too: for screen readers,
    // and for whoever reads the page's text.
    term = new Terminal({ cursorBlink: true, fontSize: 13, screenReaderMode: true, theme: terminalTheme() });
    term.open(host);
    term.fit();
    size.textContent = `${term.cols}×${term.rows}`;
    const params = new URLSearchParams({ cmd: prefs.cmd, cols: term.cols, rows: term.rows, csrf: csrf() ?? '' });
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${ep(id, `/containers/${enc(info.Id)}/terminal`)}?${params}`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    socket = ws;
    const shown = term;
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let opened = false;
    status.replaceChildren(badge('connecting…', 'info'));
    ws.onopen = () => { opened = true; status.replaceChildren(badge('connected', 'ok')); shown.focus(); };
    ws.onmessage = m => {
      if (typeof m.data !== 'string') { shown.write(decoder.decode(m.data, { stream: true })); return; }
      let said;
      try { said = JSON.parse(m.data); } catch { return; }
      if (said.error) note.replaceChildren(errorBox(said.error, 'The terminal stopped'));
      if ('exit' in said) status.replaceChildren(badge(said.exit == null ? 'ended' : `exit code ${said.exit}`, said.exit === 0 ? 'ok' : 'grey'));
    };
    ws.onclose = e => {
      if (socket !== ws) return;
      socket = null;
      connect.disabled = false;
      disconnect.disabled = true;
      if (!opened) {
        status.replaceChildren();
        note.replaceChildren(errorBox(e.reason || 'The console refused the terminal: is the container running, and may you exec in it?', 'No terminal'));
      } else if (!status.textContent.startsWith('exit')) status.replaceChildren(badge('disconnected', 'grey'));
    };
    shown.on('data', data => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
    shown.on('resize', ({ cols, rows }) => {
      size.textContent = `${cols}×${rows}`;
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: { cols, rows } }));
    });
  }

  disconnect.addEventListener('click', () => { socket?.close(); });
  if (info.State?.Running) open();
  return () => { stopped = true; fit.cancel(); window.removeEventListener('resize', fit); close(); };
}

/** The terminal's colours from the page's, so that it follows the console's theme. */
function terminalTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = name => css.getPropertyValue(name).trim() || undefined;
  return { background: v('--panel'), foreground: v('--text'), cursor: v('--accent'), selection: v('--accent-soft') };
}
