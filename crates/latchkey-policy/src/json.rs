//! The JSON of a policy document, read with duplicate keys refused.
//!
//! AWS's grammar notes: "Individual elements must not contain multiple
//! instances of the same key" (IAM User Guide, "Grammar of the IAM JSON policy
//! language", Policy grammar notes), and IAM refuses such documents on write
//! ("Troubleshooting IAM policies", More than one effect, action, or resource
//! element). `serde_json::Value` would silently keep the last one, so the
//! document is read into this tree instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number, kept as the text JSON wrote (condition values compare as text).
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; keys are unique.
    Object(Vec<(String, Json)>),
}

/// Why the text is not a policy's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonFault {
    /// Not JSON at all (or trailing garbage, or nested too deeply).
    Syntax,
    /// Valid JSON whose object repeats a key.
    DuplicateKey,
}

const DUPLICATE_KEY: &str = "latchkey: duplicate key";

impl Json {
    pub(crate) fn parse(text: &str) -> Result<Json, JsonFault> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = Json::deserialize(&mut de).map_err(|e| {
            if e.to_string().starts_with(DUPLICATE_KEY) {
                JsonFault::DuplicateKey
            } else {
                JsonFault::Syntax
            }
        })?;
        de.end().map_err(|_| JsonFault::Syntax)?;
        Ok(value)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(DUPLICATE_KEY));
            }
            let value = map.next_value::<Json>()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(Json::parse(r#"{"a":1,"a":2}"#), Err(JsonFault::DuplicateKey));
        assert_eq!(Json::parse(r#"{"s":{"Effect":"Allow","Effect":"Deny"}}"#), Err(JsonFault::DuplicateKey));
        assert!(Json::parse(r#"{"a":{"b":1},"b":{"b":2}}"#).is_ok());
    }

    #[test]
    fn trailing_text_and_garbage_are_syntax_errors() {
        assert_eq!(Json::parse(r#"{} {}"#), Err(JsonFault::Syntax));
        assert_eq!(Json::parse("This is not a json document"), Err(JsonFault::Syntax));
        assert_eq!(Json::parse(&"[".repeat(10_000)), Err(JsonFault::Syntax));
    }
}
