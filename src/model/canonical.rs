//! Whether JSON text is already exactly what `serde_json` writes for the value it holds: no
//! spaces, texts without escapes (a valid JSON text holds no quote or control character
//! unescaped, and `serde_json` escapes nothing else), integers both ways of reading agree on,
//! `true`, `false`, `null`, and objects whose keys are in strictly increasing order (a `Map`'s
//! order; a repeated key is not canonical).
//!
//! The scan validates as it goes: text it accepts is valid JSON whoever wrote it, so a source's
//! column can be taken as it stands (`Details::from_json`); anything else — invalid, or valid
//! but spelled otherwise — is left to `serde_json` to read (or to reject) and write again.
//!
//! The same pass also reads any valid JSON ([`Scan::any_value`]): a log line's reader delimits
//! the values it keeps as written with it (`sources::object`), and takes a canonical `details`
//! in that one pass.

/// Deeper nests are left to `serde_json` (its own limit is 128).
pub const MAX_DEPTH: usize = 64;

/// Whether `text` is one JSON value as `serde_json` writes it (see the module documentation).
pub fn is_canonical(text: &str) -> bool {
    let mut scan = Scan { b: text.as_bytes(), i: 0 };
    scan.value(0).is_some() && scan.i == text.len()
}

/// Whether `text` is a JSON object as `serde_json` writes it; if so, `each` has been called
/// with every entry in order: where its key starts and ends (inside the quotes) and where its
/// value ends. A `false` may come after some calls.
pub fn object(text: &str, each: impl FnMut(usize, usize, usize)) -> bool {
    object_at_start(text, each) == Some(text.len())
}

/// [`object`] for the object `text` starts with (whatever follows it): where it ends.
pub fn object_at_start(text: &str, each: impl FnMut(usize, usize, usize)) -> Option<usize> {
    let mut scan = Scan { b: text.as_bytes(), i: 0 };
    scan.eat(b'{')?;
    scan.object(1, each)?;
    Some(scan.i)
}

/// How many bytes of `b` come before its first quote, backslash or control character (all of
/// `b` when it holds none): what JSON writes as it stands inside a text. Eight bytes at a time:
/// texts are most of the bytes of a record's details, and of the records the tool writes.
pub fn plain_prefix(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // In each of the three, the lowest flagged byte is a byte sought (a borrow may flag bytes
    // above a true one, never below it), so the lowest of all is the first byte sought.
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let special = |w: u64| {
        zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
    };
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let found = special(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = words.remainder();
    at + rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(rest.len())
}

/// How `a` and `b` order as bytes, eight at a time in place: keys are compared on every line
/// (order, lookups), and a call to `memcmp` per key was 5% of a report's CPU (`perf`).
#[inline]
pub fn compare(mut a: &[u8], mut b: &[u8]) -> std::cmp::Ordering {
    while let (Some((x, a_rest)), Some((y, b_rest))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        if x != y {
            return u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y));
        }
        (a, b) = (a_rest, b_rest);
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Whether `a` and `b` are the same bytes: up to 16 of them as two words each, overlapping
/// (see [`compare`]).
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let w8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    let w4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("four bytes"));
    n == b.len()
        && match n {
            0 => true,
            1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
            4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
            8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
            _ => a == b,
        }
}

