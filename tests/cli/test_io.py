"""Atomic output (``endorm._io``): whole files only, nothing left behind, the user's umask honoured."""
import json
import os
import stat

import pytest

from endorm import _io, cli


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_get_the_mode_of_any_new_file(tmp_path, umask):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives a new file under this umask
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    written = [_io.atomic_write_json(tmp_path / "a" / "results.json", {"x": 1}),
               _io.atomic_write_bytes(tmp_path / "run.json", b"{}\n"),
               _io.atomic_savefig(fig, tmp_path / "curves.png")]
    for path in written:
        assert _mode(path) == _mode(plain) == 0o666 & ~umask, path
    assert json.loads(written[0].read_text()) == {"x": 1}
    assert written[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_overwriting_keeps_no_temporary_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = _io.atomic_write_json(tmp_path / "r.json", {"v": 1})
    _io.atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        _io.atomic_write_json(path, {"v": 3})
    assert json.loads(path.read_text()) == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_verify_json_honours_the_umask(tmp_path, umask, capsys):
    out = tmp_path / "verify.json"
    assert cli.main(["verify", "--quick", "--no-progress", "--json", str(out)]) == 0
    capsys.readouterr()
    assert _mode(out) == 0o666 & ~umask
