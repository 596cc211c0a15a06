// What the browser tests of e-mail share: a throwaway Dovecot (IMAP, submission, local
// delivery) on loopback, started by tests/mail/start-mailserver.sh as the Rust e-mail tests
// start it; a small IMAP client (log in, append, read a mailbox); and enough of MIME to read
// what the centre sends (headers with encoded words, multipart, base64, quoted-printable).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repo } from './procs.mjs';

// Starts the mail server for `users` ("address:password ..."): its ports and directory, or
// `{ skip }` saying why it cannot. Where the test script installed the server
// (HOTLINE_EXPECT_MAIL_SERVER), a missing one is a failure, not a skip.
export function startMailServer(users) {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-mail-'));
  const r = spawnSync('bash', [join(repo, 'tests/mail/start-mailserver.sh'), dir],
    { env: { ...process.env, MAIL_USERS: users }, encoding: 'utf8' });
  if (r.status === 3) {
    rmSync(dir, { recursive: true, force: true });
    assert.ok(!process.env.HOTLINE_EXPECT_MAIL_SERVER, r.stderr.trim());
    return { skip: r.stderr.trim() };
  }
  assert.equal(r.status, 0, `start-mailserver.sh failed: ${r.stderr}`);
  const port = (name) => {
    const m = r.stdout.match(new RegExp(`^${name}=(\\d+)$`, 'm'));
    assert.ok(m, `no ${name}: ${r.stdout} ${r.stderr}`);
    return Number(m[1]);
  };
  return { dir, imap: port('IMAP_PORT'), submission: port('SUBMISSION_PORT') };
}

export function stopMailServer(mail) {
  if (!mail || !mail.dir) return;
  spawnSync('bash', [join(repo, 'tests/mail/stop-mailserver.sh'), mail.dir]);
  rmSync(mail.dir, { recursive: true, force: true });
}

// An IMAP connection (plain, loopback only): tagged commands, each answered with its
// untagged responses, a literal sent when the server asks for it.
export class Imap {
  static async login(port, user, password) {
    const sock = connect(port, '127.0.0.1');
    await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    const imap = new Imap(sock);
    const greeting = await imap.response();
    assert.match(greeting.text, /^\* OK/, greeting.text);
    await imap.command(`LOGIN ${quote(user)} ${quote(password)}`);
    return imap;
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.wake = null;
    this.closed = false;
    this.tag = 0;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.poke(); });
    sock.on('close', () => { this.closed = true; this.poke(); });
    sock.on('error', () => {});
  }

  poke() { const w = this.wake; this.wake = null; if (w) w(); }

  async need(pred) {
    for (;;) {
      const got = pred();
      if (got !== null) return got;
      if (this.closed) throw new Error('the IMAP server closed the connection');
      await new Promise((res) => { this.wake = res; });
    }
  }

  async line() {
    return this.need(() => {
      const i = this.buf.indexOf('\r\n');
      if (i < 0) return null;
      const l = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      return l;
    });
  }

  async bytes(n) {
    return this.need(() => {
      if (this.buf.length < n) return null;
      const b = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return b;
    });
  }

  // One response: its text, and the literals it carries.
  async response() {
    let text = '';
    const literals = [];
    for (;;) {
      const l = await this.line();
      text += l;
      const m = l.match(/\{(\d+)\}$/);
      if (!m) return { text, literals };
      literals.push(await this.bytes(Number(m[1])));
    }
  }

  async command(cmd, literal) {
    this.tag += 1;
    const tag = `t${this.tag}`;
    this.sock.write(literal ? `${tag} ${cmd} {${literal.length}}\r\n` : `${tag} ${cmd}\r\n`);
    const untagged = [];
    for (;;) {
      const r = await this.response();
      if (r.text.startsWith('+') && literal) { this.sock.write(Buffer.concat([literal, Buffer.from('\r\n')])); continue; }
      if (r.text.startsWith(`${tag} `)) {
        assert.match(r.text, new RegExp(`^${tag} OK`), `${cmd.split(' ')[0]}: ${r.text}`);
        return untagged;
      }
      untagged.push(r);
    }
  }

  // Puts `raw` (a whole message) into `folder`, unseen.
  async append(folder, raw) {
    await this.command(`APPEND ${quote(folder)}`, Buffer.from(raw));
  }

  // Every message in `folder`, as it is (not marked seen).
  async messages(folder) {
    const sel = await this.command(`EXAMINE ${quote(folder)}`);
    const exists = sel.map((r) => r.text.match(/^\* (\d+) EXISTS/)).find(Boolean);
    if (!exists || exists[1] === '0') return [];
    const fetched = await this.command('FETCH 1:* (BODY.PEEK[])');
    return fetched.filter((r) => / FETCH /.test(r.text) && r.literals.length).map((r) => r.literals[0]);
  }

  async logout() {
    try { await this.command('LOGOUT'); } catch { /* closing anyway */ }
    this.sock.destroy();
  }
}

