//! SECRET: credentials named in running text and on command lines, where
//! no `key=value` separator marks them (those live in `keyvalue.rs`):
//!
//! * prose: a password word, optionally a short phrase, a copula, the
//!   value ("the password for the VPN is X", "das Passwort lautet X",
//!   "la contraseña es X", "パスワードは X"); a token word with a copula
//!   takes only machine-generated values ("our Travis token is X");
//! * flags: `--password X`, `--token X`, mysql's `-pX`, `sshpass -p X`,
//!   `curl -u user:X`.
//!
//! The value is the finding. Unquoted, it is a run of printable ASCII and
//! must look like a password (a digit, a symbol, or mixed case), so "the
//! password is required" or "das Passwort ist abgelaufen" is none.

use super::keyvalue::{value_plausible, KeyClass};
use super::scan::Scan;
use crate::config::Entity;

/// Words that name a password, lowercase (ASCII letters compare without
/// case; the rest byte for byte).
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwort",
    "passphrase",
    "passcode",
    "kennwort",
    "wachtwoord",
    "contraseña",
    "senha",
    "mot de passe",
    "hasło",
    "lösenord",
    "パスワード",
];
/// Words that name a token or key: their values must look machine-made
/// (they are read as loosely named keys, [`KeyClass::Loose`]).
const TOKEN_WORDS: &[&str] = &["token", "secret", "api key", "access key"];
/// Words between a credential word and its value ("is", "lautet", "は").
const COPULAS: &[&str] = &[
    "is", "was", "ist", "lautet", "war", "est", "était", "es", "era", "é", "è", "to", "är", "jest",
    "は", "：",
];
/// Words that may open a short phrase between the credential word and the
/// copula ("password for the staging VPN is").
const PREPOSITIONS: &[&str] = &[
    "for", "für", "pour", "para", "per", "voor", "do", "da", "del", "de", "du", "dla", "of", "on",
    "van", "des", "to",
];
/// Words the phrase may hold at most, the copula included.
const MAX_PHRASE_WORDS: usize = 6;
/// Longest value taken.
const MAX_VALUE: usize = 128;
/// How far back a command line is read for the command a short flag
/// belongs to.
const MAX_LINE: usize = 128;

/// The first four bytes of each credential word with the ASCII case bit
/// set (`fold`), as little-endian words: one load and a few comparisons
/// tell most words apart.
const HEADS: [u32; 13] = [
    fold(*b"pass"),
    fold(*b"kenn"),
    fold(*b"wach"),
    fold(*b"cont"),
    fold(*b"senh"),
    fold(*b"secr"),
    fold(*b"mot "),
    fold(*b"has\xc5"),
    fold(*b"l\xc3\xb6s"),
    fold(*b"toke"),
    fold(*b"api "),
    fold(*b"acce"),
    fold(*b"\xe3\x83\x91\xe3"),
];

/// Four bytes as a little-endian word with bit 0x20 set in each: ASCII
/// letters of either case fold together (other bytes may collide; the
/// full comparison in [`at_word`] decides).
const fn fold(head: [u8; 4]) -> u32 {
    u32::from_le_bytes(head) | 0x2020_2020
}

/// For each first byte, the second bytes a credential word may have, as
/// bits of `second & 0x1f` (`pa`, `ke`, `wa`, `co`, `se`, `mo`, `ha`,
/// `lö`, `to`, `ap`/`ac`, `パ`): one lookup rules out most words.
// Const evaluation: an out-of-range index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const SECOND: [u32; 256] = {
    let mut t = [0u32; 256];
    let pairs: [(u8, u8); 12] = [
        (b'p', b'a'),
        (b'k', b'e'),
        (b'w', b'a'),
        (b'c', b'o'),
        (b's', b'e'),
        (b'm', b'o'),
        (b'h', b'a'),
        (b'l', 0xC3),
        (b't', b'o'),
        (b'a', b'p'),
        (b'a', b'c'),
        (0xE3, 0x83),
    ];
    let mut k = 0;
    while k < pairs.len() {
        let (first, second) = pairs[k];
        let bit = 1u32 << (second & 0x1f);
        t[first as usize] |= bit;
        t[first.to_ascii_uppercase() as usize] |= bit;
        k += 1;
    }
    t
};

/// Whether a credential word or a short flag may start at `i`, the start
/// of a word. Called for every word, so the common case is one table
/// lookup. A text that ends within four bytes ends in its last word, which
/// a stream holds back anyway, so this reads no byte past the end.
#[inline]
pub(crate) fn may_start(scan: &Scan, i: usize) -> bool {
    let (Some(&a), Some(&b)) = (scan.text.get(i), scan.text.get(i + 1)) else {
        return false;
    };
    let seconds = SECOND.get(usize::from(a)).copied().unwrap_or(0);
    if seconds & (1 << (b & 0x1f)) != 0 {
        if let Some(&[c, d]) = scan.text.get(i + 2..i + 4) {
            if HEADS.contains(&fold([a, b, c, d])) {
                return true;
            }
        }
    }
    // A short flag (`-p`, `-u`); long ones (`--password`) pass above.
    (a == b'p' || a == b'u') && scan.before(i) == b'-'
}

