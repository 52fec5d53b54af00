//! A level's limit key from its configured parts.

use super::policy::{KeyPart, MissingKey, MISSING_PART};

/// The longest value a key part may have, in bytes. A key is hashed into
/// the store, but it is also published (`llm.ratelimit.key`) and recorded by
/// the audit filter, so a client must not be able to make it large.
pub const MAX_PART_BYTES: usize = 256;

/// Why a request has no key on a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError<'p> {
    /// A part is missing and the level says `missing_key: reject`: 401.
    Missing(&'p KeyPart),
    /// A part's value is longer than [`MAX_PART_BYTES`]: 400.
    TooLong(&'p KeyPart),
}

/// Joins the parts' values with `|`. A `|`, a `%` or a control character
/// inside a value is percent-escaped, so distinct part lists never build the
/// same key and no value can build [`MISSING_PART`]. `value` answers each
/// part: the header's value, the client id, the model or the API kind. An
/// empty value counts as missing; with `missing_key: placeholder` only that
/// part is replaced, so requests without an agent id share their own
/// client's bucket, never another client's.
pub fn build_key<'p, 'a>(
    parts: &'p [KeyPart],
    missing: MissingKey,
    value: impl Fn(&KeyPart) -> Option<&'a str>,
) -> Result<String, KeyError<'p>> {
    let mut key = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push('|');
        }
        match value(part).filter(|v| !v.is_empty()) {
            Some(v) if v.len() > MAX_PART_BYTES => return Err(KeyError::TooLong(part)),
            Some(v) => {
                for c in v.chars() {
                    match c {
                        '|' | '%' => key.push_str(&format!("%{:02X}", c as u32)),
                        c if c.is_control() => key.push_str(&format!("%{:02X}", c as u32)),
                        c => key.push(c),
                    }
                }
            }
            None if missing == MissingKey::Reject => return Err(KeyError::Missing(part)),
            None => key.push_str(MISSING_PART),
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<KeyPart> {
        vec![KeyPart::Client, KeyPart::Header("x-agent-id".into())]
    }

    #[test]
    fn joins_and_escapes() {
        let parts = parts();
        let key = build_key(&parts, MissingKey::Reject, |p| match p {
            KeyPart::Header(_) => Some("a|b%\u{1}"),
            _ => Some("team"),
        });
        assert_eq!(key, Ok("team|a%7Cb%25%01".into()));
    }

    #[test]
    fn only_the_missing_part_is_replaced() {
        let of = |client: &'static str, agent: &'static str| {
            build_key(&parts(), MissingKey::Placeholder, move |p| {
                Some(if *p == KeyPart::Client { client } else { agent })
            })
            .ok()
        };
        assert_eq!(of("alice", ""), Some("alice|%none".into()));
        assert_ne!(
            of("alice", ""),
            of("bob", ""),
            "two clients without agent ids never share a bucket"
        );
        assert_ne!(
            of("alice", ""),
            of("alice", "%none"),
            "no value builds the placeholder"
        );
        let parts = parts();
        assert_eq!(
            build_key(&parts, MissingKey::Reject, |_| Some("")),
            Err(KeyError::Missing(&parts[0]))
        );
    }

    #[test]
    fn long_values_are_refused() {
        let long = "x".repeat(MAX_PART_BYTES + 1);
        let parts = parts();
        assert_eq!(
            build_key(&parts, MissingKey::Placeholder, |_| Some(long.as_str())),
            Err(KeyError::TooLong(&parts[0]))
        );
        let fits = "x".repeat(MAX_PART_BYTES);
        assert!(build_key(&parts, MissingKey::Placeholder, |_| Some(fits.as_str())).is_ok());
    }
}
