//! Conversation items: what goes into a request's `input` and comes out of a
//! response's `output`.
//!
//! OWNER: codec helper "items". Any item JSON round-trips without loss: kinds the
//! client looks inside are typed, all others are kept as they are.

use serde::{Deserialize, Serialize};

/// One conversation item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResponseItem(serde_json::Value);

impl ResponseItem {
    /// A user message with one `input_text` part.
    pub fn user_text(text: impl Into<String>) -> Self {
        let _ = text.into();
        todo!("items helper")
    }
}
