#!/usr/bin/env python3
"""Helper of data-scripts/larger-than-ram.sh (standard library only, no numpy).

Subcommands:

  gen PATH --shape Z,Y,X       write the deterministic u16 test volume (reused
                               when PATH has the right size and its .json stamp
                               matches), print its stamp
  evict PATH                   fsync + posix_fadvise(DONTNEED): drop PATH's
                               clean pages from the page cache (works without
                               the privilege /proc/sys/vm/drop_caches needs);
                               print the fraction still cached
  probe --name NAME            how a memory limit can be applied here: prints
                               "v1 DIR", "v2 DIR", "systemd -" or "none -"
  measure --out JSONL --label L [--mode M --parent DIR --limit BYTES]
          [--stdout FILE] -- CMD...
                               run CMD (in a fresh memory cgroup when a mode is
                               given), sample its memory while it runs, append
                               one JSON record to JSONL
  check-fragment DIR --shape Z,Y,X --gen-stamp STAMP
                               count manifest lines, add up the cell files and
                               compare a few cells with the generator
  table JSONL --md OUT         print the Markdown tables, write them to OUT,
                               exit 1 when a check failed

The content: slab z of the volume (shape Y,X) is a fixed base slab B rotated
by k(z) = z * 40503 mod Y*X elements, so voxel (z, y, x) holds
B[(y*X + x + k(z)) mod Y*X] and every slab has the same sum: the sum of the
whole volume is Z * sum(B), which `impart stats --stride 1.0` must give.
"""

import argparse
import ctypes
import ctypes.util
import json
import mmap
import os
import resource
import signal
import struct
import subprocess
import sys
import time
from array import array

GEN_VERSION = 1
ROT = 40503


# ---------------------------------------------------------------- generator


def base_slab(ny, nx):
    """The u16 base slab B as little-endian bytes, and its sum."""
    a = array("H", bytes(2 * ny * nx))
    for y in range(ny):
        row = [(x * 7 + y * 13 + ((x ^ y) & 255) * 31 + 1) & 0xFFFF for x in range(nx)]
        a[y * nx:(y + 1) * nx] = array("H", row)
    total = sum(a)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes(), total


def slab_bytes(base, z, n):
    k = 2 * ((z * ROT) % n)
    return base[k:] + base[:k]


def stamp_for(shape):
    nz, ny, nx = shape
    base, s = base_slab(ny, nx)
    return {
        "generator": "data-scripts/larger_than_ram.py",
        "version": GEN_VERSION,
        "shape": list(shape),
        "dtype": "u16",
        "byte_order": "little",
        "order": "C",
        "bytes": 2 * nz * ny * nx,
        "expected_sum": nz * s,
    }, base


TIFF_HEADER = 16  # BigTIFF: "II", 43, 8, 0, first IFD offset (u64)


def tiff_directories(shape, data_offset, first_ifd):
    """The BigTIFF directories of an uncompressed u16 stack whose pages lie
    back to back from data_offset, one strip each: what tifffile and ImageJ
    write for an uncompressed stack (one IFD per page, data contiguous)."""
    nz, ny, nx = shape
    page = 2 * ny * nx
    entries_of = lambda z: [  # (tag, type, value); SHORT 3, LONG8 16
        (256, 16, nx), (257, 16, ny), (258, 3, 16), (259, 3, 1), (262, 3, 1),
        (273, 16, data_offset + z * page), (277, 3, 1), (278, 16, ny),
        (279, 16, page), (284, 3, 1), (339, 3, 1),
    ]
    size = 8 + 20 * 11 + 8
    out = bytearray()
    for z in range(nz):
        here = first_ifd + z * size
        nxt = here + size if z + 1 < nz else 0
        out += struct.pack("<Q", 11)
        for tag, typ, value in entries_of(z):
            out += struct.pack("<HHQ", tag, typ, 1)
            out += struct.pack("<Q", value) if typ == 16 else struct.pack("<H6x", value)
        out += struct.pack("<Q", nxt)
    return bytes(out)


