#!/usr/bin/env python3
"""Helper of data-scripts/bench-stitch.sh: records and the report.

Subcommands (numpy and nibabel needed for ``report`` only):

  meta --bin IMPART --input NII ...   the machine and versions, as JSON on stdout
  record --runs JSONL --time FILE --stdout FILE --tool T --threads N
         --classes C --out JSONL --cmd-json CMD
                                      merge the last larger_than_ram.py measure
                                      record, the /usr/bin/time -v output and the
                                      command's JSON line into one record
  report --recs JSONL --meta JSON --dir DIR --md OUT --json OUT ...
                                      label comparisons, ratios, the Markdown
                                      table and the JSON lines
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

GiB = 2**30


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cmd_meta(a):
    versions = {"impart": subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip()}
    try:
        import torch
        import monai
        from importlib.metadata import version

        versions.update(torch=torch.__version__, monai=monai.__version__, patchly=version("patchly"))
    except ImportError as e:
        versions["missing"] = str(e)
    import numpy

    versions["numpy"] = numpy.__version__
    git = subprocess.run(["git", "-C", a.repo, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    main_git = subprocess.run(["git", "-C", str(Path(a.bin).resolve().parents[2]), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()
    mem = next((int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    print(json.dumps({
        "date": subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip(),
        "nproc": os.cpu_count() and int(subprocess.run(["nproc"], capture_output=True, text=True).stdout),
        "cpu": cpu_model(), "kernel": platform.release(), "ram_bytes": mem,
        "python": platform.python_version(), "versions": versions,
        "bin": a.bin, "bin_tree": main_git, "bench_git": git,
        "input": a.input, "input_bytes": os.path.getsize(a.input),
        "cgroup": {"mode": a.cg_mode, "parent": a.cg_parent, "limit": a.limit},
    }))


def parse_time(path):
    """GNU time -v: wall seconds, max RSS bytes, exit status."""
    out = {"wall_s": None, "maxrss_bytes": None, "exit": None, "signal": None}
    try:
        text = open(path).read()
    except OSError:
        return out
    m = re.search(r"Elapsed \(wall clock\) time.*?: ([\d:.]+)", text)
    if m:
        secs = 0.0
        for part in m.group(1).split(":"):
            secs = secs * 60 + float(part)
        out["wall_s"] = secs
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["maxrss_bytes"] = int(m.group(1)) * 1024
    m = re.search(r"Exit status: (\d+)", text)
    if m:
        out["exit"] = int(m.group(1))
    m = re.search(r"Command terminated by signal (\d+)", text)
    if m:
        out["signal"] = int(m.group(1))
    return out


def last_json_line(path):
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def cmd_record(a):
    runs = [json.loads(l) for l in open(a.runs)] if os.path.exists(a.runs) else []
    m = runs[-1] if runs else {}
    t = parse_time(a.time)
    rec = {
        "label": m.get("label"), "tool": a.tool, "threads": a.threads, "classes": a.classes,
        "cmd": json.loads(a.cmd_json),
        "wall_s": t["wall_s"], "peak_rss_bytes": t["maxrss_bytes"], "exit": t["exit"], "signal": t["signal"],
        "limit": m.get("limit"), "cgroup_mode": m.get("mode"),
        "output": last_json_line(a.stdout),
    }
    for k in ("cg_max_usage", "cg_failcnt", "cg_oom_kill", "cg_under_oom", "cg_limit_read_back", "stat_after"):
        if k in m:
            rec[k] = m[k]
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def labels_of(path):
    import nibabel as nib
    import numpy as np

    if str(path).endswith(".npy"):
        return np.load(path)
    img = nib.load(str(path))
    return np.asarray(img.dataobj).reshape(img.shape[:3])


def gib(b):
    return f"{b / GiB:.2f}" if b is not None else "—"


def cmd_report(a):
    recs = [json.loads(l) for l in open(a.recs)]
    meta = json.load(open(a.meta))
    d = Path(a.dir)
    ok = True
    # Labels: every peer's saved labels against impart's (16 classes).
    ref16 = d / "impart16.nii"
    if ref16.exists():
        r = labels_of(ref16).astype("uint8")
        for rec in recs:
            lab = (rec["output"] or {}).get("labels") if rec["tool"] != "impart" else None
            if lab and os.path.exists(lab) and rec["classes"] == 16:
                import numpy as np

                other = labels_of(lab)
                n = int(np.count_nonzero(other != r))
                rec["labels_vs_impart"] = {"disagree": n, "voxels": int(r.size), "fraction": n / r.size}
        del r
    # Ratios against MONAI at the same threads and classes.
    monai = {(x["threads"], x["classes"]): x for x in recs if x["tool"] == "monai" and x["exit"] == 0}
    for rec in recs:
        m = monai.get((rec["threads"], rec["classes"]))
        if m and rec["wall_s"] and rec["peak_rss_bytes"]:
            rec["speedup_vs_monai"] = m["wall_s"] / rec["wall_s"]
            rec["rss_fraction_of_monai"] = rec["peak_rss_bytes"] / m["peak_rss_bytes"]
        o = rec["output"] or {}
        if rec["tool"] == "impart" and "planned_peak_bytes" in o:
            inflight = rec["threads"] * rec["classes"] * 128**3 * 4
            rec["documented_bound_bytes"] = o["planned_peak_bytes"] + inflight + meta["input_bytes"]
            rec["bound_parts"] = {"planned_peak_bytes": o["planned_peak_bytes"], "predictions_in_flight": inflight,
                                  "input_file": meta["input_bytes"]}
        if rec["exit"] != 0:
            ok = False

    by_label = {r["label"]: r for r in recs}
    rows = []
    for r in recs:
        o = r["output"] or {}
        imp = r["tool"] == "impart"
        lab = r.get("labels_vs_impart")
        if imp and r["classes"] == 16:
            lab_s = "(reference)" if r["threads"] == 2 else ("identical to 2 threads" if a.t12_same == "1" else "DIFFERS from 2 threads")
        elif imp and r["classes"] == 100 and r.get("limit"):
            lab_s = f"`cmp` vs unconstrained: {a.cmp100}"
        elif imp:
            lab_s = "(reference)"
        elif lab:
            lab_s = f"{lab['disagree']} of {lab['voxels']} differ ({lab['fraction']:.2e})"
        else:
            lab_s = "—"
        rows.append("| {tool} | {th} | {c} | {lim} | {wall} | {rss} | {own} | {acc} | {plan} | {sp} | {fr} | {lab} |".format(
            tool=r["tool"] + (" --scratch" if imp and "--scratch" in r["cmd"] else "")
            + (" --no-mmap" if imp and "--no-mmap" in r["cmd"] else ""),
            th=r["threads"], c=r["classes"],
            lim=f"{r['limit'] / GiB:.0f} GiB cgroup" if r.get("limit") else "none",
            wall=f"{r['wall_s']:.2f}" if r["wall_s"] is not None else "—",
            rss=gib(r["peak_rss_bytes"]),
            own=f"{o['seconds']:.2f}" if imp and "seconds" in o else (f"{o['infer_s']:.2f} infer" if "infer_s" in o else "—"),
            acc=gib(o.get("peak_accumulator_bytes")), plan=gib(o.get("planned_peak_bytes")),
            sp=f"{r['speedup_vs_monai']:.2f}×" if "speedup_vs_monai" in r else "—",
            fr=f"{r['rss_fraction_of_monai']:.3f}" if "rss_fraction_of_monai" in r else "—",
            lab=lab_s + ("" if r["exit"] == 0 else f" **exit {r['exit']} signal {r['signal']}**")))

    v = meta["versions"]
    L = [
        "# impart stitch against MONAI and Patchly",
        "",
        f"Machine: {meta['cpu']}, `nproc` {meta['nproc']}, {meta['ram_bytes'] / GiB:.1f} GiB RAM, Linux {meta['kernel']}; "
        f"Python {meta['python']}. A shared, noisy 2-core VM: one run of each configuration, no repeats.  ",
        f"{meta['date']}; load before: `{a.uptime_before.strip()}`; after: `{a.uptime_after.strip()}`.  ",
        f"Versions: {v.get('impart')} (binary {meta['bin']}, tree at {meta['bin_tree']}); torch {v.get('torch')} (CPU); "
        f"MONAI {v.get('monai')}; Patchly {v.get('patchly')}; numpy {v.get('numpy')}. Harness at {meta['bench_git']}.  ",
        f"Input: `input.nii` of bench_stitch_monai.py, 384×384×256 f32 ({meta['input_bytes']} bytes), the synthetic "
        "predictor (`impart stitch --help`), 128³ cells, stride 0.5 / overlap 0.5 (75 cells; `--edge shift` is MONAI's "
        "grid), gaussian blending with sigma 0.125, argmax labels (u8).  ",
        "Wall and peak RSS: `/usr/bin/time -v` of each process (Elapsed; Maximum resident set size), the whole job "
        "(Python start-up, imports, reading the NIfTI, inference, argmax; impart: the same plus writing the output). "
        "`own s`: impart's JSON `seconds`, or MONAI/Patchly's own timing of the inference alone. "
        "Speed-up = MONAI wall / wall, memory = peak RSS / MONAI's, both at the same thread count and class count.",
        "",
        "| tool | threads | classes | limit | wall s | peak RSS GiB | own s | peak accumulator GiB | planned peak GiB | speed-up vs MONAI | RSS / MONAI | labels vs impart |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    # Near-ties.
    m2 = by_label.get("monai 16 t2")
    if m2 and (m2["output"] or {}).get("ties"):
        t = m2["output"]["ties"]
        L.append(f"**Labels, 16 classes.** MONAI (2 threads) and impart disagree at {t['disagree']} of {t['voxels']} voxels "
                 f"({t['fraction']:.2e}); at those voxels MONAI's own blended channels give the gap between the class it "
                 f"picked and impart's: {t['near_ties']} of {t['disagree']} are within {t['tol']:g} (near-ties), "
                 f"max gap {t['max_gap']:.3g}.")
        if t.get("examples"):
            L.append("Examples: " + "; ".join(f"voxel {e['voxel']} MONAI {e['monai']} impart {e['other']} gap {e['gap']:.2g}"
                                              for e in t["examples"]) + ".")
        L.append("")
    for lbl in ("monai 16 t1", "patchly 16 t2"):
        r = by_label.get(lbl)
        if r and r.get("labels_vs_impart"):
            L.append(f"- {lbl}: {r['labels_vs_impart']['disagree']} voxels differ from impart's labels"
                     + (" (Patchly's gaussian is its own: per-axis kernels normalised to sum 1, no 1e-3 floor, so its"
                        " ties can break differently)" if lbl.startswith("patchly") else "") + ".")
    L.append("")
    # 100 classes.
    L.append("**100 classes (MONAI issue #6427).**")
    r = by_label.get("impart 100 t2")
    if r and "documented_bound_bytes" in r:
        p = r["bound_parts"]
        L.append(f"- impart, 2 threads, no limit: peak RSS {gib(r['peak_rss_bytes'])} GiB "
                 f"({'under' if r['peak_rss_bytes'] < 6 * GiB else 'NOT under'} 6 GiB); documented bound "
                 f"{gib(r['documented_bound_bytes'])} GiB = planned_peak_bytes {p['planned_peak_bytes']} + 2 × 100 × 128³ × 4 "
                 f"= {p['predictions_in_flight']} (predictions in flight) + input file {p['input_file']}; "
                 f"RSS / bound = {r['peak_rss_bytes'] / r['documented_bound_bytes']:.2f}.")
        if r["peak_rss_bytes"] >= 6 * GiB:
            ok = False
    c = by_label.get("impart 100 t1 scratch cgroup")
    cg = meta["cgroup"]
    if c:
        L.append(f"- impart, 1 thread, `--scratch`, in a {c['limit'] / GiB:.0f} GiB memory cgroup ({cg['mode']}"
                 f"{' under ' + cg['parent'] if cg['parent'] != '-' else ''}; limit read back "
                 f"{c.get('cg_limit_read_back')}): exit {c['exit']}, peak RSS {gib(c['peak_rss_bytes'])} GiB, "
                 f"cgroup peak usage {gib(c.get('cg_max_usage'))} GiB (page cache of the input and the scratch file "
                 f"included), failcnt {c.get('cg_failcnt')}, oom_kill {c.get('cg_oom_kill')}; labels `cmp` against the "
                 f"unconstrained 2-thread run: **{a.cmp100}**. The input was evicted from the page cache "
                 "(posix_fadvise DONTNEED) before this run, so its pages are charged to the cgroup.")
    else:
        L.append(f"- constrained run: skipped (no memory cgroup could be made: {cg['mode']}).")
    if not by_label.get("monai 100 t2"):
        L.append("- MONAI at 100 classes: not run (opt-in `MONAI100=1`); it keeps the whole (100, 384, 384, 256) f32 "
                 "output plus the count map, ~17.4 GiB.")
    L.append(f"- `.npy` hand-over (`--predictions`): {'NPY=1 was asked for, but ' if a.npy == '1' else ''}not measured: "
             "75 cells × 16 × 128³ × 4 B = 10 GB of .npy files at this shape; a smaller shape would not be the same "
             "benchmark, so it is left out.")
    L.append("")
    L.append("## Commands")
    L.append("")
    L.append(f"Driver: `{a.driver}`. Each process, as run (under `/usr/bin/time -v`; the cgroup run through "
             "`data-scripts/larger_than_ram.py measure`, which moves only the measured command into a fresh cgroup):")
    L.append("")
    L.append("```")
    for r in recs:
        L.append(f"# {r['label']}" + (f" (memory cgroup {r['limit']} bytes)" if r.get("limit") else ""))
        L.append(" ".join(x if re.fullmatch(r"[\w./,=:+-]+", x) else f"'{x}'" for x in r["cmd"]))
    L.append("```")
    text = "\n".join(L) + "\n"
    Path(a.md).write_text(text)
    with open(a.json, "w") as f:
        f.write(json.dumps({"meta": meta, "uptime_before": a.uptime_before.strip(), "uptime_after": a.uptime_after.strip(),
                            "impart16_t1_t2_identical": a.t12_same == "1", "cmp100": a.cmp100}) + "\n")
        for r in recs:
            f.write(json.dumps(r) + "\n")
    print(text)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("meta")
    for k in ("--bin", "--input", "--cg-mode", "--cg-parent", "--repo"):
        m.add_argument(k, required=True)
    m.add_argument("--limit", type=int, required=True)
    r = sub.add_parser("record")
    for k in ("--runs", "--time", "--stdout", "--tool", "--out", "--cmd-json"):
        r.add_argument(k, required=True)
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--classes", type=int, required=True)
    t = sub.add_parser("report")
    for k in ("--recs", "--meta", "--dir", "--md", "--json", "--uptime-before", "--uptime-after",
              "--t12-same", "--cmp100", "--npy", "--driver"):
        t.add_argument(k, required=True)
    a = p.parse_args()
    return {"meta": cmd_meta, "record": cmd_record, "report": cmd_report}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
