//! An event's details: the keys and values its source carried beyond the envelope, kept as the
//! canonical JSON text of the object (keys sorted, compact — exactly what `serde_json` writes for
//! the same `Map<String, Value>`) with the place of each entry, instead of a tree of values.
//!
//! A tree cost an allocation per key and per text value, on every event, to be walked again when
//! written out and freed once; most events are read for a few of their keys. Here an event's
//! details are one text and one index; a value is parsed when it is asked for. Values the source
//! wrote canonically (texts without escapes, integers, `true`, `false`, `null`, and objects and
//! lists of those with keys in order) are copied as they stand; any other is parsed and written
//! again, so the text is the canonical one whatever the source's spacing, escapes or number
//! spelling.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// See the module documentation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The canonical text of the object; empty (not `{}`) when there are no entries.
    text: String,
    /// The entries in key order.
    entries: Vec<Entry>,
    /// Whether some key is escaped in `text` (lookups then compare decoded keys).
    escaped_keys: bool,
    /// A bit per key ([`key_bit`]): most keys asked for are not there, and most are told so here.
    keys: [u64; 4],
}

/// Where an entry is in the text: its key between the quotes at `key..key_end`, its value from
/// `key_end + 2` (after `":`) to `end`; whether the value is a text without escapes (read as it
/// stands).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u32,
    key_end: u32,
    end: u32,
    /// The key's [`signature`].
    sig: u32,
    plain_text: bool,
}

impl Entry {
    /// The entry whose key is at `key..key_end` of the details' `text` and whose value ends at `end`.
    #[inline]
    fn at(text: &[u8], key: usize, key_end: usize, end: usize, plain_text: bool) -> Entry {
        Entry {
            key: to_u32(key),
            key_end: to_u32(key_end),
            end: to_u32(end),
            sig: signature(&text[key..key_end]),
            plain_text,
        }
    }
}

/// A key's length and three of its bytes: keys that differ mostly differ here.
fn signature(key: &[u8]) -> u32 {
    match key {
        [] => 0,
        [first, .., last] | [first @ last] => {
            (key.len() as u32) << 24 | u32::from(*first) << 16 | u32::from(key[key.len() / 2]) << 8 | u32::from(*last)
        }
    }
}

/// A key's word and bit in [`Details::keys`].
fn key_bit(key: &[u8]) -> (usize, u64) {
    let h = match key {
        [] => 0,
        [first, .., last] | [first @ last] => key.len() * 31 + usize::from(*first) * 7 + usize::from(*last) * 3,
    };
    ((h / 64) % 4, 1 << (h % 64))
}

