//! Store URLs as they may be shown: in errors, logs and output, never with their secrets.

/// Query parameters whose values are hidden: any name containing one of these.
const SECRET_PARAMS: [&str; 4] = ["pass", "secret", "token", "key"];

/// What stands in for a hidden secret.
pub const HIDDEN: &str = "***";

/// The URL with its secrets replaced by `***`, for showing in errors, logs and output.
///
/// The password of `scheme://user:password@host` is hidden, and the whole user part when it
/// has no `:` (a lone token). Everything up to the last `@` counts as the user part, so a
/// password with an unescaped `/`, `?` or `@` in it is hidden too. So are the values of
/// query parameters whose names contain `pass`, `secret`, `token` or `key`.
///
/// ```
/// use task_core::redact::redact_url;
///
/// assert_eq!(
///     redact_url("redis://app:s3cret@cache:6379/0?prefix=x"),
///     "redis://app:***@cache:6379/0?prefix=x"
/// );
/// assert_eq!(redact_url("rediss://t0ken@cache"), "rediss://***@cache");
/// assert_eq!(redact_url("postgres://db/x?password=pw"), "postgres://db/x?password=***");
/// assert_eq!(redact_url("sqlite://tasks.db"), "sqlite://tasks.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let (head, rest) = match url[start..].rfind('@') {
        Some(at) => {
            let user_part = &url[start..start + at];
            let user = match user_part.split_once(':') {
                Some((name, _)) => format!("{name}:{HIDDEN}"),
                None => HIDDEN.to_owned(),
            };
            (format!("{}{user}", &url[..start]), &url[start + at..])
        }
        None => (String::new(), url),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let mut shown = head + before_query;
    if let Some(query) = query {
        shown.push('?');
        let pairs: Vec<String> = query.split('&').map(redact_pair).collect();
        shown.push_str(&pairs.join("&"));
    }
    shown
}

fn redact_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) if is_secret_param(name) => format!("{name}={HIDDEN}"),
        _ => pair.to_owned(),
    }
}

/// Whether a URL query parameter's value is hidden: its name contains `pass`, `secret`,
/// `token` or `key`, in any case.
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|secret| name.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        for (url, shown) in [
            (
                "redis://:pw@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "redis://:pw@127.0.0.1:notaport/0",
                "redis://:***@127.0.0.1:notaport/0",
            ),
            (
                "rediss://default:pw@h:6380?prefix=a",
                "rediss://default:***@h:6380?prefix=a",
            ),
            ("mysql://u:pw@host/x", "mysql://u:***@host/x"),
            ("redis://token@h", "redis://***@h"),
            ("redis://:p/a?s@s@h/0", "redis://:***@h/0"),
            ("redis://u:p%40w@h", "redis://u:***@h"),
            ("redis:u:pw@h", "redis:***@h"),
            (
                "memory://?x=1&Password=pw&api_key=k",
                "memory://?x=1&Password=***&api_key=***",
            ),
            (
                "postgres://h/db?sslpassword=pw&user=u",
                "postgres://h/db?sslpassword=***&user=u",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("pw"), "{url}");
        }
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in [
            "memory://",
            "sqlite://tasks.db?synchronous=full",
            "sqlite::memory:",
            "redis://127.0.0.1:6379/0?prefix=my-app&default_ttl=60000",
            "rediss://cache.example:6380/#insecure",
            "",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
