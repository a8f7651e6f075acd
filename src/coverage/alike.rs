//! Scrape jobs named like the one an alert wants, for a job mismatch's help: a release's prefix
//! (`kps-kube-state-metrics` for `kube-state-metrics`) or a typo (`node_exporter`) is what sets
//! them apart most often.

use foldhash::{HashMap, HashMapExt};

/// The least likeness at which a job is named as like another: at most three edits in ten
/// characters. Jaro-Winkler, which clap's suggestions use, rates names by shared letters near
/// their start, and pairs `search-53-165` with `svc-5316`.
const LIKE: f64 = 0.7;

/// Job names, indexed by the beginnings of their words: a name is only compared with those that
/// share one with it (`kubelets` with `kubelet`), since a large render's thousands of rules that
/// want missing jobs, against its thousands of jobs, make millions of pairs.
pub struct Alike<'e> {
    names: &'e [&'e str],
    by_word: HashMap<&'e str, Vec<usize>>,
}

impl<'e> Alike<'e> {
    pub fn new(names: &'e [&'e str]) -> Alike<'e> {
        let mut by_word: HashMap<&'e str, Vec<usize>> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            for w in words(name) {
                by_word.entry(w).or_default().push(i);
            }
        }
        Alike { names, by_word }
    }

    /// Up to `count` names like `name`, most alike first: those that hold it whole or that it
    /// holds, then those a few edits away. None when no name is like it: unrelated names mislead
    /// more than they help.
    pub fn near(&self, name: &str, count: usize) -> Vec<&'e str> {
        let mut candidates: Vec<usize> = words(name).filter_map(|w| self.by_word.get(w)).flatten().copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut alike: Vec<(f64, &'e str)> = candidates
            .into_iter()
            .map(|i| (likeness(name, self.names[i]), self.names[i]))
            .filter(|&(l, _)| l >= LIKE)
            .collect();
        alike.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        alike.into_iter().take(count).map(|(_, n)| n).collect()
    }
}

/// What can tie two names: the first four characters of each word (a run of letters and digits of
/// three characters or more, with a letter). `svc-53` and `search-53-165` share none.
fn words(name: &str) -> impl Iterator<Item = &str> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 3 && w.bytes().any(|b| b.is_ascii_alphabetic()))
        .map(|w| &w[..w.len().min(4)])
}

/// 1 and more for a name that holds the other whole (more the closer their lengths), else one less
/// the share of characters to edit (Damerau-Levenshtein). A held name shorter than four characters
/// (`api`) is held by too many others to say anything.
fn likeness(wanted: &str, job: &str) -> f64 {
    let (short, long) = if wanted.len() <= job.len() { (wanted, job) } else { (job, wanted) };
    if short.len() >= 4 && long.contains(short) {
        return 1.0 + short.len() as f64 / long.len() as f64;
    }
    strsim::normalized_damerau_levenshtein(wanted, job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_prefix_or_a_typo_are_alike_and_others_are_not() {
        let names = [
            "kps-kube-state-metrics",
            "kube-state-metrics-v2",
            "node_exporter",
            "prometheus-node-exporter",
            "svc-5316",
            "kubelet",
            "apiserver",
        ];
        let alike = Alike::new(&names);
        assert_eq!(alike.near("kube-state-metrics", 8), ["kube-state-metrics-v2", "kps-kube-state-metrics"]);
        assert_eq!(alike.near("node-exporter", 8), ["prometheus-node-exporter", "node_exporter"]);
        assert_eq!(alike.near("node-exporter", 1), ["prometheus-node-exporter"]);
        assert_eq!(alike.near("kubelets", 8), ["kubelet"]);
        assert!(alike.near("search-53-165", 8).is_empty());
        assert!(alike.near("opencost", 8).is_empty());
    }
}
