//! Digit-shaped entities: PHONE (North American, international, national
//! formats with a trunk prefix, mobile shapes), US_SSN, CREDIT_CARD and
//! IPv4 addresses.
//!
//! A run of digit groups joined by short separators (` `, `-`, `.`, or a
//! parenthesised group such as `(555)`) is cut into groups once; each
//! detector then matches a shape of groups (3-2-4 for SSNs, 4-4-4-4 for
//! cards, ...) and validates it. A run that starts inside a word, or that
//! runs into letters (`9fceb02...`, `2024-01-15T10`), yields nothing, which
//! keeps hashes, UUIDs and timestamps out. A match inside a longer run must
//! be cut from its neighbours by a space, so `123-45-6789-0001` (an order
//! number) is no SSN while `078-05-1120 4111 ...` holds two values.

use super::checksum;
use super::scan::{is_word, Scan};
use crate::config::Entity;

/// A digit group: `digits` are the digits' bounds, `start..end` include a
/// surrounding parenthesis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    start: usize,
    end: usize,
    digits_start: usize,
    digits_end: usize,
    paren: bool,
    /// What joined this group to the previous one.
    sep: Sep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// First group, or adjacent to a parenthesis.
    None,
    Space,
    Dash,
    Dot,
    /// Two or three separator characters (`" - "`, `". "`).
    Mixed {
        space: bool,
    },
}

impl Sep {
    fn has_space(self) -> bool {
        matches!(self, Sep::Space | Sep::Mixed { space: true })
    }
}

impl Group {
    fn len(&self) -> usize {
        self.digits_end - self.digits_start
    }
}

const MAX_GROUPS: usize = 24;
const MAX_GROUP_DIGITS: usize = 19;

/// The shape of the run being matched.
struct Run<'g> {
    groups: &'g [Group],
    /// The run starts with `+`.
    plus: bool,
    /// Letters follow the last group directly.
    glued_end: bool,
}

impl Run<'_> {
    fn group(&self, i: usize) -> Option<&Group> {
        self.groups.get(i)
    }

    /// Whether groups `a..=b` stand apart from the rest of the run. A
    /// space-separated match must end the run (or be followed by a wide
    /// separator) or it would swallow a neighbour's digits.
    fn bounded(&self, a: usize, b: usize, internal_space: bool) -> bool {
        let soft =
            |sep: Sep| sep.has_space() && (!internal_space || matches!(sep, Sep::Mixed { .. }));
        let left = a == 0 || self.group(a).is_some_and(|g| soft(g.sep));
        let right = match self.group(b + 1) {
            None => !self.glued_end,
            Some(next) => soft(next.sep),
        };
        left && right
    }

    /// The separators joining groups `a+1..=b` if they are all the same
    /// single character (or there is only one group).
    fn uniform_sep(&self, a: usize, b: usize) -> Option<Sep> {
        let mut sep = Sep::None;
        for i in a + 1..=b {
            let s = self.group(i)?.sep;
            if !matches!(s, Sep::Space | Sep::Dash | Sep::Dot) || (sep != Sep::None && s != sep) {
                return None;
            }
            sep = s;
        }
        Some(sep)
    }

    fn any_paren(&self, a: usize, b: usize) -> bool {
        (a..=b).any(|i| self.group(i).is_some_and(|g| g.paren))
    }
}

/// Handles the byte at `i` (a digit, `+` or `(`); returns where to go on.
pub(crate) fn at(scan: &mut Scan, i: usize) -> usize {
    let prev = scan.before(i);
    let glued_start = is_word(prev)
        || matches!(prev, b'.' | b'+' | b'/' | b'\\' | b'$' | b'#')
        || (prev == b'-' && is_word(scan.before(i - 1)));
    if glued_start {
        return scan.word_end(i).max(i + 1);
    }
    let plus = scan.at(i) == b'+';
    let mut groups = std::mem::take(&mut scan.groups);
    groups.clear();
    let (end, glued_end) = cut_groups(scan, i, plus, &mut groups);
    // Most runs are a lone number ("2024", "184 ms"): no shape has fewer
    // than four digits, and a single group needs at least nine.
    let digits: usize = groups.iter().map(Group::len).sum();
    if digits >= 9 || (groups.len() > 1 && digits >= 4) {
        let run = Run {
            groups: &groups,
            plus,
            glued_end,
        };
        for a in 0..run.groups.len() {
            ssn(scan, &run, a);
            card(scan, &run, a);
            nanp(scan, &run, a);
            french(scan, &run, a);
            national(scan, &run, a);
            mobile(scan, &run, a);
            ipv4(scan, &run, a);
        }
        international(scan, &run);
    }
    scan.groups = groups;
    end.max(i + 1)
}

