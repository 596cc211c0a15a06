use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// A string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {why}")]
pub struct ParseIdError {
    kind: &'static str,
    input: String,
    why: String,
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// A ULID: 48 bits of milliseconds since the Unix epoch, then 80 random bits, so ids
        /// sort by creation time. Written as 26 Crockford base-32 characters.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            /// A fresh id from the system clock and the thread's random generator.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(Ulid::generate())
            }

            /// A deterministic id (simulators, tests): the millisecond part and the random
            /// part (only its low 80 bits are used).
            pub fn from_parts(unix_ms: u64, random: u128) -> Self {
                $name(Ulid::from_parts(unix_ms, random))
            }

            /// The 128-bit value.
            pub fn as_u128(self) -> u128 {
                self.0.0
            }

            /// From the 128-bit value.
            pub fn from_u128(v: u128) -> Self {
                $name(Ulid(v))
            }

            /// Milliseconds since the Unix epoch at creation.
            pub fn unix_ms(self) -> u64 {
                self.0.timestamp_ms()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ulid::from_string(s).map($name).map_err(|e| ParseIdError {
                    kind: $kind,
                    input: s.chars().take(64).collect(),
                    why: e.to_string(),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(
    /// One interaction (a call, chat, email, ...), from arrival to survey.
    InteractionId,
    "interaction id"
);
ulid_id!(
    /// One event; unique across the log.
    EventId,
    "event id"
);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string.
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            /// The string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An agent, by extension (`"1001"`).
    AgentId
);
string_id!(
    /// A queue, by name (`"complaints"`).
    QueueName
);
string_id!(
    /// A customer, by the bank's customer number.
    CustomerId
);

/// Position of an event in the log: 1, 2, 3, ... without gaps, assigned by the store on
/// append. `Seq(0)` means "not yet appended".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// Not yet appended.
    pub const UNASSIGNED: Seq = Seq(0);

    /// Whether this is [`Seq::UNASSIGNED`].
    pub fn is_unassigned(&self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulid_ids_sort_by_time_and_round_trip_as_strings() {
        let a = InteractionId::from_parts(1_000, u128::MAX);
        let b = InteractionId::from_parts(1_001, 0);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json.len(), 28);
        assert_eq!(serde_json::from_str::<InteractionId>(&json).unwrap(), a);
        assert_eq!(a.unix_ms(), 1_000);
        assert!("not-an-id".parse::<InteractionId>().is_err());
        assert!(serde_json::from_str::<EventId>("\"\"").is_err());
    }

    #[test]
    fn string_ids_are_plain_strings_in_json() {
        let a = AgentId::from("1001");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1001\"");
        assert_eq!(serde_json::to_string(&Seq(7)).unwrap(), "7");
    }
}
