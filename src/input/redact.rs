//! Credentials masked line by line wherever a line of the input is shown: what a line says by
//! itself (a `password:` in a ConfigMap's prometheus.yml, a Slack webhook in Kubecost's
//! alerts.json, `--token=...`), on top of the structural masks of `secrets.rs`, which decide
//! what is secret from the parsed tree.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Whether a key names a credential in a Prometheus, Alertmanager or Kubecost config: by its
/// ending, case and `_`/`-` aside (`password`, `bearer_token`, `client_secret`, `credentials`,
/// `slack_api_url`, `routing_key`, `globalSlackWebhookUrl`...). `*_file` keys name paths, not values.
pub fn is_credential_key(key: &str) -> bool {
    // Read from the end, without a lowercased copy: `input/secrets.rs` asks this of every key of
    // every document (millions in a large render).
    let folded = || key.chars().rev().filter(|c| *c != '_' && *c != '-').flat_map(|c| c.to_lowercase().rev());
    const ENDINGS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "credentials",
        "webhookurl",
        "apiurl",
        "routingkey",
        "servicekey",
        "userkey",
        "accesskey",
        "secretkey",
        "privatekey",
    ];
    ENDINGS.iter().any(|e| {
        let mut k = folded();
        e.chars().rev().all(|c| k.next() == Some(c))
    })
}

/// The patterns credentials are found by, compiled once. Each is a literal that the tests below
/// exercise, so compiling it cannot fail.
struct Patterns {
    /// A YAML `key: value` line.
    yaml_pair: Regex,
    /// A JSON `"key": "value"` pair anywhere in a line.
    json_pair: Regex,
    /// `scheme://user:password@`.
    url_password: Regex,
    /// Query parameters that carry keys.
    url_key: Regex,
    /// An env item's `name:` line, and its `value:` line.
    env_name: Regex,
    env_value: Regex,
    /// `{name: X, value: Y}` on one line.
    env_flow: Regex,
    /// A command-line flag with its value: `--api-key=...`.
    flag_value: Regex,
    /// A flag and its value as the next word: `--password hunter2`, `"--password", "hunter2"`.
    flag_then_word: Regex,
    /// A block sequence item, and one that holds a bare flag: `- --password`.
    item: Regex,
    flag_item: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    let re = |p: &str| Regex::new(p).expect("a literal pattern the tests compile");
    PATTERNS.get_or_init(|| Patterns {
        yaml_pair: re(r#"^(\s*(?:-\s+)?["']?)([A-Za-z0-9_.\-]+)(["']?\s*:\s+)(\S.*)$"#),
        json_pair: re(r#""([A-Za-z0-9_\-]+)"(\s*:\s*)"(?:[^"\\]|\\.)*""#),
        url_password: re(r"(://[^/\s:@]+:)[^@\s/]+@"),
        url_key: re(r"(?i)([?&](?:access_token|token|api_key|apikey|key|sig|signature|password|secret)=)[^&\s\x22']+"),
        env_name: re(r#"^\s*(?:-\s+)?name:\s*["']?([A-Za-z0-9_.\-]+)["']?\s*$"#),
        env_value: re(r"^(\s*(?:-\s+)?value:\s+)\S.*$"),
        env_flow: re(r#"(name:\s*["']?([A-Za-z0-9_.\-]+)["']?\s*,\s*value:\s*)("[^"]*"|'[^']*'|[^,}]+)"#),
        flag_value: re(r#"(--?([A-Za-z0-9_.\-]+)=)([^\s"',\]]+)"#),
        flag_then_word: re(
            r#"((?:^|[\s"'\[,])(-{1,2}[A-Za-z][A-Za-z0-9_.\-]*)(?:\s+|["']?\s*,\s*["']?))([^\s"',\]\-][^\s"',\]]*)"#,
        ),
        item: re(r"^(\s*-\s+)\S.*$"),
        flag_item: re(r#"^\s*-\s+["']?(-{1,2}[A-Za-z][A-Za-z0-9_.\-]*)["']?\s*$"#),
    })
}

/// The line with the value of every credential key replaced by `***`: a YAML `key: value` (not a
/// block, flow collection, anchor or alias, which hold no credential by themselves), every JSON
/// `"key": "value"` in it, and the password or key a URL carries in its userinfo or query.
pub fn mask_credential_line(line: &str) -> Cow<'_, str> {
    unchanged_borrowed(line, mask_line(line))
}

/// Owned only when something was masked: a replacement that put back what it matched still
/// allocates, and callers read `Owned` as "a credential was here".
fn unchanged_borrowed<'l>(line: &'l str, masked: Cow<'_, str>) -> Cow<'l, str> {
    match masked {
        Cow::Owned(m) if m != line => Cow::Owned(m),
        _ => Cow::Borrowed(line),
    }
}

/// `pass` over the text so far, which stays borrowed while no pass has replaced anything.
fn then<'l>(text: Cow<'l, str>, pass: impl for<'t> FnOnce(&'t str) -> Cow<'t, str>) -> Cow<'l, str> {
    match text {
        Cow::Borrowed(t) => pass(t),
        Cow::Owned(t) => Cow::Owned(pass(&t).into_owned()),
    }
}

/// The passes in order, each seeing `***` where an earlier one masked; cheap tests first, since
/// most lines of a render hold neither a flag nor a key and a value.
fn mask_line(line: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(line);
    if line.contains('-') {
        if line.contains('=') {
            text = then(text, mask_flags);
        }
        text = then(text, mask_flag_words);
    }
    if !text.contains(':') {
        return text;
    }
    let text = then(text, |t| patterns().url_password.replace_all(t, "${1}***@"));
    let text = then(text, |t| patterns().url_key.replace_all(t, "${1}***"));
    then(text, mask_keys)
}

/// Whether a word is a command-line flag named for a credential: `--api-key`, `-token`,
/// `--storage.remote.password` (the last dotted part names it). Not `--password-file`.
pub fn is_credential_flag(word: &str) -> bool {
    let Some(name) = word.strip_prefix('-') else { return false };
    let name = name.strip_prefix('-').unwrap_or(name);
    !name.is_empty() && !name.contains(['=', ' ']) && is_credential_key(name.rsplit('.').next().unwrap_or(name))
}

fn mask_flags(line: &str) -> Cow<'_, str> {
    patterns().flag_value.replace_all(line, |c: &Captures<'_>| {
        if is_credential_flag(&format!("-{}", &c[2])) { format!("{}***", &c[1]) } else { c[0].to_owned() }
    })
}

/// A credential flag whose value is the next word, in a shell line or a flow sequence.
fn mask_flag_words(line: &str) -> Cow<'_, str> {
    patterns().flag_then_word.replace_all(line, |c: &Captures<'_>| {
        if is_credential_flag(&c[2]) { format!("{}***", &c[1]) } else { c[0].to_owned() }
    })
}

