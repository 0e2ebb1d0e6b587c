// canal-server's web console: one page, its views chosen by the URL's fragment (#/, #/d/<name>,
// #/add), everything read from and sent to /console/api/ (server/console/console.h).
'use strict';

const state = { timer: 0, configFor: '' };
const $ = (id) => document.getElementById(id);

class LoggedOut extends Error {}

async function api(method, path, body) {
  const r = await CanalPage.call(method, path, body);
  if (r.status === 401) throw new LoggedOut();  // the login shows
  return r;
}

function text(node, value) { node.textContent = value === null || value === undefined ? '—' : String(value); }

function show(view) {
  for (const id of ['login-view', 'server-view', 'destination-view', 'add-view']) $(id).hidden = id !== view;
  $('nav').hidden = view === 'login-view';
}

const message = (node, value, kind) => CanalPage.message(node, value, kind);

function loggedOut() {
  clearInterval(state.timer);
  show('login-view');
}

function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [name, value, id] of pairs) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    if (id) dd.id = id;
    if (value instanceof Node) dd.append(value); else text(dd, value);
    dl.append(dt, dd);
  }
}

function position(p) { return p ? p.journalName + ':' + p.position : null; }
function lag(ms) { return ms === null || ms === undefined ? null : ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s'; }
function time(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : null; }
function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  return (h ? h + ' h ' : '') + m + ' min ' + (s % 60) + ' s';
}

function stateNode(d) {
  const span = document.createElement('span');
  span.className = 'state-' + d.state;
  span.textContent = d.state;
  return span;
}

function reasonOf(d) {
  if (d.configError) return 'instance.properties does not load: ' + d.configError.message;
  if (d.lastError) return d.lastError.message + ' (' + d.lastError.time + ')';
  if (d.state === 'standby') return 'another server runs it, or it waits for its turn';
  if (d.state === 'stopped') return 'stopped from the console or by its stream';
  return null;
}

function renderServer(status) {
  const s = status.server;
  facts($('server-facts'), [
    ['Version', s.version], ['Mode', s.mode], ['Client address', s.address],
    ['Up', duration(s.uptimeSeconds)], ['Started', s.started],
    ['High availability', s.zkServers ? 'ZooKeeper ' + s.zkServers : 'none (this server runs every destination)'],
    ['Client connections', s.sessions],
  ]);
  const body = $('destinations').tBodies[0];
  body.replaceChildren();
  for (const d of status.destinations) {
    const row = body.insertRow();
    row.dataset.name = d.name;
    const link = document.createElement('a');
    link.href = '#/d/' + encodeURIComponent(d.name);
    link.textContent = d.name;
    row.insertCell().append(link);
    row.insertCell().append(stateNode(d));
    text(row.insertCell(), d.runningAt);
    text(row.insertCell(), d.primary);
    text(row.insertCell(), position(d.position));
    text(row.insertCell(), d.position ? d.position.gtid || null : null);
    text(row.insertCell(), lag(d.lagMs));
    text(row.insertCell(), d.rows);
    text(row.insertCell(), d.clients ? d.clients.length : null);
  }
}

function chart(points) {
  const box = $('dest-chart');
  const width = 720, height = 160, pad = 28;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  const line = (field, cls, label, y) => {
    const max = Math.max(1, ...points.map((p) => p[field]));
    const now = Date.now();
    const xy = points.map((p) => {
      const x = pad + (width - 2 * pad) * (1 - (now - p.time) / 3600000);
      return Math.max(pad, x).toFixed(1) + ',' + (height - pad - (height - 2 * pad) * p[field] / max).toFixed(1);
    });
    const path = document.createElementNS(ns, 'polyline');
    path.setAttribute('class', cls);
    path.setAttribute('points', xy.join(' '));
    svg.append(path);
    for (const point of xy) {  // a lone sample is a dot
      const [x, yy] = point.split(',');
      const dot = document.createElementNS(ns, 'circle');
      dot.setAttribute('class', cls);
      dot.setAttribute('cx', x);
      dot.setAttribute('cy', yy);
      dot.setAttribute('r', 2);
      svg.append(dot);
    }
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', pad);
    t.setAttribute('y', y);
    t.setAttribute('class', cls + '-label');
    t.textContent = label + ' (max ' + (max < 10 ? max.toFixed(2) : Math.round(max)) + '/s)';
    svg.append(t);
  };
  if (points.length) {
    line('rowsPerSecond', 'rows', 'rows per second', 14);
    line('bytesPerSecond', 'bytes', 'binlog bytes per second', 26);
  } else {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', pad);
    t.setAttribute('y', height / 2);
    t.textContent = 'the first figures come within 20 seconds';
    svg.append(t);
  }
  box.replaceChildren(svg);
}

