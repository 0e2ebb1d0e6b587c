// Shared by canal-server's console and canal-forwarder's admin page: a page that logs in once
// (HTTP Basic credentials for a session cookie) and then sends its session's CSRF token with
// every request that changes something. Its API is under /console/api/.
'use strict';

const CanalPage = {
  csrf: '',

  message(node, value, kind) {
    node.textContent = value || '';
    node.className = 'message' + (kind ? ' ' + kind : '');
  },

  async answer(response) {
    const text = await response.text();
    try {
      return { status: response.status, ok: response.ok, data: JSON.parse(text) };
    } catch (e) {
      return { status: response.status, ok: response.ok, data: { error: text || 'the answer was ' + response.status } };
    }
  },

  // The session's user and token, or null when the page must log in.
  async logIn(user, password) {
    const basic = 'Basic ' + btoa(unescape(encodeURIComponent(user + ':' + password)));
    const r = await this.answer(await fetch('/console/api/login', {
      method: 'POST', credentials: 'same-origin', headers: { Authorization: basic },
    }));
    if (r.ok) this.csrf = r.data.csrfToken;
    return r;
  },

  async session() {
    const r = await this.answer(await fetch('/console/api/session', { credentials: 'same-origin' }));
    if (!r.ok) return null;
    this.csrf = r.data.csrfToken;
    return r.data;
  },

  // `method` on /console/api`path`, with a JSON body when given.
  async call(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') init.headers['X-CSRF-Token'] = this.csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return this.answer(await fetch('/console/api' + path, init));
  },
};
