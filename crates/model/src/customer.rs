use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// A customer of the bank, as the agent desktop and the contact flow see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    /// Normalised numbers (see [`normalize_phone`]).
    #[serde(default)]
    pub phones: Vec<String>,
    /// Account numbers.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// E-mail addresses (see [`normalize_email`]), by which a chat or an e-mail finds the
    /// customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default)]
    pub vip: bool,
    /// Preferred language as a BCP 47 tag (`"en"`, `"zh-CN"`).
    #[serde(default)]
    pub language: Option<String>,
    /// The telephone-banking PIN as an argon2 PHC string (never the PIN itself), for the
    /// contact flows' `authenticate` step. Kept in the log; the API never shows it
    /// (see [`Customer::redacted`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_hash: Option<String>,
}

impl Customer {
    /// The customer as the API shows it: without the PIN hash.
    pub fn redacted(mut self) -> Customer {
        self.pin_hash = None;
        self
    }
}

/// Normalises a phone number for lookups: accepts `+44 (20) 7946-0018`, `tel:+4420...` or
/// `sip:+4420...@host;user=phone`, keeps a leading `+` and the digits. `None` if what is
/// left is not 3 to 20 digits.
pub fn normalize_phone(input: &str) -> Option<String> {
    let mut s = input.trim();
    for scheme in ["sips:", "sip:", "tel:"] {
        // `get` rather than an index: the input is outside text, and a cut inside a
        // multi-byte character must be a non-match, not a panic.
        if let Some(head) = s.get(..scheme.len())
            && head.eq_ignore_ascii_case(scheme)
        {
            s = &s[scheme.len()..];
            break;
        }
    }
    let s = s.split(['@', ';']).next().unwrap_or("");
    let mut out = String::with_capacity(s.len());
    let mut digits = 0usize;
    for (i, c) in s.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => {
                digits += 1;
                out.push(c);
            }
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (3..=20).contains(&digits).then_some(out)
}

/// Normalises an e-mail address for lookups: trimmed, a display name and angle brackets
/// (`Mei <mei@example.com>`) and a `mailto:` dropped, lower-cased. `None` unless it is one
/// `local@domain` of at most 254 bytes with a dot-free-or-dotted domain and no spaces.
pub fn normalize_email(input: &str) -> Option<String> {
    let mut s = input.trim();
    if let (Some(a), Some(b)) = (s.rfind('<'), s.rfind('>'))
        && a < b
    {
        s = &s[a + 1..b];
    }
    let s = s.trim();
    let s = s
        .get(..7)
        .filter(|h| h.eq_ignore_ascii_case("mailto:"))
        .map_or(s, |_| &s[7..]);
    let (local, domain) = s.rsplit_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && s.len() <= 254
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !local.contains('@');
    ok.then(|| s.to_lowercase())
}

/// Whether an interaction is a complaint: it was queued to `complaints`, or its disposition
/// starts with `complaint` (any case).
pub fn is_complaint(queue: Option<&str>, disposition: Option<&str>) -> bool {
    queue == Some("complaints")
        || disposition.is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("complaint"))
}

/// Whether a disposition says the matter was resolved: it is `resolved` or ends in a word
/// `resolved` (`complaint_resolved`, `complaint: resolved`), any case. `unresolved` and
/// `complaint_unresolved` are not.
pub fn is_resolved_disposition(disposition: &str) -> bool {
    disposition
        .rsplit(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .is_some_and(|w| w.eq_ignore_ascii_case("resolved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise() {
        assert_eq!(
            normalize_phone("+44 (20) 7946-0018").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            normalize_phone("sip:+8613800000000@10.0.0.1;user=phone").as_deref(),
            Some("+8613800000000")
        );
        assert_eq!(normalize_phone("TEL:95588").as_deref(), Some("95588"));
        assert_eq!(normalize_phone("12"), None);
        assert_eq!(normalize_phone("1+2345"), None);
        assert_eq!(normalize_phone("abc123"), None);
        assert_eq!(normalize_phone(""), None);
        assert_eq!(normalize_phone("123456789012345678901"), None);
    }

    #[test]
    fn multi_byte_text_is_refused_not_cut() {
        // A cut inside a multi-byte character once panicked here.
        assert_eq!(normalize_phone("0\u{10000}"), None);
        assert_eq!(normalize_phone("12中文"), None);
        assert_eq!(normalize_phone("中文"), None);
        assert_eq!(normalize_phone("s\u{e9}p:123"), None);
        assert_eq!(normalize_phone("\u{10000}ip:123"), None);
        assert_eq!(normalize_phone("TEL:１２３"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any Unicode at all: no panic, and what comes out is a plain number.
        #[test]
        fn any_unicode_normalises_without_panic(s in "\\PC*", prefix in "(sip:|tel:|sips:|SIP:|)") {
            for input in [s.clone(), format!("{prefix}{s}"), format!("{s}@host;user=phone")] {
                if let Some(n) = normalize_phone(&input) {
                    let digits = n.trim_start_matches('+');
                    proptest::prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{n}");
                    proptest::prop_assert!((3..=20).contains(&digits.len()));
                    // Normalising twice changes nothing.
                    proptest::prop_assert_eq!(normalize_phone(&n), Some(n.clone()));
                }
            }
        }

        /// Digits mixed with arbitrary characters of any width.
        #[test]
        fn digits_with_multi_byte_characters(d in "[0-9]{0,6}", c in proptest::char::any(), e in "[0-9]{0,6}") {
            let input = format!("{d}{c}{e}");
            let _ = normalize_phone(&input);
            let _ = normalize_phone(&format!("sip:{input}@h"));
            let _ = is_complaint(Some(&input), Some(&input));
            let _ = is_resolved_disposition(&input);
        }
    }

    #[test]
    fn complaints_and_resolution() {
        assert!(is_complaint(Some("complaints"), None));
        assert!(is_complaint(Some("cards"), Some("Complaint: fees")));
        assert!(!is_complaint(Some("cards"), Some("resolved")));
        assert!(!is_complaint(None, None));
        assert!(is_resolved_disposition("resolved"));
        assert!(is_resolved_disposition("complaint_resolved"));
        assert!(is_resolved_disposition("Complaint: RESOLVED "));
        assert!(!is_resolved_disposition("unresolved"));
        assert!(!is_resolved_disposition("complaint_unresolved"));
        assert!(!is_resolved_disposition("resolved later? no"));
        assert!(!is_resolved_disposition(""));
    }
}

#[cfg(test)]
mod email_tests {
    use super::normalize_email;

    #[test]
    fn addresses_are_found_in_any_form_and_junk_is_not_an_address() {
        for (input, want) in [
            ("Mei.Lin@Example.COM", Some("mei.lin@example.com")),
            ("  Mei Lin <mei@example.com> ", Some("mei@example.com")),
            ("mailto:Mei@example.com", Some("mei@example.com")),
            ("张三@例子.中国", Some("张三@例子.中国")),
            ("no-at-sign", None),
            ("@example.com", None),
            ("mei@", None),
            ("mei@.example", None),
            ("a b@example.com", None),
            ("a@b@c", None),
        ] {
            assert_eq!(normalize_email(input).as_deref(), want, "{input}");
        }
        assert_eq!(normalize_email(&format!("{}@x.io", "a".repeat(260))), None);
    }
}
