"""Per-member encrypted packages: mailworker against the fairest per-member baselines.

Every side makes, for every member, an AES-256 zip (WinZip AE-2) holding the installer,
the member's manifest.json and the README, with the member's own password. mailworker
deflates the installer once per release (timed, counted in its total) and then only
encrypts per member. The baselines, measured in the same run:

- ``7zz -mx0``: ``7zz a -tzip -mem=AES256 -mx0`` per member (store + encrypt): the tool a
  staff member would script, doing the same per-member work (the target: mailworker at
  most 1.0x of it per package);
- ``AES-CTR + HMAC``: the limit underneath, AES-256-CTR and HMAC-SHA1 over the same bytes
  in memory (OpenSSL through ``cryptography``, hashlib), no zip, no files;
- ``7zz`` (compressing) and plain pyzipper (deflate + encrypt each time), a few packages
  each, to show what deflating once per release saves.

Each side runs ``--repeat`` rounds (default 3), taking turns; the median round is shown
with the spread of all rounds.

    python benchmarks/package_bench.py            # 100 members, 50 MB installer
    python benchmarks/package_bench.py --quick    # 10 members, 5 MB (CI size)

The installer is synthetic: 80 % random bytes (like the compressed payload of a real
installer) and 20 % repetitive resource tables.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyzipper

from mailworker import config as config_mod
from mailworker.clock import FixedClock
from mailworker.outbound.packages import (build_member_package, build_release,
                                          password_from_key)

CLOCK = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
RELEASE_KEY = b"benchmark-release-key"


def make_installer(path: Path, size: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    random_part = int(size * 0.8)
    table = b"".join(f"IDS_STRING_{i:05d}=서울 블록체인 지갑 리소스 {i}\r\n".encode()
                     for i in range(2000))
    with open(path, "wb") as fh:
        fh.write(rng.randbytes(random_part))
        left = size - random_part
        while left > 0:
            chunk = table[:left]
            fh.write(chunk)
            left -= len(chunk)


def _ours(release, out_dir: Path, uuids, fingerprints) -> tuple[float, int]:
    t0 = time.perf_counter()
    nbytes = 0
    for uuid, fp in zip(uuids, fingerprints):
        pkg = build_member_package(release, out_dir / f"{fp[:16]}.zip", fp,
                                   password_from_key(RELEASE_KEY, "1.0.0", uuid),
                                   CLOCK.now(), "서울 블록체인 거버넌스")
        nbytes += pkg.size
        pkg.path.unlink()          # keep the disk use of a long run bounded
    return time.perf_counter() - t0, nbytes


def _seven(seven: str, staging: Path, work: Path, installer: Path, release, uuids,
           fingerprints, level: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    nbytes = 0
    for uuid, fp in zip(uuids, fingerprints):
        (staging / "manifest.json").write_text(json.dumps(
            {"version": "1.0.0", "installer_sha256": release.installer_sha256,
             "member_fingerprint": fp}, indent=2))
        (staging / "README.txt").write_text("이 파일은 받는 단원 한 분을 위해 만들어졌습니다.\n")
        target = work / "7zz-out.zip"
        subprocess.run([seven, "a", "-tzip", "-mem=AES256", *level,
                        f"-p{password_from_key(RELEASE_KEY, '1.0.0', uuid)}", str(target),
                        installer.name, "manifest.json", "README.txt"],
                       cwd=staging, check=True, stdout=subprocess.DEVNULL)
        nbytes += target.stat().st_size
        target.unlink()
    return time.perf_counter() - t0, nbytes


def _limit(stream: bytes, members: int) -> float:
    """AES-256-CTR + HMAC-SHA1 over the bytes each package encrypts, nothing else."""
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    t0 = time.perf_counter()
    for i in range(members):
        key = hashlib.sha256(b"%d" % i).digest()
        data = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(stream)
        hmac.new(key, data, hashlib.sha1).digest()
    return time.perf_counter() - t0


def _spread(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 4), "min": round(ordered[0], 4),
            "max": round(ordered[-1], 4), "runs": [round(v, 4) for v in values]}


def run(members: int, size_mb: float, naive: int, work: Path, repeat: int = 3) -> dict:
    installer = work / "S-Wallet-Setup.exe"
    make_installer(installer, int(size_mb * 1_000_000))
    cfg = config_mod.build({"general": {"state_dir": str(work / "state")}},
                           work / "mailworker.toml")
    uuids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(members)]
    fingerprints = [f"{i:064x}" for i in range(members)]
    seven = shutil.which("7zz")
    if seven is None:
        raise SystemExit("7zz not found: apt-get install -y 7zip")

    t0 = time.perf_counter()
    release, _ = build_release(cfg, CLOCK, installer, "1.0.0")
    t_build = time.perf_counter() - t0
    stream = release.stream_path.read_bytes()
    staging = work / "7zz-in"
    staging.mkdir()
    os.link(installer, staging / installer.name)

    rounds: dict[str, list[float]] = {"mailworker": [], "7zz_mx0": [], "limit": []}
    sizes = {}
    for _ in range(repeat):          # taking turns, so a slow minute hits every side
        t, sizes["mailworker"] = _ours(release, work / "ours", uuids, fingerprints)
        rounds["mailworker"].append(t / members)
        t, sizes["7zz_mx0"] = _seven(seven, staging, work, installer, release, uuids,
                                     fingerprints, ["-mx0"])
        rounds["7zz_mx0"].append(t / members)
        rounds["limit"].append(_limit(stream, members) / members)

    few = min(members, max(naive, 1))
    t_seven_deflate, _ = _seven(seven, staging, work, installer, release, uuids[:few],
                                fingerprints[:few], [])
    t0 = time.perf_counter()
    for uuid in uuids[:naive]:
        with pyzipper.AESZipFile(work / "naive.zip", "w", compression=pyzipper.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as zf:
            zf.setpassword(password_from_key(RELEASE_KEY, "1.0.0", uuid).encode())
            zf.write(installer, installer.name)
        (work / "naive.zip").unlink()
    t_naive = (time.perf_counter() - t0) / naive if naive else None

    per = {k: _spread(v) for k, v in rounds.items()}
    ratio = [o / s for o, s in zip(rounds["mailworker"], rounds["7zz_mx0"])]
    ratio_limit = [o / s for o, s in zip(rounds["mailworker"], rounds["limit"])]
    return {
        "members": members, "installer_mb": size_mb, "method": release.method,
        "stream_mb": round(len(stream) / 1e6, 2), "repeat": repeat,
        "release_build_s": round(t_build, 3),
        "per_package_s": per,
        "ratio_mailworker_over_7zz_mx0": _spread(ratio),
        "ratio_mailworker_over_limit": _spread(ratio_limit),
        "7zz_deflate_per_package_s": round(t_seven_deflate / few, 4),
        "naive_pyzipper_per_package_s": round(t_naive, 4) if t_naive else None,
        "mailworker_avg_package_mb": round(sizes["mailworker"] / members / 1e6, 2),
        "7zz_mx0_avg_package_mb": round(sizes["7zz_mx0"] / members / 1e6, 2),
        "cpu_count": os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--naive", type=int, default=3,
                        help="packages made by 7zz compressing and the plain pyzipper way")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each side (median)")
    parser.add_argument("--quick", action="store_true", help="10 members, 5 MB installer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.size_mb, args.naive = 10, 5.0, 2
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        result = run(args.members, args.size_mb, args.naive, Path(tmp), args.repeat)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['members']} packages of a {result['installer_mb']} MB installer "
          f"(installer {result['method']} in the zip, {result['stream_mb']} MB encrypted per "
          f"package; {result['cpu_count']} CPUs; median of {result['repeat']} rounds "
          f"[min-max])")
    per = result["per_package_s"]
    for key, label in (("mailworker", "mailworker"), ("7zz_mx0", "7zz -mx0 (store+AES)"),
                       ("limit", "AES-CTR + HMAC-SHA1")):
        p = per[key]
        print(f"  {label:<22} {p['median']:.4f} s/package [{p['min']:.4f}-{p['max']:.4f}]")
    print(f"  (7zz compressing: {result['7zz_deflate_per_package_s']:.3f} s/package; plain "
          f"pyzipper deflating every time: {result['naive_pyzipper_per_package_s']} s/package;"
          f" release build once: {result['release_build_s']:.2f} s)")
    r, lim = result["ratio_mailworker_over_7zz_mx0"], result["ratio_mailworker_over_limit"]
    print(f"  ratio mailworker / 7zz -mx0: {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}] "
          f"(target <= 1.0: {'met' if r['median'] <= 1.0 else 'NOT met'})")
    print(f"  ratio mailworker / AES-CTR + HMAC limit: {lim['median']:.2f} "
          f"[{lim['min']:.2f}-{lim['max']:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