function quote(s) {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

// Waits until `user`'s INBOX holds a message that `pred` accepts (parsed with `parseMail`),
// looking again every tenth of a second for at most `ms`.
export async function waitForMail(port, user, password, pred, ms = 30000) {
  const until = Date.now() + ms;
  let seen = [];
  while (Date.now() < until) {
    const imap = await Imap.login(port, user, password);
    seen = (await imap.messages('INBOX')).map(parseMail);
    await imap.logout();
    const hit = seen.find(pred);
    if (hit) return hit;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${user} got no such message; has: ${seen.map((m) => m.headers.subject).join(' | ')}`);
}

// A message's headers (lower-case names, unfolded, encoded words decoded) and its text/plain
// and text/html parts, decoded.
export function parseMail(raw) {
  const { headers, body } = split(Buffer.isBuffer(raw) ? raw.toString('latin1') : raw);
  const parts = { text: '', html: '' };
  walk(headers, body, parts);
  return { headers, ...parts };
}

function split(latin1) {
  const i = latin1.indexOf('\r\n\r\n');
  const head = i < 0 ? latin1 : latin1.slice(0, i);
  const body = i < 0 ? '' : latin1.slice(i + 4);
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = decodeWords(Buffer.from(line.slice(c + 1).trim(), 'latin1').toString('utf8'));
    if (!(name in headers)) headers[name] = value;
  }
  return { headers, body };
}

function walk(headers, body, parts) {
  const type = headers['content-type'] || 'text/plain';
  const boundary = type.match(/boundary="?([^";]+)"?/i);
  if (/^multipart\//i.test(type) && boundary) {
    const sep = `--${boundary[1]}`;
    for (const chunk of body.split(sep).slice(1)) {
      if (chunk.startsWith('--')) break;
      const p = split(chunk.replace(/^\r\n/, ''));
      walk(p.headers, p.body.replace(/\r\n$/, ''), parts);
    }
    return;
  }
  const cte = (headers['content-transfer-encoding'] || '').toLowerCase();
  const bytes = cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
    : cte === 'quoted-printable' ? qp(body.replace(/=\r\n/g, ''))
      : Buffer.from(body, 'latin1');
  const text = bytes.toString('utf8');
  if (/^text\/plain/i.test(type)) parts.text += text;
  else if (/^text\/html/i.test(type)) parts.html += text;
}

function qp(s, underscores = false) {
  const out = [];
  for (let i = 0; i < s.length; i += 1) {
    if (s[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) { out.push(parseInt(s.slice(i + 1, i + 3), 16)); i += 2; }
    else if (underscores && s[i] === '_') out.push(0x20);
    else out.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

// RFC 2047 encoded words (UTF-8); whitespace between two of them is not part of the text,
// and a character may be split across them, so their bytes are joined before decoding.
function decodeWords(s) {
  const re = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  let out = '';
  let pending = [];
  let last = 0;
  const flush = () => { if (pending.length) out += Buffer.concat(pending).toString('utf8'); pending = []; };
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const between = s.slice(last, m.index);
    if (!(pending.length && /^\s*$/.test(between))) { flush(); out += between; }
    pending.push(m[2].toUpperCase() === 'B' ? Buffer.from(m[3], 'base64') : qp(m[3], true));
    last = re.lastIndex;
  }
  flush();
  return out + s.slice(last);
}

// `text` as RFC 2047 encoded words, for a header.
export function encodeWord(text) {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

// Message ids of a header (`<a@b> <c@d>`), without the brackets.
export function ids(value) {
  return [...(value || '').matchAll(/<([^>]+)>/g)].map((m) => m[1]);
}
