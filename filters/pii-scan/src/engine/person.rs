//! PERSON (opt-in): person names in English, German, French and Spanish.
//!
//! A name is a run of capitalised words (`Person::run`: `Emily R. Thompson`,
//! `Sofía de la Fuente`, `Jean-Luc O'Brien`), found in two ways:
//!
//! * after a cue that says a name follows ([`CUES`]): a title (`Mr.`,
//!   `Herr`, `Mme`, `Sra.`; the title is not part of the finding), a
//!   self-introduction (`my name is`, `ich heiße`, `je m'appelle`, `me
//!   llamo`), a greeting at the start of a line (`Dear`, `Liebe`, `Bonjour`,
//!   `Hola`), a closing (`Regards,`, `Mit freundlichen Grüßen`,
//!   `Cordialement`, `Atentamente`) or a name key (`Name:`, `"full_name":`);
//! * without a cue, a common given name (the list in `given_names.txt`)
//!   followed by a surname.
//!
//! What a precise detector cannot tell is left alone: a lone given name or
//! surname without a cue, names in capitals or in lowercase. A run is no
//! name when a word in it or right after it names an organisation, a place
//! or a role (`George Washington University`, `Hugo Boss AG`, `Dear
//! Hiring Manager`), or when the word before it makes it a place or a street
//! (`San Francisco`, `rue Victor Hugo`).

use super::scan::Scan;
use super::words::{
    capitalised, char_at, initial, is_word_char, one_of, starts_word, word_end, word_end_in,
};
use crate::config::Entity;

const GIVEN_NAMES: &str = include_str!("given_names.txt");

/// Confidence of a name found after a cue, and of one found by its given
/// name alone.
const CUED: f32 = 0.8;
const GIVEN: f32 = 0.7;

/// Name words a run holds at most; a longer run of capitalised words is a
/// title or a heading, not a name.
const MAX_WORDS: usize = 4;

/// What a cue says about the words after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A form of address: one capitalised word after it is a surname.
    Title,
    /// "my name is": the run after it is a name.
    Intro,
    /// A greeting at the start of a line: a full name or a given name.
    Greeting,
    /// A closing: the signature after it is a full name or a given name.
    Closing,
    /// A key that names a person (`full_name`, `Ansprechpartner`).
    PersonKey,
    /// `name`, `nom`, `nombre`: many things have names, so in code and
    /// JSON the value must start with a given name; a form line (`Name:
    /// ...`, capitalised, unquoted) takes any full name.
    NameKey,
}

/// The cues, as written mid-sentence; each is also matched with its first
/// letter capitalised, except titles, which match only as written.
const CUES: &[(Cue, &[&str])] = &[
    (
        Cue::Title,
        &[
            "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Mx.", "Dr", "Dr.", "Prof.", "Herr",
            "Herrn", "Frau", "Hr.", "Fr.", "M.", "Mme", "Mme.", "Mlle", "Madame", "Monsieur",
            "Sr.", "Sra.", "Srta.", "Dra.", "Señor", "Señora", "Doña",
        ],
    ),
    (
        Cue::Intro,
        &[
            "my name is",
            "my name's",
            "mein Name ist",
            "ich heiße",
            "ich heisse",
            "je m'appelle",
            "je m’appelle",
            "mon nom est",
            "me llamo",
            "mi nombre es",
        ],
    ),
    (
        Cue::Greeting,
        &[
            "dear", "hi", "hello", "hey", "liebe", "lieber", "hallo", "cher", "chère", "bonjour",
            "salut", "hola", "estimado", "estimada", "querido", "querida",
        ],
    ),
    (
        Cue::Closing,
        &[
            "regards",
            "best regards",
            "kind regards",
            "warm regards",
            "best wishes",
            "sincerely",
            "yours sincerely",
            "yours truly",
            "cheers",
            "thanks",
            "thank you",
            "many thanks",
            "mit freundlichen Grüßen",
            "freundliche Grüße",
            "viele Grüße",
            "beste Grüße",
            "liebe Grüße",
            "herzliche Grüße",
            "cordialement",
            "bien cordialement",
            "bien à vous",
            "salutations",
            "sincères salutations",
            "amicalement",
            "saludos",
            "un saludo",
            "saludos cordiales",
            "atentamente",
            "un abrazo",
        ],
    ),
    (
        Cue::PersonKey,
        &[
            "full name",
            "full_name",
            "fullname",
            "fullName",
            "customer name",
            "customer_name",
            "contact name",
            "contact_name",
            "contact person",
            "applicant",
            "patient",
            "employee",
            "Ansprechpartner",
            "Ansprechpartnerin",
            "Kunde",
            "Kundin",
            "nom complet",
            "nombre completo",
        ],
    ),
    (Cue::NameKey, &["name", "nom", "nombre"]),
];

