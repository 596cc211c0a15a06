// A small, safe Markdown renderer: HTML is escaped first, then headings, lists, quotes,
// tables, code, emphasis and http(s) links are turned into elements. Nothing the author
// writes can become markup of its own.

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function inline(s) {
  // s is already escaped; code spans first so their content is left alone.
  const codes = [];
  s = s.replace(/`([^`]+)`/g, (_, c) => { codes.push(c); return `\u0000${codes.length - 1}\u0000`; });
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/\*([^*]+)\*/g, '<em>$1</em>');
  s = s.replace(/\[([^\]]+)\]\(((?:https?:\/\/|\/)[^\s)]*)\)/g,
    (_, text, url) => `<a href="${url}" rel="noopener noreferrer" target="_blank">${text}</a>`);
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

export function renderMarkdown(src) {
  const lines = escapeHtml(src).replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let para = [];
  let list = null; // 'ul' | 'ol'
  let table = null;
  const flushPara = () => {
    if (para.length) out.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
  };
  const closeList = () => { if (list) { out.push(`</${list}>`); list = null; } };
  const closeTable = () => {
    if (!table) return;
    const [head, ...rows] = table;
    const cells = (r, tag) => r.map((c) => `<${tag}>${inline(c)}</${tag}>`).join('');
    out.push(`<table><thead><tr>${cells(head, 'th')}</tr></thead><tbody>${
      rows.map((r) => `<tr>${cells(r, 'td')}</tr>`).join('')}</tbody></table>`);
    table = null;
  };
  const closeAll = () => { flushPara(); closeList(); closeTable(); };
  for (const raw of lines) {
    const line = raw.trimEnd();
    let m;
    if (!line.trim()) { closeAll(); continue; }
    if ((m = line.match(/^(#{1,4})\s+(.*)$/))) {
      closeAll();
      const n = m[1].length + 1; // an article's # is the page's h2
      out.push(`<h${n}>${inline(m[2])}</h${n}>`);
    } else if (line.startsWith('|')) {
      flushPara(); closeList();
      const cells = line.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
      if (cells.every((c) => /^:?-{2,}:?$/.test(c))) continue;
      (table ||= []).push(cells);
    } else if ((m = line.match(/^\s*[-*]\s+(.*)$/)) || (m = line.match(/^\s*\d+[.)]\s+(.*)$/))) {
      flushPara(); closeTable();
      const kind = /^\s*\d/.test(line) ? 'ol' : 'ul';
      if (list !== kind) { closeList(); out.push(`<${kind}>`); list = kind; }
      out.push(`<li>${inline(m[1])}</li>`);
    } else if ((m = line.match(/^&gt;\s?(.*)$/))) {
      closeAll();
      out.push(`<blockquote>${inline(m[1])}</blockquote>`);
    } else {
      closeList(); closeTable();
      para.push(line.trim());
    }
  }
  closeAll();
  return out.join('\n');
}
