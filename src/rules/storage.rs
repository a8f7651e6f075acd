//! Storage: does the metering Prometheus keep its data across a reschedule, and fit in its volume?

use super::{Context, Finding, Rule, Severity, rule};
use crate::input::{Node, Span};
use crate::model::prometheus::duration_seconds;
use crate::model::quantity::{Quantity, bytes_human};
use crate::model::{ContainerInfo, Operated, Workload, prometheus};

rule!(
    EPHEMERAL_TSDB,
    "storage/ephemeral-tsdb",
    Error,
    "a metering Prometheus (or VictoriaMetrics) keeps its TSDB on an emptyDir or no volume",
    "An emptyDir is deleted with its pod: every reschedule (a node drain during an upgrade, an eviction) loses the \
     metering history it holds. Worse, it survives a container restart, so after an OOM kill the same write-ahead \
     log is replayed into the same memory limit, and the container crash-loops (the incident this tool was built \
     for). With remote_write, only the unsent tail is lost, and with a Thanos sidecar that uploads blocks to \
     object storage, only the head (the last two hours), so it is a warning; otherwise an error. Use a \
     PersistentVolumeClaim (persistentVolume.enabled, or spec.storage.volumeClaimTemplate for the operator). A \
     VictoriaMetrics operator VMSingle without spec.storage keeps its data on an emptyDir too."
);
rule!(
    RETENTION_EXCEEDS_VOLUME,
    "storage/retention-exceeds-volume",
    Warning,
    "size-based retention leaves no room for the WAL",
    "--storage.tsdb.retention.size (the operator's retentionSize) counts blocks, WAL and head chunks, but only \
     deletes blocks; Prometheus docs advise setting it to at most 80-85% of the volume. Above that the WAL and \
     the next compaction fill the disk, and a full disk stops ingestion or evicts the pod. Lower the retention \
     size or grow the volume."
);

rule!(
    VOLUME_BELOW_RETENTION,
    "storage/volume-below-retention",
    Warning,
    "at the declared scale, the volume fills before the retention time has passed",
    "Prometheus deletes blocks older than its retention time, and nothing stops the disk filling before then: \
     needed_disk_space = retention_time_seconds x ingested_samples_per_second x bytes_per_sample \
     (prometheus docs/storage.md), at 1-2 bytes per sample plus 20-30% for the WAL and compaction (Kubecost's \
     sizing guidance; meterguard takes 2 bytes and 30%, from knowledge/catalogue.yaml). Samples per second are \
     the active series of the config's scale over the scrape interval (global.scrape_interval, 1m when unset; \
     the operator's scrapeInterval, 30s). On a full disk Prometheus cannot write its WAL or compact, ingestion \
     stops, and the metering history of that time is lost. Judged only with a declared scale, and only for \
     time-based retention (15d when unset; the operator's 24h): a retention size bounds the disk by itself \
     (storage/retention-exceeds-volume). Grow the volume, shorten the retention, or add a retention size of at \
     most 80% of the volume."
);

pub static RULES: &[&Rule] = &[&EPHEMERAL_TSDB, &RETENTION_EXCEEDS_VOLUME, &VOLUME_BELOW_RETENTION];

/// Share of the volume that size-based retention may use (prometheus docs/storage.md: 80-85%).
const RETENTION_SHARE: f64 = 0.8;

/// What keeps a Prometheus's history beyond its own volume.
#[derive(Clone, Copy)]
enum Kept {
    Nowhere,
    RemoteWrite,
    /// A Thanos sidecar uploads each finished block (two hours) to object storage.
    ThanosUpload,
}

impl Kept {
    /// remote_write first: it loses less than an upload of finished blocks.
    fn of(remote_write: bool, uploads_blocks: bool) -> Kept {
        match (remote_write, uploads_blocks) {
            (true, _) => Kept::RemoteWrite,
            (false, true) => Kept::ThanosUpload,
            (false, false) => Kept::Nowhere,
        }
    }
}

