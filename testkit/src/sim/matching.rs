//! Reply rules: replies chosen by what a request says instead of only by its position.
//!
//! A [`ReplyRule`] pairs a [`Matcher`] with a reply. For each `POST` and each WebSocket
//! request message the server tries its rules in order; the first rule whose
//! conditions all hold (and that has answers left) answers. Requests no rule takes go
//! to the positional lists (`push_http`, `push_ws`) and then to the default model, so
//! scripts that only use positions work as before.

use std::collections::BTreeMap;

use serde_json::Value;
use turnwire_protocol::session::ConnId;

use super::server::Reply;

/// Which kind of request a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP `POST`s.
    Http,
    /// WebSocket request messages.
    Ws,
}

/// What a request must look like for a rule to answer it. Every condition that is set
/// must hold; an empty matcher matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matcher {
    /// Only `POST`s or only WebSocket messages.
    pub transport: Option<Transport>,
    /// The HTTP method (a WebSocket message has its handshake's, `GET`).
    pub method: Option<String>,
    /// The path without query (a WebSocket message has its handshake's).
    pub path: Option<String>,
    /// The request's `model`.
    pub model: Option<String>,
    /// A substring of some text in the request's `input`.
    pub input_contains: Option<String>,
    /// Whether the input carries a `function_call_output` item.
    pub tool_output: Option<bool>,
    /// `previous_response_id`: a string must equal it, `true` wants one present,
    /// `false` wants none.
    pub previous_response_id: Option<Value>,
    /// Headers (names in lower case) and the values they must have (a WebSocket
    /// message has its handshake's headers).
    pub headers: BTreeMap<String, String>,
    /// Answer only the `n`th request (from 1) that meets the other conditions.
    pub nth: Option<u32>,
}

/// A request as rules see it.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// Which kind of request.
    pub transport: Transport,
    /// The HTTP method.
    pub method: &'a str,
    /// The path without query.
    pub path: &'a str,
    /// The request (or handshake) headers.
    pub headers: &'a http::HeaderMap,
    /// The request JSON; for a WebSocket message, with the full input the server
    /// reconstructed.
    pub body: &'a Value,
}

impl Matcher {
    /// True when every condition except `nth` holds for `request`.
    pub fn conditions_hold(&self, request: &RequestView<'_>) -> bool {
        let field = |name: &str| request.body.get(name).filter(|v| !v.is_null());
        self.transport.is_none_or(|t| t == request.transport)
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(request.method))
            && self.path.as_ref().is_none_or(|p| p == request.path)
            && self
                .model
                .as_ref()
                .is_none_or(|m| field("model").and_then(Value::as_str) == Some(m.as_str()))
            && self
                .input_contains
                .as_ref()
                .is_none_or(|needle| field("input").is_some_and(|i| contains_text(i, needle)))
            && self
                .tool_output
                .is_none_or(|want| has_tool_output(request.body) == want)
            && self.previous_response_id.as_ref().is_none_or(|want| {
                let actual = field("previous_response_id");
                match want {
                    Value::Bool(present) => actual.is_some() == *present,
                    other => actual == Some(other),
                }
            })
            && self.headers.iter().all(|(name, value)| {
                request
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            })
    }
}

/// True when some string inside `value` contains `needle`.
fn contains_text(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains_text(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_text(v, needle)),
        _ => false,
    }
}

/// True when the request's input carries a tool's output.
fn has_tool_output(body: &Value) -> bool {
    body.get("input")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items.iter().any(|item| {
                item.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("_call_output"))
            })
        })
}

/// A matcher and its reply.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyRule {
    /// The conditions.
    pub matcher: Matcher,
    /// The reply it gives each time it answers.
    pub reply: Reply,
    /// How many times it answers at most (`None`: every time).
    pub times: Option<u32>,
    matched: u32,
    answered: u32,
}

impl ReplyRule {
    /// A rule answering every request `matcher` matches with `reply`.
    pub fn new(matcher: Matcher, reply: Reply) -> Self {
        ReplyRule {
            matcher,
            reply,
            times: None,
            matched: 0,
            answered: 0,
        }
    }

    /// Limits how many times the rule answers.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }
}

/// The rules of a server, and what they need to remember about WebSocket handshakes.
#[derive(Clone, Debug, Default)]
pub struct ReplyRules {
    rules: Vec<ReplyRule>,
    handshakes: BTreeMap<ConnId, (String, http::HeaderMap)>,
}

