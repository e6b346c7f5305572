//! Checks a parsed [`Config`] beyond what its types enforce.

use std::collections::HashSet;
use std::fmt;

use super::model::*;

/// One problem in a configuration: where (`port[1].hook_flash_max_ms`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    /// Line in the TOML text, when known.
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(top level)"
        } else {
            &self.path
        };
        match self.line {
            Some(l) => write!(f, "{path} (line {l}): {}", self.message),
            None => write!(f, "{path}: {}", self.message),
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

struct Collector(Vec<ConfigError>);

impl Collector {
    fn err(&mut self, path: String, message: impl Into<String>) {
        self.0.push(ConfigError {
            path,
            line: None,
            message: message.into(),
        });
    }
}

/// Countries with a tone plan in `codecs::tones`; kept in step by a test there.
fn known_country(cc: &str) -> bool {
    cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic())
}

pub fn validate(cfg: &Config) -> Result<(), ConfigErrors> {
    let mut c = Collector(Vec::new());
    let n = &cfg.network;
    if n.interface.is_unspecified() {
        c.err(
            "network.interface".into(),
            "must be a real interface address: it is advertised in Via, Contact and SDP",
        );
    }
    if !n.rtp_port_min.is_multiple_of(2) {
        c.err(
            "network.rtp_port_min".into(),
            "must be even (RTP uses even ports, RTCP the next odd one)",
        );
    }
    if n.rtp_port_max <= n.rtp_port_min {
        c.err("network.rtp_port_max".into(), "must be greater than rtp_port_min");
    }
    if n.t1_ms == 0 || n.t2_ms < n.t1_ms {
        c.err("network.t2_ms".into(), "T1 must be positive and T2 at least T1");
    }

    if !cfg.nat.stun_server.is_empty() && !host_port_ok(&cfg.nat.stun_server) {
        c.err(
            "nat.stun_server".into(),
            "must be host or host:port (e.g. stun.example.net:3478)",
        );
    }
    let ext = cfg.nat.external_address.trim();
    if !ext.is_empty() {
        match ext.parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() => {}
            _ => c.err(
                "nat.external_address".into(),
                "must be an IP address (e.g. 203.0.113.7), or empty for none",
            ),
        }
    }
    if cfg.nat.keepalive_s != 0 && !(5..=3600).contains(&cfg.nat.keepalive_s) {
        c.err(
            "nat.keepalive_s".into(),
            "must be 0 (off) or between 5 and 3600 seconds",
        );
    }
    let sec = &cfg.security;
    if !sec.admin_password_hash.is_empty() && !sec.admin_password_hash.starts_with('$') {
        c.err(
            "security.admin_password_hash".into(),
            "must be a PHC-format hash ($argon2id$...), never a plain password",
        );
    }
    if !(1..=100).contains(&sec.login_attempts_per_min) {
        c.err(
            "security.login_attempts_per_min".into(),
            "must be between 1 and 100",
        );
    }
    if !(1..=1440).contains(&sec.session_idle_min) {
        c.err(
            "security.session_idle_min".into(),
            "must be between 1 and 1440 minutes",
        );
    }
    if !(10..=100_000).contains(&cfg.log.ring_lines) {
        c.err("log.ring_lines".into(), "must be between 10 and 100000");
    }

    let mut names = HashSet::new();
    for (i, a) in cfg.accounts.iter().enumerate() {
        let p = |k: &str| format!("account[{i}].{k}");
        if a.name.is_empty() {
            c.err(p("name"), "must not be empty");
        } else if !names.insert(a.name.as_str()) {
            c.err(p("name"), format!("duplicate account name '{}'", a.name));
        }
        if a.enabled {
            if a.user.is_empty() {
                c.err(p("user"), "must not be empty for an enabled account");
            }
            if a.domain.is_empty() {
                c.err(p("domain"), "must not be empty for an enabled account");
            }
        }
        for (key, v) in [
            ("registrar", &a.registrar),
            ("proxy", &a.proxy),
            ("outbound_proxy", &a.outbound_proxy),
        ] {
            if !v.is_empty() && !host_port_ok(v) {
                c.err(p(key), "must be host or host:port, without sip: or spaces");
            }
        }
        if !a.domain.is_empty() && !host_port_ok(&a.domain) {
            c.err(p("domain"), "must be a host name or address");
        }
        if a.user
            .contains(|ch: char| ch.is_whitespace() || ch == '@' || ch == ':')
        {
            c.err(p("user"), "must not contain spaces, '@' or ':'");
        }
        if a.register && !(60..=86400).contains(&a.expires_s) {
            c.err(p("expires_s"), "must be between 60 and 86400 seconds");
        }
        for (key, v) in [
            ("isup_national_prefix", &a.isup_national_prefix),
            ("isup_international_prefix", &a.isup_international_prefix),
        ] {
            if v.len() > 4 || !v.chars().all(|ch| ch.is_ascii_digit()) {
                c.err(p(key), "must be at most 4 digits");
            }
        }
        if !a.isup_international_prefix.is_empty()
            && a.isup_national_prefix
                .starts_with(a.isup_international_prefix.as_str())
        {
            c.err(
                p("isup_national_prefix"),
                "must not start with the international prefix",
            );
        }
        if !(10..=180).contains(&a.isup_t6_s) {
            c.err(p("isup_t6_s"), "must be between 10 and 180 seconds");
        }
    }

    let mut ids = HashSet::new();
    for (i, port) in cfg.ports.iter().enumerate() {
        let p = |k: &str| format!("port[{i}].{k}");
        if !ids.insert(port.id) {
            c.err(p("id"), format!("port {} is configured twice", port.id));
        }
        if !port.account.is_empty() && cfg.account(&port.account).is_none() {
            c.err(p("account"), format!("no account named '{}'", port.account));
        }
        if !known_country(&port.country) {
            c.err(p("country"), "must be a two-letter ISO 3166 country code");
        }
        if port.hook_flash_min_ms < 50 || port.hook_flash_min_ms > port.hook_flash_max_ms {
            c.err(
                p("hook_flash_min_ms"),
                "must be at least 50 ms and not above hook_flash_max_ms",
            );
        }
        if port.hook_flash_max_ms > 2000 {
            c.err(p("hook_flash_max_ms"), "must not exceed 2000 ms");
        }
        if port.codecs.is_empty() {
            c.err(p("codecs"), "at least one codec is needed");
        }
        if ![10, 20, 30, 40, 60].contains(&port.ptime_ms) {
            c.err(p("ptime_ms"), "must be one of 10, 20, 30, 40, 60");
        }
        if !(-24.0..=12.0).contains(&port.tx_gain_db) {
            c.err(p("tx_gain_db"), "must be between -24 and +12 dB");
        }
        if !(-24.0..=12.0).contains(&port.rx_gain_db) {
            c.err(p("rx_gain_db"), "must be between -24 and +12 dB");
        }
        if !port.ring_cadence.is_empty() && parse_cadence(&port.ring_cadence).is_none() {
            c.err(
                p("ring_cadence"),
                "must be on,off pairs in ms, e.g. \"2000,4000\" (at most 4 pairs)",
            );
        }
        if !port.dial_plan.is_empty() && crate::call::dialplan::DialPlan::parse(&port.dial_plan).is_err() {
            c.err(p("dial_plan"), "is not a valid dial plan (Cisco/Sipura syntax)");
        }
        if !(10..=600).contains(&port.ring_timeout_s) {
            c.err(p("ring_timeout_s"), "must be between 10 and 600 seconds");
        }
        if port.disconnect.silence_s > 3600 {
            c.err(
                p("disconnect.silence_s"),
                "must be at most 3600 seconds (0 disables)",
            );
        }
        if port.kind == PortKind::Fxo && !port.fxo_pin.bytes().all(|b| b.is_ascii_digit()) {
            c.err(p("fxo_pin"), "must be digits only");
        }
        port_timers(&mut c, port, &p);
    }

    if c.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(c.0))
    }
}

