// The exec tab of a container's page: one command run to its end, its output and exit code.

import { post, ep, enc, aborted } from '../../api.js';
import { h, badge, errorBox, callout } from '../../ui.js';

/** Splits a command line into words, honouring '…', "…" and backslashes; no shell. */
function splitCommand(s) {
  const out = [];
  let cur = '';
  let quote = null;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") { quote = ch; started = true; }
    else if (ch === '\\' && i + 1 < s.length) { cur += s[++i]; started = true; }
    else if (/\s/.test(ch)) { if (started) { out.push(cur); cur = ''; started = false; } }
    else { cur += ch; started = true; }
  }
  if (started) out.push(cur);
  return out;
}

export function execTab(panel, id, info, ctx) {
  const input = h('input', { id: 'exec-command', class: 'mono grow', placeholder: 'ls -l /', autocomplete: 'off', spellcheck: false, 'aria-label': 'Command' });
  const run = h('button', { id: 'exec-run', class: 'btn primary', type: 'submit' }, 'Run');
  const exit = h('span', { id: 'exec-exit' });
  const out = h('pre', { id: 'exec-output', class: 'console' });
  const note = h('div', null, info.State?.Running ? null : callout('warn', 'The container is not running; exec needs a running container.'));
  const form = h('form', {
    class: 'exec-form',
    onsubmit: async e => {
      e.preventDefault();
      const cmd = splitCommand(input.value);
      if (!cmd.length) return;
      run.disabled = true;
      exit.replaceChildren(badge('running…', 'info'));
      note.replaceChildren();
      try {
        const r = await post(ep(id, `/containers/${enc(info.Id)}/exec`), { cmd }, { signal: ctx.signal });
        out.textContent = r.output || '';
        out.classList.toggle('placeholder', !r.output);
        if (!r.output) out.textContent = '(no output)';
        exit.replaceChildren(badge(`exit code ${r.exit_code ?? '?'}`, r.exit_code === 0 ? 'ok' : 'bad'));
      } catch (x) {
        if (aborted(ctx, x)) return;
        exit.replaceChildren();
        note.replaceChildren(errorBox(x.message, 'The command did not run'));
      } finally {
        run.disabled = false;
      }
    },
  }, h('span', { class: 'prompt mono' }, '$'), input, run);
  panel.append(form, h('p', { class: 'hint' }, 'Runs without a shell: use sh -c "…" for pipes and variables. Every command is recorded in the audit log.'),
    note, h('div', { class: 'exec-result' }, exit), out);
  input.focus();
}
