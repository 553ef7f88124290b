"""How does `apps` answer when Argo CD holds hundreds or thousands of Applications? Prints answer figures.

Starts the sandbox world (`python -m bot.sandbox`, one cluster `dev` that hosts Argo CD) and the
real bot (`chatops run`, the cluster configured with `argocd_namespace: argocd`), each in its own
process. For each size N it creates Applications in the Kubernetes stand-in's `argocd` namespace
until there are N (names like `team-07-service-0123`, 20 projects, destination `dev`), then types
`/ops apps` three times and reads the ephemeral answers back from the Slack stand-in. Figures per
size: answer time (first and median of the three, from sending the command to the answer
appearing), pages the answer announces ("Page 1 of P"), the largest answer in blocks and in
characters (longest section text, all block text together, the message text), and whether it stays
within Slack's limits: 50 blocks, 3,000 characters per section text, about 12,000 characters of
block text in all (Slack refuses about 13,200 with `msg_blocks_too_long`). Ends with one JSON line.

    .venv/bin/python benchmarks/apps_page.py [--sizes 400,2000] [--quick]

`--quick`: 60 Applications (3 pages).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ack_latency import USERS, Sandbox, clean, live_connections, machine, start_bot, wait_for
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

G, V, PLURAL, NAMESPACE = "argoproj.io", "v1alpha1", "applications", "argocd"
CHANNEL = "CBENCH01"
ADMIN = USERS[0]
MAX_BLOCKS, MAX_SECTION, MAX_TOTAL = 50, 3000, 12_000
ASKS = 3


def _application(index: int) -> dict[str, Any]:
    name = f"team-{index % 40:02d}-service-{index:04d}"
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": f"project-{index % 20:02d}",
            "source": {
                "repoURL": "https://git.example.com/platform/deploy.git",
                "path": f"apps/{name}/dev",
                "targetRevision": "main",
            },
            "destination": {"name": "dev", "namespace": name},
        },
    }


def create_apps(custom: kube_client.CustomObjectsApi, first: int, last: int) -> None:
    def create(index: int) -> None:
        try:
            custom.create_namespaced_custom_object(G, V, NAMESPACE, PLURAL, _application(index))
        except ApiException as exc:
            if exc.status != 409:
                raise

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(first, last)))


def _block_texts(block: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    text = block.get("text")
    if isinstance(text, dict):
        texts.append(str(text.get("text", "")))
    for field in block.get("fields") or []:
        texts.append(str(field.get("text", "")))
    for element in block.get("elements") or []:
        if isinstance(element, dict) and "text" in element:
            inner = element["text"]
            texts.append(str(inner.get("text", "") if isinstance(inner, dict) else inner))
    return texts


def measure(answer: dict[str, Any]) -> dict[str, Any]:
    blocks = answer.get("blocks") or []
    sections = [len(str((b.get("text") or {}).get("text", ""))) for b in blocks if b.get("type") == "section"]
    total = sum(len(t) for b in blocks for t in _block_texts(b))
    text = str(answer.get("text", ""))
    every = " ".join([text] + [t for b in blocks for t in _block_texts(b)])
    pages = re.search(r"[Pp]age (\d+) of (\d+)", every)
    return {
        "blocks": len(blocks),
        "longest_section_chars": max(sections, default=0),
        "block_text_chars": total,
        "message_text_chars": len(text),
        "pages": int(pages.group(2)) if pages else 1,
        "within_limits": len(blocks) <= MAX_BLOCKS
        and max(sections, default=0) <= MAX_SECTION
        and total <= MAX_TOTAL,
    }


def ask(driver: Any, timeout: float) -> tuple[float, dict[str, Any] | None]:
    before = len(driver.ephemerals(user=ADMIN, channel=CHANNEL))
    sent = time.time()
    driver.send_command(user=ADMIN, channel=CHANNEL, command="/ops", text="apps")
    got: list[dict[str, Any]] = []

    def answered() -> bool:
        got[:] = driver.ephemerals(user=ADMIN, channel=CHANNEL)[before:]
        return bool(got)

    if not wait_for(answered, timeout, "the apps answer", step=0.05):
        return float("nan"), None
    return float(got[0]["ts"]) - sent, got[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="400,2000", help="Applications, comma-separated, ascending")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    parser.add_argument("--quick", action="store_true", help="60 Applications")
    args = parser.parse_args(argv)
    sizes = [60] if args.quick else sorted(int(s) for s in args.sizes.split(",") if s)
    box = machine()
    print(f"{box['cores']} cores, {box['memory_mb']} MB; sizes {sizes}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-apps-") as tmp:
        state = Path(tmp)
        sandbox = Sandbox(state, limits=True)
        bot = None
        try:
            driver, world = sandbox.driver, sandbox.world
            driver.add_user(ADMIN, name="bench", email="bench@example.com")
            driver.add_channel(CHANNEL, name="bench")
            cluster = world["clusters"]["dev"]
            bot = start_bot(
                world,
                state,
                config={
                    "clusters": [
                        {
                            "name": "dev",
                            "auth": {"kind": "token", "server": cluster["api_url"], "token_env": "BENCH_DEV"},
                            "argocd_namespace": NAMESPACE,
                        }
                    ]
                },
                env={"BENCH_DEV": cluster["token"]},
            )
            wait_for(lambda: live_connections(driver) >= 1, 60, "the bot to connect")
            api = kube_config.new_client_from_config(config_file=world["kubeconfig"])  # type: ignore[no-untyped-call]
            custom = kube_client.CustomObjectsApi(api)
            made = 0
            print(
                f"{'apps':>5} {'first s':>7} {'median s':>8} {'pages':>5} {'blocks':>6} {'section':>7} "
                f"{'blocks ch':>9} {'text ch':>7} {'limits':>6}",
                flush=True,
            )
            for size in sizes:
                began = time.perf_counter()
                create_apps(custom, made, size)
                made = size
                listed = custom.list_namespaced_custom_object(G, V, NAMESPACE, PLURAL)
                count = len(listed["items"])  # type: ignore[index]
                create_s = time.perf_counter() - began
                times: list[float] = []
                figures: dict[str, Any] = {}
                for _ in range(ASKS):
                    seconds, answer = ask(driver, args.timeout)
                    times.append(seconds)
                    if answer is not None:
                        mine = measure(answer)
                        if not figures or mine["block_text_chars"] > figures["block_text_chars"]:
                            figures = mine
                answered = [t for t in times if t == t]
                row = {
                    "apps": count,
                    "create_s": create_s,
                    "answered": len(answered),
                    "asked": ASKS,
                    "answer_s_first": times[0],
                    "answer_s_median": statistics.median(answered) if answered else float("nan"),
                    **figures,
                }
                results.append(row)
                print(
                    f"{count:>5} {times[0]:>7.2f} {row['answer_s_median']:>8.2f} {row.get('pages', 0):>5} "
                    f"{row.get('blocks', 0):>6} {row.get('longest_section_chars', 0):>7} "
                    f"{row.get('block_text_chars', 0):>9} {row.get('message_text_chars', 0):>7} "
                    f"{'ok' if row.get('within_limits') else 'OVER':>6}",
                    flush=True,
                )
        finally:
            if bot is not None:
                bot.stop()
            sandbox.stop()
    limits = {"blocks": MAX_BLOCKS, "section_chars": MAX_SECTION, "block_text_chars": MAX_TOTAL}
    print(json.dumps(clean({"benchmark": "apps_page", **box, "slack_limits": limits, "results": results})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
