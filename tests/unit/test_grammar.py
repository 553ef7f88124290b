"""What people type -> the command the bot understands, or the error they read."""

from __future__ import annotations

import pytest

from bot.commands import grammar
from bot.commands.app_verbs import AppCommand, AppsCommand, HistoryCommand, SyncCommand
from bot.commands.grammar import HelpCommand, strip_bot_mention
from bot.commands.info_verbs import AuditCommand, WhoamiCommand
from bot.commands.registry import Command
from bot.commands.rollback_verbs import RollbackCommand
from bot.commands.schedule_verbs import ScheduleAddCommand, ScheduleListCommand, ScheduleRemoveCommand
from bot.commands.verbs import build_registry
from bot.commands.workflow_verbs import (
    LogsCommand,
    RetryCommand,
    RunCommand,
    RunsCommand,
    StatusCommand,
    StopCommand,
    TemplatesCommand,
    TerminateCommand,
)
from bot.errors import CommandSyntaxError

REGISTRY = build_registry()


def parse_command(text: str, *, command: str = "/ops") -> Command:
    """The checked arguments the grammar reads from `text` (with every verb of the bot)."""
    parsed: Command = grammar.parse_command(text, registry=REGISTRY, command=command).command
    return parsed


def parse_name(text: str) -> str:
    return grammar.parse_command(text, registry=REGISTRY).name


