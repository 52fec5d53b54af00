//! The detectors for the formats people write beyond the basic shapes:
//! passwords named in prose and on command lines, passwords in URLs,
//! service tokens by their documented formats, loosely named keys with an
//! entropy test, national phone formats, URL-encoded emails. Each with its
//! near misses, and each found alike when streamed in any cut.

use super::tests::{engine, found};
use super::{Policy, StreamScanner};
use crate::config::Action;

fn assert_finds(text: &str, entity: &str, value: &str) {
    let all = found(text);
    assert!(
        all.iter().any(|(e, v)| e == entity && v == value),
        "{entity} {value:?} not found in {text:?}: {all:?}"
    );
    assert_stream_equals_whole_over_any_cut(text);
}

fn assert_none(text: &str) {
    let all = found(text);
    assert!(all.is_empty(), "{text:?}: {all:?}");
}

/// Streamed in two chunks cut at every byte, the redacted output equals
/// the whole text's.
fn assert_stream_equals_whole_over_any_cut(text: &str) {
    let engine = engine();
    let policy = Policy::new(Action::Redact);
    let bytes = text.as_bytes();
    let whole = policy
        .redact_response(bytes, &engine.scan(bytes))
        .unwrap_or_else(|| bytes.to_vec());
    for cut in 0..=bytes.len() {
        let mut scanner = StreamScanner::new();
        let mut out = scanner.push(&engine, &policy, &bytes[..cut]).text;
        out.extend(scanner.push(&engine, &policy, &bytes[cut..]).text);
        out.extend(scanner.finish(&engine, &policy).text);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole),
            "cut at {cut} of {text:?}"
        );
    }
}

#[test]
fn passwords_in_prose_in_several_languages() {
    assert_finds(
        "My password is Orange$8425 and it fails.",
        "SECRET",
        "Orange$8425",
    );
    assert_finds(
        "The password for the staging VPN is canyon6959, thanks.",
        "SECRET",
        "canyon6959",
    );
    assert_finds(
        "I changed the wifi password to ember.violin.harbor yesterday",
        "SECRET",
        "ember.violin.harbor",
    );
    assert_finds(
        "Use the passphrase \"quartz lantern glacier orbit\" now",
        "SECRET",
        "quartz lantern glacier orbit",
    );
    assert_finds(
        "Das Passwort für den Router lautet Orange$5428?, bitte",
        "SECRET",
        "Orange$5428?",
    );
    assert_finds(
        "Le mot de passe du compte partagé est Winter#8976Q.",
        "SECRET",
        "Winter#8976Q",
    );
    assert_finds(
        "A senha do servidor é Orange#5682, e o usuário",
        "SECRET",
        "Orange#5682",
    );
    assert_finds(
        "Het wachtwoord is Soleil_2827? en",
        "SECRET",
        "Soleil_2827?",
    );
    assert_finds(
        "Hasło do serwera to Sommer$9958x, a login",
        "SECRET",
        "Sommer$9958x",
    );
    assert_finds("パスワードは Falcon$904 です。", "SECRET", "Falcon$904");
    assert_finds(
        "パスワード：cactus_pepper_nimbus1（管理者用）",
        "SECRET",
        "cactus_pepper_nimbus1",
    );
    assert_finds(
        "Minha senha: thunder.copper.walnut.pebble. O acesso",
        "SECRET",
        "thunder.copper.walnut.pebble",
    );
    assert_finds(
        "Our Travis token is Qf8RhzWaA535dYcUUQCiqV and more",
        "SECRET",
        "Qf8RhzWaA535dYcUUQCiqV",
    );
}

#[test]
fn words_about_passwords_are_not_passwords() {
    assert_none("Reminder: the password is required, the password is case-sensitive and passwords are stored as bcrypt hashes.");
    assert_none("The token is valid for 24 hours and the secret is rotated monthly.");
    assert_none("Set the password to <password>. The default password is changeme; change it.");
    assert_none("Das Passwort ist abgelaufen. Le mot de passe est incorrect. La contraseña es demasiado corta.");
    assert_none("パスワードは8文字以上で、パスワードは定期的に変更してください。");
    assert_none("return Client(password=config.password, token=self.token)");
}

#[test]
fn passwords_on_command_lines_and_in_urls() {
    assert_finds(
        "mysql -u root -pSoleil$1040 -h db.internal orders",
        "SECRET",
        "Soleil$1040",
    );
    assert_finds(
        "sshpass -p 'Tiger-4753Q' ssh deploy@host",
        "SECRET",
        "Tiger-4753Q",
    );
    assert_finds(
        "curl -u admin:Tundra-262Q https://jenkins.example.com/",
        "SECRET",
        "Tundra-262Q",
    );
    assert_finds(
        "docker login -u ci --password Winter!4137x",
        "SECRET",
        "Winter!4137x",
    );
    assert_finds(
        "DATABASE_URL=postgres://app:Glacier-695z@db.example.com:5432/orders",
        "SECRET",
        "Glacier-695z",
    );
    assert_finds(
        "mongodb+srv://admin:meadow%210466@cluster0.example.net/test",
        "SECRET",
        "meadow%210466",
    );
    // No email address in a URL's user information.
    let all = found("postgres://app:Glacier-695z@db.example.com:5432/orders");
    assert!(all.iter().all(|(e, _)| e != "EMAIL"), "{all:?}");
    // The prompt for a password (`-p` alone) and URLs without one.
    assert_none("mysql -u report -p reporting");
    assert_none("psql postgres://localhost:5432/app and redis://cache:6379 and postgres://user:password@host/db");
}

