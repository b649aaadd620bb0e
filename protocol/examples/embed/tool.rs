//! The function tool the example declares and runs locally.

use serde_json::{Value, json};

/// The tool's definition as sent in the request's `tools`.
pub(crate) fn definition() -> Value {
    json!({
        "type": "function",
        "name": "add",
        "description": "Adds two integers and returns the sum.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "integer"}
            },
            "required": ["a", "b"],
            "additionalProperties": false
        },
        "strict": true
    })
}

/// Runs a call the model made: `name` with its JSON `arguments`. Returns the output
/// text sent back in the `function_call_output` (an error text for a bad call, so the
/// model can correct itself).
pub(crate) fn run(name: &str, arguments: &str) -> String {
    if name != "add" {
        return format!("error: no tool named {name:?}");
    }
    let args: Value = match serde_json::from_str(arguments) {
        Ok(args) => args,
        Err(e) => return format!("error: arguments are not JSON: {e}"),
    };
    match (args["a"].as_i64(), args["b"].as_i64()) {
        (Some(a), Some(b)) => a.saturating_add(b).to_string(),
        _ => "error: a and b must be integers".to_owned(),
    }
}
