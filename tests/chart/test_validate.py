"""values.schema.json and templates/_validate.tpl: bad values are refused with a message naming the key.

The rules the app checks too (routing, model names) are tested in every layer by tests/test_rules.py.
"""

import json
import re

import jsonschema
import pytest
import yaml

from devkit.helm import CHART_DIR, HelmRenderError, render_chart
from devkit.presets import VALUES_DIR
from serve_app.config import GATEWAY_DEPLOYMENT, AgentArgs, GatewayArgs, RagArgs, RoutingConfig

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)
TP70B = (VALUES_DIR / "llama-70b-tp.yaml",)
LOCAL = (VALUES_DIR / "local-cpu.yaml",)
STANDALONE = (VALUES_DIR / "standalone-g6e.yaml",)
LOCAL_STANDALONE = (VALUES_DIR / "local-cpu.yaml", VALUES_DIR / "local-cpu-standalone.yaml")
DASHBOARD = {
    "ingress.dashboard.enabled": True,
    "ingress.dashboard.host": "ray.example.com",
    "networkPolicy.dashboardFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}],
}

# (case id, values files, --set-json values, text the message must contain: the key and its problem)
SCHEMA_CASES = [
    ("unknown-top-level-key", (), {"replicaCount": 2}, "additional properties 'replicaCount' not allowed"),
    ("pull-policy", (), {"image.pullPolicy": "Sometimes"}, "at '/image/pullPolicy'"),
    ("digest-format", (), {"image.digest": "latest"}, "at '/image/digest'"),
    ("ray-version-format", (), {"rayVersion": "latest"}, "at '/rayVersion'"),
    ("mode-unknown", (), {"mode": "serverless"}, "at '/mode'"),
    (
        "standalone-autoscaler-unknown",
        (),
        {"standalone.autoscaling.type": "vpa"},
        "at '/standalone/autoscaling/type'",
    ),
    ("standalone-port-out-of-range", (), {"standalone.port": 70000}, "at '/standalone/port'"),
    (
        "standalone-prometheus-not-a-url",
        (),
        {"standalone.autoscaling.prometheusAddress": "prometheus:9090"},
        "at '/standalone/autoscaling/prometheusAddress'",
    ),
    (
        "serve-runtime-not-boolean",
        (),
        {"serveRuntime.userCodeInSeparateThread": "no"},
        "at '/serveRuntime/userCodeInSeparateThread'",
    ),
    (
        "record-interval-factor-zero",
        (),
        {"serveRuntime.autoscalingRecordIntervalFactor": 0},
        "at '/serveRuntime/autoscalingRecordIntervalFactor'",
    ),
    (
        "look-back-not-above-metrics-interval",
        (),
        {"gateway.deployment.autoscaling.lookBackPeriodS": 10},
        "at '/gateway/deployment/autoscaling/lookBackPeriodS'",
    ),
    ("tensor-parallel-zero", G6E, {"models[0].tensorParallelSize": 0}, "at '/models/0/tensorParallelSize'"),
    ("accelerator-lowercase", G6E, {"models[0].accelerator": "l40s"}, "at '/models/0/accelerator'"),
    (
        "gpu-memory-over-one",
        G6E,
        {"models[0].engine.gpuMemoryUtilization": 1.5},
        "at '/models/0/engine/gpuMemoryUtilization'",
    ),
    ("dtype-unknown", G6E, {"models[1].engine.dtype": "fp7"}, "at '/models/1/engine/dtype'"),
    ("model-unknown-key", G6E, {"models[0].replicas": 3}, "at '/models/0': additional properties 'replicas'"),
    ("model-missing-source", (), {"models": [{"name": "m", "accelerator": "cpu"}]}, "at '/models/0'"),
    ("no-models", (), {"models": []}, "at '/models'"),
    (
        "max-ongoing-zero",
        (),
        {"modelDefaults.deployment.maxOngoingRequests": 0},
        "at '/modelDefaults/deployment/maxOngoingRequests'",
    ),
    (
        "autoscaling-max-zero",
        (),
        {"gateway.deployment.autoscaling.maxReplicas": 0},
        "at '/gateway/deployment/autoscaling/maxReplicas'",
    ),
    ("body-limit-tiny", (), {"gateway.maxBodyBytes": 10}, "at '/gateway/maxBodyBytes'"),
    ("gpus-per-pod-zero", G6E, {"workerGroups[0].gpusPerPod": 0}, "at '/workerGroups/0/gpusPerPod'"),
    ("group-name-not-dns", G6E, {"workerGroups[0].name": "GPU_Group"}, "at '/workerGroups/0/name'"),
    ("upscaling-mode", (), {"autoscaler.upscalingMode": "Fast"}, "at '/autoscaler/upscalingMode'"),
    ("upgrade-type", (), {"upgradeStrategy.type": "Recreate"}, "at '/upgradeStrategy/type'"),
    (
        "capacity-type",
        G6E,
        {"karpenter.nodePools[0].capacityTypes": ["reserved"]},
        "at '/karpenter/nodePools/0/capacityTypes/0'",
    ),
    (
        "consolidation-policy",
        (),
        {"karpenter.nodePoolDefaults.consolidationPolicy": "Always"},
        "at '/karpenter/nodePoolDefaults/consolidationPolicy'",
    ),
    (
        "ami-alias-latest",
        (),
        {"karpenter.ec2NodeClass.amiAlias": "al2023@latest"},
        "at '/karpenter/ec2NodeClass/amiAlias'",
    ),
    (
        "budget-nodes",
        (),
        {"karpenter.nodePoolDefaults.budgets": [{"nodes": "all"}]},
        "at '/karpenter/nodePoolDefaults/budgets/0/nodes'",
    ),
    (
        "error-ratio-over-one",
        (),
        {"monitoring.prometheusRule.errorRatioThreshold": 2},
        "at '/monitoring/prometheusRule/errorRatioThreshold'",
    ),
    (
        "stall-window-in-words",
        (),
        {"monitoring.prometheusRule.stallWindow": "5 minutes"},
        "at '/monitoring/prometheusRule/stallWindow'",
    ),
    (
        "scrape-interval",
        (),
        {"monitoring.podMonitor.interval": "fast"},
        "at '/monitoring/podMonitor/interval'",
    ),
    (
        "dashboard-auth-type",
        (),
        {"ingress.dashboard.auth.type": "magic"},
        "at '/ingress/dashboard/auth/type'",
    ),
    (
        "source-range-cidr",
        (),
        {"ingress.dashboard.allowedSourceRanges": ["everyone"]},
        "at '/ingress/dashboard/allowedSourceRanges/0'",
    ),
    ("prompt-without-placeholders", (), {"rag.promptTemplate": "Answer."}, "at '/rag/promptTemplate'"),
    ("rag-top-k-zero", (), {"rag.topK": 0}, "at '/rag/topK'"),
    ("hf-token-key-empty", (), {"hfToken.key": ""}, "at '/hfToken/key'"),
    ("pdb-zero", (), {"podDisruptionBudget.maxUnavailable": 0}, "at '/podDisruptionBudget/maxUnavailable'"),
]

