"""`chatops policy can`: answer a permission question offline, for testing policies in CI.

Like `argocd admin settings rbac can`: prints `yes` (exit 0) or `no` (exit 1); bad input
(an unknown resource or action, a malformed subject, a config or policy file with errors)
prints what is wrong on stderr and exits 2. The policy is the one the bot would use: the
built-in policy plus either the config file's `rbac` section (`--config`) or a CSV file
(`--policy`, with `--default ROLE` standing in for `rbac.default_role`).

It leaves out everything else about the bot: no Slack, no cluster, no database.
Registered by `bot.cli.main` through `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli import settings_from_args
from bot.errors import ConfigError
from bot.rbac import policy
from bot.rbac.source import PolicySource

EXIT_YES = 0
EXIT_NO = 1
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `policy` and its `can` sub-verb to the `chatops` parser."""
    parser = subparsers.add_parser(
        "policy",
        help="test the RBAC policy offline",
        description="Test the RBAC policy offline (see docs/rbac.md).",
    )
    verbs = parser.add_subparsers(dest="policy_verb", metavar="VERB", required=True)
    can = verbs.add_parser(
        "can",
        help="may SUBJECT do ACTION on RESOURCE OBJECT? prints yes (exit 0) or no (exit 1)",
        description=(
            "Answer whether a person holding SUBJECT (and the --also subjects) may do ACTION on the "
            "RESOURCE object OBJECT. Prints yes and exits 0, or no and exits 1; exits 2 on bad input."
        ),
        epilog=(
            "examples:\n"
            "  chatops policy can slack:U0123ABCD applications sync prod/payments/api --config chatops.yaml\n"
            "  chatops policy can email:alice@example.com workflows run staging/argo/db-migrate \\\n"
            "      --also group:sre --policy policy.csv --default role:readonly"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    can.add_argument("subject", metavar="SUBJECT", help="slack:U…, email:…, group:… or role:…")
    can.add_argument("resource", metavar="RESOURCE", help=", ".join(policy.ACTIONS))
    can.add_argument("action", metavar="ACTION", help="e.g. get, run, sync, rollback, approve")
    can.add_argument(
        "object", metavar="OBJECT", help="<cluster>/<namespace>/<template> or <cluster>/<project>/<app>"
    )
    can.add_argument(
        "--also", action="append", default=[], metavar="SUBJECT", help="another subject the same person holds"
    )
    source = can.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        metavar="FILE",
        help="the bot's config file, whose rbac section is used (default: $CHATOPS_CONFIG, ./chatops.yaml)",
    )
    source.add_argument("--policy", dest="policy_csv", metavar="FILE.csv", help="a policy CSV file")
    can.add_argument(
        "--default",
        dest="default_role",
        metavar="ROLE",
        help="the default role everyone holds, e.g. role:readonly",
    )
    can.set_defaults(handler=run_can)


def _request_problems(args: argparse.Namespace) -> list[str]:
    problems = [p for s in [args.subject, *args.also] if (p := policy.subject_problem(s)) is not None]
    if args.resource == policy.WILDCARD or args.resource not in policy.ACTIONS:
        problems.append(f"unknown resource {args.resource!r}: expected one of {', '.join(policy.ACTIONS)}")
    elif args.action == policy.WILDCARD or args.action not in policy.ACTIONS[args.resource]:
        known = ", ".join(policy.ACTIONS[args.resource])
        problems.append(f"unknown action {args.action!r} for {args.resource}: expected one of {known}")
    if not args.object or any(c.isspace() for c in args.object):
        problems.append(f"object {args.object!r} must be non-empty and contain no spaces")
    if args.default_role is not None and (
        not args.default_role.startswith(policy.ROLE_PREFIX) or policy.subject_problem(args.default_role)
    ):
        problems.append(f"--default {args.default_role!r} must be a role such as role:readonly")
    return problems


def _load(args: argparse.Namespace) -> PolicySource:
    """The policy the question is asked against.

    Raises:
        ConfigError: when the config file or the policy has problems.
    """
    if args.policy_csv:
        return PolicySource(path=Path(args.policy_csv), default_role=args.default_role)
    settings = settings_from_args(args)
    if args.default_role is not None:
        settings = settings.model_copy(
            update={"rbac": settings.rbac.model_copy(update={"default_role": args.default_role})}
        )
    return PolicySource.from_settings(settings)


def run_can(args: argparse.Namespace) -> int:
    """Print yes/no for the question in `args`; return 0 (yes), 1 (no) or 2 (bad input)."""
    problems = _request_problems(args)
    if problems:
        for problem in problems:
            print(f"chatops policy can: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        source = _load(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    allowed = source.current().can(
        [args.subject, *args.also], resource=args.resource, action=args.action, obj=args.object
    )
    print("yes" if allowed else "no", file=sys.stdout)
    return EXIT_YES if allowed else EXIT_NO
