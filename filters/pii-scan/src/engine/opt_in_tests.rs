//! PERSON and ADDRESS: off by default, and when on, their positives and
//! hard negatives in English, German, French and Spanish.

use super::tests::found;
use super::*;
use crate::config::{Action, Entity};

fn engine() -> Engine {
    Engine::new(&EngineConfig {
        opt_in: vec![Entity::Person, Entity::Address],
        ..EngineConfig::default()
    })
    .unwrap()
}

/// The values of `entity` found in `text` with the opt-in types on.
fn values(text: &str, entity: &str) -> Vec<String> {
    engine()
        .scan(text.as_bytes())
        .iter()
        .filter(|f| f.entity.name() == entity)
        .map(|f| text[f.start..f.end].to_owned())
        .collect()
}

#[track_caller]
fn assert_values(entity: &str, cases: &[(&str, &[&str])]) {
    for (text, expected) in cases {
        assert_eq!(values(text, entity), *expected, "in {text:?}");
    }
}

#[test]
fn off_unless_configured() {
    for text in [
        "Dear Mr. Smith, my name is Jane Doe.",
        "Ship it to 12 Oak Street, Springfield, IL 62704 or Hauptstraße 5, 10115 Berlin.",
    ] {
        assert!(found(text).is_empty(), "{text:?}: {:?}", found(text));
        assert!(!engine().scan(text.as_bytes()).is_empty());
    }
    let only_names = Engine::new(&EngineConfig {
        opt_in: vec![Entity::Person],
        ..EngineConfig::default()
    })
    .unwrap();
    let text = "Jane Doe lives at 12 Oak Street.";
    let kinds: Vec<String> = only_names
        .scan(text.as_bytes())
        .iter()
        .map(|f| f.entity.name().to_owned())
        .collect();
    assert_eq!(kinds, ["PERSON"]);
}

#[test]
fn names_after_cues() {
    assert_values(
        "PERSON",
        &[
            ("Dear Mr. Okafor, thank you.", &["Okafor"]),
            (
                "Sehr geehrter Herr Dr. Müller-Lüdenscheidt,",
                &["Müller-Lüdenscheidt"],
            ),
            (
                "Mme Lefèvre est absente ; M. Dupont la remplace.",
                &["Lefèvre", "Dupont"],
            ),
            ("Estimado Sr. de la Fuente:", &["de la Fuente"]),
            (
                "Hi, my name is Xochitl Quispe and I need help.",
                &["Xochitl Quispe"],
            ),
            ("Hallo, ich heiße Wiebke Lange.", &["Wiebke Lange"]),
            ("Bonjour, je m'appelle Maëlle Garnier.", &["Maëlle Garnier"]),
            (
                "Hola, me llamo Íñigo Navarro Ruiz.",
                &["Íñigo Navarro Ruiz"],
            ),
            ("Hi Jane,\nthe invoice is attached.", &["Jane"]),
            ("Dear Imogen Pemberton,\nwelcome.", &["Imogen Pemberton"]),
            (
                "Best regards,\nDesmond Ashworth\nHead of Sales",
                &["Desmond Ashworth"],
            ),
            ("Thanks, Emily", &["Emily"]),
            (
                "Mit freundlichen Grüßen\n\nDetlef Köhler",
                &["Detlef Köhler"],
            ),
            ("Cordialement,\nSolène Faure", &["Solène Faure"]),
            ("Atentamente,\nBegoña Díaz Moreno", &["Begoña Díaz Moreno"]),
            ("Name: Kwame Osei\nDate: 2024-03-01", &["Kwame Osei"]),
            (
                "{\"full_name\": \"Niamh Brennan\", \"tier\": 2}",
                &["Niamh Brennan"],
            ),
            ("{\"name\": \"Sarah Whitaker\"}", &["Sarah Whitaker"]),
            ("Ansprechpartner: Henning Schröder", &["Henning Schröder"]),
            ("Patient John Q. Public, DOB 1980", &["John Q. Public"]),
        ],
    );
}

#[test]
fn names_by_their_given_name() {
    assert_values(
        "PERSON",
        &[
            ("Forward it to Emily Thompson today.", &["Emily Thompson"]),
            ("Ask Seán O'Brien or Michael O'Brien.", &["Michael O'Brien"]),
            ("Lucía García Pérez firmó ayer.", &["Lucía García Pérez"]),
            ("Jean-Luc Moreau a validé.", &["Jean-Luc Moreau"]),
            (
                "Bitte an Tobias von Arnim weiterleiten.",
                &["Tobias von Arnim"],
            ),
            (
                "Ludwig van Beethoven and Vincent van Gogh.",
                &["Vincent van Gogh"],
            ),
            (
                "Emily R. Thompson signed; Jane Doe's copy is here.",
                &["Emily R. Thompson", "Jane Doe"],
            ),
        ],
    );
}

#[test]
fn not_names() {
    for text in [
        // Sentence starts, headings, roles.
        "Will the migration finish? Grace periods apply. Mark the ticket as done.",
        "Dear Customer,\nyour order has shipped.\n\nKind regards,\nThe Support Team",
        "Dear Hiring Manager, Hi Team, Hello World, Hola Mundo.",
        "Mit freundlichen Grüßen\nIhr Kundenservice",
        "Cordialement,\nLe service client",
        // Organisations, products, models, places.
        "Deutsche Bank, Goldman Sachs and George Washington University.",
        "Anna Schmidt GmbH and Thomas Müller AG are suppliers; Ernst & Young audits.",
        "Ask Claude Sonnet, then Gemini Pro; deploy on Visual Studio Code.",
        "Flights from San Francisco to Saint Louis via Santa Monica.",
        "Nos bureaux sont rue Victor Hugo et avenue Jean Jaurès.",
        // Code, versions, capitals, lowercase.
        "user.FirstName = JohnDoeService.get(James_Bond_007); getAnna(x); Thomas.Algorithm",
        "Upgrade Ubuntu 22.04 Jammy Jellyfish to Debian 12 Bookworm.",
        "JANE DOE and jane doe and Jane2 Doe3",
        // A lone given name or surname without a cue.
        "Author: Jane <jane@example.com>; Müller called.",
        "The file name: Report Final; \"name\": \"Order Service\"",
    ] {
        assert_eq!(values(text, "PERSON"), Vec::<String>::new(), "in {text:?}");
    }
}

