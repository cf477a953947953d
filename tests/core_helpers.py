"""Builders of plate reads for the engine-neutral core tests."""
from alpr.records import Candidate, PlateRead, stable_id


def read(plate: str, ts: float, conf: float = 95.0, cam: str = "cam-1", agency: str = "AG-A", seq: int = 0,
         alts=()) -> PlateRead:
    cands = (Candidate(plate, conf),) + tuple(Candidate(p, c) for p, c in alts)
    return PlateRead(read_id=stable_id("t", cam, seq, plate, ts), frame_id=f"{cam}:{seq}", camera_id=cam,
                     agency=agency, capture_ts=ts, plate=plate, confidence=conf, coordinates=(),
                     candidates=cands, seq=seq)


def passage(plate: str, t0: float, n: int = 8, fps: float = 4.0, cam: str = "cam-1", agency: str = "AG-A",
            seq0: int = 0, conf: float = 95.0, partial_first: bool = True) -> list[PlateRead]:
    """One vehicle passing: a partial read as it enters, then ``n - 1`` full reads."""
    out = []
    for i in range(n):
        p = plate[2:] if (partial_first and i == 0) else plate
        c = 70.0 if (partial_first and i == 0) else conf
        out.append(read(p, t0 + i / fps, c, cam, agency, seq0 + i))
    return out
