// The HTTP API and the live event stream. The session token is kept per browser tab
// (sessionStorage), so an agent and a supervisor may work side by side in one browser.
const KEY = 'hotline.session';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code);
    this.status = status;
    this.code = code;
    // The field a refused body is about (`skills.accounts`, `wrap_up_seconds`), if any.
    this.field = field;
  }
}

export function token() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}

function setToken(v) {
  try {
    if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY);
  } catch { /* storage blocked: the session lasts as long as the page */ }
}

export async function api(method, path, body) {
  const headers = {};
  const tk = token();
  if (tk) headers.Authorization = `Bearer ${tk}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: 'http_' + res.status, message: text };
    if (res.status === 401 && tk && path !== '/login') {
      setToken(null);
      window.dispatchEvent(new CustomEvent('hotline:logout'));
    }
    throw new ApiError(res.status, err.code, err.message, err.field);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);

export async function login(user, password) {
  const { token: tk } = await post('/login', { user, password });
  setToken(tk);
  return get('/me');
}

export function logout() {
  setToken(null);
}

// The WebSocket event stream, reconnecting by itself with exponential backoff (0.5 s to
// 15 s, with jitter). onStatus('online') is called on every (re)connection, so the page can
// reload what it may have missed; onStatus('offline') when the connection drops. When a
// connection cannot even be opened, the token is checked: a server that has forgotten it
// (a restart) logs the page out instead of retrying for ever.
export function liveEvents(onEvent, onStatus = () => {}) {
  let ws = null;
  let delay = 500;
  let timer = null;
  let closed = false;

  const retry = () => {
    const wait = delay * (0.75 + Math.random() * 0.5);
    delay = Math.min(delay * 2, 15000);
    timer = setTimeout(connect, wait);
  };

  const connect = () => {
    const tk = token();
    if (closed || !tk) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let opened = false;
    ws = new WebSocket(`${proto}//${location.host}/api/v1/events?access_token=${encodeURIComponent(tk)}`);
    ws.onopen = () => {
      opened = true;
      delay = 500;
      onStatus('online');
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev && ev.error) {
        // Events were skipped: reload as after a reconnection.
        onStatus('online');
        return;
      }
      onEvent(ev);
    };
    ws.onclose = async () => {
      ws = null;
      if (closed) return;
      onStatus('offline');
      if (!opened) {
        try {
          await api('GET', '/me');
        } catch (e) {
          if (e.status === 401) { closed = true; return; } // api() has logged the page out
        }
      }
      if (!closed) retry();
    };
    ws.onerror = () => { if (ws) ws.close(); };
  };
  connect();
  // Come back at once when the network does.
  window.addEventListener('online', () => {
    if (!ws && !closed) { clearTimeout(timer); delay = 500; connect(); }
  });
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}
