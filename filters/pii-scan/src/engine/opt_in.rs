//! The opt-in detectors (PERSON, ADDRESS) and their pass over the text.
//!
//! They run in a pass of their own, after the structural one, and only
//! when the configuration names them, so a configuration without them
//! scans exactly as before and pays nothing. The pass visits each word
//! once: a number may start an English or French address, a capitalised
//! word a German or Spanish address or a name with a common given name;
//! a word may start a cue that announces a name (`Mr.`, `my name is`,
//! `Regards,`). Cheap tests of the word's first byte, its length and the
//! byte after it decide which detectors look at it; each reads a bounded
//! stretch from there, so the pass stays linear.

use super::scan::Scan;
use super::words::{decode, word_end_in};
use super::{address, person::Person};
use crate::config::Entity;

/// The opt-in detectors a configuration turned on.
#[derive(Debug)]
pub(crate) struct OptIn {
    person: Option<Person>,
    address: bool,
}

impl OptIn {
    /// The detectors for `entities`; `None` when none is on.
    pub fn new(entities: &[Entity]) -> Option<OptIn> {
        let person = entities.contains(&Entity::Person).then(Person::new);
        let address = entities.contains(&Entity::Address);
        (person.is_some() || address).then_some(OptIn { person, address })
    }

    /// Visits each word once and hands it to the detectors it may start,
    /// judged by its first character and the byte after it (a byte past the
    /// end lets every detector look: more text may follow).
    pub fn scan(&self, scan: &mut Scan) {
        let text = scan.text;
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            let (class, len) = match CLASSES.get(usize::from(b)).copied().unwrap_or(OTHER) {
                NON_ASCII => match decode(text, i) {
                    Some((c, len)) if c.is_uppercase() => (UPPER, len),
                    Some((c, len)) if c.is_alphabetic() => (LOWER, len),
                    found => (OTHER, found.map_or(1, |(_, len)| len)),
                },
                class => (class, 1),
            };
            if class == OTHER {
                i += len;
                continue;
            }
            let end = word_end_in(text, i);
            let next = text.get(end).copied();
            if class == NUMBER {
                let may_be_house_number =
                    end - i <= 6 && next.is_none_or(|c| c == b' ' || c == b',');
                if self.address && may_be_house_number && b.is_ascii_digit() {
                    scan.candidate(i, |scan| address::at_number(scan, i));
                }
            } else {
                if let Some(person) = &self.person {
                    if person.may_cue(b, end - i) {
                        scan.candidate(i, |scan| person.after_cue_at(scan, i, end - i));
                    }
                    let name_may_go_on =
                        next.is_none_or(|c| matches!(c, b' ' | b'-' | b'\'' | 0xe2));
                    if class == UPPER && name_may_go_on {
                        scan.candidate(i, |scan| person.at_word(scan, i));
                    }
                }
                if self.address && address::may_start(text, i, end, class == UPPER) {
                    scan.candidate(i, |scan| address::at_word(scan, i));
                }
            }
            i = end.max(i + 1);
        }
    }
}

const OTHER: u8 = 0;
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const NUMBER: u8 = 3;
/// A lead byte of a UTF-8 character: decoded to tell.
const NON_ASCII: u8 = 4;

/// The class of each byte as the start of a word (`_` starts none).
const CLASSES: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let class = if c.is_ascii_uppercase() {
            UPPER
        } else if c.is_ascii_lowercase() {
            LOWER
        } else if c.is_ascii_digit() {
            NUMBER
        } else if c >= 0xc2 {
            NON_ASCII
        } else {
            OTHER
        };
        // Const evaluation: an out-of-range index would fail the build,
        // not panic.
        #[allow(clippy::indexing_slicing)]
        {
            t[b] = class;
        }
        b += 1;
    }
    t
};
