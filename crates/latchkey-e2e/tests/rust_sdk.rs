//! The official AWS SDK for Rust against a real `latchkey serve`.
//!
//! Each test starts its own server (see `latchkey_e2e::Server`) and asserts
//! what the Amazon S3 API Reference documents, not what latchkey happens to
//! do. The client uses the latest behavior version, so uploads carry the
//! SDK's default CRC32 checksums: in a header for bodies held in memory, and
//! for streamed bodies (`ByteStream::from_path`) in the trailer of a signed
//! `aws-chunked` body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use latchkey_e2e::{RawHttp, Server, REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY};
use md5::{Digest, Md5};

const MIB: usize = 1024 * 1024;

/// A path-style client for `server`, signing with `secret`. It reads nothing
/// from the environment or `~/.aws`, and never retries, so a failure is the
/// server's first answer.
fn client_with_secret(server: &Server, secret: &str) -> Client {
    let credentials = Credentials::new(ROOT_ACCESS_KEY_ID, secret, None, None, "latchkey-e2e");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(server.endpoint_url())
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn client(server: &Server) -> Client {
    client_with_secret(server, ROOT_SECRET_ACCESS_KEY)
}

/// A server, a root client, and an empty bucket named `bucket`.
async fn server_with_bucket(bucket: &str) -> (Server, Client) {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket().bucket(bucket).send().await.expect("create_bucket");
    (server, s3)
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put_object {key}: {e:?}"));
}

async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out =
        s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("get_object {key}: {e:?}"));
    out.body.collect().await.expect("reading body").to_vec()
}

/// An S3 ETag of a single-part upload: the body's MD5 in hex, in quotes.
fn md5_etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(body)))
}

/// `n` bytes that are not all the same, so misplaced ranges show.
fn patterned_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8)).collect()
}

/// Splits a presigned URL for `server` into the request target
/// (path and query) that goes on the request line.
fn request_target(server: &Server, uri: &str) -> String {
    uri.strip_prefix(&server.endpoint_url())
        .unwrap_or_else(|| panic!("presigned URL {uri} is not on {}", server.endpoint_url()))
        .to_string()
}

/// Records the headers of each request as the SDK sends it, so a test can
/// say which wire format it exercised.
#[derive(Debug, Clone, Default)]
struct SentHeaders(Arc<Mutex<Vec<HashMap<String, String>>>>);

impl SentHeaders {
    fn last(&self, name: &str) -> Option<String> {
        let sent = self.0.lock().unwrap();
        sent.last().and_then(|h| h.get(name).cloned())
    }
}

impl Intercept for SentHeaders {
    fn name(&self) -> &'static str {
        "SentHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers =
            context.request().headers().iter().map(|(n, v)| (n.to_ascii_lowercase(), v.to_string())).collect();
        self.0.lock().unwrap().push(headers);
        Ok(())
    }
}

#[tokio::test]
async fn a_created_bucket_is_listed_and_found_and_a_deleted_one_is_gone() {
    let server = Server::start();
    let s3 = client(&server);

    s3.create_bucket().bucket("lifecycle").send().await.expect("create_bucket");

    let listed = s3.list_buckets().send().await.expect("list_buckets");
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert!(names.contains(&"lifecycle"), "list_buckets gave {names:?}");

    s3.head_bucket().bucket("lifecycle").send().await.expect("head_bucket of an existing bucket");

    // A bucket must be empty before it can be deleted (DeleteBucket).
    put(&s3, "lifecycle", "only-object", b"x").await;
    let err = s3.delete_bucket().bucket("lifecycle").send().await.expect_err("delete_bucket of a non-empty bucket");
    assert_eq!(err.code(), Some("BucketNotEmpty"), "{err:?}");

    s3.delete_object().bucket("lifecycle").key("only-object").send().await.expect("delete_object");
    let err =
        s3.get_object().bucket("lifecycle").key("only-object").send().await.expect_err("get_object of a deleted key");
    assert!(matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))), "{err:?}");

    s3.delete_bucket().bucket("lifecycle").send().await.expect("delete_bucket of an empty bucket");
    let err = s3.head_bucket().bucket("lifecycle").send().await.expect_err("head_bucket of a deleted bucket");
    assert!(matches!(err.as_service_error(), Some(HeadBucketError::NotFound(_))), "{err:?}");
    let listed = s3.list_buckets().send().await.expect("list_buckets");
    assert!(listed.buckets().iter().all(|b| b.name() != Some("lifecycle")), "deleted bucket still listed: {listed:?}");
}