#[test]
fn addresses() {
    assert_values(
        "ADDRESS",
        &[
            (
                "Ship to 1600 Example Ave, Suite 400 today.",
                &["1600 Example Ave, Suite 400"],
            ),
            (
                "at 12 Oak St., Springfield, IL 62704.",
                &["12 Oak St., Springfield, IL 62704"],
            ),
            ("I live at 221B Baker Street.", &["221B Baker Street"]),
            (
                "Send it to 14 Baker Street, London NW1 6XE.",
                &["14 Baker Street, London NW1 6XE"],
            ),
            (
                "Office: 350 West 42nd Street #12, then lunch.",
                &["350 West 42nd Street #12"],
            ),
            (
                "Livraison au 12 rue de la Paix, 75002 Paris.",
                &["12 rue de la Paix, 75002 Paris"],
            ),
            (
                "au 5 bis, avenue Victor Hugo",
                &["5 bis, avenue Victor Hugo"],
            ),
            (
                "3 place d'Italie\n75013 Paris",
                &["3 place d'Italie\n75013 Paris"],
            ),
            (
                "Bitte an Hauptstraße 5, 10115 Berlin liefern.",
                &["Hauptstraße 5, 10115 Berlin"],
            ),
            ("Schillerstr. 12a ist die Adresse", &["Schillerstr. 12a"]),
            (
                "Berliner Straße 45 und Karl-Marx-Allee 90",
                &["Berliner Straße 45", "Karl-Marx-Allee 90"],
            ),
            (
                "im Birkenweg 3, 60311 Frankfurt am Main",
                &["Birkenweg 3, 60311 Frankfurt am Main"],
            ),
            ("Wir wohnen im Birkenweg 3.", &["Birkenweg 3"]),
            (
                "Envíelo a Calle Mayor 12, 28013 Madrid.",
                &["Calle Mayor 12, 28013 Madrid"],
            ),
            ("en la calle de Alcalá, 45 hay", &["calle de Alcalá, 45"]),
            (
                "C/ Serrano 41 y Avda. de la Constitución, nº 3",
                &["C/ Serrano 41", "Avda. de la Constitución, nº 3"],
            ),
        ],
    );
}

#[test]
fn not_addresses() {
    for text in [
        "Wall Street analysts expect 3 rate cuts; the road ahead is long.",
        "Main Street retailers grew 12%; take Highway 101 north; Route 66.",
        "Top 10 Oxford Street shops, chapter 3 Abbey Road, episode 4 Sesame Street.",
        "Die Straße war gesperrt; Platz 3 in der Tabelle; Arbeitsplatz 12 ist frei; Lösungsweg 2 ist kürzer.",
        "La rue était bondée ; 3 stands sur la place du marché ; le boulevard périphérique.",
        "La calle estaba cortada y la Plaza Mayor llena; en la avenida había 3 coches.",
        "Monitoring 3, Engineering 2; Release 4 Street View; 2 Street Fighter games.",
        "Paris, Berlin, Madrid, 75002, 10115 and 28013 alone.",
    ] {
        assert_eq!(values(text, "ADDRESS"), Vec::<String>::new(), "in {text:?}");
    }
}

#[test]
fn an_address_wins_over_the_name_in_its_street() {
    let text = "Livraison au 8 rue Victor Hugo, 69002 Lyon.";
    assert_eq!(values(text, "ADDRESS"), ["8 rue Victor Hugo, 69002 Lyon"]);
    assert!(values(text, "PERSON").is_empty());
}

/// The findings of `text` streamed in `pieces`.
fn streamed(engine: &Engine, pieces: &[&[u8]]) -> Vec<Finding> {
    let policy = Policy::new(Action::Redact);
    let mut scanner = StreamScanner::new();
    let mut findings = Vec::new();
    for piece in pieces {
        findings.extend(scanner.push(engine, &policy, piece).findings);
    }
    findings.extend(scanner.finish(engine, &policy).findings);
    findings
}

#[test]
fn streams_find_what_whole_texts_find() {
    let engine = engine();
    let text = "Dear Mr. Okafor,\nplease ship to 12 Oak St., Springfield, IL 62704 or \
                Hauptstraße 5, 10115 Berlin.\n\nMit freundlichen Grüßen\nLukas von Arnim";
    let whole = engine.scan(text.as_bytes());
    assert_eq!(whole.len(), 4, "{whole:?}");
    for size in 1..=7 {
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(size).collect();
        assert_eq!(streamed(&engine, &pieces), whole, "chunks of {size}");
    }
    // A cut inside `É` must not end the word after the name: `GmbH` would
    // make the name a company's.
    let text = "Jane Doe GmbHÉaa and Jane Doe GmbH".as_bytes();
    let whole = engine.scan(text);
    assert_eq!(whole.len(), 1, "{whole:?}");
    for cut in 0..=text.len() {
        let (a, b) = text.split_at(cut);
        assert_eq!(streamed(&engine, &[a, b]), whole, "cut at {cut}");
    }
}
