import pytest

from vvpipe.files import atomic_output


def test_output_appears_only_when_complete(tmp_path):
    target = tmp_path / "out" / "result.json"
    with atomic_output(target) as partial:
        partial.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"

    with pytest.raises(RuntimeError):
        with atomic_output(target) as partial:
            partial.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]
