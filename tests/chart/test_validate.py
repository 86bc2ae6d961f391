"""values.schema.json and templates/_validate.tpl: bad values are refused with a message naming the key."""

import re

import pytest

from devkit.helm import HelmRenderError, render_chart
from devkit.presets import VALUES_DIR

G6E = (VALUES_DIR / "g6e-multi-model.yaml",)
TP70B = (VALUES_DIR / "llama-70b-tp.yaml",)
LOCAL = (VALUES_DIR / "local-cpu.yaml",)
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
    ("memory-quantity", (), {"workerGroupDefaults.memory": "100 GB"}, "at '/workerGroupDefaults/memory'"),
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
    (
        "canary-one-arm",
        (),
        {"routing.canaries": [{"name": "c", "arms": [{"model": "llama-3-8b", "weight": 100}]}]},
        "at '/routing/canaries/0/arms'",
    ),
    ("prompt-without-placeholders", (), {"rag.promptTemplate": "Answer."}, "at '/rag/promptTemplate'"),
    ("rag-top-k-zero", (), {"rag.topK": 0}, "at '/rag/topK'"),
    ("hf-token-key-empty", (), {"hfToken.key": ""}, "at '/hfToken/key'"),
    ("pdb-zero", (), {"podDisruptionBudget.maxUnavailable": 0}, "at '/podDisruptionBudget/maxUnavailable'"),
    ("alias-not-a-string", (), {"routing.aliases.chat": 1}, "at '/routing/aliases/chat'"),
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
        "alias-to-unknown-model",
        G6E,
        {"routing.aliases.chat": "gpt-5"},
        'routing.aliases.chat: "gpt-5" is not a model',
    ),
    (
        "size-tier-to-unknown-model",
        G6E,
        {"routing.sizeTiers.large": "llama-405b"},
        'routing.sizeTiers.large: "llama-405b" is not a model',
    ),
    (
        "canary-arm-unknown-model",
        G6E,
        {
            "routing.canaries": [
                {
                    "name": "ab",
                    "arms": [
                        {"model": "llama-3.1-8b", "weight": 50},
                        {"model": "llama-3.1-8b-v2", "weight": 50},
                    ],
                }
            ]
        },
        'routing.canaries[0].arms[1].model: "llama-3.1-8b-v2" is not a model',
    ),
    (
        "canary-weights-not-100",
        G6E,
        {
            "routing.canaries": [
                {
                    "name": "ab",
                    "arms": [
                        {"model": "llama-3.1-8b", "weight": 90},
                        {"model": "llama-3.2-3b", "weight": 20},
                    ],
                }
            ]
        },
        "routing.canaries[0].arms: weights add up to 110, not 100",
    ),
    (
        "alias-shadows-a-model",
        LOCAL,
        {"routing.aliases.tiny-b": "tiny"},
        "routing.aliases.tiny-b: the name is already used by models[1].name",
    ),
    (
        "tier-shadows-an-alias",
        G6E,
        {"routing.sizeTiers.chat": "llama-3.2-3b"},
        "routing.sizeTiers.chat: the name is already used by routing.aliases.chat",
    ),
    (
        "duplicate-model-name",
        (),
        {"models": [{"name": "m", "source": "./m", "accelerator": "cpu"}] * 2},
        'models[1].name: "m" is used twice',
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
        "both-monitors",
        (),
        {"monitoring.podMonitor.enabled": True, "monitoring.serviceMonitor.enabled": True},
        "monitoring.podMonitor.enabled and monitoring.serviceMonitor.enabled are both true",
    ),
]


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
