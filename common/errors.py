"""logosim's own exception types: raised anywhere, caught only at the CLI edge (one line, exit 1)."""

from __future__ import annotations


class LogosimError(Exception):
    """A configuration, input or connection problem that stops a run."""


class InputError(LogosimError):
    """The input file cannot be read as a domain list."""


class DataDirLocked(LogosimError):
    """Another logosim process holds the data folder."""


class ManifestError(LogosimError):
    """The manifest is missing or unusable."""


class StoreError(LogosimError):
    """The vector store cannot be reached or does not match what we expect."""


class ConvertError(Exception):
    """One logo could not be turned into a PNG; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple:  # crosses from a worker process with its reason intact
        return type(self), (self.reason, self.detail)