/// Cuts the run starting at `i` into groups. Returns the end of the run and
/// whether a word character follows it directly. A run that reaches the end
/// of a streamed buffer (`+1 555 `, `+49 (`) is held back by the caller's
/// [`Scan::candidate`], which sees the read past the end.
fn cut_groups(scan: &mut Scan, i: usize, plus: bool, groups: &mut Vec<Group>) -> (usize, bool) {
    let mut p = i + usize::from(plus);
    let mut sep = Sep::None;
    loop {
        let paren = scan.at(p) == b'(';
        let digits_start = p + usize::from(paren);
        let mut q = digits_start;
        while scan.at(q).is_ascii_digit() {
            q += 1;
        }
        let closed = !paren || scan.at(q) == b')';
        if q == digits_start || !closed || q - digits_start > MAX_GROUP_DIGITS {
            // Not a group: the run ends before it. A long digit string is
            // skipped whole (it is no entity and must not be re-entered).
            let end = groups.last().map_or(q.max(p), |g| g.end);
            let glued = groups.is_empty() || is_word(scan.at(end));
            return (
                if groups.is_empty() {
                    scan.word_end(q).max(q)
                } else {
                    end
                },
                glued,
            );
        }
        let end = q + usize::from(paren);
        groups.push(Group {
            start: p,
            end,
            digits_start,
            digits_end: q,
            paren,
            sep,
        });
        let mut s = end;
        while s - end < 3 && matches!(scan.at(s), b' ' | b'-' | b'.') {
            s += 1;
        }
        let next_is_group =
            scan.at(s).is_ascii_digit() || (scan.at(s) == b'(' && scan.at(s + 1).is_ascii_digit());
        if !next_is_group
            || groups.len() >= MAX_GROUPS
            || (s == end && !paren && scan.at(s) != b'(')
        {
            return (end, is_word(scan.at(end)));
        }
        sep = classify(scan.text.get(end..s).unwrap_or_default());
        p = s;
    }
}

fn classify(sep: &[u8]) -> Sep {
    match sep {
        [] => Sep::None,
        [b' '] => Sep::Space,
        [b'-'] => Sep::Dash,
        [b'.'] => Sep::Dot,
        _ => Sep::Mixed {
            space: sep.contains(&b' '),
        },
    }
}

/// The digits of groups `a..=b`, if there are at most `N`.
fn digits<const N: usize>(scan: &Scan, run: &Run, a: usize, b: usize) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut len = 0;
    for i in a..=b {
        let g = run.group(i)?;
        for &d in scan.text.get(g.digits_start..g.digits_end)? {
            *out.get_mut(len)? = d;
            len += 1;
        }
    }
    Some((out, len))
}

fn group_digits<'t>(scan: &Scan<'t>, g: &Group) -> &'t [u8] {
    scan.text
        .get(g.digits_start..g.digits_end)
        .unwrap_or_default()
}

/// US_SSN: 3-2-4 digits joined by one dash or one space, never-issued
/// ranges excluded; nine bare digits are a weak candidate that needs context
/// (e.g. "SSN") to pass the threshold.
fn ssn(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && run.plus {
        return;
    }
    if let (Some(g0), Some(g1), Some(g2)) = (run.group(a), run.group(a + 1), run.group(a + 2)) {
        let shape = g0.len() == 3 && g1.len() == 2 && g2.len() == 4 && !run.any_paren(a, a + 2);
        let sep = run.uniform_sep(a, a + 2);
        if shape
            && matches!(sep, Some(Sep::Dash | Sep::Space))
            && run.bounded(a, a + 2, sep == Some(Sep::Space))
        {
            let valid = checksum::ssn_valid(
                checksum::number(group_digits(scan, g0)),
                checksum::number(group_digits(scan, g1)),
                checksum::number(group_digits(scan, g2)),
            );
            if valid {
                let confidence = if sep == Some(Sep::Dash) { 0.85 } else { 0.7 };
                scan.add(Entity::UsSsn, g0.start, g2.end, confidence);
            }
        }
    }
    if let Some(g) = run.group(a) {
        let d = group_digits(scan, g);
        if d.len() == 9 && !g.paren && run.bounded(a, a, true) {
            let (area, group, serial) = (d.get(..3), d.get(3..5), d.get(5..));
            if let (Some(x), Some(y), Some(z)) = (area, group, serial) {
                if checksum::ssn_valid(
                    checksum::number(x),
                    checksum::number(y),
                    checksum::number(z),
                ) {
                    scan.add(Entity::UsSsn, g.start, g.end, 0.3);
                }
            }
        }
    }
}