/// A pass over JSON text: canonical text only, as [`is_canonical`] and [`object`] read it, or any
/// valid JSON ([`Scan::any_value`]: a line's reader, `sources::object`, delimits values with it).
pub struct Scan<'a> {
    b: &'a [u8],
    /// Where the pass is.
    pub i: usize,
}

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Scan<'a> {
        Scan { b: text.as_bytes(), i: 0 }
    }

    pub fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    pub fn byte(&mut self) -> Option<u8> {
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
                    match self.byte()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.canonical_number(),
            _ => None,
        }
    }

    /// An [integer](Scan::integer), or a number with a fraction or an exponent spelled as
    /// `serde_json` writes the float it reads: its shortest round-trip form, as `zmij` (which
    /// `serde_json` writes floats with) formats it. Floats are common in details (a duration of
    /// `3711.0` seconds): checked this way they no longer send the whole object to be parsed and
    /// written again.
    fn canonical_number(&mut self) -> Option<()> {
        let start = self.i;
        if self.integer().is_some() {
            return Some(());
        }
        self.i = start;
        self.number()?;
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        let float: f64 = text.parse().ok()?;
        (float.is_finite() && zmij::Buffer::new().format_finite(float) == text).then_some(())
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
            if last.is_some_and(|last| compare(last, name).is_ge()) {
                return None;
            }
            last = Some(name);
            self.eat(b':')?;
            self.value(depth)?;
            each(key, key_end, self.i);
            match self.byte()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A text without escapes or control characters: where its content starts and ends.
    pub fn text(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.i;
        self.i = start + plain_prefix(&self.b[start..]);
        let end = self.i;
        self.eat(b'"')?;
        Some((start, end))
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
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let spelled_otherwise = self.i - digits > 18
            || &self.b[start..self.i] == b"-0"
            || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E' | b'0'..=b'9'));
        (!spelled_otherwise).then_some(())
    }

    /// JSON's spaces, if any.
    pub fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Any text, through its closing quote.
    fn any_text(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i += plain_prefix(&self.b[self.i..]);
            match self.byte()? {
                b'"' => return Some(()),
                b'\\' => match self.byte()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let digits = self.b.get(self.i..self.i + 4)?;
                        if !digits.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.i += 4;
                    }
                    _ => return None,
                },
                _ => return None, // a control character
            }
        }
    }

    /// Any valid JSON value, spaced or not, `depth` deep already (escapes are checked as
    /// `serde_json` checks the values it passes over: one of JSON's escapes, four hex digits
    /// after `\u`); `None` for invalid text and for nesting deeper than [`MAX_DEPTH`].
    pub fn any_value(&mut self, depth: usize) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.any_text(),
            open @ (b'{' | b'[') if depth < MAX_DEPTH => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.eat(close).is_some() {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.any_text()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.any_value(depth + 1)?;
                    self.ws();
                    match self.byte()? {
                        b',' => self.ws(),
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// JSON's number: `-`, then `0` or digits not starting with `0`, a fraction, an exponent.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.byte()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.b.get(self.i).filter(|c| c.is_ascii_digit())?;
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.b.get(self.i).filter(|c| c.is_ascii_digit())?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
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
            (r#"[1.5]"#, true),
            (r#"[3711.0]"#, true),
            (r#"[3711]"#, true),
            (r#"[-0.0]"#, true),
            (r#"[1e+300]"#, true),
            (r#"[1.5e-7]"#, true),
            (r#"[1.50]"#, false),
            (r#"[1e3]"#, false),
            (r#"[1e300]"#, false),
            (r#"[1.0e3]"#, false),
            (r#"[0.1000000000000000055511151231257827]"#, false),
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
            // Long integers may also read back as written: they are left to serde_json.
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

        /// And it accepts what `serde_json` writes, unless it holds a long integer or an escape
        /// (those are left to `serde_json`).
        #[test]
        fn what_serde_json_writes_is_accepted(v in json_value()) {
            let text = serde_json::to_string(&v).unwrap();
            proptest::prop_assert_eq!(is_canonical(&text), !left_to_serde_json(&v), "{}", text);
        }
    }

    /// Whether `v` holds an integer of more than 18 digits or a text (or key) written with
    /// escapes.
    fn left_to_serde_json(v: &Value) -> bool {
        let escaped = |s: &str| s.contains(|c: char| c == '"' || c == '\\' || c < ' ');
        match v {
            Value::Number(n) if n.is_f64() => false,
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

    proptest::proptest! {
        /// Eight bytes at a time finds the byte a byte-by-byte search finds, wherever it is, and
        /// whatever the bytes around it (the flags of a word's lower bytes borrow from its upper).
        #[test]
        fn the_plain_prefix_ends_where_a_byte_by_byte_search_ends(
            bytes in proptest::collection::vec(proptest::sample::select(
                b"\x00\x01\x1f\x20\x21\x22\x23\x5b\x5c\x5d\x7f\x80\xa2\xdc\xffa0".to_vec()), 0..40),
        ) {
            let expected = bytes.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(bytes.len());
            proptest::prop_assert_eq!(plain_prefix(&bytes), expected);
        }
    }

    proptest::proptest! {
        /// Bytes order and compare equal as slices do.
        #[test]
        fn bytes_compare_as_slices_do(
            a in proptest::collection::vec(proptest::sample::select(b"ab\x00\x7f\x80\xff".to_vec()), 0..20),
            b in proptest::collection::vec(proptest::sample::select(b"ab\x00\x7f\x80\xff".to_vec()), 0..20),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            // The same length, one byte apart: every place of every length is checked.
            let mut c = a.clone();
            if !c.is_empty() {
                let i = flip.index(c.len());
                c[i] ^= 1;
                proptest::prop_assert!(!same(&a, &c));
            }
            proptest::prop_assert_eq!(compare(&a, &b), a.cmp(&b));
            proptest::prop_assert_eq!(compare(&a, &a), std::cmp::Ordering::Equal);
            proptest::prop_assert_eq!(same(&a, &b), a == b);
        }
    }

    #[test]
    fn the_plain_prefix_of_texts() {
        assert_eq!(plain_prefix(b""), 0);
        assert_eq!(plain_prefix(b"abcdefgh"), 8);
        assert_eq!(plain_prefix(b"abcdefgh\""), 8);
        assert_eq!(plain_prefix(b"abcdefghijklmno\x1f"), 15);
        assert_eq!(plain_prefix("\u{7f}é€😀 /x\\n".as_bytes()), 13);
        assert_eq!(plain_prefix(b"\"\x00\\"), 0);
        assert_eq!(plain_prefix(b"\x01\"abcdefghijk"), 0);
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