PREFLIGHT_CASES = [
    (
        "tensor-parallel-over-gpus-per-pod",
        G6E,
        {"models[0].tensorParallelSize": 2},
        "models[0].tensorParallelSize (2) is more than workerGroups[0].gpusPerPod (1)",
    ),
    (
        "replicas-over-group-capacity",
        G6E,
        {"models[2].deployment.autoscaling.maxReplicas": 5},
        "models[2].deployment: 5 replicas x 2 GPUs = 10 GPUs, but workerGroups[1]",
    ),
    (
        "group-gpus-over-pool-limit",
        G6E,
        {"workerGroups[1].maxReplicas": 3},
        "karpenter.nodePools[1].gpuLimit (8) is less than the 12 GPUs",
    ),
    (
        "model-min-over-max",
        G6E,
        {"models[0].deployment.autoscaling.minReplicas": 5},
        "models[0].deployment.autoscaling.minReplicas (5) is greater than maxReplicas (4)",
    ),
    (
        "gateway-min-over-max",
        (),
        {"gateway.deployment.autoscaling.minReplicas": 9},
        "gateway.deployment.autoscaling.minReplicas (9) is greater than maxReplicas (4)",
    ),
    (
        "rag-min-over-max",
        (),
        {
            "rag.enabled": True,
            "rag.deployments.Embedder.autoscaling": {
                "enabled": True,
                "minReplicas": 3,
                "maxReplicas": 2,
                "targetOngoingRequests": 8,
                "upscaleDelayS": 10,
                "downscaleDelayS": 60,
            },
        },
        "rag.deployments.Embedder.autoscaling.minReplicas (3) is greater than maxReplicas (2)",
    ),
    (
        "group-min-over-max",
        G6E,
        {"workerGroups[1].minReplicas": 3},
        "workerGroups[1].minReplicas (3) is greater than maxReplicas (2)",
    ),
    (
        "group-replicas-outside-range",
        G6E,
        {"workerGroups[0].replicas": 20},
        "workerGroups[0].replicas (20) is outside minReplicas..maxReplicas (1..10)",
    ),
    (
        "initial-replicas-outside-range",
        G6E,
        {"models[2].deployment.autoscaling.initialReplicas": 9},
        "models[2].deployment.autoscaling.initialReplicas (9) is outside minReplicas..maxReplicas (0..4)",
    ),
    (
        "gpu-model-without-group",
        G6E,
        {"models[0].workerGroup": ""},
        'models[0].workerGroup is empty but accelerator is "L40S"',
    ),
    (
        "model-in-unknown-group",
        G6E,
        {"models[0].workerGroup": "h100"},
        'models[0].workerGroup: "h100" is not a worker group',
    ),
    (
        "instance-family-without-gpu",
        G6E,
        {"karpenter.nodePools[0].instanceFamilies": ["m7i"]},
        'karpenter.nodePools[0].instanceFamilies[0]: "m7i" has no NVIDIA GPU',
    ),
    (
        "accelerator-not-on-pool",
        G6E,
        {"karpenter.nodePools[1].instanceFamilies": ["p4d"]},
        'models[2].accelerator: "L40S", but its NodePool "l40s-4x" offers p4d (A100)',
    ),
    (
        "group-in-unknown-pool",
        G6E,
        {"workerGroups[1].nodePool": "l40s-8x"},
        'workerGroups[1].nodePool: "l40s-8x" is not in karpenter.nodePools',
    ),
    (
        "node-class-without-role",
        G6E,
        {"karpenter.ec2NodeClass.role": ""},
        "karpenter.ec2NodeClass.role is empty",
    ),
    (
        "existing-node-class-without-name",
        G6E,
        {"karpenter.ec2NodeClass.create": False},
        "karpenter.ec2NodeClass.name is empty while create is false",
    ),
    (
        "dashboard-without-auth",
        (),
        DASHBOARD,
        "ingress.dashboard: the Ray dashboard would be reachable by anyone",
    ),
    (
        "basic-auth-without-secret",
        (),
        DASHBOARD | {"ingress.dashboard.auth.type": "basic"},
        "ingress.dashboard.auth.basicSecretName is empty",
    ),
    (
        "oidc-on-nginx",
        (),
        DASHBOARD
        | {
            "ingress.dashboard.auth": {
                "type": "oidc",
                "oidc": {
                    "issuer": "i",
                    "authorizationEndpoint": "a",
                    "tokenEndpoint": "t",
                    "userInfoEndpoint": "u",
                    "secretName": "s",
                },
            }
        },
        'ingress.dashboard.auth.type "oidc" works with the AWS Load Balancer Controller only',
    ),
    (
        "oidc-missing-issuer",
        (),
        DASHBOARD
        | {
            "ingress.dashboard.controller": "alb",
            "ingress.dashboard.auth": {
                "type": "oidc",
                "oidc": {
                    "authorizationEndpoint": "a",
                    "tokenEndpoint": "t",
                    "userInfoEndpoint": "u",
                    "secretName": "s",
                },
            },
        },
        "ingress.dashboard.auth.oidc.issuer is empty",
    ),
    (
        "dashboard-without-host",
        (),
        DASHBOARD | {"ingress.dashboard.host": "", "ingress.dashboard.allowedSourceRanges": ["10.0.0.0/8"]},
        "ingress.dashboard.host is empty",
    ),
    (
        "dashboard-blocked-by-network-policy",
        (),
        DASHBOARD
        | {"networkPolicy.dashboardFrom": [], "ingress.dashboard.allowedSourceRanges": ["10.0.0.0/8"]},
        "networkPolicy.dashboardFrom is empty, so the NetworkPolicy blocks the dashboard Ingress",
    ),
    ("api-ingress-without-host", (), {"ingress.api.enabled": True}, "ingress.api.host is empty"),
    (
        "idle-timeout-shorter-than-node-start",
        (),
        {"autoscaler.idleTimeoutSeconds": 300},
        "autoscaler.idleTimeoutSeconds (300) must be longer than autoscaler.gpuNodeStartupSeconds (600)",
    ),
    (
        "drain-longer-than-the-grace-period",
        (),
        {"workerDrain.deadlineSeconds": 90, "workerDrain.terminationGracePeriodSeconds": 90},
        "workerDrain.terminationGracePeriodSeconds (90) must be longer than workerDrain.deadlineSeconds (90)",
    ),
    (
        "graceful-stop-longer-than-the-drain",
        (),
        {"modelDefaults.deployment.gracefulShutdownTimeoutS": 100},
        "models[0].deployment.gracefulShutdownTimeoutS (100) must be shorter than "
        "workerDrain.deadlineSeconds (100)",
    ),
    (
        "incremental-upgrade-without-gateway-class",
        (),
        {"upgradeStrategy.type": "NewClusterWithIncrementalUpgrade"},
        "upgradeStrategy.clusterUpgradeOptions.gatewayClassName is empty",
    ),
    (
        "incremental-upgrade-without-autoscaler",
        TP70B,
        {"autoscaler.enabled": False},
        "upgradeStrategy.type NewClusterWithIncrementalUpgrade needs the Ray autoscaler",
    ),
    (
        "incremental-step-over-surge",
        TP70B,
        {"upgradeStrategy.clusterUpgradeOptions.stepSizePercent": 60},
        "upgradeStrategy.clusterUpgradeOptions.stepSizePercent (60) is greater than maxSurgePercent (50)",
    ),
    (
        "gcs-ft-without-redis",
        (),
        {"gcsFaultTolerance.enabled": True, "gcsFaultTolerance.redisPasswordSecret.name": "r"},
        "gcsFaultTolerance.redisAddress is empty",
    ),
    (
        "gcs-ft-without-password-secret",
        (),
        {"gcsFaultTolerance.enabled": True, "gcsFaultTolerance.redisAddress": "redis:6379"},
        "gcsFaultTolerance.redisPasswordSecret.name is empty",
    ),
    ("token-auth-on-old-ray", (), {"rayVersion": "2.51.1"}, 'rayVersion "2.51.1" is older than 2.52.0'),
    ("rag-model-unknown", (), {"rag.enabled": True, "rag.model": "chat"}, 'rag.model: "chat" is not a model'),
    (
        "agent-model-unknown",
        (),
        {"agent.enabled": True, "agent.model": "chat"},
        'agent.model: "chat" is not a model',
    ),
    (
        "both-monitors",
        (),
        {"monitoring.podMonitor.enabled": True, "monitoring.serviceMonitor.enabled": True},
        "monitoring.podMonitor.enabled and monitoring.serviceMonitor.enabled are both true",
    ),
]


