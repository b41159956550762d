"""What the profiles answer when the run is configured. Each hook is asked
of each profile in turn, so that a hook that raises, or answers what is not
of the documented type, is one usage error naming the profile and the hook."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import pytest

from . import hookspecs
from .annotations import AnnotationKey
from .contract import Provider
from .core_kinds import CORE_KINDS
from .kinds import BlockKind, BlockKinds, KindError
from .matching import LineFold, Normalizer

# The distribution whose profiles (and those of the distributions that need it) are read outside pytest.
DISTRIBUTION = "doctester-docker"


def _answers(relay: pluggy.HookRelay, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """(profile, answer) of each implementation of `hook`, in pluggy's order,
    each asked when the one before has answered; None answers left out."""
    for impl in reversed(getattr(relay, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            answer = impl.function(**{name: kwargs[name] for name in impl.argnames})
        except pytest.UsageError:
            raise
        except Exception as error:
            raise pytest.UsageError(f"doctester: the hook {hook} raised {type(error).__name__}: {error} "
                                    f"(in the profile {impl.plugin_name})") from None
        if answer is not None:
            yield impl.plugin_name, answer


def _wrong(hook: str, profile: str, answer: object, expected: str) -> pytest.UsageError:
    return pytest.UsageError(f"doctester: the hook {hook} of the profile {profile} returned {answer!r:.200}, "
                             f"not {expected}")


def listed(relay: pluggy.HookRelay, hook: str, *types: type, **kwargs: Any) -> list[tuple[str, list[Any]]]:
    """(profile, items) for a hook whose answer is a list of `types`."""
    expected = "a list of " + " or ".join(t.__name__ for t in types)
    answers = list(_answers(relay, hook, **kwargs))
    for profile, answer in answers:
        if not isinstance(answer, (list, tuple)) or not all(isinstance(item, types) for item in answer):
            raise _wrong(hook, profile, answer, expected)
    return [(profile, list(answer)) for profile, answer in answers]


def annotation_keys(config: pytest.Config) -> list[AnnotationKey]:
    return [key for _, keys in listed(config.hook, "pytest_doctester_annotation_keys", AnnotationKey) for key in keys]


def normalizers(config: pytest.Config) -> list[Normalizer | LineFold]:
    return [n for _, found in listed(config.hook, "pytest_doctester_normalizers", Normalizer, LineFold) for n in found]


def cache_inputs(config: pytest.Config) -> list[Path]:
    return [Path(p) for _, paths in listed(config.hook, "pytest_doctester_cache_inputs", str, Path, config=config)
            for p in paths]


def block_kinds(relay: pluggy.HookRelay) -> BlockKinds:
    """The core's kinds and each profile's; a language two kinds claim is refused."""
    kinds = CORE_KINDS
    for profile, found in listed(relay, "pytest_doctester_block_kinds", BlockKind):
        try:
            kinds = kinds.extended(f"the profile {profile}", found)
        except KindError as error:
            raise pytest.UsageError(f"doctester: the hook pytest_doctester_block_kinds of the profile {profile}: "
                                    f"{error}") from None
    return kinds


def environment_provider(config: pytest.Config, worker: str, default: Callable[[], Provider]) -> Provider:
    """The first profile's provider of environments, else `default()`."""
    hook = "pytest_doctester_environment"
    for profile, answer in _answers(config.hook, hook, config=config, worker=worker):
        if not isinstance(answer, Provider):
            raise _wrong(hook, profile, answer, "a provider of environments (check, get, describe, close)")
        return answer
    return default()


@cache
def installed_block_kinds() -> BlockKinds:
    """The kinds pytest would run pages with, for readers of pages outside
    pytest (the site's marks): those of the profiles that this distribution,
    and the distributions that need it, install as pytest plugins."""
    manager = pytest.PytestPluginManager()  # reads a plugin's hooks as pytest does
    manager.add_hookspecs(hookspecs)
    for entry in entry_points(group="pytest11"):
        if entry.dist is None:
            continue
        needs = {re.split(r"[^\w.-]", requirement, maxsplit=1)[0].lower() for requirement in entry.dist.requires or []}
        if DISTRIBUTION in needs | {entry.dist.name.lower()}:
            manager.register(entry.load(), name=entry.name)
    return block_kinds(manager.hook)
