//! Read access to an event's details by key, whatever holds them: [`Details`] once an event is
//! built, or a line's object where the keys left beside its envelope are the details
//! (`sources::object::Object`, read in place by `shapes::summarize`). Normalizing reads both
//! through this trait, so a value reads the same from either.
//!
//! Each answer is what [`Details`] gives for the same entry: a value given as JSON text (valid,
//! as a parser delimited it, not necessarily canonical) or parsed reads as its canonical text
//! would.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::details::{string, Part};
use super::{value_i64, value_text, Details};

/// A value read, not written: a text (borrowed), or any other value — what a line's known key
/// holds (`Object::get`), and what a [`Part`] that is not JSON text reads as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'v> {
    Str(&'v str),
    /// Never a text.
    Other(&'v Value),
}

impl<'v> From<&'v Value> for Val<'v> {
    fn from(v: &'v Value) -> Val<'v> {
        match v {
            Value::String(s) => Val::Str(s),
            other => Val::Other(other),
        }
    }
}

impl<'v> Val<'v> {
    /// What a part that is not JSON text holds (`None` for JSON text).
    fn of(part: Part<'v>) -> Option<Val<'v>> {
        match part {
            Part::Json(_) => None,
            Part::Text(s) => Some(Val::Str(s)),
            Part::Value(v) => Some(Val::from(v)),
        }
    }

    pub fn as_str(self) -> Option<&'v str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Other(_) => None,
        }
    }

    pub fn is_string(self) -> bool {
        matches!(self, Val::Str(_))
    }

    pub fn is_null(self) -> bool {
        matches!(self, Val::Other(Value::Null))
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Val::Str(_) => None,
            Val::Other(v) => v.as_bool(),
        }
    }

    /// The value as a person would write it ([`value_text`]), borrowed when a text.
    pub fn text(self) -> Option<Cow<'v, str>> {
        match self {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Other(v) => value_text(v).map(Cow::Owned),
        }
    }

    /// The value as an integer ([`value_i64`]).
    pub fn i64(self) -> Option<i64> {
        match self {
            Val::Str(s) => s.trim().parse().ok(),
            Val::Other(v) => value_i64(v),
        }
    }
}

/// See the module documentation. Implementors give [`Fields::part`] and [`Fields::to_details`];
/// [`Details`] answers the rest itself.
pub trait Fields {
    /// The value of `key`, as written or parsed.
    fn part(&self, key: &str) -> Option<Part<'_>>;

    /// Every entry, as details (`None` for values nested deeper than JSON is read).
    fn to_details(&self) -> Option<Details>;

    /// A value's canonical JSON text.
    fn raw(&self, key: &str) -> Option<Cow<'_, str>> {
        Some(match self.part(key)? {
            Part::Json(raw) => canonical(raw.trim_ascii()),
            Part::Text(s) => Cow::Owned(Value::from(s).to_string()),
            Part::Value(v) => Cow::Owned(v.to_string()),
        })
    }

    /// A value, parsed.
    fn get(&self, key: &str) -> Option<Value> {
        match self.part(key)? {
            Part::Json(raw) => serde_json::from_str(raw).ok(),
            Part::Text(s) => Some(Value::from(s)),
            Part::Value(v) => Some(v.clone()),
        }
    }

    /// A text value (not a number or anything else written as text).
    fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.part(key)? {
            Part::Json(raw) => string(raw.trim_ascii()),
            read => Val::of(read)?.as_str().map(Cow::Borrowed),
        }
    }

    /// A value as a person would write it ([`Details::text_ref`]).
    fn text_ref(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.part(key)? {
            Part::Json(raw) => match raw.trim_ascii() {
                "null" => None,
                raw if raw.starts_with('"') => string(raw),
                raw => Some(canonical(raw)),
            },
            read => Val::of(read)?.text(),
        }
    }

    /// [`Fields::text_ref`], owned.
    fn text(&self, key: &str) -> Option<String> {
        self.text_ref(key).map(Cow::into_owned)
    }

    /// A value as an integer, as [`value_i64`] reads it.
    fn i64(&self, key: &str) -> Option<i64> {
        match self.part(key)? {
            Part::Json(raw) => {
                let raw = raw.trim_ascii();
                match raw.as_bytes().first()? {
                    b'"' => string(raw)?.trim().parse().ok(),
                    b'-' | b'0'..=b'9' => raw.parse().ok().or_else(|| value_i64(&serde_json::from_str(raw).ok()?)),
                    _ => None,
                }
            }
            read => Val::of(read)?.i64(),
        }
    }

    fn bool(&self, key: &str) -> Option<bool> {
        match self.part(key)? {
            Part::Json(raw) => match raw.trim_ascii() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            read => Val::of(read)?.as_bool(),
        }
    }
}

