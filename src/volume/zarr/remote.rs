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
//! a walk will need next while the decoder works ([`RemoteStore::prefetch`];
//! for a sharded array the shard's index, then the byte ranges of the inner
//! chunks the walk needs as soon as the index is in), within the memory
//! budget the walk gives it. A prefetched answer is filed under its object
//! and byte range; the read that asks for the same bytes takes it, and
//! during a walk nothing is fetched twice. The prefetch state belongs to
//! the store: two walks at once over one store share it, and the first to
//! end clears it for both (the other then fetches what it still needs on
//! demand). A walk notes each object it read (some 100 bytes each) until
//! it ends.
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
            prefetch: 32,
            prefetch_bytes: 256 << 20,
        }
    }
}

impl RemoteOptions {
    /// Defaults: 10 retries, a 30 s timeout per request, at most 32
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
    /// decoder, in-flight requests counted at their expected size (a
    /// bound on top of the walk's memory budget, which counts them beside
    /// its decoded chunks: the smaller of the two applies).
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

/// Which bytes of an object a fetch asks for: what a prefetched answer
/// is filed under, so that a later read of the same bytes takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Span {
    Whole,
    From { start: u64, len: u64 },
    Suffix(u64),
}

impl Span {
    /// The span of a `zarrs` byte range, if a prefetch can ask for it.
    fn of(range: ByteRange) -> Option<Span> {
        match range {
            ByteRange::FromStart(0, None) => Some(Span::Whole),
            ByteRange::FromStart(start, Some(len)) => Some(Span::From { start, len }),
            ByteRange::Suffix(len) => Some(Span::Suffix(len)),
            ByteRange::FromStart(_, None) => None,
        }
    }

    fn get_range(self) -> Option<GetRange> {
        match self {
            Span::Whole => None,
            Span::From { start, len } => Some(GetRange::Bounded(start..start.saturating_add(len))),
            Span::Suffix(len) => Some(GetRange::Suffix(len)),
        }
    }
}

/// The index of every shard of a sharded array (`sharding_indexed` with
/// `bytes` and optionally `crc32c` as its index codecs): where it lies in
/// a shard, and how many inner chunks it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardIndex {
    /// Inner chunks per shard: the index's `(offset, length)` pairs, in
    /// C order of the inner chunks' grid within the shard.
    pub(crate) entries: usize,
    /// The encoded index's length in bytes (the pairs, and a checksum).
    pub(crate) len: u64,
    /// Whether the index ends the shard (`index_location: "end"`).
    pub(crate) at_end: bool,
    /// Whether the pairs are big-endian.
    pub(crate) big_endian: bool,
}

impl ShardIndex {
    /// The index layout of an array whose codecs (its metadata's `codecs`,
    /// as JSON) are one `sharding_indexed` codec over shards of `shard`
    /// elements and inner chunks of `inner`; `None` for other codecs,
    /// and for index codecs other than `bytes` and `crc32c` (then inner
    /// chunks are fetched when read, not ahead).
    pub(crate) fn of_codecs(
        codecs: &serde_json::Value,
        shard: &[u64],
        inner: &[u64],
    ) -> Option<ShardIndex> {
        let [codec] = codecs.as_array()?.as_slice() else {
            return None;
        };
        if codec.get("name")?.as_str()? != "sharding_indexed" {
            return None;
        }
        let config = codec.get("configuration")?;
        let at_end = match config.get("index_location").and_then(|l| l.as_str()) {
            None | Some("end") => true,
            Some("start") => false,
            Some(_) => return None,
        };
        let index_codecs = config.get("index_codecs")?.as_array()?;
        let (bytes, checksum) = match index_codecs.as_slice() {
            [bytes] => (bytes, false),
            [bytes, crc] if crc.get("name")?.as_str()? == "crc32c" => (bytes, true),
            _ => return None,
        };
        if bytes.get("name")?.as_str()? != "bytes" {
            return None;
        }
        let big_endian = match bytes
            .pointer("/configuration/endian")
            .and_then(|e| e.as_str())
        {
            None | Some("little") => false,
            Some("big") => true,
            Some(_) => return None,
        };
        if shard.len() != inner.len() {
            return None;
        }
        let mut entries = 1usize;
        for (&s, &i) in shard.iter().zip(inner) {
            if i == 0 || s % i != 0 {
                return None;
            }
            entries = entries.checked_mul(usize::try_from(s / i).ok()?)?;
        }
        let len = u64::try_from(entries.checked_mul(16)?).ok()? + if checksum { 4 } else { 0 };
        Some(ShardIndex {
            entries,
            len,
            at_end,
            big_endian,
        })
    }

