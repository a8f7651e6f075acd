//! Where Kubernetes' reader (go-yaml v2 under sigs.k8s.io/yaml) types or refuses what the YAML
//! parser accepts: explicit tags, keys that are not strings, values JSON cannot hold. Each rule
//! here is checked against that reader by `tests/yaml_oracle.rs` (docs/yaml.md).

use std::borrow::Cow;

use base64::Engine;
use saphyr_parser::Tag;

use super::node::{Resolved, Scalar, Style, resolve_plain};

/// A scalar with an explicit tag, as go-yaml v2 decodes it: the text and style that read the same
/// way untagged, or the reason Kubernetes refuses the document.
pub fn tagged<'a>(text: &'a str, style: Style, tag: &Tag) -> Result<(Cow<'a, str>, Style), String> {
    if !tag.is_yaml_core_schema() {
        // A local tag (`!thing`) says nothing go-yaml knows: the value stays a string.
        return Ok((Cow::Borrowed(text), Style::Quoted));
    }
    let kind = tag.suffix.as_str();
    let fits = |r: &Resolved<'_>| match kind {
        "int" => matches!(r, Resolved::Int(_)),
        "float" => matches!(r, Resolved::Int(_) | Resolved::Float(_)),
        "bool" => matches!(r, Resolved::Bool(_)),
        "null" => matches!(r, Resolved::Null),
        _ => true,
    };
    match kind {
        "int" | "float" | "bool" | "null" => {
            let resolved = resolve_plain(text);
            match fits(&resolved) {
                true => Ok((Cow::Borrowed(text), Style::Plain)),
                false => Err(format!(
                    "`!!{kind} {}`: Kubernetes cannot decode {} as a !!{kind} and refuses the document",
                    short(text),
                    type_name(&resolved)
                )),
            }
        }
        "binary" => {
            let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(bytes) => Ok((Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()), Style::Quoted)),
                Err(_) => Err("a `!!binary` value that is not base64: Kubernetes refuses the document".to_owned()),
            }
        }
        "timestamp" if !looks_like_date(text) => Err(format!(
            "`!!timestamp {}`: Kubernetes cannot decode it as a date and refuses the document",
            short(text)
        )),
        // `!!str`, `!!timestamp` (kept as its text) and the collection tags on a scalar.
        _ => Ok((Cow::Borrowed(text), if style == Style::Plain { Style::Quoted } else { style })),
    }
}

fn type_name(r: &Resolved<'_>) -> &'static str {
    match r {
        Resolved::Null => "a null",
        Resolved::Bool(_) => "a boolean",
        Resolved::Int(_) => "an integer",
        Resolved::Float(_) => "a float",
        Resolved::Str(_) => "a string",
    }
}

/// The start of go-yaml's timestamp forms: four digits and a dash.
fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Why Kubernetes refuses this scalar as a mapping key, if it does: a null key has no JSON form.
pub fn refused_key(s: Scalar<'_>) -> Option<String> {
    (s.style == Style::Plain && resolve_plain(s.text) == Resolved::Null).then(|| {
        let shown = if s.text.is_empty() { "an empty key" } else { "a null key" };
        format!("{shown} (`{}`): Kubernetes cannot convert it to JSON and refuses the document", s.text)
    })
}

/// Why Kubernetes refuses this scalar as a value, if it does: JSON has no infinity and no NaN.
pub fn refused_value(s: Scalar<'_>) -> Option<String> {
    match s.resolve() {
        Resolved::Float(f) if !f.is_finite() => Some(format!(
            "`{}` is not a number JSON can hold: Kubernetes refuses the document (quote it to mean the text)",
            s.text
        )),
        _ => None,
    }
}

/// A mapping key as sigs.k8s.io/yaml writes it: YAML 1.1 booleans and numbers become their Go
/// spelling (`yes:` is the key "true", `0x1F:` is "31", `1e3:` is "1000").
pub fn json_key(s: Scalar<'_>) -> Cow<'_, str> {
    match s.resolve() {
        Resolved::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        Resolved::Int(i) => Cow::Owned(i.to_string()),
        Resolved::Float(f) => Cow::Owned(go_float32(f)),
        Resolved::Null | Resolved::Str(_) => Cow::Borrowed(s.text),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`, with go-yaml's names for the infinities and NaN.
fn go_float32(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // The shortest digits that read back as the same f32, then Go's choice of notation: `%e` when
    // the exponent is below -4 or at least 6 (`'g'` at the shortest precision decides with 6).
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_spelled_as_go_spells_them() {
        assert_eq!(go_float32(1.5), "1.5");
        assert_eq!(go_float32(1000.0), "1000");
        assert_eq!(go_float32(1e6), "1e+06");
        assert_eq!(go_float32(123456.0), "123456");
        assert_eq!(go_float32(1234567.0), "1.234567e+06");
        assert_eq!(go_float32(0.0001), "0.0001");
        assert_eq!(go_float32(0.00001), "1e-05");
        assert_eq!(go_float32(0.1), "0.1");
        assert_eq!(go_float32(f64::INFINITY), ".inf");
    }
}
