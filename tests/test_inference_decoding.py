"""Plate-alphabet CTC decoding and candidate generation on hand-made probability matrices."""

from __future__ import annotations

import numpy as np
import pytest

from alpr.inference.decoding import (
    PLATE_CHARS,
    REDUCED,
    SEP_INDEX,
    blocks,
    candidates,
    ctc_decode,
    fold_matrix,
    fold_probs,
    plate_prior,
)

CHARSET = ["<blank>", "a", "A", "7", "中", "-", "B", "8", "O", "0", " "]


def _onehot_steps(seq: list[str], charset: list[str], p: float = 0.97) -> np.ndarray:
    """[1, T, C] softmax where each step puts ``p`` on one class (``""`` = blank)."""
    out = np.full((1, len(seq), len(charset)), (1 - p) / (len(charset) - 1), np.float32)
    for t, ch in enumerate(seq):
        out[0, t, charset.index(ch) if ch else 0] = p
    return out


def test_fold_matrix_maps_case_separators_and_masks_others():
    m = fold_matrix(CHARSET)
    assert m.shape == (len(CHARSET), len(REDUCED))
    a = 1 + PLATE_CHARS.index("A")
    assert m[1, a] == 1 and m[2, a] == 1  # 'a' and 'A' fold together
    assert m[4].sum() == 0  # CJK masked out
    assert m[5, SEP_INDEX] == 1 and m[10, SEP_INDEX] == 1  # '-' and ' ' are separators
    assert m[0, 0] == 1


def test_masked_class_cannot_win_argmax():
    probs = np.zeros((1, 3, len(CHARSET)), np.float32)
    probs[0, 1, 4] = 0.8  # '中' dominates the middle step
    probs[0, 1, 6] = 0.15  # then 'B'
    probs[0, 1, 0] = 0.05
    probs[0, 0, 0] = probs[0, 2, 0] = 1.0
    line = ctc_decode(fold_probs(probs, fold_matrix(CHARSET))[0])
    assert line.text == "B"
    assert line.chars[0].prob == pytest.approx(0.75, abs=1e-4)  # renormalised 0.15/0.2


def test_ctc_collapses_repeats_and_keeps_doubles_split_by_blank():
    seq = ["A", "A", "", "7", "", "7", "-", "B", "B", ""]
    line = ctc_decode(fold_probs(_onehot_steps(seq, CHARSET), fold_matrix(CHARSET))[0])
    assert line.text == "A77B"
    assert [g[0].char for g in line.groups] == ["A", "B"]
    assert line.chars[0].t0 == 0 and line.chars[0].t1 == 1


def test_candidates_rank_alternatives_and_drops():
    probs = _onehot_steps(["A", "", "B", "", "7", "", "7", "", "0", ""], CHARSET)
    probs[0, 2] = 0.0
    probs[0, 2, CHARSET.index("B")] = 0.55
    probs[0, 2, CHARSET.index("8")] = 0.40
    probs[0, 2, 0] = 0.05
    line = ctc_decode(fold_probs(probs, fold_matrix(CHARSET))[0])
    cands = candidates(line.plate_chars(), topn=10, prior=None)
    texts = [t for t, _ in cands]
    assert texts[0] == "AB770"
    assert "A8770" in texts  # the model's own alternative
    assert "A770" in texts  # low-confidence B may be dropped
    confs = [c for _, c in cands]
    assert confs == sorted(confs, reverse=True)
    assert all(0 < c <= 100 for c in confs)
    assert len(cands) <= 10 and len(set(texts)) == len(texts)


def test_prior_prefers_plate_like_structure():
    assert blocks("AB123CD") == ["AB", "123", "CD"]
    assert plate_prior("AB123CD") > plate_prior("AB123C0")  # lone trailing digit
    assert plate_prior("AB123CD") > plate_prior("AB12")
    assert plate_prior("AB123CD") > plate_prior("AB1234CD5")
    assert plate_prior("AB30202") < plate_prior("AB302OZ")  # long digit run
    assert plate_prior("A") == 0.0


def test_confusable_swap_fixes_a_lone_trailing_digit():
    seq = ["R", "", "K", "", "8", "", "9", "", "6", "", "A", "", "0", ""]
    line = ctc_decode(fold_probs(_onehot_steps(seq, CHARSET + list("RK96")), fold_matrix(CHARSET + list("RK96")))[0])
    cands = candidates(line.plate_chars(), topn=5)
    assert cands[0][0] == "RK896AO"
    assert "RK896A0" in [t for t, _ in cands]
