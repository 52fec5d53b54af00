//! Words as names and street names are written, for the opt-in detectors
//! (PERSON, ADDRESS): letters of any script, capitalised words (`Müller`,
//! `O'Brien`, `Jean-Luc`, `McDonald`), initials (`Q.`) and house numbers.
//!
//! Every read goes through [`Scan::at`], so a word cut by the end of a
//! stream's buffer counts as a read past the end and keeps its candidate
//! open.

use super::scan::{is_word, Scan};

/// The longest word read as a name or street name, in letters.
const MAX_LETTERS: usize = 32;

/// The length of the UTF-8 character a lead byte starts (0 for a byte
/// that starts none).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

/// The character at `i` of `text` and its length in bytes; `None` past the
/// end or for bytes that are no valid character.
pub(crate) fn decode(text: &[u8], i: usize) -> Option<(char, usize)> {
    let bytes = text.get(i..i + utf8_len(*text.get(i)?))?;
    let c = std::str::from_utf8(bytes).ok()?.chars().next()?;
    Some((c, bytes.len()))
}

/// The character at `i` and its length in bytes; `None` for a byte that
/// does not start a valid character. Past the end it is `'\0'`, and a read
/// past the end (or of a character the end cuts) is recorded.
pub(crate) fn char_at(scan: &Scan, i: usize) -> Option<(char, usize)> {
    let lead = scan.at(i);
    if lead < 0x80 {
        return Some((char::from(lead), 1));
    }
    let len = utf8_len(lead);
    if len > 1 && i + len > scan.len() {
        scan.at(i + len - 1);
        return None;
    }
    decode(scan.text, i)
}

/// The character ending just before `i`, if any (reads back at most four
/// bytes, never past the start of the text).
pub(crate) fn char_before(scan: &Scan, i: usize) -> Option<char> {
    let from = i.checked_sub(1)?;
    let last = *scan.text.get(from)?;
    if last < 0x80 {
        return Some(char::from(last));
    }
    let mut start = from;
    while start > 0 && from - start < 3 && scan.text.get(start).is_some_and(|b| b & 0xc0 == 0x80) {
        start -= 1;
    }
    let bytes = scan.text.get(start..i)?;
    std::str::from_utf8(bytes).ok()?.chars().next_back()
}

/// A letter or digit of any script, or `_`: what continues a word.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a word may start at `i`: the character before is no part of a
/// word, identifier, path or address (`_`, `.`, `@`, `/`, `\`, `#`, `$`,
/// `&`), so `user.FirstName` and `com.Example` start none, nor do the parts
/// of a hyphenated or elided word after the first (`Marie` in
/// `François-Marie`, `Arc` in `d'Arc`).
pub(crate) fn starts_word(scan: &Scan, i: usize) -> bool {
    match char_before(scan, i) {
        None => true,
        Some('-' | '\'' | '’') => {
            let joiner = i - char_before(scan, i).map_or(1, char::len_utf8);
            !char_before(scan, joiner).is_some_and(char::is_alphanumeric)
        }
        Some(c) => !is_word_char(c) && !matches!(c, '.' | '@' | '/' | '\\' | '#' | '$' | '&'),
    }
}

/// The end of the word (letters and digits of any script, `_`) at `i` of
/// `text`.
pub(crate) fn word_end_in(text: &[u8], mut i: usize) -> usize {
    while let Some(&b) = text.get(i) {
        if is_word(b) {
            i += 1;
        } else if b >= 0x80 {
            match decode(text, i) {
                Some((c, len)) if is_word_char(c) => i += len,
                _ => break,
            }
        } else {
            break;
        }
    }
    i
}

/// [`word_end_in`] for a detector, reading at most `max` bytes (a longer
/// word ends there): a word that runs into the end of the text, or into a
/// character the end cuts, counts as a read past the end (it may go on).
pub(crate) fn word_end(scan: &Scan, i: usize, max: usize) -> usize {
    let upto = scan.len().min(i.saturating_add(max));
    let end = word_end_in(scan.text.get(..upto).unwrap_or_default(), i);
    let _ = char_at(scan, end);
    end
}

/// The end of a capitalised word at `i`: an uppercase letter, then
/// lowercase letters, with an uppercase letter only after a hyphen or an
/// apostrophe (`Jean-Luc`, `O'Brien`) or after `Mc`/`Mac`. All-capital
/// words (`NASA`, `GmbH`), identifiers (`HttpClient`, `Jane_Doe`, `Anna2`),
/// dotted paths (`Doe.method`) and calls (`Anna(`) are none.
pub(crate) fn capitalised(scan: &Scan, i: usize) -> Option<usize> {
    word(scan, i, false)
}