/// A value to put in details: JSON text (valid, as a parser delimited it), a text without
/// escapes or control characters (the content between the quotes), or a parsed value.
pub enum Part<'a> {
    Json(&'a str),
    Text(&'a str),
    Value(&'a Value),
}

impl Details {
    pub fn new() -> Details {
        Details::default()
    }

    /// Details of `parts`; a repeated key keeps its last value (as a `Map` built in that order).
    /// Fails only for JSON text a value cannot be read from (nested deeper than `serde_json`
    /// reads: its parser delimits values of any depth).
    pub fn from_parts<'a>(mut parts: Vec<(Cow<'a, str>, Part<'a>)>) -> Result<Details, serde_json::Error> {
        // Sources mostly write their keys in order already. Stable: among equal keys the last
        // given stays last, and is the one kept.
        if !parts.windows(2).all(|w| w[0].0 < w[1].0) {
            parts.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let n = parts.len();
        // Room for every entry as given (`"key":value,`): one allocation whatever the size.
        let room: usize = parts
            .iter()
            .map(|(k, v)| k.len() + 4 + if let Part::Json(raw) | Part::Text(raw) = v { raw.len() + 2 } else { 16 })
            .sum();
        let mut d = Details {
            text: String::with_capacity(room + 1),
            entries: Vec::with_capacity(n),
            escaped_keys: false,
            keys: [0; 4],
        };
        for (i, (key, value)) in parts.iter().enumerate() {
            if i + 1 < n && parts[i + 1].0 == *key {
                continue;
            }
            d.push(key, value)?;
        }
        if !d.entries.is_empty() {
            d.text.push('}');
        }
        Ok(d)
    }

    /// Details of a map.
    pub fn from_map(map: &Map<String, Value>) -> Details {
        Details::from_parts(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Part::Value(v))).collect())
            .expect("values are written, not read")
    }

    /// Details of a JSON object's text, or the parser's error when it is not one.
    pub fn from_json(text: &str) -> Result<Details, serde_json::Error> {
        if let Some(d) = Details::canonical(text) {
            return Ok(d);
        }
        let RawEntries(parts) = serde_json::from_str(text)?;
        Details::from_parts(parts.into_iter().map(|(k, v)| (k, Part::Json(v.get()))).collect())
    }

    /// Details of an object's text that is already canonical (see [`super::canonical`]): the
    /// text copied and its entries found in one pass, instead of parsing it into entries and
    /// writing each again (most sources write details compact, some in key order).
    fn canonical(text: &str) -> Option<Details> {
        Details::canonical_at_start(text).filter(|(_, end)| *end == text.len()).map(|(d, _)| d)
    }

    /// The details of the canonical object `text` starts with, and where it ends; `None` when
    /// it does not start with one (a line's reader takes them in its own pass this way).
    pub fn canonical_at_start(text: &str) -> Option<(Details, usize)> {
        thread_local! {
            /// The entries found so far, copied out at their number once the object ends: one
            /// allocation instead of one for each doubling of a list grown entry by entry.
            static ENTRIES: std::cell::RefCell<Vec<Entry>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        ENTRIES.with_borrow_mut(|entries| {
            entries.clear();
            let mut keys = [0; 4];
            let b = text.as_bytes();
            let end = super::canonical::object_at_start(text, |key, key_end, end| {
                let (word, bit) = key_bit(&b[key..key_end]);
                keys[word] |= bit;
                entries.push(Entry::at(b, key, key_end, end, b[key_end + 2] == b'"'));
            })?;
            Some(match entries.is_empty() {
                true => (Details::new(), end),
                false => {
                    let (text, entries) = (text[..end].to_string(), entries.to_vec());
                    (Details { text, entries, escaped_keys: false, keys }, end)
                }
            })
        })
    }

    /// Append an entry (keys come in order, each once).
    fn push(&mut self, key: &str, value: &Part) -> Result<(), serde_json::Error> {
        self.text.push_str(if self.entries.is_empty() { "{\"" } else { ",\"" });
        let start = self.text.len();
        if !needs_escape(key) {
            self.text.push_str(key);
            self.text.push_str("\":");
        } else {
            self.text.truncate(start - 1);
            self.text.push_str(&serde_json::to_string(key).expect("a string serializes"));
            self.text.push(':');
            self.escaped_keys = true;
        }
        let (word, bit) = key_bit(key.as_bytes());
        self.keys[word] |= bit;
        let key_end = self.text.len() - 2;
        let plain_text = match value {
            Part::Json(raw) => write_canonical(raw.trim_ascii(), &mut self.text)?,
            Part::Text(s) => {
                self.text.push('"');
                self.text.push_str(s);
                self.text.push('"');
                true
            }
            Part::Value(Value::String(s)) if !needs_escape(s) => {
                self.text.push('"');
                self.text.push_str(s);
                self.text.push('"');
                true
            }
            Part::Value(v) => {
                self.text.push_str(&serde_json::to_string(v).expect("a value serializes"));
                false
            }
        };
        self.entries.push(Entry::at(self.text.as_bytes(), start, key_end, self.text.len(), plain_text));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The canonical JSON text of the object (`{}` when empty), without a copy.
    pub fn into_json(self) -> String {
        if self.text.is_empty() {
            "{}".to_string()
        } else {
            self.text
        }
    }

    /// The canonical JSON text of the object (`{}` when empty).
    pub fn as_json(&self) -> &str {
        if self.text.is_empty() {
            "{}"
        } else {
            &self.text
        }
    }

    /// An entry's key as written (escaped when it needed to be).
    fn written_key(&self, e: &Entry) -> &str {
        &self.text[e.key as usize..e.key_end as usize]
    }

    fn key_of(&self, e: &Entry) -> Cow<'_, str> {
        let written = self.written_key(e);
        if self.escaped_keys && written.contains('\\') {
            let quoted = &self.text[e.key as usize - 1..e.key_end as usize + 1];
            Cow::Owned(serde_json::from_str(quoted).expect("keys are written as JSON strings"))
        } else {
            Cow::Borrowed(written)
        }
    }

    fn raw_of(&self, e: &Entry) -> &str {
        &self.text[e.key_end as usize + 2..e.end as usize]
    }

    fn find(&self, key: &str) -> Option<&Entry> {
        if self.escaped_keys {
            return self.entries.iter().find(|e| self.key_of(e) == key);
        }
        let (word, bit) = key_bit(key.as_bytes());
        if self.keys[word] & bit == 0 {
            return None;
        }
        // A scan of a few dozen signatures beats a binary search's text comparisons.
        let text = self.text.as_bytes();
        let key = key.as_bytes();
        let sig = signature(key);
        self.entries
            .iter()
            .find(|e| e.sig == sig && super::canonical::same(&text[e.key as usize..e.key_end as usize], key))
    }

    /// A value's canonical JSON text.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.find(key).map(|e| self.raw_of(e))
    }

    /// A value, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.raw(key).map(parse)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// A text value (not a number or anything else written as text).
    pub fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.find(key).and_then(|e| self.str_of(e))
    }

    fn str_of(&self, e: &Entry) -> Option<Cow<'_, str>> {
        let raw = self.raw_of(e);
        if e.plain_text {
            Some(Cow::Borrowed(&raw[1..raw.len() - 1]))
        } else {
            string(raw)
        }
    }

    /// A value as a person would write it: texts unquoted, `null` as nothing, anything else as
    /// its JSON text (what [`super::value_text`] gives for the same value).
    pub fn text(&self, key: &str) -> Option<String> {
        self.text_ref(key).map(Cow::into_owned)
    }

    /// [`Details::text`], borrowed where it can be.
    pub fn text_ref(&self, key: &str) -> Option<Cow<'_, str>> {
        let e = self.find(key)?;
        match self.raw_of(e) {
            "null" => None,
            raw if raw.starts_with('"') => self.str_of(e),
            raw => Some(Cow::Borrowed(raw)),
        }
    }

    /// A value as an integer, as [`super::value_i64`] reads it.
    pub fn i64(&self, key: &str) -> Option<i64> {
        let e = self.find(key)?;
        let raw = self.raw_of(e);
        match raw.as_bytes()[0] {
            b'"' => self.str_of(e)?.trim().parse().ok(),
            b'-' | b'0'..=b'9' => raw.parse().ok().or_else(|| super::value_i64(&parse(raw))),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Whether a value is present and not `null`.
    pub fn has_value(&self, key: &str) -> bool {
        self.raw(key).is_some_and(|r| r != "null")
    }

    /// The entries in key order: key and canonical JSON text of the value.
    pub fn iter_raw(&self) -> impl Iterator<Item = (Cow<'_, str>, &str)> + '_ {
        self.entries.iter().map(|e| (self.key_of(e), self.raw_of(e)))
    }

    /// The entries in key order, values parsed.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, Value)> + '_ {
        self.iter_raw().map(|(k, raw)| (k, parse(raw)))
    }

    pub fn to_map(&self) -> Map<String, Value> {
        self.iter().map(|(k, v)| (k.into_owned(), v)).collect()
    }

    /// Set `key` to `value` (rewrites the text: for the occasional change, not for building).
    pub fn insert(&mut self, key: &str, value: Value) {
        let mut parts: Vec<(Cow<str>, Part)> = self.iter_raw().map(|(k, raw)| (k, Part::Json(raw))).collect();
        parts.push((Cow::Borrowed(key), Part::Value(&value)));
        *self = Details::from_parts(parts).expect("canonical text reads back");
    }

    /// Remove `key`; its value, if it was there.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let old = self.get(key)?;
        let parts = self.iter_raw().filter(|(k, _)| k != key).map(|(k, raw)| (k, Part::Json(raw))).collect();
        *self = Details::from_parts(parts).expect("canonical text reads back");
        Some(old)
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("details shorter than 4 GiB (lines are at most 64 MiB)")
}

/// Whether JSON writes `s` with escapes.
fn needs_escape(s: &str) -> bool {
    super::canonical::plain_prefix(s.as_bytes()) < s.len()
}

/// A canonical value's JSON text, parsed (it was written by this module: it parses).
fn parse(raw: &str) -> Value {
    serde_json::from_str(raw).expect("details hold valid JSON")
}

/// The text of a JSON string value, borrowed when it has no escapes; `None` for other values.
pub(super) fn string(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.starts_with('"') {
        return None;
    }
    let inner = &raw[1..raw.len() - 1];
    if inner.contains('\\') {
        Some(Cow::Owned(serde_json::from_str(raw).expect("details hold valid JSON")))
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Append the canonical text of the valid JSON value `raw`; whether it is a text without escapes.
fn write_canonical(raw: &str, out: &mut String) -> Result<bool, serde_json::Error> {
    if super::canonical::is_canonical(raw) {
        out.push_str(raw);
        Ok(raw.starts_with('"'))
    } else {
        let value: Value = serde_json::from_str(raw)?;
        out.push_str(&serde_json::to_string(&value).expect("a value serializes"));
        Ok(matches!(value, Value::String(s) if !needs_escape(&s)))
    }
}

/// serde_json's private name for a value written as it stands: `RawValue` serializes itself as
/// a struct of this name with one field of this name. Details are handed over this way as their
/// canonical text — serde_json's writers copy it (escaping every key and text again cost a tenth
/// of a report's CPU), `to_value` (and so tera) parses it. Only serde_json serializes events here;
/// the test `serialize_writes_the_canonical_text` fails should serde_json ever rename it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for Details {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, self.as_json())?;
        raw.end()
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Details, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(|m| Details::from_map(&m))
    }
}

impl fmt::Debug for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl From<Map<String, Value>> for Details {
    fn from(map: Map<String, Value>) -> Details {
        Details::from_map(&map)
    }
}

/// A JSON object's entries as written: keys (borrowed unless escaped) and values' text.
struct RawEntries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawEntries<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntries<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key_seed(KeyText)? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawEntries(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A key, borrowed from the input unless it had escapes.
pub struct KeyText;

impl<'de> de::DeserializeSeed<'de> for KeyText {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(key))
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key.to_string()))
    }
    fn visit_string<E: de::Error>(self, key: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key))
    }
}