TWO_CPU_MODELS = [
    {"name": "tiny.b", "source": "./m", "accelerator": "cpu"},
    {"name": "tiny-b", "source": "./m", "accelerator": "cpu"},
]
STANDALONE_CASES = [
    ("standalone-aliases", STANDALONE, {"routing.aliases": {"chat": "llama-3.1-8b"}},
     "routing.aliases: several names behind one endpoint need the Ray Serve gateway"),
    ("standalone-size-tiers", STANDALONE, {"routing.sizeTiers": {"small": "llama-3.1-8b"}},
     "routing.sizeTiers: several names behind one endpoint need the Ray Serve gateway"),
    ("standalone-rag", STANDALONE, {"rag.enabled": True, "rag.model": "llama-3.1-8b"},
     "rag.enabled: RAG is a pipeline of Ray Serve deployments"),
    ("standalone-agent", STANDALONE, {"agent.enabled": True, "agent.model": "llama-3.1-8b"},
     "agent.enabled: the agent calls the models through Ray Serve deployment handles"),
    ("standalone-batch", STANDALONE, {"batch.enabled": True},
     "batch.enabled: batches run in a Ray Serve deployment beside the gateway"),
    ("standalone-ingress-several-models", LOCAL_STANDALONE,
     {"models": [{"name": "a", "source": "./m", "accelerator": "cpu"},
                 {"name": "b", "source": "./m", "accelerator": "cpu"}],
      "ingress.api.enabled": True, "ingress.api.host": "llm.example.com"},
     "ingress.api: standalone mode has one endpoint per model and the Ingress fronts one, but 2 models"),
    ("standalone-dashboard", STANDALONE,
     DASHBOARD | {"ingress.dashboard.allowedSourceRanges": ["10.0.0.0/8"]},
     "ingress.dashboard.enabled: standalone mode runs no Ray"),
    ("standalone-head-pool", STANDALONE, {"karpenter.headPool.enabled": True},
     "karpenter.headPool.enabled: standalone mode runs no Ray"),
    ("standalone-gcs", STANDALONE,
     {"gcsFaultTolerance.enabled": True, "gcsFaultTolerance.redisAddress": "redis:6379",
      "gcsFaultTolerance.redisPasswordSecret.name": "redis"},
     "gcsFaultTolerance.enabled: standalone mode runs no Ray"),
    ("standalone-service-monitor", STANDALONE,
     {"monitoring.podMonitor.enabled": False, "monitoring.serviceMonitor.enabled": True,
      "standalone.autoscaling.type": "hpa"},
     "monitoring.serviceMonitor.enabled: its Service selects Ray's metrics ports"),
    ("standalone-name-clash", LOCAL_STANDALONE, {"models": TWO_CPU_MODELS},
     'models[1].name: "tiny-b" and models[0].name "tiny.b" both name their Deployment and Service'
     ' "llm-ray-vllm-vllm-tiny-b"'),
    ("standalone-lora", STANDALONE, {"models[0].lora": {"dynamicLoraLoadingPath": "s3://adapters/llama"}},
     "models[0].lora: loading LoRA adapters from s3://adapters/llama per request is Ray Serve LLM's"),
    ("standalone-idle-gpus", STANDALONE,
     {"workerGroups[0].gpusPerPod": 2, "karpenter.nodePools[0].gpuLimit": 12},
     "models[0].tensorParallelSize (1) is less than workerGroups[0].gpusPerPod (2): a standalone pod runs"
     " one engine on all its GPUs, so 1 would sit idle"),
    ("standalone-hpa-to-zero", STANDALONE,
     {"standalone.autoscaling.type": "hpa", "models[0].deployment.autoscaling.minReplicas": 0},
     "models[0].deployment.autoscaling.minReplicas is 0, but a HorizontalPodAutoscaler keeps at least 1"),
    ("standalone-keda-without-podmonitor", STANDALONE, {"monitoring.podMonitor.enabled": False},
     "models[0].deployment.autoscaling: KEDA reads vLLM's load from the Prometheus the PodMonitor feeds"),
    ("standalone-delay-over-an-hour", STANDALONE, {"models[0].deployment.autoscaling.downscaleDelayS": 7200},
     "models[0].deployment.autoscaling.downscaleDelayS (7200) is over 3600"),
]  # fmt: skip
PREFLIGHT_CASES += STANDALONE_CASES


