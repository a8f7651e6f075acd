//! The reader agrees with itself through JSON: what it reads from arbitrary bytes, written back as
//! JSON documents and read again, is the same (`meterguard_fuzz::json_round_trip`). `oracle.sh`
//! then compares what the fuzzer kept with Kubernetes' reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| meterguard_fuzz::json_round_trip(data));
