// #/e/ID/services : a cluster's Swarm services, scaled and removed.

import { post, del, ep, enc } from '../api.js';
import { h, toDate, timeCell, toast, confirmDialog, promptDialog } from '../ui.js';
import { listSection, portsCell, serviceName, swarmError } from '../cluster.js';

function serviceMode(s) {
  const m = s.Spec?.Mode ?? {};
  const st = s.ServiceStatus;
  if (m.Replicated) return `replicated ${st ? `${st.RunningTasks}/${st.DesiredTasks}` : m.Replicated.Replicas ?? 0}`;
  if (m.Global) return `global${st ? ` ${st.RunningTasks}/${st.DesiredTasks}` : ''}`;
  if (m.ReplicatedJob) return 'replicated job';
  if (m.GlobalJob) return 'global job';
  return '—';
}

function servicePorts(s) {
  return (s.Endpoint?.Ports ?? s.Spec?.EndpointSpec?.Ports ?? []).map(p =>
    `${p.PublishedPort ? `${p.PublishedPort}->` : ''}${p.TargetPort}/${p.Protocol ?? 'tcp'}${p.PublishMode === 'host' ? ' (host)' : ''}`);
}

export function services(main, params, ctx) {
  return listSection(main, params, ctx, {
    section: 'services', title: 'Services', noun: 'services', path: '/services', nodeFilter: false,
    search: s => `${serviceName(s)} ${s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? ''}`, searchPlaceholder: 'Search name or image',
    sort: { col: 0, dir: 1 }, errorView: swarmError('services'),
    rowAttrs: s => ({ 'data-service-name': serviceName(s), 'data-service-id': s.ID }),
    columns: ({ id, reload }) => {
      const cols = [
        { label: 'Name', sort: serviceName, cell: s => h('span', { class: 'strong', title: `ID ${s.ID}` }, serviceName(s)) },
        { label: 'Mode', sort: serviceMode, cell: serviceMode },
        { label: 'Image', cls: 'clip image', sort: s => s.Spec?.TaskTemplate?.ContainerSpec?.Image, cell: s => { const img = s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? ''; return h('span', { title: img }, img.replace(/@sha256:[0-9a-f]+$/, '')); } },
        { label: 'Ports', cell: s => portsCell(servicePorts(s)) },
        { label: 'Updated', sort: s => -(toDate(s.UpdatedAt)?.getTime() ?? 0), cell: s => timeCell(s.UpdatedAt) },
      ];
      if (ctx.can('operator')) {
        cols.push({
          label: '', cls: 'actions', cell: s => h('div', { class: 'row-actions' },
            s.Spec?.Mode?.Replicated ? h('button', {
              type: 'button', class: 'btn xs', 'data-action': 'scale',
              onclick: async () => {
                const v = await promptDialog({
                  title: `Scale ${serviceName(s)}`, label: 'Replicas', type: 'number', okText: 'Scale',
                  value: s.Spec.Mode.Replicated.Replicas ?? 0, attrs: { min: 0, step: 1 },
                  validate: x => (/^\d+$/.test(x.trim()) ? null : 'Enter a whole number, 0 or more.'),
                });
                if (v == null) return;
                try {
                  await post(ep(id, `/services/${enc(s.ID)}/scale`), { replicas: Number(v.trim()) });
                  toast(`Scaled ${serviceName(s)} to ${Number(v.trim())}`);
                } catch (e) { toast(e.message, 'error'); }
                reload();
              },
            }, 'Scale') : null,
            h('button', {
              type: 'button', class: 'btn xs danger-ghost', 'data-action': 'remove',
              onclick: async () => {
                if (!await confirmDialog(`Remove the service “${serviceName(s)}”?`, {
                  title: 'Remove service', okText: 'Remove', danger: true, detail: 'All of its tasks are stopped. This cannot be undone.',
                })) return;
                try {
                  await del(ep(id, `/services/${enc(s.ID)}`));
                  toast(`Removed ${serviceName(s)}`);
                } catch (e) { toast(e.message, 'error'); }
                reload();
              },
            }, 'Remove')),
        });
      }
      return cols;
    },
  });
}
