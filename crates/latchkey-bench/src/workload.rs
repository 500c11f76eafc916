//! The workloads: what one operation of each does, and what it needs
//! prepared on the server first.

use crate::client::{AuthStyle, Call, Payload, PayloadSigning, S3Client};
use crate::report::{human_size, Row};
use crate::runner::{drive, Bounds, Outcome};
use crate::setup::{self, Identities, BUCKET, GET_POOL, LIST_BUCKET, POLICY_BUCKET};
use crate::{procfs, sign::Credentials};
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Root,
    /// An IAM user's long-term key.
    User,
    /// Temporary credentials from AssumeRole.
    Session,
    /// An IAM user let in only by the 20-statement bucket policy.
    PolicyUser,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        unsigned: bool,
    },
    Get {
        who: Who,
        presigned: bool,
    },
    Head,
    Delete,
    List,
    Mixed,
    AssumeRole,
    /// Many concurrent large PUTs while the server's memory is sampled.
    Memory,
}

pub struct Spec {
    pub id: String,
    pub label: String,
    pub op: Op,
    pub size: u64,
    pub concurrency: usize,
    pub bounds: Bounds,
}

pub struct Bench {
    pub client: S3Client,
    unsigned: S3Client,
    presigned: S3Client,
    pub root: Credentials,
    pub server_pid: Option<u32>,
    /// One buffer of pseudo-random bytes; every payload is a slice of it.
    data: Bytes,
    payloads: std::sync::Mutex<Vec<(u64, Payload)>>,
    pub ids: Option<Identities>,
    pub list_keys: u64,
    pub fill_concurrency: usize,
    prepared: tokio::sync::Mutex<HashSet<String>>,
    /// Keys a DELETE row may remove (prefilled before it starts).
    delete_pool: AtomicU64,
}

