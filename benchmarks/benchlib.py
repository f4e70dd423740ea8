"""What the benchmark scripts share: describing the machine and the checkout they ran
on, and progress lines on stderr."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """A progress line, on stderr (the results go to stdout)."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed (source checkout)"


def checkout() -> str:
    """The git commit of the checkout, and whether supportkit/ has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "supportkit"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return head + (f" with {len(changed)} changed path(s) under supportkit/" if changed else "")


def machine_lines() -> list[str]:
    """The header lines every benchmark prints: machine, CPU, CPUs usable, Python."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        f"  machine:   {platform.platform()}",
        f"  cpu:       {cpu_model()}",
        f"  nproc:     {usable or os.cpu_count()} (cpu_count {os.cpu_count()})",
        f"  python:    {platform.python_implementation()} {platform.python_version()}",
    ]
