{{/* ray-vllm.ingress: one networking.k8s.io/v1 Ingress to a KubeRay Service; pass (list $ suffix values service port annotations). */}}
{{- define "ray-vllm.ingress" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $v := index . 2 -}}
{{- $annotations := merge (index . 5) ($v.annotations | default dict) -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "ray-vllm.componentName" (list $root $suffix) }}
  labels:
    {{- include "ray-vllm.componentLabels" (list $root $suffix) | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $v.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $v.tlsSecretName }}
  tls:
    - hosts: [{{ $v.host | quote }}]
      secretName: {{ . }}
  {{- end }}
  rules:
    - host: {{ $v.host | quote }}
      http:
        paths:
          - path: {{ $v.path }}
            pathType: {{ $v.pathType }}
            backend:
              service:
                name: {{ index . 3 }}
                port:
                  number: {{ index . 4 }}
{{- end -}}

{{/* ray-vllm.dashboardAuthAnnotations: the controller annotations that enforce ingress.dashboard.auth and allowedSourceRanges. */}}
{{- define "ray-vllm.dashboardAuthAnnotations" -}}
{{- $d := .Values.ingress.dashboard -}}
{{- $a := $d.auth -}}
{{- $out := dict -}}
{{- if eq $a.type "basic" -}}
{{- $_ := set $out "nginx.ingress.kubernetes.io/auth-type" "basic" -}}
{{- $_ := set $out "nginx.ingress.kubernetes.io/auth-secret" $a.basicSecretName -}}
{{- $_ := set $out "nginx.ingress.kubernetes.io/auth-realm" "Ray dashboard" -}}
{{- else if eq $a.type "oauth2" -}}
{{- $_ := set $out "nginx.ingress.kubernetes.io/auth-url" $a.oauth2Url -}}
{{- with $a.oauth2SigninUrl -}}
{{- $_ := set $out "nginx.ingress.kubernetes.io/auth-signin" . -}}
{{- end -}}
{{- else if eq $a.type "oidc" -}}
{{- $o := $a.oidc -}}
{{- $_ := set $out "alb.ingress.kubernetes.io/auth-type" "oidc" -}}
{{- $_ := set $out "alb.ingress.kubernetes.io/auth-on-unauthenticated-request" "authenticate" -}}
{{- $_ := set $out "alb.ingress.kubernetes.io/auth-idp-oidc" (dict "issuer" $o.issuer "authorizationEndpoint" $o.authorizationEndpoint "tokenEndpoint" $o.tokenEndpoint "userInfoEndpoint" $o.userInfoEndpoint "secretName" $o.secretName | toJson) -}}
{{- end -}}
{{- with $d.allowedSourceRanges -}}
{{- $key := eq $d.controller "alb" | ternary "alb.ingress.kubernetes.io/inbound-cidrs" "nginx.ingress.kubernetes.io/whitelist-source-range" -}}
{{- $_ := set $out $key (join "," .) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
