//! IP_ADDRESS, IPv6: found from a `:`, expanded over hex digits, colons and
//! dots (an embedded IPv4 tail), then parsed by the standard library. A
//! candidate needs `::` or all eight groups, which keeps times (`10:30:00`),
//! MAC addresses and `std::vec` paths out.

use super::scan::{is_word, Scan};
use crate::config::Entity;
use std::net::Ipv6Addr;

const MAX_IPV6: usize = 45;

fn is_part(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Handles the `:` at `i`; returns where to go on.
pub(crate) fn at(scan: &mut Scan, i: usize) -> usize {
    if !(scan.before(i).is_ascii_hexdigit()
        || scan.at(i + 1).is_ascii_hexdigit()
        || scan.at(i + 1) == b':')
    {
        return i + 1;
    }
    let mut start = i;
    while start > 0 && i - start < MAX_IPV6 && is_part(scan.at(start - 1)) {
        start -= 1;
    }
    let mut end = i + 1;
    while end - start <= MAX_IPV6 && is_part(scan.at(end)) {
        end += 1;
    }
    if end >= scan.len() {
        scan.open(start);
    }
    let next = end;
    if is_word(scan.before(start)) || is_word(scan.at(end)) {
        return next;
    }
    // Sentence punctuation after an address: "... at fe80::1." or "::1:".
    while end > start
        && (scan.at(end - 1) == b'.' || (scan.at(end - 1) == b':' && scan.before(end - 1) != b':'))
    {
        end -= 1;
    }
    while start < end
        && (scan.at(start) == b'.' || (scan.at(start) == b':' && scan.at(start + 1) != b':'))
    {
        start += 1;
    }
    let Some(candidate) = scan.text.get(start..end) else {
        return next;
    };
    let colons = candidate.iter().filter(|&&b| b == b':').count();
    let compressed = candidate.windows(2).any(|w| w == b"::");
    let hex_digits = candidate.iter().filter(|b| b.is_ascii_hexdigit()).count();
    if !(compressed || colons == 7 || (colons == 6 && candidate.contains(&b'.')))
        || (hex_digits < 4 && !candidate.starts_with(b"::"))
    {
        return next;
    }
    let parsed = std::str::from_utf8(candidate)
        .ok()
        .and_then(|s| s.parse::<Ipv6Addr>().ok());
    if let Some(addr) = parsed {
        if !addr.is_unspecified() {
            scan.add_kind(
                Entity::IpAddress.into(),
                start,
                end,
                0.85,
                ipv6_private(&addr),
            );
        }
    }
    next
}

/// Loopback, unique local (fc00::/7), link-local (fe80::/10), or an
/// IPv4-mapped private address.
fn ipv6_private(addr: &Ipv6Addr) -> bool {
    let first = addr.segments()[0];
    addr.is_loopback()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || addr
            .to_ipv4_mapped()
            .is_some_and(|v4| v4.is_private() || v4.is_loopback() || v4.is_link_local())
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;

    /// Found by fuzzing: trimming the dots around a `::` at the start of
    /// the text ran past it (an overflow in debug builds).
    #[test]
    fn dots_around_a_double_colon_at_the_start() {
        let mut text = vec![b'.'; 87];
        text.extend_from_slice(b"::");
        text.extend_from_slice(&[b'.'; 17]);
        text.push(0xbc);
        assert!(Engine::builtin().unwrap().scan(&text).is_empty());
    }
}