PARSED: list[tuple[str, Command]] = [
    # help, anywhere
    ("", HelpCommand()),
    ("   ", HelpCommand()),
    ("help", HelpCommand()),
    ("HELP", HelpCommand()),
    ("--help", HelpCommand()),
    ("-h", HelpCommand()),
    ("help sync", HelpCommand(about="sync")),
    ("help Sync", HelpCommand(about="sync")),
    ("help help", HelpCommand(about="help")),
    ("sync --help", HelpCommand(about="sync")),
    ("sync payments-api -h", HelpCommand(about="sync")),
    ("run help", HelpCommand(about="run")),
    ("run db-migrate -p env=prod --help", HelpCommand(about="run")),
    ("schedule help", HelpCommand(about="schedule")),
    ("schedule add --help", HelpCommand(about="schedule")),
    # simple verbs
    ("whoami", WhoamiCommand()),
    ("Whoami", WhoamiCommand()),
    ("templates", TemplatesCommand()),
    ("templates --cluster prod-eu", TemplatesCommand(cluster="prod-eu")),
    ("templates --cluster=prod-eu", TemplatesCommand(cluster="prod-eu")),
    # run and its parameters
    ("run db-migrate", RunCommand(template="db-migrate")),
    (
        "run db-migrate -p env=staging -p dry_run=true",
        RunCommand(template="db-migrate", params=(("env", "staging"), ("dry_run", "true"))),
    ),
    (
        "run db-migrate --param env=staging -p=batch.size=10 --param=x-y=",
        RunCommand(template="db-migrate", params=(("env", "staging"), ("batch.size", "10"), ("x-y", ""))),
    ),
    (
        'run report -p title="weekly report" -p q=a=b',
        RunCommand(template="report", params=(("title", "weekly report"), ("q", "a=b"))),
    ),
    (
        "run report --cluster prod-eu --namespace batch -p n=1",
        RunCommand(template="report", params=(("n", "1"),), cluster="prod-eu", namespace="batch"),
    ),
    (
        "run report -p 'sql=select * from t'",
        RunCommand(template="report", params=(("sql", "select * from t"),)),
    ),
    ("run my.template.v2", RunCommand(template="my.template.v2")),
    ("run -- db-migrate", RunCommand(template="db-migrate")),
    ("run -p a=1 db-migrate", RunCommand(template="db-migrate", params=(("a", "1"),))),
    # runs
    ("runs", RunsCommand()),
    ("runs --mine --template db-migrate --limit 5", RunsCommand(mine=True, template="db-migrate", limit=5)),
    ("runs --limit=100", RunsCommand(limit=100)),
    ("runs --limit 1", RunsCommand(limit=1)),
    # workflow verbs
    ("status db-migrate-x7k2p", StatusCommand(workflow="db-migrate-x7k2p")),
    (
        "status db-migrate-x7k2p --cluster prod-eu --namespace argo",
        StatusCommand(workflow="db-migrate-x7k2p", cluster="prod-eu", namespace="argo"),
    ),
    ("logs wf-1", LogsCommand(workflow="wf-1")),
    ("logs wf-1 migrate", LogsCommand(workflow="wf-1", step="migrate")),
    ("logs wf-1 build(0)", LogsCommand(workflow="wf-1", step="build(0)")),
    ("stop wf-1", StopCommand(workflow="wf-1")),
    ("terminate wf-1 --cluster dev", TerminateCommand(workflow="wf-1", cluster="dev")),
    ("retry wf-1 --namespace batch", RetryCommand(workflow="wf-1", namespace="batch")),
    # Argo CD verbs
    ("apps", AppsCommand()),
    (
        "apps --cluster prod-eu --project payments --out-of-sync --degraded",
        AppsCommand(cluster="prod-eu", project="payments", out_of_sync=True, degraded=True),
    ),
    ("apps --page 2", AppsCommand(page=2)),
    ("apps --out-of-sync --page=80", AppsCommand(out_of_sync=True, page=80)),
    ("apps --page 10000", AppsCommand(page=10_000)),
    ("app payments-api", AppCommand(app="payments-api")),
    ("app payments-api --cluster prod-eu", AppCommand(app="payments-api", cluster="prod-eu")),
    ("history payments-api", HistoryCommand(app="payments-api")),
    ("sync payments-api", SyncCommand(app="payments-api")),
    (
        "sync payments-api --revision v1.4.2 --prune --dry-run",
        SyncCommand(app="payments-api", revision="v1.4.2", prune=True, dry_run=True),
    ),
    (
        "sync payments-api --revision=feature/new-ui",
        SyncCommand(app="payments-api", revision="feature/new-ui"),
    ),
    (
        "sync payments-api --revision 0a1b2c3d4e5f67890a1b2c3d4e5f67890a1b2c3d",
        SyncCommand(app="payments-api", revision="0a1b2c3d4e5f67890a1b2c3d4e5f67890a1b2c3d"),
    ),
    ("rollback payments-api", RollbackCommand(app="payments-api")),
    (
        'rollback payments-api 41 --reason "5xx after v1.4.2"',
        RollbackCommand(app="payments-api", history_id=41, reason="5xx after v1.4.2"),
    ),
    (
        "rollback payments-api --reason '  spaces trimmed  '",
        RollbackCommand(app="payments-api", reason="spaces trimmed"),
    ),
    # schedules
    ("schedule list", ScheduleListCommand()),
    ("schedule LIST", ScheduleListCommand()),
    (
        'schedule add morning --kind app-health --cron "0 9 * * mon-fri" --timezone Europe/Paris',
        ScheduleAddCommand(
            name="morning", kind="app-health", cron="0 9 * * mon-fri", timezone="Europe/Paris"
        ),
    ),
    (
        'schedule add nightly --kind run --cron "30 2 * * *" --template report -p days=1 --cluster prod-eu',
        ScheduleAddCommand(
            name="nightly",
            kind="run",
            cron="30 2 * * *",
            template="report",
            params=(("days", "1"),),
            cluster="prod-eu",
        ),
    ),
    ("schedule remove morning", ScheduleRemoveCommand(name="morning")),
    # audit and the three ways to name a person
    ("audit", AuditCommand()),
    ("audit --user <@U0123ABCD>", AuditCommand(user_id="U0123ABCD")),
    ("audit --user <@U0123ABCD|alice>", AuditCommand(user_id="U0123ABCD")),
    ("audit --user U0123ABCD --limit 50", AuditCommand(user_id="U0123ABCD", limit=50)),
    ("audit --user @alice.smith", AuditCommand(user_name="alice.smith")),
    ("audit --limit 100", AuditCommand(limit=100)),
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t or "<empty>" for t, _ in PARSED])
def test_text_parses_to_command(text: str, expected: Command) -> None:
    command = parse_command(text)
    assert type(command) is type(expected)
    assert command == expected
    assert command.raw == text


