// The pages' Markdown renderer (web/static/md.js): knowledge-base articles are shown as
// HTML, so nothing an author writes may become markup of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown, escapeHtml } from '../../web/static/md.js';

test('HTML in an article is shown as text, never as markup', () => {
  const html = renderMarkdown('# Hi <img src=x onerror=alert(1)>\n\n<script>alert(1)</script> & "q"');
  assert.ok(!html.includes('<img'), html);
  assert.ok(!html.includes('<script'), html);
  assert.match(html, /<h2>Hi &lt;img src=x onerror=alert\(1\)&gt;<\/h2>/);
  assert.match(html, /<p>&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;q&quot;<\/p>/);
  assert.equal(escapeHtml(`<a href='x'>`), '&lt;a href=&#39;x&#39;&gt;');
});

test('links are kept only to http(s) and to this site', () => {
  const html = renderMarkdown('[ok](https://example.com/a) [local](/agent) [bad](javascript:alert(1)) [q](https://x/"onmouseover=1)');
  assert.match(html, /<a href="https:\/\/example.com\/a" rel="noopener noreferrer" target="_blank">ok<\/a>/);
  assert.match(html, /<a href="\/agent"[^>]*>local<\/a>/);
  assert.ok(!html.includes('href="javascript'), html);
  assert.ok(!/href="[^"]*"onmouseover/.test(html), html);
});

test('headings, lists, quotes, tables, code and emphasis', () => {
  const html = renderMarkdown([
    '# 银行卡挂失', '', '1. 核实身份', '2. **临时挂失**', '', '- a', '- `b*c*`', '',
    '> 注意', '', '| 渠道 | 限额 |', '|---|---|', '| 手机 | 5 万 |', '', 'some *em* text',
  ].join('\n'));
  assert.match(html, /<h2>银行卡挂失<\/h2>/);
  assert.match(html, /<ol>\n<li>核实身份<\/li>\n<li><strong>临时挂失<\/strong><\/li>\n<\/ol>/);
  assert.match(html, /<ul>\n<li>a<\/li>\n<li><code>b\*c\*<\/code><\/li>\n<\/ul>/);
  assert.match(html, /<blockquote>注意<\/blockquote>/);
  assert.match(html, /<table><thead><tr><th>渠道<\/th><th>限额<\/th><\/tr><\/thead><tbody><tr><td>手机<\/td><td>5 万<\/td><\/tr><\/tbody><\/table>/);
  assert.match(html, /<p>some <em>em<\/em> text<\/p>/);
});
