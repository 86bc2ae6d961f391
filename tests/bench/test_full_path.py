"""bench.full_path's bookkeeping: which processes it profiles, and CPU per output token by role."""

from types import SimpleNamespace

from bench.full_path import LOCAL, PROFILED, VLLM, cpu_ms_per_token, others, profiled_pids


def proc(pid: int) -> SimpleNamespace:
    return SimpleNamespace(pid=pid)


class TestProfiledPids:
    def test_should_take_each_profiled_roles_process_when_the_local_run_is_profiled(self):
        roles = {
            "proxy": [proc(1)], "gateway": [proc(2)], "llm-server": [proc(3)], "engine core": [proc(4)],
            "engine worker": [proc(5)], "ray and the rest": [proc(6), proc(7)],
        }  # fmt: skip
        assert profiled_pids(roles, PROFILED[LOCAL]) == {
            "proxy": 1,
            "gateway": 2,
            "llm-server": 3,
            "engine-core": 4,
        }

    def test_should_name_vllms_roles_like_py_spys_files_when_the_standalone_server_is_profiled(self):
        roles = {
            "api server": [proc(8)],
            "engine core": [proc(9)],
            "engine worker": [],
            "ray and the rest": [],
        }
        assert profiled_pids(roles, PROFILED[VLLM]) == {"api-server": 8, "engine-core": 9}


class TestCpuMsPerToken:
    def test_should_charge_each_role_its_processes_cpu_over_the_run_when_tokens_were_made(self):
        before = {"proxy": {1: 2.0}, "engine core": {4: 10.0}}
        after = {"proxy": {1: 2.5}, "engine core": {4: 12.0, 5: 1.0}}
        assert cpu_ms_per_token(before, after, tokens=1000) == {"proxy": 0.5, "engine core": 3.0}


class TestOthers:
    def test_should_leave_out_every_process_a_role_names_when_the_rest_is_gathered(self):
        processes = [proc(1), proc(2), proc(3)]
        assert [p.pid for p in others(processes, {"proxy": [proc(2)]})] == [1, 3]
