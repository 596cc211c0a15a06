// Live administration from the /admin page in a real browser (Debian's chromium, headless,
// driven by playwright-core) against the real `hotline demo` and sipp phones:
//
// - a supervisor gives an available agent the accounts skill by typing a level in the skills
//   grid, and the wallboard's "agents available" of the accounts queue goes up; clearing the
//   cell takes it down again; a refused level is shown at its cell and the old level kept; a
//   level dragged onto another cell is saved for that agent;
// - an administrator adds agent 1011 (extension, SIP password, skill accounts) and a user
//   for it on the page; a sipp phone registers as 1011 with that password and takes a call
//   to the accounts queue; the administrator adds a holiday to the business hours;
// - the audit trail shows these changes, newest first, with who made them and the fields
//   that changed, before → after;
// - a supervisor sees no administrators' view or form, and an agent is turned away.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/admin-live.test.mjs
// While working on the pages, HOTLINE_WEB_DIR=web serves /admin and /static/* to the browser
// from that directory instead of the files built into the binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { children, freePort, launchChromium, pagesFromDisk, repo, sippAt, sippOk, startDemo } from './procs.mjs';

const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');

let work; let hotline; let http; let sip; let browser;
const pageErrors = [];

// ---- the API from the test ------------------------------------------------------------

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
  const res = await fetch(`http://${http}/api/v1/login`, {
    method: 'POST', body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200, `login ${user}`);
  return (await res.json()).token;
}

async function agentSkills(token, ext) {
  const r = await apiAs(token, 'GET', '/agents');
  assert.equal(r.status, 200, r.text);
  return r.json().find((a) => a.extension === ext)?.skills;
}

// ---- set-up ----------------------------------------------------------------------------

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-admin-live-'));
  ({ hotline, sip, http } = await startDemo(bin, join(work, 'data')));
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

const cell = (ext, skill) => `#skills-grid td[data-ext="${ext}"][data-skill="${skill}"]`;
const available = (q) => `.queue[data-queue=${q}] [data-f=available] .v`;

// ---- tests -------------------------------------------------------------------------------

test('a supervisor types a skill level in the grid and the wallboard follows', async () => {
  const sup = await loginApi('supervisor', 'supervisor');
  // 1003 (cards and general, no accounts) is available.
  const agent = await loginApi('agent1003', 'pass1003');
  assert.equal((await apiAs(agent, 'POST', '/agents/1003/state', { state: 'available' })).status, 200);

  const board = await newPage();
  await loginPage(board, '/wallboard', 'supervisor', 'supervisor');
  await board.waitForSelector(available('accounts'));
  await board.waitForFunction((sel) => document.querySelector(sel)?.textContent === '0', available('accounts'));

  const page = await newPage();
  await loginPage(page, '/admin#skills', 'supervisor', 'supervisor');
  await page.waitForSelector(cell('1003', 'accounts'));
  // Rows are agents with their state, columns every skill agents hold or queues need.
  const cols = await page.$$eval('#skills-grid thead th[data-skill]', (ths) => ths.map((th) => th.dataset.skill));
  assert.deepEqual(cols, ['accounts', 'cards', 'complaints', 'general', 'senior']);
  assert.equal(await page.locator('#skills-grid tbody tr').count(), 10);
  await page.waitForSelector('#skills-grid tr[data-ext="1003"] th .badge[data-state=available]');
  assert.equal(await page.textContent('#skills-grid tr[data-ext="1003"] th .badge'), '就绪');
  assert.equal(await page.getAttribute(cell('1003', 'accounts'), 'data-level'), '');
  assert.equal(await page.getAttribute(cell('1003', 'cards'), 'data-level'), '8');

  // Keyboard only: into the grid, to 1003's accounts cell, type 7, Enter.
  await page.focus(cell('1001', 'accounts'));
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await page.evaluate(() => ({ ...document.activeElement.dataset })),
    { ext: '1003', skill: 'accounts', level: '' });
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.equal(ring, 'solid', 'the focused cell is outlined');
  await page.keyboard.type('7');
  assert.equal(await page.textContent(`${cell('1003', 'accounts')} .lv`), '7');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`${cell('1003', 'accounts')}[data-level="7"]:not(.saving)`);
  assert.deepEqual(await agentSkills(sup, '1003'), { accounts: 7, cards: 8, general: 5 });
  // Enter moved down a row.
  assert.equal(await page.evaluate(() => document.activeElement.dataset.ext), '1004');
  // The wallboard: one more agent available for accounts.
  await board.waitForFunction((sel) => document.querySelector(sel)?.textContent === '1', available('accounts'), { timeout: 30_000 });

  // 10: two digits.
  await page.keyboard.press('ArrowUp');
  await page.keyboard.type('10');
  await page.keyboard.press('Tab');
  await page.waitForSelector(`${cell('1003', 'accounts')}[data-level="10"]:not(.saving)`);
  assert.equal((await agentSkills(sup, '1003')).accounts, 10);

  // A level the server refuses (0): the message at the cell, the old level kept.
  await page.focus(cell('1003', 'accounts'));
  await page.keyboard.type('0');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`${cell('1003', 'accounts')}[aria-invalid=true] .cell-error`);
  assert.match(await page.textContent(`${cell('1003', 'accounts')} .cell-error`), /1.*10/);
  assert.equal(await page.getAttribute(cell('1003', 'accounts'), 'data-level'), '10');
  assert.equal((await agentSkills(sup, '1003')).accounts, 10);

  // Delete clears the cell: 1003 no longer answers accounts, and the wallboard says so.
  await page.focus(cell('1003', 'accounts'));
  await page.keyboard.press('Delete');
  await page.waitForSelector(`${cell('1003', 'accounts')}[data-level=""]:not(.saving):not([aria-invalid])`);
  assert.deepEqual(await agentSkills(sup, '1003'), { cards: 8, general: 5 });
  await board.waitForFunction((sel) => document.querySelector(sel)?.textContent === '0', available('accounts'), { timeout: 30_000 });

  // Drag 1003's cards level (8) onto 1007's cards cell (3).
  await page.hover(cell('1003', 'cards'));
  await page.mouse.down();
  await page.hover(cell('1005', 'cards'));
  await page.hover(cell('1007', 'cards'));
  await page.mouse.up();
  await page.waitForSelector(`${cell('1007', 'cards')}[data-level="8"]:not(.saving)`);
  await page.waitForSelector(`${cell('1005', 'cards')}[data-level="8"]:not(.saving)`);
  assert.equal((await agentSkills(sup, '1007')).cards, 8);
  assert.deepEqual(await agentSkills(sup, '1005'), { cards: 8, complaints: 7, general: 6 });

  await page.focus(cell('1003', 'accounts'));
  await page.keyboard.type('5');
  await page.screenshot({ path: join(repo, 'docs/screenshots/admin-skills.png') });
  await page.keyboard.press('Escape');
  assert.equal(await page.getAttribute(cell('1003', 'accounts'), 'data-level'), '');
  assert.equal(await page.textContent(`${cell('1003', 'accounts')} .lv`), '');

  // English.
  await page.selectOption('#lang', 'en');
  assert.equal(await page.textContent('#skills-grid thead th:first-child'), 'Agent');
  assert.equal(await page.textContent('#skills-grid tr[data-ext="1003"] th .badge'), 'Available');

  assert.equal((await apiAs(agent, 'POST', '/agents/1003/state', { state: 'logged_out' })).status, 200);
  assert.deepEqual(pageErrors, []);
  await page.context().close();
  await board.context().close();
});

