// E-mail on the agent desktop in a real browser (Debian's chromium, headless, driven by
// playwright-core) against the real `hotline serve` with a mailbox on a real mail server
// (Dovecot on loopback, as crates/hotline/tests/email.rs starts it):
//
// - a customer's e-mail (HTML with a script, and a file) is offered in the conversations
//   panel; the agent accepts it and sees the e-mail's subject and reference; the formatted
//   view shows the HTML made safe; the file downloads whole;
// - the agent writes the reply in the e-mail's larger box (Enter is a new line, Ctrl+Enter
//   sends); it shows `sent`, and reaches the customer's mailbox threaded, with the reference;
// - "Answered: await the customer" asks for the wrap-up; once wrapped up the agent closes
//   the tab; the customer's answer comes back to the same agent in the same conversation,
//   and "Close case" ends it;
// - an e-mail offered again while its tab is still open (wrapped up, not closed) asks for
//   its wrap-up again when it ends.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/email.test.mjs
// Needs Dovecot (dovecot-imapd, dovecot-submissiond, dovecot-lmtpd) and python3-aiosmtpd;
// without them the test is skipped, unless HOTLINE_EXPECT_MAIL_SERVER is set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { children, launchChromium, pagesFromDisk, repo, startDemo } from './procs.mjs';
import { Imap, encodeWord, ids, startMailServer, stopMailServer, waitForMail } from './mail.mjs';

const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');

let work; let hotline; let http; let browser; let mail;
const pageErrors = [];

// The demo centre with an e-mail queue fed by the service mailbox.
function centre(imap, submission) {
  return `${readFileSync(join(repo, 'examples/demo.toml'), 'utf8')}
[[queues]]
name = "email"
channel = "email"
skills = { general = 1 }
target_seconds = 14400
service_level_percent = 80

[[mailboxes]]
address = "service@bank.test"
name = "Bank Service"
queue = "email"
imap = "127.0.0.1:${imap}"
smtp = "127.0.0.1:${submission}"
user = "service@bank.test"
password = "secret"
security = "plain"
poll_seconds = 1
`;
}

before(async () => {
  mail = startMailServer('service@bank.test:secret customer@example.test:secret');
  if (mail.skip) return;
  work = mkdtempSync(join(tmpdir(), 'hotline-email-'));
  const config = join(work, 'centre.toml');
  writeFileSync(config, centre(mail.imap, mail.submission));
  ({ hotline, http } = await startDemo(bin, join(work, 'data'), { config }));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  stopMailServer(mail);
  if (work) rmSync(work, { recursive: true, force: true });
  assert.deepEqual(pageErrors, [], 'no script errors on the pages');
});

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB', ...opts });
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

// Puts a message into the service mailbox, as the mail server would on delivery.
async function deliver(raw) {
  const imap = await Imap.login(mail.imap, 'service@bank.test', 'secret');
  await imap.append('INBOX', raw);
  await imap.logout();
}

// A PDF's worth of bytes, every byte value included, so that a download that altered any
// (as text, or cut short) shows.
const FILE = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([...Array(1024).keys()].map((i) => (i * 7) % 256))]);
const SUBJECT = '信用卡年费 annual fee';

const FIRST = [
  'From: Li Wei <customer@example.test>',
  'To: Bank Service <service@bank.test>',
  `Subject: ${encodeWord('信用卡年费')} annual fee`,
  'Date: Tue, 01 Dec 2026 10:00:00 +0800',
  'Message-ID: <q1@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="mixed"',
  '',
  '--mixed',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  '为什么我的信用卡被收了年费？ Why was I charged an annual fee?',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Why was I charged an <b>annual fee</b>?</p><script>window.mailScript = 1</script>'
    + '<img src="x" onerror="window.mailScript = 2"><p>See the statement.</p>',
  '--alt--',
  '--mixed',
  'Content-Type: application/pdf; name="statement.pdf"',
  'Content-Disposition: attachment; filename="statement.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  ...FILE.toString('base64').match(/.{1,76}/g),
  '--mixed--',
  '',
].join('\r\n');

// Agent 1007 logs in to the desk (in English) and goes available.
async function openDesk() {
  const desk = await newPage();
  await desk.goto(`http://${http}/agent`);
  await desk.selectOption('#lang', 'en');
  await desk.waitForSelector('#login:not([hidden]) [name=user]');
  await desk.fill('[name=user]', 'agent1007');
  await desk.fill('[name=password]', 'pass1007');
  await desk.press('[name=password]', 'Enter');
  await desk.waitForSelector('#desk:not([hidden])');
  await desk.click('#btn-available');
  await desk.waitForSelector('#state-badge[data-state=available]');
  return desk;
}