    fn span(&self) -> Span {
        if self.at_end {
            Span::Suffix(self.len)
        } else {
            Span::From {
                start: 0,
                len: self.len,
            }
        }
    }

    /// The `(offset, length)` pairs of an encoded index; `None` if it is
    /// too short (then `zarrs` reports it when it decodes the index).
    fn parse(&self, bytes: &[u8]) -> Option<Vec<(u64, u64)>> {
        let pairs = bytes.get(..self.entries.checked_mul(16)?)?;
        let word = |b: &[u8]| {
            let b: [u8; 8] = b.try_into().unwrap_or_default();
            if self.big_endian {
                u64::from_be_bytes(b)
            } else {
                u64::from_le_bytes(b)
            }
        };
        Some(
            pairs
                .chunks_exact(16)
                .map(|p| (word(&p[..8]), word(&p[8..])))
                .collect(),
        )
    }

    /// The bytes of inner chunk `i` by `pairs`: `None` for an empty
    /// inner chunk (both words `u64::MAX`) or a pair that overflows.
    fn inner(pairs: &[(u64, u64)], i: usize) -> Option<Span> {
        let &(start, len) = pairs.get(i)?;
        if start == u64::MAX && len == u64::MAX {
            return None;
        }
        start.checked_add(len)?;
        Some(Span::From { start, len })
    }
}

/// A shard's decoded index: `(offset, length)` of each inner chunk.
type ShardPairs = Arc<Vec<(u64, u64)>>;

/// A fetch started ahead of the decoder, or done without one.
enum Slot {
    /// In flight (holding back its expected size from the budget).
    Pending,
    Ready(std::result::Result<MaybeBytes, Arc<std::io::Error>>),
    /// Fetched on demand during this walk (its decoded chunk is in the
    /// walk's cache): not fetched ahead again.
    Done,
}

/// What a walk has fetched ahead: answers waiting for their reads, and
/// what is known of the shards it reads.
#[derive(Default)]
struct Ahead {
    slots: HashMap<(String, Span), Slot>,
    /// Bytes held by ready slots, and held back for fetches in flight
    /// (also those of a walk that has ended, until they end).
    bytes: usize,
    /// Fetches in flight (also those of a walk that has ended).
    pending: usize,
    /// The shard index layout of the arrays opened on this store, by the
    /// prefix of their keys (kept across walks).
    layouts: Vec<(String, Arc<ShardIndex>)>,
    /// The decoded indexes of the shards seen so far, kept across walks
    /// as `zarrs` keeps its own (it never asks for an index again).
    /// `None` for a shard that does not exist (its inner chunks are the
    /// fill value).
    indexes: HashMap<String, Option<ShardPairs>>,
    /// Inner chunks asked for of shards whose index is in flight.
    waiting: HashMap<String, Vec<usize>>,
    /// Fetches asked for and not yet started (the bounds were reached),
    /// in the order the walk needs them.
    queue: std::collections::VecDeque<Wanted>,
    /// Walks ended so far: a fetch started in an earlier walk finds its
    /// slot forgotten.
    walk: u64,
    /// Whether a walk is under way (it has asked for a prefetch and not
    /// ended): reads on demand are noted only then.
    walking: bool,
}

/// Once a shard's index has arrived: decode it and fetch these inner
/// chunks of the shard.
struct Then {
    layout: Arc<ShardIndex>,
    inner: Vec<usize>,
}

/// A fetch a walk has asked for: `span` of `key`, holding back `reserve`
/// bytes of `limit` until its answer's size is known; with `then`, the
/// answer is a shard's index, and the inner chunks it names come next.
struct Wanted {
    key: String,
    span: Span,
    reserve: usize,
    limit: usize,
    then: Option<Then>,
}

/// What a task fetching ahead needs of its store.
#[derive(Clone)]
struct Fetcher {
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    ahead: Arc<(Mutex<Ahead>, Condvar)>,
    runtime: tokio::runtime::Handle,
    url: Arc<str>,
    max_pending: usize,
}

impl Fetcher {
    /// Queues `wanted` behind the fetches asked for before it, and starts
    /// what the bounds allow.
    fn want(&self, ahead: &mut Ahead, wanted: Wanted) {
        ahead.queue.push_back(wanted);
        self.pump(ahead);
    }

