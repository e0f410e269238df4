import pytest

from bench.settings.config import read_config_file, resolve_profile
from bench.errors import BenchError

CONFIG = {
    "default_profile": "quick",
    "services": {"broker_url": "redis://127.0.0.1:1/0"},
    "profiles": {
        "quick": {"rates": [25, 50], "step_seconds": 10, "worker_processes": 2},
        "smoke": {"base": "quick", "step_seconds": 3},
        "loop_a": {"base": "loop_b"},
        "loop_b": {"base": "loop_a"},
    },
}


def test_profile_extends_its_base_and_flags_win_over_everything():
    p = resolve_profile(CONFIG, "smoke", {"rates": [5.0]}, environ={})
    assert p.step_seconds == 3 and p.worker_processes == 2 and p.rates == [5.0]
    assert p.broker_url == "redis://127.0.0.1:1/0"


def test_default_profile_is_used_without_a_name():
    assert resolve_profile(CONFIG, None, {}, environ={}).name == "quick"


def test_environment_wins_over_the_services_table():
    p = resolve_profile(CONFIG, "quick", {}, environ={"BENCH_BROKER_URL": "redis://127.0.0.1:2/0"})
    assert p.broker_url == "redis://127.0.0.1:2/0"


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("nosuch", {}, "unknown profile 'nosuch'"),
        ("loop_a", {}, "names itself as a base"),
        ("quick", {"rates": [0.0]}, "above 0"),
        ("quick", {"rates": [float("inf")]}, "above 0"),
        ("quick", {"step_seconds": 0.0}, "step_seconds"),
        ("quick", {"arrival": "bursty"}, "arrival"),
        ("quick", {"rates": [2e6]}, "1,000,000"),
        ("quick", {"cpus": {"database": "0"}}, 'cpus = {"database": "0"} .*roles: db, workers'),
        ("quick", {"cpus": {"db": "0-x"}}, "cpus.db = '0-x' is not a usable CPU list"),
        ("quick", {"cpus": {"db": "4096"}}, "CPU 4096 is not one this machine lets bench use"),
        ("quick", {"saturation_repeat": 0}, "saturation_repeat"),
        ("quick", {"rtt_ms": -1}, "rtt_ms = -1 .*must be a number of ms from 0"),
        ("quick", {"rtt_ms": [0, "far"]}, 'rtt_ms = \\[0, "far"\\] .*must be a number of ms from 0'),
        ("quick", {"rtt_ms": [1, 1]}, "lists a distance twice"),
        ("quick", {"rtt_ms": []}, "rtt_ms = \\[\\] .*a list of at least one"),
        ("quick", {"pgbouncer_beside": "broker"}, "pgbouncer_beside"),
        ("quick", {"broker": "kafka"}, 'broker = "kafka" .*must be redis or rabbitmq'),
        ("quick", {"architectures": ["prefork-nullpool@kafka"]}, 'the broker after "@" must be one of'),
        ("quick", {"architectures": ["prefork-nullpool", "prefork-nullpool@redis"]}, "prefork-nullpool on redis twice"),
    ],
)
def test_bad_values_are_refused_with_a_message(name, overrides, message):
    with pytest.raises(BenchError, match=message):
        resolve_profile(CONFIG, name, overrides, environ={})


def test_unknown_key_in_a_profile_is_refused():
    with pytest.raises(BenchError, match="unknown key"):
        resolve_profile({"profiles": {"x": {"ratez": [1]}}}, "x", {}, environ={})


def test_malformed_toml_names_the_file(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text("[profiles.quick\nrates = [1,\n")
    with pytest.raises(BenchError, match="is not valid TOML"):
        read_config_file(path)


def test_redacted_profile_hides_passwords():
    p = resolve_profile(CONFIG, "quick", {"database_url": "postgresql://u:s3cret@127.0.0.1:5/db"}, environ={})
    assert "s3cret" not in str(p.redacted())
    assert p.redacted()["database_url"] == "postgresql://u:***@127.0.0.1:5/db"


def test_rtt_ms_is_a_distance_or_a_list_of_them():
    assert resolve_profile(CONFIG, "quick", {}, environ={}).distances() == [None]  # no proxy
    assert resolve_profile(CONFIG, "quick", {"rtt_ms": 0}, environ={}).distances() == [0]  # the proxy alone
    assert resolve_profile(CONFIG, "quick", {"rtt_ms": [0, 1, 5]}, environ={}).distances() == [0, 1, 5]


def test_an_architecture_can_run_once_more_on_another_broker():
    p = resolve_profile(
        CONFIG, "quick", {"architectures": ["prefork-sync-pool", "prefork-sync-pool@rabbitmq"]}, environ={}
    )
    assert [(a.label, a.architecture, a.broker) for a in p.arms()] == [
        ("prefork-sync-pool", "prefork-sync-pool", "redis"),  # the broker of broker_url in [services]
        ("prefork-sync-pool@rabbitmq", "prefork-sync-pool", "rabbitmq"),
    ]
    assert p.brokers() == ["redis", "rabbitmq"]
    on_rabbitmq = resolve_profile({"profiles": {"q": {"broker": "rabbitmq"}}}, "q", {}, environ={})
    assert on_rabbitmq.brokers() == ["rabbitmq"]


def test_an_arm_can_run_a_variant_of_the_workload_settings():
    from bench.settings.arms import Arm, architecture_of, parse_arms

    arms = parse_arms(
        ["gevent-pool", "gevent-pool#spans", "prefork-nullpool#spans@rabbitmq", "async-queue@redis#slow"], "redis"
    )
    assert arms == [
        Arm("gevent-pool", "gevent-pool", "redis"),
        Arm("gevent-pool#spans", "gevent-pool", "redis", "spans"),
        Arm("prefork-nullpool#spans@rabbitmq", "prefork-nullpool", "rabbitmq", "spans"),
        Arm("async-queue@redis#slow", "async-queue", "redis", "slow"),
    ]
    assert (
        architecture_of("prefork-nullpool#spans@rabbitmq")
        == "prefork-nullpool"
        == architecture_of("prefork-nullpool@redis#x")
    )
    config = {
        "profiles": {
            "v": {
                "architectures": ["gevent-pool", "gevent-pool#spans"],
                "workload": "send_email",
                "workload_params": {"service_ms": 50},
                "variants": {"spans": {"session_spans_call": True}},
            }
        }
    }
    profile = resolve_profile(config, "v", {}, environ={})
    spans = profile.arms()[1]
    assert profile.workload_params_of(spans) == {"service_ms": 50, "session_spans_call": True}
    assert profile.workload_params_of(profile.arms()[0]) == {"service_ms": 50}
    config["profiles"]["v"]["architectures"] = ["gevent-pool#nosuch"]
    with pytest.raises(BenchError, match="no variant 'nosuch'"):
        resolve_profile(config, "v", {}, environ={})
