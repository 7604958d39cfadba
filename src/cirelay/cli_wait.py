"""The wait options of the commands that start something and may wait for it, or wait (click).

Apart from cirelay.cli so that a script whose commands never wait (Port) carries no waiter.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from cirelay.cli import with_options
from cirelay.waiting import WaitSettings


def wait_options(
    wait_flag: bool, cancel_default: bool = False, poll_max: float = 15.0, cancellable: bool = True
) -> Callable[[Any], Any]:
    """The options of every command that starts something and may wait for it, or waits.

    The command gets them as one `waiting: WaitSettings` parameter. --wait is offered when wait_flag
    (else waiting.wait is True), --cancel-on-timeout only when the remote task can be cancelled.
    """

    def decorate(command: Any) -> Any:
        @functools.wraps(command)
        def wrapper(*args: Any, timeout: float, poll_max: float, **kwargs: Any) -> Any:
            settings = WaitSettings(
                wait=bool(kwargs.pop("wait", False)) if wait_flag else True,
                timeout=timeout,
                poll_max=poll_max,
                cancel=bool(kwargs.pop("cancel_on_timeout", False)),
                verbose=bool(kwargs.pop("verbose", False)),
            )
            return command(*args, waiting=settings, **kwargs)

        options = [
            click.option(
                "--verbose",
                is_flag=True,
                help="Say where the wait is at every poll, not only when the state changes "
                "(folded in one group in GitHub Actions).",
            ),
            click.option(
                "--poll-max",
                type=click.FloatRange(min=1),
                default=poll_max,
                show_default=True,
                help="Longest pause between two polls, in seconds.",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0),
                default=3600,
                show_default=True,
                envvar="CIRELAY_WAIT_TIMEOUT",
                show_envvar=True,
                help="Give up waiting after this many seconds (exit 3).",
            ),
        ]
        if cancellable:
            options.insert(
                0,
                click.option(
                    "--cancel-on-timeout/--no-cancel-on-timeout",
                    default=cancel_default,
                    show_default=True,
                    help="Cancel the remote task when the timeout passes or the wait is interrupted.",
                ),
            )
        if wait_flag:
            options.append(click.option("--wait", is_flag=True, help="Wait until it finishes; exit 0 only on success."))
        return with_options(wrapper, options)

    return decorate
