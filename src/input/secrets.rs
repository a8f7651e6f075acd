//! What in the input is secret, decided in one place from the parsed tree, so that the shape the
//! YAML is written in does not matter (a Secret in a `List`, in one line of JSON, with its kind
//! quoted or escaped, any line ends). Two things come out of it:
//! - masks: where a snippet of the source must show `***` instead of the text;
//! - values: the secret texts themselves, which the report guard (`report/guard.rs`) removes from
//!   every byte written, whatever path through the rules and the diff carried them there.
//!
//! Secret: the values under a Secret's `data` and `stringData`; the value of a credential-named key
//! (`password`, `bearer_token`, `DB_PASSWORD`...) of any scalar type but a switch; an environment
//! variable named for a credential, or whose value is an encoded blob (Kubecost's `HELM_VALUES`);
//! a command-line flag's value when the flag names a credential; the password and token a URL
//! carries; the `last-applied-configuration` annotation whole; and the same inside configuration
//! files embedded in the input (a prometheus.yml in a ConfigMap, an additionalScrapeConfigs Secret).

use base64::Engine;

use super::node::{Node, Resolved, Style};
use super::redact::{is_credential_flag, is_credential_key};

/// Where a snippet must not show the source: on `line`, from the 1-based character column `col` to
/// the end of the line, or the whole line but its indentation when `col` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mask {
    pub line: u32,
    pub col: u32,
}

/// What one source holds that is secret.
#[derive(Debug, Default, Clone)]
pub struct Found {
    pub masks: Vec<Mask>,
    pub values: Vec<String>,
}

impl Found {
    pub fn append(&mut self, other: &mut Found) {
        self.masks.append(&mut other.masks);
        self.values.append(&mut other.values);
    }
}

/// Annotations that hold a whole object as kubectl last applied it: a Secret's data among it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Embedded texts are read for credentials this many levels down (a Secret's base64 data holding
/// a prometheus.yml is two).
const MAX_EMBEDDING: u8 = 2;
/// An embedded text larger than this is not read again for credentials (its values are still
/// masked where a credential-named key holds them in the tree).
const MAX_EMBEDDED_BYTES: usize = 1 << 20;
/// An environment variable's value this long that is all base64 is an encoded blob of settings.
const MIN_BLOB: usize = 64;

/// The secrets of one parsed document, whose text ends before line `end` (exclusive).
pub fn collect(root: &Node, end: u32, found: &mut Found) {
    Walk { found, masks: true, depth: 0 }.node(root, end);
}

/// A document that did not parse: if it may be a Secret, each of its lines is masked after its
/// first colon, or whole. It may be one when a line that names a kind also says `secret`, or
/// writes its kind through an alias, a tag or an escape (`kind: "Secr\x65t"`), or when the text
/// escapes anything at all; an RBAC role that lists `secrets` among its resources is shown.
pub fn unparsed(text: &str, first_line: u32, found: &mut Found) {
    let kind_line = |l: &str| {
        let l = l.to_ascii_lowercase();
        let alone = l.trim().trim_matches(|c: char| "\"',{}[]- ".contains(c)) == "secret";
        alone || l.contains("kind") && (l.contains("secret") || l.contains(['*', '!', '%', '&']))
    };
    if !(text.contains('\\') || super::source::lines(text).any(kind_line)) {
        return;
    }
    for (line, l) in (first_line..).zip(super::source::lines(text)) {
        let col = match l.find(':') {
            Some(at) => l[..at].chars().count() as u32 + 2,
            None => 0,
        };
        found.masks.push(Mask { line, col });
    }
}

