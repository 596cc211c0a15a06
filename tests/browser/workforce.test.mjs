// The workforce page and the wallboard's adherence panel in a real browser (Debian's
// chromium, headless, driven by playwright-core) against the real `hotline demo`:
//
// - a supervisor imports eight weeks of history (every queue of the demo, a day curve)
//   with the page's file input and sees the summary; adds a holiday; plans next week: a
//   forecast chart per queue with its backtest WAPE and the agents the queue gets by their
//   skills, required against working agents with the shortfall marked, the demo's ten agents in the grid with shifts, breaks and lunch;
//   publishes and downloads the schedule as CSV, one row per segment; a plan for the cards
//   queue alone leaves out, and names, the agents without the skill;
// - a schedule for today puts agent 1001 at work since half an hour ago: logged out, 1001
//   is out of adherence since the segment's start on the wallboard and on the page; made
//   available, 1001 is no longer flagged;
// - an agent sees only their own schedule, and sets their start-time wishes;
// - an agent asks for a day off with the page's form, a supervisor approves it on the page
//   and the published schedule loses that day; a swap that would break the rest rule is
//   refused on approval, the reason shown in its row, and then denied.
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

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN', acceptDownloads: true, ...opts });
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
    // With several queues: the agents the queue gets (by their skills) against its need.
    cover: f.querySelector('.queue-cover polyline.required')?.getAttribute('points').trim().split(/\s+/).length,
  })));
  assert.deepEqual(charts.map((c) => c.queue).sort(), queues.map((q) => q.name).sort());
  for (const c of charts) {
    assert.equal(c.points, 672, `${c.queue}: one point per 15 minutes`);
    assert.equal(c.days, 7);
    assert.match(c.wape, /WAPE \d+\.\d%/, `${c.queue}: the backtest's error is shown`);
    assert.equal(c.cover, 672, `${c.queue}: its cover is drawn`);
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
  assert.equal(await page.isVisible('#skipped-agents'), false);

  // Cards alone: the agents without the skill are left out, and the page names them.
  await page.fill('#plan [name=queues]', 'cards');
  await page.click('#plan button[type=submit]');
  await page.waitForSelector('#skipped-agents:not([hidden])', { timeout: 60000 });
  assert.equal(await page.textContent('#skipped-agents'),
    'Not planned (their skills take none of the planned queues): 1001, 1005, 1006, 1008');
  assert.deepEqual(await page.$$eval('#grid tbody tr', (rows) => rows.map((r) => r.dataset.agent)),
    ['1002', '1003', '1004', '1007', '1009', '1010']);
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
  // Today's adherence as a report: 1001 scheduled and out of adherence since the start.
  const [report] = await Promise.all([page.waitForEvent('download'), page.click('#btn-adh-csv')]);
  const adhFile = join(work, 'adherence.csv');
  await report.saveAs(adhFile);
  const rows = readFileSync(adhFile, 'utf8').trim().split(/\r?\n/);
  assert.match(rows[0], /^agent,scheduled_minutes,in_adherence_minutes,adherence,/);
  const mine = rows.find((r) => r.startsWith('1001,'));
  assert.ok(mine, rows.join('\n'));
  const [, scheduled, inAdh, , , , , exceptions] = mine.split(',');
  assert.ok(Number(scheduled) >= 29 && Number(scheduled) <= 32, mine);
  assert.equal(Number(inAdh), 0, mine);
  assert.equal(Number(exceptions), 1, mine);

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

  // Start-time wishes: a bad range is refused with its place, a good one is saved and read
  // back after a reload; the supervisor sees them as set by the agent.
  await page.fill('#wishes [name=prefer]', '08:00-10:00, soon');
  await page.click('#wishes button[type=submit]');
  await page.waitForFunction(() => /prefer_starts\[1\]/.test(document.querySelector('#wish-error').textContent));
  await page.fill('#wishes [name=prefer]', '08:00-10:00，13:00-14:00');
  await page.fill('#wishes [name=avoid]', '22:00-06:00');
  await page.click('#wishes button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#wish-result').textContent === '已保存');
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#wishes [name=prefer]').value !== '');
  assert.equal(await page.inputValue('#wishes [name=prefer]'), '08:00-10:00, 13:00-14:00');
  assert.equal(await page.inputValue('#wishes [name=avoid]'), '22:00-06:00');
  const all = await call('GET', '/workforce/preferences');
  assert.deepEqual(all.agents['1001'], { prefer_starts: ['08:00-10:00', '13:00-14:00'], avoid_starts: ['22:00-06:00'], set_by: 'agent' });
  assert.deepEqual(pageErrors, []);
});