/// Words that end a run without making it wrong: articles, pronouns,
/// conjunctions and titles, capitalised at a sentence start.
const FUNCTION_WORDS: &[&str] = &[
    "The", "A", "An", "And", "Or", "But", "Of", "In", "On", "At", "To", "For", "From", "With",
    "By", "As", "Is", "Are", "Was", "Were", "Be", "If", "When", "Then", "So", "Not", "No", "Yes",
    "Please", "Thanks", "Thank", "Hi", "Hello", "Dear", "Hey", "We", "You", "He", "She", "They",
    "It", "Its", "My", "Our", "Your", "His", "Her", "Their", "This", "That", "These", "Those",
    "Here", "There", "What", "Who", "Which", "Where", "Why", "How", "All", "Any", "Some", "Each",
    "Every", "Der", "Die", "Das", "Den", "Dem", "Des", "Ein", "Eine", "Einen", "Und", "Oder",
    "Aber", "Mit", "Von", "Zu", "Im", "Am", "Ist", "Sind", "Wir", "Sie", "Ich", "Er", "Es",
    "Bitte", "Danke", "Le", "La", "Les", "Un", "Une", "Et", "Ou", "Mais", "Du", "Au", "Aux", "Est",
    "Sont", "Nous", "Vous", "Il", "Elle", "Ils", "Je", "Merci", "El", "Los", "Las", "Pero", "Con",
    "Por", "Para", "Son", "Yo", "Usted", "Gracias", "Hola", "Mr", "Mrs", "Ms", "Miss", "Dr",
    "Prof", "Herr", "Herrn", "Frau", "Mme", "Mlle", "Madame", "Monsieur", "Sr", "Sra", "Srta",
    "Señor", "Señora", "Don", "Doña", "Ihr", "Ihre", "Dein", "Deine", "Euer", "Eure", "Unser",
    "Unsere", "Votre", "Vos", "Notre", "Nos", "Ton", "Ta", "Mon", "Ma", "Su", "Sus", "Tu",
    "Nuestro", "Nuestra", "Vuestro",
];