    /// Starts queued fetches, in order, while fewer than
    /// [`RemoteOptions::prefetch`] are in flight and the next one fits in
    /// its budget; called whenever a fetch ends or a read takes one.
    fn pump(&self, ahead: &mut Ahead) {
        while let Some(wanted) = ahead.queue.pop_front() {
            if let Err(wanted) = self.try_start(ahead, wanted) {
                ahead.queue.push_front(wanted);
                break;
            }
        }
    }

    /// Starts `wanted` unless it is fetched or in flight already (or can
    /// never fit in its budget); gives it back if the bounds do not allow
    /// it now.
    fn try_start(&self, ahead: &mut Ahead, wanted: Wanted) -> std::result::Result<(), Wanted> {
        if let Some(slot) = ahead.slots.get(&(wanted.key.clone(), wanted.span)) {
            // a shard index asked for again (by a later batch): its inner
            // chunks come once it is in
            if let Some(then) = wanted.then {
                let pending = matches!(slot, Slot::Pending);
                match ahead.indexes.get(&wanted.key).cloned() {
                    Some(Some(index)) => {
                        let inner = Fetcher::inner(&wanted.key, &index, &then.inner, wanted.limit);
                        for w in inner.into_iter().rev() {
                            ahead.queue.push_front(w);
                        }
                    }
                    Some(None) => {}
                    None if pending => ahead
                        .waiting
                        .entry(wanted.key)
                        .or_default()
                        .extend(then.inner),
                    None => {}
                }
            }
            return Ok(());
        }
        if wanted.reserve > wanted.limit {
            return Ok(());
        }
        if ahead.pending >= self.max_pending
            || ahead.bytes.saturating_add(wanted.reserve) > wanted.limit
        {
            return Err(wanted);
        }
        let Wanted {
            key,
            span,
            reserve,
            limit,
            then,
        } = wanted;
        ahead.slots.insert((key.clone(), span), Slot::Pending);
        ahead.pending += 1;
        ahead.bytes += reserve;
        let walk = ahead.walk;
        let fetcher = self.clone();
        let url = format!("{}/{}", fetcher.url, key.trim_start_matches('/'));
        // the fetch in a task of its own: if it panicked, its slot would
        // wait forever; its end (a panic too) is filed by this one
        let fetching = self.runtime.spawn(fetch(
            fetcher.store.clone(),
            fetcher.counters.clone(),
            url.clone(),
            key.clone(),
            span.get_range(),
        ));
        self.runtime.spawn(async move {
            let result = match fetching.await {
                Ok(result) => result,
                Err(e) => Err(std::io::Error::other(format!(
                    "{url}: the fetch ahead of the decoder ended without an answer ({e})"
                ))),
            };
            fetcher.counters.prefetched.fetch_add(1, Ordering::Relaxed);
            let (lock, ready) = &*fetcher.ahead;
            if let Ok(mut ahead) = lock.lock() {
                ahead.pending = ahead.pending.saturating_sub(1);
                ahead.bytes = ahead.bytes.saturating_sub(reserve);
                // a walk that has ended forgot what it fetched ahead: this
                // answer is dropped, not kept for a later walk
                if ahead.walk == walk {
                    if let Ok(Some(b)) = &result {
                        ahead.bytes += b.len();
                    }
                    // the decoded index, or that there is no such shard
                    let index = match (&then, &result) {
                        (Some(then), Ok(Some(b))) => {
                            then.layout.parse(b).map(|i| Some(Arc::new(i)))
                        }
                        (Some(_), Ok(None)) => Some(None),
                        _ => None,
                    };
                    ahead
                        .slots
                        .insert((key.clone(), span), Slot::Ready(result.map_err(Arc::new)));
                    let waiting = ahead.waiting.remove(&key).unwrap_or_default();
                    if let (Some(mut then), Some(index)) = (then, index) {
                        ahead.indexes.insert(key.clone(), index.clone());
                        let Some(index) = index else {
                            // no shard: every inner chunk is the fill value
                            fetcher.pump(&mut ahead);
                            drop(ahead);
                            ready.notify_all();
                            return;
                        };
                        // the shard's inner chunks are needed before what
                        // was asked for after them
                        then.inner.extend(waiting);
                        let inner = Fetcher::inner(&key, &index, &then.inner, limit);
                        for wanted in inner.into_iter().rev() {
                            ahead.queue.push_front(wanted);
                        }
                    }
                }
                fetcher.pump(&mut ahead);
            }
            ready.notify_all();
        });
        Ok(())
    }

