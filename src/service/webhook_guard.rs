//! Where webhook deliveries may go (no SSRF): https only, and never to an
//! address inside the network the server runs in: loopback, private,
//! link-local, shared (CGNAT), multicast, reserved, documentation and the
//! clouds' metadata addresses (IPv4 inside IPv6 included). Checked when a
//! subscription is created and again at every connection, on the addresses
//! the name resolves to then (so a name re-pointed at 127.0.0.1 after the
//! check, DNS rebinding, is refused too). An operator may allow networks
//! (`--webhook-allow-networks`); tests and local development may allow
//! plain http to loopback (`--webhook-allow-loopback-http`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::domain::ValidationError;
use crate::domain::webhooks::MAX_URL_CHARS;

/// What the guard lets through beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Plain http, and loopback addresses (tests and development only).
    pub allow_loopback_http: bool,
    /// Networks deliveries may reach whatever they are.
    pub allow_networks: Vec<IpNet>,
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        (169, 254, 169, 254) | (100, 100, 100, 200) | (192, 0, 0, 192) => {
            Some("a cloud metadata address")
        }
        (0, ..) => Some("an unspecified address"),
        (127, ..) => Some("a loopback address"),
        (10, ..) | (192, 168, ..) => Some("a private address"),
        (172, b, ..) if (16..32).contains(&b) => Some("a private address"),
        (169, 254, ..) => Some("a link-local address"),
        (100, b, ..) if (64..128).contains(&b) => Some("a shared (CGNAT) address"),
        (224..=239, ..) => Some("a multicast address"),
        (240..=255, ..) => Some("a reserved address"),
        (192, 0, 0, _) | (198, 18..=19, ..) => Some("a reserved address"),
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => Some("a documentation address"),
        _ => None,
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_refusal(v4);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return v4_refusal(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return v4_refusal(Ipv4Addr::new(a, b, c, d));
    }
    match segments {
        [0, 0, 0, 0, 0, 0, 0, 1] => Some("a loopback address"),
        [0, 0, 0, 0, 0, 0, 0, 0] => Some("an unspecified address"),
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] => Some("a cloud metadata address"),
        // ::/96 (IPv4-compatible, deprecated) and 100::/64 (discard).
        [0, 0, 0, 0, 0, 0, _, _] | [0x100, 0, 0, 0, ..] => Some("a reserved address"),
        [first, ..] if first & 0xfe00 == 0xfc00 => Some("a private (unique local) address"),
        [first, ..] if first & 0xffc0 == 0xfe80 => Some("a link-local address"),
        [first, ..] if first & 0xff00 == 0xff00 => Some("a multicast address"),
        [0x2001, 0x0db8, ..] => Some("a documentation address"),
        _ => None,
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl AddressPolicy {
    /// Why deliveries may not go to `ip`; none if they may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_networks.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        if self.allow_loopback_http && is_loopback(ip) {
            return None;
        }
        match ip {
            IpAddr::V4(v4) => v4_refusal(v4),
            IpAddr::V6(v6) => v6_refusal(v6),
        }
    }

    /// Checks a subscription's URL as written: https (or http to loopback
    /// when allowed), a host, no credentials or fragment, and not an
    /// address deliveries may not reach.
    pub fn check_url(&self, text: &str) -> Result<url::Url, ValidationError> {
        let invalid = |why: String| ValidationError::new("url", why);
        if text.is_empty() || text.chars().count() > MAX_URL_CHARS {
            return Err(invalid(
                "must be an https URL of at most 2048 characters".to_owned(),
            ));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                "must not contain spaces or control characters".to_owned(),
            ));
        }
        let url = url::Url::parse(text).map_err(|_| {
            invalid("must be an absolute https URL, such as https://hooks.example.com/hbx".into())
        })?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(invalid("must name a host".to_owned())),
        };
        let loopback_name = url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
        match url.scheme() {
            "https" => {}
            "http"
                if self.allow_loopback_http
                    && (loopback_name || literal.is_some_and(is_loopback)) => {}
            _ => {
                return Err(invalid(
                    "must be an https URL: deliveries are never sent in clear text".to_owned(),
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry credentials: deliveries are signed instead".to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment".to_owned()));
        }
        if let Some(ip) = literal
            && let Some(why) = self.refusal(ip)
        {
            return Err(invalid(format!(
                "points at {why} ({ip}): deliveries go only to public addresses"
            )));
        }
        if loopback_name && !self.allow_loopback_http {
            return Err(invalid(
                "points at a loopback address (localhost): deliveries go only to public \
                 addresses"
                    .to_owned(),
            ));
        }
        Ok(url)
    }

    /// Resolves `host` and checks every address it has now; an error names
    /// the first refused. A name that does not resolve is not refused here.
    pub async fn check_resolved(&self, host: &str, port: u16) -> Result<(), ValidationError> {
        let Ok(addresses) = tokio::net::lookup_host((host, port)).await else {
            return Ok(());
        };
        for address in addresses {
            if let Some(why) = self.refusal(address.ip()) {
                return Err(ValidationError::new(
                    "url",
                    format!(
                        "names a host that resolves to {why} ({}): deliveries go only to \
                         public addresses",
                        address.ip()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The DNS resolver of the delivery client: every address a name resolves
/// to is checked, at connect time; one refused address refuses the name.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {why} ({ip}), where deliveries may not go")]
pub struct RefusedAddress {
    pub host: String,
    pub why: &'static str,
    pub ip: IpAddr,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                if let Some(why) = policy.refusal(address.ip()) {
                    return Err(Box::new(RefusedAddress {
                        host,
                        why,
                        ip: address.ip(),
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, ip: &str) -> bool {
        policy.refusal(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn inside_addresses_are_refused_and_public_ones_taken() {
        let strict = AddressPolicy::default();
        for inside in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.192",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(refused(&strict, inside), "{inside} taken");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(!refused(&strict, public), "{public} refused");
        }
        let loopback = AddressPolicy {
            allow_loopback_http: true,
            ..AddressPolicy::default()
        };
        assert!(!refused(&loopback, "127.0.0.1"));
        assert!(!refused(&loopback, "::1"));
        assert!(refused(&loopback, "10.0.0.1"));
        let allowed = AddressPolicy {
            allow_networks: vec!["10.1.0.0/16".parse().unwrap()],
            ..AddressPolicy::default()
        };
        assert!(!refused(&allowed, "10.1.2.3"));
        assert!(refused(&allowed, "10.2.0.1"));
    }

    #[test]
    fn each_refusal_names_its_range() {
        let strict = AddressPolicy::default();
        let why = |ip: &str| strict.refusal(ip.parse().unwrap());
        for (ip, reason) in [
            ("169.254.169.254", "a cloud metadata address"),
            ("100.100.100.200", "a cloud metadata address"),
            ("192.0.0.192", "a cloud metadata address"),
            ("fd00:ec2::254", "a cloud metadata address"),
            ("169.254.1.1", "a link-local address"),
            ("fe80::1", "a link-local address"),
            ("127.0.0.1", "a loopback address"),
            ("::1", "a loopback address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("0.0.0.0", "an unspecified address"),
            ("::", "an unspecified address"),
            ("10.0.0.1", "a private address"),
            ("fd12::1", "a private (unique local) address"),
            ("100.64.0.1", "a shared (CGNAT) address"),
            ("224.0.0.1", "a multicast address"),
            ("ff02::1", "a multicast address"),
            ("240.0.0.1", "a reserved address"),
            ("198.18.0.1", "a reserved address"),
            ("192.0.0.8", "a reserved address"),
            ("::127.0.0.1", "a reserved address"),
            ("192.0.2.1", "a documentation address"),
            ("2001:db8::1", "a documentation address"),
        ] {
            assert_eq!(why(ip), Some(reason), "{ip}");
        }
        assert_eq!(why("198.20.0.1"), None);
        assert_eq!(why("2001:db9::1"), None);
    }

    #[test]
    fn urls_are_https_to_public_hosts() {
        let strict = AddressPolicy::default();
        assert!(strict.check_url("https://hooks.example.com/x?y=1").is_ok());
        for bad in [
            "",
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pass@hooks.example.com/",
            "https://user@hooks.example.com/",
            "https://:pass@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/",
            "https://10.0.0.1:8443/",
            "hooks.example.com",
            "https://hooks.example.com/ x",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad} taken");
        }
        let long = format!("https://h.example/{}", "a".repeat(MAX_URL_CHARS));
        assert!(strict.check_url(&long).is_err());
        let base = "https://h.example/";
        let exact = format!("{base}{}", "é".repeat(MAX_URL_CHARS - base.len()));
        assert!(strict.check_url(&exact).is_ok(), "2048 characters");
        assert!(
            strict.check_url(&format!("{exact}a")).is_err(),
            "2049 characters"
        );
        let loopback = AddressPolicy {
            allow_loopback_http: true,
            ..AddressPolicy::default()
        };
        assert!(loopback.check_url("http://127.0.0.1:9/hook").is_ok());
        assert!(loopback.check_url("http://localhost:9/hook").is_ok());
        assert!(loopback.check_url("http://hooks.example.com/").is_err());
        assert!(loopback.check_url("http://10.0.0.1/").is_err());
    }
}