/// CREDIT_CARD: 13-19 digits, bare or in groups of four (Amex 4-6-5, Diners
/// 4-6-4) joined by one space or one dash, Luhn-valid, known issuer.
fn card(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && (run.plus || after_iban_head(scan, run)) {
        return;
    }
    for b in (a..(a + 5).min(run.groups.len())).rev() {
        if run.any_paren(a, b) {
            continue;
        }
        let Some(sep) = run.uniform_sep(a, b) else {
            continue;
        };
        if sep == Sep::Dot {
            continue;
        }
        let count = b - a + 1;
        let size = |k: usize| run.group(a + k).map_or(0, Group::len);
        let grouped = count == 1
            || (count == 3 && size(0) == 4 && size(1) == 6 && matches!(size(2), 4 | 5))
            || ((0..count - 1).all(|k| size(k) == 4) && (1..=4).contains(&size(count - 1)));
        if !grouped {
            continue;
        }
        let Some((d, len)) = digits::<19>(scan, run, a, b) else {
            continue;
        };
        let number = d.get(..len).unwrap_or_default();
        if grouped
            && (13..=19).contains(&len)
            && run.bounded(a, b, sep == Sep::Space)
            && checksum::luhn(number)
            && checksum::card_issuer_known(number)
        {
            if let (Some(first), Some(last)) = (run.group(a), run.group(b)) {
                scan.add(
                    Entity::CreditCard,
                    first.start,
                    last.end,
                    if b > a { 0.95 } else { 0.9 },
                );
            }
            return;
        }
    }
}

/// Whether the run follows `DE11 `, the head of an IBAN in groups of four:
/// its digits are the IBAN's (one whose checksum failed), not a card's.
fn after_iban_head(scan: &Scan, run: &Run) -> bool {
    let Some(start) = run.group(0).map(|g| g.start) else {
        return false;
    };
    let Some(head) = start.checked_sub(5).and_then(|h| scan.text.get(h..start)) else {
        return false;
    };
    matches!(head, [c1, c2, d1, d2, b' '] if c1.is_ascii_uppercase() && c2.is_ascii_uppercase()
        && d1.is_ascii_digit() && d2.is_ascii_digit() && checksum::iban_length([*c1, *c2]).is_some())
}

/// PHONE, North American numbering plan: optional `+1`/`1`, area code
/// (optionally in parentheses), exchange, line; area and exchange start
/// with 2-9. Ten bare digits are weak (they are more often ids or
/// timestamps) and need context such as "phone" to pass.
fn nanp(scan: &mut Scan, run: &Run, a: usize) {
    let Some(first) = run.group(a) else { return };
    let first_digits = group_digits(scan, first);
    let plus = a == 0 && run.plus;
    if plus && first_digits.len() == 11 && first_digits.first() == Some(&b'1') && !first.paren {
        if nanp_valid(first_digits.get(1..).unwrap_or_default()) && run.bounded(a, a, true) {
            scan.add(Entity::Phone, first.start.saturating_sub(1), first.end, 0.9);
        }
        return;
    }
    if !plus && first_digits.len() == 10 && !first.paren && run.bounded(a, a, true) {
        if nanp_valid(first_digits) {
            scan.add(Entity::Phone, first.start, first.end, 0.4);
        }
        return;
    }
    let country = first_digits == b"1" && !first.paren;
    if plus && !country {
        return;
    }
    let area_at = a + usize::from(country);
    let (Some(area), Some(exchange), Some(line)) = (
        run.group(area_at),
        run.group(area_at + 1),
        run.group(area_at + 2),
    ) else {
        return;
    };
    let shape =
        area.len() == 3 && exchange.len() == 3 && line.len() == 4 && !exchange.paren && !line.paren;
    let all_space = [exchange.sep, line.sep].iter().all(|s| *s == Sep::Space);
    let b = area_at + 2;
    if shape && (exchange.sep != Sep::None || area.paren) && run.bounded(a, b, all_space) {
        let mut number = [0u8; 10];
        for (slot, &d) in number.iter_mut().zip(
            group_digits(scan, area)
                .iter()
                .chain(group_digits(scan, exchange))
                .chain(group_digits(scan, line)),
        ) {
            *slot = d;
        }
        if nanp_valid(&number) {
            let start = if plus {
                first.start.saturating_sub(1)
            } else {
                first.start
            };
            let confidence = if plus {
                0.9
            } else if all_space {
                0.7
            } else {
                0.8
            };
            scan.add(Entity::Phone, start, line.end, confidence);
        }
    }
}

