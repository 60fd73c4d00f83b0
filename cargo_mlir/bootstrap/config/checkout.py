"""A rust checkout and its bootstrap.toml (config.toml in older checkouts): where it
is, what `x.py setup` would write, and the effective value of a key (file, profile or
default)."""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from cargo_mlir.bootstrap.config import keys as K
from cargo_mlir.bootstrap.config import toml_edit as T
from cargo_mlir.errors import CargoMlirError

log = logging.getLogger("cargo_mlir.bootstrap.config")

CHANGE_TRACKER = Path("src/bootstrap/src/utils/change_tracker.rs")


def find_checkout(start: Path | None) -> Path:
    def is_checkout(d: Path) -> bool:
        return (d / "x.py").is_file() or (d / "src" / "bootstrap").is_dir()

    if start is not None:
        if not is_checkout(start):
            raise CargoMlirError(f"{start} is not a rust checkout (it has no x.py or "
                                 "src/bootstrap)", hint="pass the top directory of a "
                                                        "rust-lang/rust clone to --rust-src")
        return start.resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if is_checkout(d):
            return d
    raise CargoMlirError(f"no rust checkout in {here} or its parents (looked for x.py and "
                         "src/bootstrap)", hint="run this inside a rust-lang/rust clone, or "
                                                "pass --rust-src DIR")


def config_path(checkout: Path) -> Path:
    """bootstrap.toml, else config.toml (renamed by rust change 137081); a new file is named
    after the example file the checkout has."""
    for name in ("bootstrap.toml", "config.toml"):
        if (checkout / name).exists():
            return checkout / name
    old = not (checkout / "bootstrap.example.toml").exists() and any(
        (checkout / n).exists() for n in ("config.example.toml", "config.toml.example"))
    return checkout / ("config.toml" if old else "bootstrap.toml")


def latest_change_id(checkout: Path) -> int | None:
    """The last `change_id:` in CONFIG_CHANGE_HISTORY, the one `x.py setup` writes."""
    try:
        text = (checkout / CHANGE_TRACKER).read_text(encoding="utf-8")
    except OSError:
        return None
    text = text[max(text.find("CONFIG_CHANGE_HISTORY"), 0):]
    ids = re.findall(r"\bchange_id\s*:\s*([0-9][0-9_]*)", text)
    return int(ids[-1].replace("_", "")) if ids else None


def new_file_text(checkout: Path, profile: str) -> str:
    """What `x.py setup <profile>` writes (build_steps/setup.rs, `setup_config_toml`)."""
    example = next((n for n in ("bootstrap.example.toml", "config.example.toml")
                    if (checkout / n).exists()), "bootstrap.example.toml")
    text = (f"# See {example} for documentation of available options\n#\n"
            f'profile = "{profile}"  # Includes one of the default files in '
            "src/bootstrap/defaults\n")
    change_id = latest_change_id(checkout)
    return text + (f"change-id = {change_id}\n" if change_id is not None else "")


@dataclass
class Config:
    checkout: Path
    path: Path
    text: str | None            # None: the file does not exist (yet)
    doc: tomlkit.TOMLDocument

    @classmethod
    def load(cls, checkout: Path) -> "Config":
        path = config_path(checkout)
        text, doc = T.read(path)
        return cls(checkout, path, text, doc)

    def create(self, profile: str) -> None:
        self.doc = T.parse(new_file_text(self.checkout, profile), self.path)

    def plain(self) -> dict:
        return self.doc.unwrap()

    def profile(self) -> tuple[str | None, Path | None, dict]:
        """The profile's name, the file in src/bootstrap/defaults it includes (None when
        the checkout has none) and that file's values; its `include`s are not followed."""
        name = self.plain().get("profile")
        stem = K.PROFILE_FILES.get(name) if isinstance(name, str) else None
        for file in (f"bootstrap.{stem}.toml", f"config.{stem}.toml") if stem else ():
            path = Path("src/bootstrap/defaults") / file
            try:
                return name, path, tomllib.loads((self.checkout / path).read_text("utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                log.debug("profile defaults %s: %s", path, exc)
        return name, None, {}

    def effective(self, key: str | tuple[str, ...]) -> tuple[object, str]:
        """The value bootstrap uses and where it comes from: the file, the profile, or the
        default (T.MISSING when there is none)."""
        parts = tuple(key.split(".")) if isinstance(key, str) else key
        value = T.lookup(self.plain(), parts)
        if value is not T.MISSING:
            return value, self.path.name
        name, _, defaults = self.profile()
        value = T.lookup(defaults, parts)
        if value is not T.MISSING:
            return value, f"profile {name}"
        shown = next((s for s in K.SHOWN if s.key == T.dotted(parts)), None)
        if shown is None or shown.default is None:
            return T.MISSING, shown.note if shown and shown.note else "unset"
        return shown.default, "default"

    def set(self, key: str | tuple[str, ...], value: object) -> None:
        parts = tuple(key.split(".")) if isinstance(key, str) else key
        inline = lambda p: K.key_type(p) == K.TABLE       # noqa: E731
        if T.lookup(self.plain(), parts) is T.MISSING:
            # a new key of a section written as dotted keys (rust's current example
            # layout) goes with them, not into a `[section]` at the end
            text = T.insert_dotted(self.doc.as_string(), parts, value, inline)
            if text is not None:
                self.doc = T.parse(text, self.path)
                return
        T.set_path(self.doc, parts, value, inline=inline)
