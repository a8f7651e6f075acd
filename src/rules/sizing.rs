//! Sizing: does each metering container have the memory and CPU it needs to survive a restart?

use super::{Context, Finding, Rule, rule};
use crate::classify::Classification;
use crate::input::{Node, Span};
use crate::knowledge::{Profile, catalogue};
use crate::model::quantity::{Quantity, bytes_human};
use crate::model::{ContainerInfo, ContainerRole, Operated, Workload, prometheus};

rule!(
    MEMORY_REQUEST_MISSING,
    "sizing/memory-request-missing",
    Error,
    "a metering container has no memory request",
    "Without a memory request the scheduler places the pod anywhere, and under node pressure (as during an upgrade, \
     when drained pods pile onto the remaining nodes) the kubelet evicts pods that use more than they requested \
     first. A metering pod evicted in the middle of the upgrade loses the data it was about to record. Set \
     `resources.requests.memory` to the container's peak working set."
);
rule!(
    MEMORY_LIMIT_MISSING,
    "sizing/memory-limit-missing",
    Warning,
    "a metering container has no memory limit",
    "Without a memory limit a leak or a cardinality spike grows until the node runs out of memory, and the kernel \
     then picks a victim on the node; Prometheus 3 also derives its GOMEMLIMIT from the limit. Set \
     `resources.limits.memory` with headroom above the request."
);
rule!(
    CPU_REQUEST_MISSING,
    "sizing/cpu-request-missing",
    Warning,
    "a metering container has no CPU request",
    "Without a CPU request the container gets only leftover CPU on a busy node: probes time out, scrapes are \
     missed, and a slow start looks like a hung one. Set `resources.requests.cpu`."
);
rule!(
    LIMIT_BELOW_REQUEST,
    "sizing/limit-below-request",
    Error,
    "a limit is lower than its request",
    "The API server rejects a container whose limit is below its request, so the release fails to apply. Raise \
     the limit or lower the request."
);
rule!(
    MEMORY_BELOW_FLOOR,
    "sizing/memory-below-floor",
    Error,
    "memory below what the workload's profile needs",
    "Each profile has a memory floor. For a Prometheus server it comes from a sizing model kept in the catalogue: \
     steady state = active series x bytes per series (about 3 KiB, Prometheus 2.20+), and after any restart the \
     write-ahead log is replayed, which needs about twice the steady state. The request must hold that replay \
     peak, or the pod is first in line for eviction while it replays and, if the limit is close, is OOM-killed: \
     the WAL survives the container restart and is replayed into the same memory again, forever. Raise the \
     request to the floor shown (and the limit to 1.5x it), or declare the cluster's scale in `.meterguard.yaml`."
);
rule!(
    MEMORY_HEADROOM,
    "sizing/memory-headroom",
    Error,
    "memory limit too close to the restart peak",
    "Workloads that spike on restart (Prometheus replaying its write-ahead log, compacting its head block) need \
     a limit well above that peak: 50% above it, as Mimir, VictoriaMetrics and Prometheus' own old storage docs \
     advise. A limit at or just above the peak is OOM-killed by the first burst of churn (an upgrade that \
     recreates every pod creates new series) and then crash-loops on replay. Raise the limit."
);
rule!(
    GOMEMLIMIT_EXCEEDS_LIMIT,
    "sizing/gomemlimit-exceeds-limit",
    Error,
    "GOMEMLIMIT at or above the memory limit",
    "GOMEMLIMIT tells the Go garbage collector how much memory it may use before collecting hard. Set at or above \
     the container limit, the collector never works harder before the kernel OOM-kills the process. Set it to \
     about 90% of the limit (Prometheus 3 does so by itself with --auto-gomemlimit.ratio=0.9), or remove it."
);

pub static RULES: &[&Rule] = &[
    &MEMORY_REQUEST_MISSING,
    &MEMORY_LIMIT_MISSING,
    &CPU_REQUEST_MISSING,
    &LIMIT_BELOW_REQUEST,
    &MEMORY_BELOW_FLOOR,
    &MEMORY_HEADROOM,
    &GOMEMLIMIT_EXCEEDS_LIMIT,
];

/// A container's `resources` (or an operator Prometheus's `spec.resources`), with its position.
struct Resources<'a> {
    node: Option<&'a Node>,
    /// Where a missing field is reported: the `resources:` key, or the container's `name:`.
    anchor: Span,
}

