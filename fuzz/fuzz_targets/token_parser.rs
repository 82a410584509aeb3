//! The service-account token parser and the client-id check, on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hbx_service_accounts::fuzzing::token_parser(data);
});
