//! The loop of the `agent` example, kept apart from its `main` so a test can run the
//! very same code against the loopback server: stream a turn, run every function the
//! model calls, send each result back as a `function_call_output`, and stream the
//! follow-up, until the model answers without calling a tool.

use futures_util::StreamExt;
use serde_json::{Value, json};
use turnwire_tokio::{
    Client, FunctionCallItem, RequestFields, RequestInput, RequestSpec, ResponseEvent,
    ResponseItem, StreamError, TurnHistory, TurnOptions,
};

/// The most requests one prompt may take (the first one and the follow-ups) before the
/// loop gives up on a model that keeps calling tools.
pub(crate) const MAX_REQUESTS: usize = 8;

/// The one tool the agent offers: `add`, which sums two numbers.
pub(crate) fn tools() -> Vec<Value> {
    vec![json!({
        "type": "function",
        "name": "add",
        "description": "Adds two numbers and returns their sum.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
            "additionalProperties": false,
        },
        "strict": true,
    })]
}

/// Runs the function `call` names with its arguments and returns the output to send
/// back: `{"sum": …}`, or `{"error": …}` saying what was wrong with the call (the
/// model reads it and may try again).
pub(crate) fn run_tool(call: &FunctionCallItem) -> String {
    if call.name != "add" {
        return json!({"error": format!("there is no tool named {:?}", call.name)}).to_string();
    }
    let args: Value = match serde_json::from_str(&call.arguments) {
        Ok(args) => args,
        Err(e) => return json!({"error": format!("the arguments are not JSON: {e}")}).to_string(),
    };
    match (args["a"].as_f64(), args["b"].as_f64()) {
        (Some(a), Some(b)) => json!({"sum": a + b}).to_string(),
        _ => json!({"error": "add needs two numbers, a and b"}).to_string(),
    }
}

/// Something the loop shows while it runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// A fragment of the model's text answer.
    Text(String),
    /// The model called a tool; the loop ran it and sends `output` back.
    ToolCall {
        /// The call's id, repeated in the `function_call_output`.
        call_id: String,
        /// The function's name.
        name: String,
        /// The arguments as the model wrote them.
        arguments: String,
        /// What the function returned.
        output: String,
    },
    /// The request is being retried (partial output of the failed attempt is void).
    Retrying {
        /// Retry number, from 1.
        attempt: u32,
        /// The retry budget.
        max: u32,
    },
}

/// How the loop ended without an answer.
#[derive(Debug)]
pub(crate) enum AgentError {
    /// A request failed.
    Stream(StreamError),
    /// The model was still calling tools after [`MAX_REQUESTS`] requests.
    TooManyRequests,
}

impl From<StreamError> for AgentError {
    fn from(error: StreamError) -> Self {
        AgentError::Stream(error)
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Stream(error) => error.fmt(f),
            AgentError::TooManyRequests => write!(
                f,
                "the model was still calling tools after {MAX_REQUESTS} requests"
            ),
        }
    }
}

impl std::error::Error for AgentError {}

/// The model's answer to a prompt.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    /// The text of the last response.
    pub(crate) text: String,
    /// How many requests the prompt took (1 when no tool was called).
    pub(crate) requests: usize,
}

/// Answers `prompt` in one turn of `client` with `model`, running the tools the model
/// calls; `show` sees each step as it happens.
pub(crate) async fn answer(
    client: &Client,
    model: &str,
    prompt: &str,
    mut show: impl FnMut(Step),
) -> Result<Answer, AgentError> {
    let mut fields = RequestFields::new(model);
    fields.tools = tools();
    // The turn keeps the history: each request appends to what came before, the
    // responses' output items (the function calls among them) included.
    let turn = client.new_turn(TurnOptions {
        history: TurnHistory::Fresh,
        ..TurnOptions::default()
    });
    let mut input = vec![ResponseItem::user_text(prompt)];
    for requests in 1..=MAX_REQUESTS {
        let mut events = turn.stream(RequestSpec {
            fields: fields.clone(),
            input: RequestInput::Append(std::mem::take(&mut input)),
        });
        let mut text = String::new();
        while let Some(event) = events.next().await {
            match event? {
                ResponseEvent::OutputTextDelta { delta, .. } => {
                    text.push_str(&delta);
                    show(Step::Text(delta));
                }
                ResponseEvent::OutputItemDone {
                    item: ResponseItem::FunctionCall(call),
                } => {
                    let output = run_tool(&call);
                    show(Step::ToolCall {
                        call_id: call.call_id.clone(),
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                        output: output.clone(),
                    });
                    input.push(ResponseItem::function_call_output(call.call_id, output));
                }
                ResponseEvent::Reconnecting { attempt, max, .. } => {
                    // The failed attempt's calls are void: the retry answers afresh.
                    input.clear();
                    text.clear();
                    show(Step::Retrying { attempt, max });
                }
                _ => {}
            }
        }
        if input.is_empty() {
            return Ok(Answer { text, requests });
        }
    }
    Err(AgentError::TooManyRequests)
}
