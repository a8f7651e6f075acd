//! Finding, reading and validating `.meterguard.yaml`. A bad config is an error naming file,
//! line, column and the schema's complaint.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Config;
use crate::input::node::Pos;
use crate::input::{Node, yaml};

pub const FILE_NAME: &str = ".meterguard.yaml";

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.pos.line, self.pos.col, self.message)
    }
}

/// A loaded config, with the text it came from (exemptions are reported against it).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<String>,
    pub text: String,
}

/// `.meterguard.yaml` in `start` or the nearest parent, stopping at the repository root.
pub fn discover(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

pub fn schema() -> Value {
    let mut s = schemars::schema_for!(Config).to_value();
    s["$id"] = Value::String("https://meterguard.dev/schema/config.json".into());
    s
}

pub fn load_file(path: &str) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        pos: Pos { line: 1, col: 1 },
        message: format!("cannot read the config: {e}"),
    })?;
    let config = parse(path, &text)?;
    Ok(Loaded { config, file: Some(path.to_owned()), text })
}

pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let err = |pos: Pos, message: String| ConfigError { file: file.to_owned(), pos, message };
    let parsed = yaml::parse_stream(text);
    if let Some(p) = parsed.problems.first() {
        return Err(err(p.pos, p.message.clone()));
    }
    let Some(doc) = parsed.documents.first() else { return Ok(Config::default()) };
    let json = doc.root.to_json_as(crate::input::node::Schema::Core);
    let schema = schema();
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| err(Pos { line: 1, col: 1 }, format!("internal schema error: {e}")))?;
    let mut errors: Vec<ConfigError> = validator
        .iter_errors(&json)
        .map(|e| {
            let path: Vec<String> = e.instance_path().into_iter().map(|s| s.to_string()).collect();
            let node = locate(&doc.root, &path);
            if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() {
                let key = unexpected.first().cloned().unwrap_or_default();
                let at = node.entry(&key).map(|x| x.key.start()).unwrap_or(node.start());
                let allowed = allowed_keys(&schema, &path);
                let hint = strsim_best(&key, &allowed).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                let place = if path.is_empty() { "the top level".to_owned() } else { format!("`{}`", path.join(".")) };
                return err(at, format!("unknown key `{key}` in {place}{hint}; allowed: {}", allowed.join(", ")));
            }
            let place = if path.is_empty() { "config".to_owned() } else { path.join(".") };
            err(node.start(), format!("{place}: {e}"))
        })
        .collect();
    errors.sort_by_key(|e| e.pos);
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    let config: Config = serde_json::from_value(json).map_err(|e| err(doc.root.start(), e.to_string()))?;
    check_patterns(&config, &doc.root).map_err(|(pos, m)| err(pos, m))?;
    Ok(config)
}

fn locate<'n>(root: &'n Node, path: &[String]) -> &'n Node {
    let mut cur = root;
    for seg in path {
        let next = match seg.parse::<usize>() {
            Ok(i) if cur.as_seq().is_some() => cur.as_seq().and_then(|s| s.get(i)),
            _ => cur.get(seg),
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

fn resolve<'s>(s: &'s Value, root: &'s Value) -> &'s Value {
    let mut s = s;
    for _ in 0..8 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(t) => s = t,
                None => break,
            }
        } else if let Some(alt) = s.get("anyOf").and_then(Value::as_array) {
            match alt.iter().find(|a| a.get("type") != Some(&Value::String("null".into()))) {
                Some(a) => s = a,
                None => break,
            }
        } else {
            break;
        }
    }
    s
}

fn allowed_keys(root: &Value, path: &[String]) -> Vec<String> {
    let mut s = resolve(root, root);
    for seg in path {
        let next = if seg.parse::<usize>().is_ok() && s.get("items").is_some() {
            s.get("items")
        } else {
            s.get("properties").and_then(|p| p.get(seg)).or_else(|| s.get("additionalProperties"))
        };
        match next {
            Some(n) => s = resolve(n, root),
            None => return Vec::new(),
        }
    }
    s.get("properties").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn strsim_best(key: &str, allowed: &[String]) -> Option<String> {
    allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(key, a), a))
        .filter(|(s, _)| *s > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a.clone())
}

