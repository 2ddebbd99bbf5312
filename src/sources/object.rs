//! A log line's top-level JSON object as the shapes read it: the keys they look for in fixed
//! slots, every other key (and `details`) as the text the line wrote.
//!
//! Parsing a line into a `Map<String, Value>` allocated every key and every text, and the shapes
//! then removed most of them again (the envelope: time, author, entity, target, …) and copied
//! their texts. Here a known key costs no allocation and taking its value moves it; what is left
//! becomes the event's details as one canonical text ([`Object::into_details`]), the same
//! entries the map held.
//!
//! The object is read in one pass of the tool's own ([`Object::scan`]), which leaves to
//! `serde_json` ([`Line`]'s `Deserialize`) only what it does not read itself, and is held to
//! read what `serde_json` reads.

use std::borrow::Cow;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::model::canonical::Scan;
use crate::model::details::{KeyText, Part};
use crate::model::fields::Val;
use crate::model::{Details, Fields};

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
    (i > 0 && crate::model::canonical::same(KNOWN[i - 1].as_bytes(), b)).then(|| i - 1)
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

/// The known keys whose objects are kept as written, not parsed into values (read with
/// [`Object::written`]): the agent audit entry's `actor` and `target`, of which a few fields are
/// read and the target kept in the details (a tree for each cost a tenth of reading those
/// entries).
const WRITTEN: [usize; 2] = [1, 19];
const _: () =
    assert!(matches!(KNOWN[WRITTEN[0]].as_bytes(), b"actor") && matches!(KNOWN[WRITTEN[1]].as_bytes(), b"target"));

/// The place of a slot in [`Object::written`], if its objects are kept as written.
fn written_at(slot: usize) -> Option<usize> {
    WRITTEN.iter().position(|w| *w == slot)
}

/// The slot of `details`, whose value is kept as written (see [`Object`]).
const DETAILS: usize = 6;
const _: () = assert!(matches!(KNOWN[DETAILS].as_bytes(), b"details"));

/// A JSON object: the known keys' values parsed in their slots; `details` and every other key
/// kept as the text the line wrote (validated, not parsed into values): they become the event's
/// [`Details`] without a tree in between.
#[derive(Debug, Default, PartialEq)]
pub struct Object<'a> {
    slots: [Option<Slot<'a>>; KNOWN.len()],
    /// The objects of the [`WRITTEN`] keys, as written (their slot then empty).
    written: [Option<&'a str>; WRITTEN.len()],
    details: Option<&'a str>,
    /// `details` read already, when [`Object::scan`] found it canonical.
    details_read: Option<Details>,
    rest: Vec<(Cow<'a, str>, &'a str)>,
    /// The slots a summary took as the envelope ([`Object::leave_envelope`]): hidden from the
    /// object read as details ([`Fields`]).
    envelope: u32,
}

/// A known key's value: a text without escapes or control characters, borrowed from the line
/// (most known values are: allocating, copying and freeing each was a twentieth of the CPU of
/// `bench/anomalies.sh`), or any value, parsed.
#[derive(Debug)]
enum Slot<'a> {
    Text(&'a str),
    Value(Value),
}

impl Slot<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            Slot::Text(s) => Val::Str(s),
            Slot::Value(v) => Val::from(v),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Slot::Text(s) => Value::from(s),
            Slot::Value(v) => v,
        }
    }

    fn part(&self) -> Part<'_> {
        match self {
            Slot::Text(s) => Part::Text(s),
            Slot::Value(v) => Part::Value(v),
        }
    }
}

/// Equal when they hold the same value, borrowed or parsed.
impl PartialEq for Slot<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.val() == other.val()
    }
}