impl ReplyRules {
    /// Adds a rule after the existing ones.
    pub fn push(&mut self, rule: ReplyRule) {
        self.rules.push(rule);
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Notes a WebSocket handshake's path and headers, which its messages are matched
    /// with.
    pub fn note_handshake(&mut self, conn: ConnId, request: &http::Request<()>) {
        if self.rules.is_empty() {
            return;
        }
        self.handshakes.insert(
            conn,
            (request.uri().path().to_owned(), request.headers().clone()),
        );
    }

    /// The reply of the first rule that takes an HTTP request, if any.
    pub fn choose_http(
        &mut self,
        request: &http::Request<bytes::Bytes>,
        body: &Value,
    ) -> Option<Reply> {
        if self.rules.is_empty() {
            return None;
        }
        self.choose(&RequestView {
            transport: Transport::Http,
            method: request.method().as_str(),
            path: request.uri().path(),
            headers: request.headers(),
            body,
        })
    }

    /// The reply of the first rule that takes a WebSocket message on `conn`, if any.
    pub fn choose_ws(&mut self, conn: ConnId, body: &Value) -> Option<Reply> {
        if self.rules.is_empty() {
            return None;
        }
        let empty = http::HeaderMap::new();
        let (path, headers) = match self.handshakes.get(&conn) {
            Some((path, headers)) => (path.clone(), headers.clone()),
            None => (String::new(), empty),
        };
        self.choose(&RequestView {
            transport: Transport::Ws,
            method: "GET",
            path: &path,
            headers: &headers,
            body,
        })
    }

    /// Tries the rules in order. Every rule whose conditions hold counts the request
    /// (for `nth`) until one answers.
    pub fn choose(&mut self, request: &RequestView<'_>) -> Option<Reply> {
        for rule in &mut self.rules {
            if rule.times.is_some_and(|t| rule.answered >= t)
                || !rule.matcher.conditions_hold(request)
            {
                continue;
            }
            rule.matched = rule.matched.saturating_add(1);
            if rule.matcher.nth.is_some_and(|n| n != rule.matched) {
                continue;
            }
            rule.answered = rule.answered.saturating_add(1);
            return Some(rule.reply.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(body: &Value) -> (http::Request<bytes::Bytes>, Value) {
        let request = http::Request::post("http://127.0.0.1/v1/responses")
            .header("x-tenant", "a")
            .body(bytes::Bytes::new())
            .unwrap();
        (request, body.clone())
    }

    fn answer(rules: &mut ReplyRules, body: Value) -> Option<u16> {
        let (request, body) = post(&body);
        rules.choose_http(&request, &body).map(|r| r.status)
    }

    #[test]
    fn the_first_rule_whose_conditions_hold_answers() {
        let mut rules = ReplyRules::default();
        rules.push(ReplyRule::new(
            Matcher {
                model: Some("big".into()),
                ..Matcher::default()
            },
            Reply::status(401, "{}"),
        ));
        rules.push(ReplyRule::new(
            Matcher {
                input_contains: Some("weather".into()),
                headers: [("x-tenant".to_owned(), "a".to_owned())].into(),
                ..Matcher::default()
            },
            Reply::status(402, "{}"),
        ));
        rules.push(ReplyRule::new(
            Matcher {
                tool_output: Some(true),
                previous_response_id: Some(json!("r1")),
                ..Matcher::default()
            },
            Reply::status(403, "{}"),
        ));
        assert_eq!(answer(&mut rules, json!({"model": "big"})), Some(401));
        let weather = json!({"model": "small", "input": [{"role": "user", "content": [{"type": "input_text", "text": "the weather?"}]}]});
        assert_eq!(answer(&mut rules, weather), Some(402));
        let output = json!({"previous_response_id": "r1", "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]});
        assert_eq!(answer(&mut rules, output.clone()), Some(403));
        let mut other = output;
        other["previous_response_id"] = json!("r2");
        assert_eq!(answer(&mut rules, other), None);
    }

    #[test]
    fn nth_and_times_limit_a_rule() {
        let mut rules = ReplyRules::default();
        rules.push(ReplyRule::new(
            Matcher {
                nth: Some(2),
                method: Some("post".into()),
                path: Some("/v1/responses".into()),
                ..Matcher::default()
            },
            Reply::status(500, "{}"),
        ));
        rules.push(ReplyRule::new(Matcher::default(), Reply::status(429, "{}")).times(1));
        assert_eq!(answer(&mut rules, json!({})), Some(429));
        assert_eq!(answer(&mut rules, json!({})), Some(500));
        assert_eq!(answer(&mut rules, json!({})), None);
    }
}
