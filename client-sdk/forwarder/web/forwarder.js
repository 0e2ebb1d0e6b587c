// canal-forwarder's admin page: its figures, its sinks' counters, its reindexes and loads, all
// from /console/api/ (forwarder/admin_endpoint.h).
'use strict';

const state = { csrf: '', timer: 0 };
const $ = (id) => document.getElementById(id);

function message(node, value, kind) {
  node.textContent = value || '';
  node.className = 'message' + (kind ? ' ' + kind : '');
}

function show(loggedIn) {
  $('login-view').hidden = loggedIn;
  $('forwarder-view').hidden = !loggedIn;
  $('nav').hidden = !loggedIn;
}

function showLogin(why) {
  clearInterval(state.timer);
  show(false);
  message($('login-message'), why || '', why ? 'error' : '');
}

async function api(method, path) {
  const headers = method === 'GET' ? {} : { 'X-CSRF-Token': state.csrf };
  const response = await fetch('/console/api' + path, { method, headers, credentials: 'same-origin' });
  const data = await response.json().catch(() => ({ error: 'the forwarder answered ' + response.status }));
  if (response.status === 401) {
    showLogin('Your session ended; log in again.');
    return null;
  }
  return { ok: response.ok, data };
}

function cell(row, value) {
  const td = row.insertCell();
  td.textContent = value === null || value === undefined ? '—' : String(value);
  return td;
}

function render(s) {
  $('destination').textContent = s.destination;
  const facts = $('facts');
  facts.replaceChildren();
  const lag = s.lagMs < 1000 ? s.lagMs + ' ms' : (s.lagMs / 1000).toFixed(1) + ' s';
  for (const [name, value, id] of [['Batches acked', s.batches, 'batches'], ['Rows', s.rows, 'rows'],
    ['Entries', s.entries], ['Rollbacks', s.rollbacks], ['Snapshot rows', s.snapshotRows], ['Lag', lag],
    ['Last change', s.lastExecuteTime ? new Date(s.lastExecuteTime).toISOString() : null]]) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    if (id) dd.id = id;
    dd.textContent = value === null || value === undefined ? '—' : String(value);
    facts.append(dt, dd);
  }
  const sinks = $('sinks').tBodies[0];
  sinks.replaceChildren();
  for (const sink of s.sinks) {
    const row = sinks.insertRow();
    cell(row, sink.name);
    cell(row, sink.counters);
  }
  const jobs = $('jobs').tBodies[0];
  jobs.replaceChildren();
  for (const job of s.jobs) {
    const name = job.table || job.alias;
    const row = jobs.insertRow();
    row.dataset.job = job.kind + ' ' + name;
    cell(row, job.kind);
    cell(row, name);
    cell(row, job.state + (job.error ? ': ' + job.error : '')).className = 'job-state';
    cell(row, (job.log || []).slice(-3).join('\n')).className = 'message';
    const actions = row.insertCell();
    if (job.state === 'running') {
      const stop = document.createElement('button');
      stop.type = 'button';
      stop.textContent = 'Stop';
      stop.addEventListener('click', async () => {
        const r = await api('DELETE', '/' + job.kind + '/' + encodeURIComponent(name));
        if (r) message($('job-message'), r.ok ? 'stopping ' + name : r.data.error, r.ok ? 'ok' : 'error');
      });
      actions.append(stop);
    }
  }
}

async function refresh() {
  const r = await api('GET', '/status');
  if (r && r.ok) render(r.data);
}

function start(data) {
  state.csrf = data.csrfToken;
  $('who').textContent = data.user;
  show(true);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);
  refresh();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const basic = 'Basic ' + btoa(unescape(encodeURIComponent($('login-user').value + ':' + $('login-password').value)));
  const response = await fetch('/console/api/login', { method: 'POST', credentials: 'same-origin', headers: { Authorization: basic } });
  const data = await response.json().catch(() => ({ error: 'the forwarder answered ' + response.status }));
  if (!response.ok) {
    message($('login-message'), data.error, 'error');
    return;
  }
  $('login-password').value = '';
  start(data);
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/logout');
  showLogin('');
});

$('job-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const kind = $('job-kind').value;
  const name = $('job-name').value.trim();
  const r = await api('POST', '/' + kind + '/' + encodeURIComponent(name));
  if (r) message($('job-message'), r.ok ? kind + ' of ' + name + ' started' : r.data.error, r.ok ? 'ok' : 'error');
  refresh();
});

fetch('/console/api/session', { credentials: 'same-origin' })
  .then((response) => (response.ok ? response.json().then(start) : showLogin('')))
  .catch(() => showLogin(''));