#[tokio::test]
async fn put_object_then_get_object_round_trips_body_metadata_content_type_and_etag() {
    let (_server, s3) = server_with_bucket("roundtrip").await;
    let body = b"Hello from the AWS SDK for Rust.\n".repeat(100);

    let put = s3
        .put_object()
        .bucket("roundtrip")
        .key("greetings/hello.txt")
        .content_type("text/plain; charset=utf-8")
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value With Spaces")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put_object");
    assert_eq!(put.e_tag(), Some(md5_etag(&body).as_str()));

    let got = s3.get_object().bucket("roundtrip").key("greetings/hello.txt").send().await.expect("get_object");
    assert_eq!(got.e_tag(), Some(md5_etag(&body).as_str()));
    assert_eq!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(got.content_length(), Some(body.len() as i64));
    // User metadata names come back lower-cased (x-amz-meta-* headers are
    // case-insensitive); values are kept as given.
    let expected: HashMap<String, String> =
        [("color".to_string(), "blue".to_string()), ("mixed-case".to_string(), "Value With Spaces".to_string())].into();
    assert_eq!(got.metadata(), Some(&expected));
    let got_body = got.body.collect().await.expect("reading body").to_vec();
    assert_eq!(got_body, body);
}

#[tokio::test]
async fn get_object_with_a_range_returns_just_those_bytes() {
    let (_server, s3) = server_with_bucket("ranges").await;
    let body = patterned_bytes(1000, 7);
    put(&s3, "ranges", "data.bin", &body).await;

    let got = s3
        .get_object()
        .bucket("ranges")
        .key("data.bin")
        .range("bytes=100-199")
        .send()
        .await
        .expect("get_object with range");
    assert_eq!(got.content_range(), Some("bytes 100-199/1000"));
    assert_eq!(got.content_length(), Some(100));
    let part = got.body.collect().await.expect("reading body").to_vec();
    assert_eq!(part, &body[100..200]);

    // A suffix range is the last N bytes.
    let got = s3
        .get_object()
        .bucket("ranges")
        .key("data.bin")
        .range("bytes=-10")
        .send()
        .await
        .expect("get_object with suffix range");
    assert_eq!(got.content_range(), Some("bytes 990-999/1000"));
    let tail = got.body.collect().await.expect("reading body").to_vec();
    assert_eq!(tail, &body[990..]);
}

#[tokio::test]
async fn head_object_reports_length_type_etag_and_metadata_without_a_body() {
    let (_server, s3) = server_with_bucket("heads").await;
    let body = b"{\"a\": 1}".to_vec();
    s3.put_object()
        .bucket("heads")
        .key("doc.json")
        .content_type("application/json")
        .metadata("owner", "e2e")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put_object");

    let head = s3.head_object().bucket("heads").key("doc.json").send().await.expect("head_object");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.e_tag(), Some(md5_etag(&body).as_str()));
    assert!(head.last_modified().is_some(), "no Last-Modified: {head:?}");
    assert_eq!(head.metadata().and_then(|m| m.get("owner")).map(String::as_str), Some("e2e"));

    let err =
        s3.head_object().bucket("heads").key("absent.json").send().await.expect_err("head_object of a missing key");
    assert!(matches!(err.as_service_error(), Some(HeadObjectError::NotFound(_))), "{err:?}");
}

