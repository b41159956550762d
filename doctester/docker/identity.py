"""The names the Docker profile gives what it makes on the outer engine.

Three settings, with neutral defaults a project replaces in its pytest.ini:
the namespace of the labels on a run's sandboxes and networks
(`doc_label_namespace`), the image the sandboxes run (`doc_sandbox_image`)
and their hostname (`doc_sandbox_hostname`). A run's label is how reaping
recognizes what a killed run left, so whatever creates or reaps a run's
objects derives the label from the same namespace (`run_label`); tools run
outside pytest read it from the project's ini file (`Identity.from_ini`).
"""
from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

DEFAULT_LABEL_NAMESPACE = "org.doctester"
DEFAULT_SANDBOX_IMAGE = "doctester/sandbox:latest"
DEFAULT_HOSTNAME = "sandbox"
# The sections pytest reads its ini options from, in pytest.ini, tox.ini and setup.cfg.
INI_SECTIONS = ("pytest", "tool:pytest")


def run_label(namespace: str = DEFAULT_LABEL_NAMESPACE) -> str:
    """The label key whose value is a run's id, on each object it creates."""
    return f"{namespace}.doctest.run"


def role_label(namespace: str = DEFAULT_LABEL_NAMESPACE) -> str:
    """`key=value` of the label every sandbox image carries."""
    return f"{namespace}.role=doctest-sandbox"


@dataclass(frozen=True)
class Identity:
    label_namespace: str = DEFAULT_LABEL_NAMESPACE
    sandbox_image: str = DEFAULT_SANDBOX_IMAGE
    hostname: str = DEFAULT_HOSTNAME

    @property
    def run_label(self) -> str:
        return run_label(self.label_namespace)

    @property
    def role_label(self) -> str:
        return role_label(self.label_namespace)

    @classmethod
    def from_ini(cls, path: str | os.PathLike[str]) -> Identity:
        """The settings a pytest ini file gives (defaults for those it leaves out)."""
        values = ini_settings(path)
        return cls(values.get("label_namespace") or DEFAULT_LABEL_NAMESPACE,
                   values.get("sandbox_image") or DEFAULT_SANDBOX_IMAGE,
                   values.get("sandbox_hostname") or DEFAULT_HOSTNAME)


def ini_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """The harness's `doc_*` options of a pytest ini file, without the prefix
    (empty if the file or its section is missing)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    section = next((parser[name] for name in INI_SECTIONS if parser.has_section(name)), None)
    if section is None:
        return {}
    return {key.removeprefix("doc_"): value.strip() for key, value in section.items() if key.startswith("doc_")}