    /// The fetches of the inner chunks `inner` of the shard `key`, whose
    /// index is `index`, in this order (empty inner chunks left out).
    fn inner(key: &str, index: &[(u64, u64)], inner: &[usize], limit: usize) -> Vec<Wanted> {
        inner
            .iter()
            .filter_map(|&i| match ShardIndex::inner(index, i)? {
                span @ Span::From { len, .. } => Some(Wanted {
                    key: key.to_string(),
                    span,
                    reserve: usize::try_from(len).unwrap_or(usize::MAX),
                    limit,
                    then: None,
                }),
                _ => None,
            })
            .collect()
    }
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

    fn fetcher(&self) -> Fetcher {
        Fetcher {
            store: self.store.clone(),
            counters: self.counters.clone(),
            ahead: self.ahead.clone(),
            runtime: self.runtime.handle().clone(),
            url: self.url.as_str().into(),
            max_pending: self.options.prefetch,
        }
    }

    /// The bytes a prefetch may hold: `budget`, within
    /// [`RemoteOptions::prefetch_bytes`].
    fn limit(&self, budget: usize) -> usize {
        budget.min(self.options.prefetch_bytes)
    }

    /// Fetches `keys` (whole objects, in this order) on the I/O threads,
    /// behind those asked for before, at most [`RemoteOptions::prefetch`]
    /// requests at a time (the next starts as one ends);
    /// each holds back `each` bytes (what its chunk decodes to, say) until
    /// its answer's size is known, and what is fetched ahead and not yet
    /// read stays within `budget` bytes (and
    /// [`RemoteOptions::prefetch_bytes`]). A later [`get`] of one of them
    /// waits for its fetch instead of sending another request. Keys
    /// already fetched or in flight are skipped.
    ///
    /// [`get`]: ReadableStorageTraits::get
    pub fn prefetch(&self, keys: impl IntoIterator<Item = String>, each: usize, budget: usize) {
        self.ahead_of_walk(budget, |fetcher, ahead, limit| {
            for key in keys {
                let wanted = Wanted {
                    key,
                    span: Span::Whole,
                    reserve: each,
                    limit,
                    then: None,
                };
                fetcher.want(ahead, wanted);
            }
        });
    }

    /// Runs `f` with the fetcher, the walk's prefetch state (locked, the
    /// walk marked under way) and the byte limit of `budget`; nothing when
    /// prefetch is off.
    fn ahead_of_walk(&self, budget: usize, f: impl FnOnce(&Fetcher, &mut Ahead, usize)) {
        if self.options.prefetch == 0 {
            return;
        }
        let fetcher = self.fetcher();
        let limit = self.limit(budget);
        let (lock, _) = &*self.ahead;
        let Ok(mut ahead) = lock.lock() else {
            return;
        };
        ahead.walking = true;
        f(&fetcher, &mut ahead, limit);
    }

    /// Starts fetching the inner chunks `inner` (positions in C order of
    /// the inner chunks' grid) of each shard named, shard after shard, as
    /// [`prefetch`](Self::prefetch) does: a shard whose index is not yet
    /// known has its index fetched first (one ranged `GET`), and its inner
    /// chunks as soon as the index arrives (one ranged `GET` each; empty
    /// inner chunks are not asked for).
    pub(crate) fn prefetch_shards(
        &self,
        shards: Vec<(String, Vec<usize>)>,
        layout: &Arc<ShardIndex>,
        budget: usize,
    ) {
        // a server without range requests sends whole shards: reads then
        // share the last few (range_of_whole), prefetching would not
        if self.counters.no_ranges.load(Ordering::Relaxed) {
            return;
        }
        self.ahead_of_walk(budget, |fetcher, ahead, limit| {
            for (key, inner) in shards {
                match ahead.indexes.get(&key).cloned() {
                    Some(Some(index)) => {
                        for wanted in Fetcher::inner(&key, &index, &inner, limit) {
                            fetcher.want(ahead, wanted);
                        }
                    }
                    // no such shard: nothing to fetch
                    Some(None) => {}
                    None => {
                        let wanted = Wanted {
                            key,
                            span: layout.span(),
                            reserve: usize::try_from(layout.len).unwrap_or(usize::MAX),
                            limit,
                            then: Some(Then {
                                layout: layout.clone(),
                                inner,
                            }),
                        };
                        fetcher.want(ahead, wanted);
                    }
                }
            }
        });
    }

