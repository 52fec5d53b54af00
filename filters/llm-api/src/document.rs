//! Documents sent inline as base64: Anthropic `document` blocks with a
//! base64 source, Gemini `inlineData` parts, OpenAI chat `file` parts and
//! Responses `input_file` items (`file_data`, a `data:` URL or bare base64).
//!
//! A document whose media type is text (see `class`) is decoded so the text
//! walker can offer it like any other field, and a rewrite is encoded back the
//! same way (same alphabet, same `data:` URL header), so the provider receives
//! the rewritten document. Images, audio and video are media, not text. Any
//! other type is a binary document: it cannot be read as text, and the
//! walker reports it (with text declared in an encoding that does not decode)
//! as [`Unreadable`], for a stage to refuse.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// What a media type holds, as far as scanning goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Text: decoded and scanned.
    Text,
    /// Images, audio, video: not text, passed over like image parts.
    Media,
    /// Anything else declared (PDF, office files, archives): not text.
    Binary,
    /// No media type: decoded, and scanned if it is UTF-8 text.
    Undeclared,
}

/// `application/` subtypes that are text. With `text/*` and the `+json`,
/// `+xml` and `+yaml` suffixes, these are the types scanned as text.
const TEXT_APPLICATIONS: &[&str] = &[
    "json",
    "ld+json",
    "x-ndjson",
    "ndjson",
    "jsonl",
    "xml",
    "yaml",
    "x-yaml",
    "toml",
    "csv",
    "x-csv",
    "sql",
    "graphql",
    "javascript",
    "x-javascript",
    "ecmascript",
    "typescript",
    "x-typescript",
    "x-sh",
    "x-python",
    "x-httpd-php",
];

/// The class of a declared media type (parameters such as `charset` and
/// letter case are ignored); `None` or an empty type is undeclared.
pub(crate) fn class(media_type: Option<&str>) -> Class {
    let essence = media_type
        .and_then(|m| m.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.is_empty() {
        return Class::Undeclared;
    }
    let Some((top, sub)) = essence.split_once('/') else {
        return Class::Binary;
    };
    let is = |name: &str| top.eq_ignore_ascii_case(name);
    let ends = |suffix: &str| {
        sub.len() > suffix.len()
            && sub
                .get(sub.len() - suffix.len()..)
                .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
    };
    if is("text") {
        Class::Text
    } else if is("image") || is("audio") || is("video") {
        Class::Media
    } else if is("application")
        && (TEXT_APPLICATIONS
            .iter()
            .any(|t| sub.eq_ignore_ascii_case(t))
            || ends("+json")
            || ends("+xml")
            || ends("+yaml"))
    {
        Class::Text
    } else {
        Class::Binary
    }
}

/// How a document's bytes sit in its JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// The string is base64.
    Base64,
    /// The string is a `data:<type>;base64,<data>` URL.
    DataUrl,
}

/// A `data:` URL split into its header (up to and including the comma),
/// its media type and its base64 payload; `None` unless it is a base64
/// `data:` URL.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str, &str)> {
    let scheme = url.get(..5)?;
    if !scheme.eq_ignore_ascii_case("data:") {
        return None;
    }
    let comma = url.find(',')?;
    let header = url.get(5..comma)?;
    let (media_type, encoding) = header.rsplit_once(';')?;
    if !encoding.trim().eq_ignore_ascii_case("base64") {
        return None;
    }
    Some((url.get(..=comma)?, media_type, url.get(comma + 1..)?))
}

/// Why a document cannot be read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadability {
    /// A binary document (PDF, office file, undeclared bytes that are not
    /// UTF-8 text).
    Binary,
    /// Declared as text, but not base64 (or not a base64 `data:` URL) of
    /// UTF-8 text.
    Invalid,
}

/// A document part the text walker cannot offer as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable {
    pub role: crate::text::Role,
    /// The part's name in its API (`document`, `inlineData`, `file`,
    /// `input_file`).
    pub part: &'static str,
    pub reason: Unreadability,
}

/// Decoding accepts padded and unpadded base64; encoding pads.
const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
/// Gemini's JSON accepts the URL-safe alphabet too (protobuf's rule).
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

/// The alphabet a payload is written in.
fn engine(payload: &str) -> &'static GeneralPurpose {
    if payload.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    }
}

/// The base64 payload of `data` as carried.
fn payload(carrier: Carrier, data: &str) -> Option<&str> {
    match carrier {
        Carrier::Base64 => Some(data),
        Carrier::DataUrl => data_url(data).map(|(_, _, payload)| payload),
    }
}

