//! ADDRESS (opt-in): street addresses, in the order each language writes
//! them, with the postal code and city when a postal code follows:
//!
//! * English: number, street name, street type, optionally a unit, then
//!   `City, ST 12345` or a UK `City SW1A 1AA` (`1600 Example Ave, Suite 400`,
//!   `12 Oak St., Springfield, IL 62704`, `14 Baker Street, London NW1 6XE`);
//! * French: number, type, name (`12 rue de la Paix, 75002 Paris`,
//!   `5 bis, avenue Victor Hugo`);
//! * German: street word ending in a street type, or a word and a type
//!   word, then the number (`Hauptstraße 5, 10115 Berlin`, `Berliner Str.
//!   12`, `Karl-Marx-Allee 90`);
//! * Spanish: type, name, number (`Calle Mayor 12, 28013 Madrid`, `calle de
//!   Alcalá, 45`, `C/ Serrano 41`).
//!
//! A street or city named without a number is no address (`Wall Street
//! analysts`, `la Plaza Mayor`), nor is a street-type word in another sense
//! (`the road ahead`, `Platz 3 in der Tabelle`). German types that are also
//! common words ending a compound (`Arbeitsplatz 12`, `Lösungsweg 2`) count
//! only when the number ends the clause or a postal code follows.

use super::scan::{is_word, Scan};
use super::words::{
    capitalised, char_at, house_number, is_word_at, one_of, place_word, starts_word, word_end,
};
use crate::config::Entity;

const CONFIDENCE: f32 = 0.8;

/// Words of a street or city name read at most.
const MAX_NAME_WORDS: usize = 5;

const EN_TYPES: &[&str] = &[
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Lane",
    "Ln",
    "Boulevard",
    "Blvd",
    "Drive",
    "Dr",
    "Court",
    "Ct",
    "Place",
    "Pl",
    "Way",
    "Terrace",
    "Close",
    "Crescent",
    "Square",
    "Sq",
    "Parkway",
    "Pkwy",
    "Highway",
    "Hwy",
    "Row",
    "Circle",
    "Trail",
];
const EN_DIRECTIONS: &[&str] = &["NE", "NW", "SE", "SW", "N", "S", "E", "W"];
const EN_UNITS: &[&str] = &[
    "Apt.", "Apt", "Suite", "Ste.", "Ste", "Unit", "Floor", "Fl.", "Flat", "Room", "Rm.",
];
/// Words before a number that make it a count or a rank, not a house number
/// (`top 10 Oxford Street shops`, `chapter 3`).
const NOT_BEFORE_NUMBER: &[&str] = &[
    "top", "Top", "the", "The", "chapter", "Chapter", "page", "Page", "section", "Section", "step",
    "Step", "version", "Version", "release", "Release", "over", "about", "nearly", "than", "these",
    "those", "every", "last", "next", "first", "episode", "Episode", "season", "Season", "vol",
    "Vol",
];

const FR_TYPES: &[&str] = &[
    "rue",
    "avenue",
    "av.",
    "boulevard",
    "bd",
    "place",
    "chemin",
    "allée",
    "impasse",
    "quai",
    "cours",
    "square",
    "route",
    "passage",
    "faubourg",
    "Rue",
    "Avenue",
    "Av.",
    "Boulevard",
    "Bd",
    "Place",
    "Chemin",
    "Allée",
    "Impasse",
    "Quai",
    "Cours",
    "Square",
    "Route",
    "Passage",
    "Faubourg",
];
const FR_JOINERS: &[&str] = &[
    "de la", "de l'", "de l’", "de", "du", "des", "la", "le", "les", "l'", "l’", "d'", "d’", "aux",
    "au",
];

/// German street types, ending a compound word (`Hauptstraße`) or as a
/// word of their own (`Berliner Straße`): these are streets whatever
/// follows the number; [`DE_WEAK_TYPES`] are also common words ending a
/// compound (`Arbeitsplatz`, `Lösungsweg`).
const DE_TYPES: &[&str] = &["straße", "strasse", "allee", "gasse", "chaussee"];
const DE_WEAK_TYPES: &[&str] = &["weg", "platz", "damm", "ufer", "steig", "pfad"];
/// For each byte, whether a German type starts with it (either case).
const DE_INITIALS: [bool; 256] = initials(&[DE_TYPES, DE_WEAK_TYPES]);
/// Articles before a separate type word: `Die Straße`, not a street name.
const ARTICLES: &[&str] = &["Die", "Der", "Das", "Den", "Dem", "Eine", "Ein", "The", "A"];