fn nanp_valid(ten: &[u8]) -> bool {
    ten.len() == 10
        && matches!(ten.first(), Some(b'2'..=b'9'))
        && matches!(ten.get(3), Some(b'2'..=b'9'))
}

/// PHONE, international: `+`, country code, then groups (a `(0)` trunk
/// prefix allowed) up to 15 digits in all (E.164), at least 8.
fn international(scan: &mut Scan, run: &Run) {
    let Some(first) = run.group(0) else { return };
    if !run.plus || first.paren || matches!(group_digits(scan, first).first(), Some(b'0') | None) {
        return;
    }
    let mut total = 0;
    let mut best = None;
    for (b, g) in run.groups.iter().enumerate() {
        if matches!(g.sep, Sep::Mixed { .. }) && b > 0 {
            break;
        }
        let trunk = g.paren && group_digits(scan, g) == b"0";
        if !trunk {
            total += g.len();
        }
        if total > 15 {
            break;
        }
        if total >= 8 && run.bounded(0, b, false) {
            best = Some(b);
        }
    }
    if let Some(last) = best.and_then(|b| run.group(b)) {
        scan.add(Entity::Phone, first.start.saturating_sub(1), last.end, 0.8);
    }
}

/// PHONE, national formats with a trunk prefix, as written across Europe
/// and Asia: `030 1234567`, `0171-2345678`, `(030) 12345678`,
/// `020 7946 0958`, `08-123 456 78`, `03-1234-5678`, `010-1234-5678`,
/// `021-3997 2980`; and numbers dialled with the `00` international prefix
/// (`0044 20 7946 0958`). The first group starts with `0`; groups are joined
/// by spaces or hyphens, every separator after the first the same (so a
/// date and a time, `03-06-2024 10`, is none); 9 to 12 digits. Ten or
/// eleven bare digits after a trunk `0` are weak and need context.
fn national(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && run.plus {
        return;
    }
    let Some(first) = run.group(a) else { return };
    let d = group_digits(scan, first);
    let international = d.starts_with(b"00") && matches!(d.get(2), Some(b'1'..=b'9'));
    let trunk = d.first() == Some(&b'0') && matches!(d.get(1), Some(b'1'..=b'9'));
    if !(trunk || international) {
        return;
    }
    if !first.paren && (10..=11).contains(&d.len()) && trunk && run.bounded(a, a, true) {
        scan.add(Entity::Phone, first.start, first.end, 0.4);
        return;
    }
    if !(2..=5).contains(&d.len()) {
        return;
    }
    let mut total = d.len();
    let mut rest_sep = None;
    let mut best = None;
    for b in a + 1..(a + 6).min(run.groups.len()) {
        let Some(g) = run.group(b) else { break };
        let sep_ok = match g.sep {
            Sep::Space | Sep::Dash => true,
            Sep::None => b == a + 1 && first.paren,
            _ => false,
        };
        if !sep_ok || g.paren || !(2..=8).contains(&g.len()) {
            break;
        }
        if b > a + 1 {
            if rest_sep.is_some_and(|s| s != g.sep) {
                break;
            }
            rest_sep = Some(g.sep);
        }
        total += g.len();
        if total > 12 + 2 * usize::from(international) {
            break;
        }
        let spaced = (a + 1..=b).any(|k| run.group(k).is_some_and(|g| g.sep == Sep::Space));
        if total >= 9 + 2 * usize::from(international) && run.bounded(a, b, spaced) {
            best = Some(b);
        }
    }
    if let Some(last) = best.and_then(|b| run.group(b)) {
        scan.add(Entity::Phone, first.start, last.end, 0.6);
    }
}

