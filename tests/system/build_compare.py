#!/usr/bin/python3
"""Compares what `docker build` (the classic builder) and `berth build` made of each case of
the Dockerfile corpus (tests/system/build-corpus), as build_compat.bats left it:

  RESULTS/CASE/SIDE/status       the build's exit code (SIDE: docker or berth)
  RESULTS/CASE/SIDE/log          the build's output
  RESULTS/CASE/SIDE/config.json  `image inspect --format '{{json .Config}}'`
  RESULTS/CASE/SIDE/author.json  `image inspect --format '{{json .Author}}'`
  RESULTS/CASE/SIDE/fs.tar       `export` of a container created from the image
  RESULTS/CASE/SIDE/error        a step after the build that failed (inspect, create, export)

usage: build_compare.py CORPUS RESULTS [CASE...]

Prints one line per case (ok, DIFF, BROKEN, documented difference) and, for each difference,
what each side has. Exits 1 when a case differs and has no `difference` file.
Standard library only.
"""
import hashlib
import json
import os
import stat
import sys
import tarfile

# Image config fields compared. Docker's container.Config marshals these with omitempty: for
# them null, an empty value and a missing key are the same thing to Docker. The others are
# compared as they are (null is not [] or {}), a missing string as "".
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                 "Labels", "StopSignal", "Healthcheck", "OnBuild", "Shell"]
OMITEMPTY = {"ExposedPorts", "StopSignal", "Healthcheck", "Shell"}
STRINGS = {"WorkingDir", "User", "StopSignal"}

# Paths a container's export has that the image does not decide: what `create` puts in the
# container (Docker's init layer: .dockerenv, /etc/hosts, hostname, resolv.conf, the /etc/mtab
# link, the dev/proc/sys mount points, and /etc itself, whose mode and owner the init layer's
# own directory overrides) and the kernel file systems' mount points.
IGNORED = {".dockerenv", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}
IGNORED_TREES = ("dev", "proc", "sys")
MAX_FS_LINES = 25


def ignored(path):
    if path in IGNORED or path in IGNORED_TREES:
        return True
    return any(path.startswith(t + "/") for t in IGNORED_TREES)


def norm_path(name):
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/").rstrip("/")
    return "" if name == "." else name


TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block",
         tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file"}


def read_tree(path):
    """{path: entry} of an export tar. A hard link is the file it links to (its content, size)
    plus the set of paths that share it."""
    entries = {}
    links = {}  # path -> group id
    groups = {}  # group id -> set of paths
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            p = norm_path(m.name)
            if not p or ignored(p):
                continue
            e = {"mode": "%04o" % (m.mode & 0o7777), "owner": "%d:%d" % (m.uid, m.gid)}
            if m.islnk():
                target = norm_path(m.linkname)
                base = entries.get(target)
                e["type"] = "file"
                if base is not None:
                    e["size"] = base.get("size")
                    e["sha256"] = base.get("sha256")
                else:
                    e["size"] = None
                    e["sha256"] = "(hard link to missing %s)" % target
                g = links.setdefault(target, target)
                links[p] = g
                groups.setdefault(g, {target}).add(p)
            else:
                e["type"] = TYPES.get(m.type, "type-%r" % m.type)
                if m.isreg():
                    h = hashlib.sha256()
                    f = tar.extractfile(m)
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        h.update(chunk)
                    e["size"] = m.size
                    e["sha256"] = h.hexdigest()[:16]
                elif m.issym():
                    e["target"] = m.linkname
                elif m.ischr() or m.isblk():
                    e["device"] = "%d,%d" % (m.devmajor, m.devminor)
            entries[p] = e
    for g, members in groups.items():
        for p in members:
            if p in entries:
                entries[p]["hardlinks"] = " ".join(sorted(members))
    return entries


def describe(e):
    s = "%s %s %s" % (e["type"], e["mode"], e["owner"])
    if e["type"] == "file":
        s += " size=%s sha256=%s" % (e.get("size"), e.get("sha256"))
    if "target" in e:
        s += " -> %s" % e["target"]
    if "device" in e:
        s += " dev=%s" % e["device"]
    if "hardlinks" in e:
        s += " hardlinks=[%s]" % e["hardlinks"]
    return s


def compare_trees(d, b):
    out = []
    for p in sorted(set(d) | set(b)):
        de, be = d.get(p), b.get(p)
        if de is None:
            out.append("fs /%s: only in berth: %s" % (p, describe(be)))
        elif be is None:
            out.append("fs /%s: only in docker: %s" % (p, describe(de)))
        elif de != be:
            keys = [k for k in ("type", "mode", "owner", "size", "sha256", "target", "device",
                                "hardlinks") if de.get(k) != be.get(k)]
            out.append("fs /%s: %s: docker %s / berth %s" % (
                p, ",".join(keys), " ".join(str(de.get(k)) for k in keys),
                " ".join(str(be.get(k)) for k in keys)))
    if len(out) > MAX_FS_LINES:
        out = out[:MAX_FS_LINES] + ["fs: … and %d more differences" % (len(out) - MAX_FS_LINES)]
    return out


