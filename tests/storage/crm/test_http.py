"""One request's waits, shared by every CRM client (storage/crm/http.py): a connection that fails is tried again
after 2, 4, 8 … seconds until the waits are spent, then one line says the CRM cannot be reached; an answer the
client judges worth asking again waits its Retry-After. Over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from storage.crm.http import Retries
from storage.crm.sync import CrmError, sync
from tests.fakes.pipedrive_api import FakePipedriveApi
from tests.fixtures.crm_org import NOV
from tests.fixtures.run_bot_process import free_port
from tests.storage.crm.test_pipedrive_sync import connector, settings_for


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[str]]]:
    """A server that drops its first two connections without a word, then answers `{"ok": true}`; its URL and
    what it did with each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if len(seen) < 2:
                    seen.append("dropped")
                    continue
                seen.append("answered")
                body = b'{"ok": true}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    listener.close()


def test_dropped_connections_are_tried_again_after_two_then_four_seconds(flaky):
    url, seen = flaky
    waits: list[float] = []
    retries = Retries("Acme CRM", url, max_waits=3, sleep=waits.append)
    with httpx.Client(base_url=url) as http:
        answer = retries.answer(lambda: http.get("/things"))
    assert answer.json() == {"ok": True}
    assert seen == ["dropped", "dropped", "answered"] and waits == [2.0, 4.0]


def test_a_crm_nobody_answers_at_is_one_line_once_the_waits_are_spent():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    waits: list[float] = []
    retries = Retries("Acme CRM", url, max_waits=3, sleep=waits.append)
    with httpx.Client(base_url=url) as http, pytest.raises(CrmError) as refused:
        retries.answer(lambda: http.get("/things"))
    assert str(refused.value) == f"cannot reach Acme CRM at {url}: ConnectError"
    assert waits == [2.0, 4.0, 8.0]


def test_an_answer_worth_asking_again_waits_its_retry_after_then_the_backoff_until_the_waits_are_spent():
    waits: list[float] = []
    retries = Retries("Acme CRM", "http://acme.test", max_waits=3, sleep=waits.append)
    limited = httpx.Response(429, headers={"Retry-After": "7"})
    busy = httpx.Response(503)
    assert retries.again(limited, "rate limited") and waits == [7.0]
    assert retries.again(busy) and waits == [7.0, 4.0]  # the second wait: 2 ** 2
    assert retries.again(busy, retry_after="11") and waits == [7.0, 4.0, 11.0]
    assert not retries.again(busy) and waits == [7.0, 4.0, 11.0]  # spent: no fourth wait


def test_a_sync_from_a_crm_that_went_away_fails_in_one_line_after_its_waits(engine):
    gone = FakePipedriveApi(now=NOV(1))
    gone.start()
    settings = settings_for(gone)
    gone.stop()  # its port now refuses connections
    waits: list[float] = []
    run = sync(engine, settings, connector(settings, sleep=waits.append))
    assert not run.completed
    assert run.error == f"cannot reach Pipedrive at {gone.base_url}: ConnectError"
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