fn mask_keys(line: &str) -> Cow<'_, str> {
    let json = patterns().json_pair.replace_all(line, |c: &Captures<'_>| {
        if is_credential_key(&c[1]) { format!("\"{}\"{}\"***\"", &c[1], &c[2]) } else { c[0].to_owned() }
    });
    let Some(c) = patterns().yaml_pair.captures(&json) else { return json };
    let value = &c[4];
    let word = value.split(" #").next().unwrap_or(value).trim();
    // `automountServiceAccountToken: true` is a switch, not a credential.
    let typed = !matches!(super::node::resolve_plain(word), super::node::Resolved::Str(_));
    if !is_credential_key(&c[2])
        || typed
        || value.starts_with(['|', '>', '{', '[', '&', '*', '#'])
        || value.starts_with("\"***\"")
    {
        return json;
    }
    Cow::Owned(format!("{}{}{}***", &c[1], &c[2], &c[3]))
}

/// A credential that only the line before names: an environment variable's value, when its name
/// says it holds a credential (`DB_PASSWORD`, `CLOUD_PROVIDER_API_KEY`), as Kubernetes env items
/// are `name:` then `value:` lines, or one flow mapping; and an args item after a bare credential
/// flag (`- --password`, then `- hunter2`). `previous` is the line before `line`.
pub fn mask_after<'l>(previous: &str, line: &'l str) -> Cow<'l, str> {
    if let Some(v) = patterns().env_value.captures(line)
        && patterns().env_name.captures(previous).is_some_and(|n| is_credential_key(&n[1]))
    {
        return Cow::Owned(format!("{}***", &v[1]));
    }
    if let Some(v) = patterns().item.captures(line)
        && patterns().flag_item.captures(previous).is_some_and(|f| is_credential_flag(&f[1]))
    {
        return Cow::Owned(format!("{}***", &v[1]));
    }
    let masked = patterns().env_flow.replace_all(line, |c: &Captures<'_>| {
        if is_credential_key(&c[2]) { format!("{}***", &c[1]) } else { c[0].to_owned() }
    });
    unchanged_borrowed(line, masked)
}