function renderSnapshot(s) {
  if (!s) {
    facts($('snapshot-facts'), [['Last snapshot', 'none yet', 'snapshot-state']]);
    return;
  }
  const tables = (s.tables || []).map((t) => t.table + ' ' + t.rows + (t.done ? ' (done)' : '')).join(', ');
  facts($('snapshot-facts'), [
    ['Snapshot', s.id], ['State', s.state, 'snapshot-state'], ['Rows', s.rows + ' of about ' + s.estimatedRows],
    ['Tables', tables], ['Chunks', s.chunks + (s.chunksReread ? ' (' + s.chunksReread + ' read again after a DDL)' : '')],
    ['Started', time(s.startedMs)], ['Finished', time(s.finishedMs)],
    ['Time left', s.etaMs === null || s.etaMs === undefined ? null : duration(Math.round(s.etaMs / 1000))],
    ['Error', s.error],
  ]);
}

function renderDestination(d, history) {
  text($('dest-name'), d.name);
  const store = d.store || {};
  facts($('dest-facts'), [
    ['State', stateNode(d), 'dest-state'], ['Reason', reasonOf(d)], ['Primary', d.primary],
    ['Position', position(d.position), 'dest-position'], ['GTID', d.position ? d.position.gtid || null : null],
    ['Lag', lag(d.lagMs)], ['Rows', d.rows, 'dest-rows'], ['Transactions', d.transactions],
    ['Binlog bytes', d.binlogBytes], ['Stream failures', d.streamFailures],
    ['Runs on', d.runningAt],
    ['Store', d.store ? store.type + ': ' + store.items + ' entries, ' + store.bytes + ' bytes' +
      (store.capacityItems ? ' of ' + store.capacityItems + ' entries' : '') +
      (store.capacityBytes ? ' / ' + store.capacityBytes + ' bytes' : '') : null],
    ['Configuration since', d.since],
  ]);
  $('action-start').disabled = d.state !== 'stopped';
  $('action-stop').disabled = d.state === 'stopped';
  chart(history[d.name] || []);
  const body = $('dest-clients').tBodies[0];
  body.replaceChildren();
  for (const c of d.clients || []) {
    const row = body.insertRow();
    text(row.insertCell(), c.clientId);
    text(row.insertCell(), c.filter);
    text(row.insertCell(), position(c.cursor));
    text(row.insertCell(), c.unackedBatches);
  }
  $('dest-mq').hidden = !d.mq;
  if (d.mq) {
    facts($('dest-mq-facts'), [['Broker', d.mq.broker], ['State', d.mq.state], ['Batches', d.mq.batches],
      ['Messages', d.mq.messages], ['Bytes', d.mq.bytes], ['In flight', d.mq.inFlight],
      ['Dead-lettered', d.mq.deadLettered], ['Failures', d.mq.failures], ['Last error', d.mq.lastError]]);
  }
  renderSnapshot(d.snapshot);
}

async function loadConfig(name) {
  const r = await api('GET', '/destinations/' + encodeURIComponent(name) + '/config');
  if (r.ok) {
    $('config-text').value = r.data.properties;
    message($('config-message'), 'Secrets show as ' + r.data.mask + '; leave the mask to keep a secret as it is.');
  } else {
    message($('config-message'), r.data.error, 'error');
  }
}

async function loadLogs(name) {
  const level = $('log-level').value;
  const r = await api('GET', '/destinations/' + encodeURIComponent(name) + '/logs?level=' + level + '&max=200');
  if (r.ok) {
    $('logs').textContent = r.data.lines.map((l) => time(l.time) + ' ' + l.level.toUpperCase() + ' [' + l.module + '] ' + l.text).join('\n') || '(no lines at this level)';
  }
}

