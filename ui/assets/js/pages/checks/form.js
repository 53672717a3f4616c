// The form of a check, new or changed: its name, schedule and target, and the fields of
// its kind (http, tcp, dns, container, script). Resolves with the check as the console's
// API takes it, or null when cancelled.

import { h, modal, field, splitCommand } from '../../ui.js';

export const KINDS = ['http', 'tcp', 'dns', 'container', 'script'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const RECORDS = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS', 'SRV'];

/** A new check's fields, as the agents' defaults have them. */
const BLANK = {
  name: '', interval_secs: 30, timeout_secs: 10, retries: 0, enabled: true, target: { by: 'all' },
  probe: { kind: 'http', method: 'GET', url: '' },
};

/** `a, b ,c` → ['a', 'b', 'c']. */
const list = text => String(text ?? '').split(/[,\n]/).map(s => s.trim()).filter(Boolean);

/** `k=v, k2=v2` → {k: 'v', k2: 'v2'}; null when a part is not key=value. */
function labelMap(text) {
  const out = {};
  for (const part of list(text)) {
    const at = part.indexOf('=');
    if (at <= 0) return null;
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

const labelText = labels => Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');

/** Words of an argv for its input: quoted where a word has a space or a quote. */
const argvText = argv => (argv ?? []).map(w => (/[\s'"\\]/.test(w) || w === '' ? `'${w.replace(/'/g, "'\\''")}'` : w)).join(' ');

const num = (id, value, attrs = {}) => h('input', { id, type: 'number', value: value ?? '', ...attrs });
const text = (id, value, attrs = {}) => h('input', { id, value: value ?? '', autocomplete: 'off', spellcheck: false, ...attrs });
const box = (id, checked) => h('input', { id, type: 'checkbox', checked: !!checked });
const choice = (id, values, value) => h('select', { id, value }, values.map(v => h('option', { value: v }, v)));

/** What the target of a check says, in a few words. */
export function targetText(t) {
  switch (t?.by) {
    case 'names': return `nodes ${(t.names ?? []).join(', ')}`;
    case 'labels': return `nodes labelled ${labelText(t.labels)}`;
    case 'role': return t.role === 'manager' ? 'managers' : 'workers';
    default: return 'every node';
  }
}

/** What a check probes, in one line. */
export function probeText(p) {
  switch (p?.kind) {
    case 'http': return `${p.method ?? 'GET'} ${p.url}`;
    case 'tcp': return `${p.host}:${p.port}`;
    case 'dns': return `${p.record ?? 'A'} ${p.name}${p.server ? ` @${p.server}` : ''}`;
    case 'container': return p.container;
    case 'script': return `${p.image}: ${p.script ? p.script.split('\n')[0] : argvText(p.argv)}`;
    default: return '';
  }
}

/**
 * The form. `check`: the check to change (null: a new one); `problem`: what the server
 * said of the last try, shown at the top; `nodes`: node names to suggest.
 */
export function checkForm(check, problem, nodes = []) {
  const c = { ...BLANK, ...(check ?? {}) };
  const p = c.probe ?? BLANK.probe;
  const t = c.target ?? { by: 'all' };
  const f = {
    name: text('check-name', c.name, { required: true }),
    kind: choice('check-kind', KINDS, p.kind),
    interval: num('check-interval', c.interval_secs, { min: 1 }),
    timeout: num('check-timeout', c.timeout_secs, { min: 1 }),
    retries: num('check-retries', c.retries, { min: 0, max: 100 }),
    enabled: box('check-enabled', c.enabled !== false),
    by: choice('check-target', ['all', 'names', 'labels', 'role'], t.by ?? 'all'),
    names: text('check-target-names', (t.names ?? []).join(', '), { placeholder: nodes.slice(0, 3).join(', ') || 'node-1, node-2', list: 'check-node-names' }),
    labels: text('check-target-labels', labelText(t.labels), { placeholder: 'zone=eu, disk=ssd' }),
    role: choice('check-target-role', ['manager', 'worker'], t.role ?? 'manager'),
    // http
    url: text('check-url', p.url, { placeholder: 'https://127.0.0.1:8443/health' }),
    method: choice('check-method', METHODS, p.method ?? 'GET'),
    status: text('check-status', (p.expect_status ?? []).join(', '), { placeholder: 'any 2xx or 3xx' }),
    pattern: text('check-body-pattern', p.body_pattern, { placeholder: 'a regular expression' }),
    certDays: num('check-cert-days', p.cert_expiry_warn_days, { min: 0, placeholder: 'no warning' }),
    insecure: box('check-insecure', p.insecure),
    // tcp
    host: text('check-host', p.host, { placeholder: '127.0.0.1' }),
    port: num('check-port', p.port, { min: 1, max: 65535 }),
    // dns
    dnsName: text('check-dns-name', p.kind === 'dns' ? p.name : '', { placeholder: 'example.internal' }),
    record: choice('check-dns-record', RECORDS, p.record ?? 'A'),
    expect: text('check-dns-expect', p.expect, { placeholder: 'an answer that must be among them' }),
    server: text('check-dns-server', p.server, { placeholder: 'the system’s; or 10.0.0.2:53' }),
    // container
    container: text('check-container', p.container, { placeholder: 'a container’s name or ID' }),
    // script
    image: text('check-image', p.image, { placeholder: 'busybox:stable' }),
    mode: choice('check-script-mode', ['script', 'argv'], p.kind === 'script' && !p.script && (p.argv ?? []).length ? 'argv' : 'script'),
    script: h('textarea', { id: 'check-script', rows: 4, class: 'mono', spellcheck: false, placeholder: 'test -s /data/backup.tar || exit 2' }),
    argv: text('check-argv', argvText(p.argv), { class: 'mono', placeholder: "/bin/check --warn 80 --crit 'a b'" }),
    memory: num('check-memory', p.memory_mb ?? 64, { min: 4 }),
    cpus: num('check-cpus', p.cpus ?? 0.5, { min: 0.01, step: 'any' }),
    pids: num('check-pids', p.pids ?? 64, { min: 1 }),
    network: box('check-network', p.network),
    mounts: text('check-mounts', (p.mounts ?? []).join(', '), { placeholder: '/var/backups, /etc/ssl' }),
  };
  f.script.value = p.script ?? '';

  const group = (kind, ...fields) => h('fieldset', { class: 'check-kind-fields', 'data-kind': kind }, h('legend', null, kind), fields);
  const groups = [
    group('http',
      field('URL', f.url), field('Method', f.method),
      field('Expected status', f.status, 'Comma-separated; empty: any 2xx or 3xx.'),
      field('Body pattern', f.pattern, 'The body’s first 64 KiB must match it.'),
      field('Certificate warning (days)', f.certDays, 'Warning when the certificate expires sooner (https).'),
      h('label', { class: 'check' }, f.insecure, 'Accept a certificate no known root signed')),
    group('tcp', field('Host', f.host), field('Port', f.port)),
    group('dns', field('Name', f.dnsName), field('Record', f.record), field('Expected answer', f.expect), field('Server', f.server)),
    group('container', field('Container', f.container, 'Running, and healthy where it has a health check.')),
    group('script',
      field('Image', f.image, 'The sandbox container’s image; the node must have it or be able to pull it.'),
      field('Run', f.mode),
      field('Script', f.script, 'Run with /bin/sh -c. Exit 0 ok, 1 warning, 2 critical, anything else unknown.'),
      field('Command', f.argv, 'Words, quoted as in a shell; run without a shell.'),
      field('Memory (MiB)', f.memory), field('CPUs', f.cpus), field('Processes', f.pids),
      field('Read-only host paths', f.mounts, 'Each mounted read-only at the same path.'),
      h('label', { class: 'check' }, f.network, 'Network (off unless ticked)')),
  ];
  const scriptField = f.script.closest('.field');
  const argvField = f.argv.closest('.field');
  const namesField = field('Node names', f.names, 'Comma-separated.');
  const labelsField = field('Node labels', f.labels, 'The engine’s labels; every one must match.');
  const roleField = field('Role', f.role);
  const sync = () => {
    for (const g of groups) g.hidden = g.dataset.kind !== f.kind.value;
    scriptField.hidden = f.mode.value !== 'script';
    argvField.hidden = f.mode.value !== 'argv';
    namesField.hidden = f.by.value !== 'names';
    labelsField.hidden = f.by.value !== 'labels';
    roleField.hidden = f.by.value !== 'role';
  };
  for (const el of [f.kind, f.mode, f.by]) el.addEventListener('change', sync);
  sync();

  const body = h('div', { class: 'stack check-form' },
    problem ? h('p', { class: 'form-error', role: 'alert', id: 'check-problem' }, problem) : null,
    field('Name', f.name),
    h('div', { class: 'form-grid compact-grid' },
      field('Kind', f.kind),
      field('Every (seconds)', f.interval), field('Timeout (seconds)', f.timeout),
      field('Retries', f.retries, 'Results of a new status needed before the state changes.')),
    h('fieldset', { class: 'check-kind-fields' }, h('legend', null, 'Nodes'),
      field('Run on', f.by), namesField, labelsField, roleField,
      h('datalist', { id: 'check-node-names' }, nodes.map(n => h('option', { value: n })))),
    groups,
    h('label', { class: 'check' }, f.enabled, 'Enabled'));

  function probe() {
    const kind = f.kind.value;
    const kept = p.kind === kind ? p : {};
    const opt = el => (el.value.trim() === '' ? null : el.value.trim());
    switch (kind) {
      case 'http': return {
        kind, headers: kept.headers ?? {}, method: f.method.value, url: f.url.value.trim(),
        expect_status: list(f.status.value).map(Number), body_pattern: opt(f.pattern),
        cert_expiry_warn_days: f.certDays.value === '' ? null : Number(f.certDays.value), insecure: f.insecure.checked,
      };
      case 'tcp': return { kind, host: f.host.value.trim(), port: Number(f.port.value) };
      case 'dns': return { kind, name: f.dnsName.value.trim(), record: f.record.value, expect: opt(f.expect), server: opt(f.server) };
      case 'container': return { kind, container: f.container.value.trim() };
      default: return {
        kind, env: kept.env ?? {}, user: kept.user ?? null, image: f.image.value.trim(),
        script: f.mode.value === 'script' ? f.script.value : null,
        argv: f.mode.value === 'argv' ? splitCommand(f.argv.value) : [],
        memory_mb: Number(f.memory.value), cpus: Number(f.cpus.value), pids: Number(f.pids.value),
        network: f.network.checked, mounts: list(f.mounts.value),
      };
    }
  }

  function target() {
    switch (f.by.value) {
      case 'names': return { by: 'names', names: list(f.names.value) };
      case 'labels': return { by: 'labels', labels: labelMap(f.labels.value) ?? {} };
      case 'role': return { by: 'role', role: f.role.value };
      default: return { by: 'all' };
    }
  }

  // Only what the browser can tell at once; the console checks the rest and names the field.
  function validate() {
    if (!f.name.value.trim()) return 'Name the check.';
    if (!(Number(f.interval.value) >= 1) || !(Number(f.timeout.value) >= 1)) return 'The interval and the timeout are at least 1 second.';
    if (f.by.value === 'names' && !list(f.names.value).length) return 'Name at least one node.';
    if (f.by.value === 'labels' && (!labelMap(f.labels.value) || !list(f.labels.value).length)) return 'Labels are key=value, comma-separated.';
    if (f.kind.value === 'http' && list(f.status.value).some(s => !/^\d{3}$/.test(s))) return 'Expected statuses are three-digit numbers.';
    return null;
  }

  return modal({
    title: check?.id ? `Edit “${check.name}”` : 'New check',
    okText: check?.id ? 'Save' : 'Add check',
    body,
    validate,
    result: () => ({
      name: f.name.value.trim(),
      interval_secs: Number(f.interval.value),
      timeout_secs: Number(f.timeout.value),
      retries: Number(f.retries.value || 0),
      enabled: f.enabled.checked,
      target: target(),
      probe: probe(),
    }),
  });
}
