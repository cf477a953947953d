"""Camera sources: the synthetic ALPR camera, folders of images and video files.

``alpr.connectors.camera.synthetic`` renders plates on passing vehicles with ground
truth; ``alpr.connectors.camera.sources`` turns folders, videos and the synthetic camera
into bounded streams of :class:`alpr.records.Frame`.
"""

from .sources import FolderSource, FrameSource, SourceError, SyntheticSource, VideoFileSource, open_source
from .synthetic import (
    FrameTruth,
    GroundTruth,
    SyntheticCamera,
    VehicleSpec,
    load_ground_truth,
    random_plate,
    render_plate,
    write_clip,
)

__all__ = [
    "FolderSource", "FrameSource", "SourceError", "SyntheticSource", "VideoFileSource", "open_source",
    "FrameTruth", "GroundTruth", "SyntheticCamera", "VehicleSpec", "load_ground_truth", "random_plate",
    "render_plate", "write_clip",
]
