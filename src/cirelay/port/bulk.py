"""Bulk work for Port: packing entities into requests, and sending many requests with a full account.

Every input ends up in exactly one outcome: done, failed (with Port's reason) or not attempted (the run
was stopped before it was sent). Limits from Port's spec (cirelay/emulators/contracts/port-openapi.json): 20 entities
and 1 MiB per bulk upsert, 100 identifiers per bulk delete.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from cirelay.errors import InputError
from cirelay.output import log

BULK_MAX_ENTITIES = 20  # Port's limit per /entities/bulk request
BULK_MAX_BYTES = 1024 * 1024  # Port answers 413 above 1 MiB per request body
PROGRESS_EVERY = 10.0  # seconds: a bulk run says how far it got at least this often ...
PROGRESS_STEP = 0.1  # ... or at each further tenth of its inputs, whichever comes first; never more often
STOP_GRACE = 10.0  # seconds the batches in flight get to finish after SIGTERM/SIGINT
# The spec's identifier pattern ^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$ (\p{L}: any letter; \w adds only _ and digits).
_IDENTIFIER = re.compile(r"[\w@.+:\\/=-]+")  # with fullmatch, and never "." or ".."


class _NotSent(Exception):
    """A request given up before it was sent (the bulk run is stopping)."""


_NOT_SENT: Dict[str, Any] = {"error": "not_sent"}  # marker: the batch was never sent


def _indexes(batch: Any) -> List[int]:
    return [item[0] for item in (batch[1] if isinstance(batch, tuple) else batch)]


def _items(batch: Any) -> List[Tuple[int, str]]:
    return [(item[0], item[1]) for item in (batch[1] if isinstance(batch, tuple) else batch)]


def _failure(index: int, identifier: Optional[str], error: str, message: str) -> Dict[str, Any]:
    return {"index": index, "identifier": identifier, "error": error, "message": message}


def _bulk_size(encoded: List[bytes]) -> int:
    """Bytes of {"entities":[…]} holding these already-encoded entities."""
    return len(b'{"entities":[]}') + sum(len(e) for e in encoded) + max(0, len(encoded) - 1)


def _map_bulk_result(batch: List[Tuple[int, str, bytes]], body: Any) -> Dict[int, Optional[Dict[str, Any]]]:
    """Map a 200/207 body's per-batch indexes back to input indexes; unreported entities fail."""
    done: Dict[int, Optional[Dict[str, Any]]] = {}
    body = body if isinstance(body, dict) else {}

    def position(item: Any) -> Optional[int]:
        if not isinstance(item, dict):
            return None
        at = item.get("index")
        if isinstance(at, int) and 0 <= at < len(batch) and batch[at][0] not in done:
            return at
        for at, (index, identifier, _) in enumerate(batch):  # no usable index: match the identifier
            if index not in done and identifier == str(item.get("identifier")):
                return at
        return None

    for item in body.get("entities") or []:
        at = position(item)
        if at is not None:
            done[batch[at][0]] = None
    for item in body.get("errors") or []:
        at = position(item)
        if at is not None:
            index, identifier, _ = batch[at]
            error = str(item.get("error") or f"http_{item.get('statusCode')}")
            done[index] = _failure(index, identifier, error, str(item.get("message") or error))
    for index, identifier, _ in batch:
        if index not in done:
            done[index] = _failure(index, identifier, "unreported", "Port's reply did not mention this entity")
    return done


def plan_upsert_batches(
    blueprint: Optional[str], entities: List[Dict[str, Any]]
) -> Tuple[List[Tuple[str, List[Tuple[int, str, bytes]]]], Dict[int, Optional[Dict[str, Any]]]]:
    """Entities packed into bulk requests (per blueprint, at most 20 / 1 MiB each, in input order).

    An entity's own "blueprint" field wins over `blueprint`. Returns the batches, each (blueprint,
    [(input index, identifier, encoded entity)]), and the inputs failed here without being sent.
    """
    outcomes: Dict[int, Optional[Dict[str, Any]]] = {}  # input index -> None (upserted) or failure
    batches: List[Tuple[str, List[Tuple[int, str, bytes]]]] = []
    current: Dict[str, List[Tuple[int, str, bytes]]] = {}
    for index, entity in enumerate(entities):
        identifier = str(entity.get("identifier"))
        target = entity.get("blueprint") or blueprint
        if not isinstance(target, str) or not target:
            raise InputError(f'item {index + 1} of the entities names no blueprint: give -b or a "blueprint" field')
        body = {k: v for k, v in entity.items() if k != "blueprint"}
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if not _IDENTIFIER.fullmatch(identifier) or identifier in (".", ".."):
            # Port's request schema refuses the whole request for one such identifier: keep it out.
            outcomes[index] = _failure(
                index,
                identifier,
                "invalid_request",
                f"identifier {identifier!r} is not a Port identifier (letters, digits and @_.+:\\/=- only)",
            )
            continue
        if _bulk_size([encoded]) > BULK_MAX_BYTES:
            outcomes[index] = _failure(
                index, identifier, "too_large", f"the entity is {len(encoded)} bytes; Port takes at most 1 MiB"
            )
            continue
        batch = current.setdefault(target, [])
        if batch and (
            len(batch) >= BULK_MAX_ENTITIES or _bulk_size([c[2] for c in batch] + [encoded]) > BULK_MAX_BYTES
        ):
            batches.append((target, batch))
            batch = current[target] = []
        batch.append((index, identifier, encoded))
    batches.extend((bp, batch) for bp, batch in current.items() if batch)
    batches.sort(key=lambda b: b[1][0][0])  # input order
    return batches, outcomes


