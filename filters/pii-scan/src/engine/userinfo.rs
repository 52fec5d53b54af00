//! SECRET: the password in a URL's user information
//! (`postgres://app:hunter2@db:5432/x`, `mongodb+srv://u:p@cluster/`,
//! `ftp://backup:pw@host/`). The scan calls in here at each `:`; only a
//! `:` followed by `//` goes further. The host after the `@` is no email
//! address: `email.rs` asks [`inside_userinfo`].

use super::scan::Scan;
use super::secret::placeholder;
use crate::config::Entity;

/// Longest user information looked at; longer runs are not URLs people
/// write by hand.
const MAX_USERINFO: usize = 256;

/// Values a URL template shows instead of a password.
const NON_PASSWORDS: &[&str] = &["password", "pass", "passwd", "pwd", "secret", "pw"];

/// Bytes that end the user information (or the URL) before an `@`.
fn ends_userinfo(b: u8) -> bool {
    b <= b' '
        || matches!(
            b,
            b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\'
        )
}

/// Handles the `:` at `colon`. Runs under [`Scan::candidate`]: the user
/// information may run into the end of a streamed buffer.
pub(crate) fn at(scan: &mut Scan, colon: usize) {
    if !(scan.at(colon + 1) == b'/' && scan.at(colon + 2) == b'/') {
        return;
    }
    let from = colon + 3;
    let mut p = from;
    let mut last_at = None;
    let mut first_colon = None;
    while p - from < MAX_USERINFO && !ends_userinfo(scan.at(p)) {
        match scan.at(p) {
            b'@' => last_at = Some(p),
            b':' if first_colon.is_none() => first_colon = Some(p),
            _ => {}
        }
        p += 1;
    }
    let (Some(sep), Some(at)) = (first_colon, last_at) else {
        return;
    };
    if sep > at {
        return;
    }
    let start = sep + 1;
    let value = scan.text.get(start..at).unwrap_or_default();
    let named = NON_PASSWORDS
        .iter()
        .any(|w| value.eq_ignore_ascii_case(w.as_bytes()));
    if !value.is_empty() && !named && !placeholder(value) {
        scan.add(Entity::Secret, start, at, 0.9);
    }
}

/// Whether the `@` at `at` ends the user information of a URL
/// (`scheme://user:pw@host`): walking back from it over user-information
/// bytes reaches `://`.
pub(crate) fn inside_userinfo(scan: &Scan, at: usize) -> bool {
    let mut p = at;
    while p > 0 && at - p < MAX_USERINFO {
        let b = scan.at(p - 1);
        if ends_userinfo(b) {
            return b == b'/' && p >= 3 && scan.at(p - 2) == b'/' && scan.at(p - 3) == b':';
        }
        p -= 1;
    }
    false
}