/// Globs and `re:` regular expressions must compile; report the first that does not, where it stands.
fn check_patterns(config: &Config, root: &Node) -> Result<(), (Pos, String)> {
    let mut selectors: Vec<(Vec<String>, &super::Selector)> = Vec::new();
    for (i, s) in config.metering.include.iter().enumerate() {
        selectors.push((vec!["metering".into(), "include".into(), i.to_string()], s));
    }
    for (i, s) in config.metering.exclude.iter().enumerate() {
        selectors.push((vec!["metering".into(), "exclude".into(), i.to_string()], s));
    }
    for (name, p) in &config.profiles {
        selectors.push((vec!["profiles".into(), name.clone(), "match".into()], &p.selector));
    }
    for (path, sel) in selectors {
        if let Some((pattern, why)) = sel.bad_patterns().into_iter().next() {
            let node = locate(root, &path);
            let at = find_scalar(node, &pattern).unwrap_or(node.start());
            return Err((at, format!("`{pattern}` is not a valid pattern: {why}")));
        }
    }
    for (i, e) in config.exemptions.iter().enumerate() {
        if let Some(date) = &e.expires
            && date.parse::<jiff::civil::Date>().is_err()
        {
            let node = locate(root, &["exemptions".into(), i.to_string(), "expires".into()]);
            return Err((node.start(), format!("expires: `{date}` is not a date (YYYY-MM-DD)")));
        }
    }
    Ok(())
}

/// Every rule id the config names must be one: a setting under `rules:` an exact id, an
/// exemption's `rules` entry a pattern that matches at least one. A misspelled id would otherwise
/// do nothing and say nothing (`sizing/memroy-below-floor: off`). `known` is every rule's id (the
/// registry sits after config in the pipeline, so the caller gives it).
pub fn check_rule_ids(loaded: &Loaded, known: &[&str]) -> Result<(), ConfigError> {
    let file = loaded.file.clone().unwrap_or_else(|| FILE_NAME.into());
    let parsed = yaml::parse_stream(&loaded.text);
    let Some(root) = parsed.documents.first().map(|d| &d.root) else { return Ok(()) };
    let suggest = |id: &str| {
        known
            .iter()
            .map(|k| (strsim::jaro_winkler(k, id), *k))
            .filter(|(score, _)| *score > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default()
    };
    let err = |pos: Pos, message: String| ConfigError { file: file.clone(), pos, message };
    if let Some(id) = loaded.config.rules.keys().find(|id| !known.contains(&id.as_str())) {
        let at = root.get("rules").and_then(|r| r.entry(id)).map_or(Pos { line: 1, col: 1 }, |e| e.key.start());
        return Err(err(at, format!("rules: `{id}` is no rule{}; `meterguard rules` lists them", suggest(id))));
    }
    let unmatched = loaded.config.exemptions.iter().enumerate().find_map(|(i, e)| {
        e.rules.iter().find(|p| !known.iter().any(|k| super::pattern_matches(p, k))).map(|p| (i, p))
    });
    if let Some((i, pattern)) = unmatched {
        let node = locate(root, &["exemptions".into(), i.to_string(), "rules".into()]);
        let at = find_scalar(node, pattern).unwrap_or(node.start());
        return Err(err(at, format!("exemption rules: `{pattern}` matches no rule{}", suggest(pattern))));
    }
    Ok(())
}

fn find_scalar(node: &Node, text: &str) -> Option<Pos> {
    if node.as_scalar().is_some_and(|s| s.text == text) {
        return Some(node.start());
    }
    let children: Vec<&Node> = match &node.kind {
        crate::input::Kind::Seq(items) => items.iter().collect(),
        crate::input::Kind::Map(entries) => entries.iter().map(|e| &e.value).collect(),
        crate::input::Kind::Scalar(_) => Vec::new(),
    };
    children.into_iter().find_map(|c| find_scalar(c, text))
}

/// Where exemption `i` stands in the config text, for findings about it.
pub fn exemption_pos(text: &str, i: usize) -> Pos {
    let parsed = yaml::parse_stream(text);
    parsed
        .documents
        .first()
        .map(|d| locate(&d.root, &["exemptions".into(), i.to_string()]).start())
        .unwrap_or(Pos { line: 1, col: 1 })
}

/// What `meterguard init` writes: every setting commented out, so that writing it changes nothing
/// (a live example there once hid the incident's sizing errors behind a made-up cluster scale).
pub const STARTER: &str = include_str!("starter.yaml");
