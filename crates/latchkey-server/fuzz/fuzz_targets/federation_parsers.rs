#![no_main]
//! Identity-provider input (JWTs, JWKS, SAML metadata), bucket logging
//! configurations and audit log lines never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    latchkey_server::federation::fuzz_parsers(data);
});
