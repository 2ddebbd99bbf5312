//! Secrets and personal data in free text: GitLab tokens, cloud keys, private keys, JWTs,
//! GitHub and Slack tokens, passwords in URLs, high-entropy `key=value` secrets, e-mail
//! addresses, phone numbers, card numbers (Luhn-checked), US social security numbers and IBANs
//! (mod-97-checked). One detector, used by the sanitization heuristic, the report's
//! sanitization check and the redaction of exports ([`redactor`]).

pub mod redactor;

use std::sync::OnceLock;

use regex::{Regex, RegexSet};

/// Detail keys holding free text written by people or agents: prompts, inputs, plans and
/// decision logs (what `--redact` covers by default).
pub const PROMPT_KEYS: &[&str] =
    &["input_prompt", "input_summary", "input_context", "goal", "prompt", "plan_summary", "decisions_log"];

/// What kind of secret or personal data was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    GitlabToken,
    AwsAccessKey,
    PrivateKey,
    Jwt,
    GithubToken,
    SlackToken,
    PasswordInUrl,
    GenericSecret,
    Email,
    PhoneNumber,
    CardNumber,
    UsSsn,
    Iban,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::GitlabToken,
        Kind::AwsAccessKey,
        Kind::PrivateKey,
        Kind::Jwt,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::PasswordInUrl,
        Kind::GenericSecret,
        Kind::Email,
        Kind::PhoneNumber,
        Kind::CardNumber,
        Kind::UsSsn,
        Kind::Iban,
    ];

    /// The kind named `name` (as in [`Kind::as_str`]).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GitlabToken => "gitlab_token",
            Kind::AwsAccessKey => "aws_access_key",
            Kind::PrivateKey => "private_key",
            Kind::Jwt => "jwt",
            Kind::GithubToken => "github_token",
            Kind::SlackToken => "slack_token",
            Kind::PasswordInUrl => "password_in_url",
            Kind::GenericSecret => "generic_secret",
            Kind::Email => "email",
            Kind::PhoneNumber => "phone_number",
            Kind::CardNumber => "card_number",
            Kind::UsSsn => "us_ssn",
            Kind::Iban => "iban",
        }
    }

    /// Credentials, as opposed to personal data.
    pub fn is_credential(self) -> bool {
        !matches!(self, Kind::Email | Kind::PhoneNumber | Kind::CardNumber | Kind::UsSsn | Kind::Iban)
    }
}

/// One finding: its kind and byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

