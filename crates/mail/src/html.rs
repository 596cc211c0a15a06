//! Showing HTML mail safely: sanitised HTML for the agent's browser and a
//! plain-text rendering for previews and search.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How strict [`sanitize`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Load remote (`http:`/`https:`) images. Off by default: remote
    /// images are how senders track when and where a mail is read.
    pub remote_images: bool,
}

/// The result of [`sanitize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml {
    /// HTML with no scripts, event handlers, styles, frames or forms, and
    /// with links opening in a new tab without referrer or opener.
    pub html: String,
    /// How many remote images had their source removed; the UI can offer
    /// "show images", sanitising again with [`Policy::remote_images`].
    pub blocked_images: usize,
}

/// Tags dropped together with everything inside them.
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript",
    "template", "title", "head", "svg", "math", "select", "textarea", "button",
];

/// Sanitises an HTML body for display in the agent's browser.
///
/// Keeps ordinary formatting (paragraphs, lists, tables, emphasis, links,
/// images from `cid:` parts); removes scripts, event handler attributes,
/// `style` attributes and elements (CSS can load URLs and hide text),
/// frames, forms, `javascript:` and other non-web URLs, and, unless the
/// policy allows them, remote images (tracking pixels).
pub fn sanitize(html: &str, policy: Policy) -> SafeHtml {
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&blocked);
    let remote_images = policy.remote_images;
    let mut builder = ammonia::Builder::default();
    // `cid:` lets images refer to the message's own parts; remote image
    // sources are filtered below.
    let schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid"].into();
    builder
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .clean_content_tags(DROP_WITH_CONTENT.iter().copied().collect())
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let lower = value.trim_start().to_ascii_lowercase();
                let remote = !lower.starts_with("cid:");
                if remote && !remote_images {
                    counter.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                if remote && !(lower.starts_with("https:") || lower.starts_with("http:")) {
                    return None;
                }
            }
            Some(Cow::Borrowed(value))
        });
    let html = builder.clean(html).to_string();
    drop(builder);
    SafeHtml {
        html,
        blocked_images: blocked.load(Ordering::Relaxed),
    }
}

/// Renders HTML as plain text (for previews, search and the text part of
/// a reply). Scripts and styles contribute nothing; links keep their text.
pub fn to_text(html: &str) -> String {
    let clean = sanitize(html, Policy::default()).html;
    let text = html2text::config::plain_no_decorate()
        .string_from_read(clean.as_bytes(), 10_000)
        .unwrap_or_default();
    // Trim trailing spaces on each line and collapse runs of blank lines.
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

/// Escapes text for inclusion in HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Simple HTML for a plain-text message: escaped, paragraphs on blank
/// lines, line breaks kept.
pub fn from_text(text: &str) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html><body>\n");
    let normalized = text.replace("\r\n", "\n");
    for paragraph in normalized.split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if paragraph.is_empty() {
            continue;
        }
        out.push_str("<p>");
        out.push_str(&escape(paragraph).replace('\n', "<br>\n"));
        out.push_str("</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}
