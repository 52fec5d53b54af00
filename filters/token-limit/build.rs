//! Writes OpenAI's vocabularies for `count::vocabulary` in its compact form:
//! for each encoding, every token's bytes concatenated in rank order
//! (`NAME.bytes`) and one byte per token giving its length (`NAME.lengths`).
//! They come from tiktoken-rs, whose vocabularies are the published
//! tiktoken files, so the counts follow whatever tiktoken-rs version the
//! lock file pins; the filter itself does not link tiktoken-rs.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?;
    write(Path::new(&out), "o200k_base", &tiktoken_rs::o200k_base()?)?;
    write(Path::new(&out), "cl100k_base", &tiktoken_rs::cl100k_base()?)?;
    println!("cargo::rerun-if-changed=build.rs");
    Ok(())
}

/// Ordinary tokens have the ranks 0..n with no gap (special tokens come
/// after a gap and are not wanted: they are counted as text); the first rank
/// that decodes to nothing ends them.
fn write(
    out: &Path,
    name: &str,
    bpe: &tiktoken_rs::CoreBPE,
) -> Result<(), Box<dyn std::error::Error>> {
    let (mut bytes, mut lengths) = (Vec::new(), Vec::new());
    for rank in 0u32.. {
        let Ok(token) = bpe.decode_bytes(&[rank]) else {
            break;
        };
        lengths.push(u8::try_from(token.len())?);
        bytes.extend_from_slice(&token);
    }
    std::fs::write(out.join(format!("{name}.bytes")), bytes)?;
    std::fs::write(out.join(format!("{name}.lengths")), lengths)?;
    Ok(())
}
