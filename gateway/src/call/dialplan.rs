//! Dial plans in the syntax of Cisco/Linksys/Sipura ATAs, and the digit collector that applies
//! them while a person dials.
//!
//! ```text
//! (*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)
//! ```
//!
//! - A plan is one pattern, or alternatives `|` inside parentheses.
//! - `0`-`9`, `*`, `#`: that key. `x`: any of `0`-`9`. `[...]`: one key of a list, with ranges
//!   (`[2-9]`, `[3469]`, `[1-3*#]`).
//! - `.` after a key, `x` or `[...]`: that element zero or more times (`xx.` is one or more).
//! - `<dialled:sent>`: the keys matched by `dialled` are replaced by `sent` in the number sent
//!   (`<9:>` deletes a leading 9, `<:1604>` inserts, `<011:+>` replaces). `sent` may hold
//!   `0`-`9`, `*`, `#` and `+`.
//! - `,`: play the outside (secondary) dial tone when the digits so far reach this point.
//! - `!` ending a pattern blocks it: the caller hears reorder.
//! - `S0`..`S9` / `L0`..`L9` ending a pattern override, for that pattern, the short and the long
//!   interdigit timers in seconds; `S0` dials as soon as the pattern matches.
//!
//! Whitespace is ignored. [`DialPlan::parse`] reports the position (0-based character offset)
//! and the kind of every error; [`DialPlan`]'s `Display` emits the canonical text.
//!
//! [`DigitCollector`] is the sans-IO matcher: feed it keys and `now`, poll it at its deadline.

use std::fmt;

use hal::Instant;
use std::time::Duration;

/// Most keys one pattern may hold (elements, not counting repetition).
pub const MAX_PATTERN_ELEMENTS: usize = 64;
/// Most keys a person may dial before the collector gives up.
pub const MAX_DIALLED: usize = 40;

/// A set of keys (`0`-`9`, `*`, `#`) as a bit mask: bit `n` for digit `n`, 10 for `*`, 11 for `#`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KeySet(u16);

impl KeySet {
    /// `x`: the ten digits.
    pub const X: KeySet = KeySet(0x03ff);
    pub const ALL: KeySet = KeySet(0x0fff);

    pub fn empty() -> KeySet {
        KeySet(0)
    }

    /// Builds from a mask (only the low 12 bits count).
    pub fn from_bits(bits: u16) -> KeySet {
        KeySet(bits & 0x0fff)
    }

    pub fn bits(self) -> u16 {
        self.0
    }

    /// The set holding only `key`.
    pub fn single(key: u8) -> Option<KeySet> {
        key_index(key).map(|i| KeySet(1 << i))
    }

    pub fn contains(self, key: u8) -> bool {
        key_index(key).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn insert(&mut self, key: u8) {
        if let Some(i) = key_index(key) {
            self.0 |= 1 << i;
        }
    }
}

/// Bit index of a key; `None` for anything not on a telephone keypad.
fn key_index(key: u8) -> Option<u32> {
    match key {
        b'0'..=b'9' => Some(u32::from(key - b'0')),
        b'*' => Some(10),
        b'#' => Some(11),
        _ => None,
    }
}

fn index_key(i: u32) -> u8 {
    match i {
        0..=9 => b'0' + i as u8,
        10 => b'*',
        _ => b'#',
    }
}

/// True for `0`-`9`, `*` and `#`.
pub fn is_key(key: u8) -> bool {
    key_index(key).is_some()
}

/// One key position of a pattern, optionally repeated (`.`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Atom {
    pub keys: KeySet,
    /// Zero or more times (`.`).
    pub repeat: bool,
}

/// One element of a pattern.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Element {
    Key(Atom),
    /// `<dialled:sent>`.
    Substitute {
        dialled: Vec<Atom>,
        sent: String,
    },
    /// `,`: outside dial tone here.
    OutsideDialTone,
}

/// What a complete match does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Dial,
    /// `!`: refuse with reorder.
    Block,
}

/// One alternative of a plan.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pattern {
    pub elements: Vec<Element>,
    pub action: Action,
    /// `S<n>`: short interdigit timer for this pattern, seconds.
    pub short_timer_s: Option<u8>,
    /// `L<n>`: long interdigit timer for this pattern, seconds.
    pub long_timer_s: Option<u8>,
}

/// A parsed dial plan: its alternatives in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DialPlan {
    pub patterns: Vec<Pattern>,
}

/// What is wrong in a dial plan.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DialPlanErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// A character with no meaning here.
    UnexpectedChar(char),
    /// `(` without `)`.
    UnclosedParen,
    /// Text after the closing `)`.
    TrailingText,
    /// `||`, `(|`, `|)` or `()`: an alternative with no keys.
    EmptyAlternative,
    /// `[` without `]`.
    UnclosedBracket,
    /// `[]`.
    EmptyBracket,
    /// `[9-2]`: a range must go upwards.
    ReversedRange { from: char, to: char },
    /// `[*-#]`: ranges are between digits only.
    RangeOfNonDigits,
    /// `.` at the start of a pattern or after something that cannot repeat.
    RepeatWithoutKey,
    /// `x..`.
    RepeatTwice,
    /// `<` without `>`.
    UnclosedSubstitution,
    /// `<123>`: no `:` between the dialled and the sent part.
    MissingColon,
    /// `<` inside a substitution.
    NestedSubstitution,
    /// `<:>`: nothing dialled and nothing sent.
    EmptySubstitution,
    /// A character the sent part of a substitution cannot hold.
    BadSentChar(char),
    /// `S`/`L` not followed by a digit 0-9.
    TimerWithoutValue,
    /// A key, `,` or `<` after `!` or a timer: they must end the pattern.
    AfterPatternEnd,
    /// The same modifier (`!`, `S`, `L`) twice in one pattern.
    DuplicateModifier(char),
    /// More than [`MAX_PATTERN_ELEMENTS`] elements in one pattern.
    PatternTooLong,
}

