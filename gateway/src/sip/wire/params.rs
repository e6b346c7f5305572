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
        if let Some(p) = plain_param(self.raw.as_ref(), name) {
            return p;
        }
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
        if plain_generic(self.raw.as_ref(), &extra) {
            return Ok(());
        }
        self.validate_generic_full(extra)
    }

    /// [`Params::validate_generic_with`] for any list (quotes, LWS, empty items).
    fn validate_generic_full(&self, extra: impl Fn(&str, Option<&str>) -> bool) -> Result<(), ValueError> {
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
        if plain_list(self.raw.as_ref(), is_param_char, is_param_char, &|_, _| true) {
            return Ok(());
        }
        self.validate_uri_full()
    }

    /// [`Params::validate_uri`] for any list.
    fn validate_uri_full(&self) -> Result<(), UriError> {
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

/// One pass over a list without quotes, LWS or escapes: `name[=value]` items separated by
/// single `;`, names and values non-empty runs of `name_ok` / `value_ok` bytes, `extra` true for
/// each. True means the list is valid; false only means it needs the full check (which may
/// still accept it).
#[inline]
fn plain_list(
    raw: &str,
    name_ok: impl Fn(u8) -> bool,
    value_ok: impl Fn(u8) -> bool,
    extra: &impl Fn(&str, Option<&str>) -> bool,
) -> bool {
    let b = raw.as_bytes();
    if b.is_empty() {
        return true;
    }
    let mut i = 0;
    loop {
        let ns = i;
        i = text::skip_while(b, i, &name_ok);
        if i == ns {
            return false;
        }
        let name = &raw[ns..i];
        let value = if b.get(i) == Some(&b'=') {
            i += 1;
            let vs = i;
            i = text::skip_while(b, i, &value_ok);
            if i == vs {
                return false;
            }
            Some(&raw[vs..i])
        } else {
            None
        };
        if !extra(name, value) {
            return false;
        }
        match b.get(i) {
            None => return true,
            Some(b';') => i += 1,
            Some(_) => return false,
        }
    }
}

/// [`plain_list`] for generic-params: token names, token/host values or quoted strings without
/// quoted-pairs (`"<urn:uuid:...>"`), passed to `extra` with their quotes.
#[inline]
pub(crate) fn plain_generic(raw: &str, extra: &impl Fn(&str, Option<&str>) -> bool) -> bool {
    static GEN_VALUE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~' | b'[' | b']' | b':'
                );
            i += 1;
        }
        t
    };
    let b = raw.as_bytes();
    if b.is_empty() {
        return true;
    }
    let mut i = 0;
    loop {
        let ns = i;
        i = text::skip_while(b, i, text::is_token_char);
        if i == ns {
            return false;
        }
        let name = &raw[ns..i];
        let value = if b.get(i) == Some(&b'=') {
            i += 1;
            let vs = i;
            if b.get(i) == Some(&b'"') {
                i += 1;
                i = text::skip_while(b, i, |c| c != b'"' && c != b'\\');
                if b.get(i) != Some(&b'"') {
                    return false;
                }
                i += 1;
            } else {
                i = text::skip_while(b, i, |c| GEN_VALUE[c as usize]);
                if i == vs {
                    return false;
                }
            }
            Some(&raw[vs..i])
        } else {
            None
        };
        if !extra(name, value) {
            return false;
        }
        match b.get(i) {
            None => return true,
            Some(b';') => i += 1,
            Some(_) => return false,
        }
    }
}

