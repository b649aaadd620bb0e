//! Conversation items: what goes into a request's `input` and comes out of a
//! response's `output`.
//!
//! Any item JSON round-trips without loss: deserialising and serialising again gives
//! a value-equal object, with no key added or dropped and `null` kept apart from
//! absent. The kinds the client looks inside are typed ([`MessageItem`],
//! [`ReasoningItem`], [`FunctionCallItem`], [`FunctionCallOutputItem`],
//! [`CustomToolCallItem`], [`CustomToolCallOutputItem`]); each keeps every key it
//! has no field for in `extras`. Everything else (web search and image generation
//! calls, future kinds, items without a `type`, typed kinds whose required fields
//! are missing or of another JSON type) is [`ResponseItem::Other`], kept as received.
//!
//! A typed field holds a value only when the key is present with the expected JSON
//! type; a key present as `null` (or as another type) stays in `extras`, so the
//! typed field reads `None` and the `null` is written back as it came.
//!
//! Serialising writes straight to the serializer (no intermediate `Value`): `type`
//! first, then the typed fields, then the extras.

mod part;
mod wire;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use part::{ContentPart, RefusalPart, TextPart, ToolOutput};
pub use wire::Extras;

use part::{has_output, take_output};
use wire::{has_array, has_string, serialize_object, take_array, take_string};

/// One conversation item.
///
/// Build items from JSON with `ResponseItem::from(value)` or serde, or with the
/// constructors ([`ResponseItem::user_text`], [`ResponseItem::assistant_text`],
/// [`ResponseItem::function_call_output`]). Equality is structural: an item is
/// typed exactly when conversion from its JSON makes it typed, so build
/// [`ResponseItem::Other`] only for kinds that are not typed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ResponseItem {
    /// `type: "message"`.
    Message(MessageItem),
    /// `type: "reasoning"`.
    Reasoning(ReasoningItem),
    /// `type: "function_call"`.
    FunctionCall(FunctionCallItem),
    /// `type: "function_call_output"`.
    FunctionCallOutput(FunctionCallOutputItem),
    /// `type: "custom_tool_call"`.
    CustomToolCall(CustomToolCallItem),
    /// `type: "custom_tool_call_output"`.
    CustomToolCallOutput(CustomToolCallOutputItem),
    /// Any other item, exactly as received.
    Other(Value),
}

/// A `message` item. Requires `role` (string) and `content` (array).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `role`: `user`, `assistant`, `system`, `developer`, …
    pub role: String,
    /// `content` parts.
    pub content: Vec<ContentPart>,
    /// `status` (`in_progress`, `completed`, `incomplete`), when present as a string.
    pub status: Option<String>,
    /// Every other key except `type`, as received.
    pub extras: Extras,
}

/// A `reasoning` item. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasoningItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `summary` parts (`summary_text`), when present as an array.
    pub summary: Option<Vec<ContentPart>>,
    /// `content` parts (`reasoning_text`), when present as an array.
    pub content: Option<Vec<ContentPart>>,
    /// `encrypted_content`, when present as a string.
    pub encrypted_content: Option<String>,
    /// Every other key except `type`, as received.
    pub extras: Extras,
}

/// A `function_call` item. Requires `call_id`, `name` and `arguments` (strings).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCallItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `call_id`: what the output item refers to.
    pub call_id: String,
    /// `name` of the function.
    pub name: String,
    /// `arguments`: a JSON document as a string (may be partial while streaming).
    pub arguments: String,
    /// Every other key except `type` (such as `status`), as received.
    pub extras: Extras,
}

/// A `function_call_output` item. Requires `call_id` (string) and `output` (string
/// or array).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCallOutputItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `call_id` of the call this answers.
    pub call_id: String,
    /// `output`.
    pub output: ToolOutput,
    /// Every other key except `type`, as received.
    pub extras: Extras,
}

/// A `custom_tool_call` item. Requires `call_id`, `name` and `input` (strings).
#[derive(Clone, Debug, PartialEq)]
pub struct CustomToolCallItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `call_id`: what the output item refers to.
    pub call_id: String,
    /// `name` of the tool.
    pub name: String,
    /// `input`: free-form text.
    pub input: String,
    /// Every other key except `type`, as received.
    pub extras: Extras,
}

/// A `custom_tool_call_output` item. Requires `call_id` (string) and `output`
/// (string or array).
#[derive(Clone, Debug, PartialEq)]
pub struct CustomToolCallOutputItem {
    /// `id`, when present as a string.
    pub id: Option<String>,
    /// `call_id` of the call this answers.
    pub call_id: String,
    /// `output`.
    pub output: ToolOutput,
    /// Every other key except `type`, as received.
    pub extras: Extras,
}