/// Uploads `body` (as `stream`, which holds the same bytes), checks that the
/// SDK sent it the way `expect_wire` says, and that GetObject with checksum
/// mode enabled returns the CRC32 the SDK computed.
async fn assert_crc32_round_trip(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    stream: ByteStream,
    expect_wire: impl FnOnce(&SentHeaders),
) {
    let expected = base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(body).to_be_bytes());

    let sent = SentHeaders::default();
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(stream)
        .customize()
        .interceptor(sent.clone())
        .send()
        .await
        .expect("put_object");
    expect_wire(&sent);
    // S3 returns the checksum it verified.
    assert_eq!(put.checksum_crc32(), Some(expected.as_str()), "{put:?}");
    assert_eq!(put.e_tag(), Some(md5_etag(body).as_str()));

    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get_object with checksum mode");
    assert_eq!(got.checksum_crc32(), Some(expected.as_str()), "{got:?}");
    // The SDK validates the body against that checksum while reading it.
    let got_body = got.body.collect().await.expect("reading body").to_vec();
    assert!(got_body == body, "body differs");
}

#[tokio::test]
async fn an_in_memory_upload_carries_its_crc32_in_a_header_and_checksum_mode_returns_it() {
    let (_server, s3) = server_with_bucket("checksums").await;
    let body = patterned_bytes(64 * 1024, 3);
    let stream = ByteStream::from(body.clone());
    assert_crc32_round_trip(&s3, "checksums", "in-memory.bin", &body, stream, |sent| {
        // A body the SDK holds in memory is hashed into the signature, and
        // its CRC32 goes in a header.
        assert_eq!(sent.last("x-amz-content-sha256"), Some(hex::encode(sha2::Sha256::digest(&body))));
        assert!(sent.last("x-amz-checksum-crc32").is_some());
        assert_eq!(sent.last("content-encoding"), None);
    })
    .await;
}

#[tokio::test]
async fn a_streamed_upload_is_signed_aws_chunked_with_a_crc32_trailer_and_checksum_mode_returns_it() {
    let (_server, s3) = server_with_bucket("checksums").await;
    // Several 64 KiB chunks and a short last one.
    let body = patterned_bytes(300_000, 4);
    let file = tempfile::NamedTempFile::new().expect("creating a temporary file");
    std::fs::write(file.path(), &body).expect("writing the temporary file");
    let stream = ByteStream::from_path(file.path()).await.expect("streaming the file");
    assert_crc32_round_trip(&s3, "checksums", "streamed.bin", &body, stream, |sent| {
        // A streamed body over plain HTTP is sent aws-chunked, each chunk
        // signed, with the CRC32 in a signed trailer.
        assert_eq!(sent.last("x-amz-content-sha256").as_deref(), Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"));
        assert_eq!(sent.last("content-encoding").as_deref(), Some("aws-chunked"));
        assert_eq!(sent.last("x-amz-trailer").as_deref(), Some("x-amz-checksum-crc32"));
        assert_eq!(sent.last("x-amz-decoded-content-length"), Some(body.len().to_string()));
    })
    .await;
}

#[tokio::test]
async fn list_objects_v2_with_prefix_and_delimiter_rolls_up_common_prefixes() {
    let (_server, s3) = server_with_bucket("listing").await;
    for key in
        ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/readme.txt", "docs/x.txt", "top.txt"]
    {
        put(&s3, "listing", key, key.as_bytes()).await;
    }

    let out =
        s3.list_objects_v2().bucket("listing").prefix("photos/").delimiter("/").send().await.expect("list_objects_v2");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, ["photos/readme.txt"]);
    assert_eq!(prefixes, ["photos/2024/", "photos/2025/"]);
    // KeyCount counts keys and common prefixes together.
    assert_eq!(out.key_count(), Some(3));
    assert_eq!(out.is_truncated(), Some(false));
    let readme = &out.contents()[0];
    assert_eq!(readme.size(), Some("photos/readme.txt".len() as i64));
    assert_eq!(readme.e_tag(), Some(md5_etag(b"photos/readme.txt").as_str()));

    let top =
        s3.list_objects_v2().bucket("listing").delimiter("/").send().await.expect("list_objects_v2 at the top level");
    let keys: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, ["top.txt"]);
    assert_eq!(prefixes, ["docs/", "photos/"]);
}