def _refusal(values_files, set_values, release="llm") -> str:
    with pytest.raises(HelmRenderError) as excinfo:
        render_chart(values_files, set_values, release=release)
    return str(excinfo.value)


class TestValuesSchema:
    @pytest.mark.parametrize(
        ("values_files", "set_values", "expected"),
        [case[1:] for case in SCHEMA_CASES],
        ids=[case[0] for case in SCHEMA_CASES],
    )
    def test_should_refuse_naming_the_key_when_a_value_breaks_the_schema(
        self, values_files, set_values, expected
    ):
        message = _refusal(values_files, set_values)
        assert "values don't meet the specifications of the schema" in message
        assert expected in message


class TestPreflight:
    @pytest.mark.parametrize(
        ("values_files", "set_values", "expected"),
        [case[1:] for case in PREFLIGHT_CASES],
        ids=[case[0] for case in PREFLIGHT_CASES],
    )
    def test_should_refuse_naming_the_key_and_the_fix_when_values_conflict(
        self, values_files, set_values, expected
    ):
        message = _refusal(values_files, set_values)
        assert "ray-vllm: 1 problem(s) in the values:" in message
        assert expected in message

    def test_should_refuse_a_release_name_that_kuberay_cannot_use_when_it_starts_with_a_digit(self):
        message = _refusal((), None, release="1llm")
        assert (
            'release name / fullnameOverride: the RayService name "1llm-ray-vllm" must start with a letter'
            in message
        )

    def test_should_list_every_problem_in_one_failure_when_several_values_conflict(self):
        message = _refusal(
            G6E,
            {
                "models[0].tensorParallelSize": 2,
                "routing.aliases.chat": "gpt-5",
                "autoscaler.idleTimeoutSeconds": 60,
                "monitoring.serviceMonitor.enabled": True,
            },
        )
        problems = re.findall(r"^- (\S+)", message, flags=re.MULTILINE)
        assert "ray-vllm: 4 problem(s) in the values:" in message
        assert problems == [
            "models[0].tensorParallelSize",
            "routing.aliases.chat:",
            "autoscaler.idleTimeoutSeconds",
            "monitoring.podMonitor.enabled",
        ]

    def test_should_accept_the_dashboard_without_auth_only_when_the_loud_opt_out_is_set(self):
        rendered = render_chart(
            set_values=DASHBOARD | {"ingress.dashboard.dangerouslyAllowUnauthenticatedDashboard": True}
        )
        assert rendered.get("Ingress")["metadata"]["name"] == "llm-ray-vllm-dashboard"

    def test_should_count_at_least_forty_bad_values_cases_when_collected(self):
        assert len(SCHEMA_CASES) + len(PREFLIGHT_CASES) + 1 >= 40


SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
# Every feature on and every list with an item, so a key set to null reaches whatever reads it.
EVERYTHING = (VALUES_DIR / "g6e-multi-model.yaml",)
EVERYTHING_ON = {
    "rag.enabled": True,
    "rag.model": "chat",
    "agent.enabled": True,
    "agent.model": "chat",
    "agent.http.allowedHosts": ["docs.ray.io"],
    "routing.canaries": [
        {
            "name": "chat-ab",
            "stickyHeader": "x-user-id",
            "arms": [{"model": "llama-3.1-8b", "weight": 90}, {"model": "llama-3.2-3b", "weight": 10}],
        }
    ],
    "karpenter.headPool.enabled": True,
    "karpenter.nodePoolDefaults.taints": [{"key": "team", "value": "llm", "effect": "NoSchedule"}],
    "imagePullSecrets": [{"name": "regcred"}],
    "models[0].lora": {"dynamicLoraLoadingPath": "s3://adapters/llama", "maxNumAdaptersPerReplica": 4},
}
ARGS_MODELS = {"llm": GatewayArgs, "rag": RagArgs, "agent": AgentArgs}


def _resolve(node: dict) -> dict:
    """A schema node with its `$ref` chain merged in (in 2020-12 the keywords beside `$ref` apply too)."""
    while "$ref" in node:
        target = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
        beside = {k: v for k, v in node.items() if k != "$ref"}
        properties = {**target.get("properties", {}), **beside.get("properties", {})}
        node = {**target, **beside} | ({"properties": properties} if properties else {})
    return node


