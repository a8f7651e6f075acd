//! What an alert expression reads: its selectors, and whether it can return anything at all.
//! An expression is kept as a [`Query`], not as its syntax tree: the selectors and the shape of its
//! operators are all the coverage analysis reads, and compiled regular expressions are shared
//! between rules (a render repeats `namespace=~".*"` hundreds of times).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, Once};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use regex::Regex;

/// A vector selector of an expression, with its metric name folded out of `__name__` matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub metric: Option<String>,
    pub matchers: Vec<Matcher>,
    /// Inside `absent()` / `absent_over_time()`: fires when the series is missing.
    pub in_absent: bool,
}

/// Compiled regular expressions by pattern, shared by every rule parsed with the same interner.
#[derive(Default)]
pub struct Interner(Mutex<HashMap<String, Regex>>);

impl Interner {
    fn share(&self, re: &Regex) -> Regex {
        // A poisoned lock only means another rule's parse panicked; the map is still valid.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(re.as_str().to_owned()).or_insert_with(|| re.clone()).clone()
    }

    fn matcher(&self, m: &Matcher) -> Matcher {
        let op = match &m.op {
            MatchOp::Re(r) => MatchOp::Re(self.share(r)),
            MatchOp::NotRe(r) => MatchOp::NotRe(self.share(r)),
            MatchOp::Equal => MatchOp::Equal,
            MatchOp::NotEqual => MatchOp::NotEqual,
        };
        Matcher { op, name: m.name.clone(), value: m.value.clone() }
    }
}

impl Selector {
    fn of(vs: &VectorSelector, in_absent: bool, interner: &Interner) -> Selector {
        let mut metric = vs.name.clone();
        let mut matchers = Vec::new();
        for m in &vs.matchers.matchers {
            if m.name == "__name__" && matches!(m.op, MatchOp::Equal) {
                metric = Some(m.value.clone());
            } else {
                matchers.push(interner.matcher(m));
            }
        }
        Selector { metric, matchers, in_absent }
    }

    /// Every matcher on `label` accepts `value` (an absent label reads as "").
    pub fn admits(&self, label: &str, value: &str) -> bool {
        self.matchers.iter().filter(|m| m.name == label).all(|m| m.is_match(value))
    }

    pub fn constrains(&self, label: &str) -> bool {
        self.matchers.iter().any(|m| m.name == label)
    }
}

/// An alert expression as the analysis needs it.
#[derive(Debug, Clone)]
pub struct Query {
    /// Every selector, matrix selectors and `absent()` arguments included, in reading order.
    pub selectors: Vec<Selector>,
    shape: Shape,
}

/// Which selectors must return series for the expression to return a sample.
#[derive(Debug, Clone)]
enum Shape {
    Always,
    Needs(usize),
    All(Vec<Shape>),
    Any(Vec<Shape>),
}

pub fn parse(expr: &str) -> Result<Query, String> {
    parse_with(expr, &Interner::default())
}

pub fn parse_with(expr: &str, interner: &Interner) -> Result<Query, String> {
    let e = parse_guarded(expr)?;
    let mut selectors = Vec::new();
    let shape = build(&e, false, &mut selectors, interner);
    Ok(Query { selectors, shape })
}

thread_local! {
    static PARSING: Cell<bool> = const { Cell::new(false) };
}
static QUIET_HOOK: Once = Once::new();

/// promql-parser panics on some inputs (a range of `[1111…1111m]` overflows `Duration`; found by
/// fuzzing), and an alert expression comes from the input: such a panic becomes a parse error, and
/// the panic hook stays silent while the parser runs (on this thread only).
fn parse_guarded(expr: &str) -> Result<Expr, String> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    PARSING.with(|p| p.set(true));
    let result = std::panic::catch_unwind(|| promql_parser::parser::parse(expr));
    PARSING.with(|p| p.set(false));
    result.unwrap_or_else(|_| {
        Err("the PromQL parser cannot read this expression (a duration or number out of range?)".into())
    })
}