const ES_TYPES: &[&str] = &[
    "Calle",
    "calle",
    "Avenida",
    "avenida",
    "Avda.",
    "avda.",
    "Av.",
    "Plaza",
    "plaza",
    "Pza.",
    "Paseo",
    "paseo",
    "Camino",
    "camino",
    "Ronda",
    "Travesía",
    "Glorieta",
    "Carrera",
];
/// `C/ Serrano 41`, `C/Serrano 41`: the abbreviation of `calle`, which
/// may be glued to the name.
const ES_CALLE: &[u8] = b"C/";
/// For each first byte, the lengths of the first words of the Spanish
/// types that start with it, as bits.
const ES_FIRST_WORDS: [u32; 256] = first_word_lengths(ES_TYPES);
const ES_JOINERS: &[&str] = &[
    "de la", "de los", "de las", "de", "del", "la", "el", "los", "las",
];
const ES_NUMBER_SIGNS: &[&str] = &["nº", "n.º", "n°", "núm.", "no.", "número"];

/// Words that may open a city name of two words (`San Jose`, `Bad Homburg`).
const CITY_PREFIXES: &[&str] = &[
    "San", "Santa", "Sant", "Saint", "Sainte", "Sankt", "St.", "Bad", "Le", "La", "Les", "El",
    "Las", "Los", "New", "Fort", "Port", "Den",
];
/// Lowercase words inside a city name (`Frankfurt am Main`).
const CITY_PARTICLES: &[&str] = &["am", "an der", "im", "ob", "bei", "sur", "en", "de", "del"];

/// Whether the word `text[i..end]` may start a German or Spanish address:
/// the first word of a Spanish type (`Calle`, `Avda` of `Avda.`) or `C/`,
/// or a capitalised word followed by a number, a German type word
/// (`Berliner Straße`), a period after `-str` (`Schillerstr.`) or a hyphen
/// (`Karl-Marx-Allee`). Past the end of the text, it may.
pub(crate) fn may_start(text: &[u8], i: usize, end: usize, capitalised: bool) -> bool {
    let word = text.get(i..end).unwrap_or_default();
    // `Avda` is the first word of `Avda.`: the type goes on with no letter.
    let lengths = word
        .first()
        .and_then(|&b| ES_FIRST_WORDS.get(usize::from(b)))
        .copied()
        .unwrap_or(0);
    let spanish_type = word.len() < 32
        && lengths & 1 << word.len() != 0
        && ES_TYPES.iter().any(|t| {
            let t = t.as_bytes();
            t.get(word.len()).is_none_or(|&b| !is_word(b)) && t.starts_with(word)
        });
    let calle = word.len() == 1 && text.get(i..).is_some_and(|t| t.starts_with(ES_CALLE));
    if spanish_type || calle {
        return true;
    }
    if !capitalised {
        return false;
    }
    match (text.get(end), text.get(end + 1)) {
        (None, _) | (Some(b' '), None) | (Some(b'-'), _) => true,
        (Some(b'.'), _) => abbreviates_strasse(word),
        (Some(b' '), Some(&c)) => {
            c.is_ascii_digit() || DE_INITIALS.get(usize::from(c)) == Some(&true)
        }
        _ => false,
    }
}

/// A number at the start of a word: French or English order.
pub(crate) fn at_number(scan: &mut Scan, i: usize) {
    if !starts_word(scan, i) {
        return;
    }
    let found = french(scan, i).or_else(|| english(scan, i));
    if let Some(end) = found.filter(|_| !number_is_a_count(scan, i)) {
        scan.add(Entity::Address, i, end, CONFIDENCE);
    }
}

/// A capitalised or street-type word: German or Spanish order.
pub(crate) fn at_word(scan: &mut Scan, i: usize) {
    if !starts_word(scan, i) {
        return;
    }
    if let Some(end) = spanish(scan, i).or_else(|| german(scan, i)) {
        scan.add(Entity::Address, i, end, CONFIDENCE);
    }
}

fn number_is_a_count(scan: &Scan, i: usize) -> bool {
    if scan.before(i) != b' ' {
        return false;
    }
    let end = i - 1;
    NOT_BEFORE_NUMBER.iter().any(|w| {
        end.checked_sub(w.len())
            .is_some_and(|s| scan.text.get(s..end) == Some(w.as_bytes()) && starts_word(scan, s))
    })
}