/// A dial plan parse error: what, and at which character (0-based).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DialPlanError {
    pub position: usize,
    pub kind: DialPlanErrorKind,
}

impl fmt::Display for DialPlanErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DialPlanErrorKind::*;
        match self {
            Empty => write!(f, "the dial plan is empty"),
            UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            UnclosedParen => write!(f, "'(' is never closed by ')'"),
            TrailingText => write!(f, "text after the closing ')'"),
            EmptyAlternative => write!(f, "an alternative is empty"),
            UnclosedBracket => write!(f, "'[' is never closed by ']'"),
            EmptyBracket => write!(f, "'[]' lists no keys"),
            ReversedRange { from, to } => write!(f, "range {from}-{to} goes downwards"),
            RangeOfNonDigits => write!(f, "a range must be between two digits 0-9"),
            RepeatWithoutKey => write!(f, "'.' must follow a key, 'x' or '[...]'"),
            RepeatTwice => write!(f, "'.' repeated twice"),
            UnclosedSubstitution => write!(f, "'<' is never closed by '>'"),
            MissingColon => write!(f, "a substitution needs ':' between dialled and sent keys"),
            NestedSubstitution => write!(f, "'<' inside a substitution"),
            EmptySubstitution => write!(f, "'<:>' substitutes nothing"),
            BadSentChar(c) => write!(f, "{c:?} cannot be sent (0-9, *, # and + can)"),
            TimerWithoutValue => write!(f, "a timer needs a value 0-9 seconds"),
            AfterPatternEnd => write!(f, "'!' and timers must end the pattern"),
            DuplicateModifier(c) => write!(f, "'{c}' given twice in one pattern"),
            PatternTooLong => {
                write!(f, "a pattern may hold at most {MAX_PATTERN_ELEMENTS} elements")
            }
        }
    }
}

impl fmt::Display for DialPlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dial plan, column {}: {}", self.position + 1, self.kind)
    }
}

