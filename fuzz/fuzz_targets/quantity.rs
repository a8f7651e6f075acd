//! The quantity parser on arbitrary text; what it accepts must print and parse back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::model::quantity::Quantity;

fuzz_target!(|text: &str| {
    if let Ok(q) = Quantity::parse(text) {
        let printed = q.to_string();
        let again = Quantity::parse(&printed).unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
        assert_eq!(q.nanos, again.nanos, "{text:?} printed as {printed:?}");
        let _ = (q.value(), q.milli_value(), q.as_f64());
    }
});