#[tokio::test]
async fn the_list_objects_v2_paginator_visits_every_key_once_in_order() {
    let (_server, s3) = server_with_bucket("pages").await;
    let keys: Vec<String> = (0..30).map(|i| format!("item/{i:03}")).collect();
    for key in &keys {
        put(&s3, "pages", key, b"p").await;
    }

    let pages: Vec<_> = s3
        .list_objects_v2()
        .bucket("pages")
        .max_keys(7)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("paginating list_objects_v2");

    let sizes: Vec<usize> = pages.iter().map(|p| p.contents().len()).collect();
    assert_eq!(sizes, [7, 7, 7, 7, 2]);
    for (i, page) in pages.iter().enumerate() {
        let last = i == pages.len() - 1;
        assert_eq!(page.is_truncated(), Some(!last), "page {i}: {page:?}");
        assert_eq!(page.max_keys(), Some(7), "page {i}");
    }
    let listed: Vec<&str> = pages.iter().flat_map(|p| p.contents()).filter_map(|o| o.key()).collect();
    assert_eq!(listed, keys);
}

#[tokio::test]
async fn copy_object_copies_the_body_content_type_and_metadata() {
    let (_server, s3) = server_with_bucket("copies").await;
    s3.create_bucket().bucket("copies-dest").send().await.expect("create_bucket");
    let body = patterned_bytes(10_000, 9);
    s3.put_object()
        .bucket("copies")
        .key("original.bin")
        .content_type("application/x-test")
        .metadata("origin", "copy-test")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put_object");

    let copied = s3
        .copy_object()
        .copy_source("copies/original.bin")
        .bucket("copies-dest")
        .key("copy.bin")
        .send()
        .await
        .expect("copy_object");
    // A copy of a single-part object has the same MD5 ETag.
    let result = copied.copy_object_result().expect("CopyObjectResult");
    assert_eq!(result.e_tag(), Some(md5_etag(&body).as_str()));

    let got = s3.get_object().bucket("copies-dest").key("copy.bin").send().await.expect("get_object of the copy");
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("copy-test"));
    let got_body = got.body.collect().await.expect("reading body").to_vec();
    assert_eq!(got_body, body);
}

#[tokio::test]
async fn delete_objects_removes_the_named_keys_and_reports_each() {
    let (_server, s3) = server_with_bucket("bulk").await;
    for key in ["a", "b", "c", "keep"] {
        put(&s3, "bulk", key, key.as_bytes()).await;
    }

    let delete = Delete::builder()
        .set_objects(Some(
            ["a", "b", "c", "never-existed"]
                .into_iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap();
    let out = s3.delete_objects().bucket("bulk").delete(delete).send().await.expect("delete_objects");
    assert!(out.errors().is_empty(), "{out:?}");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    // Deleting a key that does not exist succeeds and is reported as deleted.
    assert_eq!(deleted, ["a", "b", "c", "never-existed"]);

    let left = s3.list_objects_v2().bucket("bulk").send().await.expect("list_objects_v2");
    let keys: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["keep"]);
}

#[tokio::test]
async fn object_tags_put_are_the_tags_got() {
    let (_server, s3) = server_with_bucket("tags").await;
    put(&s3, "tags", "tagged.txt", b"tag me").await;

    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("project").value("latchkey").build().unwrap())
        .tag_set(Tag::builder().key("stage").value("e2e test").build().unwrap())
        .build()
        .unwrap();
    s3.put_object_tagging().bucket("tags").key("tagged.txt").tagging(tagging).send().await.expect("put_object_tagging");

    let got = s3.get_object_tagging().bucket("tags").key("tagged.txt").send().await.expect("get_object_tagging");
    let mut tags: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    tags.sort();
    assert_eq!(tags, [("project", "latchkey"), ("stage", "e2e test")]);

    // GetObject reports how many tags the object has.
    let object = s3.get_object().bucket("tags").key("tagged.txt").send().await.expect("get_object");
    assert_eq!(object.tag_count(), Some(2));
}