def cmd_gen(a):
    shape = [int(v) for v in a.shape.split(",")]
    if len(shape) != 3:
        sys.exit("gen: --shape must be Z,Y,X")
    stamp, base = stamp_for(shape)
    if a.tiff:
        stamp["format"] = "tiff (BigTIFF, one uncompressed strip per page, pages back to back)"
        stamp["data_offset"] = TIFF_HEADER
        stamp["bytes"] += TIFF_HEADER + len(tiff_directories(shape, TIFF_HEADER, 0))
    stamp_path = a.path + ".json"
    if os.path.exists(a.path) and os.path.getsize(a.path) == stamp["bytes"]:
        try:
            with open(stamp_path) as f:
                if json.load(f) == stamp:
                    print(f"reusing {a.path} ({stamp['bytes']} bytes)", file=sys.stderr)
                    print(json.dumps(stamp))
                    return
        except (OSError, ValueError):
            pass
    nz, ny, nx = shape
    n = ny * nx
    tmp = a.path + ".tmp"
    t0 = time.monotonic()
    with open(tmp, "wb") as f:
        first_ifd = TIFF_HEADER + 2 * nz * n
        if a.tiff:
            f.write(b"II" + struct.pack("<HHHQ", 43, 8, 0, first_ifd))
        for z in range(nz):
            f.write(slab_bytes(base, z, n))
            if z % 256 == 255:
                print(f"  gen: {z + 1}/{nz} slabs, {time.monotonic() - t0:.0f} s", file=sys.stderr)
        if a.tiff:
            f.write(tiff_directories(shape, TIFF_HEADER, first_ifd))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, a.path)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    print(f"wrote {a.path} ({stamp['bytes']} bytes) in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    print(json.dumps(stamp))


# ---------------------------------------------------------------- page cache


def cached_fraction(path):
    """Fraction of PATH's pages in the page cache (mincore on a fresh map)."""
    size = os.path.getsize(path)
    if size == 0:
        return 0.0
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = mmap.PAGESIZE
    pages = (size + page - 1) // page
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return float("nan")
        try:
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
                return float("nan")
            resident = sum(1 for v in vec if v & 1)
        finally:
            libc.munmap(ctypes.c_void_p(addr), size)
    finally:
        os.close(fd)
    return resident / pages


def cmd_evict(a):
    for p in a.paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        print(f"{cached_fraction(p):.4f}")


def cmd_cached(a):
    print(f"{cached_fraction(a.path):.4f}")


# ---------------------------------------------------------------- cgroups


def own_cgroup(controller):
    """This process's cgroup path for a v1 controller, or the v2 path ("")."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller == "" and ctrls == "" and line.startswith("0::"):
                return path
            if controller and controller in ctrls.split(","):
                return path
    return None


def mounts(fstype):
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, typ, opts = line.split()[:4]
            if typ == fstype:
                out.append((mnt, opts.split(",")))
    return out


def try_mkdir(path):
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return True
    except OSError:
        return False


def probe_v1(name):
    for mnt, opts in mounts("cgroup"):
        if "memory" not in opts:
            continue
        own = own_cgroup("memory") or "/"
        # A child of this session's own cgroup first (the processes stay in the
        # subtree whoever runs this session accounts and cleans up), then the
        # root of the hierarchy.
        for parent in (os.path.join(mnt, own.lstrip("/")), mnt):
            if probe_dir(os.path.join(parent, name + ".probe"), writable_limit_v1):
                return parent
    return None


def writable_limit_v1(d):
    """Whether the memory limit of the cgroup `d` can be set."""
    try:
        with open(os.path.join(d, "memory.limit_in_bytes"), "w") as f:
            f.write(str(1 << 30))
        return True
    except OSError:
        return False


def probe_dir(d, check):
    """Makes the cgroup directory `d`, runs `check(d)`, removes `d`."""
    if not try_mkdir(d):
        return False
    try:
        return check(d)
    finally:
        try:
            os.rmdir(d)
        except OSError:
            pass


def probe_v2(name):
    for mnt, _ in mounts("cgroup2"):
        own = own_cgroup("") or "/"
        for parent in (os.path.join(mnt, own.lstrip("/")), mnt):
            try:
                with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                    if "memory" not in f.read().split():
                        continue
            except OSError:
                continue
            has_max = lambda d: os.path.exists(os.path.join(d, "memory.max"))  # noqa: E731
            if probe_dir(os.path.join(parent, name + ".probe"), has_max):
                return parent
    return None


def cmd_probe(a):
    if a.force in (None, "v1"):
        p = probe_v1(a.name)
        if p:
            print("v1", p)
            return
    if a.force in (None, "v2"):
        p = probe_v2(a.name)
        if p:
            print("v2", p)
            return
    if a.force in (None, "systemd"):
        if os.path.isdir("/run/systemd/system") and subprocess.run(
            ["systemd-run", "--scope", "--quiet", "-p", "MemoryMax=1G", "true"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ).returncode == 0:
            print("systemd -")
            return
    print("none -")


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def kv(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def cgroup_of_pid(pid, version):
    """Filesystem dir of PID's memory cgroup (for the systemd scope)."""
    text = read(f"/proc/{pid}/cgroup", "")
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        if version == 2 and line.startswith("0::"):
            for mnt, _ in mounts("cgroup2"):
                d = os.path.join(mnt, path.lstrip("/"))
                if os.path.exists(os.path.join(d, "memory.max")):
                    return d
        if version == 1 and "memory" in ctrls.split(","):
            for mnt, opts in mounts("cgroup"):
                if "memory" in opts:
                    return os.path.join(mnt, path.lstrip("/"))
    return None


STAT_KEYS_V1 = ("rss", "cache", "mapped_file", "dirty", "writeback", "pgmajfault")
STAT_KEYS_V2 = ("anon", "file", "file_mapped", "file_dirty", "file_writeback", "pgmajfault")


def sample(pid, cg, version, peaks):
    """One sample of /proc/PID/status and the cgroup's memory.stat."""
    status = read(f"/proc/{pid}/status")
    if status:
        for line in status.splitlines():
            for key in ("VmRSS", "RssAnon", "RssFile"):
                if line.startswith(key + ":"):
                    kib = int(line.split()[1])
                    peaks[key] = max(peaks.get(key, 0), kib * 1024)
    if cg:
        st = kv(read(os.path.join(cg, "memory.stat")))
        keys = STAT_KEYS_V1 if version == 1 else STAT_KEYS_V2
        for k in keys:
            if k in st:
                peaks["cg_" + k] = max(peaks.get("cg_" + k, 0), st[k])
        usage = read(os.path.join(cg, "memory.usage_in_bytes" if version == 1 else "memory.current"))
        if usage:
            peaks["cg_usage"] = max(peaks.get("cg_usage", 0), int(usage))
        return st
    return None


def cmd_measure(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    mode = a.mode or "none"
    rec = {"label": a.label, "mode": mode, "limit": a.limit if mode != "none" else None,
           "cmd": cmd, "meta": json.loads(a.meta) if a.meta else {}}
    cg = None
    version = {"v1": 1, "v2": 2, "systemd": 2}.get(mode)
    if mode in ("v1", "v2"):
        cg = os.path.join(a.parent, a.cgname)
        if os.path.isdir(cg):
            os.rmdir(cg)  # a leftover of an interrupted run (fails if busy)
        os.mkdir(cg)
        if mode == "v1":
            write(os.path.join(cg, "memory.limit_in_bytes"), a.limit)
            write(os.path.join(cg, "memory.max_usage_in_bytes"), 0)  # reset
            write(os.path.join(cg, "memory.failcnt"), 0)
        else:
            write(os.path.join(cg, "memory.max"), a.limit)
            if os.path.exists(os.path.join(cg, "memory.swap.max")):
                write(os.path.join(cg, "memory.swap.max"), 0)
    elif mode == "systemd":
        cmd = ["systemd-run", "--scope", "--quiet", "-p", f"MemoryMax={a.limit}", "-p", "MemorySwapMax=0", "--"] + cmd

    def enter():
        # Runs in the child between fork and exec: only the measured command
        # goes into the cgroup, this script never moves.
        if cg:
            write(os.path.join(cg, "cgroup.procs"), os.getpid())

    out = open(a.stdout, "wb") if a.stdout else subprocess.DEVNULL
    peaks = {}
    last_stat = None
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdout=out, preexec_fn=enter)
        if mode == "systemd":
            time.sleep(0.2)
            cg = cgroup_of_pid(p.pid, 2)
        while True:
            wpid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if wpid == p.pid:
                break
            st = sample(p.pid, cg, version, peaks)
            if st:
                last_stat = st
            time.sleep(a.interval)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if a.stdout:
            out.close()
    rec["wall_s"] = wall
    rec["exit"] = p.returncode
    rec["signal"] = signal.Signals(-p.returncode).name if p.returncode < 0 else None
    rec["maxrss"] = ru.ru_maxrss * 1024  # Linux: KiB
    rec["majflt"] = ru.ru_majflt
    rec["minflt"] = ru.ru_minflt
    rec["utime_s"] = ru.ru_utime
    rec["stime_s"] = ru.ru_stime
    rec["peaks"] = peaks
    rec["last_stat_during_run"] = {k: last_stat[k] for k in (STAT_KEYS_V1 if version == 1 else STAT_KEYS_V2) if last_stat and k in last_stat} if last_stat else None
    if cg and os.path.isdir(cg):
        if version == 1:
            rec["cg_max_usage"] = int(read(os.path.join(cg, "memory.max_usage_in_bytes"), "0"))
            rec["cg_failcnt"] = int(read(os.path.join(cg, "memory.failcnt"), "0"))
            oc = kv(read(os.path.join(cg, "memory.oom_control")))
            rec["cg_oom_kill"] = oc.get("oom_kill")
            rec["cg_under_oom"] = oc.get("under_oom")
            rec["cg_limit_read_back"] = int(read(os.path.join(cg, "memory.limit_in_bytes"), "0"))
        else:
            peak = read(os.path.join(cg, "memory.peak"))
            rec["cg_max_usage"] = int(peak) if peak else peaks.get("cg_usage")
            ev = kv(read(os.path.join(cg, "memory.events")))
            rec["cg_failcnt"] = ev.get("max")
            rec["cg_oom_kill"] = ev.get("oom_kill")
            lim = read(os.path.join(cg, "memory.max"), "").strip()
            rec["cg_limit_read_back"] = int(lim) if lim.isdigit() else lim
        st = kv(read(os.path.join(cg, "memory.stat")))
        rec["stat_after"] = {k: st[k] for k in (STAT_KEYS_V1 if version == 1 else STAT_KEYS_V2) if k in st}
    if cg and mode in ("v1", "v2"):
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
    # The stats summary line, when the command printed one.
    if a.stdout:
        rec["summary"] = None
        try:
            with open(a.stdout, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4096))
                tail = f.read().decode(errors="replace").strip().splitlines()
            if tail:
                s = json.loads(tail[-1])
                if s.get("summary"):
                    rec["summary"] = s
        except (OSError, ValueError):
            pass
        if not a.keep_stdout:
            os.remove(a.stdout)
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    sys.exit(0 if p.returncode == 0 else 1)