    /// Forgets every chunk fetched ahead and not taken, which chunks were
    /// fetched, and the shard indexes seen (the end of a walk); fetches
    /// still in flight are dropped when they end.
    pub fn forget_prefetched(&self) {
        let (lock, _) = &*self.ahead;
        if let Ok(mut ahead) = lock.lock() {
            let ready: usize = ahead
                .slots
                .values()
                .map(|s| match s {
                    Slot::Ready(Ok(Some(b))) => b.len(),
                    _ => 0,
                })
                .sum();
            let old = std::mem::take(&mut *ahead);
            *ahead = Ahead {
                walk: old.walk.wrapping_add(1),
                // fetches still in flight give their share back as they end
                pending: old.pending,
                bytes: old.bytes.saturating_sub(ready),
                layouts: old.layouts,
                indexes: old.indexes,
                ..Ahead::default()
            };
        }
    }

    /// The arrays whose keys start with `prefix` are sharded with shard
    /// indexes laid out as `layout`: an index read on demand (by `zarrs`,
    /// in a walk or not) is decoded on the way, so that a walk's prefetch
    /// knows it and fetches the inner chunks it names without asking for
    /// the index again.
    pub(crate) fn register_shards(&self, prefix: &str, layout: Arc<ShardIndex>) {
        let (lock, _) = &*self.ahead;
        if let Ok(mut ahead) = lock.lock() {
            ahead.layouts.retain(|(p, _)| p != prefix);
            ahead.layouts.push((prefix.to_string(), layout));
            // the longest prefix first
            ahead
                .layouts
                .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        }
    }

    /// The result of a prefetch of `span` of `key`, waiting for it if it
    /// is in flight; `None` if it was not prefetched (then noted as
    /// fetched on demand, so a later prefetch skips it).
    fn take_prefetched(
        &self,
        key: &str,
        span: Span,
    ) -> Option<std::result::Result<MaybeBytes, StorageError>> {
        if self.options.prefetch == 0 {
            return None;
        }
        let (lock, ready) = &*self.ahead;
        let mut ahead = lock.lock().ok()?;
        let slot_key = (key.to_string(), span);
        loop {
            let Some(slot) = ahead.slots.get(&slot_key) else {
                // fetched on demand by the caller during a walk: noted
                // under the same lock, so no prefetch starts a second
                // fetch of it
                if ahead.walking {
                    ahead.slots.insert(slot_key, Slot::Done);
                }
                return None;
            };
            match slot {
                Slot::Done => return None,
                Slot::Pending => ahead = ready.wait(ahead).ok()?,
                Slot::Ready(_) => {
                    let Some(Slot::Ready(result)) = ahead.slots.insert(slot_key, Slot::Done) else {
                        return None;
                    };
                    if let Ok(Some(b)) = &result {
                        ahead.bytes = ahead.bytes.saturating_sub(b.len());
                    }
                    // what the read took frees budget for what is queued
                    if !ahead.queue.is_empty() {
                        self.fetcher().pump(&mut ahead);
                    }
                    return Some(result.map_err(StorageError::IOError));
                }
            }
        }
    }

