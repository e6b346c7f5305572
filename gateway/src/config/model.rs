//! Configuration types. Field names are the TOML keys; every field has a default so a minimal
//! file stays minimal, and unknown keys are rejected so a typo never silently does nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub network: Network,
    pub web: Web,
    pub nat: Nat,
    pub security: Security,
    pub log: Log,
    #[serde(rename = "account")]
    pub accounts: Vec<Account>,
    #[serde(rename = "port")]
    pub ports: Vec<Port>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Interface address SIP and RTP bind to (and advertise in Via, Contact and SDP).
    pub interface: IpAddr,
    pub sip_port: u16,
    pub sip_transport: SipTransport,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// RFC 3261 T1/T2/T4 in milliseconds.
    pub t1_ms: u32,
    pub t2_ms: u32,
    pub t4_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat {
    /// STUN server (host:port) used to learn the public address; empty for none.
    pub stun_server: String,
    /// Public IP address the gateway is reached at through a port-forwarding router (the same
    /// ports as the local ones); advertised in Via, Contact and SDP instead of the interface
    /// address, and instead of what STUN learns. Empty for none.
    pub external_address: String,
    /// Interval of keepalives toward the registrar/proxy (CRLF on TCP, empty packet or OPTIONS on UDP).
    pub keepalive_s: u32,
    /// Send RTP to where the peer's RTP comes from rather than to its SDP address.
    pub symmetric_rtp: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// PHC-format password hash of the web administrator; empty until the first visit sets it.
    pub admin_password_hash: String,
    /// Login attempts allowed per minute per client address.
    pub login_attempts_per_min: u32,
    /// A web session ends after this many minutes without a request.
    pub session_idle_min: u32,
    /// Mark the session cookie `Secure` (set when the page is reached through an HTTPS proxy).
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub level: LogLevel,
    /// Log every SIP message sent and received.
    pub sip_trace: bool,
    /// Lines kept in memory for the web page's log view.
    pub ring_lines: u32,
}