def norm_field(name, value):
    if name in OMITEMPTY and value in (None, {}, [], ""):
        return None
    if name in STRINGS and value is None:
        return ""
    if name == "Healthcheck" and isinstance(value, dict):
        # Durations and retries are omitempty inside HealthConfig.
        return {k: v for k, v in value.items() if v not in (0, None, "", [])}
    return value


def compare_configs(dc, bc):
    out = []
    for f in CONFIG_FIELDS:
        dv, bv = norm_field(f, dc.get(f)), norm_field(f, bc.get(f))
        if dv != bv:
            out.append("config %s: docker %s / berth %s" % (
                f, json.dumps(dv, sort_keys=True, ensure_ascii=False),
                json.dumps(bv, sort_keys=True, ensure_ascii=False)))
    return out


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def last_line(log):
    lines = [l for l in log.splitlines() if l.strip()]
    return lines[-1].strip() if lines else "(no output)"


def compare_case(corpus, results, name):
    """Returns (verdict, lines): verdict is ok, differs or broken."""
    case = os.path.join(corpus, name)
    expect_fail = os.path.exists(os.path.join(case, "expect-fail"))
    side = {s: os.path.join(results, name, s) for s in ("docker", "berth")}
    status = {}
    for s, d in side.items():
        st = read(os.path.join(d, "status")).strip()
        if not st:
            return "broken", ["%s: the build did not run (no status)" % s]
        status[s] = int(st)
    logs = {s: read(os.path.join(side[s], "log")) for s in side}
    dfail, bfail = status["docker"] != 0, status["berth"] != 0
    if expect_fail:
        if dfail and bfail:
            return "ok", []
        if not dfail:
            return "broken", ["expect-fail, but docker built it (berth: exit %d: %s)" %
                              (status["berth"], last_line(logs["berth"]))]
        return "differs", ["docker fails (exit %d: %s); berth builds it (exit 0)" %
                           (status["docker"], last_line(logs["docker"]))]
    if dfail and bfail:
        return "broken", ["both builds failed: docker exit %d: %s / berth exit %d: %s" % (
            status["docker"], last_line(logs["docker"]), status["berth"],
            last_line(logs["berth"]))]
    if dfail != bfail:
        return "differs", ["docker exit %d%s / berth exit %d%s" % (
            status["docker"], (": " + last_line(logs["docker"])) if dfail else "",
            status["berth"], (": " + last_line(logs["berth"])) if bfail else "")]
    lines = []
    for s in side:
        err = read(os.path.join(side[s], "error")).strip()
        if err:
            lines.append("%s: after the build: %s" % (s, err))
    if lines:
        return "differs", lines
    cfg = {}
    for s in side:
        try:
            cfg[s] = json.loads(read(os.path.join(side[s], "config.json"), "null")) or {}
        except ValueError as e:
            return "broken", ["%s: config.json: %s" % (s, e)]
    lines += compare_configs(cfg["docker"], cfg["berth"])
    authors = {s: read(os.path.join(side[s], "author.json")).strip() or '""' for s in side}
    if json.loads(authors["docker"]) != json.loads(authors["berth"]):
        lines.append("image Author: docker %s / berth %s" % (authors["docker"], authors["berth"]))
    trees = {s: read_tree(os.path.join(side[s], "fs.tar")) for s in side}
    lines += compare_trees(trees["docker"], trees["berth"])
    return ("differs" if lines else "ok"), lines


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    corpus, results = argv[1], argv[2]
    names = argv[3:] or sorted(n for n in os.listdir(corpus)
                               if os.path.isfile(os.path.join(corpus, n, "Dockerfile")))
    counts = {"ok": 0, "documented": 0, "differs": 0, "broken": 0}
    failed = []
    for name in names:
        verdict, lines = compare_case(corpus, results, name)
        documented = read(os.path.join(corpus, name, "difference")).strip()
        if verdict == "differs" and documented:
            verdict = "documented"
        label = {"ok": "ok", "documented": "documented difference", "differs": "DIFF",
                 "broken": "BROKEN"}[verdict]
        counts[verdict] += 1
        print("%-22s %s" % ("[" + label + "]", name))
        for l in lines:
            print("      " + l)
        if verdict == "ok" and documented:
            print("      note: its documented difference did not show")
        if verdict in ("differs", "broken"):
            failed.append(name)
    print("\n%d cases: %d ok, %d documented differences, %d differ, %d broken" % (
        len(names), counts["ok"], counts["documented"], counts["differs"], counts["broken"]))
    if failed:
        print("failed: " + " ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
