//! Reading a JWT's header and claims before anything is verified.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hbx_service_accounts::fuzzing::jwt_header(data);
});
