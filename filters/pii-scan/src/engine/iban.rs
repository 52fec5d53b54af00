//! IBAN: a country code with a known length, two check digits, and the
//! rest either compact or in groups of four joined by single spaces; the
//! mod-97 check makes a random match a 1-in-97 event on top of the shape.

use super::checksum;
use super::scan::{is_word, Scan};
use crate::config::Entity;

const MAX_IBAN: usize = 34;

/// Looks for an IBAN at the start of the word at `i` (an uppercase letter).
/// Runs under [`Scan::candidate`]: a grouped IBAN spans spaces, and one cut
/// by the end of a streamed buffer is held back.
pub(crate) fn at(scan: &mut Scan, i: usize) {
    let head = [scan.at(i), scan.at(i + 1)];
    if !head[1].is_ascii_uppercase() {
        return;
    }
    if !(scan.at(i + 2).is_ascii_digit() && scan.at(i + 3).is_ascii_digit()) {
        return;
    }
    let Some(len) = checksum::iban_length(head) else {
        return;
    };
    let mut compact = [0u8; MAX_IBAN];
    let mut count = 0;
    let mut p = i;
    let grouped = scan.at(i + 4) == b' ';
    while count < len {
        if grouped && count >= 4 && count % 4 == 0 {
            if scan.at(p) != b' ' {
                break;
            }
            p += 1;
        }
        let b = scan.at(p);
        if !(b.is_ascii_uppercase() || b.is_ascii_digit()) {
            break;
        }
        if let Some(slot) = compact.get_mut(count) {
            *slot = b;
        }
        count += 1;
        p += 1;
    }
    if count == len
        && !is_word(scan.at(p))
        && checksum::mod97(compact.get(..len).unwrap_or_default())
    {
        scan.add(Entity::Iban, i, p, 0.95);
    }
}
