"""devkit.redis: the real redis-server the local run gives GCS fault tolerance, on loopback, with a
password from a file and never on its command line."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest

from devkit.local_ray import free_ports
from devkit.loopback import listeners
from devkit.redis import LocalRedis, RedisUnavailable, call, command


@pytest.fixture
def redis(tmp_path) -> Iterator[LocalRedis]:
    server = LocalRedis(free_ports(1)[0], tmp_path / "state")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TestCommand:
    def test_should_encode_a_command_in_redis_wire_protocol_when_given_arguments(self):
        assert command("AUTH", "pw") == b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"


class TestLocalRedis:
    def test_should_answer_ping_when_given_the_password(self, redis):
        assert call(redis.port, redis.password(), "PING") == "+PONG"

    def test_should_refuse_commands_when_no_password_is_given(self, redis):
        assert call(redis.port, "", "PING").startswith("-NOAUTH")

    def test_should_refuse_a_wrong_password_when_authenticating(self, redis):
        assert call(redis.port, "wrong", "PING").startswith("-WRONGPASS")

    def test_should_listen_on_loopback_only_when_started(self, redis):
        assert {(found.ip, found.port) for found in listeners(redis.processes())} == {
            ("127.0.0.1", redis.port)
        }

    def test_should_keep_the_password_out_of_the_command_line_when_started(self, redis):
        (proc,) = redis.processes()
        assert redis.password() not in " ".join(proc.cmdline())

    def test_should_keep_password_and_config_readable_by_the_owner_only_when_written(self, redis):
        for path in (redis.password_file, redis.state_dir / "redis.conf"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_should_end_the_process_when_stopped(self, redis):
        (proc,) = redis.processes()
        assert redis.stop() is True
        assert not proc.is_running() and redis.processes() == []
        assert redis.stop() is False

    def test_should_say_how_to_install_it_when_redis_server_is_missing(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(RedisUnavailable, match=r"`make system-deps` installs it"):
            LocalRedis(free_ports(1)[0], tmp_path / "state").start()
