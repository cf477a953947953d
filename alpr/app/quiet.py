"""Two Beam 2.77 import-time warnings that are wrong for this product, handled at their cause.

* ``Resource module is not available for current platform``: ``apache_beam.ml.inference.base``
  imports the standard ``resource`` module in the same ``try`` as its ``ModelManager``, which
  needs PyTorch; without PyTorch it sets ``resource = None`` and warns on every RunInference
  bundle, although ``resource`` is there (Linux). :func:`restore_beam_resource` puts it back, so
  RunInference's memory metric works and the warning has no cause left.
* ``apitools not found, and bigquery client libraries are not available``: printed when Beam's
  GCP client package is imported without the ``[gcp]`` extra; this product uses no Google Cloud
  I/O. :class:`BeamImportNoise` lowers exactly that message to DEBUG (``--debug`` shows it).
"""

from __future__ import annotations

import logging

APITOOLS_MSG = "apitools not found, and bigquery client libraries are not available"


class BeamImportNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(APITOOLS_MSG):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def restore_beam_resource() -> bool:
    """Give ``apache_beam.ml.inference.base`` its ``resource`` module back; True if it was missing."""
    try:
        import resource

        from apache_beam.ml.inference import base
    except ImportError:  # pragma: no cover - not on POSIX, or no Beam
        return False
    if getattr(base, "resource", None) is None:
        base.resource = resource
        return True
    return False


def install() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, BeamImportNoise) for f in handler.filters):
            handler.addFilter(BeamImportNoise())
    restore_beam_resource()