impl Fields for Details {
    fn part(&self, key: &str) -> Option<Part<'_>> {
        Details::raw(self, key).map(Part::Json)
    }

    fn to_details(&self) -> Option<Details> {
        Some(self.clone())
    }

    fn raw(&self, key: &str) -> Option<Cow<'_, str>> {
        Details::raw(self, key).map(Cow::Borrowed)
    }

    fn get(&self, key: &str) -> Option<Value> {
        Details::get(self, key)
    }

    fn str(&self, key: &str) -> Option<Cow<'_, str>> {
        Details::str(self, key)
    }

    fn text_ref(&self, key: &str) -> Option<Cow<'_, str>> {
        Details::text_ref(self, key)
    }

    fn i64(&self, key: &str) -> Option<i64> {
        Details::i64(self, key)
    }

    fn bool(&self, key: &str) -> Option<bool> {
        Details::bool(self, key)
    }
}

/// Two holders are equal when they hold the same entries.
impl PartialEq for dyn Fields + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.to_details() == other.to_details()
    }
}

impl fmt::Debug for dyn Fields + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_details() {
            Some(d) => d.fmt(f),
            None => f.write_str("{…nested too deep…}"),
        }
    }
}

/// The canonical text of the valid JSON value `raw`.
fn canonical(raw: &str) -> Cow<'_, str> {
    if super::canonical::is_canonical(raw) {
        Cow::Borrowed(raw)
    } else {
        let value: Value = serde_json::from_str(raw).expect("a parser delimited the value");
        Cow::Owned(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One entry as written, for the defaults to read.
    struct Written(&'static str);

    impl Fields for Written {
        fn part(&self, key: &str) -> Option<Part<'_>> {
            (key == "k").then_some(Part::Json(self.0))
        }

        fn to_details(&self) -> Option<Details> {
            Details::from_json(&format!(r#"{{"k":{}}}"#, self.0)).ok()
        }
    }

    /// One text entry, between its quotes (without escapes).
    struct Plain(&'static str);

    impl Fields for Plain {
        fn part(&self, key: &str) -> Option<Part<'_>> {
            (key == "k").then_some(Part::Text(self.0))
        }

        fn to_details(&self) -> Option<Details> {
            Details::from_parts(vec![("k".into(), Part::Text(self.0))]).ok()
        }
    }

    /// One entry parsed.
    struct Parsed(Value);

    impl Fields for Parsed {
        fn part(&self, key: &str) -> Option<Part<'_>> {
            (key == "k").then_some(Part::Value(&self.0))
        }

        fn to_details(&self) -> Option<Details> {
            Some(Details::from_map(&serde_json::Map::from_iter([("k".to_string(), self.0.clone())])))
        }
    }

    /// Whatever the value and however it is written, the defaults answer as the details holding it do.
    #[test]
    fn values_written_or_parsed_read_as_details_read_them() {
        for raw in [
            r#""plain""#,
            r#""esc\"aped \u0041""#,
            r#"" 42 ""#,
            r#""""#,
            "null",
            "true",
            "false",
            "42",
            "-7",
            "1.0",
            "1E3",
            "1.5",
            "18446744073709551616",
            "-0",
            r#"{"b":1,"a":[1, 2]}"#,
            r#"[ "x" , {"y":null} ]"#,
            "{}",
        ] {
            let details = Details::from_json(&format!(r#"{{"k":{raw}}}"#)).unwrap();
            let value: Value = serde_json::from_str(raw).unwrap();
            for (holder, name) in [(&Written(raw) as &dyn Fields, "written"), (&Parsed(value.clone()), "parsed")] {
                let at = |what| format!("{what} of {raw} {name}");
                assert_eq!(holder.raw("k"), details.raw("k").map(Cow::Borrowed), "{}", at("raw"));
                assert_eq!(holder.get("k"), details.get("k"), "{}", at("get"));
                assert_eq!(holder.str("k"), details.str("k"), "{}", at("str"));
                assert_eq!(holder.text_ref("k"), details.text_ref("k"), "{}", at("text_ref"));
                assert_eq!(holder.text("k"), details.text("k"), "{}", at("text"));
                assert_eq!(holder.i64("k"), details.i64("k"), "{}", at("i64"));
                assert_eq!(holder.bool("k"), details.bool("k"), "{}", at("bool"));
                assert_eq!(holder.text("other"), None);
                assert_eq!(holder, &details as &dyn Fields, "{}", at("entries"));
            }
        }
        for text in ["plain", " 42 ", "", "-7", "true", "null", "émoji"] {
            let details = Details::from_map(&serde_json::Map::from_iter([("k".to_string(), json!(text))]));
            let holder = &Plain(text) as &dyn Fields;
            assert_eq!(holder.raw("k"), details.raw("k").map(Cow::Borrowed), "{text}");
            assert_eq!(holder.get("k"), details.get("k"), "{text}");
            assert_eq!(holder.str("k"), details.str("k"), "{text}");
            assert_eq!(holder.text_ref("k"), details.text_ref("k"), "{text}");
            assert_eq!(holder.i64("k"), details.i64("k"), "{text}");
            assert_eq!(holder.bool("k"), details.bool("k"), "{text}");
            assert_eq!(holder, &details as &dyn Fields, "{text}");
        }
        assert_eq!(Parsed(json!(5)).i64("k"), Some(5));
        assert_ne!(&Parsed(json!(5)) as &dyn Fields, &Parsed(json!(6)) as &dyn Fields);
        assert_eq!(format!("{:?}", &Parsed(json!("x")) as &dyn Fields), r#"{"k":"x"}"#);
    }
}
