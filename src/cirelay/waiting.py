"""The one waiter: poll with capped exponential backoff until success, failure or the deadline."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from cirelay.errors import CirelayError, WaitInterrupted, WaitTimeout
from cirelay.output import annotation, log, log_group


class WaitSettings(NamedTuple):
    """What a command was told about waiting: --wait, --timeout, --poll-max, --cancel-on-timeout, --verbose."""

    wait: bool = True
    timeout: float = 3600.0
    poll_max: float = 15.0
    cancel: bool = False
    verbose: bool = False

    def run(
        self,
        poll: Callable[[], Any],
        state_of: Callable[[Any], Tuple[str, str]],
        *,
        what: str,
        url: Optional[str] = None,
        on_cancel: Optional[Callable[[], None]] = None,
    ) -> Any:
        """wait_for with these settings: first pause at most 2 s, ceiling --poll-max, cancel only when asked.

        With --verbose every poll says where the wait is, all of it one ::group:: fold in GitHub Actions.
        """
        return wait_for(
            poll,
            state_of,
            timeout=self.timeout,
            what=what,
            url=url,
            start=min(2.0, self.poll_max),
            ceiling=self.poll_max,
            on_abandon=on_cancel if self.cancel else None,
            verbose=self.verbose,
        )


def wait_for(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str] = None,
    start: float = 2.0,
    factor: float = 1.5,
    ceiling: float = 15.0,
    on_abandon: Optional[Callable[[], None]] = None,
    verbose: bool = False,
) -> Any:
    """Poll until state_of(last) says 'success' or 'failure', or the deadline passes.

    state_of returns (outcome, description): outcome is 'success', 'failure' or 'pending';
    a progress line goes to stderr whenever the description changes. Returns the last
    polled value on success, raises CirelayError (exit 1) on failure and WaitTimeout
    (exit 3) at the deadline, both carrying the last value as their result. on_abandon
    (e.g. cancel the remote task) runs when the deadline passes or the wait is interrupted; an
    interrupted wait raises WaitInterrupted (a KeyboardInterrupt) carrying the last value seen.
    """
    seen: List[Any] = []

    def polled() -> Any:
        seen[:] = [poll()]
        return seen[0]

    try:
        with log_group(f"waiting for {what}") if verbose else contextlib.nullcontext():
            return _wait_loop(
                polled,
                state_of,
                timeout=timeout,
                what=what,
                url=url,
                start=start,
                factor=factor,
                ceiling=ceiling,
                verbose=verbose,
            )
    except WaitTimeout as exc:
        if on_abandon is not None and _abandon(on_abandon, what):
            # The cancel took effect: the task is not running remotely any more, so do not say it may be.
            raise WaitTimeout(
                f"gave up waiting for {what} after {timeout:g} s and cancelled it{_where(url)}", result=exc.result
            )
        raise
    except KeyboardInterrupt:
        cancelled = on_abandon is not None and _abandon(on_abandon, what)
        raise WaitInterrupted(seen[0] if seen else None, cancelled=cancelled)


def _where(url: Optional[str]) -> str:
    return f" ({url})" if url else ""


def _abandon(on_abandon: Callable[[], None], what: str) -> bool:
    """Cancel the remote task; True when the cancel went through (a warning says so)."""
    log(f"cancelling {what}")
    try:
        on_abandon()
    except CirelayError as exc:
        log(f"could not cancel {what}: {exc.message}")
        return False
    annotation("warning", f"cancelled {what}: the wait ended before it did")
    return True


def _wait_loop(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str],
    start: float,
    factor: float,
    ceiling: float,
    verbose: bool = False,
) -> Any:
    started = time.monotonic()
    deadline = started + timeout
    delay, shown = start, None
    where = _where(url)
    polls = 0
    while True:
        current = poll()
        polls += 1
        outcome, description = state_of(current)
        if description != shown:
            log(f"{what}: {description}")
            shown = description
        elif verbose:  # the same state again: said only when asked, with where the wait is
            left = max(0.0, deadline - time.monotonic())
            log(f"{what}: still {description} (poll {polls}, {time.monotonic() - started:.0f} s in, {left:.0f} s left)")
        if outcome == "success":
            return current
        if outcome == "failure":
            raise CirelayError(f"{what} ended {description}{where}", result=current)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"gave up waiting for {what} after {timeout:g} s; it may still be running remotely{where}",
                result=current,
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * factor, ceiling)