ABSENT = object()


def _keys(node: dict, path: str = "", default=ABSENT, in_list: bool = False):
    """(--set path, schema node, default or ABSENT, inside a list item) of every key the schema defines."""
    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub_path = f"{path}.{key}".lstrip(".")
        sub_default = default.get(key, ABSENT) if isinstance(default, dict) else ABSENT
        yield sub_path, _resolve(sub), sub_default, in_list
        yield from _keys(sub, sub_path, sub_default, in_list)
    if "items" in node:
        yield from _keys(node["items"], f"{path}[0]", ABSENT, True)


def _null_means(node: dict, default, in_list: bool) -> str:
    """What null does to a key. Helm deletes a null key that values.yaml has, default included; a null
    in a list item or under a key values.yaml lacks stays, and the schema's type decides."""
    types = node.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if "null" in types or (default is None and not in_list):
        return "unset"  # optional: null means "not set", as by default
    if in_list or default is ABSENT:
        return "wrong type"
    if ("array" in types and not node.get("minItems")) or isinstance(node.get("additionalProperties"), dict):
        return "empty"  # a list, or a map of the user's keys
    return "missing"  # required: the chart needs a value


def _pointer(path: str) -> str:
    return "/" + re.sub(r"\[(\d+)\]", r".\1", path).replace(".", "/")