/// Incompressible bytes from xorshift64* (fast, no dependency).
fn pseudo_random(len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

pub const MAX_SIZE: u64 = 64 << 20;

fn size_tag(size: u64) -> String {
    human_size(size).replace(' ', "").to_lowercase()
}

impl Bench {
    pub fn new(client: S3Client, root: Credentials, server_pid: Option<u32>, list_keys: u64, max_size: u64) -> Self {
        let mut unsigned = client.clone();
        unsigned.payload_signing = PayloadSigning::UnsignedPayload;
        let mut presigned = client.clone();
        presigned.auth = AuthStyle::Presigned;
        Bench {
            client,
            unsigned,
            presigned,
            root,
            server_pid,
            data: pseudo_random(max_size as usize),
            payloads: std::sync::Mutex::new(Vec::new()),
            ids: None,
            list_keys,
            fill_concurrency: 64,
            prepared: tokio::sync::Mutex::new(HashSet::new()),
            delete_pool: AtomicU64::new(0),
        }
    }

    /// The shared payload of `size` bytes, hashed once.
    pub fn payload(&self, size: u64) -> Payload {
        let mut p = self.payloads.lock().expect("payload cache lock");
        if let Some((_, pl)) = p.iter().find(|(s, _)| *s == size) {
            return pl.clone();
        }
        let pl = Payload::new(self.data.slice(..size as usize));
        p.push((size, pl.clone()));
        pl
    }

    fn creds(&self, who: Who) -> Option<&Credentials> {
        match who {
            Who::Root => Some(&self.root),
            Who::User => self.ids.as_ref().map(|i| &i.user),
            Who::Session => self.ids.as_ref().map(|i| &i.session),
            Who::PolicyUser => self.ids.as_ref().map(|i| &i.policy_user),
        }
    }

    fn needs_iam(op: Op) -> bool {
        matches!(op, Op::AssumeRole | Op::Get { who: Who::User | Who::Session | Who::PolicyUser, .. })
    }

    /// Creates what `spec` reads before it is timed; returns fill rows
    /// worth reporting (the 100,000-key prefill).
    async fn prepare(&self, spec: &Spec) -> anyhow::Result<Vec<Row>> {
        let mut done = self.prepared.lock().await;
        let mut rows = Vec::new();
        if done.insert("buckets".into()) {
            for b in [BUCKET, LIST_BUCKET, POLICY_BUCKET] {
                setup::create_bucket(&self.client, &self.root, b).await?;
            }
        }
        let (bucket, size) = match spec.op {
            Op::Get { who: Who::PolicyUser, .. } => (POLICY_BUCKET, spec.size),
            Op::Get { .. } => (BUCKET, spec.size),
            Op::Head | Op::Mixed => (BUCKET, 4096),
            _ => ("", 0),
        };
        if !bucket.is_empty() && done.insert(format!("pool:{bucket}:{size}")) {
            self.fill_pool(bucket, size).await?;
        }
        if spec.op == Op::List && done.insert("list".into()) {
            let key: fn(u64) -> String = |i| format!("k/{i:08}");
            let t = std::time::Instant::now();
            let cpu0 = self.server_pid.and_then(procfs::cpu_time);
            let o = setup::fill(
                &self.client,
                &self.root,
                LIST_BUCKET,
                self.list_keys,
                self.fill_concurrency,
                Payload::empty(),
                key,
            )
            .await?;
            eprintln!("  filled {} keys in {:.1} s", self.list_keys, t.elapsed().as_secs_f64());
            let fill = Spec {
                id: "put-0b-fill".into(),
                label: format!("PUT 0 B ({} keys for LIST)", self.list_keys),
                op: Op::Put { unsigned: false },
                size: 0,
                concurrency: self.fill_concurrency,
                bounds: spec.bounds,
            };
            rows.push(self.row_from(&fill, &o, cpu0));
        }
        if spec.op == Op::Delete {
            let n = spec.bounds.count.unwrap_or(10_000);
            let key: fn(u64) -> String = |i| format!("del/{i}");
            setup::fill(&self.client, &self.root, BUCKET, n, self.fill_concurrency, self.payload(4096), key).await?;
            self.delete_pool.store(n, Ordering::Relaxed);
        }
        Ok(rows)
    }

    /// The objects GET rows read: `pool-<size>/0..GET_POOL` in `bucket`.
    pub async fn fill_pool(&self, bucket: &'static str, size: u64) -> anyhow::Result<()> {
        let p = self.payload(size);
        let (c, root) = (self.client.clone(), self.root.clone());
        let tag = size_tag(size);
        let bounds = Bounds { duration: Duration::from_secs(600), count: Some(GET_POOL) };
        let conc = if size >= 16 << 20 { 4 } else { 16 };
        let o = drive(conc, bounds, move |i| {
            let (c, root, p, key) = (c.clone(), root.clone(), p.clone(), format!("pool-{tag}/{i}"));
            async move { setup::put(&c, &root, bucket, &key, &p).await }
        })
        .await;
        if o.errors > 0 {
            anyhow::bail!("filling the GET pool: {}", o.first_error.unwrap_or_default());
        }
        Ok(())
    }

    /// Fills a GET pool now (before a bucket policy that could refuse it).
    pub async fn prepare_pool(&self, bucket: &'static str, size: u64) -> anyhow::Result<()> {
        let mut done = self.prepared.lock().await;
        if done.insert(format!("pool:{bucket}:{size}")) {
            self.fill_pool(bucket, size).await?;
        }
        Ok(())
    }

    /// One operation; the payload bytes it moved.
    async fn perform(&self, spec_op: Op, size: u64, seq: u64) -> Result<u64, String> {
        let tag = size_tag(size);
        match spec_op {
            Op::Put { unsigned } => {
                let c = if unsigned { &self.unsigned } else { &self.client };
                // Overwrites within a bounded key space keep the disk use bounded.
                let space = (256 << 20) / size.max(4096) + 16;
                let key = format!("put-{tag}/{}", seq % space.min(10_000));
                setup::put(c, &self.root, BUCKET, &key, &self.payload(size)).await
            }
            Op::Memory => {
                let key = format!("mem/{}", seq % 64);
                setup::put(&self.client, &self.root, BUCKET, &key, &self.payload(size)).await
            }
            Op::Get { who, presigned } => {
                let creds = self.creds(who).ok_or("no such identity")?;
                let c = if presigned { &self.presigned } else { &self.client };
                let bucket = if who == Who::PolicyUser { POLICY_BUCKET } else { BUCKET };
                self.get(c, creds, bucket, &format!("pool-{tag}/{}", seq % GET_POOL), size).await
            }
            Op::Head => self.head(seq).await,
            Op::Delete => {
                if seq >= self.delete_pool.load(Ordering::Relaxed) {
                    return Err("delete pool exhausted".into());
                }
                self.delete(&format!("del/{seq}")).await
            }
            Op::List => self.list(seq).await,
            Op::Mixed => self.mixed(seq).await,
            Op::AssumeRole => {
                let ids = self.ids.as_ref().ok_or("no identities")?;
                setup::assume_role(&self.client, &ids.user, &ids.role_arn, &format!("bench-{seq}"))
                    .await
                    .map(|_| 0)
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn head(&self, seq: u64) -> Result<u64, String> {
        let path = format!("/{BUCKET}/pool-4kib/{}", seq % GET_POOL);
        let r = self.client.send(&self.root, Call::s3("HEAD", &path)).await.map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("HEAD {path}: HTTP {}", r.status));
        }
        Ok(0)
    }

    async fn get(&self, c: &S3Client, creds: &Credentials, bucket: &str, key: &str, size: u64) -> Result<u64, String> {
        let path = format!("/{bucket}/{key}");
        let r = c.send(creds, Call::s3("GET", &path)).await.map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("GET {path}: HTTP {}", r.status));
        }
        if r.len != size {
            return Err(format!("GET {path}: {} bytes, expected {size}", r.len));
        }
        Ok(r.len)
    }

    async fn delete(&self, key: &str) -> Result<u64, String> {
        let path = format!("/{BUCKET}/{key}");
        let r = self.client.send(&self.root, Call::s3("DELETE", &path)).await.map_err(|e| e.to_string())?;
        if r.status != 204 && r.status != 200 {
            return Err(format!("DELETE {path}: HTTP {}", r.status));
        }
        Ok(0)
    }

    /// One ListObjectsV2 page of 1,000 keys from a spread of start points.
    async fn list(&self, seq: u64) -> Result<u64, String> {
        let span = self.list_keys.saturating_sub(1000).max(1);
        let start = seq.wrapping_mul(2_654_435_761) % span;
        let path = format!("/{LIST_BUCKET}");
        let mut call = Call::s3("GET", &path);
        call.query = vec![
            ("list-type".into(), "2".into()),
            ("max-keys".into(), "1000".into()),
            ("start-after".into(), format!("k/{start:08}")),
        ];
        call.keep_body = true;
        let r = self.client.send(&self.root, call).await.map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("ListObjectsV2: HTTP {}", r.status));
        }
        let body = r.body.unwrap_or_default();
        let keys = body.windows(5).filter(|w| *w == b"<Key>").count() as u64;
        let want = 1000.min(self.list_keys - start - 1);
        if keys != want {
            return Err(format!("ListObjectsV2 returned {keys} keys, expected {want}"));
        }
        Ok(0)
    }

    /// 60% GET, 20% PUT, 10% HEAD, 5% LIST (100 keys), 5% DELETE of 4 KiB objects.
    async fn mixed(&self, seq: u64) -> Result<u64, String> {
        let pool_key = format!("pool-4kib/{}", seq % GET_POOL);
        match seq % 20 {
            0..=11 => self.get(&self.client, &self.root, BUCKET, &pool_key, 4096).await,
            12..=15 => {
                setup::put(&self.client, &self.root, BUCKET, &format!("mixed/{}", seq % 500), &self.payload(4096)).await
            }
            16 | 17 => self.head(seq).await,
            18 => {
                let path = format!("/{BUCKET}");
                let mut call = Call::s3("GET", &path);
                call.query = vec![
                    ("list-type".into(), "2".into()),
                    ("max-keys".into(), "100".into()),
                    ("prefix".into(), "pool-4kib/".into()),
                ];
                let r = self.client.send(&self.root, call).await.map_err(|e| e.to_string())?;
                if r.status != 200 {
                    return Err(format!("ListObjectsV2: HTTP {}", r.status));
                }
                Ok(0)
            }
            _ => self.delete(&format!("mixed/{}", (seq / 20) % 500)).await,
        }
    }

    fn row_from(&self, spec: &Spec, o: &Outcome, cpu0: Option<Duration>) -> Row {
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let h = &o.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        let cpu = match (cpu0, self.server_pid.and_then(procfs::cpu_time)) {
            (Some(a), Some(b)) if o.ops > 0 => Some((b - a).as_secs_f64() * 1e6 / o.ops as f64),
            _ => None,
        };
        Row {
            id: spec.id.clone(),
            label: spec.label.clone(),
            size: spec.size,
            concurrency: spec.concurrency,
            status: "ok".into(),
            ops: o.ops,
            errors: o.errors,
            seconds: secs,
            ops_per_s: o.ops as f64 / secs,
            mb_per_s: o.bytes as f64 / secs / 1e6,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
            server_cpu_us_per_op: cpu,
            first_error: o.first_error.clone(),
            ..Row::default()
        }
    }

    pub fn not_applicable(spec: &Spec, why: &str) -> Row {
        Row {
            id: spec.id.clone(),
            label: spec.label.clone(),
            size: spec.size,
            concurrency: spec.concurrency,
            status: "n/a".into(),
            note: Some(why.into()),
            ..Row::default()
        }
    }

    /// Prepares and runs one workload; returns its row (and any fill rows).
    pub async fn run(self: &Arc<Self>, spec: Spec) -> anyhow::Result<Vec<Row>> {
        if Self::needs_iam(spec.op) && self.ids.is_none() {
            return Ok(vec![Self::not_applicable(&spec, "no IAM/STS at this endpoint")]);
        }
        let mut rows = match self.prepare(&spec).await {
            Ok(rows) => rows,
            Err(e) => {
                let mut row = Self::not_applicable(&spec, "setup failed");
                row.status = "error".into();
                row.first_error = Some(e.to_string());
                return Ok(vec![row]);
            }
        };
        let sampler = (spec.op == Op::Memory).then(|| self.server_pid).flatten().map(|pid| {
            let stop = Arc::new(AtomicBool::new(false));
            let peak = Arc::new(AtomicU64::new(0));
            let (s, p) = (stop.clone(), peak.clone());
            let task = tokio::spawn(async move {
                while !s.load(Ordering::Relaxed) {
                    if let Some(rss) = procfs::status_bytes(pid, "VmRSS") {
                        p.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            (stop, peak, task, procfs::status_bytes(pid, "VmRSS"))
        });
        let cpu0 = self.server_pid.and_then(procfs::cpu_time);
        let me = self.clone();
        let (op, size) = (spec.op, spec.size);
        let o = drive(spec.concurrency, spec.bounds, move |seq| {
            let me = me.clone();
            async move { me.perform(op, size, seq).await }
        })
        .await;
        let mut row = self.row_from(&spec, &o, cpu0);
        if let Some((stop, peak, task, before)) = sampler {
            stop.store(true, Ordering::Relaxed);
            let _ = task.await;
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            row.rss_peak_mib = Some(mib(peak.load(Ordering::Relaxed)));
            row.rss_before_mib = before.map(mib);
            row.hwm_mib = self.server_pid.and_then(|p| procfs::status_bytes(p, "VmHWM")).map(mib);
        }
        if spec.op == Op::List {
            row.note = Some(format!("1,000 keys per page from a {}-key bucket", self.list_keys));
        }
        if spec.op == Op::Mixed {
            row.note = Some("60% GET, 20% PUT, 10% HEAD, 5% LIST, 5% DELETE of 4 KiB".into());
        }
        rows.push(row);
        Ok(rows)
    }
}
