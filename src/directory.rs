//! What tokengate knows about each user besides the password: their groups
//! (the `roles` claim) and TOTP secrets, with the second-factor rules. Built
//! from the settings and swapped whole on reload, like the users file.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::MfaSettings;
use crate::credentials::Groups;
use crate::mfa::TotpSecrets;

pub struct Directory {
    current: ArcSwap<Entries>,
}

/// One consistent set: a login reads groups, secrets and rules from one reload.
pub struct Entries {
    pub groups: Groups,
    pub totp: TotpSecrets,
    pub mfa: MfaSettings,
}

impl Directory {
    pub fn new(groups: Groups, totp: TotpSecrets, mfa: MfaSettings) -> Self {
        Self {
            current: ArcSwap::from_pointee(Entries { groups, totp, mfa }),
        }
    }

    pub fn load(&self) -> Arc<Entries> {
        self.current.load_full()
    }

    pub fn replace(&self, other: Directory) {
        self.current.store(other.current.into_inner());
    }
}
