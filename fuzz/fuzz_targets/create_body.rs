//! Decoding a create request body and validating what it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hbx_service_accounts::fuzzing::create_body(data);
});
