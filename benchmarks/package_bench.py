"""Per-member encrypted packages: mailworker (pyzipper) against `7zz a -tzip -mem=AES256`.

Both sides do the same work for every member: an AES-256 zip holding the installer, the
member's manifest.json and the README, with the member's own password. mailworker
deflates the installer once per release (timed, counted in its total) and then only
encrypts per member; 7zz compresses and encrypts each package from scratch, as a staff
member scripting 7-Zip would. A few packages are also made the plain pyzipper way
(deflate + encrypt each time) to show what the one-time deflate saves.

    python benchmarks/package_bench.py            # 100 members, 50 MB installer
    python benchmarks/package_bench.py --quick    # 10 members, 5 MB (CI size)

The installer is synthetic: 80 % random bytes (like the compressed payload of a real
installer) and 20 % repetitive resource tables. The ratio printed is mailworker's time
over 7zz's, measured in the same run (target: at most 2.0).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
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


def run(members: int, size_mb: float, naive: int, work: Path) -> dict:
    installer = work / "S-Wallet-Setup.exe"
    make_installer(installer, int(size_mb * 1_000_000))
    cfg = config_mod.build({"general": {"state_dir": str(work / "state")}},
                           work / "mailworker.toml")
    uuids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(members)]
    fingerprints = [f"{i:064x}" for i in range(members)]

    # mailworker: one release build, then one package per member.
    t0 = time.monotonic()
    release, _ = build_release(cfg, CLOCK, installer, "1.0.0")
    t_build = time.monotonic() - t0
    out_dir = work / "ours"
    t0 = time.monotonic()
    ours_bytes = 0
    for uuid, fp in zip(uuids, fingerprints):
        pkg = build_member_package(release, out_dir / f"{fp[:16]}.zip", fp,
                                   password_from_key(RELEASE_KEY, "1.0.0", uuid),
                                   CLOCK.now(), "서울 블록체인 거버넌스")
        ours_bytes += pkg.size
        pkg.path.unlink()          # keep the disk use of a long run bounded
    t_ours = time.monotonic() - t0 + t_build

    # 7zz: the same files per member, compressed and encrypted by 7-Zip each time.
    seven = shutil.which("7zz")
    if seven is None:
        raise SystemExit("7zz not found: apt-get install -y 7zip")
    staging = work / "7zz-in"
    staging.mkdir()
    os.link(installer, staging / installer.name)
    t0 = time.monotonic()
    seven_bytes = 0
    for uuid, fp in zip(uuids, fingerprints):
        (staging / "manifest.json").write_text(json.dumps(
            {"version": "1.0.0", "installer_sha256": release.installer_sha256,
             "member_fingerprint": fp}, indent=2))
        (staging / "README.txt").write_text("이 파일은 받는 단원 한 분을 위해 만들어졌습니다.\n")
        target = work / "7zz-out.zip"
        subprocess.run([seven, "a", "-tzip", "-mem=AES256",
                        f"-p{password_from_key(RELEASE_KEY, '1.0.0', uuid)}", str(target),
                        installer.name, "manifest.json", "README.txt"],
                       cwd=staging, check=True, stdout=subprocess.DEVNULL)
        seven_bytes += target.stat().st_size
        target.unlink()
    t_seven = time.monotonic() - t0

    # Plain pyzipper (deflate + encrypt for every package), a few only.
    t0 = time.monotonic()
    for uuid in uuids[:naive]:
        with pyzipper.AESZipFile(work / "naive.zip", "w", compression=pyzipper.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as zf:
            zf.setpassword(password_from_key(RELEASE_KEY, "1.0.0", uuid).encode())
            zf.write(installer, installer.name)
        (work / "naive.zip").unlink()
    t_naive = (time.monotonic() - t0) / naive if naive else None

    return {
        "members": members, "installer_mb": size_mb, "method": release.method,
        "release_build_s": round(t_build, 3),
        "mailworker_total_s": round(t_ours, 3),
        "mailworker_per_package_s": round(t_ours / members, 4),
        "7zz_total_s": round(t_seven, 3),
        "7zz_per_package_s": round(t_seven / members, 4),
        "ratio_mailworker_over_7zz": round(t_ours / t_seven, 3),
        "naive_pyzipper_per_package_s": round(t_naive, 4) if t_naive else None,
        "mailworker_avg_package_mb": round(ours_bytes / members / 1e6, 2),
        "7zz_avg_package_mb": round(seven_bytes / members / 1e6, 2),
        "cpu_count": os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--naive", type=int, default=3,
                        help="packages made the plain pyzipper way, for comparison")
    parser.add_argument("--quick", action="store_true", help="10 members, 5 MB installer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.size_mb, args.naive = 10, 5.0, 2
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        result = run(args.members, args.size_mb, args.naive, Path(tmp))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['members']} packages of a {result['installer_mb']} MB installer "
          f"(installer {result['method']} in the zip; {result['cpu_count']} CPUs)")
    print(f"  mailworker: {result['mailworker_total_s']:8.2f} s "
          f"({result['mailworker_per_package_s']:.3f} s/package, incl. release build "
          f"{result['release_build_s']:.2f} s), avg {result['mailworker_avg_package_mb']} MB")
    print(f"  7zz:        {result['7zz_total_s']:8.2f} s "
          f"({result['7zz_per_package_s']:.3f} s/package), avg "
          f"{result['7zz_avg_package_mb']} MB")
    if result["naive_pyzipper_per_package_s"]:
        print(f"  plain pyzipper, deflate every time: "
              f"{result['naive_pyzipper_per_package_s']:.3f} s/package")
    ratio = result["ratio_mailworker_over_7zz"]
    print(f"  ratio mailworker/7zz: {ratio:.2f} (target <= 2.0: "
          f"{'met' if ratio <= 2.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