#[tokio::test]
async fn a_three_part_multipart_upload_has_an_etag_ending_in_dash_three() {
    let (_server, s3) = server_with_bucket("multipart").await;
    let parts = [patterned_bytes(5 * MIB, 1), patterned_bytes(5 * MIB, 2), patterned_bytes(1234, 3)];

    let created = s3
        .create_multipart_upload()
        .bucket("multipart")
        .key("big.bin")
        .content_type("application/octet-stream")
        .metadata("kind", "multipart")
        .send()
        .await
        .expect("create_multipart_upload");
    let upload_id = created.upload_id().expect("UploadId").to_string();

    // Part 1 is streamed from a file, so the SDK sends it aws-chunked with
    // signed chunks and a CRC32 trailer; the others go from memory.
    let part1_file = tempfile::NamedTempFile::new().expect("creating a temporary file");
    std::fs::write(part1_file.path(), &parts[0]).expect("writing the temporary file");

    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let body = if number == 1 {
            ByteStream::from_path(part1_file.path()).await.expect("streaming the file")
        } else {
            ByteStream::from(part.clone())
        };
        let out = s3
            .upload_part()
            .bucket("multipart")
            .key("big.bin")
            .upload_id(&upload_id)
            .part_number(number)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload_part {number}: {e:?}"));
        assert_eq!(out.e_tag(), Some(md5_etag(part).as_str()), "part {number}");
        completed.push(CompletedPart::builder().part_number(number).e_tag(out.e_tag().unwrap()).build());
    }

    let listed =
        s3.list_parts().bucket("multipart").key("big.bin").upload_id(&upload_id).send().await.expect("list_parts");
    let sizes: Vec<i64> = listed.parts().iter().filter_map(|p| p.size()).collect();
    assert_eq!(sizes, [5 * MIB as i64, 5 * MIB as i64, 1234]);

    let done = s3
        .complete_multipart_upload()
        .bucket("multipart")
        .key("big.bin")
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .expect("complete_multipart_upload");
    // The ETag of a multipart object is the MD5 of the parts' binary MD5s,
    // then "-" and the number of parts.
    let mut md5_of_md5s = Md5::new();
    for part in &parts {
        md5_of_md5s.update(Md5::digest(part));
    }
    let expected_etag = format!("\"{}-3\"", hex::encode(md5_of_md5s.finalize()));
    let etag = done.e_tag().expect("ETag");
    assert!(etag.trim_matches('"').ends_with("-3"), "ETag {etag}");
    assert_eq!(etag, expected_etag);

    let got = s3.get_object().bucket("multipart").key("big.bin").send().await.expect("get_object");
    assert_eq!(got.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(got.content_length(), Some((10 * MIB + 1234) as i64));
    assert_eq!(got.metadata().and_then(|m| m.get("kind")).map(String::as_str), Some("multipart"));
    let body = got.body.collect().await.expect("reading body").to_vec();
    assert!(body == parts.concat(), "multipart body differs from the parts");

    // A completed upload no longer exists as an upload.
    let err = s3
        .list_parts()
        .bucket("multipart")
        .key("big.bin")
        .upload_id(&upload_id)
        .send()
        .await
        .expect_err("list_parts of a completed upload");
    assert_eq!(err.code(), Some("NoSuchUpload"), "{err:?}");
}

#[tokio::test]
async fn an_aborted_multipart_upload_is_gone_so_list_parts_fails_with_no_such_upload() {
    let (_server, s3) = server_with_bucket("aborts").await;
    let created = s3
        .create_multipart_upload()
        .bucket("aborts")
        .key("abandoned.bin")
        .send()
        .await
        .expect("create_multipart_upload");
    let upload_id = created.upload_id().expect("UploadId");
    s3.upload_part()
        .bucket("aborts")
        .key("abandoned.bin")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(patterned_bytes(1000, 5)))
        .send()
        .await
        .expect("upload_part");

    s3.abort_multipart_upload()
        .bucket("aborts")
        .key("abandoned.bin")
        .upload_id(upload_id)
        .send()
        .await
        .expect("abort_multipart_upload");

    let err = s3
        .list_parts()
        .bucket("aborts")
        .key("abandoned.bin")
        .upload_id(upload_id)
        .send()
        .await
        .expect_err("list_parts of an aborted upload");
    assert_eq!(err.code(), Some("NoSuchUpload"), "{err:?}");

    let uploads = s3.list_multipart_uploads().bucket("aborts").send().await.expect("list_multipart_uploads");
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    let err = s3
        .get_object()
        .bucket("aborts")
        .key("abandoned.bin")
        .send()
        .await
        .expect_err("get_object of an aborted upload's key");
    assert!(matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))), "{err:?}");
}