impl MessageItem {
    /// A message with this role and content, and no id, status or other keys.
    pub fn new(role: impl Into<String>, content: Vec<ContentPart>) -> Self {
        MessageItem {
            id: None,
            role: role.into(),
            content,
            status: None,
            extras: Extras::new(),
        }
    }

    /// The text parts of the content, concatenated in order.
    pub fn text(&self) -> String {
        part::join_text(&self.content)
    }

    fn from_map(mut map: Extras) -> Result<Self, Extras> {
        if !(has_string(&map, "role") && has_array(&map, "content")) {
            return Err(map);
        }
        let role = take_string(&mut map, "role").unwrap_or_default();
        let content =
            ContentPart::list_from_json(take_array(&mut map, "content").unwrap_or_default());
        let id = take_string(&mut map, "id");
        let status = take_string(&mut map, "status");
        map.remove("type");
        Ok(MessageItem {
            id,
            role,
            content,
            status,
            extras: map,
        })
    }
}

impl ReasoningItem {
    fn from_map(mut map: Extras) -> Self {
        let id = take_string(&mut map, "id");
        let summary = take_array(&mut map, "summary").map(ContentPart::list_from_json);
        let content = take_array(&mut map, "content").map(ContentPart::list_from_json);
        let encrypted_content = take_string(&mut map, "encrypted_content");
        map.remove("type");
        ReasoningItem {
            id,
            summary,
            content,
            encrypted_content,
            extras: map,
        }
    }
}

/// Takes `call_id`, `name` and a third string field (`arguments` or `input`) when all
/// three are strings; otherwise hands the map back untouched.
fn take_call(
    mut map: Extras,
    payload: &str,
) -> Result<(Option<String>, String, String, String, Extras), Extras> {
    if !(has_string(&map, "call_id") && has_string(&map, "name") && has_string(&map, payload)) {
        return Err(map);
    }
    let call_id = take_string(&mut map, "call_id").unwrap_or_default();
    let name = take_string(&mut map, "name").unwrap_or_default();
    let payload = take_string(&mut map, payload).unwrap_or_default();
    let id = take_string(&mut map, "id");
    map.remove("type");
    Ok((id, call_id, name, payload, map))
}

/// Takes `call_id` and `output` when they have the right types; otherwise hands the
/// map back untouched.
fn take_call_output(
    mut map: Extras,
) -> Result<(Option<String>, String, ToolOutput, Extras), Extras> {
    if !(has_string(&map, "call_id") && has_output(&map, "output")) {
        return Err(map);
    }
    let call_id = take_string(&mut map, "call_id").unwrap_or_default();
    let Some(output) = take_output(&mut map, "output") else {
        map.insert("call_id".to_owned(), Value::String(call_id));
        return Err(map);
    };
    let id = take_string(&mut map, "id");
    map.remove("type");
    Ok((id, call_id, output, map))
}

impl FunctionCallItem {
    fn from_map(map: Extras) -> Result<Self, Extras> {
        let (id, call_id, name, arguments, extras) = take_call(map, "arguments")?;
        Ok(FunctionCallItem {
            id,
            call_id,
            name,
            arguments,
            extras,
        })
    }
}

impl CustomToolCallItem {
    fn from_map(map: Extras) -> Result<Self, Extras> {
        let (id, call_id, name, input, extras) = take_call(map, "input")?;
        Ok(CustomToolCallItem {
            id,
            call_id,
            name,
            input,
            extras,
        })
    }
}

impl FunctionCallOutputItem {
    /// An output item for `call_id` with no id or other keys.
    pub fn new(call_id: impl Into<String>, output: impl Into<ToolOutput>) -> Self {
        FunctionCallOutputItem {
            id: None,
            call_id: call_id.into(),
            output: output.into(),
            extras: Extras::new(),
        }
    }

    fn from_map(map: Extras) -> Result<Self, Extras> {
        let (id, call_id, output, extras) = take_call_output(map)?;
        Ok(FunctionCallOutputItem {
            id,
            call_id,
            output,
            extras,
        })
    }
}

impl CustomToolCallOutputItem {
    /// An output item for `call_id` with no id or other keys.
    pub fn new(call_id: impl Into<String>, output: impl Into<ToolOutput>) -> Self {
        CustomToolCallOutputItem {
            id: None,
            call_id: call_id.into(),
            output: output.into(),
            extras: Extras::new(),
        }
    }

    fn from_map(map: Extras) -> Result<Self, Extras> {
        let (id, call_id, output, extras) = take_call_output(map)?;
        Ok(CustomToolCallOutputItem {
            id,
            call_id,
            output,
            extras,
        })
    }
}

impl ResponseItem {
    /// A user message with one `input_text` part:
    /// `{"type":"message","role":"user","content":[{"type":"input_text","text":…}]}`.
    pub fn user_text(text: impl Into<String>) -> Self {
        ResponseItem::Message(MessageItem::new(
            "user",
            vec![ContentPart::input_text(text)],
        ))
    }

