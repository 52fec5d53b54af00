//! Maps a method and path to what serves it, and a path to the error format
//! its provider uses.

use crate::errors::ErrorFormat;
use crate::gemini::Framing;
use hyper::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/__...` paths: never recorded, never faulted.
    Control(Control),
    /// `POST /collector/records`: faultable, not recorded.
    CollectorRecords,
    /// Provider endpoints and unknown paths: recorded and faultable.
    Provider(Endpoint),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Health,
    Requests,
    Faults,
    Collector,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    OpenAiChat,
    OpenAiEmbeddings,
    OpenAiModels,
    OpenAiResponses,
    AnthropicMessages,
    /// `stream`: `streamGenerateContent` rather than `generateContent`.
    GeminiGenerate {
        model: String,
        stream: bool,
    },
    GeminiEmbed {
        model: String,
    },
    GeminiBatchEmbed {
        model: String,
    },
    AzureChat {
        deployment: String,
    },
    AzureEmbeddings {
        deployment: String,
    },
    /// Azure OpenAI's Responses API: `/openai/responses?api-version=...`,
    /// the deployment named by the body's `model`.
    AzureResponses,
    NotFound,
}

/// Gemini streams are SSE only with `?alt=sse`; otherwise a JSON array.
pub fn gemini_framing(stream: bool, query: &str) -> Framing {
    match stream {
        false => Framing::Json,
        true if query_param(query, "alt") == Some("sse") => Framing::Sse,
        true => Framing::JsonArray,
    }
}

pub fn route(method: &Method, path: &str) -> Route {
    if let Some(control) = path.strip_prefix("/__") {
        return Route::Control(match control {
            "health" => Control::Health,
            "requests" => Control::Requests,
            "control/faults" => Control::Faults,
            "collector" => Control::Collector,
            _ => Control::Unknown,
        });
    }
    if path == "/collector/records" && method == Method::POST {
        return Route::CollectorRecords;
    }
    Route::Provider(endpoint(method, path))
}

fn endpoint(method: &Method, path: &str) -> Endpoint {
    let post = method == Method::POST;
    // An OpenAI-compatible server under a base path of its own (the demo's
    // `local` provider): OpenAI's endpoints below `/compat`.
    if let Some(openai) = path
        .strip_prefix("/compat")
        .filter(|p| p.starts_with("/v1/"))
    {
        return endpoint(method, openai);
    }
    match path {
        "/v1/chat/completions" if post => return Endpoint::OpenAiChat,
        "/v1/embeddings" if post => return Endpoint::OpenAiEmbeddings,
        "/v1/responses" if post => return Endpoint::OpenAiResponses,
        "/v1/messages" if post => return Endpoint::AnthropicMessages,
        "/v1/models" if method == Method::GET => return Endpoint::OpenAiModels,
        "/openai/responses" if post => return Endpoint::AzureResponses,
        _ => {}
    }
    if !post {
        return Endpoint::NotFound;
    }
    if let Some(rest) = path.strip_prefix("/v1beta/models/") {
        // The model keeps its dots and dashes; `:` starts the method.
        if let Some((model, action)) = rest.split_once(':') {
            if !model.is_empty() && !model.contains('/') {
                let model = model.to_owned();
                return match action {
                    "generateContent" => Endpoint::GeminiGenerate {
                        model,
                        stream: false,
                    },
                    "streamGenerateContent" => Endpoint::GeminiGenerate {
                        model,
                        stream: true,
                    },
                    "embedContent" => Endpoint::GeminiEmbed { model },
                    "batchEmbedContents" => Endpoint::GeminiBatchEmbed { model },
                    _ => Endpoint::NotFound,
                };
            }
        }
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        if let Some((deployment, operation)) = rest.split_once('/') {
            if !deployment.is_empty() {
                let deployment = deployment.to_owned();
                return match operation {
                    "chat/completions" => Endpoint::AzureChat { deployment },
                    "embeddings" => Endpoint::AzureEmbeddings { deployment },
                    _ => Endpoint::NotFound,
                };
            }
        }
    }
    Endpoint::NotFound
}

/// The error body format of the provider owning `path`.
pub fn error_format(path: &str) -> ErrorFormat {
    if path.starts_with("/v1/messages") {
        ErrorFormat::Anthropic
    } else if path.starts_with("/v1beta/") {
        ErrorFormat::Gemini
    } else if path.starts_with("/collector") || path.starts_with("/__") {
        ErrorFormat::Plain
    } else {
        ErrorFormat::OpenAi
    }
}

/// The raw value of `name` in a query string (no percent-decoding: the
/// values this server reads are plain tokens).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_model_with_dots_and_colon_action() {
        assert_eq!(
            route(
                &Method::POST,
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
            ),
            Route::Provider(Endpoint::GeminiGenerate {
                model: "gemini-2.5-flash".into(),
                stream: true
            })
        );
        assert_eq!(gemini_framing(true, "alt=sse"), Framing::Sse);
        assert_eq!(gemini_framing(true, "key=k"), Framing::JsonArray);
        assert_eq!(gemini_framing(false, "alt=sse"), Framing::Json);
        assert_eq!(
            route(&Method::POST, "/v1beta/models/gemini-2.5-flash:explode"),
            Route::Provider(Endpoint::NotFound)
        );
    }

    #[test]
    fn an_openai_compatible_server_answers_under_its_base_path() {
        assert_eq!(
            route(&Method::POST, "/compat/v1/chat/completions"),
            Route::Provider(Endpoint::OpenAiChat)
        );
        assert_eq!(
            route(&Method::POST, "/compat/v1/embeddings"),
            Route::Provider(Endpoint::OpenAiEmbeddings)
        );
        assert_eq!(
            route(&Method::POST, "/compat/v1beta/models/m:generateContent"),
            Route::Provider(Endpoint::NotFound)
        );
    }

    #[test]
    fn azure_control_and_unknown() {
        assert_eq!(
            route(&Method::POST, "/openai/deployments/my-gpt/chat/completions"),
            Route::Provider(Endpoint::AzureChat {
                deployment: "my-gpt".into()
            })
        );
        assert_eq!(
            route(&Method::GET, "/__health"),
            Route::Control(Control::Health)
        );
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions"),
            Route::Provider(Endpoint::NotFound)
        );
        assert_eq!(
            route(&Method::POST, "/collector/records"),
            Route::CollectorRecords
        );
        assert_eq!(error_format("/v1/messages"), ErrorFormat::Anthropic);
        assert_eq!(
            query_param("a=1&api-version=2024-10-21", "api-version"),
            Some("2024-10-21")
        );
        assert_eq!(query_param("a=1", "api-version"), None);
    }
}
