// gatewayd web page: status, settings, system and log views over the JSON API.
// Plain DOM code; every check of a setting is done by the gateway (the same model as the file).
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
let csrf = null;
let config = null;      // working copy being edited
let statusTimer = null;
let logTimer = null;
let lastLogSeq = 0;

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}

async function api(method, path, body, raw) {
  const headers = {};
  if (csrf) headers['X-CSRF-Token'] = csrf;
  let payload;
  if (body !== undefined) {
    if (raw) { headers['Content-Type'] = 'text/plain; charset=utf-8'; payload = body; }
    else { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch (e) {
    // No answer at all (the gateway restarting, the link down): status 0, for the caller to say so.
    return { ok: false, status: 0, data: null };
  }
  let data = null;
  const ct = r.headers.get('content-type') || '';
  if (ct.includes('json')) {
    try { data = await r.json(); } catch (e) { return { ok: false, status: 0, data: null }; }
  }
  if (r.status === 401 && path !== '/api/login') { showAuth(false); throw new Error('logged out'); }
  return { ok: r.ok, status: r.status, data };
}

const NO_ANSWER = 'the gateway did not answer (restarting, or the network is down)';
const failure = r => (r.data && r.data.error) || (r.status === 0 ? NO_ANSWER : 'error ' + r.status);

/* ---------- field descriptions (labels and help; values and checks come from the gateway) ---------- */

const ENUMS = {
  sip_transport: ['udp', 'tcp'],
  trunk_profile: [['sip', 'Plain SIP'], ['sip-t', 'SIP-T (ISUP in SIP, RFC 3372)'], ['sip-i', 'SIP-I (Q.1912.5)']],
  kind: [['fxs', 'FXS (phone)'], ['fxo', 'FXO (PSTN line)']],
  caller_id: [['bell202', 'Bell 202 FSK'], ['v23', 'ETSI V.23 FSK'], ['dtmf', 'DTMF'], ['none', 'None']],
  dtmf_mode: [['rfc4733', 'RFC 4733 events'], ['info', 'SIP INFO'], ['inband', 'In-band audio']],
  fxo_mode: [['one-stage', 'One stage (call a fixed destination)'], ['two-stage', 'Two stage (caller dials)']],
  level: ['error', 'warn', 'info', 'debug', 'trace'],
};
const COUNTRIES = [['US', 'United States'], ['CA', 'Canada'], ['GB', 'United Kingdom'], ['DE', 'Germany'],
  ['FR', 'France'], ['IT', 'Italy'], ['ES', 'Spain'], ['NL', 'Netherlands'], ['BE', 'Belgium'], ['CH', 'Switzerland'],
  ['AT', 'Austria'], ['SE', 'Sweden'], ['NO', 'Norway'], ['DK', 'Denmark'], ['FI', 'Finland'], ['PL', 'Poland'],
  ['PT', 'Portugal'], ['IE', 'Ireland'], ['AU', 'Australia'], ['NZ', 'New Zealand'], ['JP', 'Japan'],
  ['CN', 'China'], ['IN', 'India'], ['BR', 'Brazil'], ['RU', 'Russia'], ['ZA', 'South Africa']];

// [key, type, label, help]; type: text, password, int, float, bool, enum:<name>, country, codecs, sub:<title>
const SECTIONS = {
  account: [
    ['name', 'text', 'Name', 'Ports refer to the account by this name'],
    ['enabled', 'bool', 'Enabled'],
    ['user', 'text', 'User', 'User part of the address of record (usually the number)'],
    ['display_name', 'text', 'Display name'],
    ['domain', 'text', 'Domain', 'SIP domain of the address of record'],
    ['auth_user', 'text', 'Authentication user', 'Empty: the same as User'],
    ['password', 'password', 'Password'],
    ['sub', 'sub', 'Servers'],
    ['registrar', 'text', 'Registrar', 'host[:port]; empty: the domain'],
    ['proxy', 'text', 'Proxy', 'host[:port]; empty: the registrar'],
    ['outbound_proxy', 'text', 'Outbound proxy', 'Every request goes through it when set'],
    ['register', 'bool', 'Register'],
    ['expires_s', 'int', 'Registration expiry (s)'],
    ['trunk_profile', 'enum:trunk_profile', 'Trunk profile'],
    ['sub', 'sub', 'SIP-T / SIP-I'],
    ['isup_national_prefix', 'text', 'National prefix', 'Stripped from national numbers in the IAM (default 0)'],
    ['isup_international_prefix', 'text', 'International prefix', 'Stripped like + from international numbers (default 00)'],
    ['isup_t6_s', 'int', 'Suspend timer T6 (s)', 'A call the network suspends (SUS) is released after this, 10-180'],
  ],
  port_common: [
    ['enabled', 'bool', 'Enabled'],
    ['account', 'account', 'Account'],
    ['country', 'country', 'Country', 'Tones, ring cadence and caller ID defaults'],
    ['dial_plan', 'text', 'Dial plan', 'Cisco/Sipura syntax'],
    ['sub', 'sub', 'Line'],
    ['caller_id', 'enum:caller_id', 'Caller ID'],
    ['ring_cadence', 'text', 'Ring cadence (ms)', 'on,off[,on,off...]; empty: the country\'s'],
    ['ring_timeout_s', 'int', 'Ring timeout (s)'],
    ['hook_flash_min_ms', 'int', 'Hook flash min (ms)'],
    ['hook_flash_max_ms', 'int', 'Hook flash max (ms)'],
    ['tx_gain_db', 'float', 'Gain to line (dB)'],
    ['rx_gain_db', 'float', 'Gain from line (dB)'],
    ['sub', 'sub', 'Media'],
    ['codecs', 'codecs', 'Codecs', 'In order of preference: pcmu, pcma, gsm'],
    ['ptime_ms', 'int', 'Packet time (ms)'],
    ['redundancy', 'bool', 'Redundant audio (RFC 2198)'],
    ['dtmf_mode', 'enum:dtmf_mode', 'DTMF'],
    ['echo_canceller', 'bool', 'Echo canceller'],
  ],
  port_fxo: [
    ['sub', 'sub', 'PSTN line'],
    ['fxo_mode', 'enum:fxo_mode', 'Incoming PSTN calls'],
    ['fxo_destination', 'text', 'Destination', 'SIP URI or number called by one-stage calls'],
    ['fxo_pin', 'text', 'PIN', 'Asked of two-stage callers; empty for none'],
    ['disconnect.polarity_reversal', 'bool', 'Disconnect on polarity reversal'],
    ['disconnect.loop_current_drop', 'bool', 'Disconnect on loop current drop'],
    ['disconnect.busy_tone', 'bool', 'Disconnect on busy tone'],
    ['disconnect.silence_s', 'int', 'Disconnect after silence (s)', '0 disables'],
  ],
  network: [
    ['interface', 'text', 'Interface address', 'SIP and RTP bind to it and advertise it'],
    ['sip_port', 'int', 'SIP port'],
    ['sip_transport', 'enum:sip_transport', 'SIP transport'],
    ['rtp_port_min', 'int', 'RTP ports from'],
    ['rtp_port_max', 'int', 'RTP ports to'],
    ['t1_ms', 'int', 'SIP T1 (ms)'],
    ['t2_ms', 'int', 'SIP T2 (ms)'],
    ['t4_ms', 'int', 'SIP T4 (ms)'],
  ],
  nat: [
    ['stun_server', 'text', 'STUN server', 'host[:port]; empty for none'],
    ['external_address', 'text', 'External address', 'public IP of a port-forwarding router; empty for none'],
    ['keepalive_s', 'int', 'Keepalive interval (s)', '0 disables'],
    ['symmetric_rtp', 'bool', 'Symmetric RTP'],
  ],
  web: [
    ['listen', 'text', 'Web page address', 'address:port; takes effect after a restart'],
  ],
  security: [
    ['login_attempts_per_min', 'int', 'Login attempts per minute'],
    ['session_idle_min', 'int', 'Session idle timeout (min)'],
    ['secure_cookies', 'bool', 'Secure cookies (HTTPS proxy)'],
  ],
  log: [
    ['level', 'enum:level', 'Log level'],
    ['sip_trace', 'bool', 'Log SIP messages'],
    ['ring_lines', 'int', 'Lines kept for the log view'],
  ],
};

function getAt(obj, key) { return key.split('.').reduce((o, k) => (o == null ? o : o[k]), obj); }
function setAt(obj, key, v) {
  const ks = key.split('.');
  const last = ks.pop();
  const o = ks.reduce((o, k) => o[k], obj);
  o[last] = v;
}

function fieldInput(type, value, path) {
  if (type === 'bool') return el('input', { type: 'checkbox', 'data-path': path, 'data-type': type, checked: !!value });
  let options = null;
  if (type.startsWith('enum:')) options = ENUMS[type.slice(5)];
  if (type === 'country') {
    options = COUNTRIES.slice();
    if (!options.some(([c]) => c === value)) options.unshift([value, value]);
  }
  if (type === 'account') options = [['', '(none)']].concat((config.account || []).map(a => [a.name, a.name]));
  if (options) {
    const s = el('select', { 'data-path': path, 'data-type': type });
    for (const o of options) {
      const [v, label] = Array.isArray(o) ? o : [o, o];
      s.append(el('option', { value: v, text: label, selected: v === value }));
    }
    return s;
  }
  const shown = type === 'codecs' ? (value || []).join(', ') : (value ?? '');
  const inputType = type === 'password' ? 'password' : 'text';
  const attrs = { type: inputType, 'data-path': path, 'data-type': type, value: String(shown), autocomplete: 'off' };
  if (type === 'int' || type === 'float') attrs.inputmode = 'decimal';
  return el('input', attrs);
}

function renderFields(spec, obj, prefix) {
  const box = el('div', { class: 'fields' });
  for (const [key, type, label, help] of spec) {
    if (type === 'sub') { box.append(el('div', { class: 'subhead', text: label })); continue; }
    const path = prefix + key;
    const input = fieldInput(type, getAt(obj, key), path);
    input.id = 'f-' + path.replace(/[^a-zA-Z0-9]/g, '-');
    input.addEventListener('change', () => { collect(); checkLive(); });
    const err = el('small', { class: 'error', 'data-error-for': path });
    if (type === 'bool') {
      box.append(el('label', { class: 'field check' }, input, el('span', { text: label }), err));
    } else {
      box.append(el('label', { class: 'field' }, el('span', { text: label }), input,
        help ? el('small', { class: 'help', text: help }) : null, err));
    }
  }
  return box;
}

function parseValue(input) {
  const t = input.dataset.type;
  const v = input.value;
  if (t === 'bool') return input.checked;
  if (t === 'int' || t === 'float') {
    const s = v.trim();
    // Anything that is not a number goes as typed: the gateway says what is wrong with it.
    return s !== '' && !isNaN(Number(s)) ? Number(s) : v;
  }
  if (t === 'codecs') return v.split(',').map(x => x.trim()).filter(x => x);
  return v;
}

// Copies every input of the current forms into the working configuration.
function collect() {
  for (const input of $$('#app [data-path]')) {
    const path = input.dataset.path;
    const m = path.match(/^(account|port)\[(\d+)\]\.(.+)$/);
    if (m) {
      const item = config[m[1]][Number(m[2])];
      if (item) setAt(item, m[3], parseValue(input));
    } else if (/^(network|nat|web|security|log)\./.test(path)) {
      setAt(config, path, parseValue(input));
    }
  }
}

function clearErrors(root = document) {
  for (const e of $$('small.error[data-error-for]', root)) e.textContent = '';
  for (const f of $$('.field.invalid', root)) f.classList.remove('invalid');
}

// Shows each error next to the field whose path is the error's path or its closest parent.
function showErrors(errors, root = document) {
  clearErrors(root);
  const unplaced = [];
  for (const e of errors) {
    let path = e.path;
    let slot = null;
    while (path) {
      slot = root.querySelector(`small.error[data-error-for="${CSS.escape(path)}"]`);
      if (slot) break;
      path = path.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
      if (!/[.[]/.test(path) && !root.querySelector(`small.error[data-error-for="${CSS.escape(path)}"]`)) {
        slot = null; break;
      }
    }
    if (slot) {
      slot.textContent = slot.textContent ? slot.textContent + '; ' + e.message : e.message;
      slot.closest('.field')?.classList.add('invalid');
    } else unplaced.push(e);
  }
  return unplaced;
}

function banner(text, ok) {
  const b = $('#banner');
  b.textContent = text;
  b.classList.toggle('ok', !!ok);
  b.hidden = !text;
}

let liveTimer = null;
function checkLive() {
  clearTimeout(liveTimer);
  liveTimer = setTimeout(async () => {
    const r = await api('POST', '/api/config/validate', config);
    const form = $('.page.current form.settings');
    if (r.ok) { clearErrors(form || document); return; }
    if (r.data && r.data.errors) showErrors(r.data.errors, form || document);
  }, 250);
}

function actions(formId) {
  const msg = el('span', { class: 'saved', id: formId + '-msg' });
  return el('div', { class: 'actions' },
    el('button', { type: 'submit', class: 'primary', id: formId + '-save', text: 'Save' }),
    el('button', { type: 'button', class: 'ghost', text: 'Discard changes', onclick: () => loadConfig().then(renderPage) }),
    msg);
}

async function save(formId) {
  collect();
  const msg = $('#' + formId + '-msg');
  msg.textContent = '';
  msg.classList.remove('bad');
  const r = await api('PUT', '/api/config', config);
  if (r.ok) {
    clearErrors();
    banner('');
    msg.textContent = r.data.changed ? 'Saved and applied.' : 'No changes.';
    setTimeout(() => { msg.textContent = ''; }, 4000);
    return;
  }
  if (r.data && r.data.errors) {
    const left = showErrors(r.data.errors);
    msg.textContent = 'Not saved: correct the fields marked in red.';
    msg.classList.add('bad');
    if (left.length) banner('Not saved: ' + left.map(e => `${e.path}: ${e.message}`).join('; '));
  } else {
    msg.textContent = 'Not saved: ' + failure(r);
    msg.classList.add('bad');
  }
}

function renderAccounts() {
  const form = $('#form-accounts');
  form.replaceChildren();
  (config.account || []).forEach((a, i) => {
    form.append(el('fieldset', {},
      el('legend', { text: a.name || `Account ${i + 1}` }),
      renderFields(SECTIONS.account, a, `account[${i}].`),
      el('button', { type: 'button', class: 'link', text: 'Remove this account', onclick: () => {
        collect(); config.account.splice(i, 1); renderAccounts();
      } })));
  });
  if (!(config.account || []).length) form.append(el('p', { class: 'muted', text: 'No SIP account yet. Calls between the phone ports work without one.' }));
  form.append(actions('accounts'));
}

function renderPorts() {
  const form = $('#form-ports');
  form.replaceChildren();
  (config.port || []).forEach((p, i) => {
    const kind = p.kind === 'fxo' ? 'FXO (PSTN line)' : 'FXS (phone)';
    const spec = SECTIONS.port_common.concat(p.kind === 'fxo' ? SECTIONS.port_fxo : []);
    form.append(el('fieldset', { id: `port-${p.id}` },
      el('legend', { text: `Port ${p.id} \u2014 ${kind}` }),
      renderFields(spec, p, `port[${i}].`)));
  });
  form.append(actions('ports'));
}

function renderSectionsForm(formId, sections) {
  const form = $('#' + formId);
  form.replaceChildren();
  for (const [name, title] of sections) {
    form.append(el('fieldset', {}, el('legend', { text: title }), renderFields(SECTIONS[name], config[name], name + '.')));
  }
  form.append(actions(formId.replace('form-', '')));
}

/* ---------- status ---------- */

function pill(text, cls) { return el('span', { class: 'pill ' + (cls || ''), text }); }
function regPill(state) {
  return pill(state, { registered: 'ok', registering: 'info', failed: 'bad', unregistered: 'warn' }[state]);
}
function rows(tbody, items, make, cols, empty) {
  tbody.replaceChildren(...(items.length ? items.map(make) : [el('tr', {}, el('td', { class: 'empty', colspan: cols, text: empty }))]));
}

function fmtDuration(ms) {
  const t = Math.floor(ms / 1000), m = Math.floor(t / 60), s = t % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

async function refreshStatus() {
  const r = await api('GET', '/api/status');
  if (!r.ok) {
    if (r.status === 0) $('#st-refresh').textContent = 'No answer from the gateway at ' + new Date().toLocaleTimeString() + ' \u00b7 retrying every 2 s';
    return;
  }
  const s = r.data;
  $('#board').textContent = `${s.board} \u00b7 ${s.version}`;
  $('#st-gateway').replaceChildren(
    el('dt', { text: 'Board' }), el('dd', { text: s.board }),
    el('dt', { text: 'Firmware' }), el('dd', { text: s.version }),
    el('dt', { text: 'SIP address' }), el('dd', { text: s.sip_address }),
    el('dt', { text: 'Media loop' }), el('dd', { text: `${s.media_ticks} ticks, ${s.media_overruns} overruns` }));
  rows($('#st-accounts'), s.accounts, a => el('tr', {}, el('td', { text: a.name }), el('td', {}, regPill(a.state)), el('td', { class: 'muted', text: a.detail })), 3, 'No SIP account configured');
  rows($('#st-ports'), s.ports, p => {
    let hook;
    if (p.kind === 'fxo') hook = p.line_present ? (p.ringing ? pill('ringing', 'info') : pill('line present', 'ok')) : pill('no line', 'warn');
    else hook = p.ringing ? pill('ringing', 'info') : (p.off_hook ? pill('off-hook', 'info') : pill('on-hook'));
    return el('tr', {}, el('td', { text: String(p.id) }), el('td', { text: p.kind.toUpperCase() }), el('td', {}, hook),
      el('td', { text: p.call_state || 'idle' }), el('td', { text: p.country }), el('td', { text: p.account || '\u2014' }),
      el('td', { class: 'muted', text: p.last_event || '\u2014' }),
      el('td', { class: 'mono', 'data-sim-addr': p.sim_addr || '', text: p.sim_addr || '\u2014' }));
  }, 8, 'No ports');
  rows($('#st-calls'), s.calls, c => el('tr', {}, el('td', { text: String(c.port) }), el('td', { text: c.direction }),
    el('td', { text: c.remote }), el('td', { text: c.state }), el('td', { text: c.codec || '\u2014' }),
    el('td', { text: fmtDuration(c.since_ms) }),
    el('td', { text: String(c.rtp_sent) }), el('td', { text: String(c.rtp_received) }),
    el('td', { text: String(c.rtp_lost) }), el('td', { text: `${c.jitter_ms.toFixed(1)} ms` })), 10, 'No calls in progress');
  rows($('#st-events'), s.events.slice(-12).reverse(), e => el('tr', {}, el('td', { text: (e.at_ms / 1000).toFixed(2) }),
    el('td', { text: String(e.port) }), el('td', { text: e.text })), 3, 'No line events yet');
  $('#st-refresh').textContent = 'Updated ' + new Date().toLocaleTimeString() + ' \u00b7 refreshes every 2 s';
}

/* ---------- logs ---------- */

async function refreshLogs() {
  const r = await api('GET', '/api/logs?after=' + lastLogSeq);
  if (!r.ok) return;
  const tb = $('#log-lines');
  for (const l of r.data) {
    lastLogSeq = l.seq;
    tb.append(el('tr', { class: l.level }, el('td', { class: 't', text: new Date(l.at_ms).toLocaleTimeString() }),
      el('td', { class: 't', text: l.level }), el('td', { class: 'm', text: l.text })));
  }
  if (r.data.length && $('#log-follow').checked) tb.closest('.log').scrollTop = 1e9;
}

/* ---------- navigation ---------- */

async function loadConfig() {
  const r = await api('GET', '/api/config');
  if (r.ok) config = r.data;
}

function renderPage() {
  const page = (location.hash || '#status').slice(1);
  for (const s of $$('.page')) s.classList.toggle('current', s.id === 'page-' + page);
  for (const s of $$('.page')) s.hidden = s.id !== 'page-' + page;
  for (const a of $$('nav a')) a.classList.toggle('active', a.dataset.page === page);
  clearInterval(statusTimer); clearInterval(logTimer);
  banner('');
  if (page === 'status') { refreshStatus(); statusTimer = setInterval(refreshStatus, 2000); }
  if (page === 'accounts') renderAccounts();
  if (page === 'ports') renderPorts();
  if (page === 'network') renderSectionsForm('form-network', [['network', 'SIP and RTP'], ['nat', 'NAT traversal'], ['web', 'Web page']]);
  if (page === 'system') renderSectionsForm('form-system', [['security', 'Security'], ['log', 'Logging']]);
  if (page === 'logs') { refreshLogs(); logTimer = setInterval(refreshLogs, 2000); }
}

async function showApp() {
  $('#auth').hidden = true;
  $('#app').hidden = false;
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  await loadConfig();
  renderPage();
}

function showAuth(setup) {
  clearInterval(statusTimer); clearInterval(logTimer);
  csrf = null;
  $('#app').hidden = true;
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#auth').hidden = false;
  $('#auth').dataset.mode = setup ? 'setup' : 'login';
  $('#auth-title').textContent = setup ? 'Welcome' : 'Log in';
  $('#auth-intro').textContent = setup
    ? 'This gateway has no administrator password yet. Choose one to protect its settings (at least 8 characters).'
    : 'Enter the administrator password.';
  $('#auth-confirm-row').hidden = !setup;
  $('#auth-submit').textContent = setup ? 'Set password and continue' : 'Log in';
  $('#auth-password').value = '';
  $('#auth-confirm').value = '';
  $('#auth-error').textContent = '';
  $('#auth-password').focus();
}

async function boot() {
  const r = await api('GET', '/api/session');
  if (!r.ok || !r.data) {
    $('#auth').hidden = false;
    $('#auth-error').textContent = 'Cannot reach the gateway: ' + failure(r) + '. Retrying\u2026';
    setTimeout(boot, 2000);
    return;
  }
  $('#auth-error').textContent = '';
  if (r.data.authenticated) { csrf = r.data.csrf; showApp(); } else showAuth(r.data.setup_needed);
}

document.addEventListener('DOMContentLoaded', () => {
  $('#auth-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    const setup = $('#auth').dataset.mode === 'setup';
    const password = $('#auth-password').value;
    clearErrors($('#auth'));
    $('#auth-error').textContent = '';
    if (setup && password !== $('#auth-confirm').value) { $('#auth-error').textContent = 'The two passwords differ.'; return; }
    const r = await api('POST', setup ? '/api/setup' : '/api/login', { password });
    if (r.ok) { csrf = r.data.csrf; showApp(); return; }
    if (r.data && r.data.errors) showErrors(r.data.errors, $('#auth'));
    else $('#auth-error').textContent = failure(r);
  });
  $('#logout').addEventListener('click', async () => { await api('POST', '/api/logout', {}); showAuth(false); });
  window.addEventListener('hashchange', renderPage);
  for (const id of ['accounts', 'ports', 'network', 'system']) {
    $('#form-' + id).addEventListener('submit', ev => { ev.preventDefault(); save(id); });
  }
  $('#add-account').addEventListener('click', () => {
    collect();
    config.account = config.account || [];
    const n = config.account.length + 1;
    config.account.push({ name: `account${n}`, enabled: true, user: '', display_name: '', domain: '', registrar: '', proxy: '',
      outbound_proxy: '', auth_user: '', password: '', register: true, expires_s: 3600, trunk_profile: 'sip',
      isup_national_prefix: '0', isup_international_prefix: '00', isup_t6_s: 90 });
    renderAccounts();
  });
  $('#form-password').addEventListener('submit', async ev => {
    ev.preventDefault();
    const f = $('#form-password');
    const body = { current: $('[data-path=current]', f).value, new: $('[data-path=new]', f).value };
    const r = await api('POST', '/api/password', body);
    clearErrors(f);
    if (r.ok) { csrf = r.data.csrf; $('#password-saved').textContent = 'Password changed.'; f.reset(); }
    else if (r.data && r.data.errors) showErrors(r.data.errors, f);
    else $('#password-saved').textContent = failure(r);
  });
  $('#form-import').addEventListener('submit', async ev => {
    ev.preventDefault();
    const list = $('#import-errors');
    list.replaceChildren();
    $('#import-saved').textContent = '';
    const file = $('#import-file').files[0];
    if (!file) { list.append(el('li', { text: 'Choose a file first.' })); return; }
    const r = await api('POST', '/api/config.toml', await file.text(), true);
    if (r.ok) { $('#import-saved').textContent = 'Imported and applied.'; await loadConfig(); return; }
    const errs = (r.data && r.data.errors) || [{ path: '', message: failure(r) }];
    for (const e of errs) list.append(el('li', { text: `${e.path || '(file)'}${e.line ? ' (line ' + e.line + ')' : ''}: ${e.message}` }));
  });
  const power = async action => {
    if (!confirm(action === 'reboot' ? 'Reboot the device now? Calls in progress are dropped.' : 'Restart the gateway now? Calls in progress are dropped.')) return;
    const r = await api('POST', '/api/power', { action });
    if (!r.ok) { $('#power-msg').textContent = 'Not done: ' + failure(r); return; }
    $('#power-msg').textContent = 'Restarting\u2026 the page reconnects by itself.';
    // api() answers status 0 while the gateway is down.
    const again = async () => { if ((await api('GET', '/api/session')).ok) { location.reload(); return; } setTimeout(again, 1500); };
    setTimeout(again, 2000);
  };
  $('#restart').addEventListener('click', () => power('restart'));
  $('#reboot').addEventListener('click', () => power('reboot'));
  boot();
});