    /// An assistant message with one `output_text` part (for replaying history):
    /// `{"type":"message","role":"assistant","content":[{"type":"output_text","text":…}]}`.
    pub fn assistant_text(text: impl Into<String>) -> Self {
        ResponseItem::Message(MessageItem::new(
            "assistant",
            vec![ContentPart::output_text(text)],
        ))
    }

    /// The answer to a function call:
    /// `{"type":"function_call_output","call_id":…,"output":…}`. `output` is a string
    /// (`&str`, `String`) or a `Vec<ContentPart>`.
    pub fn function_call_output(call_id: impl Into<String>, output: impl Into<ToolOutput>) -> Self {
        ResponseItem::FunctionCallOutput(FunctionCallOutputItem::new(call_id, output))
    }

    /// The item's `type`; `""` when an [`ResponseItem::Other`] has no string `type`.
    pub fn item_type(&self) -> &str {
        match self {
            ResponseItem::Message(_) => "message",
            ResponseItem::Reasoning(_) => "reasoning",
            ResponseItem::FunctionCall(_) => "function_call",
            ResponseItem::FunctionCallOutput(_) => "function_call_output",
            ResponseItem::CustomToolCall(_) => "custom_tool_call",
            ResponseItem::CustomToolCallOutput(_) => "custom_tool_call_output",
            ResponseItem::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The item's `id`, when it has a string one.
    pub fn id(&self) -> Option<&str> {
        match self {
            ResponseItem::Message(i) => i.id.as_deref(),
            ResponseItem::Reasoning(i) => i.id.as_deref(),
            ResponseItem::FunctionCall(i) => i.id.as_deref(),
            ResponseItem::FunctionCallOutput(i) => i.id.as_deref(),
            ResponseItem::CustomToolCall(i) => i.id.as_deref(),
            ResponseItem::CustomToolCallOutput(i) => i.id.as_deref(),
            ResponseItem::Other(v) => v.get("id").and_then(Value::as_str),
        }
    }

    /// The `call_id` of a tool call or tool output item.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            ResponseItem::FunctionCall(i) => Some(&i.call_id),
            ResponseItem::FunctionCallOutput(i) => Some(&i.call_id),
            ResponseItem::CustomToolCall(i) => Some(&i.call_id),
            ResponseItem::CustomToolCallOutput(i) => Some(&i.call_id),
            ResponseItem::Message(_) | ResponseItem::Reasoning(_) => None,
            ResponseItem::Other(v) => v.get("call_id").and_then(Value::as_str),
        }
    }

    /// For a message, its text parts (`input_text`, `output_text`) concatenated in
    /// order; `None` for every other item.
    pub fn text(&self) -> Option<String> {
        match self {
            ResponseItem::Message(m) => Some(m.text()),
            _ => None,
        }
    }

    /// Converts any JSON value; never fails.
    fn from_json(value: Value) -> Self {
        let Value::Object(map) = value else {
            return ResponseItem::Other(value);
        };
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("message") => Kind::Message,
            Some("reasoning") => Kind::Reasoning,
            Some("function_call") => Kind::FunctionCall,
            Some("function_call_output") => Kind::FunctionCallOutput,
            Some("custom_tool_call") => Kind::CustomToolCall,
            Some("custom_tool_call_output") => Kind::CustomToolCallOutput,
            _ => return ResponseItem::Other(Value::Object(map)),
        };
        let typed = match kind {
            Kind::Message => MessageItem::from_map(map).map(ResponseItem::Message),
            Kind::Reasoning => Ok(ResponseItem::Reasoning(ReasoningItem::from_map(map))),
            Kind::FunctionCall => FunctionCallItem::from_map(map).map(ResponseItem::FunctionCall),
            Kind::FunctionCallOutput => {
                FunctionCallOutputItem::from_map(map).map(ResponseItem::FunctionCallOutput)
            }
            Kind::CustomToolCall => {
                CustomToolCallItem::from_map(map).map(ResponseItem::CustomToolCall)
            }
            Kind::CustomToolCallOutput => {
                CustomToolCallOutputItem::from_map(map).map(ResponseItem::CustomToolCallOutput)
            }
        };
        typed.unwrap_or_else(|map| ResponseItem::Other(Value::Object(map)))
    }
}

/// The typed kinds, read from `type` before the object is taken apart.
enum Kind {
    Message,
    Reasoning,
    FunctionCall,
    FunctionCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
}

impl From<Value> for ResponseItem {
    fn from(value: Value) -> Self {
        ResponseItem::from_json(value)
    }
}