/// `1600 Example Ave, Suite 400, Springfield, IL 62704`.
fn english(scan: &Scan, i: usize) -> Option<usize> {
    let number = house_number(scan, i, 5)?;
    let next = scan.at(number + 1);
    if scan.at(number) != b' ' || !(next.is_ascii_alphanumeric() || next >= 0xc3) {
        return None;
    }
    // The street name's words, then its type: the last type word that has
    // a name word before it ends the street (`12 Court Street`).
    let mut p = number + 1;
    let mut street_end = None;
    for k in 0..MAX_NAME_WORDS {
        let Some(end) = en_name_token(scan, p) else {
            break;
        };
        let word = scan.text.get(p..end)?;
        if k > 0 && EN_TYPES.iter().any(|t| t.as_bytes() == word) {
            street_end = Some(end);
        }
        if scan.at(end) != b' ' {
            break;
        }
        p = end + 1;
    }
    let mut end = street_end?;
    if scan.at(end) == b' ' {
        if let Some(e) = one_of(scan, end + 1, EN_DIRECTIONS) {
            end = e;
        }
    }
    // An abbreviation's period belongs to the address only if more follows.
    let dot = usize::from(scan.at(end) == b'.');
    let rest = end + dot;
    let Some(unit_end) = en_unit(scan, rest) else {
        return Some(en_city(scan, rest).unwrap_or(end));
    };
    Some(en_city(scan, unit_end).unwrap_or(unit_end))
}

/// A word of an English street name: capitalised, an ordinal (`5th`) or a
/// direction (`W`).
fn en_name_token(scan: &Scan, p: usize) -> Option<usize> {
    if let Some(e) = capitalised(scan, p) {
        return Some(e);
    }
    if let Some(e) = one_of(scan, p, EN_DIRECTIONS) {
        return Some(e);
    }
    let digits_end = {
        let mut q = p;
        while scan.at(q).is_ascii_digit() && q - p < 3 {
            q += 1;
        }
        q
    };
    (digits_end > p)
        .then(|| one_of(scan, digits_end, &["st", "nd", "rd", "th"]))
        .flatten()
}

/// `, Apt 4B`, `, Suite 400`, ` #12`: the end of the unit after `p`.
fn en_unit(scan: &Scan, p: usize) -> Option<usize> {
    let mut q = p;
    if scan.at(q) == b',' {
        q += 1;
    }
    if scan.at(q) != b' ' {
        return None;
    }
    q += 1;
    if scan.at(q) == b'#' {
        q += 1;
    } else {
        q = one_of(scan, q, EN_UNITS)?;
        if scan.at(q) != b' ' {
            return None;
        }
        q += 1;
    }
    let value = word_end(scan, q, 6);
    (value > q && value - q <= 5).then_some(value)
}

/// `, Springfield, IL 62704` or `, London NW1 6XE` after `p`.
fn en_city(scan: &Scan, p: usize) -> Option<usize> {
    if scan.at(p) != b',' || scan.at(p + 1) != b' ' {
        return None;
    }
    let mut q = p + 2;
    for _ in 0..3 {
        let end = place_word(scan, q)?;
        let mut r = end;
        if scan.at(r) == b',' {
            r += 1;
        }
        if scan.at(r) == b' ' {
            if let Some(e) = us_state_zip(scan, r + 1).or_else(|| uk_postcode(scan, r + 1)) {
                return Some(e);
            }
        }
        if scan.at(end) != b' ' {
            return None;
        }
        q = end + 1;
    }
    None
}

/// `IL 62704` or `IL 62704-1234`.
fn us_state_zip(scan: &Scan, p: usize) -> Option<usize> {
    let state = scan.at(p).is_ascii_uppercase()
        && scan.at(p + 1).is_ascii_uppercase()
        && scan.at(p + 2) == b' ';
    if !state {
        return None;
    }
    let mut end = digits_exactly(scan, p + 3, 5)?;
    if scan.at(end) == b'-' {
        if let Some(e) = digits_exactly(scan, end + 1, 4) {
            end = e;
        }
    }
    ends_token(scan, end).then_some(end)
}

/// `SW1A 1AA`, `M1 1AE`, `NW1 6XE`.
fn uk_postcode(scan: &Scan, p: usize) -> Option<usize> {
    let mut q = p;
    while scan.at(q).is_ascii_uppercase() && q - p < 2 {
        q += 1;
    }
    if q == p || !scan.at(q).is_ascii_digit() {
        return None;
    }
    q += 1;
    if scan.at(q).is_ascii_digit() || scan.at(q).is_ascii_uppercase() {
        q += 1;
    }
    let inward = scan.at(q) == b' '
        && scan.at(q + 1).is_ascii_digit()
        && scan.at(q + 2).is_ascii_uppercase()
        && scan.at(q + 3).is_ascii_uppercase();
    let end = q + 4;
    (inward && ends_token(scan, end)).then_some(end)
}

