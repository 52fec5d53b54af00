//! EMAIL: found from its `@` (or `%40`, the `@` of a URL-encoded address in
//! a query string), expanded both ways over the characters addresses use in
//! practice (ASCII local parts; internationalised addresses are rare in
//! prompts and their byte classes would swallow punctuation). The host of a
//! URL's user information (`postgres://app:pw@db.example.com`) is not one.

use super::scan::Scan;
use super::userinfo;
use crate::config::Entity;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// File extensions that make `name@2x.png` look like an address.
const FILE_EXTENSIONS: [&[u8]; 16] = [
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"css", b"js", b"mjs", b"ts", b"tsx",
    b"json", b"md", b"txt", b"yaml",
];

/// Looks for an address around the `@` at `at`; returns where to go on.
pub(crate) fn at(scan: &mut Scan, at: usize) -> usize {
    around(scan, at, 1)
}

/// Looks for a URL-encoded address around the `%` at `at`, if `%40`
/// follows; returns where to go on.
pub(crate) fn at_encoded(scan: &mut Scan, at: usize) -> usize {
    if scan.has(at, b"%40") {
        around(scan, at, 3)
    } else {
        at + 1
    }
}

/// An address whose `@` (`sep_len` bytes: `@` or `%40`) is at `at`.
fn around(scan: &mut Scan, at: usize, sep_len: usize) -> usize {
    let mut start = at;
    while start > 0 && at - start < MAX_LOCAL && is_local(scan.at(start - 1)) {
        start -= 1;
    }
    while scan.at(start) == b'.' && start < at {
        start += 1;
    }
    let domain_start = at + sep_len;
    let mut end = domain_start;
    while end - domain_start < MAX_DOMAIN && is_domain(scan.at(end)) {
        end += 1;
    }
    if end >= scan.len() {
        scan.open(start);
    }
    while end > domain_start && matches!(scan.at(end - 1), b'.' | b'-') {
        end -= 1;
    }
    let (Some(local), Some(domain)) = (scan.text.get(start..at), scan.text.get(domain_start..end))
    else {
        return at + 1;
    };
    let followed_by_path = scan.at(end) == b':' && scan.at(end + 1) > b' ';
    if valid_local(local)
        && valid_domain(domain)
        && !followed_by_path
        && scan.before(start) != b'@'
        && !userinfo::inside_userinfo(scan, at)
    {
        scan.add(Entity::Email, start, end, 0.95);
        return end.max(at + 1);
    }
    // Not an address: what follows the `@` may still be a finding
    // (`admin@10.0.0.7`).
    at + 1
}

fn valid_local(local: &[u8]) -> bool {
    !local.is_empty() && local.last() != Some(&b'.') && !local.windows(2).any(|w| w == b"..")
}

fn valid_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut tld: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
        {
            return false;
        }
        labels += 1;
        tld = label;
    }
    labels >= 2
        && (2..=24).contains(&tld.len())
        && tld.iter().all(u8::is_ascii_alphabetic)
        && !FILE_EXTENSIONS
            .iter()
            .any(|ext| tld.eq_ignore_ascii_case(ext))
}