    /// A range read on demand: a shard's index (of a shard a prefetch
    /// named) is decoded on the way, so that its inner chunks can be
    /// fetched ahead.
    fn note_on_demand(&self, key: &str, span: Span, bytes: &MaybeBytes) {
        let (lock, _) = &*self.ahead;
        let Ok(mut ahead) = lock.lock() else {
            return;
        };
        let Some(layout) = ahead
            .layouts
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(_, l)| l.clone())
        else {
            return;
        };
        if layout.span() == span && !ahead.indexes.contains_key(key) {
            let index = match bytes {
                Some(b) => layout.parse(b).map(|i| Some(Arc::new(i))),
                // no such shard
                None => Some(None),
            };
            if let Some(index) = index {
                ahead.indexes.insert(key.to_string(), index);
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
        if let Some(result) = self.take_prefetched(key.as_str(), Span::Whole) {
            return result;
        }
        self.block_on_fetch(key, None)
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        range: ByteRange,
    ) -> std::result::Result<MaybeBytes, StorageError> {
        let Some(span) = Span::of(range) else {
            return self.block_on_fetch(key, byte_range(range));
        };
        if let Some(result) = self.take_prefetched(key.as_str(), span) {
            return result;
        }
        let bytes = self.block_on_fetch(key, span.get_range())?;
        if self.options.prefetch > 0 {
            self.note_on_demand(key.as_str(), span, &bytes);
        }
        Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sharding(index_codecs: serde_json::Value, location: Option<&str>) -> serde_json::Value {
        let mut config = json!({
            "chunk_shape": [2, 3],
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "index_codecs": index_codecs,
        });
        if let Some(l) = location {
            config["index_location"] = json!(l);
        }
        json!([{"name": "sharding_indexed", "configuration": config}])
    }

    #[test]
    fn the_index_layout_follows_the_sharding_codec() {
        let le_crc =
            json!([{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]);
        // shards of 4 x 6 over inner chunks of 2 x 3: 4 entries of 16 bytes
        let index = ShardIndex::of_codecs(&sharding(le_crc.clone(), None), &[4, 6], &[2, 3])
            .expect("a layout");
        assert_eq!(
            index,
            ShardIndex {
                entries: 4,
                len: 4 * 16 + 4,
                at_end: true,
                big_endian: false
            }
        );
        assert_eq!(index.span(), Span::Suffix(68));
        let start = ShardIndex::of_codecs(
            &sharding(
                json!([{"name": "bytes", "configuration": {"endian": "big"}}]),
                Some("start"),
            ),
            &[4, 6],
            &[2, 3],
        )
        .expect("a layout");
        assert_eq!(
            (start.len, start.at_end, start.big_endian),
            (64, false, true)
        );
        assert_eq!(start.span(), Span::From { start: 0, len: 64 });
        // what the index cannot be read ahead of: another index codec, an
        // inner chunk that does not divide the shard, codecs after sharding
        let zstd = json!([{"name": "bytes"}, {"name": "zstd"}]);
        assert_eq!(
            ShardIndex::of_codecs(&sharding(zstd, None), &[4, 6], &[2, 3]),
            None
        );
        assert_eq!(
            ShardIndex::of_codecs(&sharding(le_crc.clone(), None), &[4, 6], &[3, 3]),
            None
        );
        let mut two = sharding(le_crc, None);
        two.as_array_mut().unwrap().push(json!({"name": "zstd"}));
        assert_eq!(ShardIndex::of_codecs(&two, &[4, 6], &[2, 3]), None);
    }

    #[test]
    fn an_index_reads_its_pairs_and_skips_empty_and_overflowing_ones() {
        let index = ShardIndex {
            entries: 3,
            len: 3 * 16 + 4,
            at_end: true,
            big_endian: false,
        };
        let mut bytes = Vec::new();
        for (o, n) in [(0u64, 10u64), (u64::MAX, u64::MAX), (u64::MAX - 1, 5)] {
            bytes.extend(o.to_le_bytes());
            bytes.extend(n.to_le_bytes());
        }
        bytes.extend([1, 2, 3, 4]); // the checksum, not read here
        let pairs = index.parse(&bytes).expect("pairs");
        assert_eq!(pairs, [(0, 10), (u64::MAX, u64::MAX), (u64::MAX - 1, 5)]);
        assert_eq!(
            ShardIndex::inner(&pairs, 0),
            Some(Span::From { start: 0, len: 10 })
        );
        assert_eq!(ShardIndex::inner(&pairs, 1), None);
        assert_eq!(ShardIndex::inner(&pairs, 2), None);
        assert_eq!(ShardIndex::inner(&pairs, 3), None);
        // too short: not read (zarrs then reports the index)
        assert_eq!(index.parse(&bytes[..40]), None);
        let big = ShardIndex {
            big_endian: true,
            ..index
        };
        let be: Vec<u8> = [7u64, 9].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(
            ShardIndex { entries: 1, ..big }.parse(&be),
            Some(vec![(7, 9)])
        );
    }

    #[test]
    fn spans_are_the_ranges_zarrs_asks_for() {
        assert_eq!(Span::of(ByteRange::FromStart(0, None)), Some(Span::Whole));
        assert_eq!(
            Span::of(ByteRange::FromStart(5, Some(3))),
            Some(Span::From { start: 5, len: 3 })
        );
        assert_eq!(Span::of(ByteRange::Suffix(68)), Some(Span::Suffix(68)));
        assert_eq!(Span::of(ByteRange::FromStart(5, None)), None);
        assert_eq!(
            Span::From { start: 5, len: 3 }.get_range(),
            Some(GetRange::Bounded(5..8))
        );
        assert_eq!(Span::Whole.get_range(), None);
    }
}
