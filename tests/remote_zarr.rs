//! Zarr arrays read over a network from real servers on loopback: every
//! committed zarr-python fixture (`tests/data/zarr`) served by Python's
//! `http.server` and by `s3s-fs` (an S3 server over a directory) reads
//! exactly as the local array does, cell for cell; what fails locally
//! fails remotely; missing objects, refused credentials and a server that
//! goes away give errors naming the URL.
//!
//! The HTTP tests start `python3 -m http.server` themselves (Python 3 is
//! on every machine this project supports). The S3 tests need the
//! `s3s-fs` binary (`cargo install s3s-fs --features binary`; `.ci/run`
//! installs it), found through `IMPART_S3S_FS` or on `PATH`: without it they
//! are listed as ignored, and fail saying so when run with
//! `--include-ignored`.
#![cfg(feature = "remote")]

mod common;

use common::{copy_dir, impart_json};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use impart::{Partition, RemoteOptions, Volume, ZarrOptions, ZarrVolume};
use ndarray::ArrayD;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zarr")
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released; the server binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it listened: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `python3 -m http.server` serving `dir` on loopback.
fn http_server(dir: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server starts (Python 3 is needed)");
    wait_for_port(port, "python3 -m http.server", &mut child);
    Server { child, port }
}

fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("IMPART_S3S_FS") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "needs the s3s-fs binary: cargo install s3s-fs --features binary \
                 (or IMPART_S3S_FS=/path/to/s3s-fs)"
            )
        })
}

const ACCESS: &str = "impart-test";
const SECRET: &str = "impart-test-secret";

/// `s3s-fs` serving `root` (each directory in it a bucket), with a key.
fn s3_server(root: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS, "--secret-key", SECRET])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    wait_for_port(port, "s3s-fs", &mut child);
    Server { child, port }
}

/// The environment of an S3 client of `server`, as a user sets it.
fn set_s3_env(server: &Server) {
    // the variables are read when a store is opened; the tests that set
    // them run one at a time (S3_LOCK)
    std::env::set_var(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", server.port),
    );
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ALLOW_HTTP", "true");
}

static S3_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// An S3 server over a fresh directory whose bucket `bucket` holds a copy
/// of `from` (or nothing), the environment set for it. Keep the returned
/// directory and server alive as long as they are used.
fn s3_bucket(from: Option<&Path>, bucket: &str) -> (tempfile::TempDir, Server) {
    let root = tempfile::tempdir().expect("tempdir");
    match from {
        Some(from) => copy_dir(from, &root.path().join(bucket)),
        None => std::fs::create_dir(root.path().join(bucket)).expect("bucket"),
    }
    let server = s3_server(root.path());
    set_s3_env(&server);
    (root, server)
}

