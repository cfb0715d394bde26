"""`mailworker ledger init`: create what is missing (keys, empty replica stores) and show
the public keys to paste into a production configuration. Safe to run again: nothing
that exists is changed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..private import private_dir
from .errors import LedgerProblem
from .handle import open_ledger
from .keys import create_secret_file, generate_signer, skey_text
from .layout import ensure_embedded_keys, replica_specs, verifier_for

PUBLIC_KEYS_FILE = "public-keys.txt"


@dataclass
class InitReport:
    created_keys: list[Path] = field(default_factory=list)
    public_keys: list[tuple[str, str, str]] = field(default_factory=list)  # name, b64, vkey
    stores: list[tuple[str, str]] = field(default_factory=list)           # name, state
    keys_file: Path | None = None

    def text(self) -> str:
        lines = []
        for p in self.created_keys:
            lines.append(f"created {p} (mode 0600)")
        lines.append("replica stores:")
        lines.extend(f"  {name}: {state}" for name, state in self.stores)
        lines.append("public keys (for [[ledger.replicas]] public_key in a production "
                     "configuration):")
        for name, b64, vkey in self.public_keys:
            lines.append(f"  {name}: public_key = \"{b64}\"")
            lines.append(f"  {'':{len(name)}}  verifier key {vkey}")
        if self.keys_file:
            lines.append(f"the same keys are in {self.keys_file} (give it to "
                         "`mailworker ledger verify-receipt --keys`)")
        return "\n".join(lines)


def init_ledger(cfg) -> InitReport:
    report = InitReport()
    report.created_keys.extend(ensure_embedded_keys(cfg))
    specs = replica_specs(cfg)
    for spec in specs:
        # A production key file named in the configuration but not there yet: make it here.
        if spec.key_file is not None and not spec.key_file.exists() and spec.public_key is None:
            create_secret_file(spec.key_file,
                           (skey_text(generate_signer(spec.name)) + "\n").encode("ascii"))
            report.created_keys.append(spec.key_file)
    handle = open_ledger(cfg, create_missing=True)
    try:
        for spec in specs:
            rep = handle.replicas.get(spec.name)
            if rep is None:
                report.stores.append((spec.name, f"not available: {handle.down[spec.name]}"))
                continue
            try:
                report.stores.append((spec.name, f"{spec.display_url} ({rep.size()} leaves)"))
            except LedgerProblem as exc:
                report.stores.append((spec.name, f"error: {exc}"))
    finally:
        handle.close()
    lines = []
    for spec in specs:
        v = verifier_for(spec)
        if v is None:
            continue
        report.public_keys.append((spec.name, v.b64(), v.vkey()))
        lines.append(v.vkey())
    directory = Path(cfg.ledger.directory)
    private_dir(directory)
    keys_file = directory / PUBLIC_KEYS_FILE
    keys_file.write_text("# verifier keys of the ledger replicas (public; safe to share)\n"
                         + "\n".join(lines) + "\n", encoding="utf-8")
    report.keys_file = keys_file
    return report
