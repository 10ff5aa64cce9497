//! The audit trail: one structured log line per security event, under the
//! `tokengate::audit` target (JSON with `log.format = "json"`, text
//! otherwise). Each carries `event`, the request id (added by the
//! formatter), the client as a trusted proxy vouches for it, the user when
//! known, and the replica. Never a token, password, cookie or secret: the
//! methods take none.
//!
//! Register one [`Audit`] as `web::Data<Audit>`; handlers reach it with
//! [`Audit::of`]. Sessions and roles add their events as methods here
//! (`logout`, `revoked`, `sessions_revoked_by_operator`), or through
//! [`Audit::event`].

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use log::Level;

use crate::proxy;

/// The log target of every audit line: `RUST_LOG=tokengate::audit=debug`
/// adds token refusals.
pub const TARGET: &str = "tokengate::audit";

/// Writes audit lines for one replica. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Audit {
    replica: Arc<str>,
}

/// Optional fields of an event; absent ones are left out of the line.
#[derive(Default, Clone, Copy)]
pub struct Fields<'a> {
    pub user: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// Anything else an event needs (a kid, a scope), as name and value.
    pub detail: Option<(&'static str, &'a str)>,
}

impl Audit {
    pub fn new(replica: &str) -> Self {
        Self {
            replica: replica.into(),
        }
    }

    /// The app's audit trail, when one is registered.
    pub fn of(req: &HttpRequest) -> Option<&Audit> {
        req.app_data::<web::Data<Audit>>()
            .map(|data| data.get_ref())
    }

    /// A login that minted a token.
    pub fn login_succeeded(&self, req: &HttpRequest, user: &str) {
        self.event(
            Level::Info,
            Some(req),
            "login_succeeded",
            "login succeeded",
            Fields {
                user: Some(user),
                ..Fields::default()
            },
        );
    }

    /// A login refused: `reason` is its class (`invalid_credentials`,
    /// `busy`, `error`; later `mfa_required`), never which part was wrong.
    pub fn login_failed(&self, req: &HttpRequest, user: Option<&str>, reason: &str) {
        self.event(
            Level::Warn,
            Some(req),
            "login_failed",
            "login failed",
            Fields {
                user,
                reason: Some(reason),
                ..Fields::default()
            },
        );
    }

    /// A login refused by the throttle before any password was checked.
    pub fn login_throttled(&self, req: &HttpRequest, user: &str) {
        self.event(
            Level::Warn,
            Some(req),
            "login_throttled",
            "login throttled",
            Fields {
                user: Some(user),
                reason: Some("too_many_attempts"),
                ..Fields::default()
            },
        );
    }

    /// A token refused, by its exact reason (debug: scanners make many).
    pub fn token_refused(&self, req: &HttpRequest, reason: &str) {
        self.event(
            Level::Debug,
            Some(req),
            "token_refused",
            "token refused",
            Fields {
                reason: Some(reason),
                ..Fields::default()
            },
        );
    }

    /// A configuration reload that took effect.
    pub fn reloaded(&self, signing_kid: &str) {
        self.event(
            Level::Info,
            None,
            "config_reloaded",
            "configuration reloaded",
            Fields {
                detail: Some(("signing_kid", signing_kid)),
                ..Fields::default()
            },
        );
    }

    /// A reload refused; `key` is the config key at fault.
    pub fn reload_failed(&self, key: &str) {
        self.event(
            Level::Error,
            None,
            "config_reload_failed",
            "configuration reload refused",
            Fields {
                reason: Some("invalid_configuration"),
                detail: Some(("key", key)),
                ..Fields::default()
            },
        );
    }

    /// New tokens are now signed with another key.
    pub fn signing_key_changed(&self, from: &str, to: &str) {
        let message = format!("signing key changed from `{from}` to `{to}`");
        self.event(
            Level::Warn,
            None,
            "signing_key_changed",
            &message,
            Fields {
                detail: Some(("signing_kid", to)),
                ..Fields::default()
            },
        );
    }

    /// A user ended a session (sessions, #13): `scope` is `session`, or
    /// `all_sessions` for `everywhere=true`.
    pub fn logout(&self, req: &HttpRequest, user: &str, everywhere: bool) {
        let scope = if everywhere {
            "all_sessions"
        } else {
            "session"
        };
        self.event(
            Level::Info,
            Some(req),
            "logout",
            "logout",
            Fields {
                user: Some(user),
                detail: Some(("scope", scope)),
                ..Fields::default()
            },
        );
    }

    /// A token's session revoked (RFC 7009, `POST /revoke`); `what` says
    /// which (`token`).
    pub fn revoked(&self, req: &HttpRequest, user: Option<&str>, what: &str) {
        self.event(
            Level::Info,
            Some(req),
            "revoked",
            "revoked",
            Fields {
                user,
                detail: Some(("scope", what)),
                ..Fields::default()
            },
        );
    }

    /// An operator ended every session of `user` (`POST /admin/sessions/revoke`).
    pub fn sessions_revoked_by_operator(&self, req: &HttpRequest, operator: &str, user: &str) {
        self.event(
            Level::Info,
            Some(req),
            "sessions_revoked_by_operator",
            "an operator ended every session of a user",
            Fields {
                user: Some(user),
                detail: Some(("operator", operator)),
                ..Fields::default()
            },
        );
    }

    /// Any event: `event` is its stable name (snake_case), `message` the
    /// human sentence. The request id comes from the logging scope.
    pub fn event(
        &self,
        level: Level,
        req: Option<&HttpRequest>,
        event: &str,
        message: &str,
        fields: Fields<'_>,
    ) {
        if !log::log_enabled!(target: TARGET, level) {
            return;
        }
        let client = req.and_then(proxy::client_ip).map(|ip| ip.to_string());
        let mut pairs: Vec<(&str, &str)> = vec![("event", event), ("replica", &self.replica)];
        if let Some(client) = &client {
            pairs.push(("client", client));
        }
        if let Some(user) = fields.user {
            pairs.push(("user", user));
        }
        if let Some(reason) = fields.reason {
            pairs.push(("reason", reason));
        }
        if let Some((name, value)) = fields.detail {
            pairs.push((name, value));
        }
        log::logger().log(
            &log::Record::builder()
                .args(format_args!("{message}"))
                .level(level)
                .target(TARGET)
                .module_path_static(Some(module_path!()))
                .key_values(&pairs)
                .build(),
        );
    }
}