impl<'a> Object<'a> {
    /// A known key's value (`details`, other keys and the objects kept [written](Object::written)
    /// are not parsed: see [`Object::details_is_object`]).
    pub fn get(&self, key: &str) -> Option<Val<'_>> {
        slot(key).and_then(|i| self.slots[i].as_ref()).map(Slot::val)
    }

    /// The object a [`WRITTEN`] key holds, as written (`None` for any other value).
    pub fn written(&self, key: &str) -> Option<&'a str> {
        slot(key).and_then(written_at).and_then(|w| self.written[w])
    }

    /// Take the object a [`WRITTEN`] key holds, as written, without parsing it (`None`, and the
    /// key left, for any other value).
    pub fn take_written(&mut self, key: &str) -> Option<&'a str> {
        slot(key).and_then(written_at).and_then(|w| self.written[w].take())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        match slot(key) {
            Some(DETAILS) => self.details.is_some(),
            Some(i) => self.slots[i].is_some() || written_at(i).is_some_and(|w| self.written[w].is_some()),
            None => self.rest.iter().any(|(k, _)| k == key),
        }
    }

    /// Take a known key's value (an object kept as written is parsed); any other key is dropped
    /// (its value is not read).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match slot(key) {
            Some(DETAILS) => {
                self.details = None;
                self.details_read = None;
                None
            }
            Some(i) => match written_at(i).and_then(|w| self.written[w].take()) {
                // Valid JSON, delimited by the parser; only nesting deeper than serde_json reads
                // fails here, and `Object::written` reads such an object.
                Some(raw) => serde_json::from_str(raw).ok(),
                None => self.slots[i].take().map(Slot::into_value),
            },
            None => {
                self.rest.retain(|(k, _)| k != key);
                None
            }
        }
    }

    /// The slots of `keys` (known keys), as bits for [`Object::only`].
    pub fn slots_of(keys: &[&str]) -> u32 {
        keys.iter().map(|k| 1 << slot(k).unwrap_or_else(|| panic!("{k} is a known key"))).sum()
    }

    /// Whether the only keys are `details` and those of the slots `slots` ([`Object::slots_of`]).
    pub fn only(&self, slots: u32) -> bool {
        self.rest.is_empty()
            && self.written.iter().all(Option::is_none)
            && self.slots.iter().enumerate().all(|(i, v)| v.is_none() || slots & 1 << i != 0)
    }

    /// `details` when it is an object the line's reader took in its pass (canonical) or
    /// [read](Object::read_details) since, without taking it.
    pub fn details_read(&self) -> Option<&Details> {
        self.details_read.as_ref().filter(|_| self.details_is_object())
    }

    /// Read `details` now when it is an object the line's reader did not take in its pass (not
    /// canonical), for [`Object::details_read`]; `None` when it is no object or cannot be read.
    pub fn read_details(&mut self) -> Option<()> {
        let text = self.details.filter(|d| d.starts_with('{'))?;
        if self.details_read.is_none() {
            self.details_read = Some(Details::from_json(text).ok()?);
        }
        Some(())
    }

    pub fn details_is_object(&self) -> bool {
        self.details.is_some_and(|d| d.starts_with('{'))
    }

    /// Take the text of `details`.
    pub fn take_details(&mut self) -> Option<&'a str> {
        self.details_read = None;
        self.details.take()
    }

    /// Take `details` when it is an object, as the event's details (what [`Details::from_json`]
    /// makes of its text).
    pub fn take_details_object(&mut self) -> Option<Result<Details, serde_json::Error>> {
        let text = self.details.take_if(|d| d.starts_with('{'))?;
        Some(self.details_read.take().map_or_else(|| Details::from_json(text), Ok))
    }

    /// Whether no key is left.
    pub fn is_empty(&self) -> bool {
        self.details.is_none() && self.only_details()
    }

    /// Whether no key is left but `details`, if that.
    pub fn only_details(&self) -> bool {
        self.rest.is_empty() && self.slots.iter().all(Option::is_none) && self.written.iter().all(Option::is_none)
    }

    /// Read the object as the details of a summary whose envelope is the keys of `slots`
    /// ([`Object::slots_of`]): as [`Fields`], they are not there.
    pub fn leave_envelope(&mut self, slots: u32) -> &Self {
        self.envelope = slots;
        self
    }

    fn shown(&self, slot: usize) -> bool {
        self.envelope & 1 << slot == 0
    }

    fn parts(&self) -> Vec<(Cow<'_, str>, Part<'_>)> {
        let slots = KNOWN
            .iter()
            .zip(&self.slots)
            .enumerate()
            .filter(|(i, _)| self.shown(*i))
            .filter_map(|(_, (k, v))| Some((Cow::Borrowed(*k), v.as_ref()?.part())));
        let written = WRITTEN
            .iter()
            .zip(self.written)
            .filter(|(i, _)| self.shown(**i))
            .filter_map(|(i, v)| Some((Cow::Borrowed(KNOWN[*i]), Part::Json(v?))));
        let details = self.details.filter(|_| self.shown(DETAILS)).map(|d| (Cow::Borrowed("details"), Part::Json(d)));
        let rest = self.rest.iter().map(|(k, v)| (Cow::Borrowed(&**k), Part::Json(v)));
        slots.chain(written).chain(details).chain(rest).collect()
    }

    /// Every key left, as details (an error for values nested deeper than JSON is read).
    pub fn to_details(&self) -> Result<Details, serde_json::Error> {
        Details::from_parts(self.parts())
    }

    /// Every key left, as a map.
    pub fn to_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        Ok(self.to_details()?.to_map())
    }

    /// The canonical text of the object (keys sorted, compact: what `serde_json` writes for the
    /// `Map` of the same entries), which was `written` so: that text itself when it is canonical
    /// already (see [`crate::model::canonical`]), else written again.
    pub fn canonical<'w>(&self, written: &'w str) -> Result<Cow<'w, str>, serde_json::Error> {
        if crate::model::canonical::is_canonical(written) {
            return Ok(Cow::Borrowed(written));
        }
        Ok(Cow::Owned(Details::from_parts(self.parts())?.into_json()))
    }
}

