//! Secrets and personal data in free text: GitLab tokens, cloud keys, private keys, JWTs,
//! GitHub and Slack tokens, passwords in URLs, e-mail addresses, card numbers (Luhn-checked),
//! US social security numbers and IBANs (mod-97-checked). One detector, used by the
//! sanitization heuristic and meant for export-side redaction.

use std::sync::OnceLock;

use regex::Regex;

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
    Email,
    CardNumber,
    UsSsn,
    Iban,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GitlabToken => "gitlab_token",
            Kind::AwsAccessKey => "aws_access_key",
            Kind::PrivateKey => "private_key",
            Kind::Jwt => "jwt",
            Kind::GithubToken => "github_token",
            Kind::SlackToken => "slack_token",
            Kind::PasswordInUrl => "password_in_url",
            Kind::Email => "email",
            Kind::CardNumber => "card_number",
            Kind::UsSsn => "us_ssn",
            Kind::Iban => "iban",
        }
    }

    /// Credentials, as opposed to personal data.
    pub fn is_credential(self) -> bool {
        !matches!(self, Kind::Email | Kind::CardNumber | Kind::UsSsn | Kind::Iban)
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

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let p = |kind, re: &str, check: fn(&str) -> bool| Pattern { kind, re: Regex::new(re).expect("valid pattern"), check };
        vec![
            p(
                Kind::GitlabToken,
                r"\b(?:glpat|gldt|glrt|glrtr|glcbt|glptt|glft|glimt|glagent|gloas|glsoat|glffct|glwt)-[0-9A-Za-z_-]{20,}",
                always,
            ),
            p(Kind::AwsAccessKey, r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b", always),
            p(Kind::PrivateKey, r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----", always),
            p(Kind::Jwt, r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", always),
            p(Kind::GithubToken, r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b", always),
            p(Kind::SlackToken, r"\bxox[abposr]-[A-Za-z0-9-]{10,}", always),
            p(Kind::PasswordInUrl, r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:[^\s/@]+@[^\s/@]+", always),
            p(Kind::Email, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", always),
            p(Kind::CardNumber, r"\b\d(?:[ -]?\d){12,18}\b", luhn),
            p(Kind::UsSsn, r"\b\d{3}-\d{2}-\d{4}\b", ssn_valid),
            p(Kind::Iban, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", iban_valid),
        ]
    })
}

/// Every secret or piece of personal data in `text`, in order of position. A password in a
/// URL is not also reported as an e-mail address.
pub fn scan(text: &str) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::new();
    for p in patterns() {
        for m in p.re.find_iter(text) {
            if (p.check)(m.as_str()) {
                out.push(Match { kind: p.kind, start: m.start(), end: m.end() });
            }
        }
    }
    out.sort_by_key(|m| (m.start, m.kind));
    // Drop matches inside an earlier, longer one (the host part of a URL with a password).
    let mut kept: Vec<Match> = Vec::new();
    for m in out {
        if kept.last().is_some_and(|k| m.start < k.end && m.end <= k.end) {
            continue;
        }
        kept.push(m);
    }
    kept
}

/// `text` with every secret and piece of personal data replaced by `[kind]`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in scan(text) {
        out.push_str(&text[last..m.start]);
        out.push('[');
        out.push_str(m.kind.as_str());
        out.push(']');
        last = m.end;
    }
    out.push_str(&text[last..]);
    out
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
    fn redaction_keeps_the_rest() {
        assert_eq!(
            redact("Use token glpat-Xq7vR2mN9pL4kT8wZ3yB for jane.doe@example.com"),
            "Use token [gitlab_token] for [email]"
        );
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
}
