// hotline web chat: one script tag on any page opens a conversation with the centre.
//
//   <script type="module" src="https://CENTRE/chat/widget.js" data-queue="chat" data-lang="en"></script>
//
// The widget lives in a shadow root (the page's styles do not leak in or out), talks to the
// centre over a WebSocket, keeps its conversation across reloads (localStorage), reconnects
// by itself and sends again what was not yet acknowledged.
const script = document.currentScript
  || [...document.querySelectorAll('script[src]')].find((s) => s.src === import.meta.url);
const base = new URL(import.meta.url);
const ORIGIN = base.origin;
const QUEUE = (script && script.dataset.queue) || '';
const KEY = `hotline.chat.${ORIGIN}`;
const MAX_FILE = 5 * 1024 * 1024;

const WORDS = {
  zh: {
    open: '在线客服', title: '在线客服', close: '收起', name: '您的称呼', phone: '手机号（选填）',
    email: '邮箱（选填）', start: '开始咨询', queued: '排队中：您前面还有 {n} 位，预计等待 {m}',
    queued_next: '马上为您接通…', waiting: '正在为您排队…', joined: '{a} 为您服务', ended: '会话已结束', send: '发送',
    placeholder: '请输入消息…', attach: '发送文件', end: '结束会话', typing: '对方正在输入…',
    rate: '请为本次服务打分', thanks: '感谢您的评价！', sent: '已送达', read: '已读',
    max_wait: '当前排队较久。您可以继续等待，或留言并留下电话，我们会回电。', leave: '留言',
    leave_text: '留言内容', left: '已收到您的留言，我们会尽快联系您。', new_chat: '重新咨询',
    offline: '连接中断，正在重连…', failed: '发送失败', too_big: '文件不能超过 5 MB', you: '我',
    minutes: '{n} 分钟', seconds: '不到 1 分钟', stars: '{n} 星',
  },
  en: {
    open: 'Chat with us', title: 'Chat with us', close: 'Minimise', name: 'Your name',
    phone: 'Mobile (optional)', email: 'E-mail (optional)', start: 'Start chat',
    queued: 'In line: {n} ahead of you, about {m}', queued_next: 'Connecting you now…', waiting: 'Finding you an agent…',
    joined: '{a} is helping you', ended: 'The chat has ended', send: 'Send',
    placeholder: 'Type a message…', attach: 'Send a file', end: 'End chat',
    typing: 'typing…', rate: 'How did we do?', thanks: 'Thank you for your rating!',
    sent: 'Delivered', read: 'Read',
    max_wait: 'The wait is long right now. Keep waiting, or leave a message and a number and we will call you back.',
    leave: 'Leave a message', leave_text: 'Your message', left: 'We have your message and will contact you soon.',
    new_chat: 'New chat', offline: 'Connection lost, reconnecting…', failed: 'Not sent',
    too_big: 'Files are limited to 5 MB', you: 'You', minutes: '{n} min', seconds: 'under a minute',
    stars: '{n} stars',
  },
};
const LANG = ((script && script.dataset.lang) || navigator.language || 'zh').toLowerCase().startsWith('en') ? 'en' : 'zh';
const t = (k, vars = {}) => (WORDS[LANG][k] || k).replace(/\{(\w+)\}/g, (_, v) => String(vars[v] ?? ''));

const CSS = `
:host { all: initial; font: 15px/1.4 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; color: #1b1f24; }
button, input, textarea { font: inherit; }
.launch { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; background: #0a5cad; color: #fff;
  border: 0; border-radius: 24px; padding: 12px 18px; box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer; }
.launch:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: 360px; height: 540px; max-height: calc(100vh - 40px);
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); display: flex; flex-direction: column; overflow: hidden; }
.panel[hidden], .launch[hidden], [hidden] { display: none !important; }
header { background: #0a5cad; color: #fff; padding: 10px 14px; display: flex; align-items: center; gap: 8px; }
header h2 { font-size: 16px; margin: 0; flex: 1; }
header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.6); border-radius: 6px; padding: 2px 8px; cursor: pointer; }
.status { padding: 6px 14px; background: #eef4fb; font-size: 13px; min-height: 1.4em; }
.status.offline { background: #fdecea; }
.log { flex: 1; overflow-y: auto; padding: 10px 14px; display: flex; flex-direction: column; gap: 6px; margin: 0; list-style: none; }
.msg { max-width: 80%; padding: 7px 10px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
.msg.customer { align-self: flex-end; background: #0a5cad; color: #fff; }
.msg.agent { align-self: flex-start; background: #f0f2f5; }
.msg.system { align-self: center; background: transparent; color: #555; font-size: 13px; }
.msg .meta { display: block; font-size: 11px; opacity: .8; margin-top: 2px; }
.msg a { color: inherit; }
.typing { padding: 0 14px; font-size: 12px; color: #555; min-height: 1.2em; }
form { display: flex; flex-direction: column; gap: 8px; padding: 12px 14px; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 13px; }
input, textarea { border: 1px solid #aab3bd; border-radius: 6px; padding: 7px 8px; }
.compose { flex-direction: row; align-items: flex-end; border-top: 1px solid #e1e4e8; }
.compose textarea { flex: 1; resize: none; height: 42px; }
.btn { background: #0a5cad; color: #fff; border: 0; border-radius: 6px; padding: 8px 12px; cursor: pointer; }
.btn.ghost { background: #fff; color: #0a5cad; border: 1px solid #0a5cad; }
.row { display: flex; gap: 8px; padding: 0 14px 10px; flex-wrap: wrap; }
.stars { display: flex; gap: 6px; }
.stars button { font-size: 22px; background: none; border: 1px solid #aab3bd; border-radius: 6px; cursor: pointer; padding: 2px 8px; }
@media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; height: 100vh; max-height: none; border-radius: 0; } }
`;

