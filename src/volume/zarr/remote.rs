//! Zarr stores over a network: `s3://bucket/prefix` and `http(s)://…`,
//! through [`object_store`] (the crate under `zarrs_object_store`), with a
//! storage adapter of impart's own.
//!
//! # Why an adapter of our own
//!
//! `zarrs_object_store` 0.7 asks for an object's size (a `HEAD`) before
//! every ranged read and turns every error into a string. impart's adapter
//! sends one ranged `GET` per read (a shard index is a suffix range, inner
//! chunks are bounded ranges, coalesced by `object_store`), keeps the kind
//! of an error (not found, permission denied, the network), counts its
//! requests and bytes (what `impart info` reports), and fetches the chunks
//! a walk will need next while the decoder works ([`RemoteStore::prefetch`]).
//!
//! # Configuration
//!
//! S3 is configured from the standard environment, as `object_store`
//! reads it (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, and
//! `AWS_ALLOW_HTTP=true` for a plain `http://` endpoint), so one command
//! works against AWS, MinIO, Ceph or a local test server. Without
//! credentials in the environment requests are anonymous (unsigned); set
//! `AWS_SKIP_SIGNATURE=false` to use `object_store`'s other credential
//! sources (instance metadata, web identity) instead.
//!
//! Timeouts, resets and 5xx answers are retried with exponential backoff
//! ([`RemoteOptions::retries`], default 10, within 3 minutes of a first
//! failure); 403 and 404 are never retried.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

use crate::error::{Error, Result};

/// How a remote store is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOptions {
    retries: usize,
    timeout: Duration,
    prefetch: usize,
    prefetch_bytes: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            retries: 10,
            timeout: Duration::from_secs(30),
            prefetch: 16,
            prefetch_bytes: 256 << 20,
        }
    }
}

impl RemoteOptions {
    /// Defaults: 10 retries, a 30 s timeout per request, at most 16
    /// requests and 256 MiB of fetched chunks ahead of the decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Most retries of one request after a timeout, a reset connection
    /// or a 5xx answer (with exponential backoff); 0 turns retries off.
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// Longest time one request may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Most requests in flight ahead of the decoder during a walk; 0
    /// turns prefetching off (each chunk is fetched when a read needs it).
    pub fn prefetch(mut self, requests: usize) -> Self {
        self.prefetch = requests;
        self
    }

    /// Most bytes of fetched, not yet decoded chunks held ahead of the
    /// decoder (part of the walk's memory budget).
    pub fn prefetch_bytes(mut self, bytes: usize) -> Self {
        self.prefetch_bytes = bytes;
        self
    }
}

/// What a remote store has fetched so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// `GET` requests answered (whole objects and byte ranges; a coalesced
    /// multi-range read counts once per request sent).
    pub gets: u64,
    /// `HEAD` requests answered.
    pub heads: u64,
    /// Bytes received in answers.
    pub bytes: u64,
    /// Objects looked for and not found (missing chunks read as the fill
    /// value).
    pub missing: u64,
    /// Chunks fetched ahead of the decoder by a walk's prefetch.
    pub prefetched: u64,
    /// `PUT` requests answered (chunks and metadata written).
    pub puts: u64,
    /// Bytes sent in `PUT`s.
    pub bytes_sent: u64,
    /// HTTP requests sent, retries included (a coalesced multi-range read
    /// may send several).
    pub requests: u64,
    /// Requests that failed transiently (a timeout, a reset connection, a
    /// 5xx or 429 answer) and were sent again, or ended their read once
    /// the retries ran out.
    pub retried: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    heads: AtomicU64,
    bytes: AtomicU64,
    missing: AtomicU64,
    prefetched: AtomicU64,
    puts: AtomicU64,
    bytes_sent: AtomicU64,
    requests: AtomicU64,
    retried: AtomicU64,
    /// The server answered a range request with the whole object (Python's
    /// `http.server`, some static servers): ranges are read from whole
    /// objects from then on.
    no_ranges: AtomicBool,
    /// The last whole objects fetched for range reads from such a server
    /// (a shard's index, then its inner chunks), at most [`WHOLE_KEPT`].
    whole: Mutex<Vec<(String, Bytes)>>,
}

