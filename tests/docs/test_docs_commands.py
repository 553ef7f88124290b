"""Every command in README.md and docs/*.md runs as written.

The commands are extracted by `docs_commands.extract()`. Each lands in exactly one class:

- runs here: run now, against the project and the local stand-ins (`chatops` verbs in a
  working directory that holds the reader's `chatops.yaml`/`policy.csv`, pytest with
  `--collect-only`, benchmarks with `--help`, `python -m bot.sandbox` and the curl, kubectl
  and aws calls the docs make against it, the commands-reference generator on a copy);
- documented elsewhere only: need a real AWS account, cluster, database, Slack workspace or
  a Docker daemon; checked statically (sub-commands and flags parse with the real parser,
  paths exist, environment variables are ones the bot reads);
- allow-listed: `docs_commands.ALLOW_LIST`, with the reason of each entry.

A failure names the file, the line and the command.
"""

from __future__ import annotations

import json
import os
import queue
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import Any

import docs_commands as dc
import pytest

REPO = dc.REPO
VENV_BIN = REPO / ".venv" / "bin"
COMMANDS = dc.extract()
HERE = [c for c in COMMANDS if dc.classify(c)[0] == dc.HERE]
ELSEWHERE = [c for c in COMMANDS if dc.classify(c)[0] == dc.ELSEWHERE]
ALLOWED = [c for c in COMMANDS if dc.classify(c)[0] == dc.ALLOWED]
TIMEOUT = 50.0
SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL", "CHATOPS_CONFIG", "KUBECONFIG")


def _id(cmd: dc.DocCommand) -> str:
    return f"{cmd.path}:{cmd.line}:{cmd.text[:40]}"


@dataclass
class Outcome:
    problems: list[str]
    note: str = ""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV and not k.startswith("PYTEST_")}
    env.update(extra or {})
    return env