/// Words that make a run no person's name when they are part of it or
/// follow it: organisations, legal forms, places, streets, events, roles.
const NOT_A_PERSON: &[&str] = &[
    "University",
    "Universität",
    "Université",
    "Universidad",
    "College",
    "School",
    "Schule",
    "École",
    "Escuela",
    "Institute",
    "Institut",
    "Instituto",
    "Foundation",
    "Stiftung",
    "Fondation",
    "Fundación",
    "Hospital",
    "Klinik",
    "Clinic",
    "Clinique",
    "Bank",
    "Banco",
    "Banque",
    "Group",
    "Gruppe",
    "Groupe",
    "Grupo",
    "Inc",
    "Ltd",
    "Llc",
    "Corp",
    "Corporation",
    "Company",
    "Co",
    "GmbH",
    "AG",
    "KG",
    "SE",
    "SA",
    "SAS",
    "SARL",
    "SL",
    "LLC",
    "LLP",
    "PLC",
    "Labs",
    "Lab",
    "Studio",
    "Studios",
    "Systems",
    "Technologies",
    "Software",
    "Solutions",
    "Services",
    "Partners",
    "Holdings",
    "Capital",
    "Ventures",
    "Consulting",
    "Media",
    "Pharma",
    "Motors",
    "Airlines",
    "Airways",
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Lane",
    "Boulevard",
    "Blvd",
    "Drive",
    "Square",
    "Park",
    "Straße",
    "Strasse",
    "Platz",
    "Allee",
    "Weg",
    "Gasse",
    "Rue",
    "Calle",
    "Plaza",
    "Avenida",
    "Paseo",
    "Airport",
    "Flughafen",
    "Aéroport",
    "Aeropuerto",
    "Station",
    "Bahnhof",
    "Gare",
    "Estación",
    "Hall",
    "Center",
    "Centre",
    "Centro",
    "Zentrum",
    "Museum",
    "Museo",
    "Musée",
    "Library",
    "Award",
    "Awards",
    "Prize",
    "Preis",
    "Prix",
    "Premio",
    "Day",
    "Act",
    "Bridge",
    "Tower",
    "Hotel",
    "Church",
    "Kirche",
    "Église",
    "Iglesia",
    "Cathedral",
    "Stadium",
    "Stadion",
    "Stade",
    "Estadio",
    "Arena",
    "Lake",
    "River",
    "Mountain",
    "Island",
    "Beach",
    "County",
    "City",
    "Valley",
    "Theorem",
    "Effect",
    "Law",
    "Medal",
    "Syndrome",
    "Disease",
    "Equation",
    "Team",
    "Teams",
    "Customer",
    "Customers",
    "Support",
    "Service",
    "Sir",
    "Madam",
    "Manager",
    "Hiring",
    "Colleague",
    "Colleagues",
    "Friends",
    "Everyone",
    "Valued",
    "Member",
    "Members",
    "Client",
    "Clients",
    "Cliente",
    "Clientes",
    "Kunde",
    "Kunden",
    "Kundin",
    "User",
    "Users",
    "Applicant",
    "Candidate",
    "Committee",
    "Board",
    "Department",
    "Office",
    "Staff",
    "Desk",
    "Sales",
    "Marketing",
    "Engineering",
    "Kollege",
    "Kollegen",
    "Kolleginnen",
    "Damen",
    "Herren",
    "Équipe",
    "Equipo",
    "Todos",
    "Tous",
    "Alle",
    "World",
    "Welt",
    "Monde",
    "Mundo",
    "Bot",
    "Assistant",
    "Pro",
    "Plus",
    "Ultra",
    "Mini",
    "Edition",
    "Cloud",
    "Suite",
    "Reader",
];

/// Words before a run that make it a place or a street name.
const PLACE_BEFORE: &[&str] = &[
    "San",
    "Santa",
    "Santo",
    "São",
    "Saint",
    "Sainte",
    "St",
    "Sankt",
    "Fort",
    "Port",
    "Mount",
    "Mont",
    "Lake",
    "Cape",
    "Bad",
    "Villa",
    "Puerto",
    "Monte",
    "Lago",
    "rue",
    "Rue",
    "avenue",
    "Avenue",
    "boulevard",
    "Boulevard",
    "place",
    "Place",
    "allée",
    "quai",
    "chemin",
    "calle",
    "Calle",
    "avenida",
    "Avenida",
    "plaza",
    "Plaza",
    "paseo",
    "Paseo",
    "Via",
    "via",
];

/// Lowercase words that join the parts of a name (`van der`, `de la`).
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "des", "la", "le", "dos",
    "das", "do", "ter", "zu", "bin", "al",
];

/// The PERSON detector: the word lists and the cues.
#[derive(Debug)]
pub(crate) struct Person {
    given: WordSet,
    function_words: WordSet,
    not_a_person: WordSet,
    place_before: WordSet,
    /// The cues by their first byte (ASCII), longest first.
    cues: Vec<Vec<CueText>>,
    /// By first byte, the lengths of the cues' first words as bits: most
    /// words are ruled out by one lookup.
    first_word_lengths: Vec<u64>,
    /// The first letters of [`PARTICLES`], as bits of `letter - b'a'`.
    particle_initials: u32,
}

/// A cue as matched: its text, the length of its first word (as the pass
/// measures words), and what it announces.
#[derive(Debug)]
struct CueText {
    text: String,
    first_word: usize,
    kind: Cue,
}

/// A set of words, looked up by binary search after a test most words
/// fail: whether any word of that first byte has that length.
#[derive(Debug)]
struct WordSet {
    words: Vec<&'static [u8]>,
    lengths: Vec<u64>,
}