/// Exactly `n` digits at `p`, not followed by another.
fn digits_exactly(scan: &Scan, p: usize, n: usize) -> Option<usize> {
    let all = (p..p + n).all(|q| scan.at(q).is_ascii_digit());
    (all && !scan.at(p + n).is_ascii_digit()).then_some(p + n)
}

/// Whether no letter, digit or `_` continues the token ending at `end`.
fn ends_token(scan: &Scan, end: usize) -> bool {
    char_at(scan, end).is_some_and(|(c, _)| !super::words::is_word_char(c))
}

/// `12 rue de la Paix`, `5 bis, avenue Victor Hugo, 75016 Paris`.
fn french(scan: &Scan, i: usize) -> Option<usize> {
    let mut p = i;
    while scan.at(p).is_ascii_digit() && p - i < 4 {
        p += 1;
    }
    if p == i || scan.at(p).is_ascii_digit() || scan.at(i) == b'0' {
        return None;
    }
    for suffix in ["bis", "ter", "quater"] {
        let at = if scan.at(p) == b' ' { p + 1 } else { p };
        if is_word_at(scan, at, suffix) {
            p = at + suffix.len();
            break;
        }
    }
    if scan.at(p) == b',' {
        p += 1;
    }
    if scan.at(p) != b' ' {
        return None;
    }
    let kind = one_of(scan, p + 1, FR_TYPES)?;
    if scan.at(kind) != b' ' {
        return None;
    }
    let street = street_name(scan, kind + 1, FR_JOINERS)?;
    Some(postal_city(scan, street, 5).unwrap_or(street))
}

/// `Hauptstraße 5`, `Schillerstr. 12a`, `Berliner Straße 45, 10713 Berlin`.
fn german(scan: &Scan, i: usize) -> Option<usize> {
    let word = capitalised(scan, i)?;
    let text = scan.text.get(i..word)?;
    let compound = || german_type(text, false).map(|strong| (word, strong));
    let abbreviated =
        || (abbreviates_strasse(text) && scan.at(word) == b'.').then_some((word + 1, true));
    // A type as a word of its own: `Berliner Straße`, not `Die Straße`.
    let separate = || {
        let p = word + 1;
        let type_follows = scan.at(word) == b' '
            && DE_INITIALS.get(usize::from(scan.at(p))) == Some(&true)
            && !ARTICLES.iter().any(|a| a.as_bytes() == text);
        if !type_follows {
            return None;
        }
        if scan.has(p, b"Str.") {
            return Some((p + 4, true));
        }
        let kind = capitalised(scan, p)?;
        german_type(scan.text.get(p..kind)?, true).map(|strong| (kind, strong))
    };
    let (street, strong) = compound().or_else(abbreviated).or_else(separate)?;
    if scan.at(street) != b' ' {
        return None;
    }
    let number = house_number(scan, street + 1, 4)?;
    if let Some(end) = postal_city(scan, number, 5).or_else(|| postal_city(scan, number, 4)) {
        return Some(end);
    }
    let clause_ends = matches!(
        scan.at(number),
        0 | b',' | b'.' | b';' | b'\n' | b'\r' | b')'
    );
    (strong || clause_ends).then_some(number)
}

/// Whether `word` is a German street type (`alone`: `Straße`) or ends in
/// one after a stem of three bytes or more (`Hauptstraße`; `Weg`, `Platz`
/// alone are no street name), and whether that type is a strong one
/// ([`DE_TYPES`]).
fn german_type(word: &[u8], alone: bool) -> Option<bool> {
    let ends_in = |types: &[&str]| {
        types.iter().any(|t| {
            let stem = word.len().saturating_sub(t.len());
            (if alone {
                word.len() == t.len()
            } else {
                stem >= 3
            }) && word
                .get(word.len() - t.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(t.as_bytes()))
        })
    };
    if ends_in(DE_TYPES) {
        Some(true)
    } else if ends_in(DE_WEAK_TYPES) {
        Some(false)
    } else {
        None
    }
}

/// For each byte, the lengths of the first words (up to a byte that is
/// no ASCII letter or digit, counting other bytes as letters) of those of
/// `words` that start with it, as bits (lengths under 32).
const fn first_word_lengths(words: &[&str]) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut k = 0;
    while k < words.len() {
        // Const evaluation: an out-of-range index (or an empty word) would
        // fail the build, not panic.
        #[allow(clippy::indexing_slicing)]
        {
            let word = words[k].as_bytes();
            let mut len = 0;
            while len < word.len() && (word[len].is_ascii_alphanumeric() || word[len] >= 0x80) {
                len += 1;
            }
            if len < 32 {
                table[word[0] as usize] |= 1 << len;
            }
        }
        k += 1;
    }
    table
}