enum Store {
    Persistent { size: Option<f64> },
    EmptyDir { at: Span, size: Option<f64>, medium_memory: bool },
    None { at: Span },
    Unknown,
}

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, class, profile) in ctx.metering() {
        if w.operated == Some(Operated::VmSingle) {
            check_vmsingle(ctx, w, out);
            continue;
        }
        if profile.memory_model.as_deref() != Some("prometheus") {
            continue;
        }
        if w.operator_prometheus() {
            check_operator(ctx, w, out);
            continue;
        }
        let Some(c) = class.primary.as_deref().and_then(|p| w.container(p)) else { continue };
        let flags = prometheus::flags(c);
        let data = prometheus::data_path(&flags);
        let store = store_of(ctx, w, c, &data);
        let file = prometheus::config_file(ctx.model, w, c);
        let remote_write = file
            .as_ref()
            .and_then(|f| f.value.get("remote_write").and_then(|r| r.as_array()).map(|a| !a.is_empty()))
            .unwrap_or(false);
        let kept = Kept::of(remote_write, w.running().any(uploads_blocks));
        ephemeral(ctx, w, Some(c), &store, kept, &format!("data directory {data}"), out);
        let size_flag = prometheus::flag(&flags, "storage.tsdb.retention.size");
        if let Some(f) = size_flag
            && let Some(size) = f.value.as_deref().and_then(prom_bytes)
        {
            retention(ctx, w, Some(c), &store, size, f.node.span(), f.value.as_deref().unwrap_or_default(), out);
        }
        // Blocks go at whichever limit comes first, so a retention size bounds the disk by itself;
        // without one, Prometheus keeps 15d unless told otherwise (cmd/prometheus/main.go).
        if size_flag.is_some() {
            continue;
        }
        let time_flag = ["storage.tsdb.retention.time", "storage.tsdb.retention"]
            .iter()
            .find_map(|n| prometheus::flag(&flags, n).filter(|f| f.value.is_some()));
        let retention_time = time_flag.and_then(|f| f.value.clone()).unwrap_or_else(|| "15d".into());
        let interval = file.as_ref().and_then(|f| f.value.pointer("/global/scrape_interval")?.as_str());
        let at = time_flag.map_or_else(|| name_key(c), |f| f.node.span());
        let cadence = (retention_time.as_str(), interval.unwrap_or(prometheus::DEFAULT_SCRAPE_INTERVAL));
        disk_needed(ctx, w, Some(c), &store, cadence, at, out);
    }
}

/// Time-based retention against the volume at the declared scale; `cadence` is the retention
/// and the scrape interval as written.
fn disk_needed(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: Option<&ContainerInfo<'_>>,
    store: &Store,
    (kept, interval): (&str, &str),
    at: Span,
    out: &mut Vec<Finding>,
) {
    let (Store::Persistent { size: Some(volume) } | Store::EmptyDir { size: Some(volume), .. }) = *store else {
        return;
    };
    let Some((series, how)) = crate::config::scale::active_series(ctx.config, ctx.model, w) else { return };
    let (Some(kept_s), Some(every_s)) = (duration_seconds(kept), duration_seconds(interval)) else { return };
    if every_s <= 0.0 {
        return;
    }
    let m = &crate::knowledge::catalogue().sizing_model;
    let (per_sample, headroom) = (m.bytes_per_sample.value, m.disk_headroom.value);
    let needed = series / every_s * kept_s * per_sample * headroom;
    if needed <= volume {
        return;
    }
    let message = format!(
        "{kept} of retention needs about {} at the declared scale, above the {} volume: the disk fills before \
         blocks age out, and ingestion stops",
        bytes_human(needed),
        bytes_human(volume)
    );
    let help = format!(
        "{how}, scraped every {interval}: {series} series / {every_s}s x {kept_s}s x {per_sample} bytes per sample \
         x {headroom} for the WAL and compaction = {}; grow the volume to at least that, shorten the retention, or \
         add a retention size of at most {}",
        bytes_human(needed),
        bytes_human(volume * RETENTION_SHARE)
    );
    out.push(ctx.finding(&VOLUME_BELOW_RETENTION, w, c, at, message, help));
}

/// A Thanos sidecar in the pod (`thanos sidecar`) with an object storage to upload blocks to.
fn uploads_blocks(c: &ContainerInfo<'_>) -> bool {
    let words = ["command", "args"].into_iter().flat_map(|k| c.node.get(k).and_then(Node::as_seq).unwrap_or_default());
    let sidecar = words.filter_map(Node::as_str).any(|w| w == "sidecar");
    sidecar && prometheus::flags(c).iter().any(|f| f.name == "objstore.config" || f.name == "objstore.config-file")
}

