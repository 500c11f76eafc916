#![no_main]
//! XML request bodies (DeleteObjects, CompleteMultipartUpload, Tagging),
//! Range, x-amz-tagging, copy sources and addressing never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    latchkey_server::s3::fuzz_request_parsers(data);
});