function currentDestination() {
  const m = location.hash.match(/^#\/d\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : '';
}

async function refresh() {
  try {
    const name = currentDestination();
    if (location.hash === '#/add') {
      show('add-view');
      return;
    }
    const [status, history] = await Promise.all([api('GET', '/status'), api('GET', '/history')]);
    if (!status.ok) return;
    if (!name) {
      show('server-view');
      renderServer(status.data);
      return;
    }
    const d = status.data.destinations.find((x) => x.name === name);
    show('destination-view');
    if (!d) {
      message($('action-message'), 'no destination ' + name + ' on this server', 'error');
      return;
    }
    renderDestination(d, history.ok ? history.data : {});
    if (state.configFor !== name) {
      state.configFor = name;
      await loadConfig(name);
    }
    await loadLogs(name);
  } catch (e) {
    if (!(e instanceof LoggedOut)) console.error(e);
  }
}

function start(session) {
  $('nav').hidden = false;
  text($('who'), session.user);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);
  refresh();
}

async function destinationAction(action) {
  const name = currentDestination();
  message($('action-message'), action + '…');
  const r = await api('POST', '/destinations/' + encodeURIComponent(name) + '/' + action);
  message($('action-message'), r.ok ? action + ': done' : r.data.error, r.ok ? 'ok' : 'error');
  refresh();
}

async function sendConfig(check) {
  const name = currentDestination();
  const path = '/destinations/' + encodeURIComponent(name) + (check ? '/config/check' : '/config');
  const r = await api(check ? 'POST' : 'PUT', path, { properties: $('config-text').value });
  const warnings = r.data.warnings && r.data.warnings.length ? '\nWarnings:\n' + r.data.warnings.join('\n') : '';
  if (r.ok) {
    message($('config-message'), (check ? 'The server accepts this file.' : 'Saved and applied.') + warnings, 'ok');
  } else {
    message($('config-message'), 'Refused, nothing changed: ' + r.data.error + warnings, 'error');
  }
  refresh();
}

function bind() {
  for (const action of ['start', 'stop', 'restart']) {
    $('action-' + action).addEventListener('click', () => destinationAction(action));
  }
  $('config-check').addEventListener('click', () => sendConfig(true));
  $('config-save').addEventListener('click', () => sendConfig(false));
  $('config-reload').addEventListener('click', () => loadConfig(currentDestination()));
  $('log-level').addEventListener('change', () => loadLogs(currentDestination()));
  $('snapshot-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { tables: $('snapshot-tables').value.split(',').map((t) => t.trim()).filter((t) => t) };
    if ($('snapshot-where').value) body.where = $('snapshot-where').value;
    if ($('snapshot-chunk').value) body.chunkSize = Number($('snapshot-chunk').value);
    if ($('snapshot-parallel').value) body.parallel = Number($('snapshot-parallel').value);
    const r = await api('POST', '/destinations/' + encodeURIComponent(currentDestination()) + '/snapshots', body);
    message($('snapshot-message'), r.ok ? 'Snapshot ' + r.data.id + ' started: ' + r.data.tables.join(', ') : r.data.error, r.ok ? 'ok' : 'error');
    refresh();
  });
  $('snapshot-cancel').addEventListener('click', async () => {
    const r = await api('DELETE', '/destinations/' + encodeURIComponent(currentDestination()) + '/snapshots');
    message($('snapshot-message'), r.ok ? 'Snapshot ' + r.data.id + ' cancelled' : r.data.error, r.ok ? 'ok' : 'error');
    refresh();
  });
  $('add-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('add-name').value;
    const r = await api('POST', '/destinations', { name, properties: $('add-text').value });
    if (r.ok) {
      location.hash = '#/d/' + encodeURIComponent(name);
    } else {
      message($('add-message'), 'Refused, nothing changed: ' + r.data.error, 'error');
    }
  });
  window.addEventListener('hashchange', () => {
    state.configFor = '';
    message($('action-message'), '');
    message($('config-message'), '');
    refresh();
  });
}

async function boot() {
  bind();
  await CanalPage.open({ started: start, loggedOut });
}

boot();