impl WordSet {
    fn new(words: impl Iterator<Item = &'static str>) -> WordSet {
        let mut words: Vec<&[u8]> = words.map(str::as_bytes).collect();
        words.sort_unstable();
        words.dedup();
        let mut lengths = vec![0u64; 256];
        for word in &words {
            if let (Some(&first), true) = (word.first(), word.len() < 64) {
                if let Some(bits) = lengths.get_mut(usize::from(first)) {
                    *bits |= 1 << word.len();
                }
            }
        }
        WordSet { words, lengths }
    }

    fn contains(&self, word: &[u8]) -> bool {
        let bits = word
            .first()
            .and_then(|&b| self.lengths.get(usize::from(b)))
            .copied()
            .unwrap_or(0);
        word.len() < 64 && bits & (1 << word.len()) != 0 && self.words.binary_search(&word).is_ok()
    }
}

/// A run of name words: where it ends and how many words (not initials
/// or particles) it holds.
#[derive(Debug, Clone, Copy)]
struct Run {
    end: usize,
    words: usize,
}

impl Person {
    pub fn new() -> Person {
        let given = WordSet::new(
            GIVEN_NAMES
                .lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace),
        );
        let mut cues: Vec<Vec<CueText>> = (0..128).map(|_| Vec::new()).collect();
        let mut first_word_lengths = vec![0u64; 128];
        for (kind, words) in CUES {
            for word in *words {
                // Every cue starts with an ASCII letter.
                let mut forms = vec![(*word).to_owned()];
                if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                    let mut capitalised = (*word).to_owned();
                    if let Some(first) = capitalised.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    forms.push(capitalised);
                }
                for text in forms {
                    let first_word = word_end_in(text.as_bytes(), 0);
                    let lead = text.as_bytes().first().map_or(0, |&b| usize::from(b));
                    if let (Some(list), Some(lengths)) =
                        (cues.get_mut(lead), first_word_lengths.get_mut(lead))
                    {
                        *lengths |= 1u64 << first_word.min(63);
                        list.push(CueText {
                            text,
                            first_word,
                            kind: *kind,
                        });
                    }
                }
            }
        }
        for list in &mut cues {
            list.sort_by_key(|cue| std::cmp::Reverse(cue.text.len()));
        }
        Person {
            given,
            function_words: WordSet::new(FUNCTION_WORDS.iter().copied()),
            not_a_person: WordSet::new(NOT_A_PERSON.iter().copied()),
            place_before: WordSet::new(PLACE_BEFORE.iter().copied()),
            cues,
            first_word_lengths,
            particle_initials: PARTICLES
                .iter()
                .filter_map(|p| p.bytes().next())
                .fold(0, |bits, b| bits | 1 << (b.wrapping_sub(b'a') & 31)),
        }
    }

    /// Whether `word`, or the first part of a hyphenated one
    /// (`Jean-Luc`), is a common given name.
    fn is_given(&self, word: &[u8]) -> bool {
        let first = word.split(|&b| b == b'-').next().unwrap_or(word);
        self.given.contains(first)
    }

    /// Whether a cue may start with a word of `len` bytes whose first byte
    /// is `first`: one lookup rules out most words.
    pub fn may_cue(&self, first: u8, len: usize) -> bool {
        let lengths = self
            .first_word_lengths
            .get(usize::from(first))
            .copied()
            .unwrap_or(0);
        len < 64 && lengths & (1u64 << len) != 0
    }

    /// The name after the cue that starts with the word at `i`, of `len`
    /// bytes, if one does. Runs under [`Scan::candidate`].
    pub fn after_cue_at(&self, scan: &mut Scan, i: usize, len: usize) {
        let first = usize::from(scan.at(i));
        let Some(cue) = self.cues.get(first).and_then(|list| {
            list.iter()
                .find(|cue| cue.first_word == len && scan.has(i, cue.text.as_bytes()))
        }) else {
            return;
        };
        if starts_word(scan, i) {
            self.after_cue(scan, cue.kind, i, i + cue.text.len());
        }
    }

    fn after_cue(&self, scan: &mut Scan, kind: Cue, start: usize, end: usize) {
        let ends_in_letter = scan.text.get(end - 1).is_some_and(u8::is_ascii_alphabetic);
        if ends_in_letter && char_at(scan, end).is_none_or(|(c, _)| is_word_char(c)) {
            return;
        }
        // Where the name would start, and whether a signature is on a line
        // of its own.
        let (from, own_line) = match kind {
            Cue::Title => {
                if scan.at(end) != b' ' {
                    return;
                }
                // `Herr Dr. Müller`, `Frau Prof. Weber`; `Sr. de la Fuente`.
                let mut after = end + 1;
                if let Some(e) = one_of(scan, after, &["Dr.", "Prof."]) {
                    if scan.at(e) == b' ' {
                        after = e + 1;
                    }
                }
                (after, false)
            }
            Cue::Intro => {
                if scan.at(end) != b' ' {
                    return;
                }
                (end + 1, false)
            }
            Cue::Greeting => {
                if !at_line_start(scan, start) || scan.at(end) != b' ' {
                    return;
                }
                (end + 1, false)
            }
            Cue::Closing => match signature_start(scan, end) {
                Some(found) => found,
                None => return,
            },
            Cue::PersonKey | Cue::NameKey => {
                if !key_starts_line(scan, start) {
                    return;
                }
                match key_value_start(scan, end) {
                    Some(p) => (p, false),
                    None => return,
                }
            }
        };
        // A surname after a title may open with particles.
        let words_from = if kind == Cue::Title {
            particles(scan, from)
        } else {
            from
        };
        let Some(run) = self.run(scan, words_from) else {
            return;
        };
        let first_given = capitalised(scan, words_from)
            .and_then(|e| scan.text.get(words_from..e))
            .is_some_and(|w| self.is_given(w));
        let accept = match kind {
            Cue::Title | Cue::Intro => true,
            Cue::Greeting => run.words >= 2 || first_given,
            // `Thanks, Jane` on the same line; a signature on its own line.
            Cue::Closing => first_given || (own_line && run.words >= 2),
            Cue::PersonKey => run.words >= 2,
            Cue::NameKey => {
                let quoted = matches!(scan.before(start), b'"' | b'\'');
                let form = !quoted && scan.text.get(start).is_some_and(u8::is_ascii_uppercase);
                run.words >= 2 && (first_given || form)
            }
        };
        if accept {
            scan.add(Entity::Person, from, run.end, CUED);
        }
    }

    /// At the start of a word: a given name followed by a surname.
    pub fn at_word(&self, scan: &mut Scan, i: usize) {
        let Some(e) = capitalised(scan, i) else {
            return;
        };
        // Most capitalised words start a sentence: no capital or particle
        // follows.
        let next = scan.at(e + 1);
        let name_follows = next.is_ascii_uppercase()
            || next >= 0xc3
            || (next.is_ascii_lowercase()
                && self.particle_initials & 1 << (next - b'a') != 0
                && one_of(scan, e + 1, PARTICLES).is_some());
        if scan.at(e) != b' ' || !name_follows {
            return;
        }
        if !scan.text.get(i..e).is_some_and(|w| self.is_given(w)) || self.place_before(scan, i) {
            return;
        }
        if let Some(run) = self.run(scan, i).filter(|r| r.words >= 2) {
            scan.add(Entity::Person, i, run.end, GIVEN);
        }
    }

    /// The run of name words at `i`: a capitalised word, then up to
    /// [`MAX_WORDS`] in all, each after one space, with initials and up to
    /// two particles before a word. `None` if there is none, or if a word of
    /// [`NOT_A_PERSON`] is in it or right after it.
    fn run(&self, scan: &Scan, i: usize) -> Option<Run> {
        let first = capitalised(scan, i)?;
        let word = scan.text.get(i..first)?;
        if self.function_words.contains(word) || self.not_a_person.contains(word) {
            return None;
        }
        let mut run = Run {
            end: first,
            words: 1,
        };
        while scan.at(run.end) == b' ' {
            let mut p = run.end + 1;
            if let Some(e) = initial(scan, p) {
                if scan.at(e) == b' ' && capitalised(scan, e + 1).is_some() {
                    run.end = e;
                    continue;
                }
                break;
            }
            p = particles(scan, p);
            let Some(e) = capitalised(scan, p) else {
                break;
            };
            let word = scan.text.get(p..e)?;
            if self.not_a_person.contains(word) {
                return None;
            }
            if self.function_words.contains(word) {
                break;
            }
            if run.words == MAX_WORDS {
                return None;
            }
            run = Run {
                end: e,
                words: run.words + 1,
            };
        }
        (!self.organisation_follows(scan, run.end)).then_some(run)
    }

    /// Whether the word before `i` (one space before it) makes the run a
    /// place or a street (`San Francisco`, `rue Victor Hugo`, `St. Louis`).
    fn place_before(&self, scan: &Scan, i: usize) -> bool {
        if scan.before(i) != b' ' {
            return false;
        }
        let mut end = i - 1;
        if scan.before(end) == b'.' {
            end -= 1;
        }
        let mut start = end;
        while start > 0
            && end - start < 10
            && (scan.before(start).is_ascii_alphabetic() || scan.before(start) >= 0x80)
        {
            start -= 1;
        }
        let word = scan.text.get(start..end).unwrap_or_default();
        !word.is_empty() && starts_word(scan, start) && self.place_before.contains(word)
    }

    /// `& Young`, `GmbH`, `AG`, `Inc.` right after a run: a company.
    fn organisation_follows(&self, scan: &Scan, end: usize) -> bool {
        if scan.at(end) != b' ' {
            return false;
        }
        let p = end + 1;
        scan.at(p) == b'&'
            || scan
                .text
                .get(p..word_end(scan, p, 16))
                .is_some_and(|w| self.not_a_person.contains(w))
    }
}

