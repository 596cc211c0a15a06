//! SIP addresses and their parameters, read by the RFC 3261 grammar (§20.10, §25.1):
//! `name-addr` (`"Display \"Name\"" <sip:1001@host;transport=udp>;expires=60`) and
//! `addr-spec` (`sip:1001@host;expires=60`), header parameters with quoted values such as
//! `+sip.instance="<urn:uuid:…>"`, lists of contacts separated by commas outside quotes and
//! brackets, SIP URIs and their comparison (§19.1.4), and Via values.
//!
//! Pure functions over text: they never panic, whatever the input.

use std::fmt;
use std::net::IpAddr;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    Empty,
    UnterminatedQuote,
    UnterminatedBracket,
    /// Something other than parameters after the address.
    TrailingText,
    /// A parameter without a name, or with a value that is not a token or a quoted string.
    BadParam,
    /// The URI is missing or not a SIP URI.
    BadUri,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrError::Empty => "empty address",
            AddrError::UnterminatedQuote => "unterminated quoted string",
            AddrError::UnterminatedBracket => "`<` without `>`",
            AddrError::TrailingText => "text after the address that is not a parameter",
            AddrError::BadParam => "malformed parameter",
            AddrError::BadUri => "not a SIP URI",
        })
    }
}

impl std::error::Error for AddrError {}

/// One `;name` or `;name=value` parameter; `value` is unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
    /// The value was (and will be written as) a quoted string.
    pub quoted: bool,
}

/// A `name-addr` or `addr-spec` with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI, without angle brackets (URI parameters stay in it).
    pub uri: String,
    pub params: Vec<Param>,
}

impl NameAddr {
    /// The value of a header parameter (`Some(None)` for a parameter without a value);
    /// names compare case-insensitively.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        match (&p.value, p.quoted) {
            (None, _) => write!(f, ";{}", p.name)?,
            (Some(v), true) => write!(f, ";{}={}", p.name, quote(v))?,
            (Some(v), false) => write!(f, ";{}={v}", p.name)?,
        }
    }
    Ok(())
}

/// `"text"` with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

fn is_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Reads a quoted string starting at `s[0] == '"'`: (unescaped text, bytes consumed).
fn read_quoted(s: &str) -> Result<(String, usize), AddrError> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return Err(AddrError::UnterminatedQuote),
            },
            '"' => return Ok((out, i + 1)),
            _ => out.push(c),
        }
    }
    Err(AddrError::UnterminatedQuote)
}

/// Parses a `name-addr` or `addr-spec` with header parameters (one Contact, From, To,
/// Refer-To value). The URI must not be empty; its scheme is not checked here.
pub fn parse_name_addr(value: &str) -> Result<NameAddr, AddrError> {
    let s = value.trim_matches(is_lws);
    if s.is_empty() {
        return Err(AddrError::Empty);
    }
    // name-addr: an optional display name (a quoted string or tokens), then `<URI>`.
    let (display, rest) = if s.starts_with('"') {
        let (d, used) = read_quoted(s)?;
        let rest = s[used..].trim_start_matches(is_lws);
        if !rest.starts_with('<') {
            return Err(AddrError::TrailingText);
        }
        (Some(d), rest)
    } else {
        match s.find('<') {
            Some(p) if s[..p].chars().all(|c| is_token(c) || is_lws(c)) => {
                let d = s[..p].trim_matches(is_lws);
                let d = (!d.is_empty()).then(|| {
                    // Tokens separated by LWS: one space between words.
                    d.split(is_lws)
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                (d, &s[p..])
            }
            // addr-spec: the URI runs to the first `;` (what follows are header parameters).
            _ => {
                let end = s.find(';').unwrap_or(s.len());
                let uri = s[..end].trim_matches(is_lws);
                if uri.is_empty() || uri.contains(|c: char| is_lws(c) || "<>\",".contains(c)) {
                    return Err(AddrError::BadUri);
                }
                return Ok(NameAddr {
                    display: None,
                    uri: uri.to_string(),
                    params: parse_params(&s[end..])?,
                });
            }
        }
    };
    // rest starts with '<'; a URI cannot contain '>' (RFC 3986), so the first one ends it.
    let close = rest.find('>').ok_or(AddrError::UnterminatedBracket)?;
    let uri = rest[1..close].trim_matches(is_lws);
    if uri.is_empty() || uri.contains(|c: char| is_lws(c) || c == '<' || c == '"') {
        return Err(AddrError::BadUri);
    }
    Ok(NameAddr {
        display,
        uri: uri.to_string(),
        params: parse_params(&rest[close + 1..])?,
    })
}

/// Parses `;name=value;flag;q="x"` (leading LWS allowed; empty input is no parameters).
pub fn parse_params(s: &str) -> Result<Vec<Param>, AddrError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(is_lws);
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or(AddrError::TrailingText)?
            .trim_start_matches(is_lws);
        let name_end = rest.find(|c: char| !is_token(c)).unwrap_or(rest.len());
        if name_end == 0 {
            return Err(AddrError::BadParam);
        }
        let name = rest[..name_end].to_string();
        rest = rest[name_end..].trim_start_matches(is_lws);
        let (value, quoted) = if let Some(v) = rest.strip_prefix('=') {
            let v = v.trim_start_matches(is_lws);
            if v.starts_with('"') {
                let (text, used) = read_quoted(v)?;
                rest = &v[used..];
                (Some(text), true)
            } else {
                // token, host (IPv6 references included) or similar: up to `;` or LWS.
                let end = v
                    .find(|c: char| c == ';' || c == ',' || is_lws(c))
                    .unwrap_or(v.len());
                let text = &v[..end];
                if text.is_empty() || text.contains(['"', '<', '>', '\\']) {
                    return Err(AddrError::BadParam);
                }
                rest = &v[end..];
                (Some(text.to_string()), false)
            }
        } else {
            (None, false)
        };
        out.push(Param {
            name,
            value,
            quoted,
        });
        rest = rest.trim_start_matches(is_lws);
    }
    Ok(out)
}