/// Walks the tree once: collects the selectors, and the feasibility shape. `or` needs one side,
/// `unless` its left side, `absent` nothing; every other operator needs all its operands.
fn build(e: &Expr, in_absent: bool, out: &mut Vec<Selector>, i: &Interner) -> Shape {
    let leaf = |vs: &VectorSelector, out: &mut Vec<Selector>| {
        out.push(Selector::of(vs, in_absent, i));
        Shape::Needs(out.len() - 1)
    };
    match e {
        Expr::VectorSelector(vs) => leaf(vs, out),
        Expr::MatrixSelector(ms) => leaf(&ms.vs, out),
        Expr::Aggregate(a) => {
            let shape = build(&a.expr, in_absent, out, i);
            if let Some(p) = &a.param {
                build(p, in_absent, out, i);
            }
            shape
        }
        Expr::Unary(u) => build(&u.expr, in_absent, out, i),
        Expr::Paren(p) => build(&p.expr, in_absent, out, i),
        Expr::Subquery(s) => build(&s.expr, in_absent, out, i),
        Expr::Binary(b) => {
            use promql_parser::parser::token::{T_LOR, T_LUNLESS};
            let lhs = build(&b.lhs, in_absent, out, i);
            let rhs = build(&b.rhs, in_absent, out, i);
            match b.op.id() {
                T_LOR => Shape::Any(vec![lhs, rhs]),
                T_LUNLESS => lhs,
                _ => Shape::All(vec![lhs, rhs]),
            }
        }
        Expr::Call(c) if c.func.name.starts_with("absent") => {
            for a in &c.args.args {
                build(a, true, out, i);
            }
            Shape::Always
        }
        Expr::Call(c) => Shape::All(c.args.args.iter().map(|a| build(a, in_absent, out, i)).collect()),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Shape::Always,
    }
}

impl Query {
    /// Can the expression return a sample, given which selectors can?
    pub fn feasible(&self, ok: &dyn Fn(&Selector) -> bool) -> bool {
        fn eval(s: &Shape, sels: &[Selector], ok: &dyn Fn(&Selector) -> bool) -> bool {
            match s {
                Shape::Always => true,
                Shape::Needs(i) => ok(&sels[*i]),
                Shape::All(v) => v.iter().all(|x| eval(x, sels, ok)),
                Shape::Any(v) => v.iter().any(|x| eval(x, sels, ok)),
            }
        }
        eval(&self.shape, &self.selectors, ok)
    }

    /// An always-firing expression (Watchdog's `vector(1)`): no selector at all.
    pub fn is_constant(&self) -> bool {
        self.selectors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_selectors_are_walked() {
        let e = parse(r#"max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics", namespace=~".*"}[5m]) >= 1"#).unwrap();
        let s = &e.selectors;
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].metric.as_deref(), Some("kube_pod_container_status_waiting_reason"));
        assert!(s[0].admits("reason", "CrashLoopBackOff"));
        assert!(s[0].admits("namespace", "kubecost"));
        assert!(!s[0].admits("job", "kubernetes-service-endpoints"));
    }

    #[test]
    fn a_parser_panic_is_a_parse_error() {
        // Found by the promql_coverage fuzz target: promql-parser converts the range with
        // `Duration::from_secs_f64`, which panics when it overflows.
        let e = parse(&format!("last_over_time(x[{}]) > 0", "1".repeat(120))).unwrap_err();
        assert!(e.contains("cannot read this expression"), "{e}");
        assert!(parse("rate(x[5m]) > 0").is_ok());
    }

    #[test]
    fn identical_patterns_share_one_compiled_regex() {
        let interner = Interner::default();
        let a = parse_with(r#"up{namespace=~".*"} == 0"#, &interner).unwrap();
        let b = parse_with(r#"kube_pod_info{namespace=~".*"}"#, &interner).unwrap();
        assert_eq!(interner.0.lock().unwrap().len(), 1);
        assert!(a.selectors[0].admits("namespace", "x") && b.selectors[0].admits("namespace", ""));
    }

    #[test]
    fn feasibility_follows_operators() {
        let e = parse("a > b or c").unwrap();
        let no_b = |s: &Selector| s.metric.as_deref() != Some("b");
        assert!(e.feasible(&no_b));
        let e = parse("a > b").unwrap();
        assert!(!e.feasible(&no_b));
        let e = parse("absent(b)").unwrap();
        assert!(e.feasible(&no_b));
        assert!(parse("vector(1)").unwrap().is_constant());
    }
}
