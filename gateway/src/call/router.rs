//! Calls between local ports without a SIP server.
//!
//! [`LocalRouter`] sits between the ports' call control and the user agent. When a port asks to
//! INVITE a number that is another local port's extension, the router plays the SIP side of both
//! ports itself: the called port gets an incoming call, its 180/200/486 reach the caller as
//! progress/answer/failure, and BYE/CANCEL on either side end the other. Media of an answered
//! local call is a bridge between the two ports' line audio.
//!
//! Default extensions: `*0<n>` for the port with id `n - 1` (`*01` rings port 0, `*02` port 1),
//! which the default dial plan's `*xx` pattern dials.

use super::{CallerInfo, LegId, PortAction, SipEvent};

/// Legs the router creates toward called ports carry this bit (ports number theirs below it).
pub const LOCAL_LEG_BIT: u32 = 0x8000_0000;

/// What the router asks the control plane to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Deliver this SIP-side event to a port's call control.
    ToPort { port: u8, event: SipEvent },
    /// Connect the two ports' line audio to each other.
    Bridge { a: u8, b: u8 },
    /// Undo [`Routed::Bridge`].
    Unbridge { a: u8, b: u8 },
}

#[derive(Clone, Debug)]
struct LocalCall {
    a_port: u8,
    a_leg: LegId,
    b_port: u8,
    b_leg: LegId,
    answered: bool,
}

/// Routes calls between local ports by extension.
#[derive(Clone, Debug, Default)]
pub struct LocalRouter {
    extensions: Vec<(String, u8)>,
    calls: Vec<LocalCall>,
    next: u32,
}

impl LocalRouter {
    /// `extensions`: (number, port id).
    pub fn new(extensions: Vec<(String, u8)>) -> LocalRouter {
        LocalRouter {
            extensions,
            calls: Vec::new(),
            next: 0,
        }
    }

    /// The default extensions of these FXS port ids (`*01` for port 0...).
    /// The extensions (number, port).
    pub fn extensions(&self) -> &[(String, u8)] {
        &self.extensions
    }

