//! GitLab's `details` column: a YAML-serialized Ruby hash (`:event_name: foo`, symbol keys and
//! values, `!ruby/…` tags, nested hashes) or JSON. Parsed into the details map; anything that is
//! not a hash is reported so the caller can keep the text verbatim.
//!
//! YAML is parsed from events into JSON values directly, with a budget on nodes, so aliases
//! (`&a`/`*a`) cannot expand without bound (a "YAML bomb" costs at most [`MAX_NODES`]).

use serde_json::{Map, Number, Value};

use crate::model::Details;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// Most nodes a details document may expand to (aliases count their full size).
pub const MAX_NODES: usize = 100_000;

/// Deepest nesting of flow collections (`{…}`, `[…]`) a details document may have.
pub const MAX_DEPTH: usize = 8;

/// The deepest nesting of `{`/`[`, counting every bracket, quoted or not: an upper bound of the
/// YAML's (a quote in the middle of a plain scalar is no quote, so quotes cannot be trusted to
/// hide brackets — fuzzing used exactly that). Braces in quoted text may make a harmless
/// document count as deep; it is then kept verbatim, not lost.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '{' | '[' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The key under which unparseable details text is kept verbatim.
pub const RAW_KEY: &str = "raw_details";

/// Parse a details text.
pub fn parse(text: &str) -> Result<Details, String> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Details::new());
    }
    if trimmed.starts_with('{') {
        if let Ok(details) = Details::from_json(trimmed) {
            return Ok(details);
        }
    }
    // The YAML parser's work grows exponentially with nested flow collections (fuzzing found a
    // 210-byte document taking over 10 s, then a 2,900-byte one 32 levels deep that never
    // finished); GitLab writes details in block style, flow collections one level deep at most.
    if flow_depth(text) > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| format!("not YAML or JSON: {e}"))?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    match builder.root {
        Some(Value::Object(map)) => Ok(Details::from_map(&map)),
        Some(Value::Null) | None => Ok(Details::new()),
        Some(other) => Err(format!("details are not a hash but {}", kind(&other))),
    }
}

/// Parse, or keep the text verbatim under [`RAW_KEY`] with the reason.
pub fn parse_or_raw(text: &str) -> (Details, Option<String>) {
    match parse(text) {
        Ok(details) => (details, None),
        Err(reason) => (Details::from_map(&Map::from_iter([(RAW_KEY.to_string(), Value::from(text))])), Some(reason)),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a hash",
    }
}

/// A container being built: its items, its anchor id (0: none) and the nodes it holds.
enum Frame {
    Seq { items: Vec<Value>, anchor: usize, size: usize },
    Map { map: Map<String, Value>, key: Option<String>, anchor: usize, size: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Value, usize)>,
    root: Option<Value>,
    nodes: usize,
    error: Option<String>,
}

/// A Ruby symbol dumped as a plain scalar (`:foo`) becomes `foo`.
fn unsymbol(s: String) -> String {
    match s.strip_prefix(':') {
        Some(rest)
            if !rest.is_empty() && rest.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '?' || c == '!') =>
        {
            rest.to_string()
        }
        _ => s,
    }
}

fn scalar(v: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(v);
    }
    if tag.is_some_and(|t| t.handle != "tag:yaml.org,2002:") {
        // Ruby object tags (`!ruby/object:BigDecimal`, …): keep the text.
        return Value::String(v);
    }
    match Yaml::from_str(&v) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => {
            r.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::String(r))
        }
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(unsymbol(v)),
    }
}

fn key_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Builder {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    /// Add a finished container of `size` nodes: its children are already counted in the
    /// total, but an alias to it later costs its whole size.
    fn add_container(&mut self, value: Value, size: usize, anchor: usize) {
        self.nodes -= size;
        self.insert(value, size + 1, anchor);
    }

    fn insert(&mut self, value: Value, size: usize, anchor: usize) {
        self.nodes += size;
        if self.nodes > MAX_NODES {
            self.fail(format!("details expand to more than {MAX_NODES} nodes (YAML aliases?)"));
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, size: n, .. }) => {
                items.push(value);
                *n += size;
            }
            Some(Frame::Map { map, key, size: n, .. }) => {
                *n += size;
                match key.take() {
                    None => *key = Some(key_text(value)),
                    Some(k) => {
                        map.insert(unsymbol(k), value);
                    }
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(v, style, anchor, tag) => {
                let value = scalar(v, style, tag.as_ref());
                self.insert(value, 1, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { items: Vec::new(), anchor, size: 0 }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { map: Map::new(), key: None, anchor, size: 0 })
            }
            // Children were counted as they were added; the container itself is one more node.
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor, size }) => self.add_container(Value::Array(items), size, anchor),
                Some(Frame::Map { map, anchor, size, .. }) => self.add_container(Value::Object(map), size, anchor),
                None => self.fail("unbalanced YAML".into()),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some((value, size)) => self.insert(value, size, 0),
                None => self.fail(format!("YAML alias to unknown anchor {id}")),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_yaml_hash_with_symbols_and_nesting() {
        let text = "---\n:event_name: user_created\n:author_name: Administrator\n:custom_message: 'Added user \"x: y\"'\n:target_id: 42\n:ip_address: \n:from: :developer\n:quoted: \":not_a_symbol\"\n:nested:\n  :protocol: ssh\n  :list:\n  - 1\n  - two\n:amount: !ruby/object:BigDecimal 18:0.1E1\n:ratio: 0.5\n:enabled: true\n";
        let map = parse(text).unwrap();
        assert_eq!(
            map.as_json(),
            r#"{"amount":"18:0.1E1","author_name":"Administrator","custom_message":"Added user \"x: y\"","enabled":true,"event_name":"user_created","from":"developer","ip_address":null,"nested":{"list":[1,"two"],"protocol":"ssh"},"quoted":":not_a_symbol","ratio":0.5,"target_id":42}"#
        );
    }

    #[test]
    fn hash_with_indifferent_access_tag_and_json() {
        let text = "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\nevent_name: x\n";
        assert_eq!(parse(text).unwrap().text("event_name").as_deref(), Some("x"));
        assert_eq!(parse(r#"{"a": {"b": [1]}}"#).unwrap().get("a").unwrap()["b"][0], 1);
        assert_eq!(parse("").unwrap().len(), 0);
    }

    #[test]
    fn non_hashes_and_garbage_are_kept_raw() {
        assert_eq!(parse("- a\n- b\n").unwrap_err(), "details are not a hash but a list");
        let (map, why) = parse_or_raw("{unclosed: [");
        assert_eq!(map.text(RAW_KEY).as_deref(), Some("{unclosed: ["));
        assert!(why.unwrap().starts_with("not YAML or JSON"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            text.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let err = parse(&text).unwrap_err();
        assert!(err.contains("more than 100000 nodes"), "{err}");
        assert_eq!(parse("a: &x 1\nb: *x\n").unwrap().i64("b"), Some(1));
    }

    #[test]
    fn deeply_nested_flow_collections_are_refused_before_parsing() {
        // The shape libFuzzer found (fuzz/corpus/details_yaml keeps it).
        let text = format!("{}ven: x{}", "{[".repeat(40), "]}".repeat(40));
        assert_eq!(parse(&text).unwrap_err(), "nested deeper than 8 levels");
        assert_eq!(super::flow_depth("a: \"{{{{\"\nb: [1, {c: 2}]"), 6, "quotes hide nothing");
        assert!(parse(":a:\n  :b: [1, {c: [2]}]").is_ok());
    }
}