test('a supervisor sees no administrators\' forms, and an agent is turned away', async () => {
  const page = await newPage();
  await loginPage(page, '/admin#agents', 'supervisor', 'supervisor');
  await page.waitForSelector('#admin:not([hidden])');
  // The administrators' views fall back to the flows; their links, forms and the reload
  // button are not on the page.
  await page.waitForSelector('#view-flows:not([hidden])');
  for (const sel of ['.admin-nav [data-view=agents]', '.admin-nav [data-view=users]', '.admin-nav [data-view=queues]',
    '.admin-nav [data-view=numbers]', '.admin-nav [data-view=schedules]', '#agent-add', '#user-form', '#queue-form',
    '#number-add', '#btn-reload', '#view-agents']) {
    assert.equal(await page.locator(sel).count(), 0, sel);
  }
  // Skills and the audit trail are there.
  assert.ok(await page.isVisible('.admin-nav [data-view=skills]'));
  assert.ok(await page.isVisible('.admin-nav [data-view=audit]'));
  await page.context().close();

  const agent = await newPage();
  await loginPage(agent, '/admin#skills', 'agent1001', 'pass1001');
  await agent.waitForSelector('#denied:not([hidden])');
  assert.equal(await agent.isHidden('#admin'), true);
  assert.equal(await agent.locator('#skills-grid td').count(), 0);
  assert.deepEqual(pageErrors, []);
  await agent.context().close();
});