/// `text` with `masks` (sorted) applied: each masked line keeps what stands before its mask (a
/// key, the indentation) and shows `***` for the rest; lines and their ends stay where they were.
pub fn masked_text(text: &str, masks: &[Mask]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut masks = masks.iter().peekable();
    let mut rest = text;
    let mut line = 1u32;
    while !rest.is_empty() {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let ending = if rest[end..].starts_with("\r\n") { 2 } else { usize::from(end < rest.len()) };
        let body = &rest[..end];
        let mut col = None;
        while let Some(m) = masks.next_if(|m| m.line <= line) {
            if m.line == line {
                let c =
                    if m.col == 0 { body.chars().take_while(|c| c.is_whitespace()).count() as u32 + 1 } else { m.col };
                col = Some(col.map_or(c, |k: u32| k.min(c)));
            }
        }
        match col {
            Some(c) => {
                out.extend(body.chars().take(c as usize - 1));
                out.push_str("***");
            }
            None => out.push_str(body),
        }
        out.push_str(&rest[end..end + ending]);
        rest = &rest[end + ending..];
        line += 1;
    }
    out
}

struct Walk<'f> {
    found: &'f mut Found,
    /// Off inside an embedded text, whose positions are not the source's.
    masks: bool,
    depth: u8,
}

