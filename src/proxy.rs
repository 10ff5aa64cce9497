//! Running behind a load balancer: who the client really is and whether it
//! used HTTPS, taken from forwarding headers only when a trusted proxy sent
//! them, and the name of this replica, sent on every response.
//!
//! actix's `ConnectionInfo::realip_remote_addr` believes any client's
//! `X-Forwarded-For`; these functions believe only configured proxies.

use std::fmt;
use std::net::IpAddr;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

/// The response header naming the replica that answered.
pub const INSTANCE_ID_HEADER: HeaderName = HeaderName::from_static("x-instance-id");

/// The proxies whose forwarding headers are believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`).
    /// The error names the entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not an IP address or CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address, given the TCP peer and the request's
    /// `X-Forwarded-For` values in header order. The chain is read from the
    /// right, skipping trusted hops: everything left of the first untrusted
    /// hop could have been written by the client itself.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            // An unparsable hop ends the walk at the last proxy we trust.
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = address.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// The client's address: the TCP peer, or the `X-Forwarded-For` hop a trusted
/// proxy vouches for. `None` only where actix knows no peer (unit tests).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let Some(trusted) = req.app_data::<web::Data<TrustedProxies>>() else {
        return Some(peer);
    };
    let forwarded_for = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    Some(trusted.client_address(peer, forwarded_for))
}

/// Whether the client's request was HTTPS: this server's own TLS, or
/// `X-Forwarded-Proto: https` from a trusted proxy.
pub fn is_https(req: &HttpRequest) -> bool {
    if req.app_config().secure() {
        return true;
    }
    peer_is_trusted(req)
        && req
            .headers()
            .get_all("x-forwarded-proto")
            .next_back()
            .and_then(|value| value.to_str().ok())
            // The rightmost value is the trusted proxy's; any before it the client's.
            .and_then(|value| value.rsplit(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Whether the TCP peer is one of `server.trusted_proxies`, whose
/// forwarding headers (`X-Forwarded-*`, `X-Request-Id`) are believed.
pub fn peer_is_trusted(req: &HttpRequest) -> bool {
    match (req.peer_addr(), req.app_data::<web::Data<TrustedProxies>>()) {
        (Some(peer), Some(trusted)) => trusted.contains(peer.ip()),
        _ => false,
    }
}

/// The replica's name (`server.instance_id`, else the hostname), already
/// checked to be a valid header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId(HeaderValue);

impl InstanceId {
    /// A name of at most 64 URL-safe characters.
    pub fn new(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("must not be empty".to_owned());
        }
        HeaderValue::from_str(name)
            .ok()
            .filter(|_| name.bytes().all(|b| b.is_ascii_graphic()))
            .map(Self)
            .ok_or_else(|| format!("`{name}` must be printable ASCII without spaces"))
    }

    /// This machine's hostname, or `tokengate` when it has none usable.
    pub fn from_hostname() -> Self {
        let hostname = gethostname::gethostname();
        Self::new(&hostname.to_string_lossy())
            .unwrap_or_else(|_| Self(HeaderValue::from_static("tokengate")))
    }

    /// The `X-Instance-Id` header value.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    #[test]
    fn addresses_and_networks_parse_and_garbage_is_named() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8", "::1"]);
        assert!(proxies.contains(ip("127.0.0.1")));
        assert!(proxies.contains(ip("10.20.30.40")));
        assert!(proxies.contains(ip("::1")));
        assert!(!proxies.contains(ip("127.0.0.2")));
        let error = TrustedProxies::parse(&["10.0.0.0/8", "proxy.local"]).unwrap_err();
        assert!(error.contains("proxy.local"), "{error}");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = trusted(&["10.0.0.1"]);
        let client = proxies.client_address(ip("203.0.113.9"), ["1.2.3.4"]);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_vouches_for_the_hop_it_appended() {
        let proxies = trusted(&["10.0.0.1"]);
        // The client forged the first entry; the proxy appended the real peer.
        let client = proxies.client_address(ip("10.0.0.1"), ["6.6.6.6, 198.51.100.7"]);
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right_across_headers() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let client = proxies.client_address(ip("10.0.0.1"), ["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn a_chain_of_only_trusted_hops_yields_the_leftmost() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let client = proxies.client_address(ip("10.0.0.1"), ["10.0.0.9, 10.0.0.5"]);
        assert_eq!(client, ip("10.0.0.9"));
    }

    #[test]
    fn garbage_in_the_chain_stops_at_the_last_trusted_hop() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let client = proxies.client_address(ip("10.0.0.1"), ["1.2.3.4, unknown, 10.0.0.5"]);
        assert_eq!(client, ip("10.0.0.5"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let proxies = trusted(&["127.0.0.1"]);
        let client = proxies.client_address(ip("127.0.0.1"), []);
        assert_eq!(client, ip("127.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_entries() {
        let proxies = trusted(&["127.0.0.1"]);
        let client = proxies.client_address(ip("::ffff:127.0.0.1"), ["192.0.2.1"]);
        assert_eq!(client, ip("192.0.2.1"));
    }

    #[test]
    fn request_helpers_honour_headers_only_from_trusted_peers() {
        let request = |peer: &str| {
            TestRequest::default()
                .peer_addr(format!("{peer}:5000").parse().unwrap())
                .insert_header(("X-Forwarded-For", "192.0.2.1"))
                .insert_header(("X-Forwarded-Proto", "https"))
                .app_data(web::Data::new(trusted(&["127.0.0.1"])))
                .to_http_request()
        };
        let via_proxy = request("127.0.0.1");
        assert_eq!(client_ip(&via_proxy), Some(ip("192.0.2.1")));
        assert!(is_https(&via_proxy));
        let direct = request("203.0.113.9");
        assert_eq!(client_ip(&direct), Some(ip("203.0.113.9")));
        assert!(!is_https(&direct));
    }

    #[test]
    fn the_trusted_proxys_forwarded_proto_is_the_rightmost_value() {
        let request = |values: &[&str]| {
            let mut request = TestRequest::default()
                .peer_addr("127.0.0.1:5000".parse().unwrap())
                .app_data(web::Data::new(trusted(&["127.0.0.1"])));
            for value in values {
                request = request.append_header(("X-Forwarded-Proto", *value));
            }
            request.to_http_request()
        };
        // The client sent `https`, the proxy appended what it saw: http.
        assert!(!is_https(&request(&["https, http"])));
        assert!(!is_https(&request(&["https", "http"])));
        assert!(is_https(&request(&["http, https"])));
        assert!(is_https(&request(&["http", "https"])));
    }

    #[test]
    fn instance_ids_must_be_printable_header_values() {
        assert_eq!(InstanceId::new("replica-a").unwrap().as_str(), "replica-a");
        assert!(InstanceId::new("").is_err());
        assert!(InstanceId::new("two words").is_err());
        assert!(InstanceId::new("bad\nname").is_err());
        assert!(!InstanceId::from_hostname().as_str().is_empty());
    }
}
