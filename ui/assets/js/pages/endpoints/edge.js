// The Endpoints page's edge part (admin): agents that dial in to the console (their keys
// rotated or revoked), the enrol tokens they enrol with, and the form that makes one (its
// token shown once).

import { get, post, del, listOf, aborted } from '../../api.js';
import {
  h, badge, errorBox, loading, copyButton, field, toast, confirmDialog, dataTable, unixDate, unixWhen, fmtTime, dash,
} from '../../ui.js';

/** The edge agents and tokens, with what makes and revokes them; `changed` after a change. */
export function edgeSection(ctx, changed) {
  const agentsBox = h('div', null, loading('Listing the edge agents…'));
  const tokensBox = h('div', null, loading('Listing the enrol tokens…'));

  const agents = dataTable({
    sort: { col: 0, dir: 1 },
    empty: 'No edge agent has enrolled yet. Make an enrol token and start an agent with it.',
    rowAttrs: a => ({ 'data-edge-agent': a.agent_id }),
    columns: [
      { label: 'Node', sort: a => a.node, cell: a => h('span', { class: 'strong' }, a.node) },
      { label: 'Agent ID', sort: a => a.agent_id, cls: 'mono', cell: a => a.agent_id },
      {
        label: 'State', sort: a => (a.revoked ? 0 : a.connected ? 2 : 1), cell: a => (a.revoked
          ? badge('revoked', 'bad')
          : a.connected ? badge('connected', 'ok', `since ${fmtTime(unixDate(a.connected_since))}`) : badge('disconnected', 'warn')),
      },
      { label: 'Last seen', sort: a => a.last_seen, cell: a => (a.connected ? 'now' : unixWhen(a.last_seen)) },
      { label: 'Version', sort: a => a.version, cell: a => dash(a.version) },
      { label: 'Address', sort: a => a.address, cls: 'mono', cell: a => dash(a.address) },
      { label: 'Enrolled', sort: a => a.enrolled, cell: a => unixWhen(a.enrolled) },
      {
        label: '', cls: 'actions', cell: a => (a.revoked ? null : h('div', { class: 'row-actions' }, h('button', {
          class: 'btn xs', type: 'button', 'data-action': 'rotate-key', disabled: !a.connected,
          title: a.connected ? 'The agent makes a new key, the console pins it; the tunnel stays up' : 'Only a connected agent’s key is rotated',
          onclick: async () => {
            try {
              await post(`/api/edge/agents/${encodeURIComponent(a.agent_id)}/key`, {});
              toast(`Rotated the key of the agent on ${a.node}`);
            } catch (x) { toast(x.message, 'error'); }
            load();
          },
        }, 'Rotate key'), h('button', {
          class: 'btn xs danger-ghost', type: 'button', 'data-action': 'revoke-agent',
          onclick: async () => {
            if (!await confirmDialog(`Revoke the edge agent on ${a.node}?`, {
              title: 'Revoke edge agent', okText: 'Revoke', danger: true,
              detail: 'Its tunnel closes now, streams included, and it cannot dial in again.',
            })) return;
            try {
              await del(`/api/edge/agents/${encodeURIComponent(a.agent_id)}`);
              toast(`Revoked the agent on ${a.node}`);
            } catch (x) { toast(x.message, 'error'); }
            load();
            changed();
          },
        }, 'Revoke'))),
      },
    ],
  });

  const tokens = dataTable({
    sort: { col: 4, dir: -1 },
    empty: 'No enrol tokens.',
    rowAttrs: t => ({ 'data-enrol-token': t.id }),
    columns: [
      { label: 'Endpoint', sort: t => t.endpoint, cell: t => t.endpoint },
      { label: 'Uses', cls: 'num', sort: t => t.uses, cell: t => `${t.uses}/${t.max_uses}` },
      {
        label: 'State', sort: t => (t.revoked ? 0 : 1), cell: t => {
          if (t.revoked) return badge('revoked', 'bad');
          if (t.expires * 1000 <= Date.now()) return badge('expired', 'grey');
          if (t.uses >= t.max_uses) return badge('used up', 'grey');
          return badge('usable', 'ok');
        },
      },
      { label: 'Expires', sort: t => t.expires, cell: t => unixWhen(t.expires) },
      { label: 'Made', sort: t => t.created, cell: t => [unixWhen(t.created), ' by ', t.created_by] },
      {
        label: '', cls: 'actions', cell: t => (t.revoked ? null : h('button', {
          class: 'btn xs danger-ghost', type: 'button', 'data-action': 'revoke-token',
          onclick: async () => {
            try {
              await del(`/api/edge/tokens/${t.id}`);
              toast('Revoked the enrol token');
            } catch (x) { toast(x.message, 'error'); }
            load();
          },
        }, 'Revoke')),
      },
    ],
  });

  const endpoint = h('input', { id: 'enrol-endpoint', required: true, autocomplete: 'off', placeholder: 'site-a' });
  const hours = h('input', { id: 'enrol-hours', type: 'number', min: 1, value: 24 });
  const uses = h('input', { id: 'enrol-uses', type: 'number', min: 1, value: 1 });
  const shown = h('div', { id: 'enrol-token-shown', hidden: true });
  const err = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', {
    class: 'stack',
    onsubmit: async e => {
      e.preventDefault();
      err.textContent = '';
      try {
        const made = await post('/api/edge/tokens', {
          endpoint: endpoint.value.trim(), ttl_hours: Number(hours.value), max_uses: Number(uses.value),
        });
        const command = `bosun-agent run --console-url ${location.origin} --enrol-token ${made.token} --console-ca console-ca.pem`;
        shown.replaceChildren(
          h('div', { class: 'panel-head' }, h('strong', null, 'The token, shown once'), copyButton(() => made.token)),
          h('pre', { class: 'keybox mono', id: 'enrol-token-value' }, made.token),
          h('div', { class: 'panel-head' }, h('span', { class: 'hint' }, 'Start an agent with it:'), copyButton(() => command, 'Copy command')),
          h('pre', { class: 'keybox mono' }, command));
        shown.hidden = false;
        load();
      } catch (x) { err.textContent = x.message; }
    },
  },
  field('Endpoint', endpoint, 'The agents enrol into this endpoint; it is made on the first enrolment.'),
  field('Valid for (hours)', hours), field('Uses', uses, 'How many agents may enrol with it: one per node of a global service.'),
  err, h('div', null, h('button', { class: 'btn primary', type: 'submit' }, 'Make enrol token')), shown);

  async function load() {
    const [a, t] = await Promise.allSettled([
      get('/api/edge/agents', { signal: ctx.signal }),
      get('/api/edge/tokens', { signal: ctx.signal }),
    ]);
    for (const [result, table, box, what] of [[a, agents, agentsBox, 'edge agents'], [t, tokens, tokensBox, 'enrol tokens']]) {
      if (result.status === 'fulfilled') {
        table.set(listOf(result.value));
        if (table.el.parentNode !== box) box.replaceChildren(table.el);
      } else if (!aborted(ctx, result.reason)) {
        box.replaceChildren(errorBox(result.reason.message, `Could not list the ${what}`));
      }
    }
  }

  return {
    list: h('section', { class: 'edge', id: 'edge-agents' }, h('h2', null, 'Edge agents'),
      h('p', { class: 'hint' }, 'Agents the console cannot reach, which dial in to it. Revoking one closes its tunnel at once.'),
      agentsBox, h('h2', null, 'Enrol tokens'), tokensBox),
    form: h('section', { class: 'panel' }, h('h2', null, 'Enrol edge agents'), form),
    load,
  };
}
