//! A log line's top-level JSON object as the shapes read it: the keys they look for in fixed
//! slots, every other key in a map.
//!
//! Parsing a line into a `Map<String, Value>` allocated every key, and the shapes then removed
//! most of them again (the envelope: time, author, entity, target, …) and copied their texts.
//! Here a known key costs no allocation and taking its value moves it; what is left becomes the
//! event's details exactly as before ([`Object::into_map`]).

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The keys with a slot: those some shape reads at the top level of a record.
const KNOWN: [&str; 25] = [
    "action",
    "actor",
    "author_id",
    "author_name",
    "correlation_id",
    "created_at",
    "details",
    "entity_id",
    "entity_path",
    "entity_type",
    "error",
    "event_name",
    "event_type",
    "id",
    "ip_address",
    "outcome",
    "rejection_reason",
    "schema",
    "source_ip",
    "target",
    "target_details",
    "target_id",
    "target_type",
    "time",
    "timestamp",
];

/// A key's slot: looked up for every key of every line, so by a hash of its length and two of
/// its bytes into a table built at compile time (a key added to [`KNOWN`] that shares a place
/// with another fails the build: change the multiplier), then one comparison.
fn slot(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let i = usize::from(PLACES[place(b)]);
    (i > 0 && KNOWN[i - 1] == key).then(|| i - 1)
}

const fn place(b: &[u8]) -> usize {
    (b.len() + b[0] as usize * 59 + b[b.len() - 2] as usize) % 64
}

/// Place → slot + 1 (0: no known key there).
const PLACES: [u8; 64] = {
    let mut table = [0u8; 64];
    let mut i = 0;
    while i < KNOWN.len() {
        let at = place(KNOWN[i].as_bytes());
        assert!(table[at] == 0, "two known keys share a place");
        table[at] = i as u8 + 1;
        i += 1;
    }
    table
};

/// A JSON object: the same keys and values as the `Map` it replaces.
#[derive(Debug, Default)]
pub struct Object {
    slots: [Option<Value>; KNOWN.len()],
    rest: Map<String, Value>,
}

impl Object {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match slot(key) {
            Some(i) => self.slots[i].as_ref(),
            None => self.rest.get(key),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match slot(key) {
            Some(i) => self.slots[i].take(),
            None => self.rest.remove(key),
        }
    }

    /// Every key left, as a map.
    pub fn into_map(self) -> Map<String, Value> {
        let mut map = self.rest;
        for (key, value) in KNOWN.iter().zip(self.slots) {
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        }
        map
    }

    /// The entries in key order (the order a `Map` keeps and serializes them in).
    fn entries(&self) -> Vec<(&str, &Value)> {
        let slots = KNOWN.iter().zip(&self.slots).filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
        let mut all: Vec<(&str, &Value)> = slots.chain(self.rest.iter().map(|(k, v)| (k.as_str(), v))).collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all
    }
}

/// Serializes exactly as the `Map` of the same entries (keys sorted, the canonical text).
impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries();
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A parsed line: an object, or any other JSON value (which no shape accepts).
// Lives on the parser's stack for one line: boxing the object would cost an allocation a line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Line {
    Object(Object),
    NotAnObject,
}

impl<'de> de::Deserialize<'de> for Line {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Line, D::Error> {
        deserializer.deserialize_any(LineVisitor)
    }
}

struct LineVisitor;

/// Any value that is not an object is read to its end (the input must still be valid JSON) and
/// becomes [`Line::NotAnObject`].
macro_rules! not_an_object {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method<E: de::Error>(self, _: $ty) -> Result<Line, E> {
            Ok(Line::NotAnObject)
        }
    )*};
}

impl<'de> Visitor<'de> for LineVisitor {
    type Value = Line;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    not_an_object!(visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_str(&str));

    fn visit_unit<E: de::Error>(self) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Line::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
        let mut obj = Object::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: Value = map.next_value()?;
            // A repeated key keeps its last value, as a `Map` does.
            match key {
                Key::Slot(i) => obj.slots[i] = Some(value),
                Key::Other(k) => {
                    obj.rest.insert(k, value);
                }
            }
        }
        Ok(Line::Object(obj))
    }
}

enum Key {
    Slot(usize),
    Other(String),
}

/// Reads a key without allocating when it has a slot.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(slot(key).map_or_else(|| Key::Other(key.to_string()), Key::Slot))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Key, E> {
        Ok(slot(&key).map_or(Key::Other(key), Key::Slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_its_slot_and_no_other_key_has_one() {
        for (i, key) in KNOWN.iter().enumerate() {
            assert_eq!(slot(key), Some(i), "{key}");
        }
        for other in ["", "i", "x", "ids", "Id", "time ", "event_nam", "event_namE", "timestamps", "détails"] {
            assert_eq!(slot(other), None, "{other}");
        }
    }

    #[test]
    fn holds_and_writes_what_a_map_would() {
        let text = r#"{"zeta":1,"time":"t","id":"7","details":{"b":2,"a":[1,"x"]},"a\u0063tion":"a","actor":null,"time":"last","":0,"émoji":"é"}"#;
        let Line::Object(mut obj) = serde_json::from_str::<Line>(text).unwrap() else { panic!("an object") };
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&obj).unwrap(), serde_json::to_string(&map).unwrap());
        assert_eq!(
            serde_json::to_string(&obj).unwrap(),
            r#"{"":0,"action":"a","actor":null,"details":{"a":[1,"x"],"b":2},"id":"7","time":"last","zeta":1,"émoji":"é"}"#
        );
        assert_eq!(obj.get("time"), Some(&Value::from("last")));
        assert!(obj.contains_key("actor"), "a null is a value");
        assert_eq!(obj.remove("zeta"), Some(Value::from(1)));
        assert_eq!(obj.remove("id"), Some(Value::from("7")));
        assert_eq!(obj.remove("id"), None);
        let mut left = map;
        left.remove("zeta");
        left.remove("id");
        assert_eq!(obj.into_map(), left);
    }

    #[test]
    fn other_values_are_read_to_their_end() {
        for text in ["[1, {\"a\": [2]}, 3]", "null", "\"audit\"", "12", "-1.5", "true"] {
            assert!(matches!(serde_json::from_str::<Line>(text).unwrap(), Line::NotAnObject), "{text}");
        }
        for (text, error) in [
            ("[1, 2", "EOF while parsing a list at line 1 column 5"),
            ("{\"a\":1,}", "trailing comma at line 1 column 8"),
            ("{\"a\":1} x", "trailing characters at line 1 column 9"),
            ("{1:2}", "key must be a string at line 1 column 2"),
        ] {
            let err = serde_json::from_str::<Line>(text).unwrap_err().to_string();
            assert_eq!(err, serde_json::from_str::<Value>(text).unwrap_err().to_string());
            assert_eq!(err, error);
        }
    }
}