#[tokio::test]
async fn get_object_of_a_missing_key_is_no_such_key() {
    let (_server, s3) = server_with_bucket("missing").await;
    let err =
        s3.get_object().bucket("missing").key("not/here.txt").send().await.expect_err("get_object of a missing key");
    assert!(matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))), "{err:?}");
    assert_eq!(err.code(), Some("NoSuchKey"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test]
async fn a_request_signed_with_the_wrong_secret_is_signature_does_not_match() {
    let (server, _) = server_with_bucket("sigs").await;
    let wrong = client_with_secret(&server, "wrongSecretKeyForLatchkeyRustSdkTests000");

    let err = wrong.list_buckets().send().await.expect_err("list_buckets with a wrong secret");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));

    // Also for a streaming upload, whose signature covers the chunked body.
    let err = wrong
        .put_object()
        .bucket("sigs")
        .key("forged.txt")
        .body(ByteStream::from_static(b"forged"))
        .send()
        .await
        .expect_err("put_object with a wrong secret");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");

    let err = client(&server)
        .head_object()
        .bucket("sigs")
        .key("forged.txt")
        .send()
        .await
        .expect_err("the forged object must not exist");
    assert!(matches!(err.as_service_error(), Some(HeadObjectError::NotFound(_))), "{err:?}");
}

#[tokio::test]
async fn a_presigned_get_url_fetched_over_plain_http_returns_the_object() {
    let (server, s3) = server_with_bucket("presign-get").await;
    let body = patterned_bytes(3000, 11);
    put(&s3, "presign-get", "shared file.bin", &body).await;

    let presigned = s3
        .get_object()
        .bucket("presign-get")
        .key("shared file.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .expect("presigning get_object");
    assert_eq!(presigned.method(), "GET");
    let target = request_target(&server, presigned.uri());
    let headers: Vec<(&str, &str)> =
        presigned.headers().filter(|(name, _)| !name.eq_ignore_ascii_case("host")).collect();

    let resp = RawHttp::new(server.addr()).send("GET", &target, &headers, b"").expect("sending the presigned GET");
    assert_eq!(resp.status, 200, "GET {target}: {}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("etag"), Some(md5_etag(&body).as_str()));
    assert!(resp.body == body, "presigned GET body differs");

    // The signature covers the path: the same query on another key fails.
    let other = target.replacen("shared%20file.bin", "other.bin", 1);
    assert_ne!(other, target, "expected the key in {target}");
    let resp = RawHttp::new(server.addr()).send("GET", &other, &headers, b"").expect("sending the tampered GET");
    assert_eq!(resp.status, 403, "{}", String::from_utf8_lossy(&resp.body));
}

#[tokio::test]
async fn a_presigned_put_url_used_over_plain_http_stores_the_object() {
    let (server, s3) = server_with_bucket("presign-put").await;
    let body = b"uploaded without the SDK".to_vec();

    let presigned = s3
        .put_object()
        .bucket("presign-put")
        .key("uploads/direct.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .expect("presigning put_object");
    assert_eq!(presigned.method(), "PUT");
    let target = request_target(&server, presigned.uri());
    let headers: Vec<(&str, &str)> =
        presigned.headers().filter(|(name, _)| !name.eq_ignore_ascii_case("host")).collect();

    let resp = RawHttp::new(server.addr()).send("PUT", &target, &headers, &body).expect("sending the presigned PUT");
    assert_eq!(resp.status, 200, "PUT {target} with headers {headers:?}: {}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("etag"), Some(md5_etag(&body).as_str()));

    assert_eq!(get_bytes(&s3, "presign-put", "uploads/direct.txt").await, body);
}