def _null_refusal(path: str, means: str) -> str:
    """Helm's words for a refused null, naming the key."""
    if means == "wrong type":
        return f"at '{_pointer(path)}': got null"
    parent, _, key = _pointer(path).rpartition("/")
    return f"at '{parent}': missing property '{key}'"


NULL_CASES = [
    (path, _null_means(node, default, in_list))
    for path, node, default, in_list in _keys(SCHEMA, default=DEFAULTS)
]


class TestNullValues:
    @pytest.mark.parametrize(("path", "means"), NULL_CASES, ids=[path for path, _ in NULL_CASES])
    def test_should_refuse_null_or_read_it_as_unset_or_empty_when_a_key_is_set_to_null(self, path, means):
        try:
            rendered = render_chart(EVERYTHING, EVERYTHING_ON | {path: None})
        except HelmRenderError as exc:
            if means in ("missing", "wrong type"):
                assert _null_refusal(path, means) in str(exc)
            else:
                # An empty list or an unset key can break a cross-field rule (a model's worker group is
                # gone; auto tool choice has no parser left).
                assert means in ("empty", "unset") and "problem(s) in the values:" in str(exc), str(exc)
            return
        assert means in ("unset", "empty"), f"{path}=null rendered; the schema should refuse it"
        for app in rendered.serve_config["applications"]:
            ARGS_MODELS[app["name"]].model_validate(app["args"])
            for deployment in app["deployments"]:
                if deployment["name"] == GATEWAY_DEPLOYMENT:
                    RoutingConfig.model_validate(deployment["user_config"])

    @pytest.mark.parametrize(
        ("path", "rendered"),
        [
            ("routing.aliases", ("user_config", "aliases")),
            ("routing.sizeTiers", ("user_config", "sizeTiers")),
            ("routing.canaries", ("user_config", "canaries")),
        ],
    )
    def test_should_render_an_empty_routing_entry_when_it_is_set_to_null(self, path, rendered):
        gateway = render_chart(set_values={path: None}).serve_config["applications"][0]["deployments"][0]
        assert gateway[rendered[0]][rendered[1]] in ({}, [])

    def test_should_pass_no_extra_engine_args_when_they_are_set_to_null(self):
        config = render_chart(set_values={"modelDefaults.engine.extraArgs": None}).serve_config
        assert config["applications"][0]["args"]["models"][0]["engine"]["extraArgs"] == {}