/// Splits a header value on commas outside quoted strings and `<...>`; an unterminated
/// quote or bracket is an error (a list cannot be cut safely then).
pub fn split_values(value: &str) -> Result<Vec<&str>, AddrError> {
    let mut out = Vec::new();
    let (mut in_brackets, mut quoted, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' if !in_brackets => quoted = !quoted,
            '<' if !quoted => in_brackets = true,
            '>' if !quoted => in_brackets = false,
            ',' if !quoted && !in_brackets => {
                out.push(value[start..i].trim_matches(is_lws));
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || escaped {
        return Err(AddrError::UnterminatedQuote);
    }
    if in_brackets {
        return Err(AddrError::UnterminatedBracket);
    }
    out.push(value[start..].trim_matches(is_lws));
    out.retain(|s| !s.is_empty());
    Ok(out)
}

/// The Contact values of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (remove every binding).
    Wildcard,
    List(Vec<NameAddr>),
}

/// Reads every Contact header value of a request: several headers, several values per
/// header. `*` must stand alone.
pub fn parse_contacts<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Contacts, String> {
    let mut list = Vec::new();
    let mut wildcard = false;
    for v in values {
        for item in split_values(v).map_err(|e| e.to_string())? {
            if item == "*" {
                wildcard = true;
                continue;
            }
            let na = parse_name_addr(item).map_err(|e| format!("{e} in `{item}`"))?;
            if parse_uri(&na.uri).is_none() {
                return Err(format!("`{}` is not a SIP URI", na.uri));
            }
            list.push(na);
        }
    }
    match (wildcard, list.is_empty()) {
        (true, true) => Ok(Contacts::Wildcard),
        (true, false) => Err("`*` with other contacts".into()),
        (false, _) => Ok(Contacts::List(list)),
    }
}

/// A SIP or SIPS URI in pieces (headers after `?` are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`, lower case.
    pub scheme: String,
    pub user: Option<String>,
    /// The host as written (IPv6 with its brackets).
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl SipUri {
    /// The `transport` URI parameter, lower case.
    pub fn transport(&self) -> Option<String> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case("transport"))
            .and_then(|p| p.value.as_ref())
            .map(|v| v.to_ascii_lowercase())
    }

    /// The host when it is an IP address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

/// Parses `sip:user:password@host:port;params?headers` (or `sips:`).
pub fn parse_uri(uri: &str) -> Option<SipUri> {
    let uri = uri.trim();
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return None;
    }
    let rest = rest.split('?').next().unwrap_or("");
    let (user, hostpart) = match rest.rfind('@') {
        Some(at) => {
            let u = &rest[..at];
            let u = u.split(':').next().unwrap_or("");
            (
                Some(u.to_string()).filter(|u| !u.is_empty()),
                &rest[at + 1..],
            )
        }
        None => (None, rest),
    };
    let (hostport, params) = match hostpart.find(';') {
        Some(i) => (&hostpart[..i], &hostpart[i..]),
        None => (hostpart, ""),
    };
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        let host = &hostport[..=end];
        match &hostport[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?.parse().ok()?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:_".contains(c))
    {
        return None;
    }
    // URI parameters: `;name=value` with no quoting (RFC 3261 §19.1.1).
    let mut ps = Vec::new();
    for p in params.split(';').skip(1) {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (p, None),
        };
        if name.is_empty() {
            return None;
        }
        ps.push(Param {
            name: name.to_string(),
            value,
            quoted: false,
        });
    }
    Some(SipUri {
        scheme,
        user,
        host: host.to_string(),
        port,
        params: ps,
    })
}

