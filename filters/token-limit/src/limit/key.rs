//! The limit key from its configured parts.

use super::policy::{KeyPart, MissingKey};

/// The key of the bucket shared by requests that lack a key part (with
/// `missing_key: shared_bucket`). No request builds it: empty parts count
/// as missing.
pub const SHARED_BUCKET: &str = "";

/// The key a request is limited under, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKey {
    Key(String),
    /// `missing_key: reject`: answer 401.
    Missing,
}

/// Joins the parts' values with `|` (a `|` or `%` inside a value is
/// percent-escaped, so distinct part lists never build the same key).
/// `value` answers each part: the header's value, the client id, the model
/// or the route.
pub fn build_key<'a>(parts: &[KeyPart], missing: MissingKey, value: impl Fn(&KeyPart) -> Option<&'a str>) -> RequestKey {
    let mut key = String::new();
    for (i, part) in parts.iter().enumerate() {
        match value(part).filter(|v| !v.is_empty()) {
            Some(v) => {
                if i > 0 {
                    key.push('|');
                }
                for c in v.chars() {
                    match c {
                        '|' => key.push_str("%7C"),
                        '%' => key.push_str("%25"),
                        c => key.push(c),
                    }
                }
            }
            None => {
                return match missing {
                    MissingKey::SharedBucket => RequestKey::Key(SHARED_BUCKET.to_owned()),
                    MissingKey::Reject => RequestKey::Missing,
                }
            }
        }
    }
    RequestKey::Key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<KeyPart> {
        vec![KeyPart::Header("x-agent-id".into()), KeyPart::Model]
    }

    #[test]
    fn joins_and_escapes() {
        let key = build_key(&parts(), MissingKey::Reject, |p| match p {
            KeyPart::Header(_) => Some("a|b%"),
            _ => Some("gpt-4o"),
        });
        assert_eq!(key, RequestKey::Key("a%7Cb%25|gpt-4o".into()));
    }

    #[test]
    fn missing_parts() {
        let none = |p: &KeyPart| if *p == KeyPart::Model { Some("m") } else { Some("") };
        assert_eq!(build_key(&parts(), MissingKey::Reject, none), RequestKey::Missing);
        assert_eq!(build_key(&parts(), MissingKey::SharedBucket, none), RequestKey::Key(SHARED_BUCKET.into()));
    }
}