/// How SIP signalling toward this account's peer carries PSTN information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrunkProfile {
    /// Plain SIP.
    Sip,
    /// SIP-T (RFC 3372): ISUP encapsulated in SIP bodies.
    SipT,
    /// SIP-I (ITU-T Q.1912.5).
    SipI,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Account {
    /// Name ports refer to.
    pub name: String,
    pub enabled: bool,
    /// User part of the address of record (the phone number, usually).
    pub user: String,
    pub display_name: String,
    /// SIP domain of the address of record.
    pub domain: String,
    /// Registrar host[:port]; defaults to the domain when empty.
    pub registrar: String,
    /// Proxy host[:port] for calls; defaults to the registrar when empty.
    pub proxy: String,
    /// Outbound proxy every request is sent through, when set.
    pub outbound_proxy: String,
    /// Authentication user name; defaults to `user`.
    pub auth_user: String,
    pub password: String,
    pub register: bool,
    /// Requested registration lifetime in seconds.
    pub expires_s: u32,
    pub trunk_profile: TrunkProfile,
    /// SIP-T/SIP-I: trunk prefix of national numbers (stripped from the numbers put in IAMs,
    /// nature of address national). Digits, may be empty.
    pub isup_national_prefix: String,
    /// SIP-T/SIP-I: international access prefix (stripped like `+`, nature of address
    /// international). Digits, may be empty.
    pub isup_international_prefix: String,
    /// SIP-T/SIP-I: Q.764 T6, how long a call suspended by the network (SUS) may stay so
    /// before it is released with cause 102, seconds.
    pub isup_t6_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    Fxs,
    Fxo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerIdStandard {
    None,
    Bell202,
    V23,
    Dtmf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Pcmu,
    Pcma,
    Gsm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMode {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// SIP INFO with application/dtmf-relay.
    Info,
    /// Tones left in the audio.
    Inband,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FxoMode {
    /// Ringing on the PSTN line calls the configured SIP destination directly.
    OneStage,
    /// The line is answered, the caller hears dial tone and dials the SIP destination.
    TwoStage,
}

/// When an outbound PSTN call (SIP -> FXO) is answered toward the SIP caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FxoAnswer {
    /// `fxo_answer_delay_s` after the last digit is dialled (lines without answer supervision).
    AfterDialling,
    /// When the exchange reverses the line polarity (the called party answered); after
    /// `fxo_answer_fallback_s` without a reversal, answer anyway (0: never).
    PolarityReversal,
}

/// How the FXO port dials the PSTN number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FxoDialling {
    Dtmf,
    /// Loop-disconnect pulses (`*` and `#` cannot be pulse dialled and are left out).
    Pulse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Disconnect {
    pub polarity_reversal: bool,
    pub loop_current_drop: bool,
    pub busy_tone: bool,
    /// Hang up after this many seconds of silence both ways; 0 disables.
    pub silence_s: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Port {
    /// Board port index, from 0.
    pub id: u8,
    pub kind: PortKind,
    pub enabled: bool,
    /// Account (by name) this port registers and calls through.
    pub account: String,
    /// Dial plan in Cisco/Sipura syntax.
    pub dial_plan: String,
    /// ISO 3166 country: tone plan, ring cadence and caller ID defaults.
    pub country: String,
    pub caller_id: CallerIdStandard,
    /// Ring cadence override as "on,off[,on,off...]" in ms; empty uses the country's.
    pub ring_cadence: String,
    pub hook_flash_min_ms: u32,
    pub hook_flash_max_ms: u32,
    /// Gain toward the line (dB) and from the line (dB).
    pub tx_gain_db: f32,
    pub rx_gain_db: f32,
    pub codecs: Vec<Codec>,
    pub ptime_ms: u32,
    /// Offer and accept RFC 2198 redundant audio (each packet also carries the previous frame).
    pub redundancy: bool,
    pub dtmf_mode: DtmfMode,
    pub echo_canceller: bool,
    /// Ring timeout for incoming calls (480 after it).
    pub ring_timeout_s: u32,
    pub fxo_mode: FxoMode,
    /// SIP URI or number called by one-stage FXO calls.
    pub fxo_destination: String,
    /// PIN asked for by two-stage FXO calls; empty for none.
    pub fxo_pin: String,
    pub disconnect: Disconnect,

    // Dialling (FXS, and FXO two-stage): the dial plan's timers.
    /// Off-hook with no key pressed for this long: reorder tone.
    pub first_digit_timeout_ms: u32,
    /// Interdigit long timer: no pattern matches yet but one still can.
    pub interdigit_long_ms: u32,
    /// Interdigit short timer: a pattern matches, a longer one still could.
    pub interdigit_short_ms: u32,

    // FXS: what a phone left off the hook hears, caller ID timing, answer signalling.
    /// How long busy, reorder or SIT plays before the howler.
    pub reorder_tone_s: u32,
    /// How long the howler (receiver off-hook tone) plays before silence; 0: no howler.
    pub howler_s: u32,
    /// SIT rather than reorder when a number does not exist (404, 410, 484, 604).
    pub sit_for_bad_numbers: bool,
    /// FSK caller ID starts this long after the end of the first ring.
    pub cid_delay_ms: u32,
    /// DTMF caller ID is sent this long before the first ring.
    pub dtmf_cid_lead_ms: u32,
    /// Reverse the line polarity while a call is connected (answer supervision for payphones
    /// and call loggers).
    pub answer_polarity_reversal: bool,

    // FXO: outbound calls (SIP -> PSTN).
    pub fxo_answer: FxoAnswer,
    /// `after-dialling`: seconds from the last digit to the answer.
    pub fxo_answer_delay_s: u32,
    /// `polarity-reversal`: answer anyway after this many seconds without a reversal; 0: never.
    pub fxo_answer_fallback_s: u32,
    /// How long to wait for the exchange's dial tone after seizing the line.
    pub fxo_dial_tone_timeout_ms: u32,
    /// Dial even when no dial tone was heard in time (otherwise the call fails with 503).
    pub fxo_dial_without_dial_tone: bool,
    pub fxo_dialling: FxoDialling,
    /// DTMF digit length and the pause after it.
    pub fxo_dtmf_on_ms: u32,
    pub fxo_dtmf_off_ms: u32,
    /// One pulse: loop broken, then made (60/40 at 10 pulses per second).
    pub fxo_pulse_break_ms: u32,
    pub fxo_pulse_make_ms: u32,
    /// Loop closed between pulse-dialled digits.
    pub fxo_pulse_interdigit_ms: u32,

    // FXO: inbound calls (PSTN -> SIP) and the line between calls.
    /// The PSTN caller gave up when no ring came for this long.
    pub fxo_ring_abandon_s: u32,
    /// Two-stage: answer the line on this ring (1: at once).
    pub fxo_answer_rings: u32,
    /// Two-stage: time to key in the PIN.
    pub fxo_pin_timeout_s: u32,
    /// After the line is released, ringing is ignored this long (the exchange is clearing).
    pub fxo_release_guard_ms: u32,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            interface: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sip_port: 5060,
            sip_transport: SipTransport::Udp,
            rtp_port_min: 16384,
            rtp_port_max: 16482,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
        }
    }
}

impl Default for Nat {
    fn default() -> Self {
        Nat {
            stun_server: String::new(),
            external_address: String::new(),
            keepalive_s: 30,
            symmetric_rtp: true,
        }
    }
}

impl Default for Security {
    fn default() -> Self {
        Security {
            admin_password_hash: String::new(),
            login_attempts_per_min: 5,
            session_idle_min: 30,
            secure_cookies: false,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: LogLevel::Info,
            sip_trace: false,
            ring_lines: 1000,
        }
    }
}

impl Default for Account {
    fn default() -> Self {
        Account {
            name: String::new(),
            enabled: true,
            user: String::new(),
            display_name: String::new(),
            domain: String::new(),
            registrar: String::new(),
            proxy: String::new(),
            outbound_proxy: String::new(),
            auth_user: String::new(),
            password: String::new(),
            register: true,
            expires_s: 3600,
            trunk_profile: TrunkProfile::Sip,
            isup_national_prefix: "0".into(),
            isup_international_prefix: "00".into(),
            isup_t6_s: 90,
        }
    }
}

impl Default for Disconnect {
    fn default() -> Self {
        Disconnect {
            polarity_reversal: true,
            loop_current_drop: true,
            busy_tone: true,
            silence_s: 0,
        }
    }
}

/// The dial plan Cisco/Linksys ATAs ship with for North America.
pub const DEFAULT_DIAL_PLAN: &str = "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)";

impl Default for Port {
    fn default() -> Self {
        Port {
            id: 0,
            kind: PortKind::Fxs,
            enabled: true,
            account: String::new(),
            dial_plan: DEFAULT_DIAL_PLAN.to_string(),
            country: "US".to_string(),
            caller_id: CallerIdStandard::Bell202,
            ring_cadence: String::new(),
            hook_flash_min_ms: 100,
            hook_flash_max_ms: 900,
            tx_gain_db: 0.0,
            rx_gain_db: 0.0,
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Gsm],
            ptime_ms: 20,
            redundancy: false,
            dtmf_mode: DtmfMode::Rfc4733,
            echo_canceller: true,
            ring_timeout_s: 60,
            fxo_mode: FxoMode::OneStage,
            fxo_destination: String::new(),
            fxo_pin: String::new(),
            disconnect: Disconnect::default(),
            first_digit_timeout_ms: 15_000,
            interdigit_long_ms: 10_000,
            interdigit_short_ms: 3_000,
            reorder_tone_s: 30,
            howler_s: 60,
            sit_for_bad_numbers: true,
            cid_delay_ms: 500,
            dtmf_cid_lead_ms: 1500,
            answer_polarity_reversal: false,
            fxo_answer: FxoAnswer::AfterDialling,
            fxo_answer_delay_s: 0,
            fxo_answer_fallback_s: 0,
            fxo_dial_tone_timeout_ms: 3000,
            fxo_dial_without_dial_tone: true,
            fxo_dialling: FxoDialling::Dtmf,
            fxo_dtmf_on_ms: 100,
            fxo_dtmf_off_ms: 100,
            fxo_pulse_break_ms: 60,
            fxo_pulse_make_ms: 40,
            fxo_pulse_interdigit_ms: 800,
            fxo_ring_abandon_s: 8,
            fxo_answer_rings: 1,
            fxo_pin_timeout_s: 10,
            fxo_release_guard_ms: 2000,
        }
    }
}

impl Config {
    /// The configuration `make run` starts with: the simulated board's two FXS ports and its
    /// FXO port, no SIP account yet (calls between the FXS ports work without one).
    pub fn default_for_sim() -> Config {
        let fxs = |id| Port {
            id,
            ..Port::default()
        };
        Config {
            ports: vec![
                fxs(0),
                fxs(1),
                Port {
                    id: 2,
                    kind: PortKind::Fxo,
                    caller_id: CallerIdStandard::Bell202,
                    ..Port::default()
                },
            ],
            ..Config::default()
        }
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}
