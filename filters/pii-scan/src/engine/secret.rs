//! SECRET: provider credentials recognised by their documented formats
//! (OpenAI and Anthropic `sk-`, GitHub `ghp_`/`github_pat_`, GitLab
//! `glpat-`, Slack `xox?-`, Google `AIza`, AWS `AKIA...`, Stripe
//! `sk_live_`/`rk_live_`/`sk_test_`, Hugging Face `hf_`, SendGrid `SG.`,
//! Twilio `SK`/`AC` + 32 hex, npm `npm_`, PyPI `pypi-`, Mailgun `key-`,
//! DigitalOcean `dop_v1_`, Shopify `shpat_`, Discord and Telegram bot
//! tokens), JWTs, PEM private key blocks, and AWS secret keys near an AWS
//! access key id or the word "aws". Values of `password=`/`"token": ...`
//! pairs live in `keyvalue.rs`, passwords in prose in `prose.rs`. The scan
//! calls in here at the start of each word, at `:` (Telegram) and at
//! `-----BEGIN `.

use super::scan::Scan;
use crate::config::Entity;

/// What a trigger literal starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefixed {
    /// `sk-` (OpenAI, including `sk-proj-`, and Anthropic `sk-ant-`).
    OpenAi,
    /// `sk_live_`, `rk_live_`.
    Stripe,
    /// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`.
    GitHub,
    GitHubPat,
    Slack,
    AwsKeyId,
    Google,
    Jwt,
    /// `hf_`: 34 letters.
    HuggingFace,
    /// `SG.` + 22 + `.` + 43 base64url characters.
    SendGrid,
    /// `SK`/`AC` + 32 lowercase hex (Twilio API key, account SID).
    Twilio,
    /// `npm_` + 36 base62.
    Npm,
    /// `pypi-` + a base64url macaroon naming pypi.org.
    PyPi,
    /// `glpat-` + 20 or more.
    GitLab,
    /// `key-` + 32 hex.
    Mailgun,
    /// `dop_v1_`, `doo_v1_`, `dor_v1_` + 64 hex.
    DigitalOcean,
    /// `shpat_`, `shpss_`, `shpca_`, `shppa_` + 32 hex.
    Shopify,
}

/// The case-sensitive trigger literals and what they start.
pub(crate) const PREFIXES: &[(&str, Prefixed)] = &[
    ("sk-", Prefixed::OpenAi),
    ("sk_live_", Prefixed::Stripe),
    ("rk_live_", Prefixed::Stripe),
    ("sk_test_", Prefixed::Stripe),
    ("rk_test_", Prefixed::Stripe),
    ("ghp_", Prefixed::GitHub),
    ("gho_", Prefixed::GitHub),
    ("ghu_", Prefixed::GitHub),
    ("ghs_", Prefixed::GitHub),
    ("ghr_", Prefixed::GitHub),
    ("github_pat_", Prefixed::GitHubPat),
    ("xoxb-", Prefixed::Slack),
    ("xoxp-", Prefixed::Slack),
    ("xoxa-", Prefixed::Slack),
    ("xoxr-", Prefixed::Slack),
    ("xoxs-", Prefixed::Slack),
    ("xoxe-", Prefixed::Slack),
    ("xapp-", Prefixed::Slack),
    ("AKIA", Prefixed::AwsKeyId),
    ("ASIA", Prefixed::AwsKeyId),
    ("ABIA", Prefixed::AwsKeyId),
    ("ACCA", Prefixed::AwsKeyId),
    ("AGPA", Prefixed::AwsKeyId),
    ("AIDA", Prefixed::AwsKeyId),
    ("AROA", Prefixed::AwsKeyId),
    ("AIPA", Prefixed::AwsKeyId),
    ("ANPA", Prefixed::AwsKeyId),
    ("ANVA", Prefixed::AwsKeyId),
    ("APKA", Prefixed::AwsKeyId),
    ("AIza", Prefixed::Google),
    ("eyJ", Prefixed::Jwt),
    ("hf_", Prefixed::HuggingFace),
    ("SG.", Prefixed::SendGrid),
    ("SK", Prefixed::Twilio),
    ("AC", Prefixed::Twilio),
    ("npm_", Prefixed::Npm),
    ("pypi-", Prefixed::PyPi),
    ("glpat-", Prefixed::GitLab),
    ("key-", Prefixed::Mailgun),
    ("dop_v1_", Prefixed::DigitalOcean),
    ("doo_v1_", Prefixed::DigitalOcean),
    ("dor_v1_", Prefixed::DigitalOcean),
    ("shpat_", Prefixed::Shopify),
    ("shpss_", Prefixed::Shopify),
    ("shpca_", Prefixed::Shopify),
    ("shppa_", Prefixed::Shopify),
];

