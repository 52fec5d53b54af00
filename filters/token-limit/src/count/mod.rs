//! Counting input tokens: exact (OpenAI vocabularies), estimated
//! (calibrated, any provider), or auto (the estimate, exact only near a
//! limit).

pub mod auto;
pub(crate) mod encoding;
pub mod estimate;
pub mod exact;
pub mod image;
pub mod request;
mod vocabulary;

pub use auto::{admission_count, AdmissionCount, Method};
pub use encoding::{Encoding, EncodingMap, EncodingRule};
pub use estimate::{estimate, Family, Features};
pub use request::{request_tokens, Format};
