"""Extract the shell commands written in README.md and docs/*.md, and check them statically.

`extract()` reads every fenced block that holds shell (```bash, ```sh, ```shell, ```console, and
an unlabelled block whose lines carry a `$ ` prompt), the inline commands of tables and of the
prose (`.venv/bin/...`, `python -m ...`, and `chatops`/`kubectl`/`docker`/`pip`/`curl` spans that
carry an option), and the generator named in docs/commands.md's marker comment. A command is
one logical line: `\\` continuations joined, a heredoc kept as its stdin, `a && b` split in two,
shell functions and variable assignments of the same block expanded.

`static_problems(cmd)` checks what can be checked without running: the `chatops` sub-command
and flags parse with the real parser, the repository paths named exist, the pip extras exist,
and the environment variables handed to the bot are ones the bot reads.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = ("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))

SHELL_LANGS = {"bash", "sh", "shell", "console"}
PROSE_ALWAYS = (".venv/bin/", "python -m ", "python3 -m ", "bash ")
PROSE_WITH_OPTION = ("chatops ", "kubectl ", "docker ", "pip ", "curl ")

# Files a reader creates for themselves; the docs name them, the repository does not hold them.
# When a command runs here they are materialised in its working directory (see the test).
READER_FILES = {
    "chatops.yaml": "the reader's own configuration (README 'Configure'); examples/config.yaml stands in",
    "policy.csv": "the reader's own policy file; README's ```csv example stands in",
    "deploy/chatops.yaml": "the reader's configuration in their own repository (docs/rbac.md CI script)",
    "...": "an elided argument, spelled out on the line above it",
}

# Environment variables a command may hand to the bot: the ones `bot/` reads (not the sandbox).
_ENV_LITERAL = re.compile(r"""["']([A-Z][A-Z0-9_]{2,})["']""")


def bot_environment_names() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "bot").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        names.update(_ENV_LITERAL.findall(path.read_text(encoding="utf-8")))
    return names


@dataclass(frozen=True)
class DocCommand:
    path: str
    line: int
    text: str  # the command, without prompt and trailing comment, continuations joined
    source: str  # fence | table | prose | marker
    comment: str = ""  # the trailing `# ...` comment, if any
    stdin: str | None = None  # a heredoc's body
    variables: tuple[tuple[str, str], ...] = field(default=())  # assignments made earlier in the block

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"

    def tokens(self) -> list[str]:
        return shlex.split(self.text)

    def program(self) -> tuple[dict[str, str], list[str]]:
        """Leading `VAR=value` assignments, and the argv that follows them."""
        env: dict[str, str] = {}
        toks = self.tokens()
        while toks and re.match(r"^[A-Z_][A-Z0-9_]*=", toks[0]):
            name, _, value = toks.pop(0).partition("=")
            env[name] = value
        return env, toks


