// The administration page's pure parts, without a browser: the skills text of the forms
// (web/static/admin-config.js) and the audit trail's before → after (web/static/admin-audit.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSkills } from '../../web/static/admin-config.js';
import { diff, flatten } from '../../web/static/admin-audit.js';

test('skills are read as name=level, name:level or name level, separated by commas or spaces', () => {
  assert.deepEqual(parseSkills('accounts=5, general:3'), { accounts: 5, general: 3 });
  assert.deepEqual(parseSkills('accounts=6 general:2'), { accounts: 6, general: 2 });
  assert.deepEqual(parseSkills('普通话 7，粤语=4；cards：2'), { 普通话: 7, 粤语: 4, cards: 2 });
  assert.deepEqual(parseSkills(''), {});
  // Levels are passed on as written: the server judges them and names the field.
  assert.deepEqual(parseSkills('accounts=11'), { accounts: 11 });
  assert.throws(() => parseSkills('accounts'), (e) => e.field === 'skills' && /accounts/.test(e.message));
  assert.throws(() => parseSkills('accounts=x'), (e) => e.field === 'skills');
});

test('the audit trail shows the fields that changed, and never a secret', () => {
  assert.deepEqual(flatten({ name: 'a', skills: { accounts: 8 }, holidays: ['2026-10-01'] }),
    { name: 'a', 'skills.accounts': 8, holidays: ['2026-10-01'] });
  assert.deepEqual(diff({ name: 'a', skills: { accounts: 8, general: 5 } }, { name: 'b', skills: { general: 5, cards: 3 } }), [
    { path: 'name', before: 'a', after: 'b' },
    { path: 'skills.accounts', before: 8, after: undefined },
    { path: 'skills.cards', before: undefined, after: 3 },
  ]);
  assert.deepEqual(diff(null, { extension: '1011', ha1_md5: 'x', ha1_sha256: 'y', skills: {} }), [
    { path: 'extension', before: undefined, after: '1011' },
    { path: 'skills', before: undefined, after: {} },
  ]);
  assert.deepEqual(diff({ name: 'u', password_hash: 'p1' }, { name: 'u', password_hash: 'p2' }), []);
  assert.deepEqual(diff({ holidays: ['2026-10-01'] }, { holidays: ['2026-10-01', '2027-05-01'] }),
    [{ path: 'holidays', before: ['2026-10-01'], after: ['2026-10-01', '2027-05-01'] }]);
});
