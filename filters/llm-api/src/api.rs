//! Which LLM API a request speaks, decided from its method and path alone, so
//! that it is known before the body arrives.

/// The API a request speaks. Paths follow the providers' public APIs; query
/// strings are ignored when classifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKind {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/embeddings`
    Embeddings,
    /// `POST /v1/responses`
    Responses,
    /// `GET /v1/models`
    Models,
    /// `GET /v1/gateway/usage`: the calling client's limits and what it has
    /// used of them, answered by the gateway itself.
    GatewayUsage,
    /// `POST /v1/messages`
    AnthropicMessages,
    /// `POST /v1beta/models/{model}:generateContent` or `:streamGenerateContent`
    GeminiGenerate { model: String, stream: bool },
    /// `POST /v1beta/models/{model}:embedContent`, or `:batchEmbedContents`
    /// (`batch`): the provider is called on the same method.
    GeminiEmbed { model: String, batch: bool },
    /// `POST /openai/deployments/{deployment}/chat/completions`
    AzureChatCompletions { deployment: String },
    /// `POST /openai/deployments/{deployment}/embeddings`
    AzureEmbeddings { deployment: String },
    /// Anything else: passed through untouched by every filter.
    Other,
}

/// The wire format a caller expects, which decides how errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

impl ApiKind {
    /// Classifies a request by method and path (with or without a query).
    pub fn classify(method: &str, path: &str) -> ApiKind {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.strip_suffix('/').unwrap_or(path);
        match method {
            "GET" if path == "/v1/models" => ApiKind::Models,
            "GET" if path == "/v1/gateway/usage" => ApiKind::GatewayUsage,
            "POST" => Self::classify_post(path),
            _ => ApiKind::Other,
        }
    }

    fn classify_post(path: &str) -> ApiKind {
        match path {
            "/v1/chat/completions" => return ApiKind::ChatCompletions,
            "/v1/embeddings" => return ApiKind::Embeddings,
            "/v1/responses" => return ApiKind::Responses,
            "/v1/messages" => return ApiKind::AnthropicMessages,
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("/v1beta/models/") {
            return Self::classify_gemini(rest);
        }
        if let Some(rest) = path.strip_prefix("/openai/deployments/") {
            if let Some((deployment, operation)) = rest.split_once('/') {
                let deployment = deployment.to_owned();
                match operation {
                    "chat/completions" if !deployment.is_empty() => {
                        return ApiKind::AzureChatCompletions { deployment }
                    }
                    "embeddings" if !deployment.is_empty() => {
                        return ApiKind::AzureEmbeddings { deployment }
                    }
                    _ => {}
                }
            }
        }
        ApiKind::Other
    }

    fn classify_gemini(model_and_method: &str) -> ApiKind {
        let Some((model, method)) = model_and_method.rsplit_once(':') else {
            return ApiKind::Other;
        };
        if model.is_empty() || model.contains('/') {
            return ApiKind::Other;
        }
        let model = model.to_owned();
        match method {
            "generateContent" => ApiKind::GeminiGenerate {
                model,
                stream: false,
            },
            "streamGenerateContent" => ApiKind::GeminiGenerate {
                model,
                stream: true,
            },
            "embedContent" => ApiKind::GeminiEmbed {
                model,
                batch: false,
            },
            "batchEmbedContents" => ApiKind::GeminiEmbed { model, batch: true },
            _ => ApiKind::Other,
        }
    }

    /// The format errors for this request must be written in.
    pub fn dialect(&self) -> Dialect {
        match self {
            ApiKind::AnthropicMessages => Dialect::Anthropic,
            ApiKind::GeminiGenerate { .. } | ApiKind::GeminiEmbed { .. } => Dialect::Gemini,
            _ => Dialect::OpenAi,
        }
    }

    /// Whether the request carries an LLM JSON body worth parsing.
    pub fn has_json_body(&self) -> bool {
        !matches!(
            self,
            ApiKind::Models | ApiKind::GatewayUsage | ApiKind::Other
        )
    }

    /// A short stable name for records and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ApiKind::ChatCompletions => "chat_completions",
            ApiKind::Embeddings => "embeddings",
            ApiKind::Responses => "responses",
            ApiKind::Models => "models",
            ApiKind::GatewayUsage => "gateway_usage",
            ApiKind::AnthropicMessages => "anthropic_messages",
            ApiKind::GeminiGenerate { .. } => "gemini_generate_content",
            ApiKind::GeminiEmbed { .. } => "gemini_embed_content",
            ApiKind::AzureChatCompletions { .. } => "azure_chat_completions",
            ApiKind::AzureEmbeddings { .. } => "azure_embeddings",
            ApiKind::Other => "other",
        }
    }

    /// The model named by the path itself (Gemini model, Azure deployment).
    pub fn path_model(&self) -> Option<&str> {
        match self {
            ApiKind::GeminiGenerate { model, .. } | ApiKind::GeminiEmbed { model, .. } => {
                Some(model)
            }
            ApiKind::AzureChatCompletions { deployment }
            | ApiKind::AzureEmbeddings { deployment } => Some(deployment),
            _ => None,
        }
    }
}

