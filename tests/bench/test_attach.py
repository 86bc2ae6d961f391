"""`--attach` (measure the running `make serve`) and `--attach-standalone` refuse what they cannot measure,
before any load."""

from __future__ import annotations

import pytest

from bench.local_run import chart_local_run
from bench.vllm_server import standalone_vllm


class TestAttach:
    def test_should_stop_with_the_state_dir_when_no_local_run_is_up(self, tmp_path, monkeypatch) -> None:
        monkeypatch.setattr("bench.local_run.STATE_DIR", tmp_path)
        with (
            pytest.raises(SystemExit, match=f"no local run is up in {tmp_path}"),
            chart_local_run(tmp_path / "unused", {}, attach=True),
        ):
            pass

    def test_should_refuse_extra_environment_when_attaching(self, tmp_path) -> None:
        with (
            pytest.raises(SystemExit, match="RAYLLM_VLLM_ENGINE_CLS"),
            chart_local_run(tmp_path, {"RAYLLM_VLLM_ENGINE_CLS": "x"}, attach=True),
        ):
            pass

    def test_should_refuse_chart_values_when_attaching(self, tmp_path) -> None:
        with (
            pytest.raises(SystemExit, match=r"modelDefaults\.streamIntervalMs=10"),
            chart_local_run(tmp_path, {}, attach=True, set_values=("modelDefaults.streamIntervalMs=10",)),
        ):
            pass


class TestAttachStandalone:
    def test_should_stop_naming_the_state_dir_when_no_standalone_server_runs_there(self, tmp_path) -> None:
        with (
            pytest.raises(SystemExit, match=f"one running vLLM server in {tmp_path}, found 0"),
            standalone_vllm(0, tmp_path / "unused", attach=tmp_path),
        ):
            pass
