"""The charts' shared ground: deterministic PNGs, and a missing matplotlib said once, not fatal."""

import logging

from elmo.plots import PLOTS_INSTALL, new_figure, png_bytes, write_png
from factories import png_size, without_matplotlib


def _drawing() -> bytes:
    figure = new_figure(3.0, 2.0)
    assert figure is not None
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2], label="a line")
    return png_bytes(figure)


def test_the_same_drawing_gives_identical_png_bytes_of_the_asked_size():
    first, second = _drawing(), _drawing()
    assert first == second
    assert png_size(first) == (300, 200)
    assert b"Software" not in first  # no matplotlib version stamp that would change the bytes


def test_a_png_is_written_whole_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "charts" / "chart.png"
    write_png(target, _drawing())
    assert target.read_bytes() == _drawing()
    assert [p.name for p in target.parent.iterdir()] == ["chart.png"]


def test_without_matplotlib_no_figure_is_made_and_the_extra_is_named_once(monkeypatch, caplog):
    without_matplotlib(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="elmo.plots"):
        assert new_figure(3.0, 2.0) is None
        assert new_figure(3.0, 2.0) is None
    notices = [r.getMessage() for r in caplog.records if "matplotlib" in r.getMessage()]
    assert len(notices) == 1 and PLOTS_INSTALL in notices[0]
