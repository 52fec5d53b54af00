//! Deterministic embedding vectors shared by the OpenAI and Gemini shapes:
//! 8 dimensions derived from the SHA-256 of the input, so equal inputs give
//! equal vectors and the payload stays small.

use serde_json::Value;

pub const DIMENSIONS: usize = 8;

/// Values in [-1, 1], rounded to 6 decimals so they print identically
/// everywhere.
pub fn vector(input: &str) -> Vec<f64> {
    let digest = crate::reply::sha256(input.as_bytes());
    digest
        .chunks_exact(4)
        .take(DIMENSIONS)
        .map(|c| {
            let n = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let unit = f64::from(n) / f64::from(u32::MAX) * 2.0 - 1.0;
            (unit * 1e6).round() / 1e6
        })
        .collect()
}

/// The OpenAI `embedding` value: a float array, or base64 of little-endian
/// f32s when the request asked `encoding_format: "base64"` (the OpenAI SDKs'
/// default).
pub fn openai_value(values: &[f64], base64: bool) -> Value {
    if base64 {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| (*v as f32).to_le_bytes())
            .collect();
        Value::String(base64_encode(&bytes))
    } else {
        Value::from(values.to_vec())
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let a = vector("hello");
        assert_eq!(a.len(), DIMENSIONS);
        assert_eq!(a, vector("hello"));
        assert_ne!(a, vector("hello!"));
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn base64_matches_reference() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        let v = openai_value(&[1.0, -2.0], true);
        assert_eq!(v, "AACAPwAAAMA=");
    }
}