/// The dialling, tone and FXO timing keys of a port: each within what a line and a person can
/// work with.
fn port_timers(c: &mut Collector, port: &Port, p: &dyn Fn(&str) -> String) {
    let ranges: [(&str, u32, u32, u32, &str); 19] = [
        (
            "first_digit_timeout_ms",
            port.first_digit_timeout_ms,
            1000,
            120_000,
            "ms",
        ),
        ("interdigit_long_ms", port.interdigit_long_ms, 1000, 60_000, "ms"),
        ("interdigit_short_ms", port.interdigit_short_ms, 200, 30_000, "ms"),
        ("reorder_tone_s", port.reorder_tone_s, 1, 600, "seconds"),
        ("howler_s", port.howler_s, 0, 600, "seconds"),
        ("cid_delay_ms", port.cid_delay_ms, 200, 2000, "ms"),
        ("dtmf_cid_lead_ms", port.dtmf_cid_lead_ms, 300, 5000, "ms"),
        ("fxo_answer_delay_s", port.fxo_answer_delay_s, 0, 120, "seconds"),
        (
            "fxo_answer_fallback_s",
            port.fxo_answer_fallback_s,
            0,
            300,
            "seconds",
        ),
        (
            "fxo_dial_tone_timeout_ms",
            port.fxo_dial_tone_timeout_ms,
            500,
            30_000,
            "ms",
        ),
        ("fxo_dtmf_on_ms", port.fxo_dtmf_on_ms, 40, 500, "ms"),
        ("fxo_dtmf_off_ms", port.fxo_dtmf_off_ms, 40, 500, "ms"),
        ("fxo_pulse_break_ms", port.fxo_pulse_break_ms, 20, 150, "ms"),
        ("fxo_pulse_make_ms", port.fxo_pulse_make_ms, 20, 150, "ms"),
        (
            "fxo_pulse_interdigit_ms",
            port.fxo_pulse_interdigit_ms,
            200,
            3000,
            "ms",
        ),
        ("fxo_ring_abandon_s", port.fxo_ring_abandon_s, 5, 60, "seconds"),
        ("fxo_answer_rings", port.fxo_answer_rings, 1, 10, "rings"),
        ("fxo_pin_timeout_s", port.fxo_pin_timeout_s, 3, 60, "seconds"),
        ("fxo_release_guard_ms", port.fxo_release_guard_ms, 0, 10_000, "ms"),
    ];
    for (key, v, lo, hi, unit) in ranges {
        if !(lo..=hi).contains(&v) {
            c.err(p(key), format!("must be between {lo} and {hi} {unit}"));
        }
    }
    if port.interdigit_short_ms > port.interdigit_long_ms {
        c.err(
            p("interdigit_short_ms"),
            "must not be above interdigit_long_ms (the short timer runs once a pattern matches)",
        );
    }
    let pulse = port.fxo_pulse_break_ms + port.fxo_pulse_make_ms;
    if !(50..=200).contains(&pulse) {
        c.err(
            p("fxo_pulse_break_ms"),
            "with fxo_pulse_make_ms must make a pulse of 50 to 200 ms (5 to 20 pulses per second)",
        );
    }
}

