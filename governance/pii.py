"""Personal data in free text (State Auditor 2019-118 F2): names, dates of birth, addresses.

The check itself is :func:`alpr.pii.personal_data`, the one the file importer
(:mod:`alpr.connectors.hotlists`) uses as well, so every channel that stores free text next to a
plate (API, console, CLI, file import) refuses the same texts. This module only phrases its
answer for the governance layer's messages ("a name", "an address").
"""

from __future__ import annotations

from typing import Optional

from alpr.pii import personal_data as _kind
from alpr.pii import with_article


def personal_data(text: Optional[str]) -> Optional[str]:
    """What kind of personal data ``text`` seems to carry ("a date of birth", "a name" ...), or None."""
    return with_article(_kind(text))
