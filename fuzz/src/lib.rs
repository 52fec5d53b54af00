//! What the fuzz targets share: reading their choices from the first bytes of
//! an input, and cutting a payload into chunks.
//!
//! Every target takes a few header bytes (documented in each target and in
//! README.md) followed by the payload, so that a seed is a header plus a real
//! file (a golden request, a recorded stream) and libFuzzer mutates choices
//! and payload alike.

/// Splits `input` into `N` header bytes (missing ones are 0) and the rest.
pub fn header<const N: usize>(input: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    for (slot, byte) in head.iter_mut().zip(input) {
        *slot = *byte;
    }
    (head, input.get(N..).unwrap_or_default())
}

/// Cuts `payload` into consecutive chunks whose lengths cycle through
/// `lengths` (a byte `b` is a chunk of `b` bytes, so 0 is an empty chunk, as
/// a proxy may deliver). All-zero lengths give one chunk. The chunks always
/// cover the payload exactly, in order.
pub fn chunks<'a>(payload: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    if lengths.iter().all(|&b| b == 0) {
        return vec![payload];
    }
    let mut out = Vec::new();
    let mut rest = payload;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// Cut points inside `len` bytes, one per header byte scaled to the length:
/// sorted, distinct, within `1..len`. Cuts may fall inside UTF-8 characters.
pub fn cut_points(len: usize, seeds: &[u8]) -> Vec<usize> {
    let mut points: Vec<usize> = seeds
        .iter()
        .filter(|&&s| s != 0)
        .map(|&s| usize::from(s) * len / 256)
        .filter(|&p| p > 0 && p < len)
        .collect();
    points.sort_unstable();
    points.dedup();
    points
}

/// Splits `payload` at `points` (from [`cut_points`]).
pub fn split_at_points<'a>(payload: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for &p in points {
        out.push(&payload[start..p]);
        start = p;
    }
    out.push(&payload[start..]);
    out
}

/// JSON equality with floats compared to within a few ULPs: serde_json
/// without its `float_roundtrip` feature (the workspace's choice) may parse
/// a float it wrote one ULP off, which is not what these targets look for.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && json_eq(vx, vy))
        }
        _ => a == b,
    }
}

/// Every (client API, provider) pair that has a translator, including the
/// pass-through ones and the chained Anthropic → Gemini.
pub fn pairs() -> Vec<(llm_api::ApiKind, llm_api::ProviderKind)> {
    use llm_api::{ApiKind as A, ProviderKind as P};
    let gemini = |stream| A::GeminiGenerate {
        model: "gemini-2.5-flash".into(),
        stream,
    };
    vec![
        (A::ChatCompletions, P::Anthropic),
        (A::ChatCompletions, P::Gemini),
        (A::AnthropicMessages, P::Openai),
        (A::AnthropicMessages, P::Azure),
        (A::AnthropicMessages, P::Gemini),
        (A::Embeddings, P::Gemini),
        (
            A::AzureChatCompletions {
                deployment: "dep".into(),
            },
            P::Anthropic,
        ),
        (A::ChatCompletions, P::Openai),
        (A::ChatCompletions, P::Azure),
        (A::Embeddings, P::Openai),
        (A::Embeddings, P::Azure),
        (A::Responses, P::Openai),
        (A::Responses, P::Azure),
        (A::AnthropicMessages, P::Anthropic),
        (gemini(false), P::Gemini),
        (gemini(true), P::Gemini),
        (
            A::GeminiEmbed {
                model: "text-embedding-004".into(),
                batch: true,
            },
            P::Gemini,
        ),
        (
            A::GeminiEmbed {
                model: "text-embedding-004".into(),
                batch: false,
            },
            P::Gemini,
        ),
    ]
}

/// The pair chosen by a header byte.
pub fn pair(choice: u8) -> (llm_api::ApiKind, llm_api::ProviderKind) {
    let all = pairs();
    all[usize::from(choice) % all.len()].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_payload() {
        let payload = b"abcdefghij";
        for lengths in [&[0u8][..], &[1], &[3, 0, 2], &[255]] {
            let cut = chunks(payload, lengths);
            assert_eq!(cut.concat(), payload.to_vec());
        }
        assert_eq!(chunks(b"", &[1]).len(), 0);
    }

    #[test]
    fn points_split_the_payload() {
        let payload = b"abcdefghij";
        let points = cut_points(payload.len(), &[128, 0, 255, 128, 1]);
        assert_eq!(points, vec![5, 9]);
        assert_eq!(split_at_points(payload, &points).concat(), payload.to_vec());
    }
}