/// `host` or `host:port`: letters, digits, '.', '-', '_' or an IPv6 literal in brackets.
fn host_port_ok(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

/// Parses "on,off[,on,off...]" (ms) into pairs.
pub fn parse_cadence(s: &str) -> Option<Vec<(u16, u16)>> {
    let v: Option<Vec<u16>> = s.split(',').map(|x| x.trim().parse().ok()).collect();
    let v = v?;
    if v.is_empty() || !v.len().is_multiple_of(2) || v.len() > 8 || v.iter().step_by(2).all(|&on| on == 0) {
        return None;
    }
    Some(v.chunks(2).map(|c| (c[0], c[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_references_and_ranges_are_checked() {
        let mut cfg = Config::default_for_sim();
        cfg.ports[1].account = "nope".into();
        cfg.ports[0].hook_flash_min_ms = 1000;
        cfg.ports[2].ring_cadence = "2000".into();
        let errs = validate(&cfg).unwrap_err().0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "port[0].hook_flash_min_ms",
                "port[1].account",
                "port[2].ring_cadence"
            ]
        );
    }

    #[test]
    fn isup_numbering_and_t6_are_checked() {
        let mut cfg = Config::default_for_sim();
        let a = Account {
            name: "trunk".into(),
            user: "5550100".into(),
            domain: "192.0.2.1".into(),
            register: false,
            trunk_profile: TrunkProfile::SipT,
            ..Account::default()
        };
        assert_eq!(
            (
                a.isup_national_prefix.as_str(),
                a.isup_international_prefix.as_str()
            ),
            ("0", "00")
        );
        cfg.accounts.push(a.clone());
        cfg.accounts.push(Account {
            name: "nanp".into(),
            isup_national_prefix: "1".into(),
            isup_international_prefix: "011".into(),
            isup_t6_s: 120,
            ..a.clone()
        });
        assert!(validate(&cfg).is_ok());
        cfg.accounts.push(Account {
            name: "bad".into(),
            isup_national_prefix: "001".into(),
            isup_t6_s: 5,
            ..a.clone()
        });
        cfg.accounts.push(Account {
            name: "worse".into(),
            isup_international_prefix: "0a".into(),
            isup_national_prefix: "12345".into(),
            ..a
        });
        let errs = validate(&cfg).unwrap_err().0;
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "account[2].isup_national_prefix: must not start with the international prefix",
                "account[2].isup_t6_s: must be between 10 and 180 seconds",
                "account[3].isup_national_prefix: must be at most 4 digits",
                "account[3].isup_international_prefix: must be at most 4 digits",
            ]
        );
    }

    #[test]
    fn dialling_and_fxo_timers_are_checked_by_key() {
        let mut cfg = Config::default_for_sim();
        assert!(validate(&cfg).is_ok(), "defaults are valid");
        cfg.ports[0].interdigit_short_ms = 12_000;
        cfg.ports[0].howler_s = 0;
        cfg.ports[1].first_digit_timeout_ms = 10;
        cfg.ports[2].fxo_dtmf_on_ms = 20;
        cfg.ports[2].fxo_pulse_break_ms = 150;
        cfg.ports[2].fxo_pulse_make_ms = 100;
        cfg.ports[2].fxo_answer_rings = 0;
        let errs = validate(&cfg).unwrap_err().0;
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "port[0].interdigit_short_ms: must not be above interdigit_long_ms (the short timer runs once a pattern matches)",
                "port[1].first_digit_timeout_ms: must be between 1000 and 120000 ms",
                "port[2].fxo_dtmf_on_ms: must be between 40 and 500 ms",
                "port[2].fxo_answer_rings: must be between 1 and 10 rings",
                "port[2].fxo_pulse_break_ms: with fxo_pulse_make_ms must make a pulse of 50 to 200 ms (5 to 20 pulses per second)",
            ]
        );
    }

    #[test]
    fn a_file_without_the_new_keys_loads_with_their_defaults() {
        let toml = "[[port]]\nid = 2\nkind = \"fxo\"\nfxo_destination = \"100\"\n";
        let cfg: Config = toml::from_str(toml).unwrap();
        let p = &cfg.ports[0];
        assert_eq!(p.interdigit_long_ms, 10_000);
        assert_eq!(p.fxo_answer, FxoAnswer::AfterDialling);
        assert_eq!(p.fxo_dialling, FxoDialling::Dtmf);
        assert!(validate(&cfg).is_ok());
        let toml = "[[port]]\nid = 2\nkind = \"fxo\"\nfxo_answer = \"polarity-reversal\"\nfxo_dialling = \"pulse\"\n";
        let cfg: Config = toml::from_str(toml).unwrap();
        assert_eq!(cfg.ports[0].fxo_answer, FxoAnswer::PolarityReversal);
        assert_eq!(cfg.ports[0].fxo_dialling, FxoDialling::Pulse);
    }

    #[test]
    fn cadence_syntax() {
        assert_eq!(parse_cadence("2000,4000"), Some(vec![(2000, 4000)]));
        assert_eq!(
            parse_cadence("400,200,400,2000"),
            Some(vec![(400, 200), (400, 2000)])
        );
        assert_eq!(parse_cadence("0,100"), None);
        assert_eq!(parse_cadence("x,1"), None);
    }
}