/// For each byte, whether one of the words of `lists` starts with it, in
/// either case: tables for the pass to test a word's first byte against.
const fn initials(lists: &[&[&str]]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut l = 0;
    while l < lists.len() {
        // Const evaluation: an out-of-range index (or an empty word) would
        // fail the build, not panic.
        #[allow(clippy::indexing_slicing)]
        {
            let words = lists[l];
            let mut k = 0;
            while k < words.len() {
                let first = words[k].as_bytes()[0];
                table[first.to_ascii_lowercase() as usize] = true;
                table[first.to_ascii_uppercase() as usize] = true;
                k += 1;
            }
        }
        l += 1;
    }
    table
}

/// Whether a word abbreviates a street name in `-straße` (`Schillerstr`,
/// before its period).
fn abbreviates_strasse(word: &[u8]) -> bool {
    word.len() > 6
        && word
            .get(word.len() - 3..)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"str"))
}

/// `Calle Mayor 12`, `calle de Alcalá, 45`, `C/ Serrano 41, 28006 Madrid`.
fn spanish(scan: &Scan, i: usize) -> Option<usize> {
    let name_from = if scan.has(i, ES_CALLE) {
        let after = i + ES_CALLE.len();
        after + usize::from(scan.at(after) == b' ')
    } else {
        let kind = one_of(scan, i, ES_TYPES)?;
        if scan.at(kind) != b' ' {
            return None;
        }
        kind + 1
    };
    let street = street_name(scan, name_from, ES_JOINERS)?;
    let mut p = street;
    if scan.at(p) == b',' {
        p += 1;
    }
    if scan.at(p) != b' ' {
        return None;
    }
    p += 1;
    if let Some(e) = one_of(scan, p, ES_NUMBER_SIGNS) {
        if scan.at(e) != b' ' {
            return None;
        }
        p = e + 1;
    }
    let number = house_number(scan, p, 4)?;
    Some(postal_city(scan, number, 5).unwrap_or(number))
}

/// The end of a street name at `p` (French and Spanish order, after the
/// type): capitalised words and lowercase joiners (`de la`, `du`, `d'`),
/// ending in a capitalised word.
fn street_name(scan: &Scan, p: usize, joiners: &[&str]) -> Option<usize> {
    let mut q = p;
    let mut end = None;
    for _ in 0..MAX_NAME_WORDS {
        if let Some(e) = place_word(scan, q) {
            end = Some(e);
            if scan.at(e) != b' ' {
                break;
            }
            q = e + 1;
            continue;
        }
        // A joiner: `de la` before `de`; an elided one (`d'`) glued.
        let joined = joiners.iter().find_map(|j| {
            let elided = j.ends_with('\'') || j.ends_with('’');
            if elided {
                scan.has(q, j.as_bytes()).then_some(q + j.len())
            } else {
                (is_word_at(scan, q, j) && scan.at(q + j.len()) == b' ').then_some(q + j.len() + 1)
            }
        });
        let Some(joined) = joined else {
            break;
        };
        q = joined;
    }
    end
}

/// `, 10115 Berlin`, ` 75002 Paris`, `\n28013 Madrid` after `p`: a postal
/// code of `digits` digits and a city name.
fn postal_city(scan: &Scan, p: usize, digits: usize) -> Option<usize> {
    let mut q = p;
    if scan.at(q) == b',' {
        q += 1;
    }
    if !matches!(scan.at(q), b' ' | b'\n') {
        return None;
    }
    q += 1;
    let code = digits_exactly(scan, q, digits)?;
    if scan.at(code) != b' ' {
        return None;
    }
    let city = code + 1;
    let mut end = place_word(scan, city)?;
    let first = scan.text.get(city..end)?;
    if scan.at(end) == b' ' {
        if CITY_PREFIXES.iter().any(|w| w.as_bytes() == first) {
            if let Some(e) = place_word(scan, end + 1) {
                end = e;
            }
        } else if let Some(particle) = one_of(scan, end + 1, CITY_PARTICLES) {
            if scan.at(particle) == b' ' {
                if let Some(e) = place_word(scan, particle + 1) {
                    end = e;
                }
            }
        }
    }
    Some(end)
}
