//! `;name=value` parameter lists, stored as their raw text and scanned on lookup.
//!
//! Keeping the raw text makes the borrowed form zero-copy; lookups are linear, which beats a map
//! for the handful of parameters SIP values carry.

use std::fmt;

use super::error::{UriError, ValueError};
use super::text::{self, is_token, trim_lws};

/// A parameter list: the text after the first `;` (without it). Empty means no parameters.
/// Names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params<S = String> {
    raw: S,
}

/// Borrowed parameter list.
pub type ParamsRef<'a> = Params<&'a str>;

impl<S: AsRef<str>> Params<S> {
    /// Wraps raw parameter text (after the leading `;`), unchecked.
    pub fn from_raw(raw: S) -> Self {
        Params { raw }
    }

    /// The raw text (without the leading `;`).
    pub fn as_str(&self) -> &str {
        self.raw.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.as_ref().is_empty()
    }

    /// Iterates `(name, value)` pairs, LWS-trimmed; `value` is `None` for a flag parameter.
    /// Quoted values are returned with their quotes.
    pub fn iter(&self) -> ParamIter<'_> {
        ParamIter::new(self.raw.as_ref())
    }

    /// `Some(Some(v))` for `name=v`, `Some(None)` for a bare `name`, `None` if absent.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of `name` (quotes removed for quoted strings); `None` if absent or valueless.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.param(name).flatten().map(strip_quotes)
    }

    /// True when `name` is present with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// Copies into an owned list, normalising LWS away (`; a = b` becomes `a=b`).
    pub fn to_owned_params(&self) -> Params<String> {
        let mut out = Params::<String>::default();
        for (n, v) in self.iter() {
            out.push(n, v);
        }
        out
    }

    pub(crate) fn validate_generic(&self) -> Result<(), ValueError> {
        self.validate_generic_with(|_, _| true)
    }

    /// Generic-param syntax plus `extra(name, value)` for parameters with defined values.
    pub(crate) fn validate_generic_with(
        &self,
        extra: impl Fn(&str, Option<&str>) -> bool,
    ) -> Result<(), ValueError> {
        for (n, v) in self.iter() {
            if !is_token(n) {
                return Err(ValueError::BadParam);
            }
            if let Some(v) = v {
                check_gen_value(v)?;
            }
            if !extra(n, v) {
                return Err(ValueError::BadParamValue);
            }
        }
        Ok(())
    }

    pub(crate) fn validate_uri(&self) -> Result<(), UriError> {
        for (n, v) in self.iter() {
            if n.is_empty() || text::check_escaped(n, is_param_char).is_err() {
                return Err(UriError::BadParam);
            }
            if let Some(v) = v
                && (v.is_empty() || text::check_escaped(v, is_param_char).is_err())
            {
                return Err(UriError::BadParam);
            }
        }
        Ok(())
    }
}

/// Removes surrounding quotes of a quoted-string value (escapes are left as is).
pub(crate) fn strip_quotes(v: &str) -> &str {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// `gen-value = token / host / quoted-string`.
fn check_gen_value(v: &str) -> Result<(), ValueError> {
    let b = v.as_bytes();
    if b.first() == Some(&b'"') {
        return match text::quoted_end(b) {
            Some(n) if n == b.len() => Ok(()),
            Some(_) => Err(ValueError::BadParamValue),
            None => Err(ValueError::UnterminatedQuote),
        };
    }
    if !v.is_empty()
        && b.iter()
            .all(|&c| text::is_token_char(c) || matches!(c, b'[' | b']' | b':'))
    {
        Ok(())
    } else {
        Err(ValueError::BadParamValue)
    }
}

/// `paramchar` without the escape: param-unreserved / unreserved.
pub(crate) fn is_param_char(b: u8) -> bool {
    static PARAM: [bool; 256] = text::class_table(true, b"[]/:&+$");
    PARAM[b as usize]
}

impl Params<String> {
    /// Appends `;name[=value]`.
    pub fn push(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if !self.raw.is_empty() {
            self.raw.push(';');
        }
        self.raw.push_str(name);
        if let Some(v) = value {
            self.raw.push('=');
            self.raw.push_str(v);
        }
        self
    }

    /// Removes every parameter called `name`.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        let mut out = Params::<String>::default();
        for (n, v) in self.iter().filter(|(n, _)| !n.eq_ignore_ascii_case(name)) {
            out.push(n, v);
        }
        *self = out;
        self
    }

    /// Replaces (or adds) `name`.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        self.remove(name);
        self.push(name, value)
    }
}

impl<'a> Params<&'a str> {
    /// Lifetime-preserving lookup for borrowed lists.
    pub fn get_ref(&self, name: &str) -> Option<&'a str> {
        ParamIter::new(self.raw)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v)
            .map(strip_quotes)
    }
}

/// Writes `;raw` (nothing for an empty list).
impl<S: AsRef<str>> fmt::Display for Params<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.raw.as_ref();
        if r.is_empty() { Ok(()) } else { write!(f, ";{r}") }
    }
}

/// Iterator over `(name, value)` pairs of a [`Params`].
pub struct ParamIter<'a> {
    rest: Option<&'a str>,
}

impl<'a> ParamIter<'a> {
    fn new(raw: &'a str) -> Self {
        ParamIter {
            rest: if raw.is_empty() { None } else { Some(raw) },
        }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.rest?;
        let b = r.as_bytes();
        // One scan for the end of this parameter (';' outside quotes) and its first '='.
        let mut eq = None;
        let mut i = 0;
        let end = loop {
            match b.get(i) {
                None => break None,
                Some(b';') => break Some(i),
                Some(b'=') if eq.is_none() => eq = Some(i),
                Some(b'"') => match text::quoted_end(&b[i..]) {
                    Some(n) => {
                        i += n;
                        continue;
                    }
                    // An unterminated quote swallows the rest: validation reports it.
                    None => break None,
                },
                _ => {}
            }
            i += 1;
        };
        let item = match end {
            Some(e) => {
                // A trailing ';' leaves "" behind, yielded as an empty item for validation.
                self.rest = Some(&r[e + 1..]);
                &r[..e]
            }
            None => {
                self.rest = None;
                r
            }
        };
        let (n, v) = match eq {
            Some(q) if q < item.len() => (trim_lws(&item[..q]), Some(trim_lws(&item[q + 1..]))),
            _ => (trim_lws(item), None),
        };
        Some((n, v))
    }
}
