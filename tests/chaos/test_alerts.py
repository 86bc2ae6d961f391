"""devkit.chaos.alerts: the spans an alert fired in, read relative to a fault; and their report cell."""

from __future__ import annotations

from devkit.chaos.alerts import AlertWatch, alert_key
from devkit.chaos.report import markdown


def watch_of(polls: list[tuple[float, set[str]]]) -> AlertWatch:
    watch = AlertWatch(prometheus=None)
    for now, firing in polls:
        watch.note(firing, now=now)
    return watch


class TestAlertWatch:
    def test_should_time_firing_and_resolving_from_the_fault_when_an_alert_comes_and_goes(self) -> None:
        watch = watch_of(
            [(100, set()), (122, {"VLLMEngineStalled"}), (130, {"VLLMEngineStalled"}), (161, set())]
        )
        assert watch.since(100) == {"VLLMEngineStalled": {"firing_after_s": 22, "resolved_after_s": 61}}
        assert watch.firing() == set()

    def test_should_leave_resolved_empty_when_the_alert_still_fires(self) -> None:
        watch = watch_of([(100, {"A"}), (110, {"A", "B"})])
        assert watch.since(105) == {
            "A": {"firing_after_s": 0, "resolved_after_s": None},
            "B": {"firing_after_s": 5, "resolved_after_s": None},
        }
        assert watch.firing() == {"A", "B"}

    def test_should_leave_out_an_alert_when_it_ended_before_the_fault(self) -> None:
        watch = watch_of([(10, {"A"}), (20, set()), (50, set())])
        assert watch.since(30) == {}

    def test_should_keep_each_span_when_an_alert_fires_twice(self) -> None:
        watch = watch_of([(10, {"A"}), (20, set()), (40, {"A"}), (45, set())])
        assert watch.spans == {"A": [[10, 20], [40, 45]]}
        assert watch.since(15) == {"A": {"firing_after_s": 0, "resolved_after_s": 30}}


class TestAlertKey:
    def test_should_name_the_deployment_when_the_alert_is_about_one(self) -> None:
        labels = {"alertname": "VLLMEngineStalled", "deployment": "LLMServer:tiny", "severity": "critical"}
        assert alert_key(labels) == "VLLMEngineStalled (LLMServer:tiny)"

    def test_should_be_the_name_alone_when_no_deployment_model_or_application_is_labelled(self) -> None:
        assert alert_key({"alertname": "RayServeDeploymentMetricsAbsent", "namespace": "llm"}) == (
            "RayServeDeploymentMetricsAbsent"
        )


class TestReportCell:
    def test_should_show_each_alert_with_its_times_when_alerts_fired(self) -> None:
        timing = {"firing_after_s": 22.0, "resolved_after_s": None}
        row = {"fault": "engine-stall", "alerts": {"VLLMEngineStalled": timing}}
        assert "| VLLMEngineStalled 22.0 → not within the window |" in markdown([row])

    def test_should_say_none_when_no_alert_fired(self) -> None:
        assert "| none |" in markdown([{"fault": "replica-kill", "alerts": {}}])