#[test]
fn service_tokens_by_format() {
    for token in [
        "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",
        "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",
        "SKcf0213ef9ea3e8b5df0f0ed9c9ebab31",
        "AC6360dad7bb4d13225f1d6b9433f2f1a5",
        "npm_60YO5IQi5NrGoAlfzbt8bmBqqFoAj7mAJXrF",
        "glpat-BsdCplOwAMZGm9RhWGq9",
        "key-7cb17b0c25842dfc1b69f88f2358d057",
        "doo_v1_8ff96c57c2ca7c9f56503248f6c041de31ae7571d70b1b1748d6c53475e11614",
        "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",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "ODNBTkKs4tcRWxLQ6NSaQOU9k.hZGyyk.tadFfT8NwbOZtg83GoKs_fMgvHnHjzT9Ynt",
    ] {
        assert_finds(&format!("leaked: {token} today"), "SECRET", token);
    }
    assert_finds(
        "https://api.telegram.org/bot8984984780:AATisSCRajfBSaYjTgxQ4Magj07y6Q5o7ZK/getUpdates",
        "SECRET",
        "8984984780:AATisSCRajfBSaYjTgxQ4Magj07y6Q5o7ZK",
    );
    assert_none("SKU-1234, ACME Corp, key-value store, hf_model, Nothing.to.see here");
}

#[test]
fn loosely_named_keys_take_only_random_values() {
    assert_finds(
        "SECRET_KEY_BASE=7d3136ac83d0934099c7c12a14acf340\n",
        "SECRET",
        "7d3136ac83d0934099c7c12a14acf340",
    );
    assert_finds(
        "const signingKey = \"HgMlpSRJomo5b996EhgV3BWKSq0PlsxhaJvOwzTF\";",
        "SECRET",
        "HgMlpSRJomo5b996EhgV3BWKSq0PlsxhaJvOwzTF",
    );
    assert_finds(
        "AccountName=x;AccountKey=DEZMBZ2McaNj9H4uHUuEXxgvrnmKrktAG2yh5hz3Ipnj0+bXZNni8Tfks43N6ITzWX2eWNK9MNkXP8vT4RXyEe==;EndpointSuffix=core.windows.net",
        "SECRET",
        "DEZMBZ2McaNj9H4uHUuEXxgvrnmKrktAG2yh5hz3Ipnj0+bXZNni8Tfks43N6ITzWX2eWNK9MNkXP8vT4RXyEe==",
    );
    assert_none("sort_key: created_at\nprimary_key: id\ncache_key: user_profile_settings\nidempotency_key: order-2024-0042\n\"key\": \"customerAccountReference\"");
    assert_none("\"publicKey\": \"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\"");
}

#[test]
fn national_phone_formats() {
    for phone in [
        "030 1234567",
        "0171-2345678",
        "(030) 12345678",
        "020 7946 0958",
        "08-123 456 78",
        "03-1234-5678",
        "010-1234-5678",
        "021-3997 2980",
        "0044 20 7946 0958",
        "(11) 91234-5678",
    ] {
        assert_finds(&format!("ring {phone} today"), "PHONE", phone);
    }
    // Shapes ordinary numbers also take need a word that says phone.
    assert_finds("手机 138 0013 8000", "PHONE", "138 0013 8000");
    assert_finds("Handy: 01711234567", "PHONE", "01711234567");
    assert_none("on 03-06-2024 10:15 the total was 612 345 678 units");
    assert_none("Order 0123-4567-8901 and invoice 01234 56789 shipped, version 0.12.3.");
}

#[test]
fn url_encoded_emails() {
    assert_finds(
        "GET /invite?email=jane.doe%40example.com&ref=x",
        "EMAIL",
        "jane.doe%40example.com",
    );
    assert_finds(
        "?user=sofia%2Bnews%40exemple.fr",
        "EMAIL",
        "sofia%2Bnews%40exemple.fr",
    );
    assert_none("a discount of 40% applies; progress%40 done");
}

/// Found by fuzzing: an unquoted value longer than any value was cut at the
/// length limit, inside a two-byte character.
#[test]
fn an_overlong_unquoted_value_is_none() {
    let mut text = "token=".to_owned();
    text.push_str(&"\u{5b6}".repeat(300));
    assert_none(&text);
    let mut ascii = "token=".to_owned();
    ascii.push_str(&"a1".repeat(300));
    assert_none(&ascii);
}
