// The administration page in a real browser (Debian's chromium, headless, driven by
// playwright-core) against the real `hotline demo`: a supervisor logs in, opens /admin and
// sees the flow `main` listed with its number 95588 and drawn as an SVG diagram with one
// box per step and the menu's keys 1, 2, 9 and 0 as labelled arrows; the boxes can be
// reached with the keyboard, and an agent is turned away. A screenshot goes to
// docs/screenshots/.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/admin.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { launchChromium, pagesFromDisk, startDemo } from './procs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');
const shots = join(repo, 'docs/screenshots');

let work; let hotline; let http; let browser;
const pageErrors = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-admin-'));
  ({ hotline, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (hotline && hotline.exitCode === null) {
    hotline.kill('SIGTERM');
    await hotline.done;
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

async function newPage(locale = 'zh-CN') {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale });
  await pagesFromDisk(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function loginAt(page, path, user, password) {
  await page.goto(`http://${http}${path}`);
  await page.waitForSelector('#login:not([hidden]) [name=user]');
  await page.fill('[name=user]', user);
  await page.fill('[name=password]', password);
  await page.press('[name=password]', 'Enter');
}

test('a supervisor sees the main flow drawn, with its number and the menu keys', async () => {
  // What the API says the flow is: the page must draw exactly that.
  const token = (await (await fetch(`http://${http}/api/v1/login`, {
    method: 'POST', body: JSON.stringify({ user: 'supervisor', password: 'supervisor' }),
  })).json()).token;
  const api = await (await fetch(`http://${http}/api/v1/flows`, {
    headers: { Authorization: `Bearer ${token}` },
  })).json();
  const main = api.flows.find((f) => f.name === 'main');
  assert.ok(main, 'the API lists main');

  const page = await newPage();
  await loginAt(page, '/admin', 'supervisor', 'supervisor');
  await page.waitForSelector('#flow-diagram svg[data-flow=main]');

  // The list: main with the number 95588, and every other flow.
  const listed = await page.$$eval('#flow-list li', (lis) => lis.map((li) => ({
    flow: li.dataset.flow, numbers: li.querySelector('.nums').textContent,
    selected: li.getAttribute('aria-selected'),
  })));
  assert.deepEqual(listed.map((l) => l.flow).sort(), ['abusive_end', 'main', 'outbound_survey', 'survey', 'voicemail']);
  const mainItem = listed.find((l) => l.flow === 'main');
  assert.equal(mainItem.numbers, '95588');
  assert.equal(mainItem.selected, 'true');
  assert.match(await page.textContent('#flow-numbers'), /95588/);

  // The diagram: a title, one focusable box per step, the menu's keys as labelled arrows.
  const title = await page.textContent('#flow-diagram svg > title');
  assert.match(title, /main/);
  const boxes = await page.$$eval('#flow-diagram .node', (ns) => ns.map((n) => ({
    id: n.dataset.id, type: n.dataset.type, tab: n.getAttribute('tabindex'),
    w: n.getBBox().width, label: n.getAttribute('aria-label'),
  })));
  assert.equal(boxes.length, main.nodes.length);
  assert.deepEqual(boxes.map((b) => b.id).sort(), main.nodes.map((n) => n.id).sort());
  for (const b of boxes) {
    assert.equal(b.tab, '0', b.id);
    assert.ok(b.w > 50, `${b.id} is drawn`);
  }
  assert.equal(boxes.find((b) => b.id === 'menu').type, 'menu');
  const menuEdges = await page.$$eval('#flow-diagram .edge[data-from=menu][data-kind=key]', (es) => es.map((e) => ({
    to: e.dataset.to, text: e.querySelector('text').textContent,
    len: e.querySelector('path').getTotalLength(),
  })));
  assert.deepEqual(menuEdges.map((e) => `${e.text}→${e.to}`).sort(),
    ['0→general', '1→accounts', '2→cards', '9→complaints']);
  for (const e of menuEdges) assert.ok(e.len > 20, `arrow ${e.text} is drawn`);
  assert.equal(await page.locator('#flow-diagram .edge').count(), main.edges.length);

  // Layers by distance from the start: the start step is on top, the queues below the menu.
  const y = async (id) => page.$eval(`#flow-diagram .node[data-id="${id}"]`, (n) => n.getBoundingClientRect().top);
  assert.ok(await y('lookup') < await y('hours'));
  assert.ok(await y('menu') < await y('cards'));

  // The same graph as text, for screen readers.
  const steps = await page.$$eval('#flow-steps li', (lis) => lis.map((li) => li.textContent));
  assert.equal(steps.length, main.nodes.length);
  assert.ok(steps.some((s) => s.startsWith('menu') && /1 → accounts/.test(s) && /9 → complaints/.test(s)), steps.join('\n'));

  // Keyboard: Tab reaches the boxes; a focused box lights up its arrows.
  await page.focus('#flow-diagram .node[data-id=menu]');
  assert.equal(await page.locator('#flow-diagram .edge.hl[data-from=menu]').count(), 6);
  // Arrow keys in the list choose another flow.
  await page.focus('#flow-list');
  await page.keyboard.press('ArrowDown');
  await page.waitForSelector('#flow-diagram svg[data-flow=outbound_survey]');
  assert.equal(await page.locator('#flow-diagram .node').count(), 3);
  await page.keyboard.press('ArrowUp');
  await page.waitForSelector('#flow-diagram svg[data-flow=main]');
  await page.screenshot({ path: join(shots, 'admin-flows.png'), fullPage: true });

  // English.
  await page.selectOption('#lang', 'en');
  assert.match(await page.textContent('#flow-numbers'), /^Numbers: 95588/);
  assert.equal(await page.textContent('#flow-diagram .node[data-id=menu] .type'), 'Menu');
  assert.deepEqual(pageErrors, []);
  await page.context().close();
});

test('an agent is turned away from the administration page', async () => {
  const page = await newPage();
  await loginAt(page, '/admin', 'agent1001', 'pass1001');
  await page.waitForSelector('#denied:not([hidden])');
  assert.equal(await page.isHidden('#admin'), true);
  assert.equal(await page.locator('#flow-diagram svg').count(), 0);
  assert.deepEqual(pageErrors, []);
  await page.context().close();
});
