"""Compatibility import: plate grouping lives in :mod:`alpr.pipelines.core.grouping`."""

from alpr.pipelines.core.grouping import (ALT_WEIGHT, MAX_GROUP_CANDIDATES, GroupingStage, GroupingState,  # noqa: F401
                                          OpenGroup, PlateGrouper, Step, build_group, edit_distance,
                                          is_confirmed, plate_distance, vote)
