//! What an account's trunk profile puts on the wire.
//!
//! | profile | ISUP bodies | Content-Disposition of the ISUP part |
//! |---------|-------------|--------------------------------------|
//! | `sip`   | none; received ISUP parts with `handling=optional` are ignored | - |
//! | `sip-t` | IAM in the INVITE, REL in BYE/CANCEL/final responses, mid-call ISUP in INFO | `signal;handling=optional` (RFC 3372: a peer unaware of SIP-T may ignore it) |
//! | `sip-i` | as SIP-T | `signal;handling=required` (Q.1912.5: the ISUP is part of the call's semantics) |

use super::isup::Variant;
use super::mime::Handling;
use crate::config::model::TrunkProfile;

/// The ISUP behaviour of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunkBehaviour {
    pub profile: TrunkProfile,
    /// ISUP variant we emit (and assume for received parts that name none we know).
    pub variant: Variant,
}

impl TrunkBehaviour {
    /// ITU-T ISUP for the profile.
    pub fn new(profile: TrunkProfile) -> Self {
        TrunkBehaviour {
            profile,
            variant: Variant::Itu,
        }
    }

    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }

    /// Whether outgoing messages carry encapsulated ISUP.
    pub fn carries_isup(&self) -> bool {
        !matches!(self.profile, TrunkProfile::Sip)
    }

    /// `handling` parameter of the ISUP parts we send.
    pub fn handling(&self) -> Handling {
        match self.profile {
            TrunkProfile::SipI => Handling::Required,
            _ => Handling::Optional,
        }
    }
}