/// The keys left beside the envelope ([`Object::leave_envelope`]), read as details are (the
/// same entries [`Object::to_details`] makes of them).
impl Fields for Object<'_> {
    fn part(&self, key: &str) -> Option<Part<'_>> {
        match slot(key) {
            Some(i) if !self.shown(i) => None,
            Some(DETAILS) => self.details.map(Part::Json),
            Some(i) => match written_at(i).and_then(|w| self.written[w]) {
                Some(raw) => Some(Part::Json(raw)),
                None => self.slots[i].as_ref().map(Slot::part),
            },
            // The last of a key given twice, as in a map.
            None => self.rest.iter().rev().find(|(k, _)| k == key).map(|(_, raw)| Part::Json(raw)),
        }
    }

    fn to_details(&self) -> Option<Details> {
        Object::to_details(self).ok()
    }
}

impl<'a> Object<'a> {
    /// A known key's value (a key given again replaces it).
    fn set(&mut self, slot: usize, value: Value) {
        self.set_slot(slot, Slot::Value(value));
    }

    fn set_slot(&mut self, slot: usize, value: Slot<'a>) {
        if let Some(w) = written_at(slot) {
            self.written[w] = None;
        }
        self.slots[slot] = Some(value);
    }

    /// A [`WRITTEN`] key's object, as written (a key given again replaces it).
    fn set_written(&mut self, slot: usize, raw: &'a str) {
        self.slots[slot] = None;
        self.written[written_at(slot).expect("a key whose objects are kept as written")] = Some(raw);
    }
}

/// A parsed line: an object, or any other JSON value (which no shape accepts).
// Lives on the parser's stack for one line: boxing the object would cost an allocation a line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    Object(Object<'a>),
    NotAnObject,
}