/// What a PyPI token's body starts with: a macaroon whose location is
/// pypi.org, base64url-encoded.
const PYPI_BODY: &[u8] = b"AgEIcHlwaS5vcmc";

/// How far after "aws" or an access key id an AWS secret key is looked for.
pub(crate) const AWS_WINDOW: usize = 128;
/// A PEM block without an END line ends with its last body line, or here.
const MAX_PEM: usize = 64 * 1024;

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// For each first byte, the second bytes a prefix may have, as bits of
/// `second & 0x1f` (so `SG` also lets `Sg` through; [`at_word`] decides).
// Const evaluation: an out-of-range index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const SECOND: [u32; 256] = {
    let mut t = [0u32; 256];
    let pairs: &[(u8, &[u8])] = &[
        (b's', b"kh"),
        (b'r', b"k"),
        (b'g', b"hil"),
        (b'x', b"oa"),
        (b'e', b"y"),
        (b'h', b"f"),
        (b'S', b"GK"),
        (b'n', b"p"),
        (b'p', b"y"),
        (b'k', b"e"),
        (b'd', b"o"),
        (b'a', b"wW"),
        (b'A', b"ABCDEFGHIJKLMNOPQRSTUVWXYZw"),
        // Discord bot tokens: a user id's decimal digits in base64.
        (b'M', b"Tjz"),
        (b'N', b"DTjz"),
        (b'O', b"DT"),
    ];
    let mut k = 0;
    while k < pairs.len() {
        let (first, seconds) = pairs[k];
        let mut j = 0;
        while j < seconds.len() {
            t[first as usize] |= 1 << (seconds[j] & 0x1f);
            j += 1;
        }
        k += 1;
    }
    t
};

/// Whether a prefix can start at the word starting at `start`: one table
/// lookup on the first two bytes, so most words cost one comparison.
#[inline]
pub(crate) fn may_start_word(scan: &Scan, start: usize) -> bool {
    let (Some(&first), Some(&second)) = (scan.text.get(start), scan.text.get(start + 1)) else {
        return false;
    };
    SECOND.get(usize::from(first)).copied().unwrap_or(0) & (1 << (second & 0x1f)) != 0
}

/// Handles the start of a word at `start` that `may_start_word`.
pub(crate) fn at_word(scan: &mut Scan, start: usize) {
    if is_token(scan.before(start)) {
        return;
    }
    let rest = scan.text.get(start..).unwrap_or_default();
    if rest
        .get(..3)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"aws"))
    {
        aws_secret(scan, start + 3);
        return;
    }
    let Some((literal, kind)) = PREFIXES.iter().find(|(literal, _)| {
        literal.as_bytes().first() == rest.first() && rest.starts_with(literal.as_bytes())
    }) else {
        if matches!(rest.first(), Some(b'M' | b'N' | b'O')) {
            discord(scan, start);
        }
        return;
    };
    let end = start + literal.len();
    match kind {
        Prefixed::Jwt => jwt(scan, start),
        Prefixed::SendGrid => dotted(scan, start, end, &[(22, 22), (43, 43)]),
        _ => token(scan, *kind, start, end),
    }
}