struct Pattern {
    kind: Kind,
    re: Regex,
    /// The capture group that is the secret (0: the whole match).
    group: usize,
    check: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

/// Luhn checksum over the digits of `s` (13 to 19 of them).
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1.
pub fn iban_valid(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut rem: u64 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

fn ssn_valid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts[0] != "000"
        && parts[0] != "666"
        && !parts[0].starts_with('9')
        && parts[1] != "00"
        && parts[2] != "0000"
}

/// A token whose random part has fewer than 5 distinct characters is a placeholder
/// (`glpat-xxxxxxxxxxxxxxxxxxxx`), not a credential.
fn not_placeholder(s: &str) -> bool {
    let random = s.split_once(['-', '_']).map_or(s, |(_, r)| r);
    random.chars().collect::<std::collections::HashSet<_>>().len() >= 5
}

/// A phone number has 8 to 15 digits (E.164).
fn phone_valid(s: &str) -> bool {
    (8..=15).contains(&s.chars().filter(char::is_ascii_digit).count())
}

/// A generic secret value looks random: at least 3 bits of Shannon entropy per character and
/// two kinds of character (so `password=changeme` or `token=${TOKEN}` are not findings).
fn high_entropy(s: &str) -> bool {
    if s.starts_with("${") || s.starts_with('<') || s.chars().all(|c| c == '*' || c == 'x' || c == 'X') {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let entropy: f64 = counts.values().map(|c| *c as f64 / n).map(|p| -p * p.log2()).sum();
    let classes = [
        s.chars().any(|c| c.is_ascii_lowercase()),
        s.chars().any(|c| c.is_ascii_uppercase()),
        s.chars().any(|c| c.is_ascii_digit()),
        s.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    entropy >= 3.0 && classes.iter().filter(|c| **c).count() >= 2
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let p = |kind, re: &str, check: fn(&str) -> bool| Pattern {
            kind,
            re: Regex::new(re).expect("valid pattern"),
            group: 0,
            check,
        };
        vec![
            p(
                Kind::GitlabToken,
                r"\b(?:glpat|gldt|glrt|glrtr|glcbt|glptt|glft|glimt|glagent|gloas|glsoat|glffct|glwt)-[0-9A-Za-z_-]{20,}",
                not_placeholder,
            ),
            p(Kind::AwsAccessKey, r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b", always),
            // The whole block when its END line is there, else the header and the base64 after it.
            p(
                Kind::PrivateKey,
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:(?s:.)*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,-]*)",
                always,
            ),
            p(Kind::Jwt, r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", always),
            p(Kind::GithubToken, r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b", not_placeholder),
            p(Kind::SlackToken, r"\bxox[abposr]-[A-Za-z0-9-]{10,}", not_placeholder),
            // The whole URL: its path and query may carry more (a database name, a token).
            p(
                Kind::PasswordInUrl,
                r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:[^\s/@]+@[^\s/@"'<>]+(?:/[^\s"'<>;,]*[^\s"'<>;,.)])?"#,
                always,
            ),
            Pattern {
                kind: Kind::GenericSecret,
                re: Regex::new(
                    r#"(?i)\b(?:[a-z0-9]+_)*(?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|(?:auth|access|bearer|private|refresh)?[_-]?token)["']?\s*[:=]\s*["']?([^\s"'&,;]{8,})"#,
                )
                .expect("valid pattern"),
                group: 1,
                check: high_entropy,
            },
            p(Kind::Email, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", always),
            // Unseparated, in groups of four (spaces or dashes), or Amex's 4-6-5.
            p(
                Kind::CardNumber,
                r"\b(?:\d{13,19}|\d{4} \d{4} \d{4} \d{1,7}|\d{4}-\d{4}-\d{4}-\d{1,7}|\d{4} \d{6} \d{5}|\d{4}-\d{6}-\d{5})\b",
                luhn,
            ),
            // International (+CC …) or North American ((555) 123-4567, 555-123-4567) numbers.
            p(
                Kind::PhoneNumber,
                r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}\b|(?:\b1[ .-])?(?:\(\d{3}\) ?|\b\d{3}[.-])\d{3}[.-]\d{4}\b)",
                phone_valid,
            ),
            p(Kind::UsSsn, r"\b\d{3}-\d{2}-\d{4}\b", ssn_valid),
            p(Kind::Iban, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", iban_valid),
        ]
    })
}

/// All patterns at once, to pass over text holding none in one scan.
fn any_pattern() -> &'static RegexSet {
    static S: OnceLock<RegexSet> = OnceLock::new();
    S.get_or_init(|| RegexSet::new(patterns().iter().map(|p| p.re.as_str())).expect("valid patterns"))
}

/// Every secret or piece of personal data in `text`, in order of position. A password in a
/// URL is not also reported as an e-mail address.
pub fn scan(text: &str) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::new();
    let candidates = any_pattern().matches(text);
    if !candidates.matched_any() {
        return out;
    }
    for p in candidates.iter().map(|i| &patterns()[i]) {
        for c in p.re.captures_iter(text) {
            let Some(m) = c.get(p.group) else { continue };
            // `user@host` right after `scheme://` is a URL's user name, not an e-mail address.
            if p.kind == Kind::Email && text[..m.start()].ends_with("://") {
                continue;
            }
            if (p.check)(m.as_str()) {
                out.push(Match { kind: p.kind, start: m.start(), end: m.end() });
            }
        }
    }
    // The longest match at each position wins; a match overlapping one kept before it is
    // dropped (the host part of a URL with a password is no e-mail address), so the matches
    // never overlap.
    out.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end), m.kind));
    let mut kept: Vec<Match> = Vec::new();
    for m in out {
        if kept.last().is_some_and(|k| m.start < k.end) {
            continue;
        }
        kept.push(m);
    }
    kept
}