impl Walk<'_> {
    fn node(&mut self, n: &Node, end: u32) {
        if let Some(entries) = n.as_map() {
            let secret = entries
                .iter()
                .any(|e| e.key.text() == "kind" && e.value.as_str().is_some_and(|k| k.eq_ignore_ascii_case("secret")));
            let env = env_secret(n);
            for (i, e) in entries.iter().enumerate() {
                let next = entries.get(i + 1).map_or(end, |f| f.key.start().line.max(e.key.start().line + 1));
                let key = e.key.text();
                if secret && (key == "data" || key == "stringData") {
                    self.secret(&e.value, next, key == "data");
                } else if key == LAST_APPLIED || (key == "value" && env) {
                    self.secret(&e.value, next, key == "value");
                } else if secret_key(key) && e.value.as_scalar().is_some() {
                    self.secret(&e.value, next, false);
                } else {
                    self.node(&e.value, next);
                }
            }
        } else if let Some(items) = n.as_seq() {
            let mut flag = false;
            for (i, item) in items.iter().enumerate() {
                let next = items.get(i + 1).map_or(end, |f| f.start().line.max(item.start().line + 1));
                let text = item.as_str();
                if flag && item.as_scalar().is_some() {
                    self.secret(item, next, false);
                } else {
                    self.node(item, next);
                }
                flag = text.is_some_and(is_credential_flag);
            }
        } else if let Some(s) = n.as_scalar()
            && let Resolved::Str(text) = s.resolve()
        {
            self.words(text);
            if s.style == Style::Block || text.contains('\n') {
                self.embedded(text);
            }
        }
    }

    /// A value that is secret whole: masked from its start to the line before `end` (where the
    /// next key or item starts), and every scalar in it kept for the guard.
    fn secret(&mut self, n: &Node, end: u32, base64: bool) {
        if let Some(entries) = n.as_map() {
            for (i, e) in entries.iter().enumerate() {
                let next = entries.get(i + 1).map_or(end, |f| f.key.start().line.max(e.key.start().line + 1));
                self.secret(&e.value, next, base64);
            }
            return;
        }
        if let Some(items) = n.as_seq() {
            for (i, item) in items.iter().enumerate() {
                let next = items.get(i + 1).map_or(end, |f| f.start().line.max(item.start().line + 1));
                self.secret(item, next, base64);
            }
            return;
        }
        let Some(s) = n.as_scalar() else { return };
        if self.masks {
            let start = n.start();
            self.found.masks.push(Mask { line: start.line, col: start.col });
            if n.span().end == start {
                self.found.masks.extend((start.line + 1..end).map(|line| Mask { line, col: 0 }));
            }
        }
        if !matches!(s.resolve(), Resolved::Null | Resolved::Bool(_)) {
            self.value(s.text, base64);
        }
    }

    fn value(&mut self, text: &str, base64: bool) {
        if text.trim().is_empty() {
            return;
        }
        self.found.values.push(text.to_owned());
        let decoded = if base64 { decode(text) } else { None };
        if let Some(d) = decoded {
            self.embedded(&d);
            self.found.values.push(d);
        } else {
            self.embedded(text);
        }
    }

    /// Flags and URLs inside a string: a shell line's `--token abc`, a URL's `user:password@`.
    fn words(&mut self, text: &str) {
        if text.contains("://") {
            for url in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'').filter(|w| w.contains("://")) {
                self.url(url);
            }
        }
        if text.contains('-') {
            let words: Vec<&str> = text.split_whitespace().map(|w| w.trim_matches(['"', '\'', ','])).collect();
            for (i, w) in words.iter().enumerate() {
                match w.split_once('=') {
                    Some((flag, v)) if is_credential_flag(flag) => self.value(v, false),
                    None if is_credential_flag(w) => {
                        if let Some(next) = words.get(i + 1).filter(|n| !n.starts_with('-')) {
                            self.value(next, false);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn url(&mut self, url: &str) {
        let Some((_, rest)) = url.split_once("://") else { return };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            self.value(password, false);
        }
        if let Some((_, query)) = rest.split_once('?') {
            for pair in query.split(['&', '#']) {
                if let Some((k, v)) = pair.split_once('=')
                    && (is_credential_key(k) || matches!(k.to_ascii_lowercase().as_str(), "key" | "sig" | "signature"))
                {
                    self.value(v, false);
                }
            }
        }
    }

    /// A configuration file or a JSON object inside a string: read as YAML for credentials, when
    /// it names one at all.
    fn embedded(&mut self, text: &str) {
        if self.depth >= MAX_EMBEDDING || text.len() > MAX_EMBEDDED_BYTES || !names_a_credential(text) {
            return;
        }
        let parsed = super::yaml::parse_stream(text);
        let mut inner = Walk { found: self.found, masks: false, depth: self.depth + 1 };
        for d in &parsed.documents {
            inner.node(&d.root, u32::MAX);
        }
    }
}

/// A key named for a credential, but not a camel-case `...Secret` key: those name a Secret
/// (`configSecret: alertmanager-main`, `existingSecret`), and a name masked everywhere would hide
/// the objects that bear it.
fn secret_key(key: &str) -> bool {
    let reference = key.strip_suffix("Secret").is_some_and(|head| head.ends_with(|c: char| c.is_ascii_lowercase()));
    is_credential_key(key) && !reference
}

/// An environment variable item whose value is secret: named for a credential, or an encoded blob.
pub fn env_secret(n: &Node) -> bool {
    let (Some(name), Some(value)) = (n.get("name").and_then(Node::as_str), n.get("value")) else { return false };
    is_credential_key(name) || value.as_str().is_some_and(is_blob)
}

/// A value that is an encoded blob of settings (Kubecost's `HELM_VALUES`): never shown, only said
/// to have changed.
pub fn is_blob(value: &str) -> bool {
    value.len() >= MIN_BLOB && decode(value).is_some()
}

/// Whether the scalar `value` under `key` is secret wherever it stands: a credential-named key's
/// value but a switch or null, or the last-applied annotation.
pub fn secret_under(key: &str, value: &Node) -> bool {
    key == LAST_APPLIED
        || (secret_key(key)
            && value.as_scalar().is_some_and(|s| !matches!(s.resolve(), Resolved::Null | Resolved::Bool(_))))
}

/// Base64 text decoded, when it is base64 and the bytes are text.
fn decode(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether a text may name a credential: the cheap test before an embedded text is parsed again.
fn names_a_credential(text: &str) -> bool {
    use std::sync::OnceLock;
    static WORDS: OnceLock<Option<aho_corasick::AhoCorasick>> = OnceLock::new();
    let words = WORDS.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build([
                "pass",
                "secret",
                "token",
                "credential",
                "webhook",
                "api_url",
                "apiurl",
                "api_key",
                "apikey",
                "api-key",
                "routing_key",
                "service_key",
                "user_key",
                "access_key",
                "private",
                "://",
                "kind",
            ])
            .ok()
    });
    words.as_ref().is_none_or(|w| w.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Found {
        let mut f = Found::default();
        for d in super::super::yaml::parse_stream(text).documents {
            collect(&d.root, 1000, &mut f);
        }
        f
    }

    #[test]
    fn secrets_are_found_in_any_shape() {
        let cases = [
            "kind: List\nitems:\n- kind: Secret\n  data: {token: CANARY}\n",
            r#"{"kind":"Secret","data":{"token":"CANARY"}}"#,
            "kind: \"Secr\\x65t\"\nstringData:\n  token: CANARY\n",
            "'kind': Secret\n'stringData' :\n  a: CANARY\n",
            "kind: !!str Secret # c\nstringData: {a: [x, {b: CANARY}]}\n",
            "kind: ConfigMap\ndata:\n  prometheus.yml: |\n    basic_auth: {password: CANARY}\n",
            "kind: ConfigMap\ndata:\n  a.yml: |\n    http_config: {bearer_token: CANARY}\n",
            "kind: Deployment\nspec:\n  env:\n  - {name: DB_PASSWORD, value: CANARY}\n",
            "kind: Deployment\nargs: [--password, CANARY]\n",
            "kind: Deployment\ncommand: [sh, -c, 'run --api-key=CANARY']\n",
            "kind: X\nurl: https://user:CANARY@example.com/x?token=CANARY2\n",
            "kind: X\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"t\":\"CANARY\"}}'\n",
        ];
        for text in cases {
            let f = found(text);
            assert!(f.values.iter().any(|v| v.contains("CANARY")), "{text}: {:?}", f.values);
        }
        let f = found("kind: X\nspec:\n  DB_PASSWORD: 12345678\n  automountServiceAccountToken: true\n");
        assert_eq!(f.values, ["12345678"]);
        let blob =
            base64::engine::general_purpose::STANDARD.encode("kubecostToken: CANARY\ngrafana: {adminPassword: x}\n");
        let f = found(&format!("kind: Deployment\nenv:\n- name: HELM_VALUES\n  value: {blob}\n"));
        assert!(f.values.contains(&blob) && f.values.iter().any(|v| v == "CANARY"), "{:?}", f.values);
        let data =
            base64::engine::general_purpose::STANDARD.encode("scrape_configs:\n- basic_auth: {password: CANARY}\n");
        let f = found(&format!("kind: Secret\ndata:\n  additional.yaml: {data}\n"));
        assert!(f.values.iter().any(|v| v == "CANARY"), "{:?}", f.values);
    }

    #[test]
    fn masks_cover_the_value_and_its_lines_but_not_the_keys() {
        let text = "kind: Secret\ndata:\n  a: eA==\n  b: |\n    line one\n    line two\n  c: eQ==\ntype: Opaque\n";
        let f = found(text);
        let masks: Vec<(u32, u32)> = f.masks.iter().map(|m| (m.line, m.col)).collect();
        // A block scalar starts where its text does, under its `|`.
        assert_eq!(masks, [(3, 6), (5, 5), (6, 0), (7, 6)]);
    }

    #[test]
    fn an_unparsed_document_is_masked_when_it_may_be_a_secret() {
        for text in
            ["kind: Secret\ndata: {a: [x\n", "{\"kind\": \"Secret\", \"data\": {\n", "kind: \"Secr\\x65t\"\nx: [\n"]
        {
            let mut f = Found::default();
            unparsed(text, 1, &mut f);
            assert!(!f.masks.is_empty(), "{text}");
        }
        let mut f = Found::default();
        unparsed("kind: ClusterRole\nrules:\n- resources: [secrets]\n  verbs: [\n", 1, &mut f);
        assert!(f.masks.is_empty());
    }

    #[test]
    fn masked_text_keeps_keys_lines_and_line_ends() {
        let text = "a: 1\r\n  b: secret\r  c: |\n    more\nd: 2";
        let masks = [Mask { line: 2, col: 6 }, Mask { line: 4, col: 0 }];
        assert_eq!(masked_text(text, &masks), "a: 1\r\n  b: ***\r  c: |\n    ***\nd: 2");
    }

    #[test]
    fn nothing_is_found_in_what_holds_no_secret() {
        let f = found(
            "kind: ConfigMap\ndata:\n  secretName: creds\n  tokenUrl: https://x/y\n  a: b\nspec:\n  args: [--log.level, debug]\n  \
             configSecret: alertmanager-main\n",
        );
        assert!(f.values.is_empty() && f.masks.is_empty(), "{f:?}");
    }
}
