//! SECRET values of `key=value`, `key: value` and JSON `"key": "value"`
//! pairs whose key names a credential (`password`, `client_secret`,
//! `apiKey`, `AWS_SECRET_ACCESS_KEY`, `Authorization`, `Passwort`,
//! `mot de passe`, `contraseña`, `senha`, `パスワード`, ...). The value is the
//! finding, not the key. Values that are placeholders, types, code
//! expressions or prose words are not. Keys that only loosely name a secret
//! (`signing_key`, `credentials`, `AccountKey`) take a value only if it
//! looks machine-generated ([`random_enough`]), so `sort_key: created_at`
//! is no finding.

use super::entropy::random_enough;
use super::scan::Scan;
use super::secret::placeholder;
use crate::config::Entity;

/// Normalised key suffixes (lowercase, without `_ - .` and spaces) that
/// name a password: their values may be digits or contain spaces.
const PASSWORD_KEYS: &[&str] = &[
    "password",
    "passwort",
    "passwd",
    "passphrase",
    "pwd",
    "motdepasse",
    "mdp",
    "contraseña",
    "clave",
    "kennwort",
    "passcode",
    "senha",
    "wachtwoord",
    "hasło",
    "lösenord",
    "パスワード",
];
/// Short password keys that end other words (`bypass`, `compass`): they
/// count alone or after a separator (`DB_PASS`, `smtp.pass`).
const SHORT_PASSWORD_KEYS: &[&str] = &["pass", "pw"];
/// Other credential key suffixes.
const CREDENTIAL_KEYS: &[&str] = &[
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "authorization",
];
/// Key suffixes that name a secret only loosely: their values must look
/// machine-generated.
const LOOSE_KEYS: &[&str] = &[
    "key",
    "keybase",
    "credential",
    "credentials",
    "auth",
    "salt",
];
/// Keys ending like a credential that name something else.
const NOT_CREDENTIALS: &[&str] = &[
    "publickey",
    "pubkey",
    "primarykey",
    "foreignkey",
    "sortkey",
    "partitionkey",
    "cachekey",
    "idempotencykey",
    "hashkey",
    "rangekey",
    "lookupkey",
    "maxtoken",
    "nexttoken",
    "pagetoken",
    "continuationtoken",
    "synctoken",
    "cursortoken",
    "resumetoken",
];
/// Values that describe a field rather than fill it.
const NON_VALUES: &[&str] = &[
    "null",
    "none",
    "nil",
    "true",
    "false",
    "undefined",
    "string",
    "str",
    "bool",
    "boolean",
    "int",
    "number",
    "password",
    "secret",
    "token",
    "required",
    "optional",
    "hidden",
    "masked",
    "empty",
    "unknown",
    "bearer",
];
const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 512;

fn is_key(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || b >= 0x80
}

/// Handles a `:` or `=` at `sep`: if the key before it names a credential,
/// the value after it may be one. Returns where the scan may go on.
pub(crate) fn at(scan: &mut Scan, sep: usize) -> usize {
    let next = sep + 1;
    let mut p = match (scan.before(sep), scan.at(sep), scan.at(sep + 1)) {
        (b'=' | b'!' | b'<' | b'>' | b':', _, _) | (_, b'=', b'=') | (_, b':', b':') => {
            return next
        }
        (_, b'=', b'>') | (_, b':', b'=') => sep + 2,
        _ => sep + 1,
    };
    let Some(class) = key_before(scan, sep) else {
        return next;
    };
    if p >= scan.len() {
        scan.open(p);
        return next;
    }
    p = skip_blanks(scan, p);
    if class == KeyClass::Authorization {
        p = skip_scheme(scan, p);
    }
    if p >= scan.len() {
        scan.open(p.min(scan.len()));
        return next;
    }
    let value_start = p;
    let quote = scan.at(p);
    let (start, end, quoted) = if matches!(quote, b'"' | b'\'' | b'`') {
        let start = p + 1;
        let mut q = start;
        loop {
            let b = scan.at(q);
            if q >= scan.len() {
                scan.open(value_start);
                return next;
            }
            if b == b'\n' || q - start > MAX_VALUE {
                return next;
            }
            if b == quote && scan.before(q) != b'\\' {
                break;
            }
            q += 1;
        }
        (start, q, true)
    } else {
        let mut q = p;
        while q - p <= MAX_VALUE && !ends_unquoted(scan.at(q)) {
            if scan.at(q) == b'=' {
                // Base64 padding ends a value; any other `=` starts the
                // next pair (`password=a=b` is read as `a`).
                let mut e = q;
                while scan.at(e) == b'=' {
                    e += 1;
                }
                if ends_unquoted(scan.at(e)) {
                    q = e;
                }
                break;
            }
            q += 1;
        }
        if q >= scan.len() {
            scan.open(value_start);
        }
        if q - p > MAX_VALUE {
            // Longer than any value, as a quoted one would be; cut there,
            // it could split a character.
            return next;
        }
        // A sentence may end right after the value: "password: hunter2."
        while q > p && scan.at(q - 1) == b'.' {
            q -= 1;
        }
        (p, q, false)
    };
    let value = scan.text.get(start..end).unwrap_or_default();
    if value_plausible(value, quoted, class) {
        scan.add(Entity::Secret, start, end, if quoted { 0.8 } else { 0.75 });
    }
    // Go on inside the value: it may hold a prefixed key or an address.
    next
}

