import numpy as np
import pytest

from occlusion.eval_occlusion import hull_region, service_sized


def test_service_sized_keeps_faces_at_least_the_minimum_wide():
    items = [{'box': {'width': w}} for w in (12.0, 31.9, 32.0, 80.0)]
    assert service_sized(items, 32).tolist() == [False, False, True, True]


def test_service_sized_refuses_an_alignment_without_boxes():
    with pytest.raises(SystemExit, match='re-align'):
        service_sized([{'box': {'width': 40}}, {}], 32)


def test_hull_region_is_the_square_spanned_by_its_corners():
    region = hull_region(np.array([[10, 20], [30, 20], [30, 40], [10, 40]], np.float32), size=64)
    ys, xs = np.nonzero(region)
    # pixel centres at +0.5: columns 10…29 and rows 20…39 lie inside
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 29, 20, 39)
    assert region.sum() == 20 * 20


def test_below_eyes_follows_the_service_rule():
    from occlusion.eval_occlusion import below_eyes

    def rows(start, stop):
        m = np.zeros((128, 128), bool)
        m[start:stop] = True
        return m

    assert below_eyes(rows(60, 110), dilate_px=0)  # a mask over nose, mouth and chin
    assert below_eyes(rows(48, 110), dilate_px=0)  # reaching a little above the eye line
    assert not below_eyes(rows(35, 55), dilate_px=0)  # sunglasses
    assert not below_eyes(rows(0, 40), dilate_px=2)  # a brim
    assert not below_eyes(np.zeros((128, 128), bool))
    # Growing the mask moves pixels above the line: 60..62 rows of a thin band stay below, 50..56 does not.
    assert below_eyes(rows(60, 62), dilate_px=2)
    assert not below_eyes(rows(50, 56), dilate_px=2)
