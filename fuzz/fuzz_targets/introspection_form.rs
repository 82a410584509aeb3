//! Decoding an introspection form body and a client's Basic credentials.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hbx_service_accounts::fuzzing::introspection_form(data);
});