/// Past up to two particles at `p` (`van der `, `de la `).
fn particles(scan: &Scan, mut p: usize) -> usize {
    for _ in 0..2 {
        if !scan.at(p).is_ascii_lowercase() {
            break;
        }
        match one_of(scan, p, PARTICLES) {
            Some(e) if scan.at(e) == b' ' => p = e + 1,
            _ => break,
        }
    }
    p
}

/// Whether only blanks stand between the start of the line (or the text,
/// or an opening quote) and `i`.
fn at_line_start(scan: &Scan, i: usize) -> bool {
    let mut p = i;
    while p > 0 && i - p < 8 && matches!(scan.before(p), b' ' | b'\t') {
        p -= 1;
    }
    matches!(scan.before(p), 0 | b'\n' | b'\r' | b'"' | b'\'')
}

/// Whether a key at `i` starts a line, a field or a table cell (after
/// blanks): `\nName:`, `{"name":`, `, "full_name":`, `| Name |`, `- Name:`.
fn key_starts_line(scan: &Scan, i: usize) -> bool {
    let mut p = i;
    if matches!(scan.before(p), b'"' | b'\'') {
        p -= 1;
    }
    let from = p;
    while p > 0 && from - p < 8 && matches!(scan.before(p), b' ' | b'\t') {
        p -= 1;
    }
    matches!(
        scan.before(p),
        0 | b'\n' | b'\r' | b'{' | b',' | b';' | b'|' | b'-' | b'*'
    )
}

