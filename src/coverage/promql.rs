//! What an alert expression reads: its selectors, and whether it can return anything at all.

use promql_parser::label::Matcher;
use promql_parser::parser::{Expr, VectorSelector};

/// A vector selector of an expression, with its metric name folded out of `__name__` matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub metric: Option<String>,
    pub matchers: Vec<Matcher>,
    /// Inside `absent()` / `absent_over_time()`: fires when the series is missing.
    pub in_absent: bool,
}

impl Selector {
    fn of(vs: &VectorSelector, in_absent: bool) -> Selector {
        let mut metric = vs.name.clone();
        let mut matchers = Vec::new();
        for m in &vs.matchers.matchers {
            if m.name == "__name__" && matches!(m.op, promql_parser::label::MatchOp::Equal) {
                metric = Some(m.value.clone());
            } else {
                matchers.push(m.clone());
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

pub fn parse(expr: &str) -> Result<Expr, String> {
    promql_parser::parser::parse(expr)
}

/// Every selector in the expression, matrix selectors included (`x[5m]` holds a vector selector).
pub fn selectors(e: &Expr) -> Vec<Selector> {
    let mut out = Vec::new();
    walk(e, false, &mut out);
    out
}

fn walk(e: &Expr, in_absent: bool, out: &mut Vec<Selector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(Selector::of(vs, in_absent)),
        Expr::MatrixSelector(ms) => out.push(Selector::of(&ms.vs, in_absent)),
        Expr::Aggregate(a) => {
            walk(&a.expr, in_absent, out);
            if let Some(p) = &a.param {
                walk(p, in_absent, out);
            }
        }
        Expr::Unary(u) => walk(&u.expr, in_absent, out),
        Expr::Binary(b) => {
            walk(&b.lhs, in_absent, out);
            walk(&b.rhs, in_absent, out);
        }
        Expr::Paren(p) => walk(&p.expr, in_absent, out),
        Expr::Subquery(s) => walk(&s.expr, in_absent, out),
        Expr::Call(c) => {
            let absent = in_absent || c.func.name.starts_with("absent");
            for a in &c.args.args {
                walk(a, absent, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Can the expression return a sample, given which selectors can? `or` needs one side, `unless`
/// its left side, `absent` nothing; every other operator needs all its operands.
pub fn feasible(e: &Expr, ok: &dyn Fn(&Selector) -> bool) -> bool {
    match e {
        Expr::VectorSelector(vs) => ok(&Selector::of(vs, false)),
        Expr::MatrixSelector(ms) => ok(&Selector::of(&ms.vs, false)),
        Expr::Aggregate(a) => feasible(&a.expr, ok),
        Expr::Unary(u) => feasible(&u.expr, ok),
        Expr::Paren(p) => feasible(&p.expr, ok),
        Expr::Subquery(s) => feasible(&s.expr, ok),
        Expr::Binary(b) => {
            use promql_parser::parser::token::{T_LOR, T_LUNLESS};
            match b.op.id() {
                T_LOR => feasible(&b.lhs, ok) || feasible(&b.rhs, ok),
                T_LUNLESS => feasible(&b.lhs, ok),
                _ => feasible(&b.lhs, ok) && feasible(&b.rhs, ok),
            }
        }
        Expr::Call(c) if c.func.name.starts_with("absent") => true,
        Expr::Call(c) => c.args.args.iter().all(|a| feasible(a, ok)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
    }
}

/// An always-firing expression (Watchdog's `vector(1)`): no selector at all.
pub fn is_constant(e: &Expr) -> bool {
    selectors(e).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_selectors_are_walked() {
        let e = parse(r#"max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics", namespace=~".*"}[5m]) >= 1"#).unwrap();
        let s = selectors(&e);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].metric.as_deref(), Some("kube_pod_container_status_waiting_reason"));
        assert!(s[0].admits("reason", "CrashLoopBackOff"));
        assert!(s[0].admits("namespace", "kubecost"));
        assert!(!s[0].admits("job", "kubernetes-service-endpoints"));
    }

    #[test]
    fn feasibility_follows_operators() {
        let e = parse("a > b or c").unwrap();
        let no_b = |s: &Selector| s.metric.as_deref() != Some("b");
        assert!(feasible(&e, &no_b));
        let e = parse("a > b").unwrap();
        assert!(!feasible(&e, &no_b));
        let e = parse("absent(b)").unwrap();
        assert!(feasible(&e, &no_b));
        assert!(is_constant(&parse("vector(1)").unwrap()));
    }
}
