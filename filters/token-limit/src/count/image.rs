//! Image input tokens by OpenAI's published tile rule.
//!
//! `low` detail costs the base alone. `high` (and `auto`, counted as high:
//! the conservative choice) scales the image to fit 2048×2048, then so that
//! its shortest side is at most 768 px, and costs the base plus a per-tile
//! price for each 512-px tile. Base and tile prices are 85 and 170 tokens
//! for gpt-4o, gpt-4.1, gpt-4.5 and the o-series, 2833 and 5667 for
//! gpt-4o-mini. Requests carry a URL or base64 data, not a size, so an
//! unknown size is counted as the largest an image can be after scaling
//! (768×2048: 8 tiles, 1445 tokens for gpt-4o); reconciliation with the
//! reported usage corrects it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Low,
    High,
}

impl Detail {
    pub fn parse(detail: Option<&str>) -> Detail {
        if detail == Some("low") {
            Detail::Low
        } else {
            Detail::High
        }
    }
}

fn prices(model: &str) -> (u64, u64) {
    let name = model.rsplit('/').next().unwrap_or(model);
    if name.starts_with("gpt-4o-mini") {
        (2833, 5667)
    } else {
        (85, 170)
    }
}

/// Tokens of one image; `size` is `(width, height)` when known.
pub fn image_tokens(model: &str, detail: Detail, size: Option<(u64, u64)>) -> u64 {
    let (base, per_tile) = prices(model);
    if detail == Detail::Low {
        return base;
    }
    let (w, h) = size.unwrap_or((768, 2048));
    let (mut w, mut h) = (w.max(1) as f64, h.max(1) as f64);
    let fit = (2048.0 / w.max(h)).min(1.0);
    w *= fit;
    h *= fit;
    let short = (768.0 / w.min(h)).min(1.0);
    w *= short;
    h *= short;
    let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
    base + per_tile * tiles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_published_examples() {
        // OpenAI's examples: 1024×1024 high → 765; 2048×4096 high → 1105; low → 85.
        assert_eq!(
            image_tokens("gpt-4o", Detail::High, Some((1024, 1024))),
            765
        );
        assert_eq!(
            image_tokens("gpt-4o", Detail::High, Some((2048, 4096))),
            1105
        );
        assert_eq!(image_tokens("gpt-4o", Detail::Low, Some((4096, 8192))), 85);
        assert_eq!(image_tokens("gpt-4o", Detail::High, None), 1445);
        assert_eq!(image_tokens("gpt-4o-mini", Detail::Low, None), 2833);
        assert_eq!(image_tokens("gpt-4o", Detail::High, Some((0, 0))), 255);
    }
}