    /// True when no local call is in progress.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn default_extensions(ports: &[u8]) -> Vec<(String, u8)> {
        ports
            .iter()
            .map(|&p| (format!("*0{}", u32::from(p) + 1), p))
            .collect()
    }

    /// The local port `number` reaches, if any.
    pub fn port_for(&self, number: &str) -> Option<u8> {
        self.extensions.iter().find(|(n, _)| n == number).map(|&(_, p)| p)
    }

    /// Number of local calls in progress.
    pub fn active(&self) -> usize {
        self.calls.len()
    }

    /// Offers a port's action to the router: `None` when the router has nothing to do with it
    /// (send it to the user agent / media loop), otherwise what to do instead.
    pub fn action(&mut self, port: u8, action: &PortAction) -> Option<Vec<Routed>> {
        if let PortAction::Invite { leg, number, caller } = action {
            let b_port = self.port_for(number)?;
            return Some(self.place(port, *leg, b_port, caller.clone().unwrap_or_default()));
        }
        let leg = match action {
            PortAction::Ringing { leg, .. }
            | PortAction::Reject { leg, .. }
            | PortAction::SendKey { leg, .. } => *leg,
            PortAction::Answer(l)
            | PortAction::Cancel(l)
            | PortAction::Bye(l)
            | PortAction::MediaConnect(l)
            | PortAction::MediaEarly(l)
            | PortAction::MediaDisconnect(l) => *l,
            _ => return None,
        };
        let i = self
            .calls
            .iter()
            .position(|c| (c.a_port == port && c.a_leg == leg) || (c.b_port == port && c.b_leg == leg))?;
        let c = self.calls[i].clone();
        let from_a = c.a_port == port && c.a_leg == leg;
        let (peer, peer_leg) = if from_a {
            (c.b_port, c.b_leg)
        } else {
            (c.a_port, c.a_leg)
        };
        let to_peer = |event| Routed::ToPort { port: peer, event };
        let out = match action {
            PortAction::Ringing { .. } => vec![to_peer(SipEvent::Progress {
                leg: peer_leg,
                status: 180,
                early_media: false,
            })],
            PortAction::Answer(_) => {
                self.calls[i].answered = true;
                vec![
                    to_peer(SipEvent::Answered { leg: peer_leg }),
                    Routed::Bridge {
                        a: c.a_port,
                        b: c.b_port,
                    },
                ]
            }
            PortAction::Reject { status, .. } => {
                self.calls.remove(i);
                vec![to_peer(SipEvent::Failed {
                    leg: peer_leg,
                    status: *status,
                })]
            }
            PortAction::Cancel(_) | PortAction::Bye(_) => {
                self.calls.remove(i);
                let mut v = vec![to_peer(SipEvent::Ended { leg: peer_leg })];
                if c.answered {
                    v.push(Routed::Unbridge {
                        a: c.a_port,
                        b: c.b_port,
                    });
                }
                v
            }
            // Local audio is bridged, keys travel in band.
            _ => Vec::new(),
        };
        Some(out)
    }

    fn place(&mut self, a_port: u8, a_leg: LegId, b_port: u8, mut caller: CallerInfo) -> Vec<Routed> {
        if caller.number.is_empty() {
            // Show the calling port's own extension.
            if let Some((n, _)) = self.extensions.iter().find(|&&(_, p)| p == a_port) {
                caller.number = n.clone();
            }
        }
        if b_port == a_port
            || self
                .calls
                .iter()
                .any(|c| c.a_port == b_port || c.b_port == b_port)
        {
            return vec![Routed::ToPort {
                port: a_port,
                event: SipEvent::Failed {
                    leg: a_leg,
                    status: 486,
                },
            }];
        }
        let b_leg = LegId(LOCAL_LEG_BIT | self.next);
        self.next = (self.next + 1) & !LOCAL_LEG_BIT;
        self.calls.push(LocalCall {
            a_port,
            a_leg,
            b_port,
            b_leg,
            answered: false,
        });
        vec![Routed::ToPort {
            port: b_port,
            event: SipEvent::Incoming {
                leg: b_leg,
                caller,
                called: String::new(),
                distinctive_ring: None,
            },
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::dialplan::DialPlan;
    use crate::call::fxs::{FxsPort, FxsSettings, FxsState};
    use codecs::tones::ToneKind;
    use hal::Instant;
    use hal::fxs::FxsEventKind;

    /// Two FXS ports and the router, with every action routed (the rest is collected).
    struct Rig {
        ports: [FxsPort; 2],
        router: LocalRouter,
        seen: Vec<(u8, PortAction)>,
        routed: Vec<Routed>,
    }

    impl Rig {
        fn new() -> Rig {
            let plan = || DialPlan::parse("(*xx|[2-9]xxxxxx)").unwrap();
            Rig {
                ports: [
                    FxsPort::new(0, FxsSettings::defaults(plan())),
                    FxsPort::new(1, FxsSettings::defaults(plan())),
                ],
                router: LocalRouter::new(LocalRouter::default_extensions(&[0, 1])),
                seen: Vec::new(),
                routed: Vec::new(),
            }
        }

        fn pump(&mut self, now: Instant) {
            loop {
                let mut any = false;
                for p in 0..2u8 {
                    while let Some(a) = self.ports[p as usize].take_action() {
                        any = true;
                        match self.router.action(p, &a) {
                            Some(rs) => {
                                for r in rs {
                                    if let Routed::ToPort { port, event } = &r {
                                        self.ports[*port as usize].sip(event.clone(), now);
                                    }
                                    self.routed.push(r);
                                }
                            }
                            None => self.seen.push((p, a)),
                        }
                    }
                }
                if !any {
                    break;
                }
            }
        }
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn port_to_port_call_rings_answers_bridges_and_hangs_up() {
        let mut r = Rig::new();
        r.ports[0].line(FxsEventKind::OffHook, t(0));
        for (i, k) in "*02".bytes().enumerate() {
            r.ports[0].dtmf(k, t(1000 + 100 * i as u64));
        }
        r.pump(t(1200));
        assert!(matches!(r.ports[1].state(), FxsState::Ringing { .. }));
        assert!(matches!(r.ports[0].state(), FxsState::Calling { .. }));
        assert!(
            r.seen.contains(&(0, PortAction::Tone(ToneKind::Ringback))),
            "{:?}",
            r.seen
        );
        // Caller ID of the called port shows the calling port's extension.
        r.ports[1].poll(t(1200 + 2500));
        r.pump(t(3700));
        assert!(
            r.seen
                .iter()
                .any(|(p, a)| *p == 1 && matches!(a, PortAction::CallerId(c) if c.number == "*01"))
        );
        r.ports[1].line(FxsEventKind::OffHook, t(5000));
        r.pump(t(5000));
        assert!(matches!(r.ports[0].state(), FxsState::Connected { .. }));
        assert!(matches!(r.ports[1].state(), FxsState::Connected { .. }));
        assert!(r.routed.contains(&Routed::Bridge { a: 0, b: 1 }));
        r.ports[1].line(FxsEventKind::OnHook, t(9000));
        r.pump(t(9000));
        assert!(r.routed.contains(&Routed::Unbridge { a: 0, b: 1 }));
        assert_eq!(
            r.ports[0].state(),
            FxsState::Signalling {
                tone: Some(ToneKind::Congestion),
                howler: false
            }
        );
        assert_eq!(r.router.active(), 0);
    }

    #[test]
    fn calling_a_busy_port_gives_busy_and_cancel_stops_ringing() {
        let mut r = Rig::new();
        r.ports[1].line(FxsEventKind::OffHook, t(0));
        r.ports[0].line(FxsEventKind::OffHook, t(0));
        for k in "*02".bytes() {
            r.ports[0].dtmf(k, t(1000));
        }
        r.pump(t(1000));
        assert_eq!(
            r.ports[0].state(),
            FxsState::Signalling {
                tone: Some(ToneKind::Busy),
                howler: false
            }
        );

        let mut r = Rig::new();
        r.ports[0].line(FxsEventKind::OffHook, t(0));
        for k in "*02".bytes() {
            r.ports[0].dtmf(k, t(1000));
        }
        r.pump(t(1000));
        r.ports[0].line(FxsEventKind::OnHook, t(3000));
        r.pump(t(3000));
        assert_eq!(r.ports[1].state(), FxsState::Idle);
        assert_eq!(r.router.active(), 0);
    }

    #[test]
    fn calling_yourself_is_busy_and_other_numbers_pass_through() {
        let mut r = Rig::new();
        r.ports[0].line(FxsEventKind::OffHook, t(0));
        for k in "*01".bytes() {
            r.ports[0].dtmf(k, t(1000));
        }
        r.pump(t(1000));
        assert_eq!(
            r.ports[0].state(),
            FxsState::Signalling {
                tone: Some(ToneKind::Busy),
                howler: false
            }
        );
        let mut r = Rig::new();
        r.ports[0].line(FxsEventKind::OffHook, t(0));
        for k in "5551212".bytes() {
            r.ports[0].dtmf(k, t(1000));
        }
        r.pump(t(1000));
        assert!(
            r.seen
                .iter()
                .any(|(_, a)| matches!(a, PortAction::Invite { number, .. } if number == "5551212"))
        );
    }
}