fn ephemeral(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: Option<&ContainerInfo<'_>>,
    store: &Store,
    kept: Kept,
    what: &str,
    out: &mut Vec<Finding>,
) {
    let (at, kind) = match store {
        Store::EmptyDir { at, medium_memory: true, .. } => {
            (*at, "an emptyDir in memory (counted against the memory limit)")
        }
        Store::EmptyDir { at, .. } => (*at, "an emptyDir"),
        Store::None { at } => (*at, "the container's own filesystem (no volume)"),
        _ => return,
    };
    let (severity, consequence) = match kept {
        Kept::RemoteWrite => (
            Severity::Warning,
            "it remote-writes, so a reschedule loses only the unsent tail; but an OOM kill restarts the container on the same WAL, which is replayed into the same limit",
        ),
        Kept::ThanosUpload => (
            Severity::Warning,
            "a Thanos sidecar uploads its blocks to object storage, so a reschedule loses only the head (up to the last two hours); but an OOM kill restarts the container on the same WAL, which is replayed into the same limit",
        ),
        Kept::Nowhere => (
            Severity::Error,
            "it has no remote_write, so every reschedule (a node drain during the upgrade, an eviction) deletes the metering history",
        ),
    };
    out.push(
        ctx.finding(&EPHEMERAL_TSDB, w, c, at,
            format!("Prometheus {what} is on {kind}: {consequence}"),
            "keep the TSDB on a PersistentVolumeClaim (chart: server.persistentVolume.enabled: true; operator: spec.storage.volumeClaimTemplate)".into())
            .with_severity(severity),
    );
}

#[allow(clippy::too_many_arguments)]
fn retention(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: Option<&ContainerInfo<'_>>,
    store: &Store,
    size: f64,
    at: Span,
    text: &str,
    out: &mut Vec<Finding>,
) {
    let volume = match store {
        Store::Persistent { size } | Store::EmptyDir { size, .. } => *size,
        _ => None,
    };
    let Some(volume) = volume else { return };
    if size > volume * RETENTION_SHARE {
        out.push(ctx.finding(
            &RETENTION_EXCEEDS_VOLUME,
            w,
            c,
            at,
            format!(
                "retention size {text} ({}) is above {}% of the {} volume",
                bytes_human(size),
                RETENTION_SHARE * 100.0,
                bytes_human(volume)
            ),
            format!(
                "the WAL and head chunks need the rest; set the retention size to at most {} or grow the volume",
                bytes_human(volume * RETENTION_SHARE)
            ),
        ));
    }
}

/// A container's `name` key: findings about what the container lacks point there.
fn name_key(c: &ContainerInfo<'_>) -> Span {
    c.node.entry("name").map_or(c.node.span(), |e| e.key.span())
}

fn store_of<'a>(ctx: &Context<'_, 'a>, w: &Workload<'a>, c: &ContainerInfo<'a>, data: &str) -> Store {
    let Some(mount) = prometheus::mount_for(c, data) else { return Store::None { at: name_key(c) } };
    let Some(vol_name) = mount.str_at(&["name"]) else { return Store::Unknown };
    if let Some((_, pvc)) = w.claim_templates.iter().find(|(_, p)| p.metadata.name.as_deref() == Some(vol_name)) {
        let size = pvc
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"));
        return Store::Persistent { size: size.and_then(|q| Quantity::parse(&q.0).ok()).map(|q| q.as_f64()) };
    }
    let Some((vnode, vol)) = w.volume(vol_name) else { return Store::Unknown };
    if let Some(ed) = &vol.empty_dir {
        let at = vnode.entry("emptyDir").map(|e| e.key.span()).unwrap_or(vnode.span());
        let size_limit = ed.size_limit.as_ref().and_then(|q| Quantity::parse(&q.0).ok()).map(|q| q.as_f64());
        let eph_limit = c
            .node
            .str_at(&["resources", "limits", "ephemeral-storage"])
            .and_then(|q| Quantity::parse(q).ok())
            .map(|q| q.as_f64());
        let size = match (size_limit, eph_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        return Store::EmptyDir { at, size, medium_memory: ed.medium.as_deref() == Some("Memory") };
    }
    if let Some(claim) = &vol.persistent_volume_claim {
        let ns = ctx.model.objects[w.object].namespace();
        let pvc = ctx
            .model
            .objects
            .iter()
            .find(|o| o.is("", "PersistentVolumeClaim") && o.id.name == claim.claim_name && o.namespace() == ns);
        let size = pvc
            .and_then(|p| p.node.path(&["spec", "resources", "requests", "storage"]))
            .and_then(Node::as_str)
            .and_then(|s| Quantity::parse(s).ok())
            .map(|q| q.as_f64());
        return Store::Persistent { size };
    }
    if vol.ephemeral {
        let at = vnode.entry("ephemeral").map(|e| e.key.span()).unwrap_or(vnode.span());
        return Store::EmptyDir { at, size: None, medium_memory: false };
    }
    Store::Persistent { size: None }
}

/// Where an operated workload's resource keeps its `spec:` key: findings about what the spec
/// lacks point there.
fn spec_key(ctx: &Context<'_, '_>, w: &Workload<'_>) -> Span {
    let obj = &ctx.model.objects[w.object];
    obj.node.entry("spec").map(|e| e.key.span()).unwrap_or(w.pod.span())
}

