"""pmp's logging: the logger "pmp" (pmp.executor, pmp.worker, ... below it) and
PMP_LOG_LEVEL, which sets its level in the controller and, through the environment, in
every worker.

An application that configures logging (a handler on the root logger) gets pmp's records
through it. Otherwise they go to stderr as `pmp: LEVEL message` lines: pmp's own handler
steps aside once the root logger has a handler, so nothing is printed twice."""
import logging
import os
import sys

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

logger = logging.getLogger("pmp")


class _UnlessConfigured(logging.StreamHandler):
    """stderr, for an application that configured no logging of its own."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("pmp: %(levelname)s %(message)s"))

    @property
    def stream(self):
        return sys.stderr  # the current one: tests and notebooks replace sys.stderr

    @stream.setter
    def stream(self, value):
        pass

    def handle(self, record):
        if logging.getLogger().handlers:
            return False  # the application's handlers take it (pmp propagates to root)
        return super().handle(record)


def parse_level(text):
    """A level name (any case) or number, from PMP_LOG_LEVEL."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    if value.upper() in LEVELS:
        return getattr(logging, value.upper())
    raise ValueError(f"pmp: PMP_LOG_LEVEL={text!r} is not a log level: use one of {', '.join(LEVELS)} "
                     f"(or a number such as 10), or unset it")


def configure():
    """Once, at this module's import: the level from PMP_LOG_LEVEL, and the stderr handler."""
    text = os.environ.get("PMP_LOG_LEVEL", "")
    if text.strip():
        logger.setLevel(parse_level(text))
    if not any(isinstance(h, _UnlessConfigured) for h in logger.handlers):
        logger.addHandler(_UnlessConfigured())


configure()  # at first import, before anything of pmp logs
