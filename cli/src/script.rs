//! Conversation scripts: `{"model": …, "instructions": …, "turns": [["request 1", …], …]}`.

use std::path::Path;

use serde::Deserialize;

/// A conversation to run: each turn is a list of requests; each request appends a user
/// message with its text to the turn's history, after the previous response's output.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Script {
    /// Overrides `--model`.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// Overrides `--instructions`.
    #[serde(default)]
    pub(crate) instructions: Option<String>,
    /// The turns.
    pub(crate) turns: Vec<Vec<String>>,
}

impl Script {
    /// One turn with one request.
    pub(crate) fn single(prompt: String) -> Self {
        Script {
            turns: vec![vec![prompt]],
            ..Script::default()
        }
    }

    /// Reads and checks a script file, with an error message that says what to fix.
    pub(crate) fn load(path: &Path) -> Result<Script, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
        let script: Script = serde_json::from_str(&text).map_err(|e| {
            format!(
                "script {} is not valid: {e}\n  expected: {{\"model\": \"…\", \"instructions\": \"…\", \"turns\": [[\"request 1\", \"request 2\"], [\"…\"]]}}",
                path.display()
            )
        })?;
        if script.turns.is_empty() || script.turns.iter().any(Vec::is_empty) {
            return Err(format!(
                "script {}: every turn needs at least one request, and there must be a turn",
                path.display()
            ));
        }
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_and_reject_what_they_should() {
        let dir = std::env::temp_dir().join(format!("turnwire-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"model":"m","turns":[["a","b"],["c"]]}"#).unwrap();
        let script = Script::load(&good).unwrap();
        assert_eq!(
            script.turns,
            vec![vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]]
        );
        assert_eq!(script.model.as_deref(), Some("m"));

        let empty = dir.join("empty.json");
        std::fs::write(&empty, r#"{"turns":[[]]}"#).unwrap();
        assert!(
            Script::load(&empty)
                .unwrap_err()
                .contains("at least one request")
        );
        let typo = dir.join("typo.json");
        std::fs::write(&typo, r#"{"turn":[["a"]]}"#).unwrap();
        assert!(Script::load(&typo).unwrap_err().contains("expected"));
        assert!(
            Script::load(&dir.join("missing.json"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
