//! Content parts of messages and reasoning items, and tool-call outputs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::wire::{Extras, serialize_object, take_string};

/// A part of a message's `content`, a reasoning item's `summary` or `content`, or of a
/// tool output array.
///
/// Kinds the client reads text from are typed; every other part (images, files,
/// audio, future kinds, parts whose text is not a string) is [`ContentPart::Other`],
/// kept exactly as received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ContentPart {
    /// `{"type":"input_text","text":…}`: text the user or a tool supplied.
    InputText(TextPart),
    /// `{"type":"output_text","text":…}`: text the model wrote (extras hold
    /// `annotations`, `logprobs`, …).
    OutputText(TextPart),
    /// `{"type":"refusal","refusal":…}`: the model declined.
    Refusal(RefusalPart),
    /// `{"type":"summary_text","text":…}`: a reasoning summary part.
    SummaryText(TextPart),
    /// `{"type":"reasoning_text","text":…}`: a reasoning content part.
    ReasoningText(TextPart),
    /// Any other part, as received.
    Other(Value),
}

/// A part whose payload is a `text` string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextPart {
    /// `text`.
    pub text: String,
    /// Every other key of the part except `type`, as received.
    pub extras: Extras,
}

/// A `refusal` part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefusalPart {
    /// `refusal`: the model's explanation.
    pub refusal: String,
    /// Every other key of the part except `type`, as received.
    pub extras: Extras,
}

impl TextPart {
    /// A part with this text and no other keys.
    pub fn new(text: impl Into<String>) -> Self {
        TextPart {
            text: text.into(),
            extras: Extras::new(),
        }
    }
}

impl ContentPart {
    /// An `input_text` part.
    pub fn input_text(text: impl Into<String>) -> Self {
        ContentPart::InputText(TextPart::new(text))
    }

    /// An `output_text` part (no annotations).
    pub fn output_text(text: impl Into<String>) -> Self {
        ContentPart::OutputText(TextPart::new(text))
    }

    /// The part's `type`, or `""` for an untyped [`ContentPart::Other`].
    pub fn part_type(&self) -> &str {
        match self {
            ContentPart::InputText(_) => "input_text",
            ContentPart::OutputText(_) => "output_text",
            ContentPart::Refusal(_) => "refusal",
            ContentPart::SummaryText(_) => "summary_text",
            ContentPart::ReasoningText(_) => "reasoning_text",
            ContentPart::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The text of a text-bearing part (`input_text`, `output_text`, `summary_text`,
    /// `reasoning_text`); `None` for refusals and other parts.
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText(p)
            | ContentPart::OutputText(p)
            | ContentPart::SummaryText(p)
            | ContentPart::ReasoningText(p) => Some(&p.text),
            ContentPart::Refusal(_) | ContentPart::Other(_) => None,
        }
    }

    /// Converts any JSON value; never fails (unrecognised parts become `Other`).
    pub(crate) fn from_json(value: Value) -> Self {
        let Value::Object(mut map) = value else {
            return ContentPart::Other(value);
        };
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("input_text") => ContentPart::InputText,
            Some("output_text") => ContentPart::OutputText,
            Some("summary_text") => ContentPart::SummaryText,
            Some("reasoning_text") => ContentPart::ReasoningText,
            Some("refusal") => {
                return match take_string(&mut map, "refusal") {
                    Some(refusal) => {
                        map.remove("type");
                        ContentPart::Refusal(RefusalPart {
                            refusal,
                            extras: map,
                        })
                    }
                    None => ContentPart::Other(Value::Object(map)),
                };
            }
            _ => return ContentPart::Other(Value::Object(map)),
        };
        match take_string(&mut map, "text") {
            Some(text) => {
                map.remove("type");
                kind(TextPart { text, extras: map })
            }
            None => ContentPart::Other(Value::Object(map)),
        }
    }

    /// Converts a JSON array of parts.
    pub(crate) fn list_from_json(values: Vec<Value>) -> Vec<ContentPart> {
        values.into_iter().map(ContentPart::from_json).collect()
    }
}

impl From<Value> for ContentPart {
    fn from(value: Value) -> Self {
        ContentPart::from_json(value)
    }
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (ty, part) = match self {
            ContentPart::Other(v) => return v.serialize(s),
            ContentPart::Refusal(p) => {
                return serialize_object(
                    s,
                    "refusal",
                    &[("refusal", Some(p.refusal.as_str()))],
                    &p.extras,
                );
            }
            ContentPart::InputText(p) => ("input_text", p),
            ContentPart::OutputText(p) => ("output_text", p),
            ContentPart::SummaryText(p) => ("summary_text", p),
            ContentPart::ReasoningText(p) => ("reasoning_text", p),
        };
        serialize_object(s, ty, &[("text", Some(part.text.as_str()))], &part.extras)
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(ContentPart::from_json)
    }
}

/// The `output` of a `function_call_output` or `custom_tool_call_output`: a string,
/// or an array of content parts (text, images, files).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToolOutput {
    /// A plain string.
    Text(String),
    /// An array of content parts.
    Parts(Vec<ContentPart>),
}

impl ToolOutput {
    /// The output's text: the string itself, or its text parts joined.
    pub fn text(&self) -> String {
        match self {
            ToolOutput::Text(t) => t.clone(),
            ToolOutput::Parts(parts) => join_text(parts),
        }
    }

    /// A string or array becomes an output; anything else is handed back.
    pub(crate) fn from_json(value: Value) -> Result<Self, Value> {
        match value {
            Value::String(s) => Ok(ToolOutput::Text(s)),
            Value::Array(a) => Ok(ToolOutput::Parts(ContentPart::list_from_json(a))),
            other => Err(other),
        }
    }
}

impl From<String> for ToolOutput {
    fn from(value: String) -> Self {
        ToolOutput::Text(value)
    }
}

impl From<&str> for ToolOutput {
    fn from(value: &str) -> Self {
        ToolOutput::Text(value.to_owned())
    }
}

impl From<Vec<ContentPart>> for ToolOutput {
    fn from(value: Vec<ContentPart>) -> Self {
        ToolOutput::Parts(value)
    }
}

impl Serialize for ToolOutput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolOutput::Text(t) => s.serialize_str(t),
            ToolOutput::Parts(p) => p.serialize(s),
        }
    }
}

/// The text parts of `parts`, concatenated in order.
pub(crate) fn join_text(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for text in parts.iter().filter_map(ContentPart::text) {
        out.push_str(text);
    }
    out
}

/// Removes and returns `key` when it holds a string or an array (a tool output).
pub(crate) fn take_output(map: &mut Extras, key: &str) -> Option<ToolOutput> {
    match map.get(key) {
        Some(Value::String(_) | Value::Array(_)) => {
            map.remove(key).and_then(|v| ToolOutput::from_json(v).ok())
        }
        _ => None,
    }
}

/// Whether `key` holds a string or an array (a tool output).
pub(crate) fn has_output(map: &Extras, key: &str) -> bool {
    matches!(map.get(key), Some(Value::String(_) | Value::Array(_)))
}