/// PHONE, mobile numbers written without trunk prefix: 9 digits as 3-3-3
/// (Spain, Portugal, Poland), Italian `3xx xxx xxxx`, Chinese
/// `1xx xxxx xxxx` or 11 bare digits, Indian `9xxxx xxxxx`: shapes ordinary
/// numbers also take, so they need context ("mobile", "手机", "celular").
/// Brazilian `(11) 91234-5678` is distinctive enough alone.
fn mobile(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && run.plus {
        return;
    }
    let Some(first) = run.group(a) else { return };
    let d = group_digits(scan, first);
    let lead = d.first().copied().unwrap_or(0);
    let possible = match d.len() {
        2 => first.paren,
        3 => matches!(lead, b'1' | b'3' | b'5'..=b'9'),
        5 => matches!(lead, b'6'..=b'9'),
        11 => lead == b'1',
        _ => false,
    };
    if !possible {
        return;
    }
    let size = |k: usize| run.group(a + k).map_or(0, Group::len);
    let chinese = lead == b'1' && matches!(d.get(1), Some(b'3'..=b'9'));
    if first.paren {
        // Brazil: (DD) NNNN-NNNN or (DD) 9NNNN-NNNN.
        let shape = d.len() == 2
            && matches!(size(1), 4 | 5)
            && size(2) == 4
            && run.group(a + 1).is_some_and(|g| g.sep == Sep::Space)
            && run.group(a + 2).is_some_and(|g| g.sep == Sep::Dash);
        if shape && run.bounded(a, a + 2, true) {
            if let Some(last) = run.group(a + 2) {
                scan.add(Entity::Phone, first.start, last.end, 0.75);
            }
        }
        return;
    }
    if d.len() == 11 && chinese && run.bounded(a, a, true) {
        scan.add(Entity::Phone, first.start, first.end, 0.4);
        return;
    }
    let shapes: [(&[usize], bool); 4] = [
        (&[3, 3, 3], (b'5'..=b'9').contains(&lead)),
        (&[3, 3, 4], lead == b'3'),
        (&[3, 4, 4], chinese),
        (&[5, 5], (b'6'..=b'9').contains(&lead)),
    ];
    for (sizes, lead_ok) in shapes {
        let b = a + sizes.len() - 1;
        let shape =
            lead_ok && sizes.iter().enumerate().all(|(k, &n)| size(k) == n) && !run.any_paren(a, b);
        let sep = if shape { run.uniform_sep(a, b) } else { None };
        if matches!(sep, Some(Sep::Space | Sep::Dash)) && run.bounded(a, b, sep == Some(Sep::Space))
        {
            if let Some(last) = run.group(b) {
                scan.add(Entity::Phone, first.start, last.end, 0.4);
            }
            return;
        }
    }
}

/// PHONE, French national format: `0X XX XX XX XX` with spaces or dots, a
/// shape distinctive enough to detect without a country code.
fn french(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && run.plus {
        return;
    }
    let b = a + 4;
    let Some(sep) = (b < run.groups.len())
        .then(|| run.uniform_sep(a, b))
        .flatten()
    else {
        return;
    };
    let pairs = (a..=b).all(|i| run.group(i).is_some_and(|g| g.len() == 2 && !g.paren));
    let Some(first) = run.group(a) else { return };
    let d = group_digits(scan, first);
    let trunk = d.first() == Some(&b'0') && matches!(d.get(1), Some(b'1'..=b'9'));
    if pairs
        && trunk
        && matches!(sep, Sep::Space | Sep::Dot)
        && run.bounded(a, b, sep == Sep::Space)
    {
        if let Some(last) = run.group(b) {
            scan.add(Entity::Phone, first.start, last.end, 0.75);
        }
    }
}

/// IP_ADDRESS, IPv4: four dot-joined numbers 0-255 without leading zeros.
/// A fifth dotted group (`1.2.3.4.5`, an OID or version) disqualifies it.
fn ipv4(scan: &mut Scan, run: &Run, a: usize) {
    if a == 0 && run.plus {
        return;
    }
    let b = a + 3;
    if b >= run.groups.len() || run.any_paren(a, b) || run.uniform_sep(a, b) != Some(Sep::Dot) {
        return;
    }
    let mut octets = [0u8; 4];
    for (slot, i) in octets.iter_mut().zip(a..=b) {
        let Some(g) = run.group(i) else { return };
        let d = group_digits(scan, g);
        let value = checksum::number(d);
        if d.len() > 3 || value > 255 || (d.len() > 1 && d.first() == Some(&b'0')) {
            return;
        }
        *slot = value as u8;
    }
    if !run.bounded(a, b, false) {
        return;
    }
    // 0.0.0.0 (any address, as in `0.0.0.0/0`) names no host.
    if octets == [0; 4] {
        return;
    }
    if let (Some(first), Some(last)) = (run.group(a), run.group(b)) {
        let private = ipv4_private(octets);
        scan.add_kind(
            Entity::IpAddress.into(),
            first.start,
            last.end,
            0.85,
            private,
        );
    }
}

/// Private (RFC 1918), loopback, link-local or shared (RFC 6598) space:
/// addresses that reveal internal infrastructure.
fn ipv4_private([a, b, _, _]: [u8; 4]) -> bool {
    a == 10
        || a == 127
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 169 && b == 254)
        || (a == 100 && (64..=127).contains(&b))
}