/// The HTTP client of `object_store` (reqwest), counting the requests it
/// sends and those that fail transiently: what `object_store`'s retries do
/// is seen only here.
#[derive(Debug)]
struct Counting(Arc<Counters>);

impl object_store::client::HttpConnector for Counting {
    fn connect(
        &self,
        options: &ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let inner = object_store::client::ReqwestConnector::default().connect(options)?;
        Ok(object_store::client::HttpClient::new(CountingService {
            inner,
            counters: self.0.clone(),
        }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: object_store::client::HttpClient,
    counters: Arc<Counters>,
}

#[async_trait::async_trait]
impl object_store::client::HttpService for CountingService {
    async fn call(
        &self,
        req: object_store::client::HttpRequest,
    ) -> std::result::Result<object_store::client::HttpResponse, object_store::client::HttpError>
    {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.inner.execute(req).await;
        let transient = match &response {
            Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
            Err(_) => true,
        };
        if transient {
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
        }
        response
    }
}

/// Byte ranges of one object, or none if it does not exist.
type MaybeBytesVec = Option<Vec<Bytes>>;

/// Whole objects kept for range reads from a server without ranges.
const WHOLE_KEPT: usize = 4;

/// A fetch started ahead of the decoder, or done without one.
enum Slot {
    Pending,
    Ready(std::result::Result<MaybeBytes, Arc<std::io::Error>>),
    /// Fetched on demand during this walk (its decoded chunk is in the
    /// walk's cache): not fetched ahead again.
    Done,
}

#[derive(Default)]
struct Ahead {
    slots: HashMap<String, Slot>,
    /// Bytes held by ready slots.
    bytes: usize,
    /// Slots pending.
    pending: usize,
}

/// A Zarr store on S3 or an HTTP server: `zarrs`'s readable storage over
/// an [`object_store`] client, with request counting and prefetch.
pub struct RemoteStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    counters: Arc<Counters>,
    ahead: Arc<(Mutex<Ahead>, Condvar)>,
    options: RemoteOptions,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("url", &self.url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RemoteStore {
    /// A client for the store at `url` (`s3://bucket/prefix` or an
    /// `http(s)://` base URL), configured as the [module docs](self) say.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] naming `url` if it is not a URL of a
    /// supported scheme or the client cannot be built (a malformed
    /// endpoint, say); [`Error::Io`] if the I/O runtime cannot start.
    pub fn open(url: &str, options: &RemoteOptions) -> Result<Self> {
        let url = url.trim_end_matches('/').to_string();
        let invalid = |detail: String| Error::InvalidHeader {
            path: url.clone().into(),
            detail,
        };
        let retry = RetryConfig {
            max_retries: options.retries,
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_timeout(options.timeout)
            .with_connect_timeout(Duration::from_secs(10));
        let counters: Arc<Counters> = Arc::default();
        let connector = Counting(counters.clone());
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not a URL".into()))?;
        let store: Arc<dyn ObjectStore> = match scheme.to_ascii_lowercase().as_str() {
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(invalid("an s3:// URL needs a bucket".into()));
                }
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .with_http_connector(connector);
                let env = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
                let credentials = [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "AWS_SKIP_SIGNATURE",
                ];
                if !credentials.iter().any(|k| env(k)) {
                    builder = builder.with_skip_signature(true);
                }
                let allow_http = std::env::var("AWS_ALLOW_HTTP")
                    .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
                builder = builder.with_client_options(client.with_allow_http(allow_http));
                let s3 = builder
                    .build()
                    .map_err(|e| invalid(format!("S3 client: {e}")))?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
                }
            }
            "http" | "https" => Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(url.clone())
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .with_client_options(client.with_allow_http(true))
                    .build()
                    .map_err(|e| invalid(format!("HTTP client: {e}")))?,
            ),
            other => return Err(invalid(format!("unsupported URL scheme {other:?}"))),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("impart-remote")
            .enable_all()
            .build()
            .map_err(|e| Error::io(url.clone(), e))?;
        Ok(RemoteStore {
            url,
            store,
            runtime,
            counters,
            ahead: Arc::default(),
            options: options.clone(),
        })
    }

    /// The store's URL (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of `key` in this store.
    pub fn key_url(&self, key: &str) -> String {
        format!("{}/{}", self.url, key.trim_start_matches('/'))
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> RemoteStats {
        let c = &self.counters;
        RemoteStats {
            gets: c.gets.load(Ordering::Relaxed),
            heads: c.heads.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            missing: c.missing.load(Ordering::Relaxed),
            prefetched: c.prefetched.load(Ordering::Relaxed),
            puts: c.puts.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
        }
    }

    /// Fetches the object `key` whole, with its version (entity tag, or
    /// else modification time, where the server gives one): `None` if
    /// there is no such object.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the object's URL: permission denied (403),
    /// the network after the retries, a truncated answer.
    pub fn get_object(&self, key: &str) -> Result<Option<(Bytes, Option<String>)>> {
        self.runtime
            .block_on(fetch_versioned(
                self.store.clone(),
                self.counters.clone(),
                self.key_url(key),
                key.to_string(),
                None,
            ))
            .map_err(|e| Error::io(self.url.clone(), e))
    }

    /// The entity tag (or else the modification time) of `key`, from a
    /// `HEAD`: `None` if there is no such object or the server gives
    /// neither.
    ///
    /// # Errors
    ///
    /// As [`get_object`](Self::get_object).
    pub fn version_of(&self, key: &str) -> Result<Option<String>> {
        match self.head(key) {
            Ok(r) => Ok(version_of_meta(&r.meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::io(self.key_url(key), to_io(e))),
        }
    }

    /// One `HEAD` of `key`, counted.
    fn head(&self, key: &str) -> object_store::Result<object_store::GetResult> {
        let path = ObjectPath::from(key);
        let counters = self.counters.clone();
        let store = self.store.clone();
        self.runtime.block_on(async move {
            let options = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            let head = store.get_opts(&path, options).await;
            counters.heads.fetch_add(1, Ordering::Relaxed);
            head
        })
    }

    /// Starts fetching `keys` (whole objects, in this order) on the I/O
    /// threads, at most [`RemoteOptions::prefetch`] at a time and within
    /// [`RemoteOptions::prefetch_bytes`]; a later [`get`] of one of them
    /// waits for its fetch instead of sending another request. Keys already
    /// fetched or in flight are skipped.
    ///
    /// [`get`]: ReadableStorageTraits::get
    pub fn prefetch(&self, keys: impl IntoIterator<Item = String>) {
        if self.options.prefetch == 0 {
            return;
        }
        let (lock, _) = &*self.ahead;
        let Ok(mut ahead) = lock.lock() else {
            return;
        };
        for key in keys {
            if ahead.pending >= self.options.prefetch || ahead.bytes >= self.options.prefetch_bytes
            {
                break;
            }
            if ahead.slots.contains_key(&key) {
                continue;
            }
            ahead.slots.insert(key.clone(), Slot::Pending);
            ahead.pending += 1;
            let store = self.store.clone();
            let counters = self.counters.clone();
            let shared = self.ahead.clone();
            let url = self.key_url(&key);
            self.runtime.spawn(async move {
                let result = fetch(store, counters.clone(), url, key.clone(), None).await;
                counters.prefetched.fetch_add(1, Ordering::Relaxed);
                let (lock, ready) = &*shared;
                if let Ok(mut ahead) = lock.lock() {
                    ahead.pending -= 1;
                    if let Ok(Some(b)) = &result {
                        ahead.bytes += b.len();
                    }
                    ahead
                        .slots
                        .insert(key, Slot::Ready(result.map_err(Arc::new)));
                }
                ready.notify_all();
            });
        }
    }

    /// Forgets every chunk fetched ahead and not taken, and which chunks
    /// were fetched (the end of a walk).
    pub fn forget_prefetched(&self) {
        let (lock, _) = &*self.ahead;
        if let Ok(mut ahead) = lock.lock() {
            ahead.slots.retain(|_, s| matches!(s, Slot::Pending));
            ahead.bytes = 0;
        }
    }

    /// The result of a prefetch of `key`, waiting for it if it is in
    /// flight; `None` if `key` was not prefetched (then noted as fetched
    /// on demand, so a later prefetch skips it).
    fn take_prefetched(&self, key: &str) -> Option<std::result::Result<MaybeBytes, StorageError>> {
        let (lock, ready) = &*self.ahead;
        let mut ahead = lock.lock().ok()?;
        loop {
            let Some(slot) = ahead.slots.get(key) else {
                // fetched on demand by the caller: noted under the same
                // lock, so no prefetch starts a second fetch of it
                if self.options.prefetch > 0 {
                    ahead.slots.insert(key.to_string(), Slot::Done);
                }
                return None;
            };
            match slot {
                Slot::Done => return None,
                Slot::Pending => ahead = ready.wait(ahead).ok()?,
                Slot::Ready(_) => {
                    let Some(Slot::Ready(result)) = ahead.slots.insert(key.into(), Slot::Done)
                    else {
                        return None;
                    };
                    if let Ok(Some(b)) = &result {
                        ahead.bytes = ahead.bytes.saturating_sub(b.len());
                    }
                    return Some(result.map_err(StorageError::IOError));
                }
            }
        }
    }

    /// One coalescing `get_ranges` of `key`: `Some(None)` if there is no
    /// such object, `None` if the server does not answer ranges (then
    /// noted, and the caller reads them from the whole object).
    fn get_ranges(
        &self,
        key: &StoreKey,
        bounded: Vec<Range<u64>>,
    ) -> std::result::Result<Option<MaybeBytesVec>, StorageError> {
        let path = ObjectPath::from(key.as_str());
        let store = self.store.clone();
        let counters = self.counters.clone();
        let url = self.key_url(key.as_str());
        let result = self.runtime.block_on(async move {
            let parts = store.get_ranges(&path, &bounded).await?;
            counters.gets.fetch_add(1, Ordering::Relaxed);
            let n: usize = parts.iter().map(Bytes::len).sum();
            counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
            Ok::<_, object_store::Error>((parts, bounded))
        });
        match result {
            Ok((parts, bounded)) => {
                for (p, r) in parts.iter().zip(&bounded) {
                    if p.len() as u64 != r.end - r.start {
                        return Err(StorageError::IOError(Arc::new(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "{url}: bytes {}..{} asked, {} received",
                                r.start,
                                r.end,
                                p.len()
                            ),
                        ))));
                    }
                }
                Ok(Some(Some(parts)))
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.counters.missing.fetch_add(1, Ordering::Relaxed);
                Ok(Some(None))
            }
            Err(object_store::Error::NotSupported { .. }) => {
                self.counters.no_ranges.store(true, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => {
                let io = to_io(e);
                Err(StorageError::IOError(Arc::new(std::io::Error::new(
                    io.kind(),
                    format!("{url}: {io}"),
                ))))
            }
        }
    }

    fn block_on_fetch(
        &self,
        key: &StoreKey,
        range: Option<GetRange>,
    ) -> std::result::Result<MaybeBytes, StorageError> {
        self.runtime
            .block_on(fetch(
                self.store.clone(),
                self.counters.clone(),
                self.key_url(key.as_str()),
                key.as_str().to_string(),
                range,
            ))
            .map_err(|e| StorageError::IOError(Arc::new(e)))
    }
}

/// One `GET` of `key` (a range of it, or all), counted: `None` for an
/// object that does not exist. An answer shorter than its range is an
/// error, never short data.
async fn fetch(
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    url: String,
    key: String,
    range: Option<GetRange>,
) -> std::result::Result<MaybeBytes, std::io::Error> {
    Ok(fetch_versioned(store, counters, url, key, range)
        .await?
        .map(|(bytes, _)| bytes))
}

/// [`fetch`], with the object's version (entity tag, or else modification
/// time) where the answer gives one.
async fn fetch_versioned(
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    url: String,
    key: String,
    range: Option<GetRange>,
) -> std::result::Result<Option<(Bytes, Option<String>)>, std::io::Error> {
    let unversioned = |b: MaybeBytes| b.map(|b| (b, None));
    if let Some(range) = range
        .as_ref()
        .filter(|_| counters.no_ranges.load(Ordering::Relaxed))
    {
        return range_of_whole(store, counters, url, key, range)
            .await
            .map(unversioned);
    }
    let path = ObjectPath::from(key.as_str());
    let options = GetOptions {
        range: range.clone(),
        ..GetOptions::default()
    };
    let named = |e: object_store::Error| {
        let io = to_io(e);
        std::io::Error::new(io.kind(), format!("{url}: {io}"))
    };
    let answer = match store.get_opts(&path, options).await {
        Ok(answer) => answer,
        Err(object_store::Error::NotFound { .. }) => {
            counters.missing.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        Err(object_store::Error::NotSupported { .. }) if range.is_some() => {
            // the server sent the whole object for a range (counted: it
            // was an answer); read ranges from whole objects from now on
            counters.gets.fetch_add(1, Ordering::Relaxed);
            counters.no_ranges.store(true, Ordering::Relaxed);
            let range = range.unwrap_or(GetRange::Offset(0));
            return range_of_whole(store, counters, url, key, &range)
                .await
                .map(unversioned);
        }
        Err(e) => return Err(named(e)),
    };
    counters.gets.fetch_add(1, Ordering::Relaxed);
    let expected = answer.range.end - answer.range.start;
    let version = version_of_meta(&answer.meta);
    let bytes = answer.bytes().await.map_err(named)?;
    counters
        .bytes
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    if bytes.len() as u64 != expected {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "{url}: the answer holds {} bytes, {expected} were announced (truncated)",
                bytes.len()
            ),
        ));
    }
    if let Some(GetRange::Bounded(r)) = &range {
        if bytes.len() as u64 != r.end - r.start {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{url}: bytes {}..{} asked, {} received (the object is shorter)",
                    r.start,
                    r.end,
                    bytes.len()
                ),
            ));
        }
    }
    Ok(Some((bytes, version)))
}

