// A web chat outlives a crash of the centre, in a real browser (Debian's chromium, headless,
// driven by playwright-core) against the real `hotline demo`:
//
// - a customer on /chat and an agent on /agent are in a chat and have each written once;
// - hotline is killed (SIGKILL) and started again on the same data and the same HTTP port;
// - the customer's page, never reloaded, says it is reconnecting, comes back by itself with
//   the earlier messages and a note that the service was restarted, and is back in line;
// - the agent's desk comes back by itself, is offered the same conversation, accepts it,
//   and the talk goes on.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/chat-restart.test.mjs
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
  work = mkdtempSync(join(tmpdir(), 'hotline-chat-restart-'));
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
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB', ...opts });
  await pagesFromDisk(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

// The widget's parts live in its shadow root.
const widget = (sel) => `document.querySelector('#hotline-chat').shadowRoot.querySelector(${JSON.stringify(sel)})`;

test('a web chat outlives a crash of the centre, on both pages', async () => {
  // The agent is there and available.
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

  // The customer starts a chat; the agent accepts it; each writes once.
  const cust = await newPage();
  await cust.goto(`http://${http}/chat`);
  await cust.getByRole('button', { name: 'Chat with us' }).click();
  await cust.fill('#hotline-chat input[name=name]', 'Wang Fang');
  await cust.click('#hotline-chat .start button[type=submit]');
  await cust.waitForSelector('#hotline-chat .compose:not([hidden])');
  await cust.fill('#hotline-chat .compose textarea', 'Is my transfer through?');
  await cust.press('#hotline-chat .compose textarea', 'Enter');
  await cust.waitForSelector('#hotline-chat .msg.customer[data-state=sent]');
  await desk.waitForSelector('#chat-accept');
  const id = await desk.getAttribute('#chat-body', 'data-conversation');
  await desk.click('#chat-accept');
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active] #chat-text`);
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('Is my transfer through?'));
  await desk.fill('#chat-text', 'Let me check that for you.');
  await desk.press('#chat-text', 'Enter');
  await cust.waitForSelector('#hotline-chat .msg.agent');
  await cust.waitForSelector('#hotline-chat .panel[data-phase=active]');

  // The centre dies. Both pages say they are reconnecting.
  hotline.kill('SIGKILL');
  const died = await hotline.done;
  assert.equal(died.signal, 'SIGKILL');
  await cust.waitForFunction(`${widget('.status')}.classList.contains('offline')`);
  assert.match(await cust.textContent('#hotline-chat .status'), /reconnecting/);
  await desk.waitForSelector('#conn[data-state=offline]');
  assert.match(await desk.textContent('#conn'), /Reconnecting/);

  // It starts again on the same data and the same port. The customer's page comes back by
  // itself: the earlier messages (each once), the note of the restart, back in line.
  ({ hotline } = await startDemo(bin, join(work, 'data'), { http }));
  await cust.waitForSelector('#hotline-chat .msg.system');
  await cust.waitForSelector('#hotline-chat .panel[data-phase=queued]');
  await cust.waitForFunction(`!${widget('.status')}.classList.contains('offline')`);
  assert.match(await cust.textContent('#hotline-chat .msg.system'), /restarted/);
  const log = await cust.locator('#hotline-chat .msg').evaluateAll((ms) => ms.map((m) => [m.className, m.firstChild.textContent]));
  assert.deepEqual(log.slice(0, 2), [
    ['msg customer', 'Is my transfer through?'],
    ['msg agent', 'Let me check that for you.'],
  ]);
  assert.equal(log.length, 3, `nothing twice: ${JSON.stringify(log)}`);

  // The desk reconnects by itself (its login outlives the restart) and is offered the same
  // conversation, with what was said before.
  await desk.waitForSelector('#conn[data-state=online]');
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=offered] #chat-accept`);
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('Let me check that for you.'));
  assert.match(await desk.textContent('#chat-log .msg.system'), /restarted/);
  assert.match(await desk.textContent('#chat-tabs'), /Wang Fang/);
  await desk.click('#chat-accept');
  await desk.waitForSelector(`#chat-body[data-conversation="${id}"][data-phase=active] #chat-text`);
  await cust.waitForSelector('#hotline-chat .panel[data-phase=active]');
  await desk.fill('#chat-text', 'Your transfer went through this morning.');
  await desk.press('#chat-text', 'Enter');
  await cust.waitForFunction(() => [...document.querySelector('#hotline-chat').shadowRoot.querySelectorAll('.msg.agent')]
    .some((m) => m.textContent.includes('Your transfer went through this morning.')));

  // And the customer's answer reaches the desk.
  await cust.fill('#hotline-chat .compose textarea', 'Thank you');
  await cust.press('#hotline-chat .compose textarea', 'Enter');
  await desk.waitForFunction(() => document.querySelector('#chat-log').textContent.includes('Thank you'));
  await cust.context().close();
  await desk.context().close();
});
