//! Whether a value looks machine-generated: the test that lets a value
//! assigned to a loosely named key (`signing_key`, `credentials`, a prose
//! "token is ...") count as a secret while identifiers (`created_at`,
//! `userProfileSettings`) and words do not.

/// Shortest value the test accepts: below it, random and chosen strings
/// overlap too much.
const MIN_LEN: usize = 16;
/// Shannon entropy in bits per character: random hex reaches about 3.7 at
/// 32 characters, base62 and base64 4.5 and more; repetitive strings
/// (`aaaa1111...`, `abcabcabc...`) stay far below.
const MIN_BITS: f32 = 3.0;

/// A value of key characters (`[A-Za-z0-9+/=_.-]`), at least `MIN_LEN` long,
/// with at least one digit and one letter, of high entropy, whose character
/// class (upper, lower, digit) changes at least once every four characters.
/// Random strings change class about every other character; identifiers
/// and words keep one class for a whole word.
pub(crate) fn random_enough(value: &[u8]) -> bool {
    if value.len() < MIN_LEN
        || !value.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'.' | b'-')
        })
        || !value.iter().any(u8::is_ascii_digit)
        || !value.iter().any(u8::is_ascii_alphabetic)
    {
        return false;
    }
    let class = |b: u8| -> u8 {
        if b.is_ascii_uppercase() {
            1
        } else if b.is_ascii_lowercase() {
            2
        } else if b.is_ascii_digit() {
            3
        } else {
            0
        }
    };
    let mut changes = 0usize;
    let mut last = 0u8;
    for &b in value {
        let c = class(b);
        if c != 0 {
            if last != 0 && c != last {
                changes += 1;
            }
            last = c;
        }
    }
    changes * 4 >= value.len() && bits_per_char(value) >= MIN_BITS
}

/// Shannon entropy of the byte distribution of `value`.
fn bits_per_char(value: &[u8]) -> f32 {
    let mut counts = [0u16; 128];
    for &b in value {
        if let Some(c) = counts.get_mut(usize::from(b & 0x7f)) {
            *c = c.saturating_add(1);
        }
    }
    let n = value.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f32::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::random_enough;

    #[test]
    fn random_strings_pass() {
        for value in [
            "7d3136ac83d0934099c7c12a14acf340",
            "2406c82e0045ca2d911f866208d454f79c700d75",
            "HgMlpSRJomo5b996EhgV3BWKSq0PlsxhaJvOwzTF",
            "xfI-pA8wJBImUASGSaLjmgvh0RzpGQD4",
            "MarOmTJoYnWboh7QD2u1H/+c8BD+BGVJ=",
            "Qf8RhzWaA535dYcUUQCiqV",
        ] {
            assert!(random_enough(value.as_bytes()), "{value}");
        }
    }

    #[test]
    fn identifiers_words_and_patterns_fail() {
        for value in [
            "user_profile_settings",
            "customerAccountReference",
            "order_items_v2",
            "session-cache-key",
            "order-2024-0042",
            "aaaaaaaa11111111",
            "a1a1a1a1a1a1a1a1a1a1",
            "created_at",
            "the_quick_brown_fox_2024",
            "0123456789012345",
        ] {
            assert!(!random_enough(value.as_bytes()), "{value}");
        }
    }
}
