// Web chat in a real browser (Debian's chromium, headless, driven by playwright-core) against
// the real `hotline demo`: the customer uses the widget on the demo bank page (/chat), the
// agent the desktop (/agent).
//
// - the customer starts a chat, waits in line with a place shown, writes; the agent goes
//   available, is offered it in the conversations panel and accepts; messages both ways,
//   with the read receipt and the typing indicator; the agent ends it, the customer rates
//   it 5, the agent wraps it up; the log has the rating and the transcript;
// - the conversation survives a reload of the bank's page, and the widget fills a phone's
//   screen.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/chat.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { children, launchChromium, pagesFromDisk, repo, startDemo } from './procs.mjs';

const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');

let work; let hotline; let http; let browser;
const pageErrors = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-chat-'));
  ({ hotline, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
  assert.deepEqual(pageErrors, [], 'no script errors on the pages');
});

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN', ...opts });
  await pagesFromDisk(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function api(method, path, token, body) {
  const res = await fetch(`http://${http}/api/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function login(user, password) {
  const r = await api('POST', '/login', null, { user, password });
  assert.equal(r.status, 200);
  return r.body.token;
}

test('a customer chats with an agent, rates it, and the agent wraps it up', async () => {
  const cust = await newPage({ locale: 'en-GB' });
  await cust.goto(`http://${http}/chat`);
  const launch = cust.getByRole('button', { name: 'Chat with us' });
  await launch.click();
  await cust.fill('#hotline-chat input[name=name]', 'Mei Lin');
  await cust.fill('#hotline-chat input[name=phone]', '+86 139 0013 9000');
  await cust.click('#hotline-chat .start button[type=submit]');
  // Nobody is available yet: a place in line.
  await cust.waitForFunction(() => {
    const s = document.querySelector('#hotline-chat').shadowRoot.querySelector('.status');
    return s.dataset.position === '1';
  });
  await cust.fill('#hotline-chat .compose textarea', 'My card was swallowed');
  await cust.press('#hotline-chat .compose textarea', 'Enter');
  await cust.waitForSelector('#hotline-chat .msg.customer[data-state=sent]');

  // The agent comes and accepts the chat from the conversations panel.
  const desk = await newPage();
  await desk.goto(`http://${http}/agent`);
  await desk.waitForSelector('#login:not([hidden]) [name=user]');
  await desk.fill('[name=user]', 'agent1007');
  await desk.fill('[name=password]', 'pass1007');
  await desk.press('[name=password]', 'Enter');
  await desk.waitForSelector('#desk:not([hidden])');
  await desk.click('#btn-available');
  await desk.waitForSelector('#chat-accept');
  assert.match(await desk.textContent('#chat-tabs'), /Mei Lin/);
  assert.equal(await desk.getAttribute('#pop', 'data-state'), 'idle', 'a chat does not ring like a call');
  await desk.click('#chat-accept');
  await desk.waitForSelector('#chat-body[data-phase=active] #chat-text');
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('My card was swallowed'));
  // The customer panel knows nothing of this number in the demo, but shows who it is.
  assert.match(await desk.textContent('#chat-customer'), /Mei Lin/);

  // The customer sees the agent join, and the message read.
  await cust.waitForFunction(() => /Zhao Min/.test(document.querySelector('#hotline-chat').shadowRoot.querySelector('.status').textContent));
  await cust.waitForSelector('#hotline-chat .msg.customer[data-state=read]');

  // The customer types: the agent sees it; the agent answers.
  await cust.type('#hotline-chat .compose textarea', 'Wangfujing');
  await desk.waitForFunction(() => document.querySelector('#chat-body .typing').textContent.length > 0);
  await cust.press('#hotline-chat .compose textarea', 'Enter');
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('Wangfujing'));
  await desk.fill('#chat-text', '已为您挂失，新卡将寄出。');
  await desk.press('#chat-text', 'Enter');
  await cust.waitForSelector('#hotline-chat .msg.agent');
  assert.match(await cust.textContent('#hotline-chat .msg.agent'), /已为您挂失/);

  // The agent ends it; the customer rates it 5; the agent wraps it up.
  await desk.click('#chat-end');
  await cust.waitForSelector('#hotline-chat .rate:not([hidden])');
  await cust.click('#hotline-chat .stars button[data-score="5"]');
  await cust.waitForFunction(() => /Thank you/.test(document.querySelector('#hotline-chat').shadowRoot.querySelector('.status').textContent));
  await desk.waitForSelector('#chat-wrap');
  await desk.selectOption('#chat-disposition', 'resolved');
  await desk.click('#chat-wrap button[type=submit]');
  await desk.waitForSelector('#chat-wrapped');

  // The log has it: the record with the rating and disposition, and the transcript.
  const sup = await login('supervisor', 'supervisor');
  let rec;
  for (let i = 0; i < 100 && !rec; i += 1) {
    const r = await api('GET', '/interactions?since=2000-01-01T00:00:00Z', sup);
    rec = r.body.find((x) => x.channel === 'chat' && x.survey === 5 && x.disposition === 'resolved');
    if (!rec) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(rec, 'the rated, wrapped-up chat is in the records');
  assert.equal(rec.agent, '1007');
  const t = await api('GET', `/interactions/${rec.id}/transcript`, sup);
  assert.deepEqual(t.body.messages.map((m) => m.sender), ['customer', 'customer', 'agent']);
  await cust.context().close();
  await desk.context().close();
});

test('the chat survives a reload and fills a phone screen', async () => {
  const cust = await newPage({ viewport: { width: 375, height: 740 }, locale: 'zh-CN', isMobile: true, hasTouch: true });
  await cust.goto(`http://${http}/chat`);
  await cust.getByRole('button', { name: '在线客服' }).click();
  const box = await cust.locator('#hotline-chat .panel').boundingBox();
  assert.equal(Math.round(box.width), 375, 'full width on a phone');
  await cust.fill('#hotline-chat input[name=name]', '王先生');
  await cust.click('#hotline-chat .start button[type=submit]');
  await cust.waitForSelector('#hotline-chat .compose:not([hidden])');
  await cust.fill('#hotline-chat .compose textarea', '请问营业时间？');
  await cust.press('#hotline-chat .compose textarea', 'Enter');
  await cust.waitForSelector('#hotline-chat .msg.customer[data-state=sent]');
  await cust.reload();
  // Back in the same conversation, the message still there.
  await cust.waitForSelector('#hotline-chat .msg.customer');
  assert.match(await cust.textContent('#hotline-chat .log'), /营业时间/);
  assert.equal(await cust.isVisible('#hotline-chat .start'), false);
  // Leaving the line ends it.
  await cust.click('#hotline-chat .row button.ghost');
  await cust.waitForFunction(() => document.querySelector('#hotline-chat').shadowRoot.querySelector('.panel').dataset.phase === 'ended');
  await cust.context().close();
});