# ---------------------------------------------------------------- fragment


def cmd_check_fragment(a):
    shape = [int(v) for v in a.shape.split(",")]
    nz, ny, nx = shape
    n = ny * nx
    with open(a.gen_stamp) as f:
        stamp = json.load(f)
    assert stamp["shape"] == shape and stamp["version"] == GEN_VERSION, "stamp does not match"
    base, _ = base_slab(ny, nx)
    man = os.path.join(a.dir, "manifest.jsonl")
    lines = []
    if os.path.exists(man):
        with open(man) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    total = 0
    missing = 0
    for l in lines:
        try:
            total += os.path.getsize(os.path.join(a.dir, l["file"]))
        except OSError:
            missing += 1
    # Compare the first, the last and two cells between with the generator.
    picks = sorted({0, len(lines) - 1, len(lines) // 3, (2 * len(lines)) // 3}) if lines else []
    checked, bad = 0, []
    for i in picks:
        l = lines[i]
        (z0, y0, x0), (cz, cy, cx) = l["start"], l["shape"]
        try:
            with open(os.path.join(a.dir, l["file"]), "rb") as f:
                got = f.read()
        except OSError:
            bad.append(l["file"])
            continue
        parts = []
        for z in range(z0, z0 + cz):
            s = slab_bytes(base, z, n)
            for y in range(y0, y0 + cy):
                o = 2 * (y * nx + x0)
                parts.append(s[o:o + 2 * cx])
        checked += 1
        if b"".join(parts) != got:
            bad.append(l["file"])
    res = {"manifest_lines": len(lines), "files_bytes": total, "missing": missing,
           "cells_checked": checked, "cells_bad": bad}
    print(json.dumps(res))
    if a.attach:
        # Store the result in the last record of the measure JSONL.
        with open(a.attach) as f:
            recs = [l for l in f.read().splitlines() if l.strip()]
        last = json.loads(recs[-1])
        last["meta"]["check"] = res
        recs[-1] = json.dumps(last)
        with open(a.attach, "w") as f:
            f.write("\n".join(recs) + "\n")


# ---------------------------------------------------------------- table


def human(b):
    return f"{b / 2**30:g} GiB" if b >= 2**30 else f"{b / 2**20:g} MiB"


def mib(b):
    return "-" if b is None else f"{b / 2**20:.0f} MiB"


def cmd_table(a):
    recs = []
    with open(a.jsonl) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    problems = []
    # Checksums: every stats run of one configuration (cell, stride) must give
    # the same sum, with and without a limit and madvise hints.
    sums = {}
    for r in recs:
        m = r["meta"]
        if m.get("kind") == "stats":
            s = r.get("summary") or {}
            sums.setdefault(m["config"], set()).add(s.get("sum"))
    for r in recs:
        m = r["meta"]
        ok, why = True, []
        if r["exit"] != 0:
            ok = False
            why.append(f"exit {r['exit']}" + (f" ({r['signal']})" if r.get("signal") else ""))
        if r.get("cg_oom_kill"):
            ok = False
            why.append(f"oom_kill={r['cg_oom_kill']}")
        if r["mode"] != "none" and r.get("cg_max_usage") and r["limit"] and r["cg_max_usage"] > int(r["limit"]):
            ok = False
            why.append("max usage above limit")
        lim_back = r.get("cg_limit_read_back")
        if r["mode"] in ("v1", "v2") and isinstance(lim_back, int) and lim_back > int(r["limit"]):
            ok = False
            why.append(f"cgroup limit read back as {lim_back}")
        if m.get("kind") == "stats":
            s = r.get("summary")
            if not s:
                ok = False
                why.append("no summary")
            else:
                if len(sums[m["config"]]) != 1:
                    ok = False
                    why.append("sum differs between runs")
                if m.get("expected_sum") is not None and s["sum"] != m["expected_sum"]:
                    ok = False
                    why.append(f"sum {s['sum']} != expected {m['expected_sum']}")
                if m.get("expected_cells") is not None and s["cells"] != m["expected_cells"]:
                    ok = False
                    why.append(f"cells {s['cells']} != {m['expected_cells']}")
        if m.get("kind") == "fragment":
            fc = m.get("check") or {}
            if fc.get("manifest_lines") != m.get("expected_cells"):
                ok = False
                why.append(f"manifest lines {fc.get('manifest_lines')} != {m.get('expected_cells')}")
            if fc.get("files_bytes") != m.get("expected_bytes"):
                ok = False
                why.append(f"cell files {fc.get('files_bytes')} bytes != {m.get('expected_bytes')}")
            if fc.get("missing") or fc.get("cells_bad"):
                ok = False
                why.append(f"bad cells {fc.get('cells_bad')}, missing {fc.get('missing')}")
        r["ok"] = ok
        r["why"] = why
        if not ok:
            problems.append(f"{r['label']}: {', '.join(why)}")

    lines = []
    con = [r for r in recs if r["mode"] != "none"]
    if con:
        lim = int(con[0]["limit"])
        vol = max((r["meta"].get("file_bytes") or 0) for r in recs) or None
        under = all((r.get("cg_max_usage") or 0) <= int(r["limit"]) for r in con)
        hit = sum(1 for r in con if (r.get("cg_failcnt") or 0) > 0)
        oom = sum(1 for r in con if r.get("cg_oom_kill"))
        ok_runs = sum(1 for r in con if r["ok"])
        lines.append(f"Constrained runs ({con[0]['mode']}, limit {human(lim)}"
                     + (f", volume {vol / lim:.1f}x the limit" if vol else "") + f"): {ok_runs}/{len(con)} OK; "
                     f"peak cgroup usage {'within' if under else 'ABOVE'} the limit in every run; "
                     f"limit reached (failcnt > 0) in {hit}/{len(con)}; OOM kills: {oom}; "
                     f"largest peak RSS {mib(max(r['maxrss'] for r in con))}.")
    else:
        lines.append("No constrained runs: the memory limit could not be applied on this machine.")
    checks = [f"{k}: {'identical' if len(v) == 1 else 'DIFFER'} ({', '.join('-' if x is None else f'{x:.0f}' for x in sorted(v, key=str))})"
              for k, v in sums.items()]
    exp = {r["meta"]["config"]: r["meta"].get("expected_sum") for r in recs
           if r["meta"].get("kind") == "stats" and r["meta"].get("expected_sum") is not None}
    for k, e in exp.items():
        checks.append(f"{k} vs the generator's sum {e}: {'equal' if sums.get(k) == {e} else 'DIFFERENT'}")
    if checks:
        lines.append("Checksums (sum over all cells, every run of a configuration): " + "; ".join(checks) + ".")
    lines.append("")
    lines.append("| run | limit | wall s | GB/s | peak RSS | cgroup max usage | OK |")
    lines.append("|---|---|---:|---:|---:|---:|---|")
    for r in recs:
        m = r["meta"]
        s = r.get("summary")
        if s:
            gbps = f"{s['gb_per_s']:.2f}"
        elif m.get("file_bytes") and r["exit"] == 0:
            gbps = f"{m['file_bytes'] / r['wall_s'] / 1e9:.2f}"
        else:
            gbps = "-"
        limit = human(int(r["limit"])) if r["limit"] else "none"
        lines.append(
            f"| {r['label']} | {limit} | {r['wall_s']:.1f} | {gbps} | {mib(r['maxrss'])} | "
            f"{mib(r.get('cg_max_usage'))} | {'yes' if r['ok'] else 'NO: ' + '; '.join(r['why'])} |"
        )
    lines.append("")
    lines.append("GB/s: stats, the summary's bytes / seconds (bytes of all cells, so overlapping cells count "
                 "a voxel more than once; the walk only, not opening or printing); fragment, volume bytes / wall time.")
    lines.append("Peak RSS: the process's high-water resident set (getrusage ru_maxrss, what `/usr/bin/time -v` "
                 "calls Maximum resident set size): anonymous memory plus the file pages mapped into it.")
    lines.append("")
    lines.append("Details (peaks sampled every ~0.1 s while running; cgroup figures from memory.stat):")
    lines.append("")
    lines.append("| run | cache before | summary cells | sum | peak RssAnon | peak RssFile | maj faults | "
                 "cg limit | cg failcnt | cg oom_kill | cg peak rss | cg peak cache | cg peak mapped_file | cg peak dirty |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        m = r["meta"]
        s = r.get("summary") or {}
        pk = r.get("peaks", {})
        v2 = r["mode"] in ("v2", "systemd")
        g = (lambda k1, k2: pk.get("cg_" + (k2 if v2 else k1)))
        cells = s.get("cells", (m.get("check") or {}).get("manifest_lines", "-"))
        sm = s.get("sum")
        lines.append(
            f"| {r['label']} | {m.get('cached_before', '-')} | {cells} | "
            f"{'-' if sm is None else f'{sm:.0f}'} | {mib(pk.get('RssAnon'))} | {mib(pk.get('RssFile'))} | "
            f"{r.get('majflt', '-')} | {mib(r.get('cg_limit_read_back')) if isinstance(r.get('cg_limit_read_back'), int) else '-'} | "
            f"{r.get('cg_failcnt', '-') if r['mode'] != 'none' else '-'} | "
            f"{r.get('cg_oom_kill', '-') if r['mode'] != 'none' else '-'} | "
            f"{mib(g('rss', 'anon'))} | {mib(g('cache', 'file'))} | {mib(g('mapped_file', 'file_mapped'))} | "
            f"{mib(g('dirty', 'file_dirty'))} |"
        )
    text = "\n".join(lines) + "\n"
    if problems:
        text += "\nProblems:\n\n" + "\n".join(f"- {p}" for p in problems) + "\n"
    with open(a.md, "w") as f:
        f.write(a.header + text if a.header else text)
    print(text)
    sys.exit(1 if problems else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)
    g = sub.add_parser("gen")
    g.add_argument("path")
    g.add_argument("--shape", required=True)
    g.add_argument("--tiff", action="store_true", help="write a BigTIFF stack of the same voxels")
    g.set_defaults(fn=cmd_gen)
    e = sub.add_parser("evict")
    e.add_argument("paths", nargs="+")
    e.set_defaults(fn=cmd_evict)
    c = sub.add_parser("cached")
    c.add_argument("path")
    c.set_defaults(fn=cmd_cached)
    p = sub.add_parser("probe")
    p.add_argument("--name", default="impart-ltr")
    p.add_argument("--force", choices=["v1", "v2", "systemd", "none"])
    p.set_defaults(fn=cmd_probe)
    m = sub.add_parser("measure")
    m.add_argument("--out", required=True)
    m.add_argument("--label", required=True)
    m.add_argument("--mode", choices=["none", "v1", "v2", "systemd"])
    m.add_argument("--parent")
    m.add_argument("--cgname", default="impart-ltr")
    m.add_argument("--limit", type=int)
    m.add_argument("--stdout")
    m.add_argument("--keep-stdout", action="store_true")
    m.add_argument("--interval", type=float, default=0.1)
    m.add_argument("--meta", help="JSON object stored with the record")
    m.add_argument("cmd", nargs=argparse.REMAINDER)
    m.set_defaults(fn=cmd_measure)
    f = sub.add_parser("check-fragment")
    f.add_argument("dir")
    f.add_argument("--shape", required=True)
    f.add_argument("--gen-stamp", required=True)
    f.add_argument("--attach", help="measure JSONL whose last record gets the result")
    f.set_defaults(fn=cmd_check_fragment)
    t = sub.add_parser("table")
    t.add_argument("jsonl")
    t.add_argument("--md", required=True)
    t.add_argument("--header", default="")
    t.set_defaults(fn=cmd_table)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