/// Segments of token characters joined by single dots, starting at
/// `body_start`, each with its length in the given bounds and nothing
/// glued after the last. Returns the end.
fn segments(
    scan: &mut Scan,
    start: usize,
    body_start: usize,
    bounds: &[(usize, usize)],
) -> Option<usize> {
    let mut p = body_start;
    for (i, &(min, max)) in bounds.iter().enumerate() {
        if i > 0 {
            if scan.at(p) != b'.' {
                return None;
            }
            p += 1;
        }
        let from = p;
        while is_token(scan.at(p)) && p - from <= max {
            p += 1;
        }
        if p >= scan.len() {
            scan.open(start);
        }
        if !(min..=max).contains(&(p - from)) {
            return None;
        }
    }
    let glued = is_token(scan.at(p)) || (scan.at(p) == b'.' && is_token(scan.at(p + 1)));
    (!glued).then_some(p)
}

/// A token of dot-joined segments after a prefix (SendGrid `SG.`).
fn dotted(scan: &mut Scan, start: usize, body_start: usize, bounds: &[(usize, usize)]) {
    if let Some(end) = segments(scan, start, body_start, bounds) {
        let whole = scan.text.get(start..end).unwrap_or_default();
        if mixed(whole) && !placeholder(whole) {
            scan.add(Entity::Secret, start, end, 0.95);
        }
    }
}

/// A Discord bot token: the base64 user id (23 to 28 characters), a
/// 6-character timestamp, a 27 to 40 character HMAC, dot-joined.
fn discord(scan: &mut Scan, start: usize) {
    if let Some(end) = segments(scan, start, start, &[(23, 28), (6, 7), (27, 40)]) {
        let whole = scan.text.get(start..end).unwrap_or_default();
        if mixed(whole) && whole.iter().any(u8::is_ascii_uppercase) && !placeholder(whole) {
            scan.add(Entity::Secret, start, end, 0.9);
        }
    }
}

/// A Telegram bot token around the `:` at `colon`: 8 to 10 digits (the bot
/// id, alone or after `bot` in an API URL), then `AA` and 33 base64url
/// characters.
pub(crate) fn at_telegram(scan: &mut Scan, colon: usize) {
    if !(scan.at(colon + 1) == b'A' && scan.at(colon + 2) == b'A') {
        return;
    }
    let mut start = colon;
    while start > 0 && colon - start < 10 && scan.at(start - 1).is_ascii_digit() {
        start -= 1;
    }
    let id_len = colon - start;
    let lead = scan.before(start);
    let after_bot = start >= 3 && scan.text.get(start - 3..start) == Some(b"bot".as_slice());
    if !(8..=10).contains(&id_len) || (is_token(lead) && !after_bot) {
        return;
    }
    let body = colon + 1;
    let mut end = body;
    while is_token(scan.at(end)) && end - body <= 35 {
        end += 1;
    }
    if end >= scan.len() {
        scan.open(start);
    }
    if end - body == 35 {
        scan.add(Entity::Secret, start, end, 0.9);
    }
}

