// canal-forwarder's admin page: its figures, its sinks' counters, its reindexes and loads, all
// from /console/api/ (forwarder/admin_endpoint.h).
'use strict';

const state = { timer: 0 };
const $ = (id) => document.getElementById(id);
const message = (node, value, kind) => CanalPage.message(node, value, kind);

function show(loggedIn) {
  $('login-view').hidden = loggedIn;
  $('forwarder-view').hidden = !loggedIn;
  $('nav').hidden = !loggedIn;
}

function loggedOut() {
  clearInterval(state.timer);
  show(false);
}

// null when the session ended (the login shows).
async function api(method, path) {
  const r = await CanalPage.call(method, path);
  return r.status === 401 ? null : r;
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

function start(session) {
  $('who').textContent = session.user;
  show(true);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);
  refresh();
}

$('job-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const kind = $('job-kind').value;
  const name = $('job-name').value.trim();
  const r = await api('POST', '/' + kind + '/' + encodeURIComponent(name));
  if (r) message($('job-message'), r.ok ? kind + ' of ' + name + ' started' : r.data.error, r.ok ? 'ok' : 'error');
  refresh();
});

CanalPage.open({ started: start, loggedOut });