async function wrapUp(desk, disposition) {
  await desk.selectOption('#chat-disposition', disposition);
  await desk.click('#chat-wrap button[type=submit]');
  await desk.waitForSelector('#chat-wrapped');
  assert.match(await desk.textContent('#chat-wrapped'), new RegExp(disposition));
}

test('an agent answers an e-mail on the desk, and the customer\'s answer comes back to them', async (t) => {
  if (mail.skip) { t.skip(mail.skip); return; }
  const desk = await openDesk();

  // The customer writes; the e-mail is offered in the conversations panel, marked as one.
  await deliver(FIRST);
  await desk.waitForSelector('#chat-tabs [role=tab] [data-channel=email]');
  const tab = desk.locator('#chat-tabs [role=tab]');
  assert.equal(await tab.count(), 1);
  const id = await tab.getAttribute('data-conversation');
  assert.match(await tab.textContent(), /✉.*Li Wei/);
  assert.equal(await desk.getAttribute('#pop', 'data-state'), 'idle', 'an e-mail does not ring like a call');
  await desk.getByRole('button', { name: 'Accept', exact: true }).click();
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active] #chat-text`);
  assert.equal(await tab.getAttribute('aria-selected'), 'true');
  assert.match(await desk.textContent('#email-head'), new RegExp(`Subject: ${SUBJECT}`));
  const reference = (await desk.textContent('#email-ref')).match(/HL-\d+/)?.[0];
  assert.ok(reference, await desk.textContent('#email-ref'));
  const first = desk.locator('#chat-log .msg.customer').first();
  assert.match(await first.textContent(), /Why was I charged an annual fee\?/);

  // The formatted view: the HTML made safe, in a shadow root of its own.
  await first.getByRole('button', { name: 'Show formatted' }).click();
  await desk.waitForSelector('#chat-log .email-html');
  const shown = await desk.evaluate(() => {
    const root = document.querySelector('#chat-log .email-html').shadowRoot;
    return {
      bold: root && [...root.querySelectorAll('b')].map((b) => b.textContent),
      scripts: root && root.querySelectorAll('script').length,
      handlers: root && root.querySelectorAll('[onerror]').length,
      text: root && root.textContent,
      ran: window.mailScript,
    };
  });
  assert.deepEqual(shown.bold, ['annual fee']);
  assert.equal(shown.scripts, 0, 'no script element');
  assert.equal(shown.handlers, 0, 'no event handler');
  assert.match(shown.text, /See the statement\./);
  assert.doesNotMatch(shown.text, /mailScript/);
  assert.equal(shown.ran, undefined, 'nothing of the e-mail ran');

  // The customer's file is listed (the centre's safe HTML is not) and downloads whole.
  const files = await first.locator('a.file').allTextContents();
  assert.ok(files.some((f) => f.includes('statement.pdf')), files.join());
  assert.ok(!files.some((f) => f.includes('message.html')), files.join());
  const [download] = await Promise.all([
    desk.waitForEvent('download'),
    first.getByRole('link', { name: /statement\.pdf/ }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'statement.pdf');
  assert.ok(readFileSync(await download.path()).equals(FILE), 'the downloaded file is the one sent');

  // The reply, in the larger box: Enter is a new line, Ctrl+Enter sends.
  const box = desk.getByRole('textbox', { name: 'Write the reply (Ctrl+Enter sends)' });
  assert.equal(await box.getAttribute('rows'), '8');
  await box.click();
  await box.type('Dear Li Wei,');
  await box.press('Enter');
  await box.type('the fee has been refunded.');
  assert.equal(await box.inputValue(), 'Dear Li Wei,\nthe fee has been refunded.');
  assert.equal(await desk.locator('#chat-log .msg.agent').count(), 0, 'Enter alone does not send');
  await box.press('Control+Enter');
  await desk.waitForSelector('#chat-log .msg.agent[data-status=sent]');
  const reply = desk.locator('#chat-log .msg.agent');
  assert.match(await reply.textContent(), /the fee has been refunded\./);
  assert.match(await reply.locator('.meta').textContent(), /Sent/);
  assert.equal(await box.inputValue(), '', 'the box is emptied once sent');
  assert.equal(await desk.locator('#chat-log .email-html').count(), 1, 'the formatted view stays open');

  // The reply is in the customer's mailbox: from the service address, threaded under the
  // customer's message, with the reference in the subject.
  const got = await waitForMail(mail.imap, 'customer@example.test', 'secret',
    (m) => !m.headers['auto-submitted'] && /refunded/.test(m.text));
  assert.match(got.headers.from, /<?service@bank\.test>?/);
  assert.deepEqual(ids(got.headers['in-reply-to']), ['q1@example.test']);
  assert.equal(got.headers.subject, `Re: ${SUBJECT} [#${reference}]`);
  assert.match(got.text, /Dear Li Wei,\r?\nthe fee has been refunded\./);
  const replyId = ids(got.headers['message-id'])[0];
  assert.ok(replyId, 'the reply has a Message-ID');

  // Answered: the desk asks for the wrap-up; once done, the agent closes the tab.
  await desk.getByRole('button', { name: 'Answered: await the customer' }).click();
  await desk.waitForSelector('#chat-body[data-phase=ended] #chat-wrap');
  assert.match(await desk.textContent('#chat-ended'), /waiting for the customer/);
  await wrapUp(desk, 'info');
  await desk.getByRole('button', { name: 'Close', exact: true }).click();
  await desk.waitForFunction((c) => !document.querySelector(`#chat-tabs [data-conversation="${c}"]`), id);

  // The customer answers the reply (threaded by its In-Reply-To; no reference in the
  // subject): the same conversation comes back to the agent, with the whole thread.
  await deliver([
    'From: Li Wei <customer@example.test>',
    'To: Bank Service <service@bank.test>',
    'Subject: Re: annual fee',
    'Message-ID: <q2@example.test>',
    `In-Reply-To: <${replyId}>`,
    `References: <q1@example.test> <${replyId}>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Thank you! 谢谢！',
    '',
  ].join('\r\n'));
  await desk.waitForSelector(`#chat-tabs [data-conversation="${id}"] [data-channel=email]`);
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=offered] #chat-accept`);
  await desk.getByRole('button', { name: 'Accept', exact: true }).click();
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active]`);
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('Thank you! 谢谢！'));
  const thread = await desk.locator('#chat-log .msg').evaluateAll((ms) => ms.map((m) => m.className.replace('msg ', '')));
  assert.deepEqual(thread, ['customer', 'system', 'agent', 'customer'], 'the whole thread, the acknowledgement too');
  assert.match(await desk.textContent('#email-ref'), new RegExp(reference));

  // Close case: it ends for good.
  await desk.getByRole('button', { name: 'Close case' }).click();
  await desk.waitForSelector('#chat-body[data-phase=ended] #chat-wrap');
  assert.match(await desk.textContent('#chat-ended'), /Conversation ended/);
  await wrapUp(desk, 'resolved');
  const sup = (await api('POST', '/login', null, { user: 'supervisor', password: 'supervisor' })).body.token;
  const pop = await api('GET', `/interactions/${id}/screen-pop`, sup);
  assert.equal(pop.status, 200);
  assert.equal(pop.body.interaction.channel, 'email');
  assert.ok(pop.body.interaction.ended, `the case is closed: ${JSON.stringify(pop.body.interaction)}`);
  await desk.context().close();
});

test('an e-mail offered again while its tab is still open is wrapped up again', async (t) => {
  if (mail.skip) { t.skip(mail.skip); return; }
  const desk = await openDesk();
  await deliver([
    'From: Li Wei <customer@example.test>',
    'To: Bank Service <service@bank.test>',
    'Subject: Card limit',
    'Message-ID: <q3@example.test>',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Can my card limit be raised?',
    '',
  ].join('\r\n'));
  // (The desk may still list the last test's conversation, ended: the agent picks the new.)
  const tab = desk.locator('#chat-tabs .chat-tab.phase-offered');
  await tab.waitFor();
  const id = await tab.getAttribute('data-conversation');
  await tab.click();
  await desk.click(`#chat-body[data-conversation="${id}"] #chat-accept`);
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active] #chat-text`);
  const reference = (await desk.textContent('#email-ref')).match(/HL-\d+/)[0];
  await desk.fill('#chat-text', 'Please send us your latest payslip.');
  await desk.press('#chat-text', 'Control+Enter');
  await desk.waitForSelector('#chat-log .msg.agent[data-status=sent]');
  await desk.getByRole('button', { name: 'Answered: await the customer' }).click();
  await desk.waitForSelector('#chat-body[data-phase=ended] #chat-wrap');
  await wrapUp(desk, 'callback');

  // The tab is left open. The customer answers (the reference in the subject, from their
  // own address): the same conversation is offered again in it, and its end asks for a
  // wrap-up of its own, not the last one's.
  await deliver([
    'From: Li Wei <customer@example.test>',
    'To: Bank Service <service@bank.test>',
    `Subject: Re: Card limit [#${reference}]`,
    'Message-ID: <q4@example.test>',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Here it is.',
    '',
  ].join('\r\n'));
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=offered] #chat-accept`);
  await desk.click('#chat-accept');
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active]`);
  await desk.getByRole('button', { name: 'Close case' }).click();
  await desk.waitForSelector('#chat-body[data-phase=ended] #chat-wrap');
  assert.match(await desk.textContent('#chat-ended'), /Conversation ended/);
  await wrapUp(desk, 'resolved');
  await desk.context().close();
});