/// Handles the start of a word at `i` that [`may_start`]. Runs under
/// [`Scan::candidate`].
pub(crate) fn at_word(scan: &mut Scan, i: usize) {
    let dash = scan.before(i) == b'-';
    if dash && matches!(scan.before(i - 1), b' ' | b'\t') {
        short_flag(scan, i);
        return;
    }
    let long_flag = dash && scan.before(i - 1) == b'-';
    let (class, end) = if let Some(end) = word_at(scan, i, PASSWORD_WORDS) {
        (KeyClass::Password, end)
    } else if let Some(end) = word_at(scan, i, TOKEN_WORDS) {
        (KeyClass::Loose, end)
    } else {
        return;
    };
    if long_flag {
        if scan.at(end) == b' ' {
            value(scan, skip_blanks(scan, end), class);
        }
        return;
    }
    let mut p = end;
    let mut phrase = false;
    for _ in 0..MAX_PHRASE_WORDS {
        p = skip_blanks(scan, p);
        if matches!(scan.at(p), b'"' | b'\'' | b'`') && p > end {
            value(scan, p, class);
            return;
        }
        let word_end = phrase_word_end(scan, p);
        if word_end == p {
            return;
        }
        let word = scan.text.get(p..word_end).unwrap_or_default();
        if is_one_of(word, COPULAS) {
            value(scan, skip_blanks(scan, word_end), class);
            return;
        }
        if !(phrase || is_one_of(word, PREPOSITIONS)) {
            return;
        }
        phrase = true;
        p = word_end;
    }
}

/// Where the credential word at `i` ends, if one of `words` starts there
/// and no letter follows it (`passwords`, `tokens` are not credential words).
fn word_at(scan: &Scan, i: usize, words: &[&str]) -> Option<usize> {
    words.iter().find_map(|w| {
        let w = w.as_bytes();
        let matches = w
            .iter()
            .enumerate()
            .all(|(k, &c)| scan.at(i + k).to_ascii_lowercase() == c);
        let end = i + w.len();
        (matches && !scan.at(end).is_ascii_alphanumeric()).then_some(end)
    })
}

fn is_one_of(word: &[u8], list: &[&str]) -> bool {
    list.iter().any(|w| word.eq_ignore_ascii_case(w.as_bytes()))
}

fn skip_blanks(scan: &Scan, mut p: usize) -> usize {
    let from = p;
    while p - from < 4 && matches!(scan.at(p), b' ' | b'\t') {
        p += 1;
    }
    p
}

/// The end of a word of the phrase: up to a blank, or after `は` / `：`,
/// which need no blank before the value.
fn phrase_word_end(scan: &Scan, p: usize) -> usize {
    for glued in ["は", "："] {
        if scan.has(p, glued.as_bytes()) {
            return p + glued.len();
        }
    }
    let mut q = p;
    while q - p < 32 && scan.at(q) > b' ' && !matches!(scan.at(q), b':' | b'=' | b',' | b'.') {
        q += 1;
    }
    q
}

/// The value at `p`: quoted (spaces allowed) or a run of printable ASCII
/// without its sentence punctuation.
fn value(scan: &mut Scan, p: usize, class: KeyClass) {
    let quote = scan.at(p);
    let (start, end, quoted) = if matches!(quote, b'"' | b'\'' | b'`') {
        let start = p + 1;
        let mut q = start;
        while scan.at(q) != quote {
            if q - start > MAX_VALUE || matches!(scan.at(q), b'\n' | b'\r' | 0) {
                return;
            }
            q += 1;
        }
        (start, q, true)
    } else {
        let mut q = p;
        while q - p < MAX_VALUE && scan.at(q) > b' ' && scan.at(q) < 0x7f {
            q += 1;
        }
        while q > p
            && matches!(
                scan.at(q - 1),
                b'.' | b',' | b';' | b':' | b')' | b'"' | b'\''
            )
        {
            q -= 1;
        }
        (p, q, false)
    };
    let text = scan.text.get(start..end).unwrap_or_default();
    // "case-sensitive", "well-known": hyphenated words, not a passphrase
    // (those join three words or more, or hold a digit).
    let compound = !quoted
        && text.iter().all(|b| b.is_ascii_lowercase() || *b == b'-')
        && text.split(|&b| b == b'-').count() < 3;
    if !compound && value_plausible(text, quoted, class) {
        scan.add(Entity::Secret, start, end, if quoted { 0.8 } else { 0.75 });
    }
}

/// A one-letter flag after ` -` at `i`: mysql's `-pSECRET` (glued),
/// `sshpass -p SECRET`, `docker login -p SECRET`, `curl -u user:SECRET`.
fn short_flag(scan: &mut Scan, i: usize) {
    let flag = scan.at(i);
    let next = scan.at(i + 1);
    if !matches!(flag, b'p' | b'u') || next.is_ascii_alphabetic() && flag == b'u' {
        return;
    }
    let line_from = line_start(scan, i);
    let line = scan.text.get(line_from..i).unwrap_or_default();
    let has = |cmd: &[u8]| line.windows(cmd.len()).any(|w| w == cmd);
    match (flag, next) {
        (b'p', b' ') if has(b"sshpass") || has(b" login") => {
            value(scan, skip_blanks(scan, i + 1), KeyClass::Password);
        }
        (b'p', b) if b > b' ' && (has(b"mysql") || has(b"mariadb")) => {
            value(scan, i + 1, KeyClass::Password);
        }
        (b'u', b' ') if has(b"curl") => {
            let mut p = skip_blanks(scan, i + 1);
            let from = p;
            while p - from < MAX_VALUE && scan.at(p) > b' ' && scan.at(p) != b':' {
                p += 1;
            }
            if scan.at(p) == b':' && p > from {
                value(scan, p + 1, KeyClass::Password);
            }
        }
        _ => {}
    }
}

/// The start of the line holding `i`, looking back at most `MAX_LINE`.
fn line_start(scan: &Scan, i: usize) -> usize {
    let from = i.saturating_sub(MAX_LINE);
    let before = scan.text.get(from..i).unwrap_or_default();
    before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(from, |k| from + k + 1)
}
