//! What a Prometheus container runs with: its flags, its data directory and its config file.

use serde_json::Value;

use super::{ContainerInfo, Model, Object, Workload};
use crate::input::Node;

#[derive(Debug, Clone)]
pub struct Flag<'a> {
    pub name: String,
    pub value: Option<String>,
    pub node: &'a Node,
}

/// Flags from `command` and `args`, in both `--name=value` and `--name value` forms.
pub fn flags<'a>(c: &ContainerInfo<'a>) -> Vec<Flag<'a>> {
    let mut out: Vec<Flag<'a>> = Vec::new();
    for list in ["command", "args"] {
        let items = c.node.get(list).and_then(Node::as_seq).unwrap_or_default();
        let mut i = 0;
        while i < items.len() {
            let node = &items[i];
            let text = node.as_str().unwrap_or_default();
            i += 1;
            let Some(body) = text.strip_prefix("--").or_else(|| text.strip_prefix('-').filter(|b| !b.is_empty()))
            else {
                continue;
            };
            match body.split_once('=') {
                Some((n, v)) => out.push(Flag { name: n.to_owned(), value: Some(v.to_owned()), node }),
                None => {
                    let value = items.get(i).and_then(Node::as_str).filter(|v| !v.starts_with('-'));
                    if value.is_some() {
                        i += 1;
                    }
                    out.push(Flag { name: body.to_owned(), value: value.map(str::to_owned), node });
                }
            }
        }
    }
    out
}

pub fn flag<'f, 'a>(flags: &'f [Flag<'a>], name: &str) -> Option<&'f Flag<'a>> {
    flags.iter().rev().find(|f| f.name == name)
}

/// `v2.35.0` -> 2, from the image tag; None for `latest` or a digest.
pub fn major_version(image: &str) -> Option<u32> {
    let tag = image.rsplit_once(':').map(|(_, t)| t)?;
    if tag.contains('/') {
        return None;
    }
    let t = tag.strip_prefix('v').unwrap_or(tag);
    t.split(['.', '-']).next()?.parse().ok()
}

/// Where a path inside the container is stored: the volume mount that holds it, if any.
pub fn mount_for<'a>(c: &ContainerInfo<'a>, path: &str) -> Option<&'a Node> {
    let mounts = c.node.get("volumeMounts").and_then(Node::as_seq).unwrap_or_default();
    mounts
        .iter()
        .filter(|m| {
            let mp = m.str_at(&["mountPath"]).unwrap_or_default().trim_end_matches('/');
            !mp.is_empty() && (path == mp || path.starts_with(&format!("{mp}/")))
        })
        .max_by_key(|m| m.str_at(&["mountPath"]).unwrap_or_default().len())
}

/// The data directory: `--storage.tsdb.path`, relative to the image's working directory `/prometheus`.
pub fn data_path(flags: &[Flag<'_>]) -> String {
    let p = flag(flags, "storage.tsdb.path").and_then(|f| f.value.clone()).unwrap_or_else(|| "data/".into());
    let p = if p.starts_with('/') { p } else { format!("/prometheus/{p}") };
    p.trim_end_matches('/').to_owned()
}

pub struct ConfigFile<'a> {
    pub configmap: &'a Object<'a>,
    pub key: String,
    pub value: Value,
}

/// Follows `--config.file` through the volume mount to the ConfigMap key that holds it.
pub fn config_file<'a>(model: &'a Model<'a>, w: &Workload<'a>, c: &ContainerInfo<'a>) -> Option<ConfigFile<'a>> {
    let fl = flags(c);
    let path = flag(&fl, "config.file")
        .and_then(|f| f.value.clone())
        .unwrap_or_else(|| "/etc/prometheus/prometheus.yml".into());
    let file = file_in_configmap(model, w, c, &path)?;
    Some(file)
}

