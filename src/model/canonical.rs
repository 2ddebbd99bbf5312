//! Whether JSON text is already exactly what `serde_json` writes for the value it holds: no
//! spaces, texts without escapes (a valid JSON text holds no quote or control character
//! unescaped, and `serde_json` escapes nothing else), integers both ways of reading agree on,
//! `true`, `false`, `null`, and objects whose keys are in strictly increasing order (a `Map`'s
//! order; a repeated key is not canonical).
//!
//! The scan validates as it goes: text it accepts is valid JSON whoever wrote it, so a source's
//! column can be taken as it stands (`Details::from_json`); anything else — invalid, or valid
//! but spelled otherwise — is left to `serde_json` to read (or to reject) and write again.

/// Deeper nests are left to `serde_json` (its own limit is 128).
const MAX_DEPTH: usize = 64;

/// Whether `text` is one JSON value as `serde_json` writes it (see the module documentation).
pub fn is_canonical(text: &str) -> bool {
    let mut scan = Scan { b: text.as_bytes(), i: 0 };
    scan.value(0).is_some() && scan.i == text.len()
}

/// Whether `text` is a JSON object as `serde_json` writes it; if so, `each` has been called
/// with every entry in order: where its key starts and ends (inside the quotes) and where its
/// value ends. A `false` may come after some calls.
pub fn object(text: &str, each: impl FnMut(usize, usize, usize)) -> bool {
    let mut scan = Scan { b: text.as_bytes(), i: 0 };
    scan.eat(b'{').is_some() && scan.object(1, each).is_some() && scan.i == text.len()
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.text().map(drop),
            b'{' if depth < MAX_DEPTH => {
                self.i += 1;
                self.object(depth + 1, |_, _, _| ())
            }
            b'[' if depth < MAX_DEPTH => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    /// The entries of an object whose `{` was read, through its `}`.
    fn object(&mut self, depth: usize, mut each: impl FnMut(usize, usize, usize)) -> Option<()> {
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut last: Option<&[u8]> = None;
        loop {
            let (key, key_end) = self.text()?;
            let name = &self.b[key..key_end];
            if last.is_some_and(|last| last >= name) {
                return None;
            }
            last = Some(name);
            self.eat(b':')?;
            self.value(depth)?;
            each(key, key_end, self.i);
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A text without escapes or control characters: where its content starts and ends.
    fn text(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.i;
        let len = self.b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.i = start + len;
        self.eat(b'"')?;
        Some((start, start + len))
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// An integer without sign or leading zeros to spare (`-0` reads as a float), and at most
    /// 18 digits (more may not fit an i64 or u64); not followed by a fraction or an exponent.
    fn integer(&mut self) -> Option<()> {
        let start = self.i;
        let _ = self.eat(b'-');
        let digits = self.i;
        match *self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let spelled_otherwise = self.i - digits > 18
            || &self.b[start..self.i] == b"-0"
            || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E' | b'0'..=b'9'));
        (!spelled_otherwise).then_some(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn canonical_values_are_told_apart() {
        for (raw, canonical) in [
            (r#"{"id":1037,"username":"liam"}"#, true),
            (r#"["api","read_repository"]"#, true),
            (r#"{"a":[1,{"b":null,"c":true}],"b":{}}"#, true),
            (r#"{"b":1,"a":2}"#, false),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"":1,"":2}"#, false),
            (r#"{"":1,"a":2}"#, true),
            (r#"[1.5]"#, false),
            (r#"[1e3]"#, false),
            (r#"[-0]"#, false),
            (r#"[0]"#, true),
            (r#"[-12]"#, true),
            (r#"[123456789012345678]"#, true),
            (r#"[1234567890123456789]"#, false),
            (r#"[1, 2]"#, false),
            (r#"{"a":"x\"y"}"#, false),
            (r#"[{"b":1},{"a":1}]"#, true),
            (r#"{"ab":1,"b":2}"#, true),
            (r#"{"b":1,"ab":2}"#, false),
            (r#"{"é":1,"z":2}"#, false),
            (r#"{"z":1,"é":2}"#, true),
            ("\"\u{7f}é\"", true),
            ("null", true),
            (" null", false),
            ("{}", true),
            ("[]", true),
        ] {
            assert_eq!(is_canonical(raw), canonical, "{raw}");
            // Floats and long integers may also read back as written: they are left to serde_json.
            let v: Value = serde_json::from_str(raw).unwrap();
            assert!(!canonical || serde_json::to_string(&v).unwrap() == raw, "{raw}");
        }
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(is_canonical(&deep(MAX_DEPTH)));
        assert!(!is_canonical(&deep(MAX_DEPTH + 1)), "deeper nests are left to serde_json");
    }

    #[test]
    fn invalid_json_is_never_canonical() {
        for raw in [
            "",
            "{",
            "}",
            "[",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\" :1}",
            "{a:1}",
            "\"a",
            "\"a\u{1}\"",
            "01",
            "[01]",
            "-",
            "[-]",
            "tru",
            "nul",
            "truex",
            "[1]]",
            "{\"a\":1}}",
            "1 ",
            "[1][2]",
        ] {
            assert!(!is_canonical(raw), "{raw:?}");
            assert!(!object(raw, |_, _, _| ()), "{raw:?}");
        }
    }

    proptest::proptest! {
        /// What the scan accepts, `serde_json` reads and writes back byte for byte: text taken as it
        /// stands is valid JSON (details are parsed again when asked, and must parse). Written
        /// values with one byte deleted, inserted or replaced (JSON's punctuation, digits, letters
        /// of the literals, a backslash, a control character), and short arbitrary strings.
        #[test]
        fn what_is_accepted_reads_back_as_written(
            v in json_value(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            op in 0..3u8,
            byte in proptest::sample::select(b"{}[]:,\"\\ 0123456789.eE+-tfrunlsa\x01\x7f".to_vec()),
            short in r#"[{}\[\]:,"\\ 0-9.eE+\-tfrunlsa]{0,8}"#,
        ) {
            let mut bytes = serde_json::to_string(&v).unwrap().into_bytes();
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => drop(bytes.remove(i)),
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
            for text in [String::from_utf8(bytes).unwrap_or_default(), short] {
                if is_canonical(&text) {
                    let v: Value = serde_json::from_str(&text).expect("accepted text is valid JSON");
                    proptest::prop_assert_eq!(serde_json::to_string(&v).unwrap(), text);
                }
            }
        }

        /// And it accepts what `serde_json` writes, unless it holds a float, a long integer or an
        /// escape (those are left to `serde_json`).
        #[test]
        fn what_serde_json_writes_is_accepted(v in json_value()) {
            let text = serde_json::to_string(&v).unwrap();
            proptest::prop_assert_eq!(is_canonical(&text), !left_to_serde_json(&v), "{}", text);
        }
    }

    /// Whether `v` holds a float, an integer of more than 18 digits or a text (or key) written
    /// with escapes.
    fn left_to_serde_json(v: &Value) -> bool {
        let escaped = |s: &str| s.contains(|c: char| c == '"' || c == '\\' || c < ' ');
        match v {
            Value::Number(n) => n.as_i64().is_none_or(|i| i.unsigned_abs() >= 10u64.pow(18)),
            Value::String(s) => escaped(s),
            Value::Array(items) => items.iter().any(left_to_serde_json),
            Value::Object(map) => map.iter().any(|(k, v)| escaped(k) || left_to_serde_json(v)),
            _ => false,
        }
    }

    /// Any JSON value: texts and keys with quotes, backslashes and control characters, integers
    /// and floats of every size, nested three deep.
    pub(crate) fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a-z\"\\\\\u{1}\u{7f}é/ ]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-c\"\\\\]{0,3}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn an_objects_entries_are_found_in_the_same_pass() {
        let text = r#"{"a":{"x":[1,2]},"bb":"t","c":null}"#;
        let mut entries = Vec::new();
        assert!(object(text, |k, ke, end| entries.push((&text[k..ke], &text[ke + 2..end]))));
        assert_eq!(entries, [("a", r#"{"x":[1,2]}"#), ("bb", r#""t""#), ("c", "null")]);
        assert!(object("{}", |_, _, _| unreachable!()));
        assert!(!object("[1]", |_, _, _| ()));
        assert!(!object(r#"{"b":1,"a":2}"#, |_, _, _| ()));
    }
}
