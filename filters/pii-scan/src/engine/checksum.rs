//! Check digits and registries that turn digit-shaped candidates into
//! findings: Luhn for cards, ISO 7064 mod-97 and the per-country length table
//! for IBANs, issuer prefixes for cards, the SSA's never-issued SSN ranges.

/// Luhn check over ASCII digits (other bytes make it fail).
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// ISO 7064 mod-97-10 as used by IBANs: the first four characters move to
/// the end, letters count as 10..35, and the number must be 1 modulo 97.
/// Accepts ASCII digits and letters (either case).
pub fn mod97(value: &[u8]) -> bool {
    if value.len() < 5 {
        return false;
    }
    let (head, tail) = value.split_at(4);
    let mut rem = 0u32;
    for b in tail.iter().chain(head) {
        match b {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' | b'a'..=b'z' => {
                let v = u32::from(b.to_ascii_uppercase() - b'A') + 10;
                rem = (rem * 100 + v) % 97;
            }
            _ => return false,
        }
    }
    rem == 1
}

/// IBAN length per country (SWIFT IBAN registry).
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FK" | b"FO" | b"GL" | b"NL" | b"SD" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"MN" | b"XK" => 20,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"CR" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"OM" | b"SO" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"LY" | b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"BI" | b"DJ" | b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"NI" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" | b"YE" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// Whether `digits` (13 to 19 ASCII digits) starts with a known issuer
/// prefix valid for that length: Visa, Mastercard, American Express,
/// Discover, Diners Club, JCB, UnionPay, Maestro.
pub fn card_issuer_known(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| -> u32 {
        digits
            .iter()
            .take(n)
            .fold(0u32, |acc, b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover =
        (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
            && (16..=19).contains(&len);
    let diners =
        ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)) && (14..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && (16..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    let maestro = (matches!(p2, 50 | 56 | 57 | 58)
        || matches!(p4, 6304 | 6759 | 6761 | 6762 | 6763))
        && (13..=19).contains(&len);
    visa || mastercard || amex || discover || diners || jcb || unionpay || maestro
}

/// The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Parses ASCII digits into a number (saturating; callers bound the length).
pub fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(b.wrapping_sub(b'0')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_and_rejects_one_digit_off() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
        assert!(!luhn(b"41111x1111111111"));
    }

    #[test]
    fn mod97_checks_ibans() {
        assert!(mod97(b"DE89370400440532013000"));
        assert!(mod97(b"GB82WEST12345698765432"));
        assert!(!mod97(b"DE89370400440532013001"));
        assert!(!mod97(b"DE8"));
        assert_eq!(iban_length(*b"DE"), Some(22));
        assert_eq!(iban_length(*b"ZZ"), None);
    }

    #[test]
    fn issuers() {
        assert!(card_issuer_known(b"4111111111111111"));
        assert!(card_issuer_known(b"5500005555555559"));
        assert!(card_issuer_known(b"378282246310005"));
        assert!(!card_issuer_known(b"9111111111111111"));
        assert!(!card_issuer_known(b"41111111111111")); // Visa has no 14-digit numbers
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_valid(78, 5, 1120));
        assert!(!ssn_valid(0, 5, 1120));
        assert!(!ssn_valid(666, 5, 1120));
        assert!(!ssn_valid(900, 5, 1120));
        assert!(!ssn_valid(123, 0, 1120));
        assert!(!ssn_valid(123, 45, 0));
    }
}