def _run(
    argv: list[str], cwd: Path, *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env or _env(),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _readme_policy_csv() -> str:
    """README's ```csv example as written: the policy.csv that `chatops policy can --policy` reads."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```csv\n(.*?)```", readme, re.S)
    assert block, "README.md has no ```csv policy example for `--policy policy.csv`"
    return block.group(1)


def _workdir(root: Path) -> Path:
    """A reader's directory: their chatops.yaml and policy.csv, and the repository's files."""
    work = root / "reader"
    work.mkdir()
    shutil.copy(REPO / "examples" / "config.yaml", work / "chatops.yaml")
    (work / "policy.csv").write_text(_readme_policy_csv(), encoding="utf-8")
    for name in ("examples", "manifests", "docs", "benchmarks"):
        (work / name).symlink_to(REPO / name)
    return work


# --- runners for the commands that run here --------------------------------------------------


_DEMO_PORT = threading.Lock()  # demos without --run share port 3000: one at a time


def run_chatops(cmd: dc.DocCommand, work: Path) -> Outcome:
    _, argv = cmd.program()
    if argv[1:2] == ["demo"] and "--run" not in argv:
        with _DEMO_PORT:
            return run_chatops_now(cmd, work) if "--console" in argv else run_served_demo(cmd, work)
    return run_chatops_now(cmd, work)


def run_chatops_now(cmd: dc.DocCommand, work: Path) -> Outcome:
    env, argv = cmd.program()
    done = _run([str(VENV_BIN / "chatops"), *argv[1:]], work, env=_env(env))
    expected = re.search(r"\bexit (\d+)", cmd.comment)
    want = int(expected.group(1)) if expected else 0
    problems = []
    if done.returncode != want or "Traceback" in done.stderr:
        problems.append(f"exit {done.returncode} (want {want}):\n{_tail(done.stderr or done.stdout)}")
    return Outcome(problems, _tail(done.stdout, 1))


def run_served_demo(cmd: dc.DocCommand, work: Path) -> Outcome:
    """`chatops demo` serves its page until Ctrl-C: wait for `ready: URL`, load it, then Ctrl-C."""
    env, argv = cmd.program()
    process = subprocess.Popen(
        [str(VENV_BIN / "chatops"), *argv[1:]],
        cwd=work,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its processes are found by their session after it exits
    )
    assert process.stderr is not None
    problems: list[str] = []
    seen: list[str] = []
    page = ""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr or ()], daemon=True)
    reader.start()
    deadline = monotonic() + 2 * TIMEOUT
    while not page and monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("ready: "):
            page = line.split(" ", 1)[1].strip()
    if not page:
        problems.append("never said `ready: URL`:\n" + _tail("".join(seen)))
    else:
        with urllib.request.urlopen(page, timeout=10) as response:  # a local URL
            html = response.read().decode()
        if "<html" not in html.lower():
            problems.append(f"{page} does not answer a page")
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        problems.append("still running 30 s after Ctrl-C")
    reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    rest = "".join(seen)
    if process.returncode != 0 or "Traceback" in rest or "acker exited" in rest:
        problems.append(f"exit {process.returncode} after Ctrl-C:\n{_tail(rest)}")
    left = subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True, text=True, check=False)
    if left.stdout.strip():
        problems.append(f"processes left after Ctrl-C: {left.stdout.split()}")
    described = re.search(r"sandbox description: (\S+)/world\.json", "".join(seen))
    if "--state-dir" not in argv and described and Path(described.group(1)).exists():
        problems.append(f"the temporary state {described.group(1)} is left after Ctrl-C")
    return Outcome(problems, page)


_COLLECTED: dict[str, Any] = {}
_COLLECT_LOCK = threading.Lock()


def _whole_suite() -> tuple[list[str], str]:
    """`pytest --collect-only -q` of the whole suite, once: the node ids, or what went wrong."""
    with _COLLECT_LOCK:
        if "ids" not in _COLLECTED:
            done = _run([str(VENV_BIN / "pytest"), "--collect-only", "-q", "-p", "no:cacheprovider"], REPO)
            ids = [line for line in done.stdout.splitlines() if "::" in line]
            _COLLECTED["ids"] = ids
            _COLLECTED["error"] = "" if done.returncode == 0 else _tail(done.stdout + done.stderr)
        return _COLLECTED["ids"], _COLLECTED["error"]


def run_pytest(cmd: dc.DocCommand, work: Path) -> Outcome:
    """Collect what the command names: the suite is collected once, a path selects its part."""
    argv = [a for a in cmd.tokens()[1:] if a not in {"-q", "-qq"}]
    problems = dc.static_problems(cmd)
    if any(a.startswith("-") for a in argv):  # options that change what is collected: run it
        done = _run([str(VENV_BIN / "pytest"), *argv, "--collect-only", "-q", "-p", "no:cacheprovider"], REPO)
        found = re.search(r"(\d+) tests? collected", done.stdout)
        count, error = (
            (int(found.group(1)) if found else 0),
            ("" if done.returncode == 0 else _tail(done.stdout)),
        )
    else:
        ids, error = _whole_suite()
        paths = [a.rstrip("/") for a in argv]
        count = sum(
            1 for i in ids if not paths or any(i == p or i.startswith((p + "/", p + "::")) for p in paths)
        )
        if paths and (
            missing := [p for p in paths if not any(i.startswith((p + "/", p + "::")) for i in ids)]
        ):
            problems.append(f"collects nothing from {', '.join(missing)}")
    if error or count == 0:
        problems.append(f"collects {count} tests:\n{error}")
    return Outcome(problems, f"{count} tests")


def run_benchmark(cmd: dc.DocCommand, work: Path) -> Outcome:
    done = _run([str(VENV_BIN / "python"), *cmd.tokens()[1:], "--help"], REPO)
    ok = done.returncode == 0 and "usage" in done.stdout
    return Outcome([] if ok else [f"--help: exit {done.returncode}\n{_tail(done.stderr)}"])


def run_verbs(cmd: dc.DocCommand, work: Path) -> Outcome:
    copy = work.parent / "verbs"
    target = cmd.tokens()[-1]
    (copy / target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / target, copy / target)
    done = _run([str(VENV_BIN / "python"), *cmd.tokens()[1:]], copy)
    ok = done.returncode == 0 and (copy / target).read_text(encoding="utf-8").strip()
    return Outcome([] if ok else [f"exit {done.returncode}\n{_tail(done.stderr)}"])


class Sandbox:
    """`python -m bot.sandbox ...` as written, in a directory of its own; reads its JSON line."""

    def __init__(self, cmd: dc.DocCommand, cwd: Path) -> None:
        argv = cmd.tokens()
        self.cwd = cwd
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "python"), *argv[1:]],
            cwd=cwd,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.world: dict[str, Any] = {}
        self.error = ""
        selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = monotonic() + TIMEOUT
        while not self.world and monotonic() < deadline and self.proc.poll() is None:
            if selector.select(timeout=0.5):
                line = self.proc.stdout.readline()
                try:
                    self.world = json.loads(line)
                except ValueError:
                    self.error = f"printed {line!r}, not the JSON description"
                    break
        selector.close()
        if not self.world and not self.error:
            self.error = f"no JSON line within {TIMEOUT:.0f} s (exit {self.proc.poll()})"

    def stop(self) -> list[str]:
        self.proc.terminate()
        try:
            _out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
            return ["did not stop within 20 s of SIGTERM"]
        problems = [self.error] if self.error else []
        if self.proc.returncode != 0:
            problems.append(f"exit {self.proc.returncode} on SIGTERM:\n{_tail(err)}")
        return problems

    def substitute(self, text: str) -> str:
        """The documented placeholders ($C, $K, P, A, .sandbox, the tokens) -> this world's values."""
        w = self.world
        slack_base = w["slack"]["api_url"].removesuffix("api/").rstrip("/")
        pairs = [
            ("$C", w["slack"]["control_url"].rstrip("/")),
            ("$K", w["clusters"]["dev"]["api_url"]),
            ("http://127.0.0.1:P", slack_base),
            ("http://127.0.0.1:A", w["aws"]["endpoint_url"]),
            ("argo-logs-…", w["logs"]["bucket"]),
            ("xoxb-…", w["slack"]["bot_token"]),
            (".sandbox/", w["state_dir"].rstrip("/") + "/"),
        ]
        for placeholder, value in pairs:
            text = text.replace(placeholder, value)
        return text


def _tool_missing(tool: str, cmd: dc.DocCommand) -> Outcome:
    message = f"{tool} is not installed here: {cmd.where} was checked statically only"
    warnings.warn(message, stacklevel=1)
    return Outcome(dc.static_problems(cmd), message)


def run_against_sandbox(cmd: dc.DocCommand, box: Sandbox) -> Outcome:
    env, argv = cmd.program()
    tool = argv[0]
    if shutil.which(tool) is None:
        return _tool_missing(tool, cmd)
    text = box.substitute(shlex.join(argv))
    real = shlex.split(text)
    if tool == "curl":
        done = _run([*real, "-w", "\n%{http_code}"], box.cwd, env=_env(env))
        body, _, status = done.stdout.rpartition("\n")
        # a stream (server-sent events) never ends by itself: the docs end it with --max-time,
        # which curl reports as exit 28 after the answer arrived
        streamed = done.returncode == 28 and "--max-time" in real
        if done.returncode != 0 and not streamed:
            return Outcome([f"curl exit {done.returncode}: {done.stderr.strip()}"])
        code = int(status or 0)
        # 404 for an illustrative id (a message ts, a file id) is the stand-in answering; an unknown
        # path, a refused method, a rejected body or a crash is the command being wrong.
        if (
            code in {400, 405}
            or code >= 500
            or "unknown_path" in body
            or (code == 404 and "error" not in body)
        ):
            return Outcome([f"HTTP {code}: {body[:300]}"])
        if "auth.test" in text and '"ok": true' not in body.replace('"ok":true', '"ok": true'):
            return Outcome([f"auth.test answered {body[:300]}"])
        return Outcome([], f"HTTP {code}")
    extra = {k: box.substitute(v) for k, v in env.items()}
    done = _run(real, box.cwd, stdin=cmd.stdin, env=_env(extra))
    if done.returncode != 0:
        return Outcome([f"exit {done.returncode}:\n{_tail(done.stderr or done.stdout)}"])
    return Outcome([], _tail(done.stdout, 1))


def run_kustomize(cmd: dc.DocCommand, work: Path) -> Outcome:
    if shutil.which("kubectl") is None:
        return _tool_missing("kubectl", cmd)
    done = _run(cmd.tokens(), REPO)
    ok = done.returncode == 0 and "kind: Deployment" in done.stdout
    return Outcome([] if ok else [f"exit {done.returncode}:\n{_tail(done.stderr)}"])


def _sandbox_chain(
    sandbox_cmds: list[dc.DocCommand], users: list[dc.DocCommand], root: Path
) -> dict[dc.DocCommand, Outcome]:
    """Start each distinct `python -m bot.sandbox` line; the seeded one serves curl/kubectl/aws."""
    results: dict[dc.DocCommand, Outcome] = {}
    seeded = next((c for c in sandbox_cmds if "--seed" in c.tokens()), None)
    by_text: dict[str, Outcome] = {}
    for cmd in sandbox_cmds:
        if cmd.text in by_text:
            results[cmd] = by_text[cmd.text]
            continue
        cwd = Path(tempfile.mkdtemp(dir=root, prefix="sandbox-"))
        box = Sandbox(cmd, cwd)
        if cmd is seeded and box.world:
            for user in users:
                results[user] = run_against_sandbox(user, box)
        by_text[cmd.text] = results[cmd] = Outcome(box.stop())
    if seeded is None:
        for user in users:
            results[user] = Outcome(["no documented `python -m bot.sandbox --seed` to run it against"])
    for user in users:
        results.setdefault(
            user, Outcome([f"the sandbox did not start: {results[seeded].problems if seeded else ''}"])
        )
    return results


def runner_for(cmd: dc.DocCommand) -> Callable[[dc.DocCommand, Path], Outcome] | None:
    argv = cmd.program()[1]
    prog, rest = argv[0], argv[1:]
    if prog in dc.CHATOPS:
        return run_chatops
    if prog.endswith("pytest"):
        return run_pytest
    if prog == ".venv/bin/python":
        return run_benchmark
    if rest[:2] == ["-m", "bot.commands.verbs"]:
        return run_verbs
    if prog == "kubectl" and rest[:1] == ["kustomize"]:
        return run_kustomize
    return None  # the sandbox chain


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[dc.DocCommand, Outcome]]:
    with tempfile.TemporaryDirectory(prefix="docs-commands-") as tmp:
        root = Path(tmp)
        work = _workdir(root)
        sandbox_cmds = [c for c in HERE if c.program()[1][1:3] == ["-m", "bot.sandbox"]]
        users = [c for c in HERE if runner_for(c) is None and c not in sandbox_cmds]
        plain = [c for c in HERE if runner_for(c) is not None]
        results: dict[dc.DocCommand, Outcome] = {}
        distinct: dict[tuple[str, str | None, str], list[dc.DocCommand]] = {}
        for c in plain:
            distinct.setdefault((c.text, c.stdin, c.comment), []).append(c)
        # the slowest first: the demos wait on workflows, the sandbox chain runs ~40 calls
        slow = sorted(distinct, key=lambda key: "demo" not in key[0])
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                key: pool.submit(runner_for(distinct[key][0]), distinct[key][0], work) for key in slow[:2]
            }  # type: ignore[arg-type]
            chain = pool.submit(_sandbox_chain, sandbox_cmds, users, root)
            futures |= {
                key: pool.submit(runner_for(distinct[key][0]), distinct[key][0], work) for key in slow[2:]
            }  # type: ignore[arg-type]
            for key, future in futures.items():
                for c in distinct[key]:
                    results[c] = future.result()
            results.update(chain.result())
        yield results