fn version_of_meta(meta: &object_store::ObjectMeta) -> Option<String> {
    meta.e_tag
        .clone()
        .or_else(|| Some(meta.last_modified.to_rfc3339()))
}

/// `range` of `key` cut from the whole object, fetched once and kept
/// among the last [`WHOLE_KEPT`] (a server without range requests).
async fn range_of_whole(
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    url: String,
    key: String,
    range: &GetRange,
) -> std::result::Result<MaybeBytes, std::io::Error> {
    let kept = counters
        .whole
        .lock()
        .ok()
        .and_then(|w| w.iter().find(|(k, _)| *k == key).map(|(_, b)| b.clone()));
    let whole = match kept {
        Some(b) => b,
        None => {
            let Some(b) = Box::pin(fetch(
                store,
                counters.clone(),
                url.clone(),
                key.clone(),
                None,
            ))
            .await?
            else {
                return Ok(None);
            };
            if let Ok(mut w) = counters.whole.lock() {
                if w.len() >= WHOLE_KEPT {
                    w.remove(0);
                }
                w.push((key, b.clone()));
            }
            b
        }
    };
    let len = whole.len() as u64;
    let (start, end) = match range {
        GetRange::Bounded(r) => (r.start, r.end),
        GetRange::Offset(o) => (*o, len),
        GetRange::Suffix(n) => (len.saturating_sub(*n), len),
    };
    if start > end || end > len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{url}: bytes {start}..{end} asked of an object of {len} bytes"),
        ));
    }
    Ok(Some(whole.slice(start as usize..end as usize)))
}