impl std::error::Error for DialPlanError {}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    i: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<(usize, char)> {
        self.chars.get(self.i).copied()
    }

    /// Position of the next character, or the end of the text.
    fn pos(&self) -> usize {
        self.peek()
            .map(|(p, _)| p)
            .unwrap_or_else(|| self.chars.last().map(|&(p, _)| p + 1).unwrap_or(0))
    }

    fn err<T>(&self, position: usize, kind: DialPlanErrorKind) -> Result<T, DialPlanError> {
        Err(DialPlanError { position, kind })
    }

    /// `[...]` after the opening bracket was consumed at `open`.
    fn bracket(&mut self, open: usize) -> Result<KeySet, DialPlanError> {
        let mut set = KeySet::empty();
        loop {
            let Some((p, c)) = self.peek() else {
                return self.err(open, DialPlanErrorKind::UnclosedBracket);
            };
            self.i += 1;
            match c {
                ']' => {
                    if set.is_empty() {
                        return self.err(open, DialPlanErrorKind::EmptyBracket);
                    }
                    return Ok(set);
                }
                '0'..='9' | '*' | '#' => {
                    if let Some((dp, '-')) = self.peek() {
                        self.i += 1;
                        let Some((tp, to)) = self.peek() else {
                            return self.err(open, DialPlanErrorKind::UnclosedBracket);
                        };
                        if !c.is_ascii_digit() || !to.is_ascii_digit() {
                            return self.err(dp, DialPlanErrorKind::RangeOfNonDigits);
                        }
                        if to < c {
                            return self.err(tp, DialPlanErrorKind::ReversedRange { from: c, to });
                        }
                        self.i += 1;
                        for k in c as u8..=to as u8 {
                            set.insert(k);
                        }
                    } else {
                        set.insert(c as u8);
                    }
                }
                'x' | 'X' => set.0 |= KeySet::X.0,
                '-' => return self.err(p, DialPlanErrorKind::RangeOfNonDigits),
                ')' | '|' => return self.err(open, DialPlanErrorKind::UnclosedBracket),
                other => return self.err(p, DialPlanErrorKind::UnexpectedChar(other)),
            }
        }
    }

    /// One key atom at the cursor, if there is one (`0`-`9`, `*`, `#`, `x`, `[...]`).
    fn atom(&mut self) -> Result<Option<KeySet>, DialPlanError> {
        let Some((p, c)) = self.peek() else {
            return Ok(None);
        };
        let set = match c {
            '0'..='9' | '*' | '#' => KeySet::single(c as u8),
            'x' | 'X' => Some(KeySet::X),
            '[' => {
                self.i += 1;
                return self.bracket(p).map(Some);
            }
            _ => None,
        };
        if set.is_some() {
            self.i += 1;
        }
        Ok(set)
    }

    /// `.` after an atom.
    fn repeat(&mut self) -> Result<bool, DialPlanError> {
        if let Some((_, '.')) = self.peek() {
            self.i += 1;
            if let Some((p, '.')) = self.peek() {
                return self.err(p, DialPlanErrorKind::RepeatTwice);
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// `<dialled:sent>` after `<` was consumed at `open`.
    fn substitution(&mut self, open: usize) -> Result<Element, DialPlanError> {
        let mut dialled = Vec::new();
        loop {
            match self.peek() {
                None => return self.err(open, DialPlanErrorKind::UnclosedSubstitution),
                Some((_, ':')) => {
                    self.i += 1;
                    break;
                }
                Some((p, '>')) => return self.err(p, DialPlanErrorKind::MissingColon),
                Some((p, '<')) => return self.err(p, DialPlanErrorKind::NestedSubstitution),
                Some((p, '.')) => return self.err(p, DialPlanErrorKind::RepeatWithoutKey),
                Some((p, c)) => match self.atom()? {
                    Some(keys) => {
                        let repeat = self.repeat()?;
                        dialled.push(Atom { keys, repeat });
                    }
                    None => return self.err(p, DialPlanErrorKind::UnexpectedChar(c)),
                },
            }
        }
        let mut sent = String::new();
        loop {
            match self.peek() {
                None => return self.err(open, DialPlanErrorKind::UnclosedSubstitution),
                Some((_, '>')) => {
                    self.i += 1;
                    break;
                }
                Some((p, '<')) => return self.err(p, DialPlanErrorKind::NestedSubstitution),
                Some((_, c @ ('0'..='9' | '*' | '#' | '+'))) => {
                    sent.push(c);
                    self.i += 1;
                }
                Some((p, c)) => return self.err(p, DialPlanErrorKind::BadSentChar(c)),
            }
        }
        if dialled.is_empty() && sent.is_empty() {
            return self.err(open, DialPlanErrorKind::EmptySubstitution);
        }
        Ok(Element::Substitute { dialled, sent })
    }

    /// One alternative, up to `|`, `)` or the end.
    fn pattern(&mut self) -> Result<Pattern, DialPlanError> {
        let start = self.pos();
        let mut pattern = Pattern {
            elements: Vec::new(),
            action: Action::Dial,
            short_timer_s: None,
            long_timer_s: None,
        };
        let mut ended = false;
        while let Some((p, c)) = self.peek() {
            match c {
                '|' | ')' => break,
                '!' | 'S' | 's' | 'L' | 'l' => {
                    self.i += 1;
                    let dup = |pat: &Pattern| match c {
                        '!' => pat.action == Action::Block,
                        'S' | 's' => pat.short_timer_s.is_some(),
                        _ => pat.long_timer_s.is_some(),
                    };
                    if dup(&pattern) {
                        return self.err(p, DialPlanErrorKind::DuplicateModifier(c.to_ascii_uppercase()));
                    }
                    if c == '!' {
                        pattern.action = Action::Block;
                    } else {
                        let v = match self.peek() {
                            Some((_, d @ '0'..='9')) => d as u8 - b'0',
                            _ => return self.err(p, DialPlanErrorKind::TimerWithoutValue),
                        };
                        self.i += 1;
                        if c.eq_ignore_ascii_case(&'S') {
                            pattern.short_timer_s = Some(v);
                        } else {
                            pattern.long_timer_s = Some(v);
                        }
                    }
                    ended = true;
                }
                _ if ended => return self.err(p, DialPlanErrorKind::AfterPatternEnd),
                '.' => {
                    return self.err(
                        p,
                        if matches!(pattern.elements.last(), Some(Element::Key(a)) if a.repeat) {
                            DialPlanErrorKind::RepeatTwice
                        } else {
                            DialPlanErrorKind::RepeatWithoutKey
                        },
                    );
                }
                ',' => {
                    self.i += 1;
                    pattern.elements.push(Element::OutsideDialTone);
                }
                '<' => {
                    self.i += 1;
                    let e = self.substitution(p)?;
                    pattern.elements.push(e);
                }
                '>' | ':' => return self.err(p, DialPlanErrorKind::UnexpectedChar(c)),
                _ => match self.atom()? {
                    Some(keys) => {
                        let repeat = self.repeat()?;
                        pattern.elements.push(Element::Key(Atom { keys, repeat }));
                    }
                    None => return self.err(p, DialPlanErrorKind::UnexpectedChar(c)),
                },
            }
            if pattern.elements.len() > MAX_PATTERN_ELEMENTS {
                return self.err(p, DialPlanErrorKind::PatternTooLong);
            }
        }
        let consumes = pattern.elements.iter().any(|e| match e {
            Element::Key(_) => true,
            Element::Substitute { dialled, .. } => !dialled.is_empty(),
            Element::OutsideDialTone => false,
        });
        if !consumes {
            return self.err(start, DialPlanErrorKind::EmptyAlternative);
        }
        Ok(pattern)
    }
}

impl DialPlan {
    /// Parses a plan; see the module documentation for the syntax.
    pub fn parse(text: &str) -> Result<DialPlan, DialPlanError> {
        let chars: Vec<(usize, char)> = text
            .chars()
            .enumerate()
            .filter(|(_, c)| !c.is_whitespace())
            .collect();
        let mut p = Parser {
            chars,
            i: 0,
            _src: text,
        };
        let Some((open_pos, first)) = p.peek() else {
            return p.err(0, DialPlanErrorKind::Empty);
        };
        let parenthesised = first == '(';
        if parenthesised {
            p.i += 1;
        }
        let mut patterns = vec![p.pattern()?];
        loop {
            match p.peek() {
                Some((_, '|')) => {
                    if !parenthesised {
                        // A bare plan is a single pattern; `|` needs the parentheses.
                        return p.err(p.pos(), DialPlanErrorKind::UnexpectedChar('|'));
                    }
                    p.i += 1;
                    patterns.push(p.pattern()?);
                }
                Some((pos, ')')) => {
                    if !parenthesised {
                        return p.err(pos, DialPlanErrorKind::UnexpectedChar(')'));
                    }
                    p.i += 1;
                    if let Some((tp, _)) = p.peek() {
                        return p.err(tp, DialPlanErrorKind::TrailingText);
                    }
                    return Ok(DialPlan { patterns });
                }
                None => {
                    if parenthesised {
                        return p.err(open_pos, DialPlanErrorKind::UnclosedParen);
                    }
                    return Ok(DialPlan { patterns });
                }
                Some((pos, c)) => return p.err(pos, DialPlanErrorKind::UnexpectedChar(c)),
            }
        }
    }
}

impl std::str::FromStr for DialPlan {
    type Err = DialPlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DialPlan::parse(s)
    }
}

fn write_keys(f: &mut fmt::Formatter<'_>, set: KeySet) -> fmt::Result {
    if set == KeySet::X {
        return write!(f, "x");
    }
    if set.len() == 1 {
        return write!(f, "{}", index_key(set.0.trailing_zeros()) as char);
    }
    write!(f, "[")?;
    let mut i = 0;
    while i < 10 {
        if set.0 & (1 << i) == 0 {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < 10 && set.0 & (1 << (j + 1)) != 0 {
            j += 1;
        }
        if j >= i + 2 {
            write!(f, "{}-{}", i, j)?;
        } else {
            for k in i..=j {
                write!(f, "{k}")?;
            }
        }
        i = j + 1;
    }
    for i in 10..12 {
        if set.0 & (1 << i) != 0 {
            write!(f, "{}", index_key(i) as char)?;
        }
    }
    write!(f, "]")
}

fn write_atom(f: &mut fmt::Formatter<'_>, a: &Atom) -> fmt::Result {
    write_keys(f, a.keys)?;
    if a.repeat {
        write!(f, ".")?;
    }
    Ok(())
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.elements {
            match e {
                Element::Key(a) => write_atom(f, a)?,
                Element::OutsideDialTone => write!(f, ",")?,
                Element::Substitute { dialled, sent } => {
                    write!(f, "<")?;
                    for a in dialled {
                        write_atom(f, a)?;
                    }
                    write!(f, ":{sent}>")?;
                }
            }
        }
        if self.action == Action::Block {
            write!(f, "!")?;
        }
        if let Some(s) = self.short_timer_s {
            write!(f, "S{s}")?;
        }
        if let Some(l) = self.long_timer_s {
            write!(f, "L{l}")?;
        }
        Ok(())
    }
}

impl fmt::Display for DialPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                write!(f, "|")?;
            }
            write!(f, "{p}")?;
        }
        write!(f, ")")
    }
}