# Every Kubernetes quantity in the values, as --set paths over EVERYTHING.
QUANTITY_KEYS = [
    *(
        f"{owner}.resources.{kind}.{resource}"
        for owner in ("head", "autoscaler")
        for kind in ("requests", "limits")
        for resource in ("cpu", "memory", "ephemeral-storage")
    ),
    *(
        f"{owner}.{key}"
        for owner in ("workerGroupDefaults", "workerGroups[0]")
        for key in ("cpu", "memory", "sharedMemorySize", "cacheSizeLimit")
    ),
    "karpenter.headPool.cpuLimit",
]
GOOD_QUANTITIES = ["4", "500m", "0.5", ".5", "16Gi", "100M", "1e3", "+2", 4, 0]
BAD_QUANTITIES = ["four", "10 GB", "4 Gi", "1.5.5", "-1", "1Gb", "1e3Mi", "", -1, 0.5, True]
# Narrower still: GPU counts are integers, EBS volume sizes whole Gi, G, Ti or T.
NARROW_QUANTITIES = {
    "workerGroups[1].gpusPerPod": ([4], ["four", "4", 1.5, 0, "4Gi"]),
    "karpenter.nodePools[0].gpuLimit": ([10, 12], ["ten", "10", 10.5, 0]),
    "karpenter.ec2NodeClass.volumeSize": (["500Gi", "1T", "2Ti"], ["500 GB", "500Mi", 500, "0Gi", "1.5Ti"]),
}
# The whole value table is checked against the one definition; each key then renders one bad and two
# good values end to end (a fraction must stay a string in every object it reaches).
GOOD_CASES = [(key, value) for key in QUANTITY_KEYS for value in ("0.5", "16Gi")] + [
    (key, value) for key, (good, _) in NARROW_QUANTITIES.items() for value in good
]
BAD_CASES = [(key, "four") for key in QUANTITY_KEYS] + [
    (key, value) for key, (_, bad) in NARROW_QUANTITIES.items() for value in bad
]
QUANTITY = jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/quantity"})


def _schema_node(path: str) -> dict:
    """The schema node of a --set path as written, its own `$ref` not followed."""
    node = SCHEMA
    for part in re.sub(r"\[\d+\]", ".[]", path).split("."):
        node = _resolve(node)
        node = (
            node["items"]
            if part == "[]"
            else node.get("properties", {}).get(part, node.get("additionalProperties"))
        )
    return node


class TestQuantities:
    @pytest.mark.parametrize("value", GOOD_QUANTITIES, ids=repr)
    def test_should_accept_the_value_when_kubernetes_reads_it_as_a_quantity(self, value):
        assert list(QUANTITY.iter_errors(value)) == []

    @pytest.mark.parametrize("value", BAD_QUANTITIES, ids=repr)
    def test_should_refuse_the_value_when_kubernetes_does_not_read_it_as_a_quantity(self, value):
        assert list(QUANTITY.iter_errors(value)) != []

    @pytest.mark.parametrize(("key", "value"), BAD_CASES, ids=[f"{k}={v!r}" for k, v in BAD_CASES])
    def test_should_refuse_naming_the_key_when_a_quantity_is_not_one_kubernetes_reads(self, key, value):
        message = _refusal(EVERYTHING, EVERYTHING_ON | {key: value})
        assert "values don't meet the specifications of the schema" in message
        assert f"at '{_pointer(key)}'" in message

    @pytest.mark.parametrize(("key", "value"), GOOD_CASES, ids=[f"{k}={v!r}" for k, v in GOOD_CASES])
    def test_should_render_the_quantity_when_kubernetes_reads_it(self, key, value):
        render_chart(EVERYTHING, EVERYTHING_ON | {key: value})

    @pytest.mark.parametrize("key", [*QUANTITY_KEYS, *NARROW_QUANTITIES])
    def test_should_check_the_key_with_the_one_quantity_definition_when_the_schema_is_read(self, key):
        assert _schema_node(key)["$ref"] == "#/$defs/quantity"