/// The arrays among the fixtures (directories with Zarr metadata), and for
/// groups the arrays inside them.
fn arrays() -> Vec<String> {
    let mut out = Vec::new();
    let root = fixtures();
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if dir.join("zarr.json").is_file() || dir.join(".zarray").is_file() {
            out.push(name.clone());
        }
        if let Ok(inner) = std::fs::read_dir(&dir) {
            let mut inner: Vec<_> = inner.flatten().map(|e| e.path()).collect();
            inner.sort();
            for p in inner {
                if p.is_dir() && (p.join("zarr.json").is_file() || p.join(".zarray").is_file()) {
                    out.push(format!(
                        "{name}/{}",
                        p.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
    }
    out
}

/// Every cell of a stride-0.5 grid of half-size cells, as f64, and the
/// whole array.
fn read_cells<V: Volume>(volume: V) -> impart::Result<Vec<ArrayD<f64>>> {
    let cell: Vec<usize> = volume.shape().iter().map(|&n| n.div_ceil(2)).collect();
    let part = Partition::builder(volume).cell(&cell).stride(0.5).build()?;
    let mut out = vec![part.select("...")?.to_array_as::<f64>()?];
    for sel in part.cells("...")? {
        out.push(sel.to_array_as::<f64>()?);
    }
    Ok(out)
}

fn same_bits(a: &[ArrayD<f64>], b: &[ArrayD<f64>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.shape() == y.shape()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

/// Each fixture opened at `url(name)` reads as the local one; an array that
/// does not open or read locally does not remotely either. Returns how
/// many arrays were compared.
fn compare_all(url: impl Fn(&str) -> String, options: &ZarrOptions) -> usize {
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in arrays() {
        let local = ZarrVolume::open(fixtures().join(&name)).and_then(read_cells);
        let remote = options.open(url(&name)).and_then(read_cells);
        match (local, remote) {
            (Ok(a), Ok(b)) => {
                compared += 1;
                if !same_bits(&a, &b) {
                    failures.push(format!(
                        "{name}: the remote read differs from the local one"
                    ));
                }
            }
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => failures.push(format!("{name}: local reads, remote fails: {e}")),
            (Err(e), Ok(_)) => failures.push(format!("{name}: local fails ({e}), remote reads")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    compared
}

#[test]
fn every_fixture_over_http_reads_as_the_local_array() {
    let server = http_server(&fixtures());
    let base = format!("http://127.0.0.1:{}", server.port);
    let n = compare_all(|name| format!("{base}/{name}"), &ZarrOptions::new());
    assert!(n >= 20, "only {n} arrays compared");
    // without prefetch, the same
    let options = ZarrOptions::new().remote(RemoteOptions::new().prefetch(0));
    assert_eq!(compare_all(|name| format!("{base}/{name}"), &options), n);
}

#[test]
fn a_walk_over_http_fetches_each_chunk_once() {
    let server = http_server(&fixtures());
    let url = format!("http://127.0.0.1:{}/v3_u16_zstd_3d", server.port);
    let local = ZarrVolume::open(fixtures().join("v3_u16_zstd_3d")).expect("local");
    let volume = ZarrVolume::open(&url).expect("remote");
    let opened = volume.remote().expect("a remote array").stats();
    // opening reads the metadata once (zarrs is handed what was read)
    assert_eq!(
        (opened.gets, opened.heads, opened.missing),
        (1, 0, 0),
        "{opened:?}"
    );
    let v2 = ZarrVolume::open(format!(
        "http://127.0.0.1:{}/v2_u16_le_zstd_c_dot",
        server.port
    ))
    .expect("remote v2");
    let v2 = v2.remote().expect("remote").stats();
    // no zarr.json, then the .zarray
    assert_eq!((v2.gets, v2.missing), (1, 1), "{v2:?}");
    let cell: Vec<usize> = volume.shape().iter().map(|&n| n.div_ceil(3)).collect();
    let part = Partition::builder(volume)
        .cell(&cell)
        .stride(0.5)
        .build()
        .expect("grid");
    let sums = part
        .par_map_cells::<u16, _, _>("...", |_, v| v.iter().map(|&x| x as u64).sum::<u64>())
        .expect("walk");
    let lpart = Partition::builder(local)
        .cell(&cell)
        .stride(0.5)
        .build()
        .expect("grid");
    let lsums = lpart
        .par_map_cells::<u16, _, _>("...", |_, v| v.iter().map(|&x| x as u64).sum::<u64>())
        .expect("walk");
    assert_eq!(sums, lsums);
    let stats = part.volume().remote().expect("remote").stats();
    let chunks = part.volume().decoded_chunks() as u64;
    assert!(chunks > 1);
    // every chunk fetched once: one GET per chunk file present, one
    // lookup per missing chunk
    let fetched = stats.gets - opened.gets + stats.missing - opened.missing;
    assert_eq!(fetched, chunks, "{stats:?} after {opened:?}");
}

#[test]
fn missing_arrays_and_servers_give_errors_naming_the_url() {
    let server = http_server(&fixtures());
    let url = format!("http://127.0.0.1:{}/no_such_array", server.port);
    let e = ZarrVolume::open(&url).expect_err("no array there");
    let text = e.to_string();
    assert!(text.contains("no_such_array"), "{text}");
    assert!(text.contains("no zarr.json or .zarray"), "{text}");
    assert!(
        matches!(e, impart::Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    // nobody listening: an I/O error after bounded retries
    let port = free_port();
    let options = ZarrOptions::new().remote(RemoteOptions::new().retries(1));
    let e = options
        .open(format!("http://127.0.0.1:{port}/v3_u16_zstd_3d"))
        .expect_err("no server");
    assert!(matches!(e, impart::Error::Io { .. }), "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}

/// A proxy in front of `upstream` that answers 503 to every `every`-th
/// request and cuts the connection on every `every`-th + 1 (the client
/// retries both), forwarding the others; counts what it did.
struct FaultyProxy {
    port: u16,
    requests: Arc<AtomicUsize>,
    faults: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn faulty_proxy(upstream: u16, every: usize) -> FaultyProxy {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let faults = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (r, f, s) = (requests.clone(), faults.clone(), stop.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if s.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let (r, f) = (r.clone(), f.clone());
            std::thread::spawn(move || proxy_connection(conn, upstream, every, &r, &f));
        }
    });
    FaultyProxy {
        port,
        requests,
        faults,
        stop,
    }
}

/// Serves the requests of one client connection, one at a time (HTTP/1.1
/// keep-alive), each over a fresh upstream connection.
fn proxy_connection(
    client: TcpStream,
    upstream: u16,
    every: usize,
    requests: &AtomicUsize,
    faults: &AtomicUsize,
) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut client = client;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let end = line == "\r\n";
            head.push(line);
            if end {
                break;
            }
        }
        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        if n % every == 0 {
            faults.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        if n % every == 1 && n > 1 {
            faults.fetch_add(1, Ordering::SeqCst);
            // a reset: the connection closes with the request unanswered
            let _ = client.shutdown(std::net::Shutdown::Both);
            return;
        }
        // forward, asking the upstream to close so its answer ends at EOF
        let mut up = TcpStream::connect(("127.0.0.1", upstream)).expect("upstream");
        for line in &head {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("connection:") {
                continue;
            }
            if line == "\r\n" {
                up.write_all(b"Connection: close\r\n\r\n").expect("forward");
            } else {
                up.write_all(line.as_bytes()).expect("forward");
            }
        }
        let mut answer = Vec::new();
        if up.read_to_end(&mut answer).is_err() {
            return;
        }
        // http.server answers HTTP/1.0 with Content-Length: pass it on,
        // keeping our side of the connection open for the next request
        if client.write_all(&answer).is_err() {
            return;
        }
        if !answer
            .windows(16)
            .any(|w| w.eq_ignore_ascii_case(b"content-length: "))
        {
            return;
        }
    }
}

#[test]
fn retries_through_503s_and_resets_give_the_same_values() {
    let server = http_server(&fixtures());
    let proxy = faulty_proxy(server.port, 5);
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let names = [
        "v3_u16_zstd_3d",
        "v2_u16_le_zstd_c_dot",
        "v3_u16_sharded_2d",
    ];
    let (mut retried, mut sent) = (0, 0);
    for name in names {
        let local = ZarrVolume::open(fixtures().join(name)).and_then(read_cells);
        let Ok(local) = local else {
            panic!("{name}: the fixture does not read locally");
        };
        let volume = ZarrVolume::open(format!("{base}/{name}"))
            .unwrap_or_else(|e| panic!("{name} through the faulty proxy: {e}"));
        let remote =
            read_cells(&volume).unwrap_or_else(|e| panic!("{name} through the faulty proxy: {e}"));
        assert!(same_bits(&local, &remote), "{name}: values differ");
        let stats = volume.remote().expect("a remote array").stats();
        retried += stats.retried;
        sent += stats.requests;
    }
    let faults = proxy.faults.load(Ordering::SeqCst);
    let requests = proxy.requests.load(Ordering::SeqCst);
    assert!(faults >= 4, "{faults} faults in {requests} requests");
    // every fault the proxy made was seen and retried, and every request
    // it answered was one the client sent (resets may cut a request before
    // the proxy counts it: at most as many as it reset)
    assert_eq!(
        retried as usize, faults,
        "{retried} retried, {faults} faults"
    );
    assert!(
        (sent as usize).abs_diff(requests) <= faults,
        "{sent} sent, {requests} answered"
    );
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn every_fixture_over_s3_reads_as_the_local_array() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_root, _server) = s3_bucket(Some(&fixtures()), "fixtures");
    let n = compare_all(|name| format!("s3://fixtures/{name}"), &ZarrOptions::new());
    assert!(n >= 20, "only {n} arrays compared");
    // a bucket prefix as the store, the array inside it
    let vol = ZarrOptions::new()
        .open_in("s3://fixtures", "v3_u16_zstd_3d")
        .expect("open_in");
    let local = ZarrVolume::open(fixtures().join("v3_u16_zstd_3d")).expect("local");
    assert!(same_bits(
        &read_cells(vol).expect("read"),
        &read_cells(local).expect("read")
    ));
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn s3_with_wrong_credentials_is_permission_denied_naming_the_url() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &fixtures().join("v3_u16_zstd_3d"),
        &root.path().join("bucket/a"),
    );
    let server = s3_server(root.path());
    set_s3_env(&server);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let e = ZarrVolume::open("s3://bucket/a").expect_err("wrong secret");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    let text = e.to_string();
    assert!(text.contains("s3://bucket/a"), "{text}");
    assert!(
        matches!(e, impart::Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied),
        "{e:?}"
    );
    // the right secret opens it
    ZarrVolume::open("s3://bucket/a").expect("right secret");
}

/// The OME-Zarr fixtures (`tests/data/ome_zarr`).
fn ome_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ome_zarr")
}

/// Every level of every OME-Zarr fixture at `url(name)` has the local
/// image's metadata and voxels; the number of levels compared.
fn compare_ome(url: impl Fn(&str) -> String) -> usize {
    let mut n = 0;
    for name in [
        "v04_czyx.ome.zarr",
        "v04_czyx.ome.zarr/labels/cells",
        "v05_tczyx.ome.zarr",
        "v05_tczyx.ome.zarr/labels/nuclei",
        "v05_handmade.ome.zarr",
    ] {
        for level in 0.. {
            let options = ZarrOptions::new().level(level);
            let Ok(local) = options.open(ome_fixtures().join(name)) else {
                break;
            };
            let remote = options
                .open(url(name))
                .unwrap_or_else(|e| panic!("{name} level {level}: {e}"));
            assert_eq!(remote.ome(), local.ome(), "{name} level {level}");
            assert_eq!(remote.axis_transform(), local.axis_transform());
            assert!(
                same_bits(
                    &read_cells(remote).expect("remote read"),
                    &read_cells(local).expect("local read")
                ),
                "{name} level {level}"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn ome_zarr_images_over_http_read_as_the_local_ones() {
    let server = http_server(&ome_fixtures());
    let base = format!("http://127.0.0.1:{}", server.port);
    assert_eq!(compare_ome(|name| format!("{base}/{name}")), 11);
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn ome_zarr_images_over_s3_read_as_the_local_ones() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_root, _server) = s3_bucket(Some(&ome_fixtures()), "images");
    assert_eq!(compare_ome(|name| format!("s3://images/{name}")), 11);
}

/// Every file under `a` and `b`, with its bytes, by relative path.
fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn a_stitch_into_s3_puts_the_bytes_of_a_local_stitch() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (root, _server) = s3_bucket(None, "out");
    let input = fixtures().join("v3_u16_zstd_3d");
    let input = input.to_str().expect("UTF-8");
    let local = root.path().join("local.zarr");
    let common = [
        "--cell",
        "8,8,8",
        "--stride",
        "0.5",
        "--synthetic",
        "3",
        "--json",
    ];
    let run = |out: &str| {
        let args: Vec<&str> = ["stitch", input]
            .iter()
            .chain(&common)
            .chain(&["--out", out])
            .copied()
            .collect();
        impart_json(&args)
    };
    let remote = run("s3://out/stitched.zarr");
    run(local.to_str().expect("UTF-8"));
    // s3s-fs keeps each object as a file: the same files, the same bytes
    let (put, made) = (tree(&root.path().join("out/stitched.zarr")), tree(&local));
    assert!(!made.is_empty());
    assert_eq!(
        put.keys().collect::<Vec<_>>(),
        made.keys().collect::<Vec<_>>()
    );
    assert!(put == made, "the objects differ from the local files");
    // one PUT per chunk, and one for the metadata, sent last
    assert_eq!(
        remote["puts"].as_u64(),
        remote["chunk_writes"].as_u64().map(|n| n + 1)
    );
    // and it reads back, remotely, as the local stitch
    let a = ZarrVolume::open("s3://out/stitched.zarr")
        .and_then(read_cells)
        .expect("remote read");
    let b = ZarrVolume::open(&local)
        .and_then(read_cells)
        .expect("local read");
    assert!(same_bits(&a, &b));
    // a resumed write into an object store is refused, saying why
    let out = Command::new(env!("CARGO_BIN_EXE_impart"))
        .args([
            "stitch",
            input,
            "--cell",
            "8,8,8",
            "--synthetic",
            "3",
            "--out",
            "s3://out/r.zarr",
            "--resume",
        ])
        .output()
        .expect("impart runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not done yet"));
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn a_fragmentation_into_s3_puts_the_files_of_a_local_one_and_resumes() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (root, _server) = s3_bucket(None, "cells");
    let input = fixtures().join("v3_u16_zstd_3d");
    let input = input.to_str().expect("UTF-8");
    let local = root.path().join("local");
    let run = |out: &str, format: &str, resume: bool| {
        let mut args = vec!["fragment", input, "--cell", "8,8,8", "--stride", "0.5"];
        args.extend(["--format", format, "--out", out]);
        if resume {
            args.push("--resume");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(&args)
            .output()
            .expect("impart runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    assert!(run("s3://cells/run", "zarr", false).0);
    assert!(run(local.to_str().expect("UTF-8"), "zarr", false).0);
    let (put, made) = (tree(&root.path().join("cells/run")), tree(&local));
    assert!(made.len() >= 10, "{} files", made.len());
    assert_eq!(
        put.keys().collect::<Vec<_>>(),
        made.keys().collect::<Vec<_>>()
    );
    assert!(put == made, "the objects differ from the local files");
    // a cell whose metadata is gone (a run killed between its chunk and its
    // metadata) is written again by a resumed run, and nothing else
    let victim = put
        .keys()
        .find(|k| k.ends_with("zarr.json"))
        .expect("a cell")
        .clone();
    std::fs::remove_file(root.path().join("cells/run").join(&victim)).expect("remove");
    std::fs::remove_file(root.path().join("cells/run/manifest.jsonl")).expect("remove");
    let (ok, report) = run("s3://cells/run", "zarr", true);
    assert!(ok && report.contains("(1 written,"), "{report}");
    assert!(tree(&root.path().join("cells/run")) == made);
    // only Zarr cells go into an object store
    let (ok, err) = run("s3://cells/npy", "npy", false);
    assert!(!ok && err.contains("Zarr cells only"), "{err}");
}

/// A walk over half-overlapping cells of a third of `volume` on each
/// axis: every cell's sum (as f64 bits) and what the store fetched.
fn walk_sums(volume: ZarrVolume) -> (Vec<u64>, Option<impart::RemoteStats>) {
    let cell: Vec<usize> = volume.shape().iter().map(|&n| n.div_ceil(3)).collect();
    let part = Partition::builder(volume)
        .cell(&cell)
        .stride(0.5)
        .build()
        .expect("grid");
    let sums = part
        .par_map_cells::<f64, _, _>("...", |_, v| v.iter().sum::<f64>().to_bits())
        .expect("walk");
    (sums, part.volume().remote().map(|r| r.stats()))
}

/// What a walk over every cell of `name` must fetch, from the local
/// files (read here, not by impart): each shard present once (its index)
/// and each inner chunk the index lists once. The index is `n` little-
/// endian `(offset, length)` pairs and a crc32c at the shard's end.
fn shard_objects(name: &str, inner_per_shard: usize) -> (u64, u64) {
    let mut shards = 0;
    let mut inner = 0;
    let mut stack = vec![fixtures().join(name).join("c")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("shards").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).expect("shard");
            let index = &bytes[bytes.len() - (16 * inner_per_shard + 4)..];
            shards += 1;
            inner += index[..16 * inner_per_shard]
                .chunks(16)
                .filter(|pair| pair.iter().any(|&b| b != 0xff))
                .count() as u64;
        }
    }
    (shards, inner)
}

#[test]
#[ignore = "needs s3s-fs: cargo install s3s-fs --features binary (CI installs it), then --include-ignored"]
fn a_walk_over_a_sharded_array_on_s3_fetches_each_index_and_inner_chunk_once() {
    let _guard = S3_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_root, _server) = s3_bucket(Some(&fixtures()), "fixtures");
    // (array, inner chunks per shard: shard shape / inner chunk shape)
    for (name, per_shard) in [
        ("v3_f32_sharded_3d", 4),           // shards 4 x 6 x 5 of 2 x 3 x 5
        ("v3_f32_sharded_missing_fill", 4), // shards 8 x 10 of 4 x 5
    ] {
        let (shards, inner) = shard_objects(name, per_shard);
        let local = ZarrVolume::open(fixtures().join(name)).expect("local");
        let cell: Vec<usize> = local.shape().iter().map(|&n| n.div_ceil(3)).collect();
        let sums = walk_sums;
        let (expected, _) = sums(local);
        for prefetch in [32, 0] {
            let options = ZarrOptions::new().remote(RemoteOptions::new().prefetch(prefetch));
            let volume = options
                .open(format!("s3://fixtures/{name}"))
                .expect("remote");
            let opened = volume.remote().expect("remote").stats();
            let (got, stats) = sums(volume);
            let stats = stats.expect("remote stats");
            assert_eq!(got, expected, "{name}, prefetch {prefetch}");
            // one ranged GET per shard index, one per inner chunk: never
            // the whole shard, never twice
            assert_eq!(
                stats.gets - opened.gets,
                shards + inner,
                "{name}, prefetch {prefetch}: {stats:?}"
            );
            // and one HEAD: the walk's end asks whether the metadata
            // changed underneath
            assert_eq!(stats.heads - opened.heads, 1, "{stats:?}");
            if prefetch > 0 {
                assert!(stats.prefetched > 0, "{name}: nothing fetched ahead");
            } else {
                assert_eq!(stats.prefetched, 0, "{name}");
            }
        }
        // a second walk over the same volume: zarrs keeps the shard
        // indexes, so only the inner chunks are fetched again, ahead
        let volume = ZarrVolume::open(format!("s3://fixtures/{name}")).expect("remote");
        let part = Partition::builder(volume)
            .cell(&cell)
            .stride(0.5)
            .build()
            .expect("grid");
        let walk = || {
            part.par_map_cells::<f32, _, _>("...", |_, v| {
                v.iter().map(|&x| f64::from(x)).sum::<f64>().to_bits()
            })
            .expect("walk")
        };
        assert_eq!(walk(), expected);
        let first = part.volume().remote().expect("remote").stats();
        assert_eq!(walk(), expected);
        let second = part.volume().remote().expect("remote").stats();
        assert_eq!(
            second.gets - first.gets,
            inner,
            "{name}: {second:?} after {first:?}"
        );
        assert_eq!(
            second.prefetched - first.prefetched,
            inner,
            "{name}: the second walk fetched every inner chunk ahead"
        );
    }
}

#[test]
fn what_a_walk_fetches_ahead_stays_within_its_memory_budget() {
    let server = http_server(&fixtures());
    let url = format!("http://127.0.0.1:{}/v3_u16_zstd_3d", server.port);
    let local = ZarrVolume::open(fixtures().join("v3_u16_zstd_3d")).expect("local");
    let walk = |volume| {
        let (sums, stats) = walk_sums(volume);
        (sums, stats.map(|r| r.prefetched))
    };
    let chunk_bytes = 2 * 4 * 3 * 5; // u16, the fixture's 4 x 3 x 5 chunks
    let (expected, _) = walk(local);
    // a budget of less than one decoded chunk leaves nothing to fetch
    // ahead with (each request holds back its chunk's decoded size)
    let tight = ZarrOptions::new().cache_bytes(chunk_bytes - 1);
    let (sums, prefetched) = walk(tight.open(&url).expect("remote"));
    assert_eq!(sums, expected);
    assert_eq!(prefetched, Some(0));
    let (sums, prefetched) = walk(ZarrOptions::new().open(&url).expect("remote"));
    assert_eq!(sums, expected);
    assert!(prefetched > Some(0), "{prefetched:?}");
}

#[test]
fn the_command_line_bounds_the_retries() {
    let server = http_server(&fixtures());
    // every request answered 503
    let proxy = faulty_proxy(server.port, 1);
    let url = format!("http://127.0.0.1:{}/v3_u16_zstd_3d", proxy.port);
    for (retries, requests) in [(0, 1), (2, 3)] {
        let before = proxy.requests.load(Ordering::SeqCst);
        let out = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args([
                "info",
                &url,
                "--retries",
                &retries.to_string(),
                "--timeout",
                "5",
            ])
            .output()
            .expect("impart runs");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&url), "{stderr}");
        // the metadata's first request, then the retries, no more
        assert_eq!(
            proxy.requests.load(Ordering::SeqCst) - before,
            requests,
            "--retries {retries}: {stderr}"
        );
    }
}
