"""Camera sources: the synthetic ALPR camera, folders of images and video files.

``alpr.connectors.camera.synthetic`` renders plates on passing vehicles with ground
truth; ``alpr.connectors.camera.sources`` turns folders, videos and the synthetic camera
into bounded streams of :class:`alpr.records.Frame`. Hard US scenes (plate designs, distractor
text, night/infrared/glare) are opt-in: ``SyntheticCamera(us_hard=True, lighting="night")``.
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
from .lighting import LIGHTING
from .us_designs import FEATURES as US_HARD_FEATURES, PlateDesign, random_design
from .us_scenes import Distractor

__all__ = [
    "FolderSource", "FrameSource", "SourceError", "SyntheticSource", "VideoFileSource", "open_source",
    "FrameTruth", "GroundTruth", "SyntheticCamera", "VehicleSpec", "load_ground_truth", "random_plate",
    "render_plate", "write_clip", "LIGHTING", "US_HARD_FEATURES", "PlateDesign", "random_design", "Distractor",
]
