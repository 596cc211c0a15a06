// Administration of flows, agents' states, trunks and rules from the /admin page in a real
// browser (Debian's chromium, headless, driven by playwright-core) against `hotline demo`:
//
// - an administrator opens the demo's `main` flow in the editor, sends option 2's callers to
//   the general queue instead of cards, saves, and the diagram is drawn again with the new
//   queue, saying that calls already in the flow keep the old version; an edit naming a
//   queue that does not exist is refused, naming the field, and changes nothing; a flow a
//   number runs cannot be removed, and the page says why; a new flow is added and removed;
// - a supervisor puts an available agent not ready from the skills grid, with the keyboard,
//   and the wallboard's "agents available" of that agent's queue drops;
// - an administrator changes the wellbeing rules on the page, and after a reload of the page
//   the saved value is shown; an unknown key is refused at the field; a trunk's sources are
//   changed the same way.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/admin-edit.test.mjs
// (HOTLINE_WEB_DIR=web serves the pages from disk, see procs.mjs.)
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

async function apiAs(token, method, path, body) {
  const res = await fetch(`http://${http}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

async function loginApi(user, password) {
  const res = await fetch(`http://${http}/api/v1/login`, { method: 'POST', body: JSON.stringify({ user, password }) });
  assert.equal(res.status, 200, `login ${user}`);
  return (await res.json()).token;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-admin-edit-'));
  ({ hotline, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
});

async function newPage(locale = 'zh-CN') {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale });
  await pagesFromDisk(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  return page;
}

async function loginPage(page, path, user, password) {
  await page.goto(`http://${http}${path}`);
  await page.waitForSelector('#login:not([hidden]) [name=user]');
  await page.fill('[name=user]', user);
  await page.fill('[name=password]', password);
  await page.press('[name=password]', 'Enter');
}

const available = (q) => `.queue[data-queue=${q}] [data-f=available] .v`;
const editor = '#flow-editor form.item-editor';

test('an administrator edits the main flow on the page and the diagram follows', async () => {
  const admin = await loginApi('admin', 'admin');
  const page = await newPage();
  await loginPage(page, '/admin#flow=main', 'admin', 'admin');
  await page.waitForSelector('#flow-diagram svg[data-flow=main] .node[data-id=cards]');
  assert.match(await page.textContent('#flow-diagram .node[data-id=cards] .detail'), /cards$/);

  // The editor holds the flow's definition as GET /config has it.
  await page.click('#flow-edit');
  await page.waitForSelector(`${editor} textarea`);
  const text = await page.inputValue(`${editor} textarea`);
  const before = (await apiAs(admin, 'GET', '/config')).json().flows.main;
  assert.deepEqual(JSON.parse(text), before);

  // A step sent to a queue that does not exist: refused, the field named, nothing changed.
  const bad = JSON.parse(text);
  bad.steps.cards.queue = 'no-such-queue';
  await page.fill(`${editor} textarea`, JSON.stringify(bad, null, 2));
  await page.click(`${editor} button[type=submit]`);
  await page.waitForSelector(`${editor} textarea[aria-invalid=true]`);
  assert.equal(await page.getAttribute(`${editor} .form-error`, 'data-field'), 'steps.cards.queue');
  assert.match(await page.textContent(`${editor} .form-error`), /steps\.cards\.queue.*no-such-queue/);
  // The field is selected in the text.
  const picked = await page.$eval(`${editor} textarea`, (a) => a.value.slice(a.selectionStart, a.selectionEnd));
  assert.equal(picked, '"queue"');
  await page.screenshot({ path: join(repo, 'docs/screenshots/admin-flow-edit.png') });
  assert.deepEqual((await apiAs(admin, 'GET', '/config')).json().flows.main, before);
  assert.match(await page.textContent('#flow-diagram .node[data-id=cards] .detail'), /cards$/);

  // Option 2's callers to the general queue: saved, and the diagram is drawn again.
  const good = JSON.parse(text);
  good.steps.cards.queue = 'general';
  await page.fill(`${editor} textarea`, JSON.stringify(good, null, 2));
  await page.click(`${editor} button[type=submit]`);
  await page.waitForFunction(() => /general$/.test(document.querySelector('#flow-diagram .node[data-id=cards] .detail')?.textContent || ''));
  assert.equal(await page.getAttribute(`${editor} textarea`, 'aria-invalid'), null);
  assert.equal(await page.textContent(`${editor} .form-error`), '');
  assert.match(await page.textContent(`${editor} .item-status`), /已在此流程中的来电继续按原来的版本/);
  assert.equal((await apiAs(admin, 'GET', '/config')).json().flows.main.steps.cards.queue, 'general');
  const flows = (await apiAs(admin, 'GET', '/flows')).json().flows;
  assert.equal(flows.find((f) => f.name === 'main').nodes.find((n) => n.id === 'cards').detail.queue, 'general');

  // main is run by the service numbers: removing it is refused and explained.
  await page.click(`${editor} [data-act=remove]`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.code === 'in_use', `${editor} .form-error`);
  assert.match(await page.textContent(`${editor} .form-error`), /仍在使用中.*main/);
  assert.ok((await apiAs(admin, 'GET', '/config')).json().flows.main);

  // Escape closes the editor; a new flow is added, drawn, then removed.
  await page.press(`${editor} textarea`, 'Escape');
  await page.waitForSelector('#flow-editor[hidden]', { state: 'attached' });
  await page.click('#flow-new');
  await page.waitForSelector(`${editor} [name=name]`);
  await page.fill(`${editor} [name=name]`, 'notice');
  await page.click(`${editor} button[type=submit]`);
  await page.waitForSelector('#flow-list [data-flow=notice][aria-selected=true]');
  await page.waitForSelector('#flow-diagram svg[data-flow=notice] .node[data-id=welcome][data-start=yes]');
  assert.ok((await apiAs(admin, 'GET', '/config')).json().flows.notice);
  await page.click(`${editor} [data-act=remove]`);
  await page.waitForFunction(() => !document.querySelector('#flow-list [data-flow=notice]'));
  assert.equal((await apiAs(admin, 'GET', '/config')).json().flows.notice, undefined);

  // Put main back for the other tests.
  assert.equal((await apiAs(admin, 'PUT', '/config/flows/main', before)).status, 200);
  assert.deepEqual(pageErrors, []);
  await page.context().close();
});

test('a supervisor puts an agent not ready from the grid and the wallboard follows', async () => {
  const agent = await loginApi('agent1003', 'pass1003');
  assert.equal((await apiAs(agent, 'POST', '/agents/1003/state', { state: 'available' })).status, 200);
  const board = await newPage();
  await loginPage(board, '/wallboard', 'supervisor', 'supervisor');
  await board.waitForFunction((sel) => document.querySelector(sel)?.textContent === '1', available('cards'), { timeout: 30_000, polling: 250 });

  const page = await newPage();
  await loginPage(page, '/admin#skills', 'supervisor', 'supervisor');
  const sel = '#skills-grid tr[data-ext="1003"] select.state-set';
  await page.waitForSelector('#skills-grid tr[data-ext="1003"] th .badge[data-state=available]');
  assert.match(await page.getAttribute(sel, 'aria-label'), /1003/);
  // Keyboard: focus the state list, walk to "not ready · training" with the arrow keys
  // (walking sets nothing), Enter sets it.
  await page.focus(sel);
  const options = await page.$$eval(`${sel} option`, (os) => os.map((o) => o.value));
  const steps = options.indexOf('not_ready:training');
  assert.ok(steps > 0, options.join(' '));
  for (let i = 0; i < steps; i += 1) await page.keyboard.press('ArrowDown');
  assert.equal(await page.inputValue(sel), 'not_ready:training');
  const sup0 = await loginApi('supervisor', 'supervisor');
  assert.equal((await apiAs(sup0, 'GET', '/agents')).json().find((a) => a.extension === '1003').state.state, 'available');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#skills-grid tr[data-ext="1003"] th .badge[data-state=not_ready]');
  assert.equal(await page.textContent('#skills-grid tr[data-ext="1003"] th .badge'), '未就绪');
  await board.waitForFunction((s) => document.querySelector(s)?.textContent === '0', available('cards'), { timeout: 30_000, polling: 250 });
  const sup = await loginApi('supervisor', 'supervisor');
  const st = (await apiAs(sup, 'GET', '/agents')).json().find((a) => a.extension === '1003').state;
  assert.equal(st.state, 'not_ready', JSON.stringify(st));
  assert.equal(st.reason, 'training', JSON.stringify(st));

  // The list went back to "set state…" and kept the focus.
  assert.equal(await page.inputValue(sel), '');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.ext), '1003');
  // And back to available with the mouse: the count rises again.
  await page.selectOption(sel, 'available');
  await page.click('#skills-grid tr[data-ext="1003"] button.state-go');
  await page.waitForSelector('#skills-grid tr[data-ext="1003"] th .badge[data-state=available]');
  await board.waitForFunction((s) => document.querySelector(s)?.textContent === '1', available('cards'), { timeout: 30_000, polling: 250 });
  await page.selectOption(sel, 'logged_out');
  await page.click('#skills-grid tr[data-ext="1003"] button.state-go');
  await page.waitForSelector('#skills-grid tr[data-ext="1003"] th .badge[data-state=logged_out]');
  assert.deepEqual(pageErrors, []);
  await page.context().close();
  await board.context().close();
});

