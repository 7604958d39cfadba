"""The one error type every platform raises, and the exit codes the scripts share (README "Exit codes")."""

from __future__ import annotations

from typing import Any, Optional

# Exit codes, the same for every script (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the API or the remote task failed
EXIT_USAGE = 2  # bad input or usage (click's own usage errors use 2 too)
EXIT_TIMEOUT = 3  # gave up waiting; the remote task may still be running
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM, after cleanup


class CirelayError(Exception):
    """The one error every script raises: a message for people, plus what the API said."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        url: Optional[str] = None,
        api_message: Optional[str] = None,
        result: Any = None,
        exit_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.api_message = api_message
        self.result = result  # printed on stdout before the error (final task state, partial results)
        if exit_code is not None:
            self.exit_code = exit_code


class WaitTimeout(CirelayError):
    """Gave up waiting; the remote task may still be running."""

    exit_code = EXIT_TIMEOUT


class InputError(CirelayError):
    """Bad input or a missing setting (exit 2); the command line shows it as a usage error.

    param_hint names the option it is about ("'--file'"), as click's BadParameter does.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, param_hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.param_hint = param_hint


def require(value: Optional[str], option: str, envvar: str) -> str:
    """A required setting that usually comes from the CI context: exit 2 naming both."""
    if value is None or value == "":
        raise InputError(f"missing {option}: pass it or set {envvar}")
    return value


class WaitInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a wait, after the remote task was cancelled when that was asked.

    A KeyboardInterrupt still (exit 130), carrying the last state seen so that the command can print
    it and write its outputs before it stops: a stopped job still tells what it left behind.
    """

    def __init__(self, result: Any, *, cancelled: bool = False) -> None:
        super().__init__()
        self.result = result
        self.cancelled = cancelled