/// Where the value of a key ending at `end` starts: after an optional
/// closing quote, blanks, `:` or `=`, blanks and an optional opening quote.
fn key_value_start(scan: &Scan, end: usize) -> Option<usize> {
    let mut p = end;
    if matches!(scan.at(p), b'"' | b'\'') {
        p += 1;
    }
    let blanks = |scan: &Scan, mut p: usize| {
        let from = p;
        while p - from < 2 && scan.at(p) == b' ' {
            p += 1;
        }
        p
    };
    p = blanks(scan, p);
    if !matches!(scan.at(p), b':' | b'=') {
        return None;
    }
    p = blanks(scan, p + 1);
    if matches!(scan.at(p), b'"' | b'\'') {
        p += 1;
    }
    Some(p)
}

/// Where the signature after a closing ending at `end` starts, and whether
/// it is on a line of its own: after an optional `,`, `.` or `!`, blanks
/// and at most two line breaks (`Regards,\nJane Doe`, `Thanks, Jane`,
/// `Cordialement,\n\nÉlodie`).
fn signature_start(scan: &Scan, end: usize) -> Option<(usize, bool)> {
    let mut p = end;
    if matches!(scan.at(p), b',' | b'.' | b'!') {
        p += 1;
    }
    let from = p;
    let mut own_line = false;
    while p - from < 6 && matches!(scan.at(p), b' ' | b'\t' | b'\n' | b'\r') {
        own_line |= scan.at(p) == b'\n';
        p += 1;
    }
    (p > from).then_some((p, own_line))
}
