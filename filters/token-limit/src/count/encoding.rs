//! Which OpenAI vocabulary a model uses, from configurable name rules.

use serde::Deserialize;

/// An OpenAI BPE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// gpt-4o, gpt-4.1, the o-series, gpt-5.
    O200kBase,
    /// gpt-4, gpt-3.5-turbo, text-embedding-3 and ada-002.
    Cl100kBase,
}

/// One model-name rule: `pattern` is a glob in which `*` matches any run of
/// characters (`gpt-4o*`, `*-mini`, or an exact name).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodingRule {
    pub pattern: String,
    pub encoding: Encoding,
}

/// Model name → encoding. Configured rules are tried first, in order, then
/// the defaults; the first match wins. A `provider/` prefix
/// (`openai/gpt-4o`) is ignored, and matching is ASCII case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodingMap {
    rules: Vec<EncodingRule>,
}

/// The defaults follow tiktoken's own model table. `gpt-4o` must precede
/// `gpt-4`, since the first match wins.
const DEFAULT_RULES: &[(&str, Encoding)] = &[
    ("gpt-4o*", Encoding::O200kBase),
    ("chatgpt-4o*", Encoding::O200kBase),
    ("gpt-4.1*", Encoding::O200kBase),
    ("gpt-4.5*", Encoding::O200kBase),
    ("gpt-5*", Encoding::O200kBase),
    ("o1*", Encoding::O200kBase),
    ("o3*", Encoding::O200kBase),
    ("o4*", Encoding::O200kBase),
    ("gpt-4*", Encoding::Cl100kBase),
    ("gpt-3.5*", Encoding::Cl100kBase),
    ("gpt-35*", Encoding::Cl100kBase),
    ("text-embedding-3*", Encoding::Cl100kBase),
    ("text-embedding-ada-002*", Encoding::Cl100kBase),
];

impl EncodingMap {
    pub fn new(rules: Vec<EncodingRule>) -> Self {
        EncodingMap { rules }
    }

    /// The encoding of `model`, or `None` when no rule knows it (the caller
    /// then falls back to the estimate).
    pub fn lookup(&self, model: &str) -> Option<Encoding> {
        let name = model.rsplit('/').next().unwrap_or(model);
        let configured = self.rules.iter().map(|r| (r.pattern.as_str(), r.encoding));
        configured
            .chain(DEFAULT_RULES.iter().copied())
            .find(|(pattern, _)| glob_match(pattern, name))
            .map(|(_, encoding)| encoding)
    }
}

/// `*`-only glob matching, ASCII case-insensitive, without backtracking
/// blow-up: each `*` segment is matched greedily-leftmost, which is exact for
/// globs whose only metacharacter is `*`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: exact match
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_model_families() {
        let map = EncodingMap::default();
        for model in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1-nano",
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "openai/gpt-4o",
        ] {
            assert_eq!(map.lookup(model), Some(Encoding::O200kBase), "{model}");
        }
        for model in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "text-embedding-ada-002",
            "GPT-4",
        ] {
            assert_eq!(map.lookup(model), Some(Encoding::Cl100kBase), "{model}");
        }
        for model in ["claude-sonnet-4-5", "gemini-2.5-flash", "llama3", ""] {
            assert_eq!(map.lookup(model), None, "{model}");
        }
    }

    #[test]
    fn configured_rules_come_first() {
        let map = EncodingMap::new(vec![
            EncodingRule {
                pattern: "my-gpt-*".into(),
                encoding: Encoding::O200kBase,
            },
            EncodingRule {
                pattern: "gpt-4o*".into(),
                encoding: Encoding::Cl100kBase,
            },
        ]);
        assert_eq!(map.lookup("my-gpt-deployment"), Some(Encoding::O200kBase));
        assert_eq!(map.lookup("gpt-4o"), Some(Encoding::Cl100kBase));
    }

    #[test]
    fn globs() {
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*-mini", "o3-mini"));
        assert!(!glob_match("a*b", "ab-"));
        assert!(glob_match("a*a", "aa"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("exact", "EXACT"));
        assert!(!glob_match("exact", "exactly"));
    }
}
