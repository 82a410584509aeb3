//! Who a request comes from, for limits that anyone's requests count against
//! (the public revocation endpoint): the peer's address, or, behind trusted
//! proxies, the first address in `X-Forwarded-For` they did not add; and the
//! key a limiter counts that client under (IPv6 by network, since one
//! subscriber usually holds a whole /64 and could otherwise take a fresh
//! address for every request).

use std::net::{IpAddr, Ipv6Addr};

use crate::config::TrustedProxy;

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then `X-Forwarded-For` is read from the right (the entries the trusted
/// proxies added) to the first address that is not a trusted proxy. The left
/// part of the header is the client's own say, and is never believed. Each
/// entry may carry a port (`192.0.2.1:5678`, `[2001:db8::1]:443`) or
/// brackets (`[2001:db8::1]`), as proxies write them.
pub fn client_address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = forwarded_address(hop) else {
            // Unreadable: stop at the last trusted hop rather than guess.
            break;
        };
        client = address.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry's address: a bare IPv4 or IPv6 address, an
/// IPv4 address with a port, or a bracketed IPv6 address with or without one.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address);
    }
    if let Some(bracketed) = entry.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok
            .then(|| address.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
            .flatten();
    }
    let (address, port) = entry.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.parse::<u16>().is_ok()
}

/// What a limiter counts `client` under: an IPv4 address as it is, an IPv6
/// address by its first `ipv6_prefix` bits (the rest zeroed).
pub fn limiter_key(client: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn forwarded(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = trusted(&["10.0.0.0/8", "192.168.1.5"]);
        // A peer that is not a proxy: its own address, whatever it claims.
        assert_eq!(
            client_address(ip("203.0.113.9"), &forwarded(&["1.2.3.4"]), &proxies),
            ip("203.0.113.9")
        );
        // Through the load balancer: the address it saw.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["198.51.100.7"]), &proxies),
            ip("198.51.100.7")
        );
        // A forged left part is skipped: the first untrusted from the right.
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["6.6.6.6, 198.51.100.7, 192.168.1.5"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["6.6.6.6", "198.51.100.7"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        // Nothing forwarded, or garbage: the proxy itself.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&[]), &proxies),
            ip("10.1.2.3")
        );
        for garbage in [
            "not-an-ip",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "[2001:db8::1",
            "[1.2.3.4]:80",
        ] {
            assert_eq!(
                client_address(ip("10.1.2.3"), &forwarded(&[garbage]), &proxies),
                ip("10.1.2.3"),
                "{garbage}"
            );
        }
        // No trusted proxies at all: never read.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["1.2.3.4"]), &[]),
            ip("10.1.2.3")
        );
        // IPv4 mapped into IPv6 is the IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:203.0.113.9"), &forwarded(&[]), &proxies),
            ip("203.0.113.9")
        );
    }

    /// The second review: an entry with a port made the limiter fall back to
    /// the proxy's address, so one client locked out everyone behind it.
    #[test]
    fn forwarded_entries_with_ports_name_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        for (entry, client) in [
            ("198.51.100.7:5678", "198.51.100.7"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
            (" 198.51.100.7:1 ", "198.51.100.7"),
        ] {
            assert_eq!(
                client_address(ip("10.1.2.3"), &forwarded(&[entry]), &proxies),
                ip(client),
                "{entry}"
            );
        }
        // A trusted proxy written with a port is still skipped.
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["198.51.100.7, 10.9.9.9:80"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_network() {
        let a = limiter_key(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = limiter_key(ip("2001:db8:1:2:bbbb::2"), 64);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, limiter_key(ip("2001:db8:1:3::1"), 64));
        assert_eq!(limiter_key(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(limiter_key(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(
            limiter_key(ip("2001:db8:ffff::1"), 48),
            ip("2001:db8:ffff::")
        );
        // IPv4, and IPv4 mapped into IPv6, by address.
        assert_eq!(limiter_key(ip("192.0.2.1"), 64), ip("192.0.2.1"));
        assert_eq!(limiter_key(ip("::ffff:192.0.2.1"), 64), ip("192.0.2.1"));
    }
}
