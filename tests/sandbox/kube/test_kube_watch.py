"""Watches through `kubernetes.watch.Watch().stream`: events, resume, 410, drops, bookmarks."""

from __future__ import annotations

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

WF = ("argoproj.io", "v1alpha1")


def test_watch_sees_added_modified_deleted(custom, make_template, make_workflow, start_watch):
    make_template()
    listed = custom.list_namespaced_custom_object(*WF, "argo", "workflows")
    collector = start_watch(
        custom.list_namespaced_custom_object,
        *WF,
        "argo",
        "workflows",
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=30,
    )
    name = make_workflow()["metadata"]["name"]
    custom.patch_namespaced_custom_object_status(
        *WF, "argo", "workflows", name, {"status": {"phase": "Running"}}
    )
    custom.delete_namespaced_custom_object(*WF, "argo", "workflows", name)

    wait_until(lambda: len(collector.seen()) == 3, timeout=30, message="three watch events")
    assert collector.seen() == [("ADDED", name), ("MODIFIED", name), ("DELETED", name)]
    assert collector.events[1]["raw_object"]["status"] == {"phase": "Running"}
    versions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in collector.events]
    assert versions == sorted(versions)


def test_watch_without_version_starts_with_current_objects(custom, make_template, start_watch):
    make_template("a")
    make_template("b")
    collector = start_watch(
        custom.list_namespaced_custom_object, *WF, "argo", "workflowtemplates", timeout_seconds=30
    )
    wait_until(lambda: len(collector.seen()) == 2, timeout=30, message="synthetic ADDED events")
    make_template("c")
    wait_until(lambda: len(collector.seen()) == 3, timeout=30, message="live event")
    assert collector.seen() == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_resume_from_version_sees_only_later_events(custom, make_template):
    make_template("before")
    mark = custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates")["metadata"][
        "resourceVersion"
    ]
    make_template("after-1")
    make_template("after-2")
    seen = [
        e["object"]["metadata"]["name"]
        for e in watch.Watch().stream(
            custom.list_namespaced_custom_object,
            *WF,
            "argo",
            "workflowtemplates",
            resource_version=mark,
            timeout_seconds=1,
        )
    ]
    assert seen == ["after-1", "after-2"]


def test_watch_applies_selectors_and_reports_objects_leaving_them(
    custom, make_template, make_workflow, start_watch
):
    make_template()
    collector = start_watch(
        custom.list_namespaced_custom_object,
        *WF,
        "argo",
        "workflows",
        label_selector="team=sre",
        resource_version="0",
        timeout_seconds=30,
    )
    other = make_workflow(team="data")["metadata"]["name"]
    mine = make_workflow(team="sre")["metadata"]["name"]
    custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", mine, {"metadata": {"labels": {"team": "x"}}}
    )
    custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", other, {"metadata": {"labels": {"team": "sre"}}}
    )
    wait_until(lambda: len(collector.seen()) == 3, timeout=30, message="selector events")
    assert collector.seen() == [("ADDED", mine), ("DELETED", mine), ("ADDED", other)]


def test_compaction_makes_old_versions_gone(kube_server: KubeApiServer, custom, make_template):
    make_template("a")
    old = custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates")["metadata"][
        "resourceVersion"
    ]
    make_template("b")
    kube_server.faults.compact()

    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                custom.list_namespaced_custom_object,
                *WF,
                "argo",
                "workflowtemplates",
                resource_version=old,
                timeout_seconds=5,
            )
        )
    assert caught.value.status == 410
    assert "too old resource version" in caught.value.reason

    # without timeout_seconds the client retries once, then raises the same way
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                custom.list_namespaced_custom_object, *WF, "argo", "workflowtemplates", resource_version=old
            )
        )
    assert caught.value.status == 410

    fresh = custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates")
    events = list(
        watch.Watch().stream(
            custom.list_namespaced_custom_object,
            *WF,
            "argo",
            "workflowtemplates",
            resource_version=fresh["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    assert events == []


def test_bounded_history_expires_old_versions(custom, make_template, kube_server: KubeApiServer):
    make_template("first")
    old = custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates")["metadata"][
        "resourceVersion"
    ]
    for i in range(60):  # history_limit is 50 in the fixture
        kube_server.store.create("", "v1", "configmaps", "default", {"metadata": {"name": f"cm{i}"}})
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                custom.list_namespaced_custom_object,
                *WF,
                "argo",
                "workflowtemplates",
                resource_version=old,
                timeout_seconds=2,
            )
        )
    assert caught.value.status == 410


def test_dropped_watch_ends_the_stream(kube_server: KubeApiServer, custom, make_template, start_watch):
    make_template("a")
    collector = start_watch(
        custom.list_namespaced_custom_object, *WF, "argo", "workflowtemplates", timeout_seconds=60
    )
    wait_until(lambda: kube_server.open_watches == 1 and collector.seen(), timeout=30, message="open watch")
    kube_server.faults.drop_watches()
    assert collector.ended.wait(5), "the client's stream ended"
    assert collector.error is None
    wait_until(lambda: kube_server.open_watches == 0, timeout=30, message="server side of the watch to end")


def test_abruptly_dropped_watch_raises_in_the_client(kube_server: KubeApiServer, custom, start_watch):
    collector = start_watch(
        custom.list_namespaced_custom_object, *WF, "argo", "workflowtemplates", timeout_seconds=60
    )
    wait_until(lambda: kube_server.open_watches == 1, timeout=30, message="open watch")
    kube_server.faults.drop_watches(abrupt=True)
    assert collector.ended.wait(5)
    assert collector.error is not None


def test_bookmarks_carry_the_current_version(custom, core, start_watch, kube_server: KubeApiServer):
    collector = start_watch(
        custom.list_namespaced_custom_object,
        *WF,
        "argo",
        "workflows",
        allow_watch_bookmarks=True,
        timeout_seconds=1,
    )
    assert collector.ended.wait(5)
    bookmarks = [e for e in collector.events if e["type"] == "BOOKMARK"]
    assert bookmarks, "at least the closing bookmark"
    assert bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"] == kube_server.store.resource_version


def test_core_watch_with_typed_objects(core, start_watch):
    collector = start_watch(
        core.list_namespaced_config_map,
        "default",
        timeout_seconds=30,
        resource_version=core.list_namespaced_config_map("default").metadata.resource_version,
    )
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"})
    )
    wait_until(lambda: collector.events, timeout=30, message="configmap event")
    assert collector.events[0]["type"] == "ADDED"
    assert isinstance(collector.events[0]["object"], client.V1ConfigMap)
    assert collector.events[0]["object"].data == {"k": "v"}


def test_stopping_the_server_ends_open_watches(custom):
    srv = KubeApiServer(name="stop", tokens={"t": "u"}).start()
    api = client.ApiClient(client.Configuration(host=srv.url, api_key={"authorization": "Bearer t"}))
    try:
        stream = watch.Watch().stream(
            client.CustomObjectsApi(api).list_namespaced_custom_object,
            *WF,
            "argo",
            "workflows",
            timeout_seconds=60,
        )
        srv.store.create(*WF, "workflows", "argo", {"metadata": {"name": "w"}, "spec": {}})
        first = next(stream)
        assert first["type"] == "ADDED"
        srv.stop()
        assert list(stream) == []
    finally:
        srv.stop()
        api.close()