test('an administrator changes the wellbeing rules on the page; they are there after a reload', async () => {
  const admin = await loginApi('admin', 'admin');
  const page = await newPage();
  await loginPage(page, '/admin#settings', 'admin', 'admin');
  const form = '#cfg-wellbeing form.item-editor';
  await page.waitForSelector(`#view-settings:not([hidden]) ${form} textarea`);
  await page.waitForSelector('#cfg-trunks form.item-editor[data-key=carrier]');
  assert.deepEqual(JSON.parse(await page.inputValue('#cfg-trunks form[data-key=carrier] textarea')).sources, ['127.0.0.1/32']);

  // An unknown key: refused at the field, nothing saved.
  await page.fill(`${form} textarea`, '{"max_difficult_in_row": 3, "max_consecutive": 2}');
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector(`${form} textarea[aria-invalid=true]`);
  assert.equal(await page.getAttribute(`${form} .form-error`, 'data-field'), 'max_consecutive');
  assert.match(await page.textContent(`${form} .form-error`), /max_consecutive/);
  assert.deepEqual((await apiAs(admin, 'GET', '/config')).json().wellbeing, {});

  await page.fill(`${form} textarea`, '{"max_difficult_in_row": 3}');
  await page.click(`${form} button[type=submit]`);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent !== '', `${form} .item-status`);
  assert.equal(await page.textContent(`${form} .form-error`), '');
  assert.equal((await apiAs(admin, 'GET', '/config')).json().wellbeing.max_difficult_in_row, 3);

  await page.reload();
  await page.waitForSelector(`#view-settings:not([hidden]) ${form} textarea`);
  await page.waitForFunction((s) => /"max_difficult_in_row": 3/.test(document.querySelector(s)?.value || ''), `${form} textarea`);
  assert.equal(await page.textContent(`${form} h3`), '坐席关怀规则（[wellbeing]）');
  await page.selectOption('#lang', 'en');
  assert.equal(await page.textContent(`${form} h3`), 'Wellbeing rules ([wellbeing])');
  assert.equal(await page.textContent('.admin-nav [data-view=settings]'), 'Trunks & rules');
  await page.selectOption('#lang', 'zh');

  // A trunk: a source that is no network is refused at the field; a good one is saved.
  const trunk = '#cfg-trunks form[data-key=carrier]';
  await page.fill(`${trunk} textarea`, JSON.stringify({ name: 'carrier', sources: ['127.0.0.1/32', 'not-a-network'] }));
  await page.click(`${trunk} button[type=submit]`);
  await page.waitForSelector(`${trunk} textarea[aria-invalid=true]`);
  assert.match(await page.getAttribute(`${trunk} .form-error`, 'data-field'), /^sources/);
  assert.deepEqual((await apiAs(admin, 'GET', '/config')).json().trunks.find((t) => t.name === 'carrier').sources, ['127.0.0.1/32']);
  await page.fill(`${trunk} textarea`, JSON.stringify({ name: 'carrier', sources: ['127.0.0.1/32', '10.9.0.0/16'] }));
  await page.click(`${trunk} button[type=submit]`);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent !== '', `${trunk} .item-status`);
  assert.deepEqual((await apiAs(admin, 'GET', '/config')).json().trunks.find((t) => t.name === 'carrier').sources,
    ['127.0.0.1/32', '10.9.0.0/16']);

  // A supervisor has no such view.
  const sup = await newPage();
  await loginPage(sup, '/admin#settings', 'supervisor', 'supervisor');
  await sup.waitForSelector('#view-flows:not([hidden])');
  assert.equal(await sup.locator('#view-settings').count(), 0);
  assert.equal(await sup.locator('#flow-edit').count(), 0);
  assert.deepEqual(pageErrors, []);
  await page.context().close();
  await sup.context().close();
});