// ---------------------------------------------------------------------------------------------
// Matching

/// A pattern flattened for matching: key steps and the epsilon steps between them.
#[derive(Clone, Debug)]
enum Step {
    Key {
        keys: KeySet,
        repeat: bool,
        deleted: bool,
    },
    /// Insert these characters into the number sent.
    Send(String),
    OutsideDialTone,
}

#[derive(Clone, Debug)]
struct Compiled {
    steps: Vec<Step>,
    action: Action,
    short: Option<Duration>,
    long: Option<Duration>,
    /// Higher is more specific (wins among complete matches).
    specificity: u32,
}

fn compile(p: &Pattern) -> Compiled {
    let mut steps = Vec::new();
    let mut specificity = 0;
    let mut key = |a: &Atom, deleted: bool, steps: &mut Vec<Step>| {
        if !a.repeat {
            specificity += 13 - a.keys.len();
        }
        steps.push(Step::Key {
            keys: a.keys,
            repeat: a.repeat,
            deleted,
        });
    };
    for e in &p.elements {
        match e {
            Element::Key(a) => key(a, false, &mut steps),
            Element::OutsideDialTone => steps.push(Step::OutsideDialTone),
            Element::Substitute { dialled, sent } => {
                if !sent.is_empty() {
                    steps.push(Step::Send(sent.clone()));
                }
                for a in dialled {
                    key(a, true, &mut steps);
                }
            }
        }
    }
    Compiled {
        steps,
        action: p.action,
        short: p.short_timer_s.map(|s| Duration::from_secs(u64::from(s))),
        long: p.long_timer_s.map(|s| Duration::from_secs(u64::from(s))),
        specificity,
    }
}

/// Where one pattern stands against the keys dialled so far.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PatternState {
    complete: bool,
    /// More keys could still lead to a complete match.
    extensible: bool,
    /// The keys so far end exactly at a `,`.
    outside_tone: bool,
}

impl Compiled {
    /// Adds `i` and everything reachable from it without a key to `set`.
    fn closure(&self, i: usize, set: &mut Vec<bool>) {
        if set[i] {
            return;
        }
        set[i] = true;
        match self.steps.get(i) {
            Some(Step::Send(_)) | Some(Step::OutsideDialTone) => self.closure(i + 1, set),
            Some(Step::Key { repeat: true, .. }) => self.closure(i + 1, set),
            _ => {}
        }
    }

