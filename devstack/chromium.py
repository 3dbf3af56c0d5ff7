"""Headless Chromium and its chromedriver for the browser tests, from the distribution.

This module owns finding the two binaries the partner portal's Selenium tests drive
(:func:`find`: ``chromium`` and ``chromedriver`` on ``PATH``) and installing them when
missing (:func:`ensure_installed`: Debian's ``chromium`` and ``chromium-driver`` with apt-get
as root, otherwise one line saying what to install). ``make test`` calls::

    python -m devstack.chromium ensure

The tests never download a browser or a driver themselves: without these two they fail,
saying what to install.
"""

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

from devstack import DevstackError, apt_install

BROWSER = "chromium"
DRIVER = "chromedriver"
PACKAGES = {BROWSER: "chromium", DRIVER: "chromium-driver"}
"""Each binary and the Debian package that installs it."""
INSTALL = "run `apt-get install -y chromium chromium-driver` (or `make chromium` as root)"
INSTALL_HINT = f"chromium and chromedriver not found: {INSTALL}"


@dataclass(frozen=True)
class Chromium:
    browser: Path
    driver: Path


def find() -> Chromium | None:
    """Both binaries on ``PATH``, or None when either is missing."""
    browser, driver = shutil.which(BROWSER), shutil.which(DRIVER)
    if browser is None or driver is None:
        return None
    return Chromium(Path(browser), Path(driver))


def missing() -> list[str]:
    """The binaries not on ``PATH`` (of ``chromium`` and ``chromedriver``)."""
    return [name for name in PACKAGES if shutil.which(name) is None]


def ensure_installed() -> Chromium:
    """Return both binaries, installing Debian's packages with apt-get when root."""
    for name in missing():
        apt_install(PACKAGES[name], hint=INSTALL_HINT)
    found = find()
    if found is None:
        raise DevstackError(INSTALL_HINT)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.chromium", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="install chromium and chromedriver if missing")
    parser.parse_args(argv)
    try:
        found = ensure_installed()
    except DevstackError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(found.browser)
    print(found.driver)


if __name__ == "__main__":
    main()