/// Percent-encodes `segment` for use as one path segment or query value
/// (model and deployment names come from clients and config, and must not be
/// able to add path segments or query parameters).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts what each `(method, path)` is classified as.
    fn assert_classified(cases: &[(&str, &str, ApiKind)]) {
        for (method, path, kind) in cases {
            assert_eq!(&ApiKind::classify(method, path), kind, "{method} {path}");
        }
    }

    #[test]
    fn classifies_openai_and_anthropic_paths() {
        assert_classified(&[
            ("POST", "/v1/chat/completions", ApiKind::ChatCompletions),
            ("POST", "/v1/chat/completions/", ApiKind::ChatCompletions),
            ("POST", "/v1/embeddings?x=1", ApiKind::Embeddings),
            ("POST", "/v1/responses", ApiKind::Responses),
            ("GET", "/v1/models", ApiKind::Models),
            ("GET", "/v1/gateway/usage", ApiKind::GatewayUsage),
            ("POST", "/v1/gateway/usage", ApiKind::Other),
            ("POST", "/v1/messages", ApiKind::AnthropicMessages),
            ("GET", "/v1/chat/completions", ApiKind::Other),
            ("POST", "/v2/chat/completions", ApiKind::Other),
        ]);
    }

    #[test]
    fn classifies_gemini_paths_with_dotted_models() {
        let generate = |model: &str, stream| ApiKind::GeminiGenerate {
            model: model.into(),
            stream,
        };
        let embed = |model: &str, batch| ApiKind::GeminiEmbed {
            model: model.into(),
            batch,
        };
        assert_classified(&[
            (
                "POST",
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                generate("gemini-2.5-flash", true),
            ),
            (
                "POST",
                "/v1beta/models/text-embedding-004:embedContent",
                embed("text-embedding-004", false),
            ),
            (
                "POST",
                "/v1beta/models/text-embedding-004:batchEmbedContents",
                embed("text-embedding-004", true),
            ),
            ("POST", "/v1beta/models/:generateContent", ApiKind::Other),
            ("POST", "/v1beta/models/a/b:generateContent", ApiKind::Other),
            ("POST", "/v1beta/models/gemini-2.5-flash", ApiKind::Other),
        ]);
    }

    #[test]
    fn classifies_azure_deployment_paths() {
        let kind = ApiKind::classify(
            "POST",
            "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
        );
        assert_eq!(
            kind,
            ApiKind::AzureChatCompletions {
                deployment: "gpt4o".into()
            }
        );
        assert_eq!(kind.path_model(), Some("gpt4o"));
        assert_classified(&[
            (
                "POST",
                "/openai/deployments/emb/embeddings",
                ApiKind::AzureEmbeddings {
                    deployment: "emb".into(),
                },
            ),
            ("POST", "/openai/deployments//embeddings", ApiKind::Other),
        ]);
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(encode_segment("a/b?c=d"), "a%2Fb%3Fc%3Dd");
    }

    #[test]
    fn dialect_follows_the_caller_api() {
        assert_eq!(ApiKind::AnthropicMessages.dialect(), Dialect::Anthropic);
        assert_eq!(ApiKind::ChatCompletions.dialect(), Dialect::OpenAi);
        assert_eq!(
            ApiKind::GeminiEmbed {
                model: "m".into(),
                batch: true
            }
            .dialect(),
            Dialect::Gemini
        );
        assert_eq!(ApiKind::Other.dialect(), Dialect::OpenAi);
    }
}