    fn evaluate(&self, dialled: &[u8]) -> PatternState {
        let n = self.steps.len() + 1;
        let mut cur = vec![false; n];
        self.closure(0, &mut cur);
        for &k in dialled {
            let mut next = vec![false; n];
            for (i, live) in cur.iter().enumerate() {
                if !live {
                    continue;
                }
                if let Some(Step::Key { keys, repeat, .. }) = self.steps.get(i)
                    && keys.contains(k)
                {
                    self.closure(if *repeat { i } else { i + 1 }, &mut next);
                }
            }
            cur = next;
        }
        let mut st = PatternState {
            complete: cur[self.steps.len()],
            extensible: false,
            outside_tone: false,
        };
        for (i, live) in cur.iter().enumerate() {
            if !live {
                continue;
            }
            match self.steps.get(i) {
                Some(Step::Key { .. }) => st.extensible = true,
                Some(Step::OutsideDialTone) => st.outside_tone = !dialled.is_empty(),
                _ => {}
            }
        }
        st
    }

    /// The number to send for a complete match (greedy on repetitions).
    fn rewrite(&self, dialled: &[u8]) -> Option<String> {
        let mut failed = vec![false; (self.steps.len() + 1) * (dialled.len() + 1)];
        let mut out = String::new();
        self.walk(0, 0, dialled, &mut out, &mut failed).then_some(out)
    }

    fn walk(&self, i: usize, pos: usize, d: &[u8], out: &mut String, failed: &mut [bool]) -> bool {
        let slot = i * (d.len() + 1) + pos;
        if failed[slot] {
            return false;
        }
        let mark = out.len();
        let ok = match self.steps.get(i) {
            None => pos == d.len(),
            Some(Step::Send(s)) => {
                out.push_str(s);
                self.walk(i + 1, pos, d, out, failed)
            }
            Some(Step::OutsideDialTone) => self.walk(i + 1, pos, d, out, failed),
            Some(&Step::Key {
                keys,
                repeat,
                deleted,
            }) => {
                let take = |out: &mut String| {
                    if !deleted {
                        out.push(d[pos] as char);
                    }
                };
                let can = pos < d.len() && keys.contains(d[pos]);
                let mut ok = false;
                if can {
                    take(out);
                    ok = self.walk(if repeat { i } else { i + 1 }, pos + 1, d, out, failed);
                    if !ok {
                        out.truncate(mark);
                    }
                }
                if !ok && repeat {
                    ok = self.walk(i + 1, pos, d, out, failed);
                }
                ok
            }
        };
        if !ok {
            out.truncate(mark);
            failed[slot] = true;
        }
        ok
    }
}

/// The plan-wide interdigit timers (per-pattern `S`/`L` override them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InterdigitTimers {
    /// While no pattern matches yet but some still can (Cisco "Interdigit Long Timer").
    pub long: Duration,
    /// Once a pattern matches but a longer input could match another (Cisco "Interdigit Short Timer").
    pub short: Duration,
}

impl Default for InterdigitTimers {
    fn default() -> Self {
        InterdigitTimers {
            long: Duration::from_secs(10),
            short: Duration::from_secs(3),
        }
    }
}

/// The collector's verdict after a key or a timer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MatchOutcome {
    /// Keep collecting; [`DigitCollector::poll`] at `deadline`. `outside_dial_tone` asks for the
    /// secondary dial tone (a `,` was reached).
    Incomplete {
        deadline: Instant,
        timeout: Duration,
        outside_dial_tone: bool,
    },
    /// Call this number (after substitutions).
    Dial(String),
    /// A `!` pattern matched: play reorder.
    Block,
    /// No pattern matches (or the long timer expired without a match): play reorder.
    NoMatch,
}

/// Collects keys against a [`DialPlan`]: sans-IO, fed with keys and `now`.
#[derive(Clone, Debug)]
pub struct DigitCollector {
    patterns: Vec<Compiled>,
    timers: InterdigitTimers,
    dialled: String,
    deadline: Option<Instant>,
    done: bool,
}

impl DigitCollector {
    pub fn new(plan: &DialPlan, timers: InterdigitTimers) -> DigitCollector {
        DigitCollector {
            patterns: plan.patterns.iter().map(compile).collect(),
            timers,
            dialled: String::new(),
            deadline: None,
            done: false,
        }
    }

    /// Forgets the keys dialled (a new call attempt with the same plan).
    pub fn reset(&mut self) {
        self.dialled.clear();
        self.deadline = None;
        self.done = false;
    }

    /// Keys dialled so far, as pressed.
    pub fn dialled(&self) -> &str {
        &self.dialled
    }