/// The kinds named by redaction marks (`[REDACTED:KIND:HASH]`, [`redactor`]) in `text`: what an
/// export found and replaced there, so events read back from a redacted export still show it.
pub fn marks(text: &str) -> Vec<Kind> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\[REDACTED:([a-z_]+):[0-9a-f]{4}\]").expect("valid pattern"));
    if !text.contains("[REDACTED:") {
        return Vec::new();
    }
    re.captures_iter(text).filter_map(|c| Kind::parse(&c[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        scan(text).iter().map(|m| m.kind.as_str()).collect()
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(kinds("use glpat-Xq7vR2mN9pL4kT8wZ3yB now"), ["gitlab_token"]);
        assert_eq!(kinds("key AKIAQ3EGRT7VXKMB2N5P"), ["aws_access_key"]);
        assert_eq!(kinds("-----BEGIN RSA PRIVATE KEY----- abc"), ["private_key"]);
        assert_eq!(kinds("-----BEGIN OPENSSH PRIVATE KEY-----"), ["private_key"]);
        assert_eq!(kinds("bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N"), ["jwt"]);
        assert_eq!(kinds("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"), ["github_token"]);
        assert_eq!(kinds("xoxb-1234567890-abcdefghij"), ["slack_token"]);
        assert_eq!(kinds("postgres://admin:hunter2@db.internal:5432/x"), ["password_in_url"]);
        assert_eq!(kinds("write to jane.doe@example.com"), ["email"]);
        assert_eq!(kinds("card 4111 1111 1111 1111 charged"), ["card_number"]);
        assert_eq!(kinds("ssn 123-45-6789"), ["us_ssn"]);
        assert_eq!(kinds("IBAN DE89 3704 0044 0532 0130 00 please"), ["iban"]);
        assert_eq!(kinds("IBAN DE89370400440532013000"), ["iban"]);
    }

    #[test]
    fn checksums_and_lookalikes_are_not_findings() {
        assert!(kinds("card 4111 1111 1111 1112").is_empty(), "Luhn fails");
        assert!(kinds("order 1234567890123").is_empty());
        assert!(kinds("ssn 666-12-3456 and 000-12-3456").is_empty());
        assert!(kinds("IBAN DE00370400440532013000").is_empty());
        assert!(kinds("glpat-short and AKIA123").is_empty());
        assert!(kinds("https://gitlab.example.com/acme/api").is_empty());
        assert!(kinds("commit d6baf73c31519f7f02e150600389be19ef1855ae, pipeline 123456").is_empty());
        assert!(luhn("4111111111111111") && !luhn("4111111111111112"));
        assert!(iban_valid("GB82WEST12345698765432"));
    }

    #[test]
    fn finds_the_newer_kinds_and_whole_key_blocks() {
        assert_eq!(kinds("call +44 20 7946 0958 or (415) 555-0132 or 415-555-0132"), ["phone_number"; 3]);
        assert_eq!(
            kinds("set api_key=Zx9Qw3Er7Ty1Ui5Op2As and client_secret: 'k8S-d7F6g5H4j3K2'"),
            ["generic_secret"; 2]
        );
        let m = scan("api_key=Zx9Qw3Er7Ty1Ui5Op2As")[0];
        assert_eq!((m.start, m.end), (8, 28), "only the value");
        assert!(kinds("password=changeme, token: ${CI_JOB_TOKEN}, api_key=<your-key>").is_empty());
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAbCd==\n-----END RSA PRIVATE KEY-----";
        let text = format!("key: {key} done");
        let m = scan(&text)[0];
        assert_eq!(&text[m.start..m.end], key);
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEow+/x\nAbCd";
        assert_eq!(scan(cut)[0].end, cut.len(), "a block without its END line runs to the end of the base64");
        assert!(kinds("replace glpat-xxxxxxxxxxxxxxxxxxxx with yours").is_empty(), "placeholder");
    }

    #[test]
    fn redaction_marks_name_their_kinds() {
        let r = redactor::Redactor::with_key(redactor::Mode::Prompts, b"0123456789abcdef");
        let text = r.text("a glpat-Xq7vR2mN9pL4kT8wZ3yB and jane@example.com", &mut Default::default()).unwrap();
        assert_eq!(marks(&text), [Kind::GitlabToken, Kind::Email]);
        assert!(scan(&text).is_empty());
        assert!(marks("[REDACTED:nonsense:abcd] [REDACTED:email:xyz]").is_empty());
        assert!(Kind::ALL.iter().all(|k| Kind::parse(k.as_str()) == Some(*k)));
    }

    #[test]
    fn matches_never_overlap() {
        for text in ["https://u:p4ss@x.example.com jane@x.example.com", "+1 415 555 0132 4111 1111 1111 1111"] {
            let found = scan(text);
            assert!(found.windows(2).all(|w| w[0].end <= w[1].start), "{text}: {found:?}");
        }
    }

    /// Precision and recall on the labelled corpus (fixtures/redaction/make_corpus.py): every
    /// labelled value must be found with its kind (recall ≥ 99%), and findings must be labelled
    /// values (precision ≥ 95%). `cargo test corpus -- --nocapture` prints the table.
    #[test]
    fn precision_and_recall_on_the_labelled_corpus() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/redaction/corpus.jsonl");
        let corpus = std::fs::read_to_string(path).expect("corpus");
        // kind → (labelled, found, findings, right findings)
        let mut t: std::collections::BTreeMap<String, [usize; 4]> = Default::default();
        for line in corpus.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = v["text"].as_str().unwrap();
            let found = scan(text);
            let mut spans = Vec::new();
            for s in v["secrets"].as_array().unwrap() {
                let (kind, value) = (s["kind"].as_str().unwrap(), s["value"].as_str().unwrap());
                let start = text.find(value).expect("labelled value in its text");
                let span = (kind, start, start + value.len());
                spans.push(span);
                let e = t.entry(kind.to_string()).or_default();
                e[0] += 1;
                let hit = found.iter().any(|m| m.kind.as_str() == kind && m.start <= span.1 && m.end >= span.2);
                e[1] += usize::from(hit);
                if !hit {
                    eprintln!("missed {kind}: {text:?}");
                }
            }
            for m in &found {
                let e = t.entry(m.kind.as_str().to_string()).or_default();
                e[2] += 1;
                let right = spans.iter().any(|(k, a, b)| *k == m.kind.as_str() && m.start < *b && m.end > *a);
                e[3] += usize::from(right);
                if !right {
                    eprintln!("false {}: {:?} in {text:?}", m.kind.as_str(), &text[m.start..m.end]);
                }
            }
        }
        let sum = |f: &dyn Fn(&str) -> bool, i: usize| t.iter().filter(|(k, _)| f(k)).map(|(_, v)| v[i]).sum::<usize>();
        let all = |_: &str| true;
        let credential = |k: &str| !["email", "phone_number", "card_number", "us_ssn", "iban"].contains(&k);
        eprintln!("| kind | labelled | found | recall | findings | precision |\n|---|---:|---:|---:|---:|---:|");
        for (k, [n, f, m, r]) in &t {
            let pct = |a: usize, b: usize| {
                if b == 0 {
                    "-".to_string()
                } else {
                    format!("{:.1}%", 100.0 * a as f64 / b as f64)
                }
            };
            eprintln!("| {k} | {n} | {f} | {} | {m} | {} |", pct(*f, *n), pct(*r, *m));
        }
        let recall = sum(&all, 1) as f64 / sum(&all, 0) as f64;
        let cred_recall = sum(&credential, 1) as f64 / sum(&credential, 0) as f64;
        let precision = sum(&all, 3) as f64 / sum(&all, 2) as f64;
        eprintln!("recall {recall:.4} (credentials {cred_recall:.4}), precision {precision:.4}");
        assert!(sum(&all, 0) >= 600, "the corpus is complete");
        assert!(recall >= 0.99 && cred_recall >= 0.99, "recall {recall} / {cred_recall}");
        assert!(precision >= 0.95, "precision {precision}");
    }
}
