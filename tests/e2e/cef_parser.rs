//! An independent, strict CEF parser for the tests (written from the ArcSight CEF rev 25 text,
//! sharing no code with the encoder). It rejects anything the spec does not allow: raw line
//! breaks, unknown escapes, unescaped `=` in extension values, duplicate keys, missing labels.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cef {
    pub version: String,
    pub vendor: String,
    pub product: String,
    pub device_version: String,
    pub signature: String,
    pub name: String,
    pub severity: String,
    pub ext: Vec<(String, String)>,
}

impl Cef {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.ext.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn keys(&self) -> Vec<&str> {
        self.ext.iter().map(|(k, _)| k.as_str()).collect()
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `rest` starts with `key=` (a run of key characters, then `=`).
fn starts_with_key(rest: &str) -> bool {
    let key_len = rest.chars().take_while(|c| is_key_char(*c)).count();
    key_len > 0 && rest[key_len..].starts_with('=')
}

pub fn parse(line: &str) -> Result<Cef, String> {
    if line.contains('\n') || line.contains('\r') {
        return Err("raw line break in record".into());
    }
    let body = line.strip_prefix("CEF:").ok_or("does not start with CEF:")?;
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = body.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\\')) => cur.push('\\'),
                Some((_, '|')) => cur.push('|'),
                other => return Err(format!("invalid header escape {other:?} in field {}", fields.len())),
            },
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let ext_start = ext_start.ok_or_else(|| format!("header has {} fields, want 7", fields.len() + 1))?;
    let ext = parse_extension(&body[ext_start..])?;
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &ext {
        if !seen.insert(k.clone()) {
            return Err(format!("duplicate key {k}"));
        }
    }
    for (k, _) in &ext {
        let custom = k.starts_with("cs")
            || k.starts_with("cn")
            || k.starts_with("flexString")
            || k.starts_with("flexNumber")
            || k.starts_with("c6a");
        if custom && !k.ends_with("Label") && !seen.contains(&format!("{k}Label")) {
            return Err(format!("custom key {k} without {k}Label"));
        }
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().unwrap();
    let cef = Cef {
        version: next(),
        vendor: next(),
        product: next(),
        device_version: next(),
        signature: next(),
        name: next(),
        severity: next(),
        ext,
    };
    if cef.version != "0" {
        return Err(format!("version {:?}", cef.version));
    }
    match cef.severity.parse::<u8>() {
        Ok(s) if s <= 10 => {}
        _ => return Err(format!("severity {:?} not 0-10", cef.severity)),
    }
    Ok(cef)
}

fn parse_extension(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let key_len = rest.chars().take_while(|c| is_key_char(*c)).count();
        if key_len == 0 || !rest[key_len..].starts_with('=') {
            return Err(format!("expected key= at {:?}", &rest[..rest.len().min(30)]));
        }
        let key = rest[..key_len].to_string();
        rest = &rest[key_len + 1..];
        let mut value = String::new();
        let mut chars = rest.char_indices().peekable();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '=')) => value.push('='),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    other => return Err(format!("invalid extension escape {other:?} in {key}")),
                },
                '=' => return Err(format!("unescaped = in value of {key}")),
                ' ' if starts_with_key(&rest[i + 1..]) => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        if value.is_empty() {
            return Err(format!("empty value for {key}"));
        }
        out.push((key, value));
        rest = &rest[end.min(rest.len())..];
    }
    Ok(out)
}

#[test]
fn parser_is_strict() {
    assert!(parse("CEF:0|a|b|c|d|e|3|k=v").is_ok());
    assert!(parse("CEF:0|a|b|c|d|e|3|k=a=b").is_err(), "unescaped = rejected");
    assert!(parse("CEF:0|a|b|c|d|e|3|k=a\\|b").is_err(), "pipe escape rejected in extension");
    assert!(parse("CEF:0|a|b|c|d|e|3|cs1=x").is_err(), "custom key needs a label");
    assert!(parse("CEF:0|a|b|c|d|e|11|k=v").is_err());
    assert!(parse("CEF:0|a\\x|b|c|d|e|3|k=v").is_err());
    let c = parse("CEF:0|a\\|x|b|c|d|e|3|k=one two  k2=x\\=y\\\\ msg=a|b\\n").unwrap();
    assert_eq!(c.vendor, "a|x");
    assert_eq!(
        c.ext,
        vec![("k".into(), "one two ".into()), ("k2".into(), "x=y\\".into()), ("msg".into(), "a|b\n".into())]
    );
}