class Progress:
    """'upserted 400/1000 entities (40 %)' on stderr, at most once per tenth of the inputs or per 10 s.

    Quiet for a run of one request; the last line is left to the result.
    """

    def __init__(self, total: int, batches: int, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.what, self.clock = total, what, clock
        self.quiet = batches < 2 or total == 0
        self.done = 0
        self.shown_at = clock()
        self.next_step = PROGRESS_STEP

    def add(self, count: int) -> None:
        self.done += count
        if self.quiet or self.done >= self.total:
            return
        now = self.clock()
        if self.done / self.total >= self.next_step or now - self.shown_at >= PROGRESS_EVERY:
            log(f"{self.what} {self.done}/{self.total} entities ({100 * self.done // self.total} %)")
            self.shown_at = now
            while self.next_step <= self.done / self.total:
                self.next_step += PROGRESS_STEP


def run_batches(
    batches: List[Any],
    send: Callable[[Any], Dict[int, Optional[Dict[str, Any]]]],
    concurrency: int,
    stopping: threading.Event,
    what: str = "entities",
) -> Tuple[Dict[int, Optional[Dict[str, Any]]], List[int], bool]:
    """Send batches, at most `concurrency` in flight; on SIGTERM/SIGINT send no more.

    The batches in flight get STOP_GRACE seconds to finish (a second signal stops at once); what
    they do not finish in time is failed as 'interrupted' (sent, answer not seen). Returns the
    outcomes, the input indexes never sent, and whether the run was stopped.
    """
    outcomes: Dict[int, Optional[Dict[str, Any]]] = {}
    finished: queue.Queue[Tuple[int, Any]] = queue.Queue()
    in_flight: Dict[int, Any] = {}
    pending = list(enumerate(batches))
    pending.reverse()
    interrupted = False
    progress = Progress(sum(len(_indexes(b)) for b in batches), len(batches), what)

    def work(number: int, batch: Any) -> None:
        try:
            finished.put((number, send(batch)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            finished.put((number, exc))

    def collect(number: int, result: Any) -> None:
        batch = in_flight.pop(number)
        progress.add(len(_indexes(batch)))
        if isinstance(result, _NotSent):
            for index in _indexes(batch):
                outcomes.setdefault(index, _NOT_SENT)
        elif isinstance(result, BaseException):
            raise result
        else:
            outcomes.update(result)

    try:
        while pending or in_flight:
            while pending and len(in_flight) < max(1, concurrency):
                number, batch = pending.pop()
                in_flight[number] = batch
                threading.Thread(target=work, args=(number, batch), daemon=True).start()
            collect(*finished.get())
    except KeyboardInterrupt:
        interrupted = True
        stopping.set()
        count = sum(len(_indexes(b)) for b in in_flight.values())
        if in_flight:
            log(
                f"stopping: {len(in_flight)} batch(es) of {count} entities in flight get up to "
                f"{STOP_GRACE:g} s to finish (a second signal stops at once); nothing more is sent"
            )
        else:
            log("stopping: nothing more is sent")
        deadline = time.monotonic() + STOP_GRACE
        try:
            while in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    collect(*finished.get(timeout=left))
                except queue.Empty:
                    break
        except KeyboardInterrupt:
            log("second signal: stopping at once")
        for batch in in_flight.values():
            for index, identifier in _items(batch):
                outcomes[index] = _failure(
                    index, identifier, "interrupted", "sent to Port, but the run stopped before its answer came"
                )
    not_attempted = [i for b in batches for i in _indexes(b) if outcomes.get(i, _NOT_SENT) is _NOT_SENT]
    for index in not_attempted:
        outcomes.pop(index, None)
    return outcomes, not_attempted, interrupted