fn check_operator(ctx: &Context<'_, '_>, w: &Workload<'_>, out: &mut Vec<Finding>) {
    let spec = w.pod;
    let spec_at = spec_key(ctx, w);
    let storage = spec.get("storage");
    let claim_size = storage
        .and_then(|s| s.path(&["volumeClaimTemplate", "spec", "resources", "requests", "storage"]))
        .and_then(Node::as_str)
        .and_then(|s| Quantity::parse(s).ok())
        .map(|q| q.as_f64());
    let store = match storage {
        Some(s) if s.get("volumeClaimTemplate").is_some() => Store::Persistent { size: claim_size },
        Some(s) if s.get("emptyDir").is_some() => {
            let at = s.entry("emptyDir").map(|e| e.key.span()).unwrap_or(s.span());
            let size = s.str_at(&["emptyDir", "sizeLimit"]).and_then(|q| Quantity::parse(q).ok()).map(|q| q.as_f64());
            Store::EmptyDir { at, size, medium_memory: s.str_at(&["emptyDir", "medium"]) == Some("Memory") }
        }
        Some(s) if s.get("ephemeral").is_some() => Store::EmptyDir { at: s.span(), size: None, medium_memory: false },
        // Without spec.storage the operator mounts an emptyDir for the TSDB
        // (prometheus-operator.dev/docs/platform/storage: "by default, the operator configures
        // Pods to store data on emptyDir volumes").
        _ => Store::EmptyDir { at: spec_at, size: None, medium_memory: false },
    };
    let what = if storage.is_some() { "storage (spec.storage)" } else { "TSDB (no spec.storage)" };
    // The operator runs a Thanos sidecar that uploads blocks when spec.thanos names an object storage.
    let upload = ["objectStorageConfig", "objectStorageConfigFile"]
        .iter()
        .any(|k| spec.path(&["thanos", k]).is_some_and(|n| !n.is_null()));
    let remote_write = spec.get("remoteWrite").and_then(Node::as_seq).is_some_and(|r| !r.is_empty());
    ephemeral(ctx, w, None, &store, Kept::of(remote_write, upload), what, out);
    if let Some(r) = spec.get("retentionSize")
        && let Some(size) = r.as_str().and_then(prom_bytes)
    {
        retention(ctx, w, None, &store, size, r.span(), r.as_str().unwrap_or_default(), out);
    }
    // As for a plain server; the operator keeps 24h when neither is set (prometheus-operator API docs).
    if spec.get("retentionSize").is_some_and(|r| !r.is_null()) {
        return;
    }
    let time = spec.get("retention").filter(|r| r.as_str().is_some_and(|t| !t.is_empty()));
    let kept = time.and_then(Node::as_str).unwrap_or("24h");
    let interval = spec.str_at(&["scrapeInterval"]).unwrap_or(prometheus::OPERATOR_SCRAPE_INTERVAL);
    disk_needed(ctx, w, None, &store, (kept, interval), time.map_or(spec_at, Node::span), out);
}

/// A VMSingle keeps its data on the PersistentVolumeClaim that spec.storage describes, else on an
/// emptyDir (VictoriaMetrics/operator VMSingleSpec.storage: "by default it's empty dir"); with
/// spec.storageDataPath its own volumes hold the data, which is not judged.
fn check_vmsingle(ctx: &Context<'_, '_>, w: &Workload<'_>, out: &mut Vec<Finding>) {
    let spec = w.pod;
    if spec.get("storage").is_some_and(|s| !s.is_null()) || spec.get("storageDataPath").is_some() {
        return;
    }
    let at = spec_key(ctx, w);
    out.push(
        ctx.finding(
            &EPHEMERAL_TSDB,
            w,
            None,
            at,
            "VMSingle data (no spec.storage) is on an emptyDir: every reschedule (a node drain during the upgrade, an \
         eviction) deletes the metering history"
                .into(),
            "give spec.storage a PersistentVolumeClaim spec (victoria-metrics-k8s-stack: vmsingle.spec.storage)".into(),
        ),
    );
}

/// Prometheus's byte units are powers of two: `3GB` is 3 GiB ("1KB is 1024B", docs/storage.md).
pub fn prom_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let digits = s.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (num, unit) = s.split_at(digits);
    let n: f64 = num.parse().ok()?;
    let exp = match unit {
        "B" | "" => 0,
        "KB" => 1,
        "MB" => 2,
        "GB" => 3,
        "TB" => 4,
        "PB" => 5,
        "EB" => 6,
        _ => return None,
    };
    Some(n * 1024f64.powi(exp))
}