/// Every line of `text` through [`mask_credential_line`].
pub fn mask_credentials(text: &str) -> Cow<'_, str> {
    if !text.lines().any(|l| matches!(mask_credential_line(l), Cow::Owned(_))) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for l in text.split_inclusive('\n') {
        let body = l.trim_end_matches(['\n', '\r']);
        out.push_str(&mask_credential_line(body));
        out.push_str(&l[body.len()..]);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{is_credential_key, mask_credential_line, mask_credentials};

    #[test]
    fn credentials_in_config_text_are_masked() {
        let prom = "remote_write:\n  - url: https://mimir.example.com/api/v1/push\n    basic_auth:\n      username: metering\n      password: hunter2\n    bearer_token_file: /var/run/token\n";
        let m = mask_credentials(prom);
        assert!(!m.contains("hunter2") && m.contains("      password: ***\n"), "{m}");
        assert!(m.contains("username: metering") && m.contains("bearer_token_file: /var/run/token"));
        assert!(m.contains("url: https://mimir.example.com/api/v1/push"));
        assert_eq!(m.lines().count(), prom.lines().count());
        let kubecost = r#"  alerts.json: '{"enabled":true,"globalSlackWebhookUrl":"https://hooks.slack.com/services/T0/B0/x\"y","alerts":[]}'"#;
        let m = mask_credential_line(kubecost);
        assert_eq!(m, r#"  alerts.json: '{"enabled":true,"globalSlackWebhookUrl":"***","alerts":[]}'"#);
        assert_eq!(mask_credential_line("- slack_api_url: 'https://hooks.slack.com/x'"), "- slack_api_url: ***");
        assert_eq!(mask_credential_line("    routing_key: abc # pager"), "    routing_key: ***");
        // Blocks, references to Secrets and plain words stay.
        for kept in [
            "password: |",
            "apiKey: {name: s, key: k}",
            "tokenUrl: https://x",
            "secretName: creds",
            "token:",
            "automountServiceAccountToken: false",
            "token: null",
        ] {
            assert_eq!(mask_credential_line(kept), kept);
        }
        assert!(
            is_credential_key("client_secret") && is_credential_key("bot-token") && !is_credential_key("password_file")
        );
        assert!(matches!(mask_credentials("a: 1\n"), std::borrow::Cow::Borrowed(_)));
        // Nothing masked is nothing changed, though a pattern matched: callers read Owned as masked.
        for kept in [r#"  "title": "x","#, "  - --log.level=info", "{name: A, value: b}"] {
            assert!(matches!(mask_credential_line(kept), std::borrow::Cow::Borrowed(_)), "{kept}");
        }
        assert!(matches!(super::mask_after("", "{name: A, value: b}"), std::borrow::Cow::Borrowed(_)));
        // Credentials inside URLs, under any key.
        assert_eq!(
            mask_credential_line("  - url: https://metering:hunter2@mimir.example.com/api/v1/push"),
            "  - url: https://metering:***@mimir.example.com/api/v1/push"
        );
        assert_eq!(
            mask_credential_line("url: https://hooks.example.com/x?token=abc123&team=finops"),
            "url: https://hooks.example.com/x?token=***&team=finops"
        );
        assert_eq!(mask_credential_line("url: http://prometheus:9090/api"), "url: http://prometheus:9090/api");
        // Command-line flags named for a credential.
        assert_eq!(mask_credential_line("  - --api-key=abc123"), "  - --api-key=***");
        assert_eq!(
            mask_credential_line("args: [--log.level=info, --auth.token=abc]"),
            "args: [--log.level=info, --auth.token=***]"
        );
        assert_eq!(
            mask_credential_line("  - --storage.tsdb.retention.size=9GB"),
            "  - --storage.tsdb.retention.size=9GB"
        );
        // A credential flag whose value is the next word or item.
        assert_eq!(mask_credential_line("  - app --password hunter2 -v"), "  - app --password *** -v");
        assert_eq!(
            mask_credential_line(r#"args: ["--token", "abc", "--log", "x"]"#),
            r#"args: ["--token", "***", "--log", "x"]"#
        );
        assert_eq!(mask_credential_line("args: [-api-key, abc]"), "args: [-api-key, ***]");
        for kept in ["  - --password-file /etc/p", "  - kube-state-metrics --token-ttl 5m", "- --password --verbose"] {
            assert_eq!(mask_credential_line(kept), kept);
        }
        assert_eq!(super::mask_after("  - --auth.token", "  - \"abc\""), "  - ***");
        assert_eq!(super::mask_after("  - --log.level", "  - debug"), "  - debug");
        assert_eq!(super::mask_after("  - --password=x", "  - debug"), "  - debug");
        // Environment variables named for a credential.
        assert_eq!(
            super::mask_after("  - name: CLOUD_PROVIDER_API_KEY", "    value: \"AIza\" # key"),
            "    value: ***"
        );
        assert_eq!(super::mask_after("  - name: LOG_LEVEL", "    value: info"), "    value: info");
        assert_eq!(
            super::mask_after("", "env: [{name: DB_PASSWORD, value: 'hunter2'}, {name: A, value: b}]"),
            "env: [{name: DB_PASSWORD, value: ***}, {name: A, value: b}]"
        );
    }
}
