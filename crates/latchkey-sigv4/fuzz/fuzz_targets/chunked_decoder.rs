//! The aws-chunked decoder on arbitrary bytes, fed in arbitrary pieces.
//!
//! Input layout: byte 0 chooses the mode (bit 0: signed, bit 1: trailer
//! expected); byte 1 the piece size (1..=256); the rest is the body. Never
//! panics; `Ok(None)` always leaves the input used up; after `End` nothing
//! but errors or `Ok(None)` follows.
#![no_main]

use bytes::BytesMut;
use latchkey_sigv4::{
    signing_key, ChunkEvent, ChunkSigner, ChunkedDecoder, ChunkedMode, CredentialScope,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [flags, piece, body @ ..] = input else {
        return;
    };
    let mode = if flags & 1 == 1 {
        let scope =
            CredentialScope::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request")
                .expect("a valid scope");
        let key = signing_key("secret", "20130524", "us-east-1", "s3");
        ChunkedMode::Signed(ChunkSigner::new(
            key,
            "20130524T000000Z",
            &scope,
            &"0".repeat(64),
        ))
    } else {
        ChunkedMode::Unsigned
    };
    let mut decoder = ChunkedDecoder::new(mode, flags & 2 == 2);
    let mut ended = false;
    for part in body.chunks(usize::from(*piece) + 1) {
        let mut buffer = BytesMut::from(part);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(ChunkEvent::End)) => {
                    assert!(!ended, "End twice");
                    ended = true;
                }
                Ok(Some(ChunkEvent::Data(data))) => assert!(!ended && !data.is_empty()),
                Ok(Some(ChunkEvent::Trailers(_))) => assert!(!ended),
                Ok(None) => {
                    assert!(buffer.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
});