/// RFC 3261 §19.1.4 URI equality: scheme, user (case-sensitive), host (case-insensitive),
/// port; `transport`, `user`, `ttl`, `method` and `maddr` must match when either has them;
/// other parameters only when both have them. Text that is not a SIP URI compares as text.
pub fn same_uri(a: &str, b: &str) -> bool {
    let (Some(x), Some(y)) = (parse_uri(a), parse_uri(b)) else {
        return a.eq_ignore_ascii_case(b);
    };
    if x.scheme != y.scheme
        || x.user != y.user
        || !x.host.eq_ignore_ascii_case(&y.host)
        || x.port != y.port
    {
        return false;
    }
    let get = |u: &SipUri, n: &str| {
        u.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(n))
            .map(|p| p.value.clone().unwrap_or_default().to_ascii_lowercase())
    };
    for n in ["transport", "user", "ttl", "method", "maddr"] {
        if get(&x, n) != get(&y, n) {
            return false;
        }
    }
    x.params.iter().all(|p| match get(&y, &p.name) {
        Some(v) => v == p.value.clone().unwrap_or_default().to_ascii_lowercase(),
        None => true,
    })
}

/// One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK…;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, ... upper case.
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }
}

/// Parses a Via header value (possibly several comma-separated hops).
pub fn parse_via(value: &str) -> Result<Vec<Via>, AddrError> {
    let mut out = Vec::new();
    for hop in split_values(value)? {
        let (proto, rest) = hop.split_once(is_lws).ok_or(AddrError::BadUri)?;
        let mut parts = proto.split('/').map(|p| p.trim_matches(is_lws));
        let (Some(name), Some(_version), Some(transport), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AddrError::BadUri);
        };
        if !name.eq_ignore_ascii_case("SIP") || transport.is_empty() {
            return Err(AddrError::BadUri);
        }
        let rest = rest.trim_start_matches(is_lws);
        let end = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..end].trim_matches(is_lws);
        let uri = parse_uri(&format!("sip:{sent_by}")).ok_or(AddrError::BadUri)?;
        if !uri.params.is_empty() || uri.user.is_some() {
            return Err(AddrError::BadUri);
        }
        out.push(Via {
            transport: transport.to_ascii_uppercase(),
            host: uri.host,
            port: uri.port,
            params: parse_params(&rest[end..])?,
        });
    }
    if out.is_empty() {
        return Err(AddrError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linphone_contact_with_instance_id() {
        let v = "<sip:1001@127.0.0.1:35301;transport=udp>;+sip.instance=\"<urn:uuid:2a3e-44>\";reg-id=1;expires=60";
        let na = parse_name_addr(v).unwrap();
        assert_eq!(na.uri, "sip:1001@127.0.0.1:35301;transport=udp");
        assert_eq!(na.param("+sip.instance"), Some(Some("<urn:uuid:2a3e-44>")));
        assert_eq!(na.param("reg-id"), Some(Some("1")));
        assert_eq!(na.param("EXPIRES"), Some(Some("60")));
        let u = parse_uri(&na.uri).unwrap();
        assert_eq!(u.transport().as_deref(), Some("udp"));
        assert_eq!(u.port, Some(35301));
        assert_eq!(u.ip(), Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn baresip_contact_and_display_names() {
        let na = parse_name_addr(
            "\"Wang \\\"Fang\\\"\" <sip:1001-0x55@127.0.0.1:5062;transport=udp>;+sip.instance=\"<urn:uuid:x>\";expires=60",
        )
        .unwrap();
        assert_eq!(na.display.as_deref(), Some("Wang \"Fang\""));
        assert_eq!(na.uri, "sip:1001-0x55@127.0.0.1:5062;transport=udp");
        let na = parse_name_addr("Wang   Fang <sip:a@b>").unwrap();
        assert_eq!(na.display.as_deref(), Some("Wang Fang"));
        // addr-spec: the parameters are the header's, not the URI's.
        let na = parse_name_addr("sip:1001@10.0.0.1:5060;expires=0").unwrap();
        assert_eq!(na.uri, "sip:1001@10.0.0.1:5060");
        assert_eq!(na.param("expires"), Some(Some("0")));
        // addr-spec with a quoted parameter holding brackets.
        let na = parse_name_addr("sip:1001@h;+sip.instance=\"<urn:uuid:1>\"").unwrap();
        assert_eq!(na.uri, "sip:1001@h");
        assert_eq!(na.param("+sip.instance"), Some(Some("<urn:uuid:1>")));
    }

    #[test]
    fn broken_values_are_errors() {
        assert_eq!(parse_name_addr(""), Err(AddrError::Empty));
        assert_eq!(
            parse_name_addr("<sip:a@b"),
            Err(AddrError::UnterminatedBracket)
        );
        assert_eq!(
            parse_name_addr("\"a <sip:a@b>"),
            Err(AddrError::UnterminatedQuote)
        );
        assert_eq!(parse_name_addr("<sip:a@b> x"), Err(AddrError::TrailingText));
        assert_eq!(parse_name_addr("<sip:a@b>;=1"), Err(AddrError::BadParam));
        assert_eq!(parse_name_addr("<>"), Err(AddrError::BadUri));
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        let c = parse_contacts([
            "\"a, b\" <sip:x@y;p=1,2>;+sip.instance=\"<urn:a,b>\", <sip:z@w>",
            "sip:q@r;expires=5",
        ])
        .unwrap();
        let Contacts::List(l) = c else { panic!() };
        let uris: Vec<&str> = l.iter().map(|n| n.uri.as_str()).collect();
        assert_eq!(uris, vec!["sip:x@y;p=1,2", "sip:z@w", "sip:q@r"]);
        assert_eq!(parse_contacts(["*"]).unwrap(), Contacts::Wildcard);
        assert!(parse_contacts(["*, <sip:a@b>"]).is_err());
        assert!(parse_contacts(["<http://x>"]).is_err());
    }

    #[test]
    fn uri_comparison() {
        assert!(same_uri("sip:1001@HOST:5060", "sip:1001@host:5060"));
        assert!(!same_uri("sip:1001@host", "sip:1001@host:5060"));
        assert!(!same_uri("sip:1001@h;transport=tcp", "sip:1001@h"));
        assert!(same_uri(
            "sip:1001@h;transport=UDP",
            "sip:1001@h;transport=udp"
        ));
        assert!(same_uri("sip:1001@h;x=1", "sip:1001@h"));
        assert!(!same_uri("sip:1001@h;x=1", "sip:1001@h;x=2"));
        assert!(!same_uri("sip:1001@h", "sip:1002@h"));
        assert_eq!(
            parse_uri("sip:[::1]:5070;transport=tcp").unwrap().ip(),
            Some("::1".parse().unwrap())
        );
    }

    #[test]
    fn via_values() {
        let v =
            parse_via("SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1;rport, SIP/2.0/TCP h").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].transport, "UDP");
        assert_eq!(v[0].host, "10.0.0.2");
        assert_eq!(v[0].port, Some(5062));
        assert_eq!(v[0].param("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(v[0].param("rport"), Some(None));
        assert_eq!(v[1].port, None);
        assert!(parse_via("SIP/2.0 h").is_err());
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9+.!%*_`'~-]{1,12}"
    }

    fn param() -> impl Strategy<Value = Param> {
        (
            token(),
            prop_oneof![
                Just(None),
                "[a-zA-Z0-9.:_-]{1,10}".prop_map(|v| Some((v, false))),
                "[ -~]{0,16}".prop_map(|v| Some((v, true))),
            ],
        )
            .prop_map(|(name, v)| Param {
                name,
                quoted: v.as_ref().is_some_and(|x| x.1),
                value: v.map(|x| x.0),
            })
    }

    fn name_addr() -> impl Strategy<Value = NameAddr> {
        (
            proptest::option::of("[ -~]{0,16}"),
            "sip:[a-z0-9]{1,6}@[a-z0-9.]{1,10}(:[0-9]{1,4})?(;[a-z]{1,5}=[a-z0-9]{1,5}){0,2}",
            proptest::collection::vec(param(), 0..4),
        )
            .prop_map(|(display, uri, params)| NameAddr {
                display,
                uri,
                params,
            })
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = parse_name_addr(&s);
            let _ = parse_contacts([s.as_str()]);
            let _ = parse_via(&s);
            let _ = parse_uri(&s);
            let _ = same_uri(&s, "sip:a@b");
        }

        #[test]
        fn never_panics_on_sip_like_text(s in "[<>\";=,\\\\ a-z:@0-9.]{0,40}") {
            let _ = parse_name_addr(&s);
            let _ = parse_contacts([s.as_str()]);
            let _ = parse_via(&s);
        }

        #[test]
        fn written_addresses_read_back(na in name_addr()) {
            let text = na.to_string();
            prop_assert_eq!(parse_name_addr(&text).unwrap(), na);
        }

        #[test]
        fn lists_read_back(list in proptest::collection::vec(name_addr(), 1..4)) {
            let text = list.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(parse_contacts([text.as_str()]).unwrap(), Contacts::List(list));
        }
    }
}
