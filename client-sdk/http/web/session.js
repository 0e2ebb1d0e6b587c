// Shared by canal-server's console and canal-forwarder's admin page: a page that logs in once
// (HTTP Basic credentials for a session cookie) and then sends its session's CSRF token with
// every request that changes something. Its API is under /console/api/; its login form is
// #login-form (#login-user, #login-password, #login-message) and #logout ends the session.
'use strict';

const CanalPage = {
  csrf: '',
  hooks: null,  // the page's: started(session) once logged in, loggedOut() when the login shows

  // Binds the login form and #logout, then goes on with the session the cookie names, if any.
  async open(hooks) {
    this.hooks = hooks;
    const byId = (id) => document.getElementById(id);
    byId('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const r = await this.logIn(byId('login-user').value, byId('login-password').value);
      if (!r.ok) {
        this.message(byId('login-message'), r.data.error, 'error');
        return;
      }
      byId('login-password').value = '';
      hooks.started(r.data);
    });
    byId('logout').addEventListener('click', async () => {
      await this.call('POST', '/logout').catch(() => {});
      this.showLogin('');
    });
    const session = await this.session().catch(() => null);
    if (session) hooks.started(session); else this.showLogin('');
  },

  showLogin(why) {
    this.csrf = '';
    this.hooks.loggedOut();
    this.message(document.getElementById('login-message'), why, why ? 'error' : '');
  },

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

  // `method` on /console/api`path`, with a JSON body when given; a 401 (the session ended)
  // shows the login.
  async call(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') init.headers['X-CSRF-Token'] = this.csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await this.answer(await fetch('/console/api' + path, init));
    if (r.status === 401 && path !== '/logout') this.showLogin('Your session ended; log in again.');
    return r;
  },
};