    /// When [`DigitCollector::poll`] must be called, if a timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.done { None } else { self.deadline }
    }

    /// A key was pressed at `now`. Keys other than `0`-`9`, `*`, `#` are ignored.
    pub fn key(&mut self, key: u8, now: Instant) -> MatchOutcome {
        if self.done {
            return MatchOutcome::NoMatch;
        }
        if !is_key(key) {
            return self.evaluate(now, false);
        }
        if self.dialled.len() >= MAX_DIALLED {
            self.done = true;
            return MatchOutcome::NoMatch;
        }
        self.dialled.push(key as char);
        self.evaluate(now, false)
    }

    /// Acts on an expired interdigit timer; returns `None` when nothing was due.
    pub fn poll(&mut self, now: Instant) -> Option<MatchOutcome> {
        match self.deadline {
            Some(d) if !self.done && now >= d => Some(self.evaluate(now, true)),
            _ => None,
        }
    }

    fn finish(&mut self, o: MatchOutcome) -> MatchOutcome {
        self.done = true;
        self.deadline = None;
        o
    }

    fn evaluate(&mut self, now: Instant, expired: bool) -> MatchOutcome {
        let d = self.dialled.as_bytes();
        let states: Vec<PatternState> = self.patterns.iter().map(|p| p.evaluate(d)).collect();
        // The most specific complete pattern; the first one on ties.
        let mut best: Option<usize> = None;
        for (i, st) in states.iter().enumerate() {
            if st.complete && best.is_none_or(|b| self.patterns[i].specificity > self.patterns[b].specificity)
            {
                best = Some(i);
            }
        }
        let any_extensible = states.iter().any(|s| s.extensible);
        if let Some(b) = best {
            let pat = &self.patterns[b];
            let short = pat.short.unwrap_or(self.timers.short);
            if expired || !any_extensible || short.is_zero() {
                let out = match pat.action {
                    Action::Block => MatchOutcome::Block,
                    Action::Dial => match pat.rewrite(d) {
                        Some(n) => MatchOutcome::Dial(n),
                        None => MatchOutcome::NoMatch,
                    },
                };
                return self.finish(out);
            }
            return self.wait(now, short, &states);
        }
        if expired || !any_extensible {
            return self.finish(MatchOutcome::NoMatch);
        }
        // The most patient of the patterns still alive.
        let long = states
            .iter()
            .zip(&self.patterns)
            .filter(|(s, _)| s.extensible)
            .map(|(_, p)| p.long.unwrap_or(self.timers.long))
            .max()
            .unwrap_or(self.timers.long);
        if long.is_zero() {
            return self.finish(MatchOutcome::NoMatch);
        }
        self.wait(now, long, &states)
    }

    fn wait(&mut self, now: Instant, timeout: Duration, states: &[PatternState]) -> MatchOutcome {
        let deadline = now + timeout;
        self.deadline = Some(deadline);
        MatchOutcome::Incomplete {
            deadline,
            timeout,
            outside_dial_tone: states.iter().any(|s| s.outside_tone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CISCO: &str = "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)";

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn collector(plan: &str) -> DigitCollector {
        DigitCollector::new(&DialPlan::parse(plan).unwrap(), InterdigitTimers::default())
    }

    /// Dials `keys` one per second from t=0; returns the last outcome and the time.
    fn dial(c: &mut DigitCollector, keys: &str) -> (MatchOutcome, u64) {
        let mut last = MatchOutcome::NoMatch;
        let mut now = 0;
        for k in keys.bytes() {
            last = c.key(k, t(now));
            now += 1000;
        }
        (last, now - 1000)
    }

    fn incomplete_timeout(o: &MatchOutcome) -> Duration {
        match o {
            MatchOutcome::Incomplete { timeout, .. } => *timeout,
            other => panic!("expected Incomplete, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_cisco_default() {
        let p = DialPlan::parse(CISCO).unwrap();
        assert_eq!(p.patterns.len(), 7);
        assert_eq!(
            p.to_string(),
            "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)"
        );
        assert_eq!(p.patterns[5].short_timer_s, Some(0));
        assert!(matches!(
            p.patterns[6].elements[11],
            Element::Key(Atom {
                keys: KeySet::X,
                repeat: true
            })
        ));
    }

    #[test]
    fn parses_substitutions_block_timers_and_tone() {
        let p = DialPlan::parse(
            "( <9:>xx. | <:1604>[2-9]xxxxxx | 1900xxxxxxx! | 9,1xxxxxxxxxx | <011:+>x.S4L8 )",
        )
        .unwrap();
        assert_eq!(
            p.to_string(),
            "(<9:>xx.|<:1604>[2-9]xxxxxx|1900xxxxxxx!|9,1xxxxxxxxxx|<011:+>x.S4L8)"
        );
        assert_eq!(p.patterns[2].action, Action::Block);
        assert_eq!(p.patterns[4].long_timer_s, Some(8));
        let single = DialPlan::parse("xx.").unwrap();
        assert_eq!(single.patterns.len(), 1);
        assert_eq!(DialPlan::parse("[1-3*#x]").unwrap().to_string(), "([0-9*#])");
        assert_eq!(DialPlan::parse("[13579]").unwrap().to_string(), "([13579])");
    }

    #[test]
    fn errors_point_at_the_problem() {
        use DialPlanErrorKind::*;
        let cases: &[(&str, usize, DialPlanErrorKind)] = &[
            ("", 0, Empty),
            ("   ", 0, Empty),
            ("(xx|", 4, EmptyAlternative),
            ("(xx", 0, UnclosedParen),
            ("(xx)y", 4, TrailingText),
            ("(xx||1)", 4, EmptyAlternative),
            ("()", 1, EmptyAlternative),
            ("(1[2-9)", 2, UnclosedBracket),
            ("(1[])", 2, EmptyBracket),
            ("([9-2])", 4, ReversedRange { from: '9', to: '2' }),
            ("([*-#])", 3, RangeOfNonDigits),
            ("(.1)", 1, RepeatWithoutKey),
            ("(x..)", 3, RepeatTwice),
            ("(<9>x)", 3, MissingColon),
            ("(<9:x)", 4, BadSentChar('x')),
            ("(<9:1x)", 5, BadSentChar('x')),
            ("(<9:", 1, UnclosedSubstitution),
            ("(<<9:>)", 2, NestedSubstitution),
            ("(<:>x)", 1, EmptySubstitution),
            ("(xxS)", 3, TimerWithoutValue),
            ("(xx!1)", 4, AfterPatternEnd),
            ("(xxS0S1)", 5, DuplicateModifier('S')),
            ("(xx!!)", 4, DuplicateModifier('!')),
            ("(1a2)", 2, UnexpectedChar('a')),
            ("1|2", 1, UnexpectedChar('|')),
            ("(,)", 1, EmptyAlternative),
        ];
        for (text, pos, kind) in cases {
            let e = DialPlan::parse(text).unwrap_err();
            assert_eq!((e.position, e.kind), (*pos, *kind), "{text:?}: {e}");
        }
        let e = DialPlan::parse("(xx|1a)").unwrap_err();
        assert_eq!(e.to_string(), "dial plan, column 6: unexpected character 'a'");
        let long = format!("({})", "1".repeat(MAX_PATTERN_ELEMENTS + 1));
        assert_eq!(DialPlan::parse(&long).unwrap_err().kind, PatternTooLong);
    }

    #[test]
    fn positions_count_characters_with_whitespace() {
        let e = DialPlan::parse("( 1 | é )").unwrap_err();
        assert_eq!((e.position, e.kind), (6, DialPlanErrorKind::UnexpectedChar('é')));
    }

    #[test]
    fn seven_digits_dial_after_short_timer_because_longer_could_match() {
        let mut c = collector(CISCO);
        let (o, now) = dial(&mut c, "555121");
        assert_eq!(incomplete_timeout(&o), Duration::from_secs(10));
        let o = c.key(b'2', t(now + 1000));
        // Matches [2-9]xxxxxx, but xxxxxxxxxxxx. could still match a longer number.
        assert_eq!(incomplete_timeout(&o), Duration::from_secs(3));
        assert_eq!(c.poll(t(now + 3999)), None);
        assert_eq!(c.poll(t(now + 4000)), Some(MatchOutcome::Dial("5551212".into())));
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn s0_dials_at_once() {
        let mut c = collector(CISCO);
        let (o, _) = dial(&mut c, "12125551212");
        assert_eq!(o, MatchOutcome::Dial("12125551212".into()));
    }

    #[test]
    fn long_timer_without_match_is_no_match() {
        let mut c = collector(CISCO);
        let (o, now) = dial(&mut c, "12");
        let MatchOutcome::Incomplete { deadline, .. } = o else {
            panic!()
        };
        assert_eq!(deadline, t(now + 10_000));
        assert_eq!(c.poll(t(now + 10_000)), Some(MatchOutcome::NoMatch));
    }

    #[test]
    fn service_codes_and_operator() {
        let mut c = collector(CISCO);
        assert_eq!(
            dial(&mut c, "911").0,
            MatchOutcome::Incomplete {
                deadline: t(2000 + 3000),
                timeout: Duration::from_secs(3),
                outside_dial_tone: false
            }
        );
        // 911 is complete, and a 12+ digit number could still start with 911: short timer.
        assert_eq!(c.poll(t(5000)), Some(MatchOutcome::Dial("911".into())));
        let mut c = collector(CISCO);
        let (o, now) = dial(&mut c, "0");
        assert_eq!(incomplete_timeout(&o), Duration::from_secs(3));
        assert_eq!(
            c.key(b'0', t(now + 500)),
            MatchOutcome::Incomplete {
                deadline: t(now + 500 + 3000),
                timeout: Duration::from_secs(3),
                outside_dial_tone: false
            }
        );
        let mut c = collector(CISCO);
        assert_eq!(dial(&mut c, "*69").0, MatchOutcome::Dial("*69".into()));
        let mut c = collector(CISCO);
        assert_eq!(dial(&mut c, "*#").0, MatchOutcome::NoMatch);
        assert_eq!(
            c.key(b'1', t(9000)),
            MatchOutcome::NoMatch,
            "finished collectors stay finished"
        );
    }

    #[test]
    fn substitutions_rewrite_the_number() {
        let mut c = collector("(<9:>xx.|<:1604>[2-9]xxxxxxS0|<011:+>xxxxxxx.)");
        assert_eq!(
            dial(&mut c, "5551212").0,
            MatchOutcome::Dial("16045551212".into())
        );
        let mut c = collector("(<9:>1xxxxxxxxxxS0)");
        assert_eq!(
            dial(&mut c, "912125551212").0,
            MatchOutcome::Dial("12125551212".into())
        );
        let mut c = collector("(<011:+>xxxxxxx.)");
        let (_, now) = dial(&mut c, "01144207946000");
        assert_eq!(
            c.poll(t(now + 10_000)),
            Some(MatchOutcome::Dial("+44207946000".into()))
        );
        let mut c = collector("(xxx<:#>S0)");
        assert_eq!(dial(&mut c, "123").0, MatchOutcome::Dial("123#".into()));
    }

    #[test]
    fn blocking_is_more_specific_than_a_general_pattern() {
        let mut c = collector("(1900xxxxxxx!|1xxxxxxxxxx)");
        assert_eq!(dial(&mut c, "19005551212").0, MatchOutcome::Block);
        let mut c = collector("(1900xxxxxxx!|1xxxxxxxxxx)");
        assert_eq!(
            dial(&mut c, "18005551212").0,
            MatchOutcome::Dial("18005551212".into())
        );
    }

    #[test]
    fn outside_dial_tone_at_the_comma() {
        let mut c = collector("(9,xxxxxxx|1xx)");
        let (o, _) = dial(&mut c, "9");
        assert!(
            matches!(
                o,
                MatchOutcome::Incomplete {
                    outside_dial_tone: true,
                    ..
                }
            ),
            "{o:?}"
        );
        let o = c.key(b'5', t(1000));
        assert!(matches!(
            o,
            MatchOutcome::Incomplete {
                outside_dial_tone: false,
                ..
            }
        ));
        let (o, _) = dial(&mut collector("(9,xxxxxxx|1xx)"), "95551212");
        assert_eq!(o, MatchOutcome::Dial("95551212".into()));
    }

    #[test]
    fn pattern_long_timer_override() {
        let mut c = collector("(1xxxxL4)");
        let (o, _) = dial(&mut c, "1");
        assert_eq!(incomplete_timeout(&o), Duration::from_secs(4));
        let mut c = collector("(1xxxxL4|1xxxxxxx)");
        assert_eq!(incomplete_timeout(&dial(&mut c, "1").0), Duration::from_secs(10));
        let mut c = collector("(xxxS1|xxxx)");
        assert_eq!(incomplete_timeout(&dial(&mut c, "123").0), Duration::from_secs(1));
    }

    #[test]
    fn star_and_hash_are_keys() {
        let mut c = collector("(*7[02]xx#|#31#x.)");
        assert_eq!(dial(&mut c, "*7012#").0, MatchOutcome::Dial("*7012#".into()));
        let mut c = collector("(*7[02]xx#|#31#x.)");
        let (o, _) = dial(&mut c, "#31#");
        assert_eq!(incomplete_timeout(&o), Duration::from_secs(3));
        assert_eq!(c.poll(t(6000)), Some(MatchOutcome::Dial("#31#".into())));
        let mut c = collector("(*7[02]xx#)");
        assert_eq!(dial(&mut c, "*71").0, MatchOutcome::NoMatch);
    }

    #[test]
    fn non_keys_are_ignored_and_length_is_bounded() {
        let mut c = collector("(x.)");
        assert!(matches!(c.key(b'A', t(0)), MatchOutcome::Incomplete { .. }));
        assert_eq!(c.dialled(), "");
        let mut last = MatchOutcome::NoMatch;
        for i in 0..=MAX_DIALLED {
            last = c.key(b'1', t(i as u64));
        }
        assert_eq!(last, MatchOutcome::NoMatch);
    }

    fn atom() -> impl Strategy<Value = Atom> {
        (1u16..0x1000, any::<bool>()).prop_map(|(bits, repeat)| Atom {
            keys: KeySet::from_bits(bits),
            repeat,
        })
    }

    fn element() -> impl Strategy<Value = Element> {
        prop_oneof![
            4 => atom().prop_map(Element::Key),
            1 => Just(Element::OutsideDialTone),
            1 => (proptest::collection::vec(atom(), 0..3), "[0-9*#+]{0,4}")
                .prop_filter("not empty", |(d, s)| !d.is_empty() || !s.is_empty())
                .prop_map(|(dialled, sent)| Element::Substitute { dialled, sent }),
        ]
    }

    fn pattern() -> impl Strategy<Value = Pattern> {
        (
            atom(),
            proptest::collection::vec(element(), 0..8),
            any::<bool>(),
            proptest::option::of(0u8..10),
            proptest::option::of(0u8..10),
        )
            .prop_map(|(first, mut rest, block, s, l)| {
                rest.insert(0, Element::Key(first));
                Pattern {
                    elements: rest,
                    action: if block { Action::Block } else { Action::Dial },
                    short_timer_s: s,
                    long_timer_s: l,
                }
            })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(patterns in proptest::collection::vec(pattern(), 1..6)) {
            let plan = DialPlan { patterns };
            let text = plan.to_string();
            prop_assert_eq!(DialPlan::parse(&text), Ok(plan), "{}", text);
        }

        #[test]
        fn parser_never_panics(text in "[-()|x0-9*#.\\[\\]<>:!SL,+a ]{0,40}") {
            let _ = DialPlan::parse(&text);
        }

        #[test]
        fn collector_never_panics_and_dials_what_matches(
            plan in proptest::collection::vec(pattern(), 1..4),
            keys in "[0-9*#]{0,20}",
        ) {
            let plan = DialPlan { patterns: plan };
            let mut c = DigitCollector::new(&plan, InterdigitTimers::default());
            let mut now = 0u64;
            let mut done = None;
            for k in keys.bytes() {
                match c.key(k, t(now)) {
                    MatchOutcome::Incomplete { deadline, .. } => prop_assert!(deadline > t(now)),
                    o => { done = Some(o); break; }
                }
                now += 100;
            }
            if done.is_none() && !keys.is_empty() {
                let o = c.poll(t(now + 20_000));
                prop_assert!(o.is_some());
            }
        }
    }
}
