// The exec tab of a container's page: one command run to its end, its output and exit code.

import { post, ep, enc, aborted } from '../../api.js';
import { h, badge, errorBox, callout, splitCommand } from '../../ui.js';

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