/// The ConfigMap key that holds the file at `path` in container `c` (`volume_file`), parsed.
pub fn file_in_configmap<'a>(
    model: &'a Model<'a>,
    w: &Workload<'a>,
    c: &ContainerInfo<'a>,
    path: &str,
) -> Option<ConfigFile<'a>> {
    let (configmap, key) = volume_file(model, w, c, path)?;
    if configmap.id.kind != "ConfigMap" {
        return None;
    }
    let text = configmap.node.path(&["data"])?.get(&key)?.as_scalar()?;
    let parsed = crate::input::yaml::parse_stream(text.text);
    let value = parsed.documents.first().map(|d| d.root.to_json()).unwrap_or(Value::Null);
    Some(ConfigFile { configmap, key, value })
}

/// The ConfigMap or Secret of the input, and its key, that the file at `path` in container `c` is
/// read from: through the volume mounted deepest above it, its `subPath`, and the volume's
/// `items`, which rename keys to paths (a path no item names is not in the volume).
pub fn volume_file<'a>(
    model: &'a Model<'a>,
    w: &Workload<'a>,
    c: &ContainerInfo<'a>,
    path: &str,
) -> Option<(&'a Object<'a>, String)> {
    let mount = mount_for(c, path)?;
    let mount_path = mount.str_at(&["mountPath"])?.trim_end_matches('/');
    let (_, vol) = w.volume(mount.str_at(&["name"])?)?;
    let (kind, name, items) = match (&vol.config_map, &vol.secret) {
        (Some(cm), _) => ("ConfigMap", cm.name.as_str(), cm.items.as_deref()),
        (None, Some(secret)) => ("Secret", secret.secret_name.as_deref()?, secret.items.as_deref()),
        (None, None) => return None,
    };
    let in_volume = match mount.str_at(&["subPath"]).filter(|s| !s.is_empty()) {
        Some(sub) => sub,
        None => path.strip_prefix(mount_path)?.trim_start_matches('/'),
    };
    let key = match items.filter(|i| !i.is_empty()) {
        Some(items) => items.iter().find(|i| i.path.trim_start_matches("./") == in_volume)?.key.clone(),
        None => in_volume.to_owned(),
    };
    let ns = model.objects[w.object].namespace();
    Some((model.core_object(kind, ns, name)?, key))
}

/// Prometheus's `global.scrape_interval` when the config sets none.
pub const DEFAULT_SCRAPE_INTERVAL: &str = "1m";
/// prometheus-operator's `scrapeInterval` when the Prometheus sets none (the VictoriaMetrics
/// operator's `defaultScrapeInterval` for a VMAgent is the same).
pub const OPERATOR_SCRAPE_INTERVAL: &str = "30s";

/// Prometheus durations: `15d`, `24h`, `1w`, `90m`, `1y`, combined (`1d12h`).
pub fn duration_seconds(d: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = d.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3600.0,
                'd' => 86400.0,
                'w' => 604800.0,
                'y' => 31536000.0,
                _ => return None,
            }
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    num.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use super::duration_seconds as s;
        assert_eq!(s("15d"), Some(15.0 * 86400.0));
        assert_eq!(s("1d12h"), Some(129600.0));
        assert_eq!(s(super::DEFAULT_SCRAPE_INTERVAL), Some(60.0));
        assert_eq!(s(super::OPERATOR_SCRAPE_INTERVAL), Some(30.0));
        assert_eq!(s("24h"), Some(86400.0));
        assert_eq!(s("x"), None);
    }

    #[test]
    fn versions_from_tags() {
        assert_eq!(super::major_version("quay.io/prometheus/prometheus:v3.14.0"), Some(3));
        assert_eq!(super::major_version("public.ecr.aws/kubecost/prometheus:v2.35.0"), Some(2));
        assert_eq!(super::major_version("cgr.dev/chainguard/prometheus:latest"), None);
        assert_eq!(super::major_version("localhost:5000/prometheus"), None);
    }
}