function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function fmtWait(s) {
  return s < 60 ? t('seconds') : t('minutes', { n: Math.round(s / 60) });
}

class Chat {
  constructor() {
    this.saved = this.load();
    this.ws = null;
    this.delay = 500;
    this.lastSeq = 0;
    this.pending = new Map(); // client id -> {text, attachments, li}
    this.phase = null;
    this.agentRead = 0;
    this.typingTimer = null;
    this.typingOn = false;
    this.build();
    if (this.saved) { this.open(); this.connect(); }
  }

  load() {
    try { return JSON.parse(localStorage.getItem(KEY) || 'null'); } catch { return null; }
  }

  save() {
    try {
      if (this.saved) localStorage.setItem(KEY, JSON.stringify(this.saved));
      else localStorage.removeItem(KEY);
    } catch { /* storage blocked: the chat lasts as long as the page */ }
  }

  build() {
    const host = h('div', { id: 'hotline-chat' });
    document.body.append(host);
    const root = host.attachShadow({ mode: 'open' });
    // A constructed sheet: allowed by a page's content security policy where a <style> is not.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch {
      root.append(h('style', { text: CSS }));
    }
    this.launchBtn = h('button', { class: 'launch', type: 'button', 'aria-haspopup': 'dialog', onclick: () => this.open() }, t('open'));
    this.status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
    this.log = h('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('title') });
    this.typingEl = h('div', { class: 'typing', 'aria-live': 'polite' });
    this.startForm = h('form', { class: 'start', onsubmit: (e) => { e.preventDefault(); this.start(); } },
      h('label', {}, t('name'), h('input', { name: 'name', required: true, maxlength: '100', autocomplete: 'name' })),
      h('label', {}, t('phone'), h('input', { name: 'phone', type: 'tel', autocomplete: 'tel', maxlength: '30' })),
      h('label', {}, t('email'), h('input', { name: 'email', type: 'email', autocomplete: 'email', maxlength: '254' })),
      h('button', { class: 'btn', type: 'submit' }, t('start')));
    this.text = h('textarea', { name: 'text', rows: '2', maxlength: '4000', placeholder: t('placeholder'), 'aria-label': t('placeholder'),
      oninput: () => this.typed(),
      onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.sendText(); } } });
    this.file = h('input', { type: 'file', hidden: true, accept: 'image/*,.pdf,.txt', onchange: () => this.sendFile() });
    this.compose = h('form', { class: 'compose', hidden: true, onsubmit: (e) => { e.preventDefault(); this.sendText(); } },
      this.text, this.file,
      h('button', { class: 'btn ghost', type: 'button', 'aria-label': t('attach'), title: t('attach'), onclick: () => this.file.click() }, '📎'),
      h('button', { class: 'btn', type: 'submit' }, t('send')));
    this.endRow = h('div', { class: 'row', hidden: true },
      h('button', { class: 'btn ghost', type: 'button', onclick: () => this.send({ type: 'end' }) }, t('end')));
    this.leaveForm = h('form', { class: 'leave', hidden: true, onsubmit: (e) => { e.preventDefault(); this.leave(); } },
      h('p', { text: t('max_wait') }),
      h('label', {}, t('leave_text'), h('textarea', { name: 'text', rows: '3', required: true, maxlength: '4000' })),
      h('label', {}, t('phone'), h('input', { name: 'phone', type: 'tel', maxlength: '30' })),
      h('button', { class: 'btn', type: 'submit' }, t('leave')));
    this.rateRow = h('div', { class: 'row rate', hidden: true },
      h('span', { text: t('rate') }),
      h('div', { class: 'stars', role: 'group', 'aria-label': t('rate') },
        [1, 2, 3, 4, 5].map((n) => h('button', { type: 'button', 'data-score': String(n), 'aria-label': t('stars', { n }), onclick: () => this.rate(n) }, '★'.repeat(1) + n))));
    this.newRow = h('div', { class: 'row', hidden: true },
      h('button', { class: 'btn', type: 'button', onclick: () => this.reset() }, t('new_chat')));
    this.panel = h('section', { class: 'panel', role: 'dialog', 'aria-label': t('title'), hidden: true },
      h('header', {}, h('h2', { text: t('title') }),
        h('button', { type: 'button', onclick: () => this.minimise() }, t('close'))),
      this.status, this.startForm, this.log, this.typingEl, this.leaveForm, this.rateRow, this.newRow, this.endRow, this.compose);
    root.append(this.launchBtn, this.panel);
    this.root = root;
    document.addEventListener('visibilitychange', () => this.markRead());
  }

  open() {
    this.panel.hidden = false;
    this.launchBtn.hidden = true;
    const first = this.saved ? this.text : this.startForm.querySelector('input');
    if (first) first.focus();
    this.markRead();
  }

  minimise() {
    this.panel.hidden = true;
    this.launchBtn.hidden = false;
    this.launchBtn.focus();
  }

  start() {
    const f = new FormData(this.startForm);
    this.hello = {
      type: 'start', name: f.get('name'), phone: f.get('phone') || undefined,
      email: f.get('email') || undefined, language: LANG, queue: QUEUE || undefined, page: location.href,
    };
    this.startForm.hidden = true;
    this.connect();
  }

  connect() {
    const proto = ORIGIN.startsWith('https') ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${base.host}/chat/v1/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.status.classList.remove('offline');
      if (this.saved) ws.send(JSON.stringify({ type: 'resume', token: this.saved.token, since: this.lastSeq }));
      else if (this.hello) ws.send(JSON.stringify(this.hello));
    };
    ws.onmessage = (m) => {
      let v;
      try { v = JSON.parse(m.data); } catch { return; }
      this.receive(v);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.saved || this.phase === 'ended' || this.phase === 'left') return;
      this.status.classList.add('offline');
      this.status.textContent = t('offline');
      const wait = this.delay * (0.75 + Math.random() * 0.5);
      this.delay = Math.min(this.delay * 2, 15000);
      setTimeout(() => this.connect(), wait);
    };
  }

  send(v) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(v)); return true; }
    return false;
  }

  receive(v) {
    switch (v.type) {
      case 'started':
        this.saved = { token: v.token, conversation: v.conversation };
        this.save();
        this.startForm.hidden = true;
        this.compose.hidden = false;
        this.endRow.hidden = false;
        // What was written while offline goes again (kept once by its id).
        for (const [id, p] of this.pending) this.send({ type: 'message', id, text: p.text, attachments: p.attachments });
        break;
      case 'state': this.setPhase(v); break;
      case 'message': this.showMessage(v); break;
      case 'receipt': {
        const p = this.pending.get(v.id);
        if (p) {
          this.pending.delete(v.id);
          p.li.dataset.seq = v.seq;
          p.li.dataset.state = 'sent';
          p.meta.textContent = t('sent');
          this.lastSeq = Math.max(this.lastSeq, v.seq);
          this.showRead();
        }
        break;
      }
      case 'read':
        if (v.by === 'agent') { this.agentRead = Math.max(this.agentRead, v.upto); this.showRead(); }
        break;
      case 'typing': this.typingEl.textContent = v.on ? t('typing') : ''; break;
      case 'max_wait': if (this.phase === 'queued') this.leaveForm.hidden = false; break;
      case 'error':
        if (v.code === 'not_found' && this.saved) { this.saved = null; this.save(); this.reset(); }
        else if (v.id && this.pending.has(v.id)) {
          const p = this.pending.get(v.id);
          this.pending.delete(v.id);
          p.li.dataset.state = 'failed';
          p.meta.textContent = `${t('failed')}: ${v.message}`;
        } else this.status.textContent = v.message;
        break;
      default: break;
    }
  }

  setPhase(v) {
    this.phase = v.phase;
    this.panel.dataset.phase = v.phase;
    if (v.phase === 'queued') {
      this.status.textContent = !v.position ? t('waiting')
        : v.position > 1 || v.eta_secs > 0 ? t('queued', { n: v.position - 1, m: fmtWait(v.eta_secs) }) : t('queued_next');
      this.status.dataset.position = v.position;
    } else if (v.phase === 'active') {
      this.leaveForm.hidden = true;
      this.status.textContent = t('joined', { a: v.agent });
    } else if (v.phase === 'ended' || v.phase === 'left') {
      this.status.textContent = v.phase === 'left' ? t('left') : t('ended');
      this.compose.hidden = true;
      this.endRow.hidden = true;
      this.leaveForm.hidden = true;
      this.typingEl.textContent = '';
      this.rateRow.hidden = !(v.phase === 'ended' && !v.rated && (v.answered || this.hadAgent));
      this.newRow.hidden = false;
      if (this.ws) { const ws = this.ws; this.ws = null; if (this.rateRow.hidden) ws.close(); else this.ws = ws; }
      if (this.rateRow.hidden) { this.saved = null; this.save(); }
    }
    if (v.phase === 'active') this.hadAgent = true;
  }

  showMessage(v) {
    this.lastSeq = Math.max(this.lastSeq, v.seq);
    if (v.client_id && this.pending.has(v.client_id)) return; // our own, the receipt follows
    if (this.log.querySelector(`[data-seq="${v.seq}"]`)) return;
    const mine = v.sender === 'customer';
    const meta = h('span', { class: 'meta' }, mine ? t('sent') : (v.name || ''));
    const li = h('li', { class: `msg ${v.sender}`, 'data-seq': String(v.seq), 'data-state': mine ? 'sent' : null },
      v.text, this.files(v.attachments), meta);
    this.log.append(li);
    this.log.scrollTop = this.log.scrollHeight;
    if (v.sender === 'agent') { this.hadAgent = true; this.typingEl.textContent = ''; this.markRead(); }
    this.showRead();
  }

  files(list) {
    if (!list || !list.length || !this.saved) return null;
    return h('span', { class: 'files' }, list.map((a) => {
      const file = a.path.split('/').pop();
      return h('a', { href: `${ORIGIN}/chat/v1/attachments/${this.saved.conversation}/${file}?token=${encodeURIComponent(this.saved.token)}`,
        download: a.name, rel: 'noopener' }, ` 📄 ${a.name}`);
    }));
  }

  showRead() {
    for (const li of this.log.querySelectorAll('.msg.customer[data-state="sent"]')) {
      if (Number(li.dataset.seq) <= this.agentRead) {
        li.dataset.state = 'read';
        li.querySelector('.meta').textContent = t('read');
      }
    }
  }

  markRead() {
    if (this.panel.hidden || document.visibilityState !== 'visible' || !this.lastSeq) return;
    if (this.lastSeq > (this.readSent || 0)) {
      if (this.send({ type: 'read', upto: this.lastSeq })) this.readSent = this.lastSeq;
    }
  }

  typed() {
    if (!this.typingOn) { this.typingOn = true; this.send({ type: 'typing', on: true }); }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { this.typingOn = false; this.send({ type: 'typing', on: false }); }, 3000);
  }

  post(text, attachments = []) {
    const id = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
    const meta = h('span', { class: 'meta' }, '…');
    const li = h('li', { class: 'msg customer', 'data-state': 'pending' }, text, this.files(attachments), meta);
    this.log.append(li);
    this.log.scrollTop = this.log.scrollHeight;
    this.pending.set(id, { text, attachments, li, meta });
    this.send({ type: 'message', id, text, attachments });
  }

  sendText() {
    const text = this.text.value.trim();
    if (!text) return;
    this.text.value = '';
    clearTimeout(this.typingTimer);
    if (this.typingOn) { this.typingOn = false; this.send({ type: 'typing', on: false }); }
    this.post(text);
  }

  async sendFile() {
    const f = this.file.files && this.file.files[0];
    this.file.value = '';
    if (!f || !this.saved) return;
    if (f.size > MAX_FILE) { this.status.textContent = t('too_big'); return; }
    try {
      const res = await fetch(`${ORIGIN}/chat/v1/attachments?name=${encodeURIComponent(f.name)}&token=${encodeURIComponent(this.saved.token)}`,
        { method: 'POST', body: f });
      const body = await res.json();
      if (!res.ok) { this.status.textContent = body.error ? body.error.message : t('failed'); return; }
      this.post('', [body]);
    } catch { this.status.textContent = t('failed'); }
  }

  leave() {
    const f = new FormData(this.leaveForm);
    this.send({ type: 'leave_message', text: f.get('text'), phone: f.get('phone') || undefined });
  }

  rate(n) {
    this.send({ type: 'rate', score: n });
    this.rateRow.hidden = true;
    this.status.textContent = t('thanks');
    this.saved = null;
    this.save();
  }

  reset() {
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.saved = null;
    this.save();
    this.hello = null;
    this.phase = null;
    this.hadAgent = false;
    this.lastSeq = 0;
    this.readSent = 0;
    this.agentRead = 0;
    this.pending.clear();
    this.log.replaceChildren();
    for (const el of [this.rateRow, this.newRow, this.compose, this.endRow, this.leaveForm]) el.hidden = true;
    this.startForm.hidden = false;
    this.status.textContent = '';
    delete this.panel.dataset.phase;
  }
}

if (document.body) new Chat();
else document.addEventListener('DOMContentLoaded', () => new Chat());
