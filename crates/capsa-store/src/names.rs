//! Validated names of the registry: function names, aliases and the references that combine them.
//!
//! Every name is checked once, when it is parsed, and is safe from then on to put in a file path, an
//! SQL parameter, a Redis key or a URL path segment: it holds only `a-z`, `0-9`, `-` and `_`.

use std::fmt;
use std::str::FromStr;

/// Longest function name or alias, in characters (all ASCII, so also in bytes).
const MAX_NAME_LEN: usize = 64;

/// The rule both kinds of name share, for error messages.
const CHARSET_RULE: &str = "use 1-64 lowercase letters, digits, '-' or '_'";

/// The implicit alias of the newest version.
const LATEST: &str = "latest";

/// Why a function name, alias, version or reference was refused: one line naming the bad input and the
/// rule it breaks, e.g. ``invalid function name `../x`: use 1-64 lowercase letters, digits, '-' or '_',
/// starting with a letter or digit``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// The input as it goes into an error message: control characters escaped so the message stays on one
/// line, and cut short so a huge input does not make a huge message.
pub(crate) fn shown(input: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 80;
    let mut out: String = input
        .chars()
        .take(MAX_SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if input.chars().nth(MAX_SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Whether `s` has the shared shape: 1–64 of `a-z 0-9 - _`, the first passing `first`.
fn well_formed(s: &str, first: impl Fn(u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    let Some(&head) = bytes.first() else {
        return false;
    };
    bytes.len() <= MAX_NAME_LEN
        && first(head)
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Implements the string plumbing shared by [`FunctionName`] and [`AliasName`]: `Display`,
/// `AsRef<str>`, `as_str`, `FromStr`, `TryFrom<&str>`/`TryFrom<String>` and `From<Self> for String`
/// (the last three make serde round-trip through a validated string).
macro_rules! name_type {
    ($ty:ident) => {
        impl $ty {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, NameError> {
                $ty::check(s)?;
                Ok($ty(s.to_owned()))
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = NameError;

            fn try_from(s: &str) -> Result<Self, NameError> {
                s.parse()
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, NameError> {
                $ty::check(&s)?;
                Ok($ty(s))
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }
    };
}

/// A function name: 1–64 characters of lowercase ASCII letters, digits, `-` and `_`, starting with a
/// letter or digit (so never `.`, `..`, a path or anything that needs escaping).
///
/// Parse one with [`str::parse`] or `TryFrom`; serde (de)serializes it as a string and refuses an
/// invalid one.
///
/// ```
/// use capsa_store::FunctionName;
///
/// let name: FunctionName = "hello-world".parse().unwrap();
/// assert_eq!(name.as_str(), "hello-world");
/// assert!("../etc".parse::<FunctionName>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionName(String);

impl FunctionName {
    fn check(s: &str) -> Result<(), NameError> {
        if well_formed(s, |b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(NameError(format!(
                "invalid function name `{}`: {CHARSET_RULE}, starting with a letter or digit",
                shown(s)
            )))
        }
    }
}

name_type!(FunctionName);

/// An alias of a function version (`canary`, `prod`): the characters of a [`FunctionName`], but
/// starting with a letter, so that it never looks like a version number, and never `latest`, which
/// always means the newest version.
///
/// ```
/// use capsa_store::AliasName;
///
/// assert!("canary".parse::<AliasName>().is_ok());
/// assert!("3".parse::<AliasName>().is_err());
/// assert!("latest".parse::<AliasName>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    fn check(s: &str) -> Result<(), NameError> {
        if s == LATEST {
            return Err(NameError(format!(
                "invalid alias `{LATEST}`: it is reserved for the newest version"
            )));
        }
        if well_formed(s, |b| b.is_ascii_lowercase()) {
            Ok(())
        } else {
            Err(NameError(format!(
                "invalid alias `{}`: {CHARSET_RULE}, starting with a letter",
                shown(s)
            )))
        }
    }
}

name_type!(AliasName);

/// What a reference selects after the `@`: the newest version, a version number or an alias.
///
/// Parsed from `latest`, a decimal number from 1 to 2⁶⁴−1 without leading zeros, or an
/// [`AliasName`]; displayed the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The highest version number the function has.
    Latest,
    /// This version number (1 or more).
    Version(u64),
    /// The version this alias points at.
    Alias(AliasName),
}

impl FromStr for Selector {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        if s == LATEST {
            return Ok(Selector::Latest);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(Selector::Alias);
        }
        // One spelling per version, so that a reference displays as it was written.
        if s.starts_with('0') {
            let rule = if s.bytes().all(|b| b == b'0') {
                "versions start at 1"
            } else {
                "write it without leading zeros"
            };
            return Err(NameError(format!("invalid version `{}`: {rule}", shown(s))));
        }
        s.parse().map(Selector::Version).map_err(|_| {
            NameError(format!(
                "invalid version `{}`: the largest is {}",
                shown(s),
                u64::MAX
            ))
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Latest => f.write_str(LATEST),
            Selector::Version(version) => write!(f, "{version}"),
            Selector::Alias(alias) => f.write_str(alias.as_str()),
        }
    }
}

/// A reference to a function version: `name` (the newest version), `name@latest`, `name@3` or
/// `name@canary`.
///
/// Displays as it parses, except that `name@latest` displays as plain `name`.
///
/// ```
/// use capsa_store::{FunctionRef, Selector};
///
/// let r: FunctionRef = "hello@3".parse().unwrap();
/// assert_eq!(r.name.as_str(), "hello");
/// assert_eq!(r.selector, Selector::Version(3));
/// assert_eq!("hello".parse::<FunctionRef>().unwrap().selector, Selector::Latest);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function.
    pub name: FunctionName,
    /// Which of its versions.
    pub selector: Selector,
}

impl FromStr for FunctionRef {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        let (name, selector) = s.split_once('@').unwrap_or((s, LATEST));
        let name = name.parse()?;
        if selector.is_empty() {
            return Err(NameError(format!(
                "invalid reference `{}`: put `latest`, a version or an alias after '@'",
                shown(s)
            )));
        }
        Ok(FunctionRef {
            name,
            selector: selector.parse()?,
        })
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Latest => write!(f, "{}", self.name),
            selector => write!(f, "{}@{selector}", self.name),
        }
    }
}
