#!/usr/bin/env python3
"""Remote Zarr benchmark: every cell of a 512^3 u16 array (64^3 zstd
chunks, Zarr v3) on a loopback S3 server (``s3s-fs``), read and summarised
(min, max, mean, sum per cell) by ``impart stats``, by TensorStore
(``zarr3`` over its ``s3`` kvstore) and by zarr-python 3 over ``obstore``,
at stride 1.0 and 0.5; then the same impart run with 20 ms added to every
request (a delaying proxy), prefetch on against off; and impart over the
same data written sharded (8 shards of 64 inner chunks), prefetch on and
off, with and without the delay.

Usage::

    python3 data-scripts/bench_remote.py IMPART_BIN S3S_FS_BIN [WORK_DIR] [--quick]

``data-scripts/bench-remote.sh`` builds impart, installs ``s3s-fs`` and
the pinned packages (``requirements-bench-remote.txt``) and runs this. The
array is written once by zarr-python (deterministic integer data) and put
into the server through the S3 API. Each tool is measured in the same run,
against the same server, one after the other; the numbers are wall times
of one pass (the first of each tool's pass after a warm-up open). GET
counts: impart's own (``stats --json``'s ``fetched``) and, for every tool,
the requests the proxy saw (the delayed runs, and a counted undelayed run
of each tool).

Prints a JSON line per measurement and a closing summary table.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SHAPE = (512, 512, 512)
CHUNK = (64, 64, 64)
CELL = 64
# impart's default --prefetch
PREFETCH = 32
ACCESS, SECRET = "impart-bench", "impart-bench-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def make_volume(root, shape, name="vol.zarr", shards=None):
    """Writes the array with zarr-python into ``root/name`` (a staging
    directory, uploaded by :func:`upload`)."""
    import zarr

    path = root / name
    if (path / "zarr.json").exists():
        return path
    z = zarr.create_array(
        store=str(path), shape=shape, chunks=CHUNK, shards=shards, dtype="uint16",
        compressors=[zarr.codecs.ZstdCodec(level=3)], fill_value=0,
    )
    # a smooth field plus a hash: compresses like a real scan (about 2x);
    # written a shard's (else a chunk's) depth at a time
    depth = (shards or CHUNK)[0]
    for z0 in range(0, shape[0], depth):
        z[z0 : z0 + depth] = volume_data(shape, z0, z0 + depth)
    return path


def upload(port, staging, name):
    """PUTs every file of ``staging/name`` into the bucket ``bench``, once.
    Through the S3 API, not by copying into the server's directory:
    s3s-fs keeps the entity tag of what it was sent, and computes the MD5
    of the whole object on every GET of a file it was not (7 MB per ranged
    GET of an inner chunk of a shard)."""
    import obstore

    store = obstore.store.S3Store(
        "bench", endpoint=f"http://127.0.0.1:{port}", region="us-east-1",
        access_key_id=ACCESS, secret_access_key=SECRET, client_options={"allow_http": True},
    )
    try:
        obstore.head(store, f"{name}/zarr.json")
        return
    except FileNotFoundError:
        pass
    base = staging / name
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.name != "zarr.json")
    for p in files + [base / "zarr.json"]:  # the metadata last
        obstore.put(store, f"{name}/{p.relative_to(base).as_posix()}", p.read_bytes())


def volume_data(shape, z0, z1):
    """The values make_volume writes in slabs z0..z1 (for the sharded copy,
    written a shard's depth at a time)."""
    i = np.arange(z0, z1, dtype=np.uint32)[:, None, None]
    j = np.arange(shape[1], dtype=np.uint32)[None, :, None]
    k = np.arange(shape[2], dtype=np.uint32)[None, None, :]
    smooth = (i * 3 + j * 5 + k * 7) % 2048
    noise = ((i * 73856093) ^ (j * 19349663) ^ (k * 83492791)) % 64
    return (smooth + noise).astype(np.uint16)


class Proxy:
    """A TCP proxy to the S3 server that delivers every byte of every
    answer ``delay`` seconds after the server sent it (a fixed latency, not
    a bandwidth limit) and counts the GET requests it forwards."""

    def __init__(self, upstream, delay):
        self.upstream, self.delay = upstream, delay
        self.port = free_port()
        self.gets = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        wait_port(self.port)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self.loop.run_until_complete(server.serve_forever())

    async def _client(self, reader, writer):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return

        async def upward():
            tail = b""
            while data := await reader.read(1 << 16):
                # request lines start after a blank line (or at the start)
                self.gets += (tail + data).count(b"\r\nGET /") + (tail == b"" and data.startswith(b"GET /"))
                tail = data[-8:] if data else tail
                up_w.write(data)
                await up_w.drain()
            up_w.close()

        # every byte of an answer arrives `delay` after the server sent it
        # (a link's latency): pieces are read as they come and written out
        # each at its own due time, so a long answer is not delayed once
        # per piece
        pieces = asyncio.Queue()

        async def downward():
            while data := await up_r.read(1 << 16):
                await pieces.put((self.loop.time() + self.delay, data))
            await pieces.put((self.loop.time() + self.delay, b""))

        async def deliver():
            while True:
                due, data = await pieces.get()
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(upward(), downward(), deliver(), return_exceptions=True)


def cells(shape, step):
    starts = [range(0, n - CELL + 1, step) for n in shape]
    return [(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]]


def summary(block):
    b = block.astype(np.float64)
    return (float(b.min()), float(b.max()), float(b.sum()))


def run_impart(impart, url, stride, prefetch, env):
    t0 = time.perf_counter()
    out = subprocess.run(
        [impart, "stats", url, "--cell", f"{CELL},{CELL},{CELL}", "--stride", str(stride),
         "--prefetch", str(prefetch), "--json"],
        check=True, capture_output=True, text=True, env=env,
    )
    secs = time.perf_counter() - t0
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    s = lines[-1]
    total = sum(l["sum"] for l in lines[:-1])
    return secs, s["cells"], total, s.get("fetched", {})


def run_tensorstore(port, stride):
    import tensorstore as ts

    spec = {
        "driver": "zarr3",
        "kvstore": {
            "driver": "s3", "bucket": "bench", "path": "vol.zarr/",
            "endpoint": f"http://127.0.0.1:{port}", "aws_region": "us-east-1",
            "aws_credentials": {"type": "environment"},
        },
        # a cache as large as impart's default budget: each chunk decoded once
        "context": {"cache_pool": {"total_bytes_limit": 1 << 30}},
        "recheck_cached_data": False,
    }
    t0 = time.perf_counter()
    arr = ts.open(spec, read=True).result()
    step = int(CELL * stride)
    total, n = 0.0, 0
    # one slab of cells at a time in flight (TensorStore fetches and decodes
    # in its own thread pool)
    by_slab = {}
    for c in cells(SHAPE, step):
        by_slab.setdefault(c[0], []).append(c)
    for slab in by_slab.values():
        futures = [arr[a : a + CELL, b : b + CELL, c : c + CELL].read() for a, b, c in slab]
        for f in futures:
            total += summary(f.result())[2]
            n += 1
    return time.perf_counter() - t0, n, total


def run_zarr_python(port, stride):
    import obstore
    import zarr
    from zarr.storage import ObjectStore

    store = obstore.store.S3Store(
        "bench", prefix="vol.zarr", endpoint=f"http://127.0.0.1:{port}", region="us-east-1",
        access_key_id=ACCESS, secret_access_key=SECRET, client_options={"allow_http": True},
    )
    t0 = time.perf_counter()
    z = zarr.open_array(ObjectStore(store, read_only=True), mode="r")
    step = int(CELL * stride)
    total, n = 0.0, 0
    for a, b, c in cells(SHAPE, step):
        total += summary(z[a : a + CELL, b : b + CELL, c : c + CELL])[2]
        n += 1
    return time.perf_counter() - t0, n, total


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    impart, s3s = str(Path(args[0]).resolve()), str(Path(args[1]).resolve())
    work = Path(args[2] if len(args) > 2 else "target/bench-remote").resolve()
    global SHAPE
    if quick:
        SHAPE = (256, 256, 256)
    root = work / f"s3-{SHAPE[0]}-put"
    staging = work / f"staging-{SHAPE[0]}"
    (root / "bench").mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    make_volume(staging, SHAPE)
    shard = tuple(n // 2 for n in SHAPE)
    make_volume(staging, SHAPE, "sharded.zarr", shards=shard)
    port = free_port()
    server = subprocess.Popen(
        [s3s, "--host", "127.0.0.1", "--port", str(port), "--access-key", ACCESS,
         "--secret-key", SECRET, str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_REGION="us-east-1", AWS_ALLOW_HTTP="true")
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")})
    results = []
    try:
        wait_port(port)
        for name in ("vol.zarr", "sharded.zarr"):
            upload(port, staging, name)
        direct = f"http://127.0.0.1:{port}"
        chunks = np.prod([n // c for n, c in zip(SHAPE, CHUNK)])

        def record(**r):
            results.append(r)
            print(json.dumps(r), flush=True)

        # warm the server's page cache: one untimed pass
        run_impart(impart, "s3://bench/vol.zarr", 1.0, PREFETCH, dict(env, AWS_ENDPOINT_URL=direct))
        sums = {}
        for stride in (1.0, 0.5):
            secs, n, total, fetched = run_impart(
                impart, "s3://bench/vol.zarr", stride, PREFETCH, dict(env, AWS_ENDPOINT_URL=direct))
            sums[stride] = total
            record(tool="impart", stride=stride, delay_ms=0, seconds=secs, cells=n, sum=total,
                   gets=fetched.get("gets"), chunks=int(chunks))
            secs, n, total_l, _ = run_impart(impart, str(staging / "vol.zarr"), stride, PREFETCH, env)
            assert total_l == total, (total_l, total)
            record(tool="impart (local copy)", stride=stride, delay_ms=0, seconds=secs, cells=n,
                   sum=total_l)
            secs, n, total2 = run_tensorstore(port, stride)
            assert total2 == total, (total2, total)
            record(tool="tensorstore", stride=stride, delay_ms=0, seconds=secs, cells=n, sum=total2)
            secs, n, total3 = run_zarr_python(port, stride)
            assert total3 == total, (total3, total)
            record(tool="zarr-python+obstore", stride=stride, delay_ms=0, seconds=secs, cells=n, sum=total3)
        # GETs per tool, counted by a proxy that adds nothing
        proxy = Proxy(port, 0.0)
        via = f"http://127.0.0.1:{proxy.port}"
        for stride in (1.0, 0.5):
            for tool, run in [
                ("impart", lambda: run_impart(impart, "s3://bench/vol.zarr", stride, PREFETCH,
                                              dict(env, AWS_ENDPOINT_URL=via))[:3]),
                ("tensorstore", lambda: run_tensorstore(proxy.port, stride)),
                ("zarr-python+obstore", lambda: run_zarr_python(proxy.port, stride)),
            ]:
                before = proxy.gets
                run()
                record(tool=tool, stride=stride, counted_gets=proxy.gets - before, chunks=int(chunks))
        # 20 ms on every answer: prefetch hides it
        slow = Proxy(port, 0.020)
        via = f"http://127.0.0.1:{slow.port}"
        for stride in (1.0, 0.5):
            for prefetch in (PREFETCH, 0):
                before = slow.gets
                secs, n, total, fetched = run_impart(
                    impart, "s3://bench/vol.zarr", stride, prefetch, dict(env, AWS_ENDPOINT_URL=via))
                record(tool="impart", stride=stride, delay_ms=20, prefetch=prefetch, seconds=secs,
                       cells=n, gets=fetched.get("gets"), counted_gets=slow.gets - before)
            secs, n, _ = run_tensorstore(slow.port, stride)
            record(tool="tensorstore", stride=stride, delay_ms=20, seconds=secs, cells=n)
        # the same data in 8 shards of 64 inner chunks: one ranged GET per
        # shard index and per inner chunk; prefetch fetches the index, then
        # the inner chunks' ranges
        shards = int(np.prod([n // s for n, s in zip(SHAPE, shard)]))
        for delay, proxy in ((0, Proxy(port, 0.0)), (20, slow)):
            via = f"http://127.0.0.1:{proxy.port}"
            for prefetch in (PREFETCH, 0):
                before = proxy.gets
                secs, n, total_s, fetched = run_impart(
                    impart, "s3://bench/sharded.zarr", 1.0, prefetch, dict(env, AWS_ENDPOINT_URL=via))
                assert total_s == sums[1.0], (total_s, sums[1.0])
                record(tool="impart", array="sharded", stride=1.0, delay_ms=delay, prefetch=prefetch,
                       seconds=secs, cells=n, sum=total_s, gets=fetched.get("gets"),
                       counted_gets=proxy.gets - before, chunks=int(chunks), shards=shards)
        # what the loopback server costs with delayed ACKs on (s3s-fs
        # leaves Nagle's algorithm on; bench-remote.sh turns them off)
        quickack = str(Path(__file__).with_name("loopback-quickack.sh"))
        subprocess.run([quickack, "off"], check=True)
        try:
            secs, n, _, fetched = run_impart(
                impart, "s3://bench/vol.zarr", 1.0, PREFETCH, dict(env, AWS_ENDPOINT_URL=direct))
            record(tool="impart", stride=1.0, delay_ms=0, delayed_acks=True, seconds=secs, cells=n,
                   gets=fetched.get("gets"))
            secs, n, _ = run_tensorstore(port, 1.0)
            record(tool="tensorstore", stride=1.0, delay_ms=0, delayed_acks=True, seconds=secs,
                   cells=n)
        finally:
            subprocess.run([quickack, "on"], check=True)
    finally:
        server.kill()
    mib = np.prod(SHAPE) * 2 / 2**20
    print(f"\n{SHAPE} u16 ({mib:.0f} MiB), {CHUNK} zstd chunks on s3s-fs (loopback), cells of {CELL}^3:")
    for r in results:
        if "seconds" in r:
            extra = f", prefetch {r['prefetch']}" if "prefetch" in r else ""
            if r.get("delayed_acks"):
                extra += ", delayed ACKs on (no quickack)"
            if r.get("array") == "sharded":
                extra += f", sharded ({r['shards']} shards): {r['counted_gets']} GETs"
            print(f"  {r['tool']:<22} stride {r['stride']}  +{r['delay_ms']} ms{extra}: "
                  f"{r['seconds']:.2f} s ({r['cells']} cells)")
        else:
            print(f"  {r['tool']:<22} stride {r['stride']}  GETs seen by the proxy: "
                  f"{r['counted_gets']} for {r['chunks']} chunks")


if __name__ == "__main__":
    main()