/// The text of a document. `declared` says whether its media type says
/// text: bytes that are not UTF-8 are then invalid, where an undeclared
/// document is binary. The decoded size is bounded by the body's.
pub(crate) fn decode(
    carrier: Carrier,
    data: &str,
    declared: bool,
) -> Result<String, Unreadability> {
    let payload = payload(carrier, data).ok_or(Unreadability::Invalid)?;
    let bytes = engine(payload)
        .decode(payload.trim_end())
        .map_err(|_| Unreadability::Invalid)?;
    String::from_utf8(bytes).map_err(|_| match declared {
        true => Unreadability::Invalid,
        false => Unreadability::Binary,
    })
}

/// `text` carried like `original` (which `decode` read): the same
/// `data:` header and base64 alphabet.
pub(crate) fn encode(carrier: Carrier, original: &str, text: &str) -> String {
    let (header, payload) = match carrier {
        Carrier::DataUrl => data_url(original)
            .map(|(header, _, payload)| (header, payload))
            .unwrap_or(("", original)),
        Carrier::Base64 => ("", original),
    };
    let mut out = String::with_capacity(header.len() + text.len() * 4 / 3 + 4);
    out.push_str(header);
    engine(payload).encode_string(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types_are_text_and_the_rest_is_not() {
        for text in [
            "text/plain",
            "TEXT/Markdown; charset=utf-8",
            "text/csv",
            "application/json",
            "application/vnd.api+json",
            "application/xml",
            "application/atom+xml",
            "application/x-yaml",
            "application/javascript",
        ] {
            assert_eq!(class(Some(text)), Class::Text, "{text}");
        }
        for media in ["image/png", "audio/wav", "video/mp4"] {
            assert_eq!(class(Some(media)), Class::Media, "{media}");
        }
        for binary in [
            "application/pdf",
            "application/octet-stream",
            "application/zip",
            "application/+json",
            "font/woff",
            "nonsense",
        ] {
            assert_eq!(class(Some(binary)), Class::Binary, "{binary}");
        }
        assert_eq!(class(None), Class::Undeclared);
        assert_eq!(class(Some(" ")), Class::Undeclared);
    }

    #[test]
    fn data_urls_split_only_when_base64() {
        assert_eq!(
            data_url("data:text/plain;charset=utf-8;base64,aGk="),
            Some((
                "data:text/plain;charset=utf-8;base64,",
                "text/plain;charset=utf-8",
                "aGk="
            ))
        );
        assert_eq!(
            data_url("DATA:;base64,aGk="),
            Some(("DATA:;base64,", "", "aGk="))
        );
        assert_eq!(data_url("data:text/plain,hi"), None);
        assert_eq!(data_url("aGk="), None);
        assert_eq!(data_url("data:"), None);
    }

    #[test]
    fn decode_and_encode_round_trip_in_the_same_carrier() {
        let url = "data:text/plain;base64,bWFpbCBib2JAeC5pbw==";
        let text = decode(Carrier::DataUrl, url, true).unwrap();
        assert_eq!(text, "mail bob@x.io");
        let new = encode(Carrier::DataUrl, url, "mail [EMAIL]");
        assert!(new.starts_with("data:text/plain;base64,"), "{new}");
        assert_eq!(
            decode(Carrier::DataUrl, &new, true).unwrap(),
            "mail [EMAIL]"
        );

        let raw = "bWFpbCBib2JAeC5pbw"; // unpadded
        assert_eq!(decode(Carrier::Base64, raw, true).unwrap(), "mail bob@x.io");
        // URL-safe stays URL-safe: "??>" encodes to "Pz8-".
        let url_safe = "Pz8-";
        assert_eq!(decode(Carrier::Base64, url_safe, true).unwrap(), "??>");
        assert_eq!(encode(Carrier::Base64, url_safe, "??>?"), "Pz8-Pw==");
    }

    #[test]
    fn invalid_base64_and_non_utf8_bytes_are_unreadable() {
        assert_eq!(
            decode(Carrier::Base64, "not base64!", true),
            Err(Unreadability::Invalid)
        );
        assert_eq!(
            decode(Carrier::DataUrl, "data:text/plain,plain", true),
            Err(Unreadability::Invalid)
        );
        // 0xff 0xfe: base64 of bytes that are not UTF-8.
        assert_eq!(
            decode(Carrier::Base64, "//4=", true),
            Err(Unreadability::Invalid)
        );
        assert_eq!(
            decode(Carrier::Base64, "//4=", false),
            Err(Unreadability::Binary)
        );
        assert_eq!(decode(Carrier::Base64, "aGk=", false).as_deref(), Ok("hi"));
    }
}