/// The lookup of `name` in one pass while the items it passes are `token[=value]` without
/// quotes or LWS: `Some(answer)` is exactly what the search through [`ParamIter`] gives, `None`
/// means that search must decide.
#[inline]
fn plain_param<'a>(raw: &'a str, name: &str) -> Option<Option<Option<&'a str>>> {
    /// Bytes that end a plain value or need [`ParamIter`]: `;`, `"` and LWS.
    static VALUE_END: [bool; 256] = {
        let mut t = [false; 256];
        t[b';' as usize] = true;
        t[b'"' as usize] = true;
        t[b' ' as usize] = true;
        t[b'\t' as usize] = true;
        t[b'\r' as usize] = true;
        t[b'\n' as usize] = true;
        t
    };
    let b = raw.as_bytes();
    if b.is_empty() {
        return Some(None);
    }
    let nb = name.as_bytes();
    let mut i = 0;
    loop {
        // The item sought is often the first: try `name=` / `name;` / `name` at the item start.
        if let Some(cand) = b.get(i..i + nb.len())
            && cand
                .iter()
                .zip(nb)
                .all(|(&x, &y)| x == y || x.eq_ignore_ascii_case(&y))
        {
            let j = i + nb.len();
            match b.get(j) {
                Some(b'=') => {
                    let mut k = j + 1;
                    k = text::skip_while(b, k, |c| !VALUE_END[c as usize]);
                    return match b.get(k) {
                        None | Some(b';') => Some(Some(Some(&raw[j + 1..k]))),
                        _ => None,
                    };
                }
                None | Some(b';') => return Some(Some(None)),
                // A longer name (or something for the iterator to judge): go on below.
                _ => {}
            }
        }
        let ns = i;
        i = text::skip_while(b, i, text::is_token_char);
        let ne = i;
        let value = match b.get(i) {
            Some(b'=') => {
                i += 1;
                let vs = i;
                i = text::skip_while(b, i, |c| !VALUE_END[c as usize]);
                match b.get(i) {
                    None | Some(b';') => Some(&raw[vs..i]),
                    _ => return None,
                }
            }
            None | Some(b';') => None,
            _ => return None,
        };
        // Names are usually written in the case they are looked up with.
        if ne - ns == nb.len()
            && b[ns..ne]
                .iter()
                .zip(nb)
                .all(|(&x, &y)| x == y || x.eq_ignore_ascii_case(&y))
        {
            return Some(Some(value));
        }
        if i >= b.len() {
            return Some(None);
        }
        i += 1;
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
        if let Some(p) = plain_param(self.raw, name) {
            return p.flatten().map(strip_quotes);
        }
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
        static SPECIAL: [bool; 256] = {
            let mut t = [false; 256];
            t[b';' as usize] = true;
            t[b'=' as usize] = true;
            t[b'"' as usize] = true;
            t
        };
        let mut eq = None;
        let mut i = 0;
        let end = loop {
            while i < b.len() && !SPECIAL[b[i] as usize] {
                i += 1;
            }
            match b.get(i) {
                None => break None,
                Some(b';') => break Some(i),
                Some(b'=') => {
                    if eq.is_none() {
                        eq = Some(i);
                    }
                }
                _ => match text::quoted_end(&b[i..]) {
                    Some(n) => {
                        i += n;
                        continue;
                    }
                    // An unterminated quote swallows the rest: validation reports it.
                    None => break None,
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Random short lists over the bytes that matter to the grammar.
    fn lists(n: usize) -> impl Iterator<Item = String> {
        const ALPHABET: &[u8] = b"ab=;\" \t\r\n%5[]:-~@,<>/&+$";
        let mut m = crate::sip::wire::mutate::Mutator::new(0x9e37_79b9_7f4a_7c15);
        (0..n).map(move |_| {
            let x = m.next();
            crate::sip::wire::mutate::chars(x, ALPHABET, (x % 12) as usize).collect()
        })
    }

    #[test]
    fn one_pass_check_agrees_with_the_full_one() {
        let extra = |n: &str, v: Option<&str>| !(n == "b" && v == Some("a"));
        let (mut generic, mut uri) = (0, 0);
        for s in lists(200_000) {
            let p = Params::from_raw(s.as_str());
            if plain_generic(&s, &extra) {
                generic += 1;
                assert_eq!(p.validate_generic_full(extra), Ok(()), "{s:?}");
            }
            assert_eq!(
                p.validate_generic_with(extra),
                p.validate_generic_full(extra),
                "{s:?}"
            );
            if plain_list(&s, is_param_char, is_param_char, &|_, _| true) {
                uri += 1;
                assert_eq!(p.validate_uri_full(), Ok(()), "{s:?}");
            }
            assert_eq!(p.validate_uri(), p.validate_uri_full(), "{s:?}");
        }
        // The one-pass check must see real use, not only reject.
        assert!(generic > 1000 && uri > 1000, "{generic} {uri}");
    }

    /// The one-pass lookup gives exactly the iterator's answer, or declines.
    #[test]
    fn one_pass_lookup_agrees_with_the_iterator() {
        let mut hits = 0;
        for s in lists(200_000).chain(["branch=z9hG4bK1;rport".to_string(), "a;b=".to_string()]) {
            let p = Params::from_raw(s.as_str());
            for name in ["a", "b", "ab", "branch", "rport", ""] {
                let by_iter = p
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v);
                if let Some(r) = plain_param(&s, name) {
                    hits += 1;
                    assert_eq!(r, by_iter, "{s:?} {name:?}");
                }
                assert_eq!(p.param(name), by_iter, "{s:?} {name:?}");
                assert_eq!(
                    p.get_ref(name),
                    by_iter.flatten().map(strip_quotes),
                    "{s:?} {name:?}"
                );
            }
        }
        assert!(hits > 100_000, "{hits}");
    }
}