/// A prefixed token: the prefix, then a body of token characters.
fn token(scan: &mut Scan, kind: Prefixed, start: usize, body_start: usize) {
    let mut end = body_start;
    while is_token(scan.at(end)) {
        end += 1;
    }
    if end >= scan.len() {
        scan.open(start);
    }
    let body = scan.text.get(body_start..end).unwrap_or_default();
    let whole = scan.text.get(start..end).unwrap_or_default();
    let alnum = |b: &[u8]| b.iter().all(u8::is_ascii_alphanumeric);
    let upper_alnum = |b: &[u8]| {
        b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let valid = match kind {
        Prefixed::OpenAi => body.len() >= 20 && mixed(body),
        Prefixed::Stripe => body.len() >= 16 && alnum(body),
        Prefixed::GitHub => body.len() >= 30 && alnum(body),
        Prefixed::GitHubPat => {
            body.len() >= 30 && body.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        Prefixed::Slack => body.len() >= 10 && body.iter().any(u8::is_ascii_digit),
        Prefixed::AwsKeyId => body.len() == 16 && upper_alnum(body),
        Prefixed::Google => body.len() == 35,
        Prefixed::HuggingFace => {
            body.len() >= 30
                && alnum(body)
                && body.iter().any(u8::is_ascii_uppercase)
                && body.iter().any(u8::is_ascii_lowercase)
        }
        Prefixed::Twilio => body.len() == 32 && lower_hex(body),
        Prefixed::Npm => body.len() == 36 && alnum(body) && mixed(body),
        Prefixed::PyPi => body.len() >= 50 && body.starts_with(PYPI_BODY),
        Prefixed::GitLab => body.len() >= 20 && mixed(body),
        Prefixed::Mailgun => body.len() == 32 && lower_hex(body),
        Prefixed::DigitalOcean => body.len() == 64 && lower_hex(body),
        Prefixed::Shopify => body.len() == 32 && lower_hex(body),
        Prefixed::Jwt | Prefixed::SendGrid => false,
    };
    if valid && !placeholder(whole) {
        scan.add(Entity::Secret, start, end, 0.95);
        if kind == Prefixed::AwsKeyId {
            aws_secret(scan, end);
        }
    }
}

fn lower_hex(body: &[u8]) -> bool {
    body.iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Has a letter and a digit: real keys do, word-like strings rarely.
fn mixed(body: &[u8]) -> bool {
    body.iter().any(u8::is_ascii_digit) && body.iter().any(u8::is_ascii_alphabetic)
}

/// header.payload.signature, base64url, the header starting `eyJ` (`{"`).
fn jwt(scan: &mut Scan, start: usize) {
    let mut p = start;
    let mut lengths = [0usize; 3];
    for (i, len) in lengths.iter_mut().enumerate() {
        let from = p;
        while is_token(scan.at(p)) {
            p += 1;
        }
        *len = p - from;
        if p >= scan.len() {
            scan.open(start);
        }
        if i < 2 {
            if scan.at(p) != b'.' {
                return;
            }
            p += 1;
        }
    }
    // A dot may end the sentence, not start a fourth segment.
    let fourth_segment = scan.at(p) == b'.' && is_token(scan.at(p + 1));
    if lengths[0] >= 10 && lengths[1] >= 10 && lengths[2] >= 16 && !fourth_segment {
        scan.add(Entity::Secret, start, p, 0.95);
    }
}

/// `-----BEGIN ... PRIVATE KEY-----` through its END line; without an END
/// line (a truncated paste), through the last base64 line. Runs under
/// [`Scan::candidate`]: in a stream the block is held until a read no longer
/// reaches the end of the buffer (the END line, or a line that ends it).
pub(crate) fn at_pem(scan: &mut Scan, start: usize) {
    if !scan.has(start, b"-----BEGIN ") {
        return;
    }
    let label_start = start + "-----BEGIN ".len();
    let mut p = label_start;
    while p - label_start < 40 && (scan.at(p).is_ascii_uppercase() || scan.at(p) == b' ') {
        p += 1;
    }
    let label = scan.text.get(label_start..p).unwrap_or_default();
    if !label.ends_with(b"PRIVATE KEY") || !scan.has(p, b"-----") {
        return;
    }
    let body_start = p + 5;
    let cap = start + MAX_PEM;
    // Walk the body line by line: base64 and `Key: value` header lines, up
    // to the END line. Any other line ends the block there (a truncated
    // paste), which also keeps the walk linear.
    let mut q = body_start;
    let mut end = body_start;
    while q < cap && !scan.ends(q) {
        // Line breaks, also escaped ones (`\\n` in a JSON key file).
        loop {
            if q < cap && scan.at(q).is_ascii_whitespace() {
                q += 1;
            } else if q + 2 <= cap && escaped_break(scan, q) {
                q += 2;
            } else {
                break;
            }
        }
        if scan.has(q, b"-----END ") {
            let mut e = q + 9;
            while scan.at(e).is_ascii_uppercase() || scan.at(e) == b' ' {
                e += 1;
            }
            while scan.at(e) == b'-' && e - q < 80 {
                e += 1;
            }
            scan.add(Entity::Secret, start, e, 0.99);
            return;
        }
        if scan.has(q, b"-----") {
            break;
        }
        let line_start = q;
        while q < cap && is_pem_line(scan.at(q)) {
            q += 1;
        }
        let line_break = matches!(scan.at(q), b'\n' | b'\r') || escaped_break(scan, q);
        if q == line_start || !line_break && q < cap && !scan.ends(q) {
            break;
        }
        end = q;
        while end > line_start && scan.at(end - 1) == b' ' {
            end -= 1;
        }
    }
    if end > body_start {
        scan.add(Entity::Secret, start, end, 0.9);
    }
}

/// A line break escaped in a string (`\\n`, `\\r`) at `q`. Reads both bytes,
/// so a stream cut after the backslash keeps the block open.
fn escaped_break(scan: &Scan, q: usize) -> bool {
    scan.at(q) == b'\\' && matches!(scan.at(q + 1), b'n' | b'r')
}

/// Characters of PEM body lines: base64 and `Proc-Type: 4,ENCRYPTED` headers.
fn is_pem_line(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b':' | b',' | b'-' | b' ')
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}

/// An AWS secret access key (40 base64 characters with upper, lower and
/// digits) within `AWS_WINDOW` bytes after `from`. Git SHAs (lowercase hex)
/// and other 40-character ids lack the mix of cases.
fn aws_secret(scan: &mut Scan, from: usize) {
    let limit = (from + AWS_WINDOW).min(scan.len());
    let mut p = from;
    while p < limit {
        if !is_base64(scan.at(p)) {
            p += 1;
            continue;
        }
        let start = p;
        while is_base64(scan.at(p)) {
            p += 1;
        }
        let token = scan.text.get(start..p).unwrap_or_default();
        let isolated = !is_base64(scan.before(start)) && scan.at(p) != b'=';
        let mixed_case = token.iter().any(u8::is_ascii_uppercase)
            && token.iter().any(u8::is_ascii_lowercase)
            && token.iter().any(u8::is_ascii_digit);
        if token.len() == 40 && isolated && mixed_case && !placeholder(token) {
            scan.add(Entity::Secret, start, p, 0.85);
        }
    }
}

/// Values people write instead of a real secret: `sk-...`, `YOUR_API_KEY`,
/// `<token>`, `xxxx`, `${TOKEN}`, `changeme`.
pub(crate) fn placeholder(value: &[u8]) -> bool {
    const MARKERS: [&[u8]; 14] = [
        b"...",
        "\u{2026}".as_bytes(),
        b"xxxx",
        b"****",
        b"your",
        b"example",
        b"placeholder",
        b"redacted",
        b"changeme",
        b"change_me",
        b"insert",
        b"replace",
        b"dummy",
        b"here",
    ];
    let contains = |needle: &[u8]| {
        value
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    let env_name = value
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && value.contains(&b'_')
        && value.iter().filter(|b| b.is_ascii_uppercase()).count() >= 2;
    let one_char = value.first().is_some_and(|f| value.iter().all(|b| b == f));
    matches!(value.first(), Some(b'<' | b'{' | b'[' | b'$' | b'%'))
        || matches!(value.last(), Some(b'>' | b'}'))
        || env_name
        || one_char
        || MARKERS.iter().any(|m| contains(m))
}
