//! Rules about suppressions and exemptions themselves.

use super::{Rule, rule};

rule!(
    SUPPRESSION_WITHOUT_REASON,
    "config/suppression-without-reason",
    Warning,
    "a suppression annotation gives no reason",
    "`meterguard.io/ignore` silences findings on an object. Without `meterguard.io/ignore-reason` the next reader \
     cannot tell a deliberate exception from a shortcut. The suppression still applies; add the reason."
);
rule!(
    EXEMPTION_EXPIRED,
    "config/exemption-expired",
    Warning,
    "a config exemption is past its expiry date",
    "An exemption with `expires` stops applying after that date, so the findings it covered come back, and this \
     warning points at the exemption. Fix the findings, or renew the exemption with a new date and reason."
);

rule!(
    UNKNOWN_RULE,
    "config/unknown-rule",
    Warning,
    "a suppression annotation names no rule",
    "`meterguard.io/ignore` lists rule ids or patterns (`probes/*`). One that matches no rule silences nothing: a \
     misspelled id (`sizing/memroy-below-floor`) leaves the finding it meant to accept in place, or hides that the \
     rule was renamed. Fix the id (`meterguard rules` lists them). The config's own `rules:` and exemptions are \
     checked when it is loaded."
);

pub static RULES: &[&Rule] = &[&SUPPRESSION_WITHOUT_REASON, &EXEMPTION_EXPIRED, &UNKNOWN_RULE];