# --- the tests -------------------------------------------------------------------------------


def test_commands_are_found_and_each_lands_in_exactly_one_class() -> None:
    classes = Counter(dc.classify(c)[0] for c in COMMANDS)
    unclassified = [
        f"{c.where} ({dc.classify(c)[1]})" for c in COMMANDS if dc.classify(c)[0] == "unclassified"
    ]
    assert not unclassified, "commands no rule classifies:\n" + "\n".join(unclassified)
    assert len(HERE) + len(ELSEWHERE) + len(ALLOWED) == len(COMMANDS)
    assert classes[dc.HERE] >= 40 and classes[dc.ELSEWHERE] >= 10, classes
    print(f"\n{len(COMMANDS)} commands: " + ", ".join(f"{k}: {v}" for k, v in sorted(classes.items())))


def test_the_allow_list_is_small_and_every_entry_is_still_in_the_docs() -> None:
    assert len(dc.ALLOW_LIST) <= 5
    present = {(c.path, c.text) for c in ALLOWED}
    stale = [f"{path}: {text}" for (path, text) in dc.ALLOW_LIST if (path, text) not in present]
    assert not stale, "allow-list entries no doc has any more:\n" + "\n".join(stale)
    assert all(reason.strip() for reason in dc.ALLOW_LIST.values())


@pytest.mark.parametrize("cmd", HERE, ids=_id)
def test_command_runs_here_as_written(cmd: dc.DocCommand, outcomes: dict[dc.DocCommand, Outcome]) -> None:
    outcome = outcomes[cmd]
    assert not outcome.problems, f"{cmd.where}\n  does not run as written: " + "\n  ".join(outcome.problems)


@pytest.mark.parametrize("cmd", ELSEWHERE + HERE, ids=_id)
def test_command_names_real_files_flags_and_variables(cmd: dc.DocCommand) -> None:
    problems = dc.static_problems(cmd)
    assert not problems, f"{cmd.where}\n  " + "\n  ".join(problems)