test('an administrator adds an agent who registers a phone and takes a call', async () => {
  const sup = await loginApi('supervisor', 'supervisor');
  const page = await newPage();
  await loginPage(page, '/admin#agents', 'admin', 'admin');
  await page.waitForSelector('#view-agents:not([hidden]) #cfg-agents form[data-agent="1001"]');

  // A refused level is shown at the skills input, naming the field.
  await page.fill('#agent-add [name=extension]', '1011');
  await page.fill('#agent-add [name=name]', '孙悦 Sun Yue');
  await page.fill('#agent-add [name=password]', 'pass1011');
  await page.fill('#agent-add [name=skills]', 'accounts=11');
  await page.click('#agent-add button[type=submit]');
  await page.waitForSelector('#agent-add [name=skills][aria-invalid=true]');
  assert.match(await page.textContent('#agent-add .form-error'), /skills\.accounts/);
  assert.equal(await page.locator('#cfg-agents form[data-agent="1011"]').count(), 0);

  await page.fill('#agent-add [name=skills]', 'accounts=6');
  await page.click('#agent-add button[type=submit]');
  await page.waitForSelector('#cfg-agents form[data-agent="1011"]');
  assert.equal(await page.getAttribute('#agent-add [name=skills]', 'aria-invalid'), null);
  assert.deepEqual(await agentSkills(sup, '1011'), { accounts: 6 });

  // A user to work as 1011.
  await page.click('.admin-nav [data-view=users]');
  await page.waitForSelector('#view-users:not([hidden]) #user-form');
  await page.fill('#user-form [name=name]', 'agent1011');
  await page.selectOption('#user-form [name=role]', 'agent');
  await page.selectOption('#user-form [name=agent]', '1011');
  await page.fill('#user-form [name=password]', 'pass1011-web');
  await page.click('#user-form button[type=submit]');
  await page.waitForSelector('#cfg-users tr[data-user=agent1011]');

  // The phone registers with the password given on the page, the agent goes available and
  // takes a caller who pressed 1 (accounts): 1011 is the only agent available.
  const port = String(await freePort());
  await sippOk(sippAt(work, sip, 'register.xml', ['-p', port, '-s', '1011', '-au', '1011', '-ap', 'pass1011', '-m', '1']), 'register 1011');
  const agent = await loginApi('agent1011', 'pass1011-web');
  assert.equal((await apiAs(agent, 'POST', '/agents/1011/state', { state: 'available' })).status, 200);
  const phone = sippAt(work, sip, 'agent-answers.xml', ['-p', port, '-rtp_echo', '-m', '1']);
  const caller = sippAt(work, sip, 'caller-key-waits.xml', ['-m', '1']);
  await sippOk(caller, 'caller');
  await sippOk(phone, 'phone of 1011');
  const calls = (await apiAs(sup, 'GET', '/interactions')).json();
  assert.ok(calls.some((c) => c.agent === '1011' && c.answered), JSON.stringify(calls));

  // A holiday added to the business hours.
  await page.click('.admin-nav [data-view=schedules]');
  await page.waitForSelector('#cfg-schedules form[data-schedule=office]');
  await page.fill('form[data-schedule=office] [name=holiday]', '2027-05-01');
  await page.click('form[data-schedule=office] [data-act=add-holiday]');
  await page.click('form[data-schedule=office] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('form[data-schedule=office] [data-holiday="2027-05-01"]'));
  const admin = await loginApi('admin', 'admin');
  const cfg = (await apiAs(admin, 'GET', '/config')).json();
  assert.ok(cfg.schedules.office.holidays.includes('2027-05-01'), JSON.stringify(cfg.schedules.office));
  assert.equal(cfg.schedules.office.timezone, 'Asia/Shanghai');
  assert.deepEqual(pageErrors, []);
  await page.context().close();
});

test('the audit trail shows who changed what, newest first', async () => {
  const page = await newPage();
  await loginPage(page, '/admin#audit', 'supervisor', 'supervisor');
  await page.waitForSelector('#audit tr[data-action=agent_skills]');
  const rows = await page.$$eval('#audit tbody tr', (trs) => trs.map((tr) => ({
    seq: Number(tr.dataset.seq), action: tr.dataset.action, user: tr.dataset.user, target: tr.dataset.target,
    who: tr.querySelector('.who').textContent,
    changes: [...tr.querySelectorAll('.change li')].map((li) => li.textContent),
  })));
  for (let i = 1; i < rows.length; i += 1) assert.ok(rows[i - 1].seq > rows[i].seq, 'newest first');
  // The supervisor's first change in the grid: 1003 given accounts 7.
  const skills = rows.filter((r) => r.action === 'agent_skills' && r.target === '1003');
  assert.ok(skills.length >= 3, JSON.stringify(rows));
  const first = skills[skills.length - 1];
  assert.equal(first.who, 'supervisor');
  assert.deepEqual(first.changes, ['skills.accounts: ∅ → 7']);
  assert.deepEqual(skills[0].changes, ['skills.accounts: 10 → ∅']);
  // The administrator's new agent: a configuration change by admin, with the fields added.
  const added = rows.find((r) => r.action === 'config' && r.target === 'agents/1011');
  assert.ok(added, JSON.stringify(rows));
  assert.equal(added.who, 'admin');
  assert.ok(added.changes.includes('skills.accounts: ∅ → 6'), added.changes.join('\n'));
  assert.ok(added.changes.some((c) => c.startsWith('name: ∅ → 孙悦')), added.changes.join('\n'));
  assert.ok(!added.changes.some((c) => /ha1|password/.test(c)), 'no secrets in the trail');
  const hours = rows.find((r) => r.action === 'config' && r.target === 'schedules/office');
  assert.ok(hours && hours.changes.some((c) => c.startsWith('holidays:') && c.includes('2027-05-01')), JSON.stringify(hours));
  // Configuration changes only.
  await page.check('#audit-config-only');
  const actions = await page.$$eval('#audit tbody tr', (trs) => [...new Set(trs.map((tr) => tr.dataset.action))].sort());
  assert.deepEqual(actions, ['agent_skills', 'config']);
  assert.deepEqual(pageErrors, []);
  await page.context().close();
});
