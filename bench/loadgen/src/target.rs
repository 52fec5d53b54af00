//! The target URL: parsed by hand (http only) and refused unless its host is a
//! loopback address, because this workplace forbids load on anything else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where requests go and what the request line and `Host` header carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The socket address to connect to (always loopback).
    pub addr: SocketAddr,
    /// `host[:port]` exactly as written in the URL, for the `Host` header.
    pub authority: String,
    /// Path and query, never empty (`/` when the URL has none).
    pub path_and_query: String,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PATH]`. HOST must be a loopback IP literal
    /// (`127.0.0.0/8`, `[::1]`) or `localhost` (taken as 127.0.0.1, without a
    /// resolver, so a hosts file cannot redirect the load elsewhere).
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url `{url}`: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!("--url `{url}`: user info is not supported"));
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("--url `{url}`: cannot parse host and port"))?;
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse::<IpAddr>()
                .map_err(|_| format!("--url `{url}`: host must be a loopback IP or localhost"))?
        };
        if !ip.is_loopback() {
            return Err(format!(
                "--url `{url}`: {ip} is not a loopback address; load is only allowed on loopback"
            ));
        }
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            authority: authority.to_owned(),
            path_and_query,
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; port defaults to 80.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_hosts() {
        let t = Target::parse("http://127.0.0.1:8080/v1/chat/completions").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/v1/chat/completions");

        let t = Target::parse("http://127.1.2.3").unwrap();
        assert_eq!(t.addr, "127.1.2.3:80".parse().unwrap());
        assert_eq!(t.path_and_query, "/");

        let t = Target::parse("http://[::1]:9/x?y=1").unwrap();
        assert_eq!(t.addr, "[::1]:9".parse().unwrap());
        assert_eq!(t.path_and_query, "/x?y=1");

        let t = Target::parse("http://LocalHost:10000?q").unwrap();
        assert_eq!(t.addr, "127.0.0.1:10000".parse().unwrap());
        assert_eq!(t.path_and_query, "/?q");
    }

    #[test]
    fn refuses_anything_not_loopback() {
        for url in [
            "http://10.0.0.1:80/",
            "http://0.0.0.0:8080/",
            "http://[::]:8080/",
            "http://example.com/",
            "http://127.0.0.1.example.com/",
            "http://user@127.0.0.1/",
            "https://127.0.0.1/",
            "127.0.0.1:8080",
            "http://127.0.0.1:notaport/",
            "http://:8080/",
            "http://[::1/",
        ] {
            assert!(Target::parse(url).is_err(), "{url} accepted");
        }
    }
}
