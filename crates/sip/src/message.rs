//! A lenient, allocation-light view of one SIP message's framing: start line and header lines.
//!
//! This is not the stack's parser (rsipstack parses what reaches it); it is what the ingress
//! guard needs to judge a message and to answer it even when it is too broken to parse fully.

/// The start line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: &'a str,
        uri: &'a str,
        version: &'a str,
    },
    Response {
        version: &'a str,
        code: u16,
    },
}

/// One header line, after unfolding (`value` may contain the folded continuation as-is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader<'a> {
    /// The name as written (possibly compact or oddly cased).
    pub name: &'a str,
    /// The canonical lower-case long name (`v` → `via`).
    pub canonical: String,
    /// The value, trimmed; continuation lines are joined with a single space.
    pub value: String,
}

/// A message split into start line, headers and body.
#[derive(Debug, Clone)]
pub struct RawMessage<'a> {
    pub start: Option<StartLine<'a>>,
    /// Why the start line could not be read, if it could not.
    pub start_error: Option<&'static str>,
    pub headers: Vec<RawHeader<'a>>,
    /// A header line that is not `name: value`, if any.
    pub header_error: Option<&'static str>,
    /// Offset of the body in the input, if the header section was terminated.
    pub body_offset: Option<usize>,
    /// Some header was folded over continuation lines.
    pub folded: bool,
}

impl<'a> RawMessage<'a> {
    /// All values of a header (by canonical long name).
    pub fn all<'s>(&'s self, canonical: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |h| h.canonical == canonical)
            .map(|h| h.value.as_str())
    }

    /// The first value of a header.
    pub fn first<'s>(&'s self, canonical: &'s str) -> Option<&'s str> {
        self.all(canonical).next()
    }

    pub fn count(&self, canonical: &str) -> usize {
        self.all(canonical).count()
    }
}

/// Splits `data` into start line, header lines and body offset. Never fails: problems are
/// recorded in `start_error` / `header_error` so that an answer can still be built.
pub fn split(data: &[u8]) -> RawMessage<'_> {
    let (head, body_offset) = match find_header_end(data) {
        Some((end, body)) => (&data[..end], Some(body)),
        None => (data, None),
    };
    let mut lines = LineIter { data: head, pos: 0 };
    let mut msg = RawMessage {
        start: None,
        start_error: None,
        headers: Vec::new(),
        header_error: None,
        body_offset,
        folded: false,
    };
    // Leading empty lines before the start line are tolerated (RFC 3261 §7.5).
    let first = loop {
        match lines.next() {
            Some([]) => continue,
            other => break other,
        }
    };
    match first.map(parse_start_line) {
        Some(Ok(s)) => msg.start = Some(s),
        Some(Err(e)) => msg.start_error = Some(e),
        None => msg.start_error = Some("empty message"),
    }
    let mut current: Option<(usize, &[u8])> = None;
    let mut pending: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            msg.folded = true;
            match current {
                Some((idx, _)) => pending[idx].1.push(line),
                None => msg.header_error = Some("continuation line before any header"),
            }
            continue;
        }
        pending.push((line, Vec::new()));
        current = Some((pending.len() - 1, line));
    }
    for (line, conts) in pending {
        match parse_header(line, &conts) {
            Ok(h) => msg.headers.push(h),
            Err(e) => {
                if msg.header_error.is_none() {
                    msg.header_error = Some(e);
                }
            }
        }
    }
    msg
}

/// End of the header section: `(end of headers, start of body)`. Accepts CRLFCRLF and, leniently,
/// LFLF.
pub fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    let crlf = memchr::memmem::find(data, b"\r\n\r\n").map(|p| (p, p + 4));
    let lf = memchr::memmem::find(data, b"\n\n").map(|p| (p, p + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

struct LineIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let (line, advance) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, &'static str> {
    let line = std::str::from_utf8(line).map_err(|_| "start line is not UTF-8")?;
    if line.starts_with("SIP/") || line.starts_with("sip/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().ok_or("bad status line")?;
        let code = parts
            .next()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..700).contains(c))
            .ok_or("bad status code")?;
        return Ok(StartLine::Response { version, code });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly single spaces (RFC 3261 §7.1).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("request line is not `method URI version` separated by single spaces");
    };
    if method.is_empty() || !method.bytes().all(is_token_char) {
        return Err("method is not a token");
    }
    if uri.is_empty()
        || uri
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'<' || b == b'>')
    {
        return Err("bad Request-URI");
    }
    if !version.starts_with("SIP/") && !version.starts_with("sip/") {
        return Err("bad SIP version");
    }
    Ok(StartLine::Request {
        method,
        uri,
        version,
    })
}

fn parse_header<'a>(line: &'a [u8], conts: &[&[u8]]) -> Result<RawHeader<'a>, &'static str> {
    let colon = memchr::memchr(b':', line).ok_or("header line without a colon")?;
    let name = std::str::from_utf8(&line[..colon])
        .map_err(|_| "header name is not UTF-8")?
        .trim_end_matches([' ', '\t']);
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err("header name is not a token");
    }
    let mut value = String::from_utf8_lossy(&line[colon + 1..])
        .trim()
        .to_string();
    for c in conts {
        let c = String::from_utf8_lossy(c);
        let c = c.trim();
        if !c.is_empty() {
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(c);
        }
    }
    Ok(RawHeader {
        name,
        canonical: canonical_name(name),
        value,
    })
}

/// RFC 3261 token characters.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Lower-case long form of a header name, expanding compact forms.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "e" => "content-encoding",
        "k" => "supported",
        "s" => "subject",
        "o" => "event",
        "r" => "refer-to",
        "b" => "referred-by",
        "u" => "allow-events",
        "x" => "session-expires",
        "a" => "accept-contact",
        "j" => "reject-contact",
        "d" => "request-disposition",
        "y" => "identity",
        _ => return lower,
    };
    long.to_string()
}

/// Splits a header value on commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, ch) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_request_with_folding_and_compact_forms() {
        let m = split(
            b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: one\r\n  two\r\nl: 0\r\n\r\n",
        );
        assert_eq!(
            m.start,
            Some(StartLine::Request {
                method: "OPTIONS",
                uri: "sip:a@b",
                version: "SIP/2.0"
            })
        );
        assert_eq!(m.first("via"), Some("SIP/2.0/UDP h;branch=z9hG4bK1"));
        assert_eq!(m.first("subject"), Some("one two"));
        assert_eq!(m.first("content-length"), Some("0"));
        assert!(m.header_error.is_none());
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        assert_eq!(
            split_list("\"a, b\" <sip:x@y;p=1,2>, <sip:z@w>"),
            vec!["\"a, b\" <sip:x@y;p=1,2>", "<sip:z@w>"]
        );
    }

    #[test]
    fn reports_bad_request_line() {
        let m = split(b"INVITE  sip:a@b SIP/2.0\r\n\r\n");
        assert!(m.start.is_none());
        assert!(m.start_error.is_some());
    }
}
