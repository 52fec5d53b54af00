//! Replacing spans of a text, copying it only once something is replaced:
//! how findings become labels or placeholders, and placeholders become
//! values again.

use std::borrow::Cow;
use std::ops::Range;

/// Replaces each span of `text` for which `replace` (given the span's item
/// and bytes) returns a replacement. Spans come in order; one outside
/// `text`, or starting inside a span already replaced, is passed over.
/// `None` if nothing was replaced.
pub(crate) fn splice<T, R: AsRef<[u8]>>(
    text: &[u8],
    spans: impl IntoIterator<Item = (Range<usize>, T)>,
    mut replace: impl FnMut(T, &[u8]) -> Option<R>,
) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for (span, item) in spans {
        let Some(value) = text.get(span.clone()) else {
            continue;
        };
        if span.start < copied {
            continue;
        }
        if let Some(replacement) = replace(item, value) {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
            buf.extend_from_slice(text.get(copied..span.start).unwrap_or_default());
            buf.extend_from_slice(replacement.as_ref());
            copied = span.end;
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(text.get(copied..).unwrap_or_default());
    Some(buf)
}

/// `text` after a [`splice`] of it: borrowed when nothing was replaced.
pub(crate) fn spliced_text(text: &str, spliced: Option<Vec<u8>>) -> Cow<'_, str> {
    match spliced {
        None => Cow::Borrowed(text),
        Some(bytes) => Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}
