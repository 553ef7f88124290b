"""Leader election with a `coordination.k8s.io/v1` Lease, the way Kubernetes controllers do it.

Every replica answers Slack; only the leader runs watches, progress updates and schedules.
Each replica tries to hold the Lease: the holder renews `renewTime` every `renew_seconds`;
another replica takes over only once `renewTime + leaseDurationSeconds` has passed, and every
write carries the Lease's resourceVersion, so two replicas can never both win (the loser gets
409 Conflict). A leader that cannot renew in time steps down on its own before the lease
expires, so two leaders never overlap. On a clean shutdown the leader releases the Lease so a
successor takes over at once instead of after a full lease duration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15.0,
        renew_seconds: float = 5.0,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[], None] = lambda: None,
        clock: Clock = _utc_now,
    ) -> None:
        if not 0 < renew_seconds < lease_seconds:
            raise ValueError("renew_seconds must be positive and shorter than lease_seconds")
        self._api = client.CoordinationV1Api(api)
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._lease_seconds = lease_seconds
        self._renew_seconds = renew_seconds
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading = False
        self._last_renewal: datetime | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"leader-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop campaigning; a leader steps down and releases the Lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._leading:
            self._set_leading(False)
            self._release()

    def _run(self) -> None:
        while not self._stop.is_set():
            held: bool | None
            try:
                held = self.try_acquire_or_renew()
            except (ApiException, HTTPError, OSError) as exc:
                log.warning("leader election: cannot reach the Lease (%s)", type(exc).__name__)
                held = None  # unknown: keep leading until the lease could have expired
            now = self._clock()
            if held:
                self._last_renewal = now
                self._set_leading(True)
            elif held is False:
                self._set_leading(False)
            elif self._leading:
                margin = timedelta(seconds=self._lease_seconds - self._renew_seconds)
                if now >= (self._last_renewal or now) + margin:
                    self._set_leading(False)
            self._stop.wait(self._renew_seconds)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        log.info("%s leadership of %s/%s", "took" if leading else "lost", self._namespace, self._name)
        try:
            (self._on_started if leading else self._on_stopped)()
        except Exception:
            log.exception("leadership callback failed")

    def try_acquire_or_renew(self) -> bool:
        """One election round; True when this replica holds the Lease afterwards."""
        now = self._clock()
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create(now)
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity
        if holder == self.identity:
            spec.renew_time = now
            spec.lease_duration_seconds = int(self._lease_seconds)
            return self._replace(lease, spec)
        renewed = spec.renew_time or spec.acquire_time
        duration = spec.lease_duration_seconds or int(self._lease_seconds)
        if holder and renewed is not None and renewed + timedelta(seconds=duration) > now:
            return False
        spec.holder_identity = self.identity
        spec.acquire_time = now
        spec.renew_time = now
        spec.lease_duration_seconds = int(self._lease_seconds)
        spec.lease_transitions = (spec.lease_transitions or 0) + 1
        return self._replace(lease, spec)

    def _create(self, now: datetime) -> bool:
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self._name, namespace=self._namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                acquire_time=now,
                renew_time=now,
                lease_duration_seconds=int(self._lease_seconds),
                lease_transitions=0,
            ),
        )
        try:
            self._api.create_namespaced_lease(self._namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # another replica created it first
                return False
            raise
        return True

    def _replace(self, lease: client.V1Lease, spec: client.V1LeaseSpec) -> bool:
        lease.spec = spec
        try:
            self._api.replace_namespaced_lease(self._name, self._namespace, lease)
        except ApiException as exc:
            if exc.status == 409:  # someone else wrote first: they won this round
                return False
            raise
        return True

    def _release(self) -> None:
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
            spec = lease.spec
            if spec is None or spec.holder_identity != self.identity:
                return
            # An empty holder lets the next replica take over on its next round (as client-go does).
            spec.holder_identity = ""
            self._replace(lease, spec)
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("could not release the Lease (%s); it expires on its own", type(exc).__name__)
