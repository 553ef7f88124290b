"""The policy in force: builtin + config + file, and a file edited while the bot runs."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.rbac.source import PolicySource

SYNC_STAGING = "p, slack:UDEV, applications, sync, staging/*, allow\n"
SYNC_PROD = "p, slack:UDEV, applications, sync, prod/*, allow\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str) -> None:
    """Replace the file the way a ConfigMap update does: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _may_sync(source: PolicySource, obj: str) -> bool:
    return source.current().can(["slack:UDEV"], resource="applications", action="sync", obj=obj)


def test_file_edit_changes_the_next_decision(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    _write(path, SYNC_STAGING)
    source = PolicySource(path=path, check_interval=0)
    assert _may_sync(source, "staging/web/shop")
    assert not _may_sync(source, "prod/web/shop")

    _write(path, SYNC_PROD)
    assert _may_sync(source, "prod/web/shop")
    assert not _may_sync(source, "staging/web/shop")


def test_in_place_edit_is_seen_too(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    path.write_text(SYNC_STAGING, encoding="utf-8")
    source = PolicySource(path=path, check_interval=0)
    path.write_text(SYNC_STAGING + SYNC_PROD, encoding="utf-8")
    assert _may_sync(source, "prod/web/shop")


def test_broken_edit_keeps_the_last_good_policy_and_logs_every_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.csv"
    _write(path, SYNC_STAGING)
    source = PolicySource(path=path, check_interval=0)

    _write(path, SYNC_PROD + "p, slack:UDEV, applications, sync\ng, slack:UDEV\n")
    with caplog.at_level(logging.ERROR, logger="bot.rbac.source"):
        assert _may_sync(source, "staging/web/shop")  # the last good policy still rules
    assert not _may_sync(source, "prod/web/shop")
    assert source.problems == [
        f"{path}: line 2: a p line needs 6 fields "
        "(p, subject, resource, action, object, allow|deny), found 4",
        f"{path}: line 3: a g line needs 3 fields (g, subject, role), found 2",
    ]
    assert "was not reloaded" in caplog.text and "line 2" in caplog.text and "line 3" in caplog.text

    _write(path, SYNC_PROD)
    assert _may_sync(source, "prod/web/shop")
    assert source.problems == []


def test_removed_file_keeps_the_last_good_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    _write(path, SYNC_STAGING)
    source = PolicySource(path=path, check_interval=0)
    path.unlink()
    assert _may_sync(source, "staging/web/shop")
    assert source.problems == [f"{path}: policy file not found (rbac.policy_file)"]


def test_the_file_is_checked_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    _write(path, SYNC_STAGING)
    clock = Clock()
    source = PolicySource(path=path, check_interval=5.0, clock=clock)
    _write(path, SYNC_PROD)
    clock.now += 4.9
    assert not _may_sync(source, "prod/web/shop")
    clock.now += 0.2
    assert _may_sync(source, "prod/web/shop")


def test_a_broken_policy_at_start_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    _write(path, "# ok\np, slack:UDEV, applications, deploy, *, allow\n")
    with pytest.raises(ConfigError) as caught:
        PolicySource(path=path)
    assert caught.value.problems == [
        f"{path}: line 2: unknown action 'deploy' for applications: "
        "expected one of get, sync, rollback, update or *"
    ]
    with pytest.raises(ConfigError, match="policy file not found"):
        PolicySource(path=tmp_path / "missing.csv")


def test_from_settings_merges_builtin_admins_inline_and_file(tmp_path: Path) -> None:
    (tmp_path / "policy.csv").write_text("g, group:payments, role:deployer\n", encoding="utf-8")
    config = tmp_path / "chatops.yaml"
    config.write_text(
        "rbac:\n"
        "  default_role: role:readonly\n"
        "  admin_subjects: [slack:UBOSS]\n"
        "  policy_file: policy.csv\n"
        "  policy: |\n"
        "    p, role:deployer, applications, sync, staging/*, allow\n",
        encoding="utf-8",
    )
    source = PolicySource.from_settings(load_settings(config, {}))
    enforcer = source.current()
    assert enforcer.can(
        ["slack:U1", "group:payments"], resource="applications", action="sync", obj="staging/a/b"
    )
    assert not enforcer.can(["slack:U1"], resource="applications", action="sync", obj="staging/a/b")
    assert enforcer.can(["slack:U1"], resource="applications", action="get", obj="prod/a/b")  # default role
    assert enforcer.can(["slack:UBOSS"], resource="audit", action="get", obj="*")
    assert [(part.source, part.lines) for part in source.parts] == [
        ("builtin policy", 24),
        ("rbac.admin_subjects", 1),
        (f"{config}: rbac.policy", 1),
        (str(tmp_path / "policy.csv"), 1),
    ]


def test_inline_policy_errors_name_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text("rbac:\n  policy: |\n    # fine\n    p, role:x, workflows, get\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        PolicySource.from_settings(load_settings(config, {}))
    assert caught.value.problems[0].startswith(f"{config}: rbac.policy: line 2: a p line needs 6 fields")


def test_readers_in_many_threads_while_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.csv"
    _write(path, SYNC_STAGING)
    source = PolicySource(path=path, check_interval=0)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                _may_sync(source, "staging/web/shop")
        except BaseException as exc:  # any crash in a reader fails the test
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for index in range(20):
        _write(path, SYNC_STAGING + f"p, slack:U{index}, workflows, get, *, allow\n")
        source.current()
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert source.current().can(["slack:U19"], resource="workflows", action="get", obj="a/b/c")


def _config(rbac_yaml: str) -> str:
    return "rbac:\n" + "".join(f"  {line}\n" for line in rbac_yaml.splitlines())


def test_inline_policy_edit_in_the_config_file_changes_the_next_decision(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    _write(config, _config(f"policy: |\n  {SYNC_STAGING}"))
    source = PolicySource.from_settings(load_settings(config, {}), check_interval=0)
    assert _may_sync(source, "staging/shop/api") and not _may_sync(source, "prod/shop/api")

    _write(config, _config(f"policy: |\n  {SYNC_PROD}"))
    assert _may_sync(source, "prod/shop/api") and not _may_sync(source, "staging/shop/api")

    _write(config, _config("policy: |\n  p, only, three\ndefault_role: role:readonly"))
    assert _may_sync(source, "prod/shop/api"), "a broken edit keeps the last good policy"
    assert any("rbac.policy" in problem for problem in source.problems)

    _write(config, _config("default_role: role:admin"))
    assert _may_sync(source, "anything/at/all") and source.problems == []


def test_a_config_file_that_no_longer_validates_keeps_the_policy(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    _write(config, _config(f"policy: |\n  {SYNC_STAGING}"))
    source = PolicySource.from_settings(load_settings(config, {}), check_interval=0)
    _write(config, "rbac:\n  polcy: oops\n")
    assert _may_sync(source, "staging/shop/api")
    assert any("rbac.polcy" in problem for problem in source.problems)