impl<'a> Line<'a> {
    /// Parse `text`, one JSON value: an object in one pass of [`Object::scan`] when it can read
    /// it, else by `serde_json` (which reads any other and tells what is wrong with invalid ones).
    pub fn read(text: &'a str) -> Result<Line<'a>, serde_json::Error> {
        let mut obj = Object::default();
        Ok(if Line::read_into(text, &mut obj)? { Line::Object(obj) } else { Line::NotAnObject })
    }

    /// [`Line::read`] into `obj`, an empty object, where it lies (an object is most of a
    /// kilobyte: one returned was copied again at every step between the line and its event);
    /// whether the line is an object.
    pub fn read_into(text: &'a str, obj: &mut Object<'a>) -> Result<bool, serde_json::Error> {
        if Object::scan_into(text, false, obj).is_some() {
            return Ok(true);
        }
        match serde_json::from_str(text)? {
            Line::Object(read) => {
                *obj = read;
                Ok(true)
            }
            Line::NotAnObject => Ok(false),
        }
    }
}

impl<'a> Object<'a> {
    /// The object `text` holds, read in one pass, or `None` where `serde_json` is left to read it
    /// (what is not an object, what is not valid JSON, a key written with escapes, nesting
    /// deeper than [`MAX_DEPTH`](crate::model::canonical::MAX_DEPTH)): the same object
    /// `serde_json` reads through [`Line`], which the test `the_scan_reads_what_serde_json_reads`
    /// holds it to.
    ///
    /// `serde_json` delimits the values it passes over (`details` and unknown keys, most of a
    /// line's bytes) one byte at a time, and `details` was then read a second time to take it
    /// as it stands ([`Details::from_json`]); here texts go eight bytes at a time.
    pub fn scan(text: &'a str) -> Option<Object<'a>> {
        Object::scan_with(text, false)
    }

    /// [`Object::scan`], or when `glance`, the object a [`Glance`] reads: the values of the keys
    /// it does not keep are checked and passed over.
    fn scan_with(text: &'a str, glance: bool) -> Option<Object<'a>> {
        let mut obj = Object::default();
        Object::scan_into(text, glance, &mut obj)?;
        Some(obj)
    }

    /// [`Object::scan_with`] into `obj`, an empty object (see [`Line::read_into`]). On `None` it
    /// holds part of the object.
    fn scan_into(text: &'a str, glance: bool, obj: &mut Object<'a>) -> Option<()> {
        let mut r = Scan::new(text);
        r.ws();
        r.eat(b'{')?;
        r.ws();
        if r.eat(b'}').is_none() {
            loop {
                let (key, key_end) = r.text()?;
                let key = &text[key..key_end];
                r.ws();
                r.eat(b':')?;
                r.ws();
                let start = r.i;
                match slot(key) {
                    Some(i) if glance && GLANCED & 1 << i == 0 => r.any_value(0)?,
                    None if glance => r.any_value(0)?,
                    Some(DETAILS) if glance => {
                        r.any_value(0)?;
                        obj.details = Some(&text[start..r.i]);
                    }
                    Some(DETAILS) => {
                        // Mostly canonical already, and then taken as it stands in this pass.
                        obj.details_read = match Details::canonical_at_start(&text[start..]) {
                            Some((details, len)) => {
                                r.i = start + len;
                                Some(details)
                            }
                            None => {
                                r.any_value(0)?;
                                None
                            }
                        };
                        obj.details = Some(&text[start..r.i]);
                    }
                    Some(i) if text.as_bytes()[start] == b'{' && written_at(i).is_some() => {
                        r.any_value(0)?;
                        obj.set_written(i, &text[start..r.i]);
                    }
                    Some(i) => {
                        let value = match r.text() {
                            Some((from, to)) => Slot::Text(&text[from..to]),
                            None => Slot::Value({
                                // Numbers, escapes, nested values: as `serde_json` reads them
                                // (integers, most of them, read here the same).
                                r.i = start;
                                r.any_value(0)?;
                                let raw = &text[start..r.i];
                                match integer(raw) {
                                    Some(n) => n,
                                    None => serde_json::from_str(raw).ok()?,
                                }
                            }),
                        };
                        obj.set_slot(i, value);
                    }
                    None => {
                        r.any_value(0)?;
                        obj.rest.push((Cow::Borrowed(key), &text[start..r.i]));
                    }
                }
                r.ws();
                match r.byte()? {
                    b',' => r.ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        r.ws();
        (r.i == text.len()).then_some(())
    }
}

/// A JSON value of up to 18 digits (never out of range), with or without `-`, as `serde_json`
/// reads it: a `u64`, or an `i64` when negative; `None` for anything else — fractions,
/// exponents, `-0` (a float to `serde_json`), other values. `raw` is valid JSON (no `01`).
fn integer(raw: &str) -> Option<Value> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, raw),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    match (negative, n) {
        (false, n) => Some(Value::from(n)),
        (true, 0) => None,
        (true, n) => Some(Value::from(-(n as i64))),
    }
}

impl<'de> de::Deserialize<'de> for Line<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Line<'de>, D::Error> {
        deserializer.deserialize_any(LineVisitor { glance: false })
    }
}

/// A line read only for the keys that tell its shape and time (`schema`, `event_type`,
/// `action`, `details`, `id`, `author_id` and the time keys): every other value is checked and
/// passed over, not kept. What [`Shape`](super::shapes) and [`time_of`](super::shapes::time_of)
/// make of it is what they make of the whole [`Line`].
#[derive(Debug, PartialEq)]
pub struct Glance<'a>(pub Line<'a>);

impl<'a> Glance<'a> {
    /// [`Line::read`] for a glance: in one pass of [`Object::scan`]'s when it can, else by
    /// `serde_json`.
    pub fn read(text: &'a str) -> Result<Glance<'a>, serde_json::Error> {
        match Object::scan_with(text, true) {
            Some(obj) => Ok(Glance(Line::Object(obj))),
            None => serde_json::from_str(text),
        }
    }
}

impl<'de> de::Deserialize<'de> for Glance<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Glance<'de>, D::Error> {
        deserializer.deserialize_any(LineVisitor { glance: true }).map(Glance)
    }
}

