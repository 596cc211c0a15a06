//! Calls out through a carrier trunk: where they go, how the dialled number is written
//! (E.164), which identity they present, and the credentials answering the carrier's
//! digest challenges.
//!
//! The carrier password is read from the environment variable the trunk names, never from
//! the configuration file. (Unlike the agents' and inbound trunks' secrets, it cannot be
//! stored as an HA1 digest: the carrier's challenge may use either MD5 or SHA-256 and its
//! own realm, and the digest is computed from the password.)

use std::net::SocketAddr;

use hotline_sip::calls::DialOptions;

/// How dialled numbers become E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// Country calling code, e.g. `86`; without one, numbers are sent as dialled.
    pub country_code: Option<String>,
    /// Starts a national number (`0` in `010 9558 8000`).
    pub national_prefix: String,
    /// Starts an international number (`00` in `0044 20 7946 0000`).
    pub international_prefix: String,
}

/// Why a dialled number cannot be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNumber(pub String);

impl std::fmt::Display for BadNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Numbers shorter than this without any prefix are short codes (`95588`, `110`) and are
/// sent as dialled.
const SHORT_CODE_MAX_DIGITS: usize = 6;

impl Numbering {
    /// The number in E.164 form (`+8613800138000`), or a short code as dialled.
    pub fn e164(&self, dialled: &str) -> Result<String, BadNumber> {
        let cleaned: String = dialled
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let (plus, digits) = match cleaned.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadNumber(format!("`{dialled}` is not a telephone number")));
        }
        let international = if plus {
            digits.to_string()
        } else if !self.international_prefix.is_empty()
            && let Some(rest) = digits.strip_prefix(self.international_prefix.as_str())
        {
            rest.to_string()
        } else if let Some(cc) = &self.country_code {
            if !self.national_prefix.is_empty()
                && let Some(rest) = digits.strip_prefix(self.national_prefix.as_str())
            {
                format!("{cc}{rest}")
            } else if digits.len() <= SHORT_CODE_MAX_DIGITS {
                return Ok(digits.to_string());
            } else {
                format!("{cc}{digits}")
            }
        } else {
            return Ok(digits.to_string());
        };
        if !(7..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(BadNumber(format!(
                "`{dialled}` does not make an E.164 number (+{international})"
            )));
        }
        Ok(format!("+{international}"))
    }
}

/// The trunk calls out go through.
#[derive(Clone)]
pub struct OutboundTrunk {
    pub name: String,
    pub address: SocketAddr,
    pub numbering: Numbering,
    /// The From user presented; the service number the caller dialled when absent.
    pub caller_id: Option<String>,
    pub asserted_identity: Option<String>,
    /// User name and password for the carrier's challenges.
    pub credential: Option<(String, String)>,
    /// Register with the carrier, for this many seconds at a time.
    pub register: Option<u32>,
}

/// Never shows the password.
impl std::fmt::Debug for OutboundTrunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundTrunk")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("numbering", &self.numbering)
            .field("caller_id", &self.caller_id)
            .field("asserted_identity", &self.asserted_identity)
            .field("user", &self.credential.as_ref().map(|(u, _)| u))
            .field("register", &self.register)
            .finish()
    }
}