SLACK_FORMS: list[tuple[str, Command]] = [
    # Slack escapes what people type and links what looks like a link
    ("run report -p q=&lt;b&gt;&amp;x", RunCommand(template="report", params=(("q", "<b>&x"),))),
    ("run report -p q=&amp;lt;", RunCommand(template="report", params=(("q", "&lt;"),))),
    ("sync <http://payments.api|payments.api>", SyncCommand(app="payments.api")),
    (
        "run report -p url=<https://example.com/a?b=1&amp;c=2>",
        RunCommand(template="report", params=(("url", "https://example.com/a?b=1&c=2"),)),
    ),
    (
        "run report -p to=<mailto:a@example.com|a@example.com>",
        RunCommand(template="report", params=(("to", "a@example.com"),)),
    ),
    ("run report -p team=<!subteam^S0123|@sre>", RunCommand(template="report", params=(("team", "@sre"),))),
    # smart quotes from some clients
    (
        "rollback payments-api --reason \u201cbad deploy\u201d",
        RollbackCommand(app="payments-api", reason="bad deploy"),
    ),
    (
        "rollback payments-api --reason \u2018bad deploy\u2019",
        RollbackCommand(app="payments-api", reason="bad deploy"),
    ),
    ("rollback payments-api --reason don\u2019t", RollbackCommand(app="payments-api", reason="don\u2019t")),
    (
        "run report -p title=\u201cit\u2019s late\u201d",
        RunCommand(template="report", params=(("title", "it\u2019s late"),)),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SLACK_FORMS)
def test_slack_markup_and_smart_quotes_read_as_typed(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


ERRORS: list[tuple[str, list[str]]] = [
    # unknown words get a suggestion and the usage
    ("sycn payments-api", ["I don't know the command `sycn`", "Did you mean `sync`?", "`/ops sync APP"]),
    ("stauts wf-1", ["Did you mean `status`?", "`/ops status WORKFLOW"]),
    ("deploy payments-api", ["I don't know the command `deploy`", "`/ops help`"]),
    ("help sycn", ["Did you mean `sync`?"]),
    (
        "sync payments-api --prun",
        ["`sync` has no option `--prun`", "Did you mean `--prune`?", "`/ops sync APP"],
    ),
    ("sync payments-api --revison v1", ["Did you mean `--revision`?"]),
    ("whoami --verbose", ["`whoami` takes no options"]),
    ("whoami please", ["`whoami` takes no arguments"]),
    ("schedule", ["`schedule` needs `list`, `add` or `remove`", "`/ops schedule list`"]),
    ("schedule ad x", ["not `ad`", "Did you mean `add`?"]),
    # missing and extra words
    ("run", ["`run` needs TEMPLATE", "Usage:", "`/ops run TEMPLATE [-p key=value]..."]),
    ("status", ["`status` needs WORKFLOW"]),
    ("status wf-1 wf-2", ["Unexpected `wf-2`", "Quote values that contain spaces"]),
    ("rollback payments-api 41 42", ["Unexpected `42`"]),
    ("schedule remove", ["`schedule remove` needs NAME"]),
    # option values
    ("sync payments-api --revision", ["`--revision` needs a value"]),
    ("sync payments-api --revision --prune", ["`--revision` needs a value"]),
    ("sync payments-api --prune=yes", ["`--prune` is a switch and takes no value"]),
    ("sync payments-api --prune --prune", ["`--prune` is given twice"]),
    ("templates --cluster a --cluster b", ["`--cluster` is given twice"]),
    ("run t -p env=a -p env=b", ["parameter `env` is given twice"]),
    ("run t -p env", ["`-p` takes key=value", "`-p env=staging`"]),
    ("run t -p =x", ["is not a parameter name"]),
    ("run t -p 'bad key=x'", ["`bad key` is not a parameter name"]),
    ("run t -p a=" + "x" * 1025, ["The value of `a` is too long (1025 characters, at most 1024)"]),
    ("run t -p a=x\x00y", ["must not contain a NUL"]),
    # Kubernetes names
    (
        "sync Payments-API",
        ["`Payments-API` is not a valid application name (Kubernetes names are lower case)"],
    ),
    ("run db_migrate", ["`db_migrate` is not a valid template name"]),
    ("status -wf", ["`status` has no option `-wf`"]),
    ("status " + "a" * 254, ["is not a valid workflow name"]),
    ("status wf-1 --namespace my.ns", ["`my.ns` is not a valid namespace name"]),
    ("templates --cluster " + "a" * 64, ["is not a valid cluster name"]),
    ("app payments-", ["`payments-` is not a valid application name"]),
    # numbers and ranges
    ("runs --limit 0", ["`--limit` must be a whole number from 1 to 100, not `0`"]),
    ("runs --limit 101", ["from 1 to 100"]),
    ("audit --limit ten", ["from 1 to 100, not `ten`"]),
    ("audit --limit \u0661", ["from 1 to 100"]),  # an Arabic-Indic digit is not a number here
    ("apps --page 0", ["`--page` must be a whole number from 1 to 10000 (1 is the first page), not `0`"]),
    ("apps --page -1", ["`--page` must be a whole number from 1 to 10000"]),
    ("apps --page two", ["from 1 to 10000 (1 is the first page), not `two`"]),
    ("apps --page 2.5", ["from 1 to 10000"]),
    ("apps --page 10001", ["from 1 to 10000"]),
    ("apps --page", ["`--page` needs a value"]),
    ("apps --page 2 --page 3", ["`--page` is given twice"]),
    ("rollback payments-api HEAD~1", ["`HEAD~1` is not a history id"]),
    # revisions, reasons
    ("sync a --revision ../../etc", ["is not a revision"]),
    ("sync a --revision -x", ["is not a revision"]),
    ("rollback a --reason ''", ["`--reason` needs some text"]),
    ("rollback a --reason " + "x" * 501, ["`--reason` is too long (501 characters, at most 500)"]),
    # people
    ("audit --user alice", ["`alice` is not a user", "`@alice`", "`U0123ABCD`"]),
    ("audit --user <#C0123|general>", ["is not a user"]),
    # schedules
    ("schedule add x --cron '0 9 * * *'", ["`schedule add` needs `--kind`"]),
    ("schedule add x --kind app-health", ["`schedule add` needs `--cron`"]),
    (
        "schedule add x --kind app-helth --cron '0 9 * * *'",
        ["not a known schedule kind", "Did you mean `app-health`?"],
    ),
    ("schedule add x --kind run --cron '0 9 * * *'", ["kind `run` needs `--template T`"]),
    ("schedule add x --kind app-health --cron '0 9 * * *' -p a=1", ["only apply to schedules of kind `run`"]),
    ("schedule add x --kind app-health --cron '0 9 * *'", ["is not a cron expression", "five fields"]),
    ("schedule add x --kind app-health --cron '0 9 * * *' --timezone 'Paris time'", ["is not a time zone"]),
    ("schedule add Morning --kind app-health --cron '0 9 * * *'", ["`Morning` is not a valid schedule name"]),
    # quoting
    ('rollback a --reason "bad deploy', ["A quote is not closed", '`--reason "bad deploy"`']),
    ("rollback a --reason 'bad", ["A quote is not closed"]),
    ("rollback a --reason bad\\", ["lone backslash"]),
    ("x" * 6001, ["too long"]),
]


@pytest.mark.parametrize(("text", "fragments"), ERRORS, ids=[t[:40] for t, _ in ERRORS])
def test_bad_text_gets_a_helpful_error(text: str, fragments: list[str]) -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command(text)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message


def test_usage_travels_with_the_error_and_uses_the_configured_command() -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command("sync payments-api --prun", command="/deploybot")
    assert caught.value.usage == "/deploybot sync APP [--revision R] [--prune] [--dry-run] [--cluster C]"
    assert "`/deploybot sync APP" in str(caught.value)


def test_errors_quote_long_values_shortened() -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse_command("sync " + "A" * 300)
    assert "A" * 57 + "..." in str(caught.value)
    assert "A" * 61 not in str(caught.value)


def test_help_word_after_double_dash_is_a_name() -> None:
    assert parse_command("status -- help") == StatusCommand(workflow="help")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT> run db-migrate", "run db-migrate"),
        ("  <@UBOT|chatops>   sync payments-api", "sync payments-api"),
        ("<@UOTHER> run db-migrate", "<@UOTHER> run db-migrate"),
        ("run db-migrate", "run db-migrate"),
    ],
)
def test_app_mentions_lose_only_the_bots_own_mention(text: str, expected: str) -> None:
    assert strip_bot_mention(text, "UBOT") == expected


def test_mention_then_same_grammar() -> None:
    assert parse_command(strip_bot_mention("<@UBOT> sync payments-api --prune", "UBOT")) == SyncCommand(
        app="payments-api", prune=True
    )


def test_commands_name_their_verb_record() -> None:
    assert parse_name("schedule add x --kind app-health --cron '0 9 * * *'") == "schedule add"
    assert parse_name("schedule remove x") == "schedule remove"
    assert parse_name("schedule list") == "schedule list"
    assert parse_name("sync a") == "sync"