/// The slots a [`Glance`] keeps, as bits.
const GLANCED: u32 = {
    let keys = ["schema", "event_type", "action", "details", "id", "author_id", "time", "created_at", "timestamp"];
    let mut bits = 0u32;
    let mut k = 0;
    while k < keys.len() {
        let mut i = 0;
        // A key not in KNOWN runs off its end: the build fails.
        while !(KNOWN[i].len() == keys[k].len() && eq(KNOWN[i].as_bytes(), keys[k].as_bytes())) {
            i += 1;
        }
        bits |= 1 << i;
        k += 1;
    }
    bits
};

const fn eq(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

struct LineVisitor {
    glance: bool,
}

/// Any value that is not an object is read to its end (the input must still be valid JSON) and
/// becomes [`Line::NotAnObject`].
macro_rules! not_an_object {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method<E: de::Error>(self, _: $ty) -> Result<Line<'de>, E> {
            Ok(Line::NotAnObject)
        }
    )*};
}

impl<'de> Visitor<'de> for LineVisitor {
    type Value = Line<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    not_an_object!(visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_str(&str));

    fn visit_unit<E: de::Error>(self) -> Result<Line<'de>, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Line::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line<'de>, A::Error> {
        let mut obj = Object::default();
        while let Some(key) = map.next_key_seed(KeyText)? {
            // A repeated key keeps its last value, as a `Map` does (details keep the last too).
            match slot(&key) {
                Some(i) if self.glance && GLANCED & 1 << i == 0 => _ = map.next_value::<IgnoredAny>()?,
                None if self.glance => _ = map.next_value::<IgnoredAny>()?,
                Some(DETAILS) => obj.details = Some(map.next_value::<&RawValue>()?.get()),
                Some(i) if written_at(i).is_some() => {
                    let raw = map.next_value::<&RawValue>()?.get();
                    match raw.starts_with('{') {
                        true => obj.set_written(i, raw),
                        false => obj.set(i, serde_json::from_str(raw).map_err(de::Error::custom)?),
                    }
                }
                Some(i) => obj.set(i, map.next_value()?),
                None => obj.rest.push((key, map.next_value::<&RawValue>()?.get())),
            }
        }
        Ok(Line::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::canonical::MAX_DEPTH;

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
        let text = r#"{"zeta":1,"time":"t","id":"7","details":{"b":2,"a":[1,"x"]},"a\u0063tion":"a","actor":null,"time":"last","":0,"émoji":"é","zeta":[2]}"#;
        let Line::Object(mut obj) = serde_json::from_str::<Line>(text).unwrap() else { panic!("an object") };
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(obj.canonical(text).unwrap(), serde_json::to_string(&map).unwrap());
        assert_eq!(
            obj.canonical(text).unwrap(),
            r#"{"":0,"action":"a","actor":null,"details":{"a":[1,"x"],"b":2},"id":"7","time":"last","zeta":[2],"émoji":"é"}"#
        );
        assert_eq!(obj.get("time"), Some(Val::Str("last")));
        assert!(obj.contains_key("actor"), "a null is a value");
        assert!(obj.contains_key("zeta") && obj.contains_key("details") && !obj.contains_key("zet"));
        assert!(obj.details_is_object());
        assert_eq!((obj.written("actor"), obj.written("details"), obj.written("zeta")), (None, None, None));
        assert_eq!(obj.remove("id"), Some(Value::from("7")));
        assert_eq!(obj.remove("id"), None);
        assert_eq!(obj.remove("zeta"), None, "dropped, not read");
        assert!(!obj.contains_key("zeta"));
        let mut left = map;
        left.remove("id");
        left.remove("zeta");
        assert_eq!(obj.to_map().unwrap(), left);
    }

    /// The objects of `actor` and `target` are kept as written (the last given), other values
    /// of theirs parsed; either way they are taken, and written into details, as values.
    #[test]
    fn actor_and_target_objects_are_kept_as_written() {
        let text = r#"{"target":"x","actor":{"id":1},"actor":{ "type" : "u" },"target":{"b":1,"a":[]},"target":[2]}"#;
        let Line::Object(mut obj) = Line::read(text).unwrap() else { panic!("an object") };
        assert_eq!(obj.written("actor"), Some(r#"{ "type" : "u" }"#));
        assert_eq!((obj.written("target"), obj.get("target")), (None, Some(Val::Other(&serde_json::json!([2])))));
        assert!(obj.contains_key("actor") && !obj.only_details());
        assert_eq!(obj.canonical(text).unwrap(), r#"{"actor":{"type":"u"},"target":[2]}"#);
        assert_eq!(obj.remove("actor"), Some(serde_json::json!({"type": "u"})));
        assert!(!obj.contains_key("actor") && obj.written("actor").is_none());
        assert_eq!(obj.to_details().unwrap().as_json(), r#"{"target":[2]}"#);
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

    use proptest::strategy::Strategy as _;

    fn serde_reads(text: &str) -> Option<Line<'_>> {
        serde_json::from_str::<Line>(text).ok()
    }

    fn serde_glances(text: &str) -> Option<Glance<'_>> {
        serde_json::from_str::<Glance>(text).ok()
    }

    fn without_read(line: Line) -> Line {
        match line {
            Line::Object(obj) => Line::Object(Object { details_read: None, ..obj }),
            other => other,
        }
    }

    /// [`Object::scan`]'s object as `serde_json` reads it: the details it read in its pass are
    /// checked to be what their text reads as, then left out.
    fn scan(text: &str) -> Option<Line<'_>> {
        let mut obj = Object::scan(text)?;
        if let Some(read) = obj.details_read.take() {
            assert_eq!(read, Details::from_json(obj.details.unwrap()).unwrap(), "{text}");
            assert!(!read.is_empty() || obj.details == Some("{}"), "{text}");
        }
        Some(Line::Object(obj))
    }

    /// Every line of the demo data is read in one pass, to the object `serde_json` reads; so are
    /// lines spaced, escaped and numbered otherwise, and those left to `serde_json` are read as
    /// it reads them.
    #[test]
    fn the_scan_reads_what_serde_json_reads() {
        let (mut n, mut read) = (0, 0);
        for input in crate::sources::demo::inputs() {
            for line in std::io::BufRead::lines(input.open().unwrap()) {
                let line = line.unwrap();
                let scanned = scan(&line).unwrap_or_else(|| panic!("not scanned: {line}"));
                assert_eq!(Some(scanned), serde_reads(&line), "{line}");
                let glance = Object::scan_with(&line, true).map(|o| Glance(Line::Object(o)));
                assert_eq!(glance, serde_glances(&line), "{line}");
                read += usize::from(Object::scan(&line).unwrap().details_read.is_some());
                n += 1;
            }
        }
        assert!(n > 60_000, "{n}");
        assert!(read > 20_000, "details read in the pass: {read}");
        for (text, scanned) in [
            (r#"{}"#, true),
            (" { } ", true),
            (
                r#"{"time" : "t" , "details" : { "b" : [ 1 , 2.5e-3 , -0.0 ] , "a" : "x\u00e9\n" } , "x" : -12E+2 }"#,
                true,
            ),
            (
                r#"{"id":"a\"b","author_id":12345678901234567890,"entity_id":-3,"time":1.5,"zeta":[true,false,null]}"#,
                true,
            ),
            (r#"{"id":"1","id":"2","zz":1,"zz":2,"details":{},"details":null}"#, true),
            (r#"{"author_id":-0,"entity_id":0,"target_id":999999999999999999,"id":-999999999999999999}"#, true),
            (r#"{"author_id":-9223372036854775808,"entity_id":18446744073709551615,"target_id":-1,"id":7}"#, true),
            (r#"{"author_id":-9223372036854775809,"entity_id":18446744073709551616,"id":1E2,"target_id":0.0}"#, true),
            (r#"{"details":{"a":1,"b":{"c":[]}},"details":{"a":"x"},"time":"t"}"#, true),
            (r#"{"details":{"b":1,"a":2},"time":"t"}"#, true),
            (r#"{"details":{"a":1,"b":{"c":[]}}x,"time":"t"}"#, false),
            (r#"{"":0,"a":"","é":"é","😀":{"😀":[]}}"#, true),
            (r#"{"actor":{"type":"poll_cycle","id":"p"},"target":{"b":{"c":[{}]}},"error":"\ud83d\ude00"}"#, true),
            (r#"{"actor":{"id":1},"actor":"a","target":"t","target":{ "z" : {}, "a":[1]} ,"target":{}}"#, true),
            (r#"{"actor":[{"id":1}],"target":null}"#, true),
            (r#"{"a\u0063tion":"x"}"#, false),
            (r#"{"action":"\ud800"}"#, false),
            (r#"{"time":1e999}"#, false),
            (r#"{"x":"\ud800"}"#, true),
            (r#"[1]"#, false),
            (r#""x""#, false),
            (r#"{"a":1}x"#, false),
            (r#"{"a":01}"#, false),
            (r#"{"a":1.}"#, false),
            (r#"{"a":.5}"#, false),
            (r#"{"a":-}"#, false),
            (r#"{"a":1e}"#, false),
            (r#"{"a":"\x"}"#, false),
            (r#"{"a":"\u12g4"}"#, false),
            ("{\"a\":\"\u{1}\"}", false),
            (r#"{"a":[1,]}"#, false),
            (r#"{"a":{"b":1,}}"#, false),
            (r#"{"a":1,}"#, false),
            (r#"{"a" 1}"#, false),
            (r#"{"a":tru}"#, false),
            (r#"{"a":nulls}"#, false),
            (r#"{"a":{"b"}}"#, false),
            (r#"{"a":[1 2]}"#, false),
            (r#"{"a":1"#, false),
        ] {
            let scan = scan(text);
            assert_eq!(scan.is_some(), scanned, "{text}");
            if scan.is_some() {
                assert_eq!(scan, serde_reads(text), "{text}");
            }
            assert_eq!(Line::read(text).ok().map(without_read), serde_reads(text), "{text}");
            assert_eq!(Glance::read(text).ok(), serde_glances(text), "{text}");
            assert_eq!(Object::scan_with(text, true).is_some(), scanned, "{text}");
        }
        let deep = |n: usize| format!(r#"{{"details":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(Object::scan(&deep(MAX_DEPTH)).is_some());
        assert!(Object::scan(&deep(MAX_DEPTH + 1)).is_none(), "deeper nests are left to serde_json");
        assert_eq!(Line::read(&deep(MAX_DEPTH + 1)).ok().map(without_read), serde_reads(&deep(MAX_DEPTH + 1)));
    }

    proptest::proptest! {
        /// What the scan accepts, `serde_json` reads to the same object: any object of any values
        /// under the known keys and others, written compact or spaced, with one byte deleted,
        /// inserted or replaced. And it accepts every such object unmodified whose keys are
        /// written without escapes and whose known keys' values `serde_json` reads.
        #[test]
        fn what_the_scan_accepts_serde_json_reads_alike(
            entries in proptest::collection::vec((
                proptest::prop_oneof![
                    proptest::sample::select(KNOWN.to_vec()).prop_map(String::from),
                    "[a-z\"\\\\]{0,3}",
                ],
                crate::model::canonical::tests::json_value(),
            ), 0..6),
            pretty in proptest::prelude::any::<bool>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            op in 0..4u8,
            byte in proptest::sample::select(b"{}[]:,\"\\ \n0123456789.eE+-tfrunlsau\x01\x7f".to_vec()),
        ) {
            let map: Map<String, Value> = entries.into_iter().collect();
            let written = if pretty { serde_json::to_string_pretty(&map) } else { serde_json::to_string(&map) }.unwrap();
            let mut bytes = written.clone().into_bytes();
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => drop(bytes.remove(i)),
                1 => bytes.insert(i, byte),
                2 if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
            let text = String::from_utf8(bytes).unwrap_or_default();
            if let Some(line) = scan(&text) {
                proptest::prop_assert_eq!(Some(line), serde_reads(&text), "{}", text);
            }
            if let Some(obj) = Object::scan_with(&text, true) {
                proptest::prop_assert_eq!(Some(Glance(Line::Object(obj))), serde_glances(&text), "{}", text);
            }
            let plain_keys = map.keys().all(|k| !k.contains(['"', '\\']));
            if plain_keys && serde_reads(&written).is_some() {
                proptest::prop_assert!(Object::scan(&written).is_some(), "{}", written);
            }
        }
    }
}