#[cfg(test)]
mod tests {
    use super::super::canonical::tests::json_value;
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = r#"{ "z": 1.50, "a\u0041": "x\/y", "n": null, "list": [1, {"b": 2, "a": "é"}],
        "big": 123456789012345678901, "neg": -0, "t": true, "s": "plain", "i": -42, "z": "last" }"#;

    #[test]
    fn text_is_what_serde_json_writes_for_the_map() {
        let d = Details::from_json(SAMPLE).unwrap();
        let map: Map<String, Value> = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(d.as_json(), serde_json::to_string(&map).unwrap());
        assert_eq!(
            d.as_json(),
            r#"{"aA":"x/y","big":1.2345678901234568e+20,"i":-42,"list":[1,{"a":"é","b":2}],"n":null,"neg":-0.0,"s":"plain","t":true,"z":"last"}"#
        );
        assert_eq!(serde_json::to_string(&d).unwrap(), d.as_json());
        assert_eq!(Details::from_map(&map), d);
        assert_eq!(d.to_map(), map);
        assert_eq!(d.len(), 9);
        assert_eq!(Details::new().as_json(), "{}");
        assert_eq!(serde_json::to_string(&Details::new()).unwrap(), "{}");
    }

    #[test]
    fn serialize_writes_the_canonical_text() {
        let d = Details::from_json(SAMPLE).unwrap();
        let map: Map<String, Value> = serde_json::from_str(SAMPLE).unwrap();
        // Inside a record, as the encoders write it: the text as it stands.
        let record = serde_json::json!({ "details": &d, "id": "e1" });
        assert_eq!(serde_json::to_value(&d).unwrap(), Value::Object(map.clone()));
        assert_eq!(record["details"], Value::Object(map));
        let mut out = Vec::new();
        serde_json::to_writer(&mut out, &(1, &d, &Details::new())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"[1,{"aA":"x/y","big":1.2345678901234568e+20,"i":-42,"list":[1,{"a":"é","b":2}],"n":null,"neg":-0.0,"s":"plain","t":true,"z":"last"},{}]"#
        );
        // A pretty writer copies the text compact: valid JSON, the same value.
        let pretty = serde_json::to_string_pretty(&d).unwrap();
        assert_eq!(pretty, d.as_json());
    }

    #[test]
    fn lookups_read_as_the_value_helpers_do() {
        let d = Details::from_json(SAMPLE).unwrap();
        assert_eq!(d.str("aA").as_deref(), Some("x/y"));
        assert_eq!(d.str("s"), Some(Cow::Borrowed("plain")));
        assert_eq!(d.str("i"), None);
        assert_eq!(d.text("i").as_deref(), Some("-42"));
        assert_eq!(d.text("n"), None);
        assert_eq!(d.text("list").as_deref(), Some(r#"[1,{"a":"é","b":2}]"#));
        assert_eq!(d.i64("i"), Some(-42));
        assert_eq!(d.i64("t"), None);
        assert_eq!(d.bool("t"), Some(true));
        assert!(d.contains_key("n") && !d.has_value("n") && d.has_value("t"));
        assert_eq!(d.get("list").unwrap()[1]["a"], "é");
        assert_eq!(d.raw("missing"), None);
        let numeric = Details::from_json(r#"{"a":" 12 ","b":1e3,"c":1.5,"d":"x"}"#).unwrap();
        assert_eq!(
            [numeric.i64("a"), numeric.i64("b"), numeric.i64("c"), numeric.i64("d")],
            [Some(12), Some(1000), None, None]
        );
    }

    #[test]
    fn escaped_keys_are_found_and_written_escaped() {
        let d = Details::from_json(r#"{"b":1,"a\"q":2,"a\\":3,"tab\t":4}"#).unwrap();
        assert_eq!(d.as_json(), r#"{"a\"q":2,"a\\":3,"b":1,"tab\t":4}"#);
        assert_eq!(d.i64("a\"q"), Some(2));
        assert_eq!(d.i64("a\\"), Some(3));
        assert_eq!(d.i64("tab\t"), Some(4));
        assert_eq!(d.i64("b"), Some(1));
        let keys: Vec<String> = d.iter_raw().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(keys, ["a\"q", "a\\", "b", "tab\t"]);
    }

    #[test]
    fn insert_and_remove_keep_the_text_canonical() {
        let mut d = Details::from_json(r#"{"b":1,"d":2}"#).unwrap();
        d.insert("c", Value::from("x"));
        d.insert("b", Value::from(5));
        assert_eq!(d.as_json(), r#"{"b":5,"c":"x","d":2}"#);
        assert_eq!(d.remove("c"), Some(Value::from("x")));
        assert_eq!(d.remove("c"), None);
        assert_eq!(d.as_json(), r#"{"b":5,"d":2}"#);
        d.remove("b");
        d.remove("d");
        assert!(d.is_empty());
        assert_eq!(d, Details::new());
    }

    /// What `from_json` gives without its one-pass path for canonical text.
    fn rewritten(text: &str) -> Details {
        let RawEntries(parts) = serde_json::from_str(text).unwrap();
        Details::from_parts(parts.into_iter().map(|(k, v)| (k, Part::Json(v.get()))).collect()).unwrap()
    }

    #[test]
    fn canonical_text_is_taken_as_it_stands() {
        for text in [
            r#"{"a":{"x":[1,2]},"bb":"t","c":null,"d":-3,"e":true,"f":[]}"#,
            "{\"\":1,\"z\":\"é\u{7f}\"}",
            r#"{"author_class":"User","user":{"id":1037,"username":"liam"},"workflow_id":710}"#,
            r#"{"duration":3711.0,"rate":-1.5e-7,"size":1e+300}"#,
            "{}",
        ] {
            let fast = Details::canonical(text).unwrap_or_else(|| panic!("{text} is canonical"));
            assert_eq!(fast, rewritten(text), "{text}");
            assert_eq!(fast.as_json(), if text == "{}" { "{}" } else { text });
        }
        assert_eq!(Details::canonical("{}"), Some(Details::new()));
        for text in [r#"{"b":1,"a":2}"#, r#"{"a":1.50}"#, r#"{"a":"x\"y"}"#, r#"{"a": 1}"#, r#"{"a":1"#] {
            assert_eq!(Details::canonical(text), None, "{text}");
        }
    }

    #[test]
    fn not_an_object_is_an_error() {
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(1000), "]".repeat(1000));
        assert_eq!(Details::from_json(&deep).unwrap_err().to_string(), "recursion limit exceeded at line 1 column 128");
        assert!(Details::from_json("[1]").is_err());
        assert!(Details::from_json(r#"{"a":1} x"#).is_err());
        assert!(Details::from_json(r#"{"a":}"#).is_err());
    }

    proptest! {
        /// Whatever the spelling (pretty or compact, escaped or not), the text is the map's.
        #[test]
        fn any_object_reads_as_serde_json_writes_it(
            entries in prop::collection::vec(("[a-d\"\\\\\u{1}]{0,3}", json_value()), 0..8),
            pretty in any::<bool>(),
        ) {
            let map: Map<String, Value> = entries.into_iter().collect();
            let written = if pretty {
                serde_json::to_string_pretty(&map).unwrap()
            } else {
                serde_json::to_string(&map).unwrap()
            };
            let d = Details::from_json(&written).unwrap();
            prop_assert_eq!(&d, &rewritten(&written));
            prop_assert_eq!(d.as_json(), serde_json::to_string(&map).unwrap());
            prop_assert_eq!(serde_json::to_string(&d).unwrap(), serde_json::to_string(&map).unwrap());
            prop_assert_eq!(d.to_map(), map.clone());
            for (k, v) in &map {
                prop_assert_eq!(d.get(k), Some(v.clone()));
                prop_assert_eq!(d.text(k), crate::model::value_text(v));
            }
        }
    }
}
