// Small DOM and formatting helpers shared by the pages.
import { t } from './i18n.js';

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// el('div', {class: 'x', onclick: f}, 'text', child...)
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function fmtDuration(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return '—';
  secs = Math.max(0, Math.round(secs));
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

export function fmtPct(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${Math.round(x * 100)}%`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(document.documentElement.lang || undefined, {
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  });
}

export const secondsSince = (iso) => (iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null);

let toastTimer = null;
export function toast(msg, kind = 'info') {
  let box = $('#toast');
  if (!box) {
    box = el('div', { id: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  box.textContent = msg;
  box.className = `toast ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = 'toast hidden'; }, 4000);
}

export function showError(e) {
  toast(e && e.status === 404 && e.code === 'not_found' ? t('err.not_available')
    : t('err.generic', { m: (e && (e.message || e.code)) || String(e) }), 'error');
}

// Alt+key shortcuts: map of lower-case key to handler.
export function shortcuts(map) {
  document.addEventListener('keydown', (ev) => {
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const f = map[ev.key.toLowerCase()];
      if (f) { ev.preventDefault(); f(); }
    } else if (ev.key === '/' && map['/'] && !['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName)) {
      ev.preventDefault();
      map['/']();
    }
  });
}

// The login form shared by both pages; resolves with /me once logged in.
export function loginForm(form, doLogin) {
  return new Promise((resolve) => {
    form.hidden = false;
    const user = form.querySelector('[name=user]');
    user.focus();
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const err = form.querySelector('.error');
      err.textContent = '';
      try {
        const me = await doLogin(user.value.trim(), form.querySelector('[name=password]').value);
        form.hidden = true;
        resolve(me);
      } catch (e) {
        err.textContent = e.status === 401 ? t('login.failed') : t('err.generic', { m: e.message });
      }
    };
  });
}
