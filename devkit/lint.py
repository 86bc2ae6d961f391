"""Helm lint (strict) of the chart with its defaults and every preset, for each tested Kubernetes version.

    python tools/lint.py

Lint findings of severity warning or error fail the run (strict); informational ones are printed.
"""

from __future__ import annotations

import argparse

import helm_python

from devkit.helm import CHART_DIR, user_values
from devkit.presets import KUBE_VERSIONS, PRESETS

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    failed = False
    for name, files in {"defaults": (), **PRESETS}.items():
        for kube_version in KUBE_VERSIONS:
            report = helm_python.lint(
                CHART_DIR,
                user_values(files),
                strict=True,
                kube_version=f"v{kube_version}.0",
                namespace="default",
            )
            problems = [m for m in report["messages"] if m["severity"] >= 2] or report["errors"]
            failed |= bool(problems)
            print(f"{'FAIL' if problems else 'ok  '} {name} (Kubernetes {kube_version})")
            for message in report["messages"]:
                print(f"     [{SEVERITY[message['severity']]}] {message['path']}: {message['error'].strip()}")
    return 1 if failed else 0