def split_comment(line: str) -> tuple[str, str]:
    """`code  # comment` -> (code, comment), honouring quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def split_and(text: str) -> list[str]:
    """Split `a && b` outside quotes."""
    parts, quote, start, i = [], "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif text.startswith("&&", i):
            parts.append(text[start:i].strip())
            start = i + 2
            i += 1
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_FUNC = re.compile(r"^(\w+)\(\)\s*\{(.*)\}\s*$")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)=(\S*)$")


def _block_commands(path: str, first_line: int, lines: list[str]) -> list[DocCommand]:
    prompted = any(raw.lstrip().startswith("$ ") for raw in lines)
    out: list[DocCommand] = []
    functions: dict[str, str] = {}
    variables: dict[str, str] = {}
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        start = first_line + i
        i += 1
        if prompted:
            if not raw.startswith("$ "):
                continue  # output
            raw = raw[2:]
        if not raw or raw.startswith("#"):
            continue
        code, comment = split_comment(raw)
        while code.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            more, more_comment = split_comment(nxt)
            code = code[:-1].rstrip() + " " + more
            comment = comment or more_comment
        stdin = None
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", code)
        if heredoc:
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                body.append(lines[i])
                i += 1
            i += 1
            stdin = "\n".join(body) + "\n"
            code = code[: heredoc.start()].rstrip()
        if m := _FUNC.match(code):
            functions[m.group(1)] = m.group(2)
            continue
        if m := _ASSIGN.match(code):
            variables[m.group(1)] = m.group(2)
            continue
        for part in split_and(code):
            word = part.split()[0]
            if word in functions:
                # expand a call to a helper of the same block: its `chatops ...` with "$@" filled in
                called = re.search(r"chatops [^;|>]*", functions[word])
                assert called, f"{path}:{start}: cannot expand {word}()"
                expanded = called.group(0).replace('"$@"', part[len(word) :].strip())
                for name, value in variables.items():
                    expanded = expanded.replace(f'"${name}"', value).replace(f"${name}", value)
                part = " ".join(expanded.split())
            out.append(
                DocCommand(path, start, part, "fence", comment, stdin, tuple(sorted(variables.items())))
            )
    return out


_INLINE = re.compile(r"`([^`]+)`")
_MARKER = re.compile(r"<!--[^>]*?:\s*(python3? -m \S+[^>]*?)\s*-->")


def _inline_commands(path: str, number: int, line: str) -> list[DocCommand]:
    out = []
    if m := _MARKER.search(line):
        out.append(DocCommand(path, number, m.group(1).strip(), "marker"))
    in_table = line.lstrip().startswith("|")
    for span in _INLINE.findall(line):
        span = span.strip()
        words = span.split()
        if span.startswith(PROSE_ALWAYS):
            pass
        elif span.startswith(PROSE_WITH_OPTION):
            if words[1].endswith(":"):
                continue  # a message, `chatops run: cannot reach ...`
            if in_table and len(words) < 3 and words[1] != "--version":
                continue  # a verb or a flag named in a table (`chatops run`, `kubectl --context`)
            if not in_table and not (len(words) >= 3 and any(w.startswith("-") for w in words)):
                continue  # a mention of a verb or a flag, not a command
        else:
            continue
        out.append(DocCommand(path, number, span, "table" if in_table else "prose"))
    return out


def extract() -> list[DocCommand]:
    commands: list[DocCommand] = []
    for rel in DOC_FILES:
        lines = (REPO / rel).read_text(encoding="utf-8").split("\n")
        i = 0
        while i < len(lines):
            fence = re.match(r"^\s*```(\w*)\s*$", lines[i])
            if not fence:
                commands.extend(_inline_commands(rel, i + 1, lines[i]))
                i += 1
                continue
            end = i + 1
            while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
                end += 1
            body = lines[i + 1 : end]
            lang = fence.group(1)
            if lang in SHELL_LANGS or (lang == "" and any(b.lstrip().startswith("$ ") for b in body)):
                commands.extend(_block_commands(rel, i + 2, body))
            i = end + 1
    return commands


# --- static checks ---------------------------------------------------------------------------


def is_synopsis(cmd: DocCommand) -> bool:
    """A usage line (`chatops run [--config FILE]`) rather than a command to type."""
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", "", cmd.text)
    placeholder = any(re.fullmatch(r"[A-Z][A-Z_]{2,}(\.csv)?", word) for word in bare.split())
    return "[" in bare or "(" in bare or "\\|" in bare or placeholder


def synopsis_variants(text: str) -> list[str]:
    """Every concrete line a usage synopsis stands for: optional parts kept, `a|b` expanded."""
    text = text.replace("\\|", "|").replace("]...", "]").replace("...", "")
    text = text.replace("[", " ").replace("]", " ")
    variants = [""]
    for word in text.split():
        if "|" in word and not word.startswith("("):
            variants = [f"{v} {alt}" for v in variants for alt in word.split("|")]
        else:
            variants = [f"{v} {word}" for v in variants]
    # `(--config FILE | --policy FILE.csv)`: one of the group each time
    expanded = []
    for v in variants:
        group = re.search(r"\(([^)]*)\)", v)
        if group:
            expanded += [v[: group.start()] + alt + v[group.end() :] for alt in group.group(1).split("|")]
        else:
            expanded.append(v)
    return [" ".join(v.split()) for v in expanded]


def parse_chatops(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    from bot.cli import build_parser

    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return parser.parse_args(argv), ""
    except SystemExit as exc:
        if exc.code == 0:  # --version, --help
            return argparse.Namespace(), ""
        return None, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"


def _path_problem(path: str) -> str | None:
    if path in READER_FILES or path == "-" or re.fullmatch(r"[A-Z_.]+", path):
        return None  # the reader's file, stdin, or a placeholder such as FILE
    if path.startswith(".sandbox/"):
        return None  # written by `python -m bot.sandbox --state-dir .sandbox`
    if path.startswith("/"):
        return None  # a path on the reader's machine or in the container
    if not (REPO / path).exists():
        return f"names {path!r}, which is not in the repository"
    return None


def chatops_problems(argv: list[str], env: dict[str, str]) -> list[str]:
    problems = []
    args, error = parse_chatops(argv)
    if args is None:
        return [f"`chatops {' '.join(argv)}` does not parse: {error}"]
    for attr in ("config", "policy_csv"):
        value = getattr(args, attr, None)
        if value and (p := _path_problem(value)):
            problems.append(p)
    known = bot_environment_names()
    problems += [f"sets {name}, which the bot does not read" for name in env if name not in known]
    return problems


def _pip_problems(argv: list[str]) -> list[str]:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    problems = []
    for target in [a for a in argv[argv.index("install") + 1 :] if not a.startswith("-")]:
        m = re.fullmatch(r"\.(?:\[([\w,]+)\])?", target)
        if not m:
            problems.append(f"installs {target!r}, not this project")
            continue
        problems += [
            f"names the extra {e!r}, not in pyproject.toml"
            for e in (m.group(1) or "").split(",")
            if e and e not in extras
        ]
    return problems


def _kubectl_problems(argv: list[str]) -> list[str]:
    problems = []
    known = bot_environment_names()
    for i, arg in enumerate(argv):
        if arg in {"-k", "-f", "--kubeconfig"} and i + 1 < len(argv) and (p := _path_problem(argv[i + 1])):
            problems.append(p)
        if arg.startswith("--from-literal="):
            name = arg.split("=", 2)[1]
            if name not in known:
                problems.append(f"puts {name} in the Secret, which the bot does not read")
    if len(argv) > 2 and argv[1] == "kustomize" and (p := _path_problem(argv[2])):
        problems.append(p)
    if "--" in argv:  # `kubectl exec ... -- chatops check`
        inner = argv[argv.index("--") + 1 :]
        if inner and inner[0] == "chatops":
            problems += chatops_problems(inner[1:], {})
    return problems


def _docker_problems(argv: list[str]) -> list[str]:
    if len(argv) > 1 and argv[1] == "build":
        context = argv[-1]
        return (
            []
            if (REPO / context / "Dockerfile").exists()
            else [f"builds {context!r}, which has no Dockerfile"]
        )
    if len(argv) > 2 and argv[1] == "run":  # the image's entrypoint is `chatops`
        rest = [a for a in argv[2:] if a != "IMAGE"]
        return chatops_problems(rest, {})
    return []


def static_problems(cmd: DocCommand) -> list[str]:
    """What is wrong with `cmd` that can be seen without running it."""
    texts = synopsis_variants(cmd.text) if is_synopsis(cmd) else [cmd.text]
    problems: list[str] = []
    for text in texts:
        one = DocCommand(cmd.path, cmd.line, text, cmd.source)
        env, argv = one.program()
        if not argv:
            problems.append("no command")
            continue
        prog = argv[0]
        if prog in {"chatops", ".venv/bin/chatops"}:
            problems += chatops_problems(argv[1:], env)
        elif prog.startswith(".venv/bin/") and not (REPO / prog).exists():
            problems.append(f"{prog} is not installed by `pip install -e '.[test]'`")
        elif prog in {"pip", ".venv/bin/pip"} or argv[:3] == ["python3", "-m", "pip"]:
            problems += _pip_problems(argv)
        elif prog == "kubectl":
            problems += _kubectl_problems(argv)
        elif prog == "docker":
            problems += _docker_problems(argv)
        elif prog == "bash":
            problems += [p for p in [_path_problem(argv[1])] if p]
        if prog.endswith("pytest"):
            problems += [p for a in argv[1:] if not a.startswith("-") and (p := _path_problem(a))]
        if prog.endswith("python") and len(argv) > 1 and argv[1].endswith(".py"):
            problems += [p for p in [_path_problem(argv[1])] if p]
        if prog.startswith("python") and argv[1:2] == ["-m"]:
            module = argv[2]
            if not (
                (REPO / module.replace(".", "/")).with_suffix(".py").exists()
                or (REPO / module.replace(".", "/") / "__main__.py").exists()
            ) and module not in {"venv", "pip"}:
                problems.append(f"python -m {module}: no such module in the repository")
    return problems


# --- classes ---------------------------------------------------------------------------------

HERE = "runs here"
ELSEWHERE = "documented elsewhere only"
ALLOWED = "allow-listed"

# What can be neither run nor checked, with the reason. Keep it small.
ALLOW_LIST = {
    ("docs/rbac.md", "set -euo pipefail"): "the CI script's shell options; the script's calls are checked",
    (
        "docs/sandbox-kubernetes.md",
        "kubectl get -w",
    ): "a kubectl behaviour named in prose, not a command line",
    ("docs/sandbox-kubernetes.md", "kubectl create -f"): "a kubectl behaviour named in prose, with no file",
}

CHATOPS = {"chatops", ".venv/bin/chatops"}


def classify(cmd: DocCommand) -> tuple[str, str]:
    """(class, reason) for a command; the class is HERE, ELSEWHERE, ALLOWED or 'unclassified'."""
    if (cmd.path, cmd.text) in ALLOW_LIST:
        return ALLOWED, ALLOW_LIST[(cmd.path, cmd.text)]
    if is_synopsis(cmd):
        return ELSEWHERE, "a usage synopsis: every form of it is parsed, none is run"
    env, argv = cmd.program()
    prog, rest = argv[0], argv[1:]
    if prog in CHATOPS:
        verb = rest[0] if rest else ""
        if verb == "run":
            return ELSEWHERE, "serves a real Slack workspace until stopped"
        if verb == "check" and "--connect" in rest:
            return ELSEWHERE, "reaches the real Slack, database and clusters"
        if verb == "db" and "DATABASE_URL" in env:
            return ELSEWHERE, "migrates a real PostgreSQL database"
        if "deploy/chatops.yaml" in rest:
            return ELSEWHERE, "a CI script over the reader's own configuration and policy"
        if verb in {"demo", "slack-manifest", "check", "policy", "db", "--version"}:
            return HERE, "the command line against local files and stand-ins"
    elif prog.endswith("pytest") and prog.startswith(".venv/bin/"):
        return HERE, "collected with --collect-only"
    elif prog == ".venv/bin/python" and rest and rest[0].startswith("benchmarks/"):
        return HERE, "run with --help"
    elif prog.startswith("python") and rest[:2] == ["-m", "bot.sandbox"]:
        return HERE, "started, read, stopped"
    elif prog.startswith("python") and rest[:2] == ["-m", "bot.commands.verbs"]:
        return HERE, "run against a copy of the file"
    elif prog.startswith("python") and rest[:2] == ["-m", "venv"]:
        return ELSEWHERE, "creates the virtualenv this test runs in"
    elif prog in {"pip", ".venv/bin/pip"}:
        return ELSEWHERE, "installs from the package index"
    elif prog == "curl" and ("$C" in cmd.text or "$K" in cmd.text or "127.0.0.1:P" in cmd.text):
        return HERE, "against the stand-ins of `python -m bot.sandbox`"
    elif prog == "kubectl" and (".sandbox/" in cmd.text or rest[:1] == ["kustomize"]):
        return HERE, "against the stand-in API server, or rendering the repository's overlays"
    elif prog == "kubectl":
        return ELSEWHERE, "a real cluster"
    elif prog == "aws" and "127.0.0.1" in cmd.text:
        return HERE, "against the AWS stand-in"
    elif prog == "docker":
        return ELSEWHERE, "needs a Docker daemon and a registry"
    elif prog == "bash" and rest[:1] == [".ci/run"]:
        return ELSEWHERE, "installs PostgreSQL and MariaDB and runs the whole suite (CI)"
    return "unclassified", f"no rule for {prog!r}"