test('an agent asks for time off and a swap; a supervisor approves one and denies the other', async () => {
  // Next week, in UTC (the demo centre's and, below, the browsers' time zone): 1001 works
  // Tuesday 09–17 and Wednesday 14–22, 1002 Tuesday 13–21, 1003 Thursday 07–15. 1003 taking
  // 1001's Wednesday would leave 9 hours' rest before Thursday: the swap breaks the rule.
  const at = (day, hour) => new Date(nextMonday + day * DAY + hour * 3_600_000).toISOString().replace('.000Z', 'Z');
  const local = (day) => `${ymd(nextMonday + day * DAY)}T00:00`;
  await call('PUT', `/workforce/schedule/${ymd(nextMonday)}`, {
    agents: {
      1001: [{ start: at(1, 9), end: at(1, 17), activity: 'work' }, { start: at(2, 14), end: at(2, 22), activity: 'work' }],
      1002: [{ start: at(1, 13), end: at(1, 21), activity: 'work' }],
      1003: [{ start: at(3, 7), end: at(3, 15), activity: 'work' }],
    },
  });
  const schedule1001 = async () => (await call('GET',
    `/workforce/schedule?from=${at(0, 0)}&to=${at(7, 0)}&agent=1001`)).segments.map((s) => [s.start, s.end]);
  assert.deepEqual(await schedule1001(), [[at(1, 9), at(1, 17)], [at(2, 14), at(2, 22)]]);

  // The agent asks for Tuesday off.
  const agent = await newPage({ timezoneId: 'UTC' });
  await loginPage(agent, '/workforce', 'agent1001', 'pass1001');
  await agent.waitForSelector('#mine:not([hidden]) #my-requests-none:not([hidden])');
  assert.equal(await agent.isVisible('#ask .ask-with'), false, 'a colleague only for swaps');
  await agent.fill('#ask [name=from]', local(1));
  await agent.fill('#ask [name=to]', local(2));
  await agent.fill('#ask [name=note]', 'dentist');
  await agent.click('#ask button[type=submit]');
  await agent.waitForSelector('#my-requests tr[data-state=pending]');
  assert.equal(await agent.textContent('#my-requests tr .kind'), '休假');
  assert.equal(await agent.textContent('#my-requests tr .state'), '待处理');
  assert.equal(await agent.textContent('#ask-error'), '');
  const [asked] = (await call('GET', '/workforce/requests?state=pending')).requests;
  assert.deepEqual([asked.agent, asked.kind, asked.from, asked.to, asked.note], ['1001', 'time_off', at(1, 0), at(2, 0), 'dentist']);

  // The supervisor sees it pending, in local time, and approves it.
  const sup = await newPage({ timezoneId: 'UTC' });
  await loginPage(sup, '/workforce', 'supervisor', 'supervisor');
  const row = (id) => `#requests-pending tr[data-id="${id}"]`;
  await sup.waitForSelector(row(asked.id));
  assert.match(await sup.textContent(`${row(asked.id)} .window`), /00:00 – 24:00$/);
  assert.equal(await sup.textContent(`${row(asked.id)} .note`), 'dentist');
  await sup.click(`${row(asked.id)} [data-act=approve]`);
  await sup.waitForSelector(`#requests-decided tr[data-id="${asked.id}"][data-state=approved]`);
  assert.equal(await sup.locator(row(asked.id)).count(), 0);
  assert.equal(await sup.textContent(`#requests-decided tr[data-id="${asked.id}"] .by`), 'supervisor');
  assert.deepEqual(await schedule1001(), [[at(2, 14), at(2, 22)]], 'Tuesday is off, Wednesday kept');

  // The agent asks to swap Wednesday with 1003: first with an unknown colleague, which the
  // server refuses and the form says so.
  await agent.selectOption('#ask [name=kind]', 'swap');
  await agent.waitForSelector('#ask .ask-with:not([hidden])');
  await agent.fill('#ask [name=from]', local(2));
  await agent.fill('#ask [name=to]', local(3));
  await agent.fill('#ask [name=with_agent]', '9999');
  await agent.click('#ask button[type=submit]');
  await agent.waitForFunction(() => document.querySelector('#ask-error').textContent !== '');
  assert.equal(await agent.locator('#my-requests tr').count(), 1);
  await agent.fill('#ask [name=with_agent]', '1003');
  await agent.click('#ask button[type=submit]');
  await agent.waitForFunction(() => document.querySelectorAll('#my-requests tr').length === 2);
  assert.equal(await agent.textContent('#ask-error'), '');
  // Newest first; the earlier request shows as approved now.
  const mine = await agent.$$eval('#my-requests tr', (rs) => rs.map((r) => [r.dataset.state, r.querySelector('.with').textContent]));
  assert.deepEqual(mine, [['pending', '1003'], ['approved', '—']]);
  // Its own schedule, read again, has lost Tuesday and kept Wednesday.
  await agent.waitForFunction(() => document.querySelectorAll('#mine-next rect[data-activity=work]').length === 1);
  const swap = (await call('GET', '/workforce/requests?state=pending')).requests.find((r) => r.kind === 'swap');
  assert.equal(swap.with_agent, '1003');

  // Approving it breaks the rest rule: refused, the reason in its row, still pending.
  await sup.reload();
  await sup.waitForSelector(row(swap.id));
  await sup.click(`${row(swap.id)} [data-act=approve]`);
  await sup.waitForFunction((sel) => /1003/.test(document.querySelector(sel)?.textContent || ''), `${row(swap.id)} .error`);
  assert.match(await sup.textContent(`${row(swap.id)} .error`), /11 hours/);
  assert.equal((await call('GET', '/workforce/requests?state=pending')).requests.map((r) => r.id).join(), swap.id);
  assert.deepEqual(await schedule1001(), [[at(2, 14), at(2, 22)]], 'a refused swap changes nothing');

  await sup.click(`${row(swap.id)} [data-act=deny]`);
  await sup.waitForSelector(`#requests-decided tr[data-id="${swap.id}"][data-state=denied]`);
  assert.equal(await sup.locator('#requests-pending tr').count(), 0);
  assert.equal(await sup.isVisible('#requests-none'), true);
  assert.deepEqual(await sup.$$eval('#requests-decided tr', (rs) => rs.map((r) => r.dataset.state)), ['denied', 'approved']);
  assert.deepEqual(await schedule1001(), [[at(2, 14), at(2, 22)]]);
  assert.deepEqual(pageErrors, []);
});