/// The class of the key just before the separator at `sep`: an identifier
/// (`DB_PASSWORD`, `"apiKey"`, `x-api-key`) or up to three words
/// (`Secret access key`, `mot de passe`), optionally quoted, optionally
/// followed by blanks.
fn key_before(scan: &Scan, sep: usize) -> Option<KeyClass> {
    let mut ke = sep;
    while ke > 0 && sep - ke < 4 && matches!(scan.at(ke - 1), b' ' | b'\t') {
        ke -= 1;
    }
    let quote = scan.before(ke);
    if matches!(quote, b'"' | b'\'') {
        ke -= 1;
    }
    // Every credential key ends in one of these bytes (`passworD`,
    // `secreT`, `tokeN`, `apikeY`, `clavE`, `mdP`, `contraseñA`, `autH`,
    // the last byte of `パスワード`), or in `pasS`, `credentialS`, `hasłO`,
    // `pW`: most other keys leave here.
    let tail = |n: usize| {
        ke.checked_sub(n)
            .map_or(0, |k| scan.at(k).to_ascii_lowercase())
    };
    let credential_end = match tail(1) {
        b'd' | b't' | b'e' | b'p' | b'n' | b'y' | b'a' | b'h' | 0x89 => true,
        b's' => (tail(2), tail(3)) == (b's', b'a') || (tail(2), tail(3)) == (b'l', b'a'),
        b'o' => tail(2) == 0x82,
        b'w' => tail(2) == b'p',
        _ => false,
    };
    if !credential_end {
        return None;
    }
    let mut ks = ke;
    let mut words = 1;
    while ks > 0 && ke - ks < MAX_KEY {
        let b = scan.at(ks - 1);
        if is_key(b) {
            ks -= 1;
        } else if b == b' '
            && words < 3
            && ks >= 2
            && is_key(scan.at(ks - 2))
            && !matches!(quote, b'"' | b'\'')
        {
            ks -= 1;
            words += 1;
        } else {
            break;
        }
    }
    if matches!(quote, b'"' | b'\'') && scan.before(ks) != quote {
        return None;
    }
    classify_key(scan.text.get(ks..ke)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    Password,
    Credential,
    /// A key that names a secret only loosely (`signing_key`).
    Loose,
    Authorization,
}

pub(crate) fn classify_key(key: &[u8]) -> Option<KeyClass> {
    let mut norm = [0u8; MAX_KEY];
    let mut len = 0;
    for &b in key {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        *norm.get_mut(len)? = b.to_ascii_lowercase();
        len += 1;
    }
    let norm = norm.get(..len)?;
    if !credential_suffix(norm) {
        return None;
    }
    // The last byte first: most list words fail there, without a compare
    // of the whole suffix.
    let ends = |list: &[&str]| {
        list.iter().any(|s| {
            let s = s.as_bytes();
            norm.last() == s.last() && norm.ends_with(s)
        })
    };
    if ends(NOT_CREDENTIALS) {
        None
    } else if norm.ends_with(b"authorization") {
        Some(KeyClass::Authorization)
    } else if ends(PASSWORD_KEYS) {
        Some(KeyClass::Password)
    } else if ends(CREDENTIAL_KEYS) {
        Some(KeyClass::Credential)
    } else if short_password_key(key) {
        Some(KeyClass::Password)
    } else if ends(LOOSE_KEYS) {
        Some(KeyClass::Loose)
    } else {
        None
    }
}

/// Whether the normalised key ends in the last two bytes of a word of
/// the lists above: most keys leave here without a list being searched.
fn credential_suffix(norm: &[u8]) -> bool {
    let [.., x, y] = norm else {
        return false;
    };
    matches!(
        (x, y),
        (b'r', b'd' | b't')
            | (b'w', b'd')
            | (b's', b'e' | b's')
            | (b'd', b'e' | b'p')
            | (0xB1, b'a')
            | (b'v', b'e')
            | (b'h', b'a')
            | (0x82, b'o')
            | (0x83, 0x89)
            | (b'p', b'w')
            | (b'e', b't' | b'n' | b'y')
            | (b'o', b'n')
            | (b'a', b'l')
            | (b'l', b's' | b't')
            | (b't', b'h')
    )
}

/// `pass`, `DB_PASS`, `smtp.pass`, `pw`; not `bypass` or `compass`.
fn short_password_key(key: &[u8]) -> bool {
    SHORT_PASSWORD_KEYS.iter().any(|short| {
        let n = short.len();
        key.len() >= n
            && key
                .get(key.len() - n..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(short.as_bytes()))
            && (key.len() == n
                || matches!(key.get(key.len() - n - 1), Some(b'_' | b'-' | b'.' | b' ')))
    })
}

fn skip_blanks(scan: &Scan, mut p: usize) -> usize {
    let from = p;
    while p - from < 4 && matches!(scan.at(p), b' ' | b'\t') {
        p += 1;
    }
    p
}

/// Skips `Bearer `, `Basic `, `Token ` after an Authorization key.
fn skip_scheme(scan: &Scan, p: usize) -> usize {
    for scheme in [b"bearer ".as_slice(), b"basic ", b"token "] {
        if scan
            .text
            .get(p..p + scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            return skip_blanks(scan, p + scheme.len());
        }
    }
    p
}

fn ends_unquoted(b: u8) -> bool {
    b <= b' '
        || matches!(
            b,
            b',' | b';' | b'&' | b')' | b'}' | b']' | b'"' | b'\'' | b'`'
        )
}

pub(crate) fn value_plausible(value: &[u8], quoted: bool, class: KeyClass) -> bool {
    if value.len() < 4 || placeholder(value) {
        return false;
    }
    if class == KeyClass::Loose {
        return random_enough(value);
    }
    if NON_VALUES
        .iter()
        .any(|w| value.eq_ignore_ascii_case(w.as_bytes()))
    {
        return false;
    }
    let digits_only = value.iter().all(u8::is_ascii_digit);
    if digits_only && class != KeyClass::Password {
        return false;
    }
    let has_space = value.contains(&b' ');
    if has_space && class != KeyClass::Password {
        return false;
    }
    if quoted {
        return true;
    }
    // Unquoted: code (`getpass()`, `os.environ[...]`, `config.password`) and
    // prose words ("the token: we ...") are not values.
    let code = value.contains(&b'(') || value.contains(&b'[') || reference(value);
    let symbol_or_digit = value.iter().any(|b| !b.is_ascii_alphabetic());
    let mixed_case =
        value.iter().any(u8::is_ascii_uppercase) && value.iter().any(u8::is_ascii_lowercase);
    !code && (symbol_or_digit || (mixed_case && value.len() >= 8))
}

/// Objects whose fields code reads a credential from (`config.password`,
/// `self.token`, `process.env.API_KEY`).
const CODE_OBJECTS: &[&str] = &[
    "self", "this", "config", "cfg", "conf", "settings", "env", "os", "process", "request", "req",
    "args", "opts", "options", "params", "ctx", "app", "user", "secrets", "vars",
];

/// A dotted reference in code (`config.password`, `process.env.API_KEY`)
/// rather than a value (`thunder.copper.walnut.pebble`, a passphrase of
/// dotted words): its first part names an object code reads from, or its
/// last part names a credential.
fn reference(value: &[u8]) -> bool {
    let dotted = value.first().is_some_and(u8::is_ascii_alphabetic)
        && value.contains(&b'.')
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'));
    if !dotted {
        return false;
    }
    let first = value.split(|&b| b == b'.').next().unwrap_or_default();
    let last = value.rsplit(|&b| b == b'.').next().unwrap_or_default();
    CODE_OBJECTS
        .iter()
        .any(|o| first.eq_ignore_ascii_case(o.as_bytes()))
        || classify_key(last).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-byte filter in front of the lists lets every listed word
    /// through.
    #[test]
    fn every_listed_key_passes_the_suffix_filter() {
        let lists = [
            PASSWORD_KEYS,
            SHORT_PASSWORD_KEYS,
            CREDENTIAL_KEYS,
            LOOSE_KEYS,
        ];
        for word in lists
            .iter()
            .flat_map(|l| l.iter())
            .chain(&["authorization"])
        {
            assert!(credential_suffix(word.as_bytes()), "{word}");
            assert!(classify_key(word.as_bytes()).is_some(), "{word}");
        }
        assert_eq!(classify_key(b"temperature"), None);
        assert_eq!(classify_key(b"sort_key"), None);
        assert_eq!(classify_key(b"bypass"), None);
        assert_eq!(classify_key(b"DB_PASS"), Some(KeyClass::Password));
    }
}
