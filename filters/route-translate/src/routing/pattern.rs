//! Model name patterns: exact names or globs (`*` any run, `?` one character).

use regex::Regex;

#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Glob(Regex),
}

impl Pattern {
    /// Compiles `text`; a glob becomes an anchored regex once, at load.
    pub fn new(text: &str) -> Result<Pattern, String> {
        if !text.contains(['*', '?']) {
            return Ok(Pattern::Exact(text.to_owned()));
        }
        let mut regex = String::with_capacity(text.len() + 8);
        regex.push('^');
        for c in text.chars() {
            match c {
                '*' => regex.push_str(".*"),
                '?' => regex.push('.'),
                c => regex.push_str(&regex::escape(&c.to_string())),
            }
        }
        regex.push('$');
        Regex::new(&regex)
            .map(Pattern::Glob)
            .map_err(|e| format!("invalid pattern `{text}`: {e}"))
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            Pattern::Exact(name) => name == model,
            Pattern::Glob(regex) => regex.is_match(model),
        }
    }

    pub fn exact(&self) -> Option<&str> {
        match self {
            Pattern::Exact(name) => Some(name),
            Pattern::Glob(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names_and_escape_the_rest() {
        let p = Pattern::new("claude-*").unwrap();
        assert!(p.matches("claude-sonnet-4-5") && !p.matches("my-claude-x"));
        let p = Pattern::new("gpt-4o.?").unwrap();
        assert!(p.matches("gpt-4o.1") && !p.matches("gpt-4oX1"));
        assert_eq!(Pattern::new("gpt-4o").unwrap().exact(), Some("gpt-4o"));
    }
}
