//! Keeping secrets out of logs and errors: connection strings are shown with the password masked.

/// Mask the password (and any token query parameter) of a URL: `postgres://u:secret@h/db`
/// becomes `postgres://u:***@h/db`. Text that is not a URL is returned unchanged.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{user}:***@{}", &authority[at + 1..])
            } else {
                authority.to_string()
            }
        }
        None => authority.to_string(),
    };
    let tail = mask_query(tail);
    format!("{}://{authority}{tail}", &url[..scheme_end])
}

fn mask_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else { return tail.to_string() };
    let (path, query) = tail.split_at(q + 1);
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if ["password", "token", "sslpassword", "access_token"].contains(&k.to_ascii_lowercase().as_str()) =>
            {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}{}", masked.join("&"))
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[test]
    fn masks_passwords_and_tokens() {
        assert_eq!(
            mask_url("postgres://app:s3cr:et@db.example:5432/gitlab"),
            "postgres://app:***@db.example:5432/gitlab"
        );
        assert_eq!(
            mask_url("clickhouse://default@ch:8123/db?password=x&db=y"),
            "clickhouse://default@ch:8123/db?password=***&db=y"
        );
        assert_eq!(mask_url("https://ch.example/"), "https://ch.example/");
        assert_eq!(mask_url("/var/log/audit.log"), "/var/log/audit.log");
    }
}
