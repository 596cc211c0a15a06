// The supervisors' campaigns page in a real browser (Debian's chromium, headless, driven by
// playwright-core) against the real `hotline demo`:
//
// - a supervisor creates an agentless survey campaign with the form, imports a list with a
//   file whose one bad line is reported by its number, the progress bar full;
// - started, the campaign's dials show up live, without a reload (the demo has no
//   outbound trunk, so each call fails at once and is counted as dialled and failed);
// - paused from the page; its results download as CSV;
// - an agent is turned away to the desktop.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/campaigns.test.mjs
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
  work = mkdtempSync(join(tmpdir(), 'hotline-campaigns-'));
  ({ hotline, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
});

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN', acceptDownloads: true });
  await pagesFromDisk(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function loginPage(page, path, user, password) {
  await page.goto(`http://${http}${path}`);
  await page.waitForSelector('#login:not([hidden]) [name=user]');
  await page.fill('[name=user]', user);
  await page.fill('[name=password]', password);
  await page.press('[name=password]', 'Enter');
}

test('a supervisor creates, fills, starts, watches and pauses a campaign', async () => {
  const page = await newPage();
  await loginPage(page, '/campaigns', 'supervisor', 'supervisor');
  await page.waitForSelector('#page:not([hidden])');
  assert.equal(await page.isVisible('#empty'), true, 'no campaign yet');

  // Create: agentless, the demo's survey flow.
  await page.fill('#create [name=name]', '投诉回访 complaint survey');
  await page.selectOption('#create [name=mode]', 'agentless');
  await page.fill('#create [name=caller_id]', '+862195588000');
  await page.fill('#create [name=hours]', '00:00-24:00');
  await page.click('#create button[type=submit]');
  const row = '#campaigns tr[data-campaign=c1]';
  await page.waitForSelector(`${row}[data-state=draft]`);
  assert.equal(await page.textContent(`${row} .state`), '草稿');

  // A bad caller id is refused on the form, naming the field.
  await page.fill('#create [name=name]', 'bad');
  await page.fill('#create [name=caller_id]', '95588');
  await page.click('#create button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#create .error').textContent.includes('caller_id'));

  // Import: two good lines and a bad one (line 3).
  await page.selectOption('#import [name=campaign]', 'c1');
  await page.setInputFiles('#import [name=file]', {
    name: 'list.csv', mimeType: 'text/csv',
    buffer: Buffer.from('phone,name\n+8613800138001,张三\n12345,坏号码\n+44 20 7946 0002,Ann\n'),
  });
  await page.click('#import button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#import-result').textContent.includes('已导入 2'));
  assert.equal(await page.getAttribute('#import-progress', 'value'), '100');
  const errors = await page.$$eval('#import-errors li', (lis) => lis.map((li) => li.textContent));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^第 3 行：/);
  await page.waitForFunction((r) => document.querySelector(`${r} .done`)?.textContent.trim() === '0/2', row);

  // Contacts from past interactions: the demo has none yet, and says so.
  const today = new Date().toISOString().slice(0, 10);
  await page.fill('#from [name=since]', today);
  await page.fill('#from [name=until]', today);
  await page.selectOption('#from [name=which]', 'callback');
  await page.click('#from button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#from-result').textContent.includes('已导入 0'));

  // Start: the dials arrive live (each fails at once: the demo calls out through no trunk).
  await page.click(`${row} button[data-action=start]`);
  await page.waitForSelector(`${row}[data-state=running]`);
  await page.waitForFunction((r) => document.querySelector(`${r} .dials`)?.textContent === '2', row, { timeout: 20000 });

  // Pause, from the page.
  await page.click(`${row} button[data-action=pause]`);
  await page.waitForSelector(`${row}[data-state=paused]`);
  assert.equal(await page.textContent(`${row} .state`), '已暂停');
  assert.equal(await page.isVisible(`${row} button[data-action=resume]`), true);

  // The results, as a file.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${row} [data-csv]`)]);
  const file = join(work, 'results.csv');
  await download.saveAs(file);
  const { readFileSync } = await import('node:fs');
  const csv = readFileSync(file, 'utf8');
  assert.match(csv, /^contact,phone,name,attempts,result,outcomes,interactions/);
  assert.match(csv, /\+8613800138001,张三,1,,failed/);
  assert.match(csv, /\+442079460002,Ann,1,,failed/);
  assert.deepEqual(pageErrors, []);
});

test('an agent is turned away to the desktop', async () => {
  const page = await newPage();
  await loginPage(page, '/campaigns', 'agent1001', 'pass1001');
  await page.waitForURL(`http://${http}/agent`);
});