/// An item's typed field value, borrowed for serialisation.
enum Field<'a> {
    /// A string.
    Str(&'a str),
    /// An array of content parts.
    Parts(&'a [ContentPart]),
    /// A tool output (string or parts).
    Output(&'a ToolOutput),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Str(v) => s.serialize_str(v),
            Field::Parts(v) => v.serialize(s),
            Field::Output(v) => v.serialize(s),
        }
    }
}

fn opt_str(value: &Option<String>) -> Option<Field<'_>> {
    value.as_deref().map(Field::Str)
}

fn opt_parts(value: &Option<Vec<ContentPart>>) -> Option<Field<'_>> {
    value.as_deref().map(Field::Parts)
}

impl Serialize for ResponseItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ResponseItem::Message(m) => serialize_object(
                s,
                "message",
                &[
                    ("id", opt_str(&m.id)),
                    ("role", Some(Field::Str(&m.role))),
                    ("content", Some(Field::Parts(&m.content))),
                    ("status", opt_str(&m.status)),
                ],
                &m.extras,
            ),
            ResponseItem::Reasoning(r) => serialize_object(
                s,
                "reasoning",
                &[
                    ("id", opt_str(&r.id)),
                    ("summary", opt_parts(&r.summary)),
                    ("content", opt_parts(&r.content)),
                    ("encrypted_content", opt_str(&r.encrypted_content)),
                ],
                &r.extras,
            ),
            ResponseItem::FunctionCall(c) => serialize_object(
                s,
                "function_call",
                &[
                    ("id", opt_str(&c.id)),
                    ("call_id", Some(Field::Str(&c.call_id))),
                    ("name", Some(Field::Str(&c.name))),
                    ("arguments", Some(Field::Str(&c.arguments))),
                ],
                &c.extras,
            ),
            ResponseItem::FunctionCallOutput(o) => serialize_object(
                s,
                "function_call_output",
                &[
                    ("id", opt_str(&o.id)),
                    ("call_id", Some(Field::Str(&o.call_id))),
                    ("output", Some(Field::Output(&o.output))),
                ],
                &o.extras,
            ),
            ResponseItem::CustomToolCall(c) => serialize_object(
                s,
                "custom_tool_call",
                &[
                    ("id", opt_str(&c.id)),
                    ("call_id", Some(Field::Str(&c.call_id))),
                    ("name", Some(Field::Str(&c.name))),
                    ("input", Some(Field::Str(&c.input))),
                ],
                &c.extras,
            ),
            ResponseItem::CustomToolCallOutput(o) => serialize_object(
                s,
                "custom_tool_call_output",
                &[
                    ("id", opt_str(&o.id)),
                    ("call_id", Some(Field::Str(&o.call_id))),
                    ("output", Some(Field::Output(&o.output))),
                ],
                &o.extras,
            ),
            ResponseItem::Other(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ResponseItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(ResponseItem::from_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: Value) -> ResponseItem {
        let item: ResponseItem =
            serde_json::from_value(value.clone()).expect("any JSON is an item");
        assert_eq!(serde_json::to_value(&item).expect("serialise"), value);
        item
    }

    #[test]
    fn constructors_write_the_documented_json() {
        let user = serde_json::to_value(ResponseItem::user_text("hi")).unwrap();
        assert_eq!(
            user,
            json!({"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]})
        );
        let out = serde_json::to_value(ResponseItem::function_call_output("c1", "ok")).unwrap();
        assert_eq!(
            out,
            json!({"type":"function_call_output","call_id":"c1","output":"ok"})
        );
    }

    #[test]
    fn null_typed_keys_stay_null_and_read_as_none() {
        let item =
            round_trip(json!({"type":"reasoning","id":null,"summary":[],"encrypted_content":null}));
        let ResponseItem::Reasoning(r) = &item else {
            panic!("typed: {item:?}")
        };
        assert_eq!(
            (r.id.as_deref(), r.encrypted_content.as_deref()),
            (None, None)
        );
        assert_eq!(r.extras.get("encrypted_content"), Some(&Value::Null));
        assert_eq!(item.id(), None);
    }

    #[test]
    fn missing_required_fields_keep_the_item_raw() {
        let item = round_trip(json!({"type":"function_call","call_id":"c","name":"f"}));
        assert!(matches!(item, ResponseItem::Other(_)));
        assert_eq!(item.item_type(), "function_call");
        let item =
            round_trip(json!({"type":"function_call_output","call_id":"c","output":{"x":1}}));
        assert!(matches!(item, ResponseItem::Other(_)));
    }

    #[test]
    fn colliding_extras_are_not_written_twice() {
        let mut m = MessageItem::new("user", vec![]);
        m.extras.insert("role".into(), json!("system"));
        m.extras.insert("type".into(), json!("nope"));
        m.extras.insert("id".into(), Value::Null);
        let text = serde_json::to_string(&ResponseItem::Message(m)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"message","role":"user","content":[],"id":null}"#
        );
    }
}