/// Like [`capitalised`], but a hyphen may also join lowercase parts, as in
/// place names (`Aix-en-Provence`, `Saint-Étienne`).
pub(crate) fn place_word(scan: &Scan, i: usize) -> Option<usize> {
    word(scan, i, true)
}

fn word(scan: &Scan, i: usize, place: bool) -> Option<usize> {
    let (first, len) = char_at(scan, i)?;
    if !first.is_uppercase() {
        return None;
    }
    let mut p = i + len;
    let mut letters = 1;
    let mut lowercase = false;
    let mut after_joiner = false;
    loop {
        let (c, len) = char_at(scan, p)?;
        if c.is_lowercase() {
            lowercase = true;
            after_joiner = false;
        } else if c.is_uppercase() {
            let prefix = scan.text.get(i..p).unwrap_or_default();
            if !(after_joiner || prefix == b"Mc" || prefix == b"Mac") {
                return None;
            }
            after_joiner = false;
        } else if matches!(c, '-' | '\'' | '’') && !after_joiner {
            let (next, _) = char_at(scan, p + len)?;
            let joins = next.is_uppercase() || (place && c == '-' && next.is_lowercase());
            if !joins {
                // `Jane's`, `Smith-like`: the word ends before the mark;
                // a hyphen before a lowercase letter makes it no name.
                if c == '-' && next.is_alphabetic() {
                    return None;
                }
                break;
            }
            after_joiner = true;
            p += len;
            continue;
        } else {
            break;
        }
        letters += 1;
        if letters > MAX_LETTERS {
            return None;
        }
        p += len;
    }
    let (next, _) = char_at(scan, p)?;
    let code_follows = is_word_char(next)
        || matches!(next, '@' | '(' | '[')
        || (next == '.' && char_at(scan, p + 1).is_some_and(|(c, _)| is_word_char(c)));
    (lowercase && letters >= 2 && !code_follows).then_some(p)
}

/// The end of an initial at `i`: an ASCII capital and a period (`Q.`).
pub(crate) fn initial(scan: &Scan, i: usize) -> Option<usize> {
    (scan.at(i).is_ascii_uppercase() && scan.at(i + 1) == b'.').then_some(i + 2)
}

/// The end of a house number at `i`: 1 to `max_digits` digits, then
/// optionally one letter (`221B`, `12a`) or a range (`12-14`), and no digit,
/// decimal point or further letter right after.
pub(crate) fn house_number(scan: &Scan, i: usize, max_digits: usize) -> Option<usize> {
    let digits = |from: usize| {
        let mut p = from;
        while scan.at(p).is_ascii_digit() && p - from <= max_digits {
            p += 1;
        }
        p
    };
    let mut p = digits(i);
    if p == i || p - i > max_digits || scan.at(i) == b'0' {
        return None;
    }
    if scan.at(p) == b'-' && scan.at(p + 1).is_ascii_digit() {
        let end = digits(p + 1);
        if end - (p + 1) > max_digits {
            return None;
        }
        p = end;
    } else if scan.at(p).is_ascii_alphabetic() && !scan.at(p + 1).is_ascii_alphanumeric() {
        p += 1;
    }
    let next = scan.at(p);
    let bad = next.is_ascii_alphanumeric()
        || next == b'_'
        || (matches!(next, b'.' | b',' | b':' | b'/') && scan.at(p + 1).is_ascii_digit());
    (!bad).then_some(p)
}

/// Whether the bytes at `i` are `word` followed by no letter or digit.
pub(crate) fn is_word_at(scan: &Scan, i: usize, word: &str) -> bool {
    word.as_bytes().first() == Some(&scan.at(i))
        && scan.has(i, word.as_bytes())
        && char_at(scan, i + word.len()).is_some_and(|(c, _)| !is_word_char(c))
}

/// The first of `words` at `i` (as [`is_word_at`]), with its end.
pub(crate) fn one_of(scan: &Scan, i: usize, words: &[&str]) -> Option<usize> {
    let first = scan.at(i);
    words
        .iter()
        .find(|w| w.as_bytes().first() == Some(&first) && is_word_at(scan, i, w))
        .map(|w| i + w.len())
}