/// An `object_store` error as an I/O error of the matching kind, keeping
/// it as the cause.
fn to_io(e: object_store::Error) -> std::io::Error {
    use std::io::ErrorKind;
    let kind = match &e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    };
    std::io::Error::new(kind, e)
}

fn byte_range(range: ByteRange) -> Option<GetRange> {
    match range {
        ByteRange::FromStart(0, None) => None,
        ByteRange::FromStart(start, None) => Some(GetRange::Offset(start)),
        ByteRange::FromStart(start, Some(len)) => {
            Some(GetRange::Bounded(start..start.saturating_add(len)))
        }
        ByteRange::Suffix(len) => Some(GetRange::Suffix(len)),
    }
}

impl ReadableStorageTraits for RemoteStore {
    fn get(&self, key: &StoreKey) -> std::result::Result<MaybeBytes, StorageError> {
        if let Some(result) = self.take_prefetched(key.as_str()) {
            return result;
        }
        self.block_on_fetch(key, None)
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        range: ByteRange,
    ) -> std::result::Result<MaybeBytes, StorageError> {
        self.block_on_fetch(key, byte_range(range))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<ByteRange> = ranges.collect();
        let bounded: Option<Vec<Range<u64>>> = ranges
            .iter()
            .map(|r| match r {
                ByteRange::FromStart(start, Some(len)) => Some(*start..start.saturating_add(*len)),
                _ => None,
            })
            .collect();
        // several bounded ranges: one coalescing `get_ranges` (unless the
        // server has shown it sends whole objects)
        let coalesced = match bounded {
            Some(bounded)
                if bounded.len() > 1 && !self.counters.no_ranges.load(Ordering::Relaxed) =>
            {
                self.get_ranges(key, bounded)?
            }
            _ => None,
        };
        let parts = match coalesced {
            Some(Some(parts)) => parts,
            Some(None) => return Ok(None),
            None => {
                let mut parts = Vec::with_capacity(ranges.len());
                for r in ranges {
                    match self.get_partial(key, r)? {
                        Some(b) => parts.push(b),
                        None => return Ok(None),
                    }
                }
                parts
            }
        };
        Ok(Some(Box::new(parts.into_iter().map(Ok))))
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        match self.head(key.as_str()) {
            Ok(r) => Ok(Some(r.meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::IOError(Arc::new(to_io(e)))),
        }
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

/// Writes: one `PUT` per chunk (and per metadata document), `DELETE` for
/// erased keys. An object store has no partial writes: a partial chunk is
/// read, merged and put whole by `zarrs` (the stitcher writes whole
/// chunks).
impl zarrs::storage::WritableStorageTraits for RemoteStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> std::result::Result<(), StorageError> {
        let path = ObjectPath::from(key.as_str());
        let store = self.store.clone();
        let counters = self.counters.clone();
        let url = self.key_url(key.as_str());
        let n = value.len() as u64;
        self.runtime
            .block_on(async move {
                store.put(&path, value.into()).await?;
                counters.puts.fetch_add(1, Ordering::Relaxed);
                counters.bytes_sent.fetch_add(n, Ordering::Relaxed);
                Ok::<_, object_store::Error>(())
            })
            .map_err(|e| {
                let io = to_io(e);
                StorageError::IOError(Arc::new(std::io::Error::new(
                    io.kind(),
                    format!("{url}: {io}"),
                )))
            })
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: zarrs::storage::OffsetBytesIterator,
    ) -> std::result::Result<(), StorageError> {
        Err(StorageError::Other(format!(
            "{}: an object store has no partial writes",
            self.key_url(key.as_str())
        )))
    }

    fn erase(&self, key: &StoreKey) -> std::result::Result<(), StorageError> {
        let path = ObjectPath::from(key.as_str());
        let store = self.store.clone();
        match self
            .runtime
            .block_on(async move { store.delete(&path).await })
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::IOError(Arc::new(to_io(e)))),
        }
    }

    fn erase_prefix(
        &self,
        prefix: &zarrs::storage::StorePrefix,
    ) -> std::result::Result<(), StorageError> {
        use futures_util::TryStreamExt;
        let path = ObjectPath::from(prefix.as_str().trim_end_matches('/'));
        let store = self.store.clone();
        self.runtime
            .block_on(async move {
                let listed: Vec<object_store::ObjectMeta> =
                    store.list(Some(&path)).try_collect().await?;
                for meta in listed {
                    match store.delete(&meta.location).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })
            .map_err(|e| StorageError::IOError(Arc::new(to_io(e))))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}