impl<'a> Resources<'a> {
    fn of(owner: &'a Node) -> Resources<'a> {
        let anchor =
            owner.entry("resources").or_else(|| owner.entry("name")).map(|e| e.key.span()).unwrap_or(owner.span());
        Resources { node: owner.get("resources"), anchor }
    }

    /// Present, even if invalid: an invalid value is `schema/invalid-quantity`, not a missing one.
    fn has(&self, section: &str, resource: &str) -> bool {
        self.node.and_then(|n| n.path(&[section, resource])).is_some_and(|n| !n.is_null())
    }

    fn get(&self, section: &str, resource: &str) -> Option<(Quantity, &'a Node)> {
        let n = self.node?.path(&[section, resource])?;
        Some((Quantity::parse(n.as_scalar()?.text).ok()?, n))
    }
}

/// What a Prometheus server needs, and the arithmetic that says so.
pub struct PromFloor {
    pub steady: f64,
    pub peak: f64,
    pub limit: f64,
    pub arithmetic: String,
}

pub fn prometheus_floor(ctx: &Context<'_, '_>, w: &Workload<'_>) -> PromFloor {
    let m = &catalogue().sizing_model;
    let (steady, basis) = match crate::config::scale::steady_state(ctx.config, ctx.model, w) {
        Some(s) => s,
        None => (
            m.default_steady_state_bytes.value,
            format!(
                "no scale declared, so the catalogue default {} ({})",
                bytes_human(m.default_steady_state_bytes.value),
                m.default_steady_state_bytes.source
            ),
        ),
    };
    let replay = m.replay_factor.value;
    let headroom = m.limit_headroom.value;
    let peak = steady * replay;
    let limit = peak * headroom;
    let arithmetic = format!(
        "steady state {} [{basis}] x replay factor {replay} [{}] = {} replay peak (the request); x headroom {headroom} [{}] = {} (the limit)",
        bytes_human(steady),
        m.replay_factor.source,
        bytes_human(peak),
        m.limit_headroom.source,
        bytes_human(limit)
    );
    PromFloor { steady, peak, limit, arithmetic }
}

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, class, profile) in ctx.metering() {
        // The VictoriaMetrics operator fills what spec.resources leaves out with its defaults (500Mi
        // requested, 1500Mi limit: VictoriaMetrics/operator internal/config VMSingleDefault,
        // UseDefaultResources true), so a VMSingle always has both.
        if w.operated == Some(Operated::VmSingle) {
            continue;
        }
        if w.operated.is_some() {
            let res = Resources::of(w.pod);
            check_owner(ctx, w, None, &res, class, profile, true, out);
            continue;
        }
        for c in w.containers.iter().filter(|c| c.role != ContainerRole::Init) {
            let res = Resources::of(c.node);
            let primary = class.primary.as_deref() == Some(c.name.as_str());
            check_owner(ctx, w, Some(c), &res, class, profile, primary, out);
            check_gomemlimit(ctx, w, c, &res, out);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_owner(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: Option<&ContainerInfo<'_>>,
    res: &Resources<'_>,
    class: &Classification,
    profile: &Profile,
    primary: bool,
    out: &mut Vec<Finding>,
) {
    let who = c.map(|c| format!("container {}", c.name)).unwrap_or_else(|| "this Prometheus".into());
    let req = res.get("requests", "memory");
    let lim = res.get("limits", "memory");
    let (has_req, has_lim) = (res.has("requests", "memory"), res.has("limits", "memory"));
    if !has_req && !has_lim {
        out.push(ctx.finding(
            &MEMORY_REQUEST_MISSING,
            w,
            c,
            res.anchor,
            format!("{who} has no memory request"),
            "set resources.requests.memory to the peak working set (a limit alone also sets the request)".into(),
        ));
    }
    if !has_lim {
        out.push(ctx.finding(
            &MEMORY_LIMIT_MISSING,
            w,
            c,
            res.anchor,
            format!("{who} has no memory limit"),
            "set resources.limits.memory with headroom above the request".into(),
        ));
    }
    if !res.has("requests", "cpu") && !res.has("limits", "cpu") {
        out.push(ctx.finding(
            &CPU_REQUEST_MISSING,
            w,
            c,
            res.anchor,
            format!("{who} has no CPU request"),
            "set resources.requests.cpu".into(),
        ));
    }
    for resource in ["cpu", "memory", "ephemeral-storage"] {
        if let (Some((r, _)), Some((l, ln))) = (res.get("requests", resource), res.get("limits", resource))
            && l.nanos < r.nanos
        {
            out.push(ctx.finding(
                &LIMIT_BELOW_REQUEST,
                w,
                c,
                ln.span(),
                format!("{resource} limit {} is below its request {}", text(ln), r),
                format!("the API server rejects this; raise limits.{resource} to at least {r}"),
            ));
        }
    }
    if !primary {
        return;
    }
    // A limit without a request sets the request to the limit.
    let effective_req = req.or(lim);
    let profile_name = class.profile.as_deref().unwrap_or("generic");
    if profile.memory_model.as_deref() == Some("prometheus") {
        let f = prometheus_floor(ctx, w);
        if let Some((q, n)) = &effective_req
            && q.as_f64() < f.peak
        {
            let lim_text =
                lim.as_ref().map(|(_, l)| format!("the limit at {}", text(l))).unwrap_or_else(|| "no limit".into());
            out.push(ctx.finding(&MEMORY_BELOW_FLOOR, w, c, n.span(),
                    format!("memory request {} is below the {} that Prometheus needs to replay its write-ahead log after a restart", text(n), bytes_human(f.peak)),
                    format!("At the next restart (an OOM kill, a node drain, the upgrade itself) Prometheus replays its WAL at about {}x steady state; \
with the request at {} and {lim_text} it is evicted or OOM-killed mid-replay, restarts, and replays the same WAL again: a crash loop that loses metering data until someone notices. \
Set requests.memory: {} and limits.memory: {}. Arithmetic: {}.",
                        catalogue().sizing_model.replay_factor.value, text(n), quantity_text(f.peak), quantity_text(f.limit), f.arithmetic)));
        }
        if profile.restart_spike
            && let Some((l, ln)) = &lim
            && l.as_f64() < f.limit
        {
            out.push(ctx.finding(&MEMORY_HEADROOM, w, c, ln.span(),
                        format!("memory limit {} leaves less than {}x headroom over the {} replay peak (needs {})", text(ln), catalogue().sizing_model.limit_headroom.value, bytes_human(f.peak), bytes_human(f.limit)),
                        format!("When the container is OOM-killed, its data directory survives and the same WAL is replayed into the same {} limit: it is killed again, forever. \
Set limits.memory: {}. Arithmetic: {}.", text(ln), quantity_text(f.limit), f.arithmetic)));
        }
    } else if let Some(floor) = profile.memory_floor_bytes {
        check_fixed_floor(ctx, w, c, profile, profile_name, floor, effective_req.as_ref(), lim.as_ref(), out);
    }
}

#[allow(clippy::too_many_arguments)]
fn check_fixed_floor(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: Option<&ContainerInfo<'_>>,
    profile: &Profile,
    profile_name: &str,
    floor: f64,
    req: Option<&(Quantity, &Node)>,
    lim: Option<&(Quantity, &Node)>,
    out: &mut Vec<Finding>,
) {
    if let (Some(ratio), Some((l, ln))) = (profile.headroom_ratio, lim)
        && l.as_f64() < floor * ratio
    {
        out.push(ctx.finding(
            &MEMORY_HEADROOM,
            w,
            c,
            ln.span(),
            format!(
                "memory limit {} is below {ratio}x the {} floor of profile {profile_name}",
                text(ln),
                bytes_human(floor)
            ),
            format!("Set limits.memory to at least {}.", quantity_text(floor * ratio)),
        ));
    }
    if let Some((q, n)) = req
        && q.as_f64() < floor
    {
        out.push(ctx.finding(
            &MEMORY_BELOW_FLOOR,
            w,
            c,
            n.span(),
            format!("memory request {} is below the {} floor of profile {profile_name}", text(n), bytes_human(floor)),
            format!(
                "Set requests.memory to at least {}. Source: {}.",
                quantity_text(floor),
                profile.memory_source.as_deref().unwrap_or("the profile")
            ),
        ));
    }
}

fn check_gomemlimit(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: &ContainerInfo<'_>,
    res: &Resources<'_>,
    out: &mut Vec<Finding>,
) {
    let Some((limit, _)) = res.get("limits", "memory") else { return };
    let env = c.node.get("env").and_then(Node::as_seq).unwrap_or_default();
    if let Some(e) = env.iter().find(|e| e.str_at(&["name"]) == Some("GOMEMLIMIT"))
        && let Some((v, vn)) = e.get("value").and_then(|v| Some((go_bytes(v.as_str()?)?, v)))
        && v >= limit.as_f64()
    {
        out.push(ctx.finding(
            &GOMEMLIMIT_EXCEEDS_LIMIT,
            w,
            Some(c),
            vn.span(),
            format!("GOMEMLIMIT {} is at or above the memory limit {limit}", text(vn)),
            format!("set GOMEMLIMIT to about 90% of the limit: {}", go_text(limit.as_f64() * 0.9)),
        ));
    }
    let flags = prometheus::flags(c);
    if let Some(f) = prometheus::flag(&flags, "auto-gomemlimit.ratio")
        && f.value.as_deref().and_then(|v| v.parse::<f64>().ok()).is_some_and(|r| r >= 1.0)
    {
        out.push(ctx.finding(
            &GOMEMLIMIT_EXCEEDS_LIMIT,
            w,
            Some(c),
            f.node.span(),
            format!(
                "--auto-gomemlimit.ratio={} puts GOMEMLIMIT at or above the memory limit {limit}",
                f.value.as_deref().unwrap_or_default()
            ),
            "use a ratio below 1 (the default 0.9)".into(),
        ));
    }
}

/// Go's GOMEMLIMIT syntax: a number of bytes with an optional B, KiB, MiB, GiB or TiB suffix.
fn go_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "off" {
        return None;
    }
    for (suffix, mult) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)] {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.trim().parse::<f64>().ok().map(|v| v * mult as f64);
        }
    }
    s.parse::<f64>().ok()
}

fn go_text(bytes: f64) -> String {
    format!("{}MiB", (bytes / 1_048_576.0).floor())
}

fn text(n: &Node) -> String {
    n.as_scalar().map(|s| s.text.to_string()).unwrap_or_default()
}

/// A byte count as a quantity to paste: whole Gi or Mi, rounded up.
fn quantity_text(bytes: f64) -> String {
    let gi = bytes / 1_073_741_824.0;
    if (gi - gi.round()).abs() < 1e-9 {
        format!("{}Gi", gi.round())
    } else {
        format!("{}Mi", (bytes / 1_048_576.0).ceil())
    }
}
