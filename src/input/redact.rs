//! Secret values masked out of source text, for the snippets of human reports. Works on the text
//! itself, so it also covers documents that failed to parse.

/// The text with every value under a Secret's top-level `data:` / `stringData:` replaced by `***`;
/// lines are kept, so positions stay valid.
pub fn mask_secrets(text: &str) -> String {
    if !text.contains("Secret") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut doc: Vec<&str> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            flush(&mut out, &doc);
            doc.clear();
            out.push_str(line);
        } else {
            doc.push(line);
        }
    }
    flush(&mut out, &doc);
    out
}

fn is_secret(doc: &[&str]) -> bool {
    doc.iter().any(|l| {
        let t = l.trim();
        let t = t.trim_start_matches(['{', ' ']);
        let t = t.trim_end_matches([',', '}', ' ']);
        matches!(
            t,
            "kind: Secret" | "kind: \"Secret\"" | "kind: 'Secret'" | "\"kind\": \"Secret\"" | "\"kind\":\"Secret\""
        ) || t.contains("\"kind\": \"Secret\"")
            || t.contains("kind: Secret,")
    })
}

fn flush(out: &mut String, doc: &[&str]) {
    if !is_secret(doc) {
        doc.iter().for_each(|l| out.push_str(l));
        return;
    }
    let mut inside = false;
    for l in doc {
        let body = l.trim_end_matches(['\n', '\r']);
        let ending = &l[body.len()..];
        let indent = body.len() - body.trim_start().len();
        let trimmed = body.trim_start();
        let starts_block =
            ["data:", "stringData:", "\"data\":", "\"stringData\":"].iter().any(|k| trimmed.starts_with(k));
        if starts_block && (indent == 0 || trimmed.starts_with('"')) {
            let (key, rest) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            let rest = rest.trim();
            inside = rest.is_empty() || rest == "{" || rest == "|" || rest.starts_with('#');
            let shown = if rest.is_empty() || rest == "{" { rest.to_owned() } else { "***".to_owned() };
            out.push_str(&format!("{}{key}: {shown}{ending}", " ".repeat(indent)));
            continue;
        }
        if inside {
            let closes_json = trimmed.starts_with('}');
            let top_level_yaml = indent == 0 && !trimmed.is_empty() && !trimmed.starts_with('#');
            if closes_json || top_level_yaml {
                inside = false;
                out.push_str(l);
                continue;
            }
            match trimmed.split_once(':') {
                Some((k, _)) if !k.contains(' ') || k.starts_with('"') => {
                    out.push_str(&format!("{}{k}: ***{ending}", " ".repeat(indent)))
                }
                _ if trimmed.is_empty() => out.push_str(l),
                _ => out.push_str(&format!("{}***{ending}", " ".repeat(indent))),
            }
            continue;
        }
        out.push_str(l);
    }
}

#[cfg(test)]
mod tests {
    use super::mask_secrets;

    #[test]
    fn masks_yaml_and_json_secrets_and_keeps_lines() {
        let y = "kind: ConfigMap\ndata:\n  a: visible\n---\nkind: Secret\ndata:\n  token: c2VjcmV0\nstringData:\n  conf: |\n    password: hunter2\n    more\nmetadata:\n  name: x\n";
        let m = mask_secrets(y);
        assert!(m.contains("a: visible"));
        assert!(!m.contains("c2VjcmV0") && !m.contains("hunter2") && !m.contains("more"));
        assert_eq!(m.lines().count(), y.lines().count());
        assert!(m.contains("  name: x"));
        let j = "{\n  \"kind\": \"Secret\",\n  \"data\": {\n    \"token\": \"c2VjcmV0\"\n  },\n  \"metadata\": {\"name\": \"x\"}\n}\n";
        let m = mask_secrets(j);
        assert!(!m.contains("c2VjcmV0"));
        assert!(m.contains("\"name\": \"x\""));
    }
}
