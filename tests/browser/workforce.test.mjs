// The workforce page and the wallboard's adherence panel in a real browser (Debian's
// chromium, headless, driven by playwright-core) against the real `hotline demo`:
//
// - a supervisor imports eight weeks of history (every queue of the demo, a day curve)
//   with the page's file input and sees the summary; adds a holiday; plans next week: a
//   forecast chart per queue with its backtest WAPE, required against working agents with
//   the shortfall marked, the demo's ten agents in the grid with shifts, breaks and lunch;
//   publishes and downloads the schedule as CSV, one row per segment;
// - a schedule for today puts agent 1001 at work since half an hour ago: logged out, 1001
//   is out of adherence since the segment's start on the wallboard and on the page; made
//   available, 1001 is no longer flagged;
// - an agent sees only their own schedule.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/workforce.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { children, launchChromium, pagesFromDisk, repo, startDemo } from './procs.mjs';

const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');
const DAY = 86_400_000;

let work; let hotline; let http; let browser; let token;
const pageErrors = [];

async function call(method, path, body, tk = token) {
  const res = await fetch(`http://${http}/api/v1${path}`, {
    method,
    headers: { ...(tk ? { Authorization: `Bearer ${tk}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-workforce-'));
  ({ hotline, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
  ({ token } = await call('POST', '/login', { user: 'supervisor', password: 'supervisor' }, null));
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

const ymd = (ms) => new Date(ms).toISOString().slice(0, 10);
// The Monday (UTC: the demo centre's time zone) of the week `ms` falls in.
const mondayOf = (ms) => { const d = Math.floor(ms / DAY) * DAY; return d - ((new Date(d).getUTCDay() + 6) % 7) * DAY; };
const nextMonday = mondayOf(Date.now()) + 7 * DAY;

// Eight weeks before next Monday, 08:00 to 20:00, a curve peaking at 14:00, quieter at weekends.
function historyCsv(queues) {
  const lines = ['interval_start,queue,channel,offered'];
  for (let day = nextMonday - 56 * DAY; day < nextMonday; day += DAY) {
    const f = [0.4, 1.2, 1.0, 1.0, 1.0, 1.1, 0.6][new Date(day).getUTCDay()];
    for (let i = 32; i < 80; i++) {
      const at = new Date(day + i * 900_000).toISOString();
      for (const [n, q] of queues.entries()) {
        const v = Math.round(f * (20 * Math.sin((Math.PI * (i - 32)) / 48) + 3) / (n + 1) + ((i * 7 + day / DAY) % 3));
        lines.push(`${at.slice(0, 10)} ${at.slice(11, 16)},${q.name},${q.channel},${v}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

test('a supervisor imports history, plans next week, publishes it and downloads it', async () => {
  const queues = await call('GET', '/queues');
  assert.ok(queues.length > 0);
  const page = await newPage();
  await loginPage(page, '/workforce', 'supervisor', 'supervisor');
  await page.waitForSelector('#page:not([hidden])');
  assert.equal(await page.inputValue('#plan [name=week]').then((v) => new Date(`${v}T12:00:00`).getDay()), 1, 'the week defaults to a Monday');

  // A bad file is refused, naming its line.
  await page.setInputFiles('#history [name=file]', { name: 'bad.csv', mimeType: 'text/csv',
    buffer: Buffer.from('interval_start,queue,channel,offered\n2026-11-02 08:00,accounts,voice,x\n') });
  await page.click('#history button[type=submit]');
  await page.waitForFunction(() => /line 2/.test(document.querySelector('#history-error').textContent));

  // Without history there is no plan, and the page says what to do.
  await page.fill('#plan [name=week]', ymd(nextMonday));
  await page.click('#plan button[type=submit]');
  await page.waitForFunction(() => /import history/.test(document.querySelector('#plan-error').textContent));

  await page.setInputFiles('#history [name=file]', { name: 'history.csv', mimeType: 'text/csv', buffer: Buffer.from(historyCsv(queues)) });
  await page.click('#history button[type=submit]');
  await page.waitForFunction((n) => document.querySelectorAll('#history-result .series li').length === n, queues.length);
  assert.equal(await page.textContent('#history-error'), '');
  assert.match(await page.textContent('#history-result'), /^已导入 \d+ 行/);

  // A holiday, saved on the server.
  const holiday = ymd(nextMonday + 2 * DAY);
  await page.fill('#holiday-add [name=date]', holiday);
  await page.fill('#holiday-add [name=label]', 'test holiday');
  await page.click('#holiday-add button[type=submit]');
  await page.waitForSelector(`#holidays li[data-date="${holiday}"]`);
  assert.deepEqual((await call('GET', '/workforce/special-days')).days, [{ date: holiday, label: 'test holiday' }]);

  // The plan.
  await page.fill('#plan [name=week]', ymd(nextMonday));
  await page.fill('#plan [name=absence]', '10');
  await page.click('#plan button[type=submit]');
  await page.waitForSelector('#plan-out:not([hidden])', { timeout: 60000 });
  assert.equal(await page.textContent('#plan-error'), '');

  const charts = await page.$$eval('#forecasts .forecast', (fs) => fs.map((f) => ({
    queue: f.dataset.queue,
    points: f.querySelector('polyline.volume').getAttribute('points').trim().split(/\s+/).length,
    days: f.querySelectorAll('.daytotals > span').length,
    wape: f.querySelector('.wape').textContent,
  })));
  assert.deepEqual(charts.map((c) => c.queue).sort(), queues.map((q) => q.name).sort());
  for (const c of charts) {
    assert.equal(c.points, 672, `${c.queue}: one point per 15 minutes`);
    assert.equal(c.days, 7);
    assert.match(c.wape, /WAPE \d+\.\d%/, `${c.queue}: the backtest's error is shown`);
  }

  const req = await page.$eval('#req-chart svg', (s) => ({
    required: s.querySelector('polyline.required').getAttribute('points').trim().split(/\s+/).length,
    working: s.querySelectorAll('rect.work').length,
    short: s.querySelectorAll('rect.short').length,
  }));
  assert.equal(req.required, 672);
  assert.equal(req.working, 672);
  assert.equal(String(req.short), await page.textContent('#totals [data-k=short_intervals]'));
  assert.ok(Number(await page.textContent('#totals [data-k=shifts]')) > 0);

  const grid = await page.$$eval('#grid tbody tr', (rows) => rows.map((r) => ({
    agent: r.dataset.agent,
    work: r.querySelectorAll('rect[data-activity=work]').length,
    breaks: r.querySelectorAll('rect[data-activity=break]').length,
    lunch: r.querySelectorAll('rect[data-activity=lunch]').length,
  })));
  assert.deepEqual(grid.map((g) => g.agent), Array.from({ length: 10 }, (_, i) => String(1001 + i)));
  for (const g of grid) {
    assert.ok(g.work > 0 && g.breaks > 0 && g.lunch > 0, `agent ${g.agent} has shifts with breaks and lunch: ${JSON.stringify(g)}`);
  }
  await page.screenshot({ path: join(repo, 'docs/screenshots/workforce.png'), fullPage: true });

  // Publish, then download what was published.
  assert.equal(await page.isVisible('#btn-csv'), false);
  await page.click('#btn-publish');
  await page.waitForFunction(() => /^已发布：10 名坐席，\d+ 段/.test(document.querySelector('#publish-result').textContent));
  const segments = Number((await page.textContent('#publish-result')).match(/(\d+) 段/)[1]);
  const to = new Date(nextMonday + 7 * DAY).toISOString();
  const published = await call('GET', `/workforce/schedule?from=${new Date(nextMonday).toISOString()}&to=${to}`);
  assert.equal(published.segments.length, segments);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-csv')]);
  const file = join(work, 'schedule.csv');
  await download.saveAs(file);
  const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  assert.equal(lines[0], 'agent,start,end,activity');
  assert.equal(lines.length - 1, segments);

  // In English, the plan is drawn again in English.
  await page.selectOption('#lang', 'en');
  assert.equal(await page.textContent('#plan-h'), 'Plan a week');
  assert.match(await page.textContent('#forecasts .forecast .wape'), /^Backtest WAPE \d+\.\d%/);
  assert.equal(await page.locator('#grid tbody tr').count(), 10);
  assert.deepEqual(pageErrors, []);
});

test('an agent out of adherence is flagged on the wallboard and the page until made available', async () => {
  // A whole minute half an hour ago, to three hours from now: agent 1001 at work.
  const start = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const week = ymd(mondayOf(start));
  await call('PUT', `/workforce/schedule/${week}`, {
    agents: { 1001: [{ start: iso(start), end: iso(start + 210 * 60_000), activity: 'work' }] },
  });

  const board = await newPage();
  await loginPage(board, '/wallboard', 'supervisor', 'supervisor');
  const flagged = `#adh-panel:not([hidden]) #adh-out li[data-agent="1001"][data-since="${iso(start)}"]`;
  await board.waitForSelector(flagged, { timeout: 20000 });
  assert.match(await board.textContent('#adh-out li[data-agent="1001"]'), /计划工作，实际已登出，已 3\d 分钟/);
  assert.match(await board.textContent('#adh-centre'), /今日遵从率 \d+%/);

  const page = await newPage();
  await loginPage(page, '/workforce', 'supervisor', 'supervisor');
  const row = '#adherence tr[data-agent="1001"]';
  await page.waitForSelector(`${row}[data-out=yes] .out[data-since="${iso(start)}"]`, { timeout: 20000 });
  assert.equal(await page.textContent(`${row} .planned`), '工作');
  assert.equal(await page.textContent(`${row} .actual`), '已登出');

  await call('POST', '/agents/1001/state', { state: 'available' });
  await board.waitForSelector(flagged, { state: 'detached', timeout: 20000 });
  await page.waitForSelector(`${row}[data-out=no]`, { timeout: 20000 });
  assert.equal(await page.textContent(`${row} .actual`), '就绪');
  assert.deepEqual(pageErrors, []);
});

test('an agent sees only their own schedule', async () => {
  const page = await newPage();
  await loginPage(page, '/workforce', 'agent1001', 'pass1001');
  await page.waitForSelector('#mine:not([hidden]) #mine-next tbody tr');
  assert.equal(await page.isVisible('#page'), false);
  for (const box of ['#mine-this', '#mine-next']) {
    assert.deepEqual(await page.$$eval(`${box} tbody tr`, (rs) => rs.map((r) => r.dataset.agent)), ['1001'], box);
  }
  // Next week as published by the supervisor above; this week the adherence test's segment.
  assert.ok(await page.locator('#mine-next rect[data-activity=work]').count() > 0);
  assert.equal(await page.locator('#mine-this rect[data-activity=work]').count(), 1);
  assert.deepEqual(pageErrors, []);
});
