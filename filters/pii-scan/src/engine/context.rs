//! Context words: words shortly before a candidate that raise or lower its
//! confidence ("phone:" before ten bare digits, "order" before a
//! phone-shaped number, "version" before a dotted quad). Only the text
//! before a candidate is read, so a streamed candidate never waits for what
//! follows it.

use super::entity::{EntityKind, Finding};
use crate::config::Entity;

/// How far back a rule may look; the streaming scanner keeps at least this
/// much already emitted text as left context.
pub const MAX_WINDOW: usize = 128;
pub(crate) const DEFAULT_WINDOW: usize = 40;

/// A compiled rule: lowercase words, matched case-insensitively at a word
/// start within `window` bytes before a candidate of `entity`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub entity: EntityKind,
    pub words: Vec<Vec<u8>>,
    pub boost: f32,
    pub window: usize,
}

impl Rule {
    pub fn new(entity: EntityKind, words: &[&str], boost: f32) -> Self {
        Rule {
            entity,
            words: words
                .iter()
                .map(|w| w.to_lowercase().into_bytes())
                .collect(),
            boost,
            window: DEFAULT_WINDOW,
        }
    }

    fn matches(&self, text: &[u8], start: usize) -> bool {
        let from = start.saturating_sub(self.window);
        let before = text.get(from..start).unwrap_or_default();
        // Walk the window once, trying the words at each word start.
        (0..before.len()).any(|i| {
            let at = from + i;
            let at_word_start =
                at == 0 || text.get(at - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
            let Some(first) = before.get(i).map(u8::to_ascii_lowercase) else {
                return false;
            };
            at_word_start
                && self.words.iter().any(|word| {
                    word.first() == Some(&first)
                        && before
                            .get(i..i + word.len())
                            .is_some_and(|w| w.eq_ignore_ascii_case(word))
                })
        })
    }
}

/// The rules that ship with the engine; configured rules are added to them.
pub(crate) fn builtin_rules() -> Vec<Rule> {
    let phone = EntityKind::Builtin(Entity::Phone);
    let ssn = EntityKind::Builtin(Entity::UsSsn);
    let ip = EntityKind::Builtin(Entity::IpAddress);
    let ids = [
        "order",
        "invoice",
        "tracking",
        "ticket",
        "isbn",
        "serial",
        "part no",
        "sku",
        "commande",
        "bestell",
        "rechnung",
        "facture",
        "pedido",
        "factura",
        "ref",
        "réf",
        "shipment",
        "ordine",
        "fattura",
        "bestelling",
        "auftrag",
        "faktura",
        "fatura",
        "zamówien",
        "seguimiento",
        "pratica",
        "dossier",
        "vorgang",
        "aktenzeichen",
        "expediente",
        "注文",
        "订单",
        "주문",
    ];
    vec![
        Rule::new(
            phone.clone(),
            &[
                "phone",
                "tel",
                "call",
                "mobile",
                "cell",
                "fax",
                "contact",
                "whatsapp",
                "sms",
                "text me",
                "portable",
                "téléphone",
                "appel",
                "handy",
                "mobil",
                "rufnummer",
                "anruf",
                "teléfono",
                "telefono",
                "móvil",
                "llam",
                "llám",
                "reach",
                "ring",
                "bel ",
                "celular",
                "telefoon",
                "mobiel",
                "festnetz",
                "手机",
                "电话",
                "電話",
                "携帯",
                "전화",
            ],
            0.3,
        ),
        Rule::new(phone, &ids, -0.5),
        Rule::new(
            ssn.clone(),
            &[
                "ssn",
                "social security",
                "ss#",
                "seguro social",
                "sécurité sociale",
            ],
            0.45,
        ),
        Rule::new(ssn, &ids, -0.5),
        Rule::new(
            ip,
            &[
                "version", "versión", "ver.", "release", "build", "firmware", "v.",
            ],
            -0.6,
        ),
    ]
}

/// Applies the rules to each candidate's confidence.
pub(crate) fn adjust(rules: &[Rule], text: &[u8], found: &mut [Finding]) {
    for f in found.iter_mut() {
        for rule in rules.iter().filter(|r| r.entity == f.entity) {
            if rule.matches(text, f.start) {
                f.confidence = (f.confidence + rule.boost).clamp(0.0, 1.0);
            }
        }
    }
}