impl OutboundTrunk {
    /// The configured trunk with an `outbound` address, its password taken from the
    /// environment through `env`. An error names what is missing.
    pub fn from_config(
        cfg: &hotline_config::Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OutboundTrunk>, String> {
        let Some(t) = cfg.outbound_trunk() else {
            return Ok(None);
        };
        let Some(address) = t
            .outbound
            .as_ref()
            .and_then(|o| o.get_ref().parse::<SocketAddr>().ok())
        else {
            return Ok(None);
        };
        let credential = match (&t.outbound_username, &t.outbound_password_env) {
            (Some(user), Some(var)) => {
                let password = env(var).filter(|p| !p.is_empty()).ok_or_else(|| {
                    format!(
                        "trunk {}: the environment variable {var} (outbound_password_env) is not set",
                        t.name
                    )
                })?;
                Some((user.clone(), password))
            }
            _ => None,
        };
        Ok(Some(OutboundTrunk {
            name: t.name.clone(),
            address,
            numbering: Numbering {
                country_code: t.country_code.clone(),
                national_prefix: t.national_prefix.clone(),
                international_prefix: t.international_prefix.clone(),
            },
            caller_id: t.caller_id.clone(),
            asserted_identity: t.asserted_identity.clone(),
            credential,
            register: t.register.then_some(t.register_expires.max(60)),
        }))
    }

    /// The Request-URI for a dialled number.
    pub fn target(&self, dialled: &str) -> Result<String, BadNumber> {
        Ok(format!(
            "sip:{}@{}",
            self.numbering.e164(dialled)?,
            self.address
        ))
    }

    /// How a call out presents itself; `fallback_from` (the number the caller had dialled)
    /// when the trunk sets no caller id.
    pub fn dial_options(&self, fallback_from: &str) -> DialOptions {
        DialOptions {
            from_user: self
                .caller_id
                .clone()
                .unwrap_or_else(|| fallback_from.to_string()),
            asserted_identity: self.asserted_identity.clone(),
            credential: self.credential.clone(),
            route: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn china() -> Numbering {
        Numbering {
            country_code: Some("86".into()),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }

    #[test]
    fn dialled_numbers_become_e164() {
        let n = china();
        assert_eq!(n.e164("13800138000").unwrap(), "+8613800138000");
        assert_eq!(n.e164("010 9558 8000").unwrap(), "+861095588000");
        assert_eq!(n.e164("0044 20 7946 0000").unwrap(), "+442079460000");
        assert_eq!(n.e164("+44 (20) 7946-0000").unwrap(), "+442079460000");
        assert_eq!(n.e164("+8613800138000").unwrap(), "+8613800138000");
        // Short codes go as dialled.
        assert_eq!(n.e164("95588").unwrap(), "95588");
        assert!(n.e164("12a45").is_err());
        assert!(n.e164("").is_err());
        assert!(n.e164("+12").is_err());
        assert!(n.e164("+1234567890123456").is_err());
        assert!(n.e164("000123456789").is_err());
    }

    #[test]
    fn without_a_country_code_numbers_go_as_dialled() {
        let n = Numbering {
            country_code: None,
            ..china()
        };
        assert_eq!(n.e164("13800138000").unwrap(), "13800138000");
        assert_eq!(n.e164("0044 20 7946 0000").unwrap(), "+442079460000");
    }

    #[test]
    fn the_trunk_presents_its_caller_id_and_needs_its_password() {
        let text = format!(
            "{}\n[[trunks]]\nname = \"out\"\nsources = [\"198.51.100.0/24\"]\noutbound = \"198.51.100.2:5060\"\noutbound_username = \"hotline\"\noutbound_password_env = \"CARRIER_PW\"\ncaller_id = \"+861095588\"\nasserted_identity = \"+861095588\"\ncountry_code = \"86\"\n",
            hotline_config::DEMO_TOML.replace(
                "[[trunks]]\nname = \"carrier\"\nsources = [\"127.0.0.1/32\"]\n",
                ""
            )
        );
        let cfg = hotline_config::Config::from_toml("t.toml", &text).unwrap();
        let err = OutboundTrunk::from_config(&cfg, |_| None).unwrap_err();
        assert!(err.contains("CARRIER_PW"), "{err}");
        let t = OutboundTrunk::from_config(&cfg, |v| (v == "CARRIER_PW").then(|| "s3cret".into()))
            .unwrap()
            .unwrap();
        assert_eq!(
            t.target("13800138000").unwrap(),
            "sip:+8613800138000@198.51.100.2:5060"
        );
        assert!(!format!("{t:?}").contains("s3cret"), "{t:?}");
        let o = t.dial_options("95588");
        assert_eq!(o.from_user, "+861095588");
        assert_eq!(o.asserted_identity.as_deref(), Some("+861095588"));
        assert_eq!(
            o.credential,
            Some(("hotline".to_string(), "s3cret".to_string()))
        );
    }
}
