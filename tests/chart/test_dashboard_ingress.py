"""templates/dashboard-ingress.yaml: the Ray dashboard Ingress, which never renders unguarded by accident."""

from devkit.helm import render_chart
from devkit.presets import VALUES_DIR

BASE = {
    "ingress.dashboard.enabled": True,
    "ingress.dashboard.host": "ray.example.com",
    "networkPolicy.dashboardFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}],
}


def _ingress(values_files=(), set_values=None) -> dict:
    return render_chart(values_files, set_values).get("Ingress", "llm-ray-vllm-dashboard")


class TestDashboardIngress:
    def test_should_route_to_the_head_service_dashboard_port_when_enabled(self):
        ingress = _ingress(set_values=BASE | {"ingress.dashboard.allowedSourceRanges": ["10.0.0.0/8"]})
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == "ray.example.com"
        assert rule["http"]["paths"] == [
            {
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "llm-ray-vllm-head-svc", "port": {"number": 8265}}},
            }
        ]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert "tls" not in ingress["spec"]

    def test_should_enforce_nginx_basic_auth_when_a_htpasswd_secret_is_named(self):
        annotations = _ingress(
            set_values=BASE
            | {
                "ingress.dashboard.auth.type": "basic",
                "ingress.dashboard.auth.basicSecretName": "ray-htpasswd",
            }
        )["metadata"]["annotations"]
        assert annotations == {
            "nginx.ingress.kubernetes.io/auth-type": "basic",
            "nginx.ingress.kubernetes.io/auth-secret": "ray-htpasswd",
            "nginx.ingress.kubernetes.io/auth-realm": "Ray dashboard",
        }

    def test_should_delegate_to_oauth2_proxy_and_serve_tls_when_the_g6e_preset_is_used(self):
        ingress = _ingress((VALUES_DIR / "g6e-multi-model.yaml",))
        assert ingress["metadata"]["annotations"] == {
            "nginx.ingress.kubernetes.io/auth-url": "https://auth.example.com/oauth2/auth",
            "nginx.ingress.kubernetes.io/auth-signin": "https://auth.example.com/oauth2/start?rd=$scheme://$host$request_uri",
        }
        assert ingress["spec"]["tls"] == [
            {"hosts": ["ray.llm.example.com"], "secretName": "ray-llm-example-com-tls"}
        ]

    def test_should_authenticate_at_the_alb_with_oidc_and_an_allowlist_when_the_g5_preset_is_used(self):
        annotations = _ingress((VALUES_DIR / "g5-single-model.yaml",))["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/auth-type"] == "oidc"
        assert annotations["alb.ingress.kubernetes.io/auth-on-unauthenticated-request"] == "authenticate"
        assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.0.0.0/8"
        assert '"secretName":"ray-dashboard-oidc"' in annotations["alb.ingress.kubernetes.io/auth-idp-oidc"]

    def test_should_restrict_sources_with_the_nginx_allowlist_when_only_ranges_are_set(self):
        annotations = _ingress(
            set_values=BASE | {"ingress.dashboard.allowedSourceRanges": ["10.0.0.0/8", "192.168.0.0/16"]}
        )["metadata"]["annotations"]
        assert annotations == {
            "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8,192.168.0.0/16"
        }

    def test_should_keep_the_auth_annotations_when_user_annotations_try_to_override_them(self):
        annotations = _ingress(
            set_values=BASE
            | {
                "ingress.dashboard.auth.type": "basic",
                "ingress.dashboard.auth.basicSecretName": "ray-htpasswd",
                "ingress.dashboard.annotations": {
                    "nginx.ingress.kubernetes.io/auth-type": "none",
                    "team": "llm",
                },
            }
        )["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/auth-type"] == "basic"
        assert annotations["team"] == "llm"

    def test_should_not_render_when_disabled(self):
        assert render_chart().of_kind("Ingress") == []
